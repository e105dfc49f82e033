// Package app assembles a running proofline from a config.Config: result
// store, blob store, key ring, worker runtime, dispatcher, service and HTTP
// server. It is the composition root shared by `proofline serve` and the
// end-to-end tests, so both run exactly the same wiring.
package app

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/proofline/proofline"
	"github.com/proofline/proofline/config"
	"github.com/proofline/proofline/dispatch"
	"github.com/proofline/proofline/dispatch/pool"
	"github.com/proofline/proofline/observe/metrics"
	"github.com/proofline/proofline/observe/tracing"
	"github.com/proofline/proofline/proofing"
	"github.com/proofline/proofline/proofing/attempts"
	"github.com/proofline/proofline/proofing/attempts/redisattempts"
	"github.com/proofline/proofline/resultstore"
	"github.com/proofline/proofline/resultstore/redisstore"
	"github.com/proofline/proofline/seal"
	"github.com/proofline/proofline/server"

	"go.opentelemetry.io/otel/trace"
)

// Options are what the caller knows beyond the Config.
type Options struct {
	// ListenAddr is the address the server listens on (host:port); it makes
	// the default base_url.
	ListenAddr string
	// Version is this binary's build (git ref).
	Version string
	Logger  *slog.Logger
	// VendorLatency delays every mock vendor answer (load tests).
	VendorLatency time.Duration
	// TracerProvider overrides the one built from otel_exporter_otlp_endpoint
	// (tests use an in-memory exporter).
	TracerProvider trace.TracerProvider
	// RedisKeyPrefix prefixes the keys kept beside the results in Redis
	// (captures, sessions, the webhook outbox). Default "proofline:". Tests
	// that run several deployments on one Redis give each its own.
	RedisKeyPrefix string
	// WorkerHTTP makes in-process workers claim and call back over real
	// HTTP (loopback TCP) even when base_url is this server's own
	// listener; by default they hand those requests to the server's
	// handler in memory (worker.InProcessTransport).
	WorkerHTTP bool
}

// App is a running proofline.
type App struct {
	Config  config.Config
	Service *proofing.Service
	Server  *server.Server
	Handler http.Handler
	// BaseURL is the origin upload URLs and callbacks use.
	BaseURL string
	// DevAPIKey is the API key generated because api_keys was empty ("" otherwise).
	DevAPIKey string
	// Metrics is what GET /metrics serves on metrics_addr (never on the
	// public Handler; see MetricsHandler).
	Metrics *metrics.Metrics

	logger  *slog.Logger
	hosted  *hosted
	closers []func() error
	pool    *pool.Pool
	disp    *dispatch.Dispatcher
	store   *resultstore.Store
	cancel  context.CancelFunc
	tempDir string
}

