package app

import (
	"context"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/proofline/proofline/blobstore"
	"github.com/proofline/proofline/blobstore/localblob"
	"github.com/proofline/proofline/config"
	"github.com/proofline/proofline/dispatch"
	"github.com/proofline/proofline/dispatch/pool"
	"github.com/proofline/proofline/proofer"
	"github.com/proofline/proofline/server/web"
)

// blobs is the image store a process uses, with what the server mounts.
type blobs struct {
	store *blobstore.Store
	// uploads serves PUT /uploads/... (local store only).
	uploads http.Handler
	// sweep removes images older than a time that no job read (abandoned,
	// refused or expired unclaimed): local directory and S3 alike.
	sweep func(ctx context.Context, olderThan time.Time) (int, error)
	close func() error
}

// newBlobs builds the image store: S3 when doc_auth_enable_presigned_s3_urls,
// the local directory otherwise.
func newBlobs(ctx context.Context, cfg config.Config, baseURL, dataDir string, log *slog.Logger) (*blobs, error) {
	opts := blobstore.Options{MaxBytes: cfg.DocAuthMaxImageBytes, UploadTTL: time.Duration(cfg.UploadURLTTLSeconds) * time.Second}
	if cfg.DocAuthEnablePresignedS3URLs {
		d, err := newS3Driver(ctx, cfg, log)
		if err != nil {
			return nil, err
		}
		store := blobstore.New(d, opts)
		return &blobs{store: store, sweep: store.Sweep}, nil
	}
	if dataDir == "" {
		return nil, &config.Error{Key: "data_dir", Msg: "is required"}
	}
	signKey, err := uploadKey(cfg.UploadSigningKey)
	if err != nil {
		return nil, err
	}
	local, err := localblob.New(localblob.Options{Dir: dataDir, BaseURL: baseURL, SigningKey: signKey, Logger: log})
	if err != nil {
		return nil, &config.Error{Key: "data_dir", Msg: err.Error()}
	}
	store := blobstore.New(local, opts)
	// One upload in flight per object: a signed URL sent many times at once
	// would otherwise hold that many temporary files.
	return &blobs{store: store, uploads: web.OneUploadPerObject(local.UploadHandler()), sweep: store.Sweep}, nil
}

// newDispatchDriver picks how jobs reach workers: AWS Lambda, a distributed
// queue, or the in-process pool running rt.
func newDispatchDriver(ctx context.Context, cfg config.Config, rt dispatch.Handler, log *slog.Logger) (dispatch.Driver, error) {
	switch {
	case cfg.AWSLambdaProofingEnabled:
		return newLambdaDriver(ctx, cfg, log)
	case queueEnabled(cfg):
		return newQueueDriver(ctx, cfg, log)
	}
	return pool.New(rt, pool.Options{Workers: cfg.WorkerConcurrency, QueueSize: cfg.WorkerQueueSize, Logger: log}), nil
}

// vendorSet is the vendor adapter of each proofing step.
type vendorSet struct {
	resolution proofer.ResolutionVendor
	stateID    proofer.StateIDVendor
	address    proofer.AddressVendor
	document   proofer.DocumentVendor
}

func hostOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return u.Host
}