// New builds an App. Generated development secrets never leave the process,
// except the API key, which the caller prints once.
func New(ctx context.Context, cfg config.Config, opts Options) (*App, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Version == "" {
		opts.Version = "dev"
	}
	log := opts.Logger
	a := &App{Config: cfg, logger: log}
	ok := false
	defer func() {
		if !ok {
			_ = a.Close(context.Background())
		}
	}()

	a.BaseURL = strings.TrimRight(cfg.BaseURL, "/")
	if a.BaseURL == "" {
		if opts.ListenAddr == "" {
			return nil, &config.Error{Key: "base_url", Msg: "is required when no listen address is known"}
		}
		a.BaseURL = "http://" + opts.ListenAddr
	}
	base, _ := url.Parse(a.BaseURL)

	a.Metrics = metrics.New()
	tp := opts.TracerProvider
	if tp == nil {
		var (
			shutdown func(context.Context) error
			err      error
		)
		tp, shutdown, err = tracing.New(ctx, cfg.OtelExporterOtlpEndpoint, cfg.OtelServiceName, opts.Version)
		if err != nil {
			return nil, &config.Error{Key: "otel_exporter_otlp_endpoint", Msg: err.Error()}
		}
		a.closers = append(a.closers, func() error {
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			return shutdown(sctx)
		})
	}
	// Keys by role: the record ring seals stored records and nothing else;
	// envelopes and callbacks use per-job keys; the attempt-hash and
	// session keys are their own settings.
	ring, err := RecordKeyRing(cfg)
	if err != nil {
		return nil, err
	}
	tokens := map[proofline.Kind]string{
		proofline.KindAddress:    orRandom(cfg.AddressProofResultLambdaToken),
		proofline.KindDocument:   orRandom(cfg.DocumentProofResultLambdaToken),
		proofline.KindResolution: orRandom(cfg.ResolutionProofResultLambdaToken),
	}
	apiKeys := cfg.APIKeys
	if len(apiKeys) == 0 {
		a.DevAPIKey = "dev_" + randomToken()
		apiKeys = []string{a.DevAPIKey}
	}

	timeout := time.Duration(cfg.AsyncWaitTimeoutSeconds) * time.Second
	var (
		driver   resultstore.Driver
		counters attempts.Driver
		rd       *redisstore.Driver
	)
	if cfg.RedisURL != "" {
		rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		d, err := redisstore.New(rctx, redisstore.Options{URL: cfg.RedisURL})
		cancel()
		if err != nil {
			return nil, fmt.Errorf("redis_url: %w", err)
		}
		driver, counters, rd = d, redisattempts.New(d.Client(), ""), d
	} else {
		driver, counters = resultstore.NewMemory(resultstore.MemoryOptions{}), attempts.NewMemory(nil)
	}
	a.store = resultstore.New(driver, ring, resultstore.Options{Timeout: timeout})
	if a.hosted, err = newHosted(cfg, a.BaseURL, apiKeys, rd, opts.RedisKeyPrefix, ring, a.Metrics, log); err != nil {
		return nil, err
	}
	hashKey, err := attemptHashKey(cfg.AttemptHashKey)
	if err != nil {
		return nil, err
	}
	limiter, err := attempts.New(counters, attempts.Options{
		MaxPerPerson: cfg.IDVMaxAttempts, MaxPerIP: cfg.IDVMaxAttemptsPerIP,
		Window: time.Duration(cfg.IDVAttemptWindowInHours) * time.Hour, HashKey: hashKey,
	})
	if err != nil {
		return nil, &config.Error{Key: "attempt_hash_key", Msg: err.Error()}
	}

	dataDir := cfg.DataDir
	if dataDir == "" && !cfg.DocAuthEnablePresignedS3URLs {
		if dataDir, err = os.MkdirTemp("", "proofline-"); err != nil {
			return nil, fmt.Errorf("data_dir: %w", err)
		}
		a.tempDir = dataDir
	}
	blobs, err := newBlobs(ctx, cfg, a.BaseURL, dataDir, log)
	if err != nil {
		return nil, err
	}
	a.closers = append(a.closers, blobs.close)

	workerVersion := cfg.WorkerGitRef
	if workerVersion == "" {
		workerVersion = opts.Version
	}
	inproc := inProcessTransport(cfg, opts, base)
	rt, err := NewWorker(ctx, cfg, WorkerOptions{
		Version: opts.Version, Logger: log, Images: blobs.store, Transport: transportOrNil(inproc),
		Tokens: currentTokens(tokens), CallbackHost: base.Host, Metrics: a.Metrics, TracerProvider: tp, VendorLatency: max(opts.VendorLatency, time.Duration(cfg.MockVendorLatencyMs)*time.Millisecond),
	})
	if err != nil {
		return nil, err
	}
	ddrv, err := newDispatchDriver(ctx, cfg, rt, log)
	if err != nil {
		return nil, err
	}
	if p, ok := ddrv.(*pool.Pool); ok {
		a.pool = p
	}
	if err := registerQueueSweep(a.Metrics, ddrv); err != nil {
		return nil, err
	}
	a.disp = dispatch.New(ddrv, dispatch.Options{Logger: log, Observer: a.Metrics})
	a.Metrics.Gauge("proofline_pool_queued_jobs", "Jobs waiting for an in-process worker.", func() float64 { q, _ := a.PoolDepth(); return float64(q) })
	a.Metrics.Gauge("proofline_pool_running_jobs", "Jobs running in in-process workers.", func() float64 { _, r := a.PoolDepth(); return float64(r) })

	a.Service, err = proofing.New(proofing.Options{
		Store: a.store, Blobs: blobs.store, Dispatcher: a.disp,
		CallbackTokens: tokens, CallbackBaseURL: a.BaseURL, Timeout: timeout,
		ClockSkew:     time.Duration(cfg.CallbackClockSkewSeconds) * time.Second,
		WorkerVersion: workerVersion, Logger: log, Observer: a.Metrics, TracerProvider: tp,
		Attempts: limiter, StateIDJurisdictions: stateIDJurisdictions(cfg),
		Captures: a.hosted.captures, Notify: a.hosted.notifyJob,
	})
	if err != nil {
		return nil, err
	}
	a.Server = server.New(a.Service, server.Options{
		Clients: a.hosted.clients, Sessions: a.hosted.verifications, Uploads: blobs.uploads, Logger: log,
	})
	mux := http.NewServeMux()
	a.Server.Mount(mux)
	if err := mountWeb(mux, a, log, counters, hashKey); err != nil {
		return nil, err
	}
	a.Handler = a.Server.Middleware(mux)
	if inproc != nil {
		inproc.SetHandler(a.Handler)
	}

	bg, cancel := context.WithCancel(context.Background())
	a.cancel = cancel
	if blobs.sweep != nil {
		// Images no job read (a capture never submitted, or a job that
		// expired before a worker claimed it) are swept after their URLs
		// expired and a job could have run: local directory and S3.
		uploadTTL := time.Duration(cfg.UploadURLTTLSeconds) * time.Second
		go sweep(bg, blobs.sweep, uploadTTL+2*timeout, log)
	}

	a.hosted.sender.Start()
	ok = true
	return a, nil
}

// MetricsHandler serves GET /metrics (Prometheus text format) for the
// metrics listener on metrics_addr; anything else is 404.
func (a *App) MetricsHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", a.Metrics.Handler())
	return mux
}

// Drain stops taking jobs and waits until in-flight ones have delivered their
// callbacks (the HTTP server must still be serving) or ctx ends.
func (a *App) Drain(ctx context.Context) error {
	if a.disp == nil {
		return nil
	}
	return a.disp.Close(ctx)
}

// Close stops taking jobs, drains in-flight ones until ctx ends, then closes
// the store and removes a generated data directory.
func (a *App) Close(ctx context.Context) error {
	var errs []error
	if a.cancel != nil {
		a.cancel()
	}
	if a.disp != nil {
		errs = append(errs, a.disp.Close(ctx))
	}
	if a.hosted != nil {
		errs = append(errs, a.hosted.close(ctx))
	}
	if a.store != nil {
		errs = append(errs, a.store.Close())
	}
	for _, c := range a.closers {
		if c != nil {
			errs = append(errs, c())
		}
	}
	if a.tempDir != "" {
		errs = append(errs, os.RemoveAll(a.tempDir))
	}
	return errors.Join(errs...)
}

// Mode describes in a few words how this App runs: store, images, workers
// and vendors.
func (a *App) Mode() string {
	cfg := a.Config
	store, images, workers, vendors := "memory store", "local images", "in-process workers", "mock vendors"
	if cfg.RedisURL != "" {
		store = "redis store"
	}
	if cfg.DocAuthEnablePresignedS3URLs {
		images = "S3 images"
	}
	switch {
	case cfg.AWSLambdaProofingEnabled:
		workers = "AWS Lambda workers"
	case queueEnabled(cfg):
		workers = "queue workers (proofline worker)"
	}
	if !usesMockVendors(cfg) {
		vendors = "real vendors (see proofline vendors check)"
	}
	mode := store + ", " + images + ", " + workers + ", " + vendors
	if cfg.RedisURL == "" && !cfg.DocAuthEnablePresignedS3URLs && a.pool != nil && usesMockVendors(cfg) {
		mode = "embedded (" + mode + ")"
	}
	return mode
}

// PoolDepth reports the in-process queue depth and running jobs (zeros when
// jobs are dispatched elsewhere).
func (a *App) PoolDepth() (queued, running int) {
	if a.pool == nil {
		return 0, 0
	}
	return a.pool.Depth(), a.pool.InFlight()
}

func sweep(ctx context.Context, d func(context.Context, time.Time) (int, error), maxAge time.Duration, log *slog.Logger) {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			if n, err := d(ctx, now.Add(-maxAge)); err != nil {
				log.Warn("upload sweep failed", slog.String("error", err.Error()))
			} else if n > 0 {
				log.Info("swept abandoned uploads", slog.Int("objects", n))
			}
		}
	}
}

// RecordKeyRing builds the ring that seals stored records from record_keys,
// or a generated development key when it is empty. Only servers hold it.
func RecordKeyRing(cfg config.Config) (*seal.KeyRing, error) {
	keys, err := recordKeys(cfg.RecordKeys)
	if err != nil {
		return nil, err
	}
	ring, err := seal.NewKeyRing(keys...)
	if err != nil {
		return nil, &config.Error{Key: "record_keys", Msg: "invalid key ring"}
	}
	return ring, nil
}

// attemptHashKey decodes attempt_hash_key, or generates one for this
// process when it is empty (the embedded default; config requires it with
// redis_url).
func attemptHashKey(s string) ([]byte, error) {
	if s == "" {
		b := make([]byte, 32)
		_, err := rand.Read(b)
		return b, err
	}
	b, err := config.DecodeKey(s)
	if err != nil || len(b) < 32 {
		return nil, &config.Error{Key: "attempt_hash_key", Msg: "must be base64 of at least 32 bytes"}
	}
	return b, nil
}

func recordKeys(spec string) ([]seal.Key, error) {
	if spec == "" {
		k, err := seal.Generate("dev-" + time.Now().UTC().Format("20060102"))
		if err != nil {
			return nil, err
		}
		return []seal.Key{k}, nil
	}
	keys, err := seal.ParseKeys(spec)
	if err != nil {
		return nil, &config.Error{Key: "record_keys", Msg: err.Error()}
	}
	return keys, nil
}

func uploadKey(s string) ([]byte, error) {
	if s == "" {
		b := make([]byte, 32)
		_, err := rand.Read(b)
		return b, err
	}
	b, err := config.DecodeKey(s)
	if err != nil || len(b) < 32 {
		return nil, &config.Error{Key: "upload_signing_key", Msg: "must be base64 of at least 32 bytes"}
	}
	return b, nil
}

func orRandom(s string) string {
	if s != "" {
		return s
	}
	return randomToken()
}

func randomToken() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
