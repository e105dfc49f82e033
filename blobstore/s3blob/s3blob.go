// Package s3blob is the S3 blob driver: ID images live in one bucket under
// one key prefix, browsers upload them through presigned POST policies, and
// workers read and delete them by object key with the SDK.
//
// # Uploads
//
// PresignUpload signs a POST policy (SigV4) for exactly one object,
// "{prefix}{capture_id}/{side}": the key, Content-Type
// application/octet-stream and a content-length-range of 1 to maxBytes are
// conditions, so S3 itself refuses an oversized image (400 EntityTooLarge),
// another key, another content type or a tampered policy (403), and the
// policy expires with the capture (at most 7 days). The client sends a
// multipart/form-data POST to the bucket URL with the returned fields and the
// bytes last, as "file" (blobstore.NewUploadRequest). Read still refuses an
// object longer than the caller allows, before reading its body.
//
// # Foreign URLs
//
// A document start names each image by its object URL (Upload.ObjectURL):
// the bucket's URL (path-style for S3-compatible endpoints, virtual-hosted
// on AWS) followed by the prefixed key. KeyFromURL accepts only that exact
// shape: the same scheme and host, the bucket's path or host, the configured
// prefix, a key of the blobstore shape, no query, escapes, userinfo or
// fragment. Anything else is blobstore.ErrForeignURL: other buckets, other
// endpoints, keys outside the prefix. Read and Delete only ever address the
// configured bucket and prefix, so a worker never fetches anything it was
// not given.
package s3blob

import (
	"cmp"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/proofline/proofline/blobstore"
)

const (
	contentType = "application/octet-stream"
	// maxExpiry is SigV4's longest presigned URL lifetime.
	maxExpiry = 7 * 24 * time.Hour
	maxURLLen = 4096
	// probeKey is presigned once at New to learn the URL shape.
	probeKey = "00000000000000000000000000000000/front"
)

// Options configure a Driver.
type Options struct {
	// Client is the S3 client (see NewClient). Required.
	Client *s3.Client
	// Bucket holds the images. Required.
	Bucket string
	// Prefix is prepended to every object key: empty or segments ending in
	// '/', e.g. "doc-capture/". Only letters, digits, '-', '_', '.' and '/'.
	Prefix string
	// Now is the clock presigned URLs are signed with. Default time.Now.
	Now func() time.Time
}

// Driver is the S3 blobstore.Driver. It is safe for concurrent use.
type Driver struct {
	client  *s3.Client
	presign *s3.PresignClient
	bucket  string
	prefix  string
	now     func() time.Time

	// The shape of issued URLs, learned from a probe at New.
	scheme     string
	host       string
	pathPrefix string // URL path up to and including Prefix
	bucketPath string // URL path of the bucket: "/bucket" path-style, "" virtual-hosted
}

var _ blobstore.Driver = (*Driver)(nil)

// NewClient returns an S3 client for cfg. With endpoint set (an
// S3-compatible server's origin) it addresses buckets path-style. Checksums
// are only computed and validated where S3 requires them.
func NewClient(cfg aws.Config, endpoint string) *s3.Client {
	return s3.NewFromConfig(cfg, func(o *s3.Options) {
		if endpoint != "" {
			o.BaseEndpoint = aws.String(endpoint)
			o.UsePathStyle = true
		}
		o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
		o.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
	})
}

// New checks opts and returns a Driver. It contacts nothing.
func New(opts Options) (*Driver, error) {
	if opts.Client == nil || opts.Bucket == "" {
		return nil, errors.New("s3blob: Options.Client and Options.Bucket are required")
	}
	if !validPrefix(opts.Prefix) {
		return nil, errors.New("s3blob: Options.Prefix must be empty or safe segments ending in '/'")
	}
	d := &Driver{client: opts.Client, bucket: opts.Bucket, prefix: opts.Prefix, now: opts.Now}
	if d.now == nil {
		d.now = time.Now
	}
	d.presign = s3.NewPresignClient(opts.Client, func(o *s3.PresignOptions) {
		o.Presigner = clockPresigner{inner: v4.NewSigner(), now: d.now}
	})
	// Learn the URL shape (endpoint, path- or virtual-hosted style) from a
	// probe; presigning is local and contacts nothing.
	probe, err := d.presignPut(context.Background(), probeKey, 15*time.Minute)
	if err != nil {
		return nil, fmt.Errorf("s3blob: presign: %w", err)
	}
	u, err := url.Parse(probe.URL)
	if err != nil || u.RawPath != "" || !strings.HasSuffix(u.Path, "/"+opts.Prefix+probeKey) {
		return nil, errors.New("s3blob: presigned URLs have an unexpected shape")
	}
	d.scheme, d.host = u.Scheme, u.Host
	d.pathPrefix = strings.TrimSuffix(u.Path, probeKey)
	d.bucketPath = strings.TrimSuffix(strings.TrimSuffix(d.pathPrefix, opts.Prefix), "/")
	if d.bucketPath != "" && d.bucketPath != "/"+opts.Bucket {
		return nil, errors.New("s3blob: presigned URLs have an unexpected shape")
	}
	return d, nil
}

// clockPresigner signs with the driver's clock instead of the SDK's.
type clockPresigner struct {
	inner *v4.Signer
	now   func() time.Time
}

func (p clockPresigner) PresignHTTP(ctx context.Context, creds aws.Credentials, r *http.Request, payloadHash, service, region string, _ time.Time, optFns ...func(*v4.SignerOptions)) (string, http.Header, error) {
	return p.inner.PresignHTTP(ctx, creds, r, payloadHash, service, region, p.now().UTC(), optFns...)
}

func (d *Driver) presignPut(ctx context.Context, key string, ttl time.Duration) (*v4.PresignedHTTPRequest, error) {
	return d.presign.PresignPutObject(ctx, &s3.PutObjectInput{
		Bucket:      aws.String(d.bucket),
		Key:         aws.String(d.prefix + key),
		ContentType: aws.String(contentType),
	}, s3.WithPresignExpires(ttl))
}

// PresignUpload returns a presigned POST policy for key, with a Content-Type
// and a size of at most maxBytes, valid until expires (whole seconds, never
// later).
func (d *Driver) PresignUpload(ctx context.Context, key string, expires time.Time, maxBytes int64) (blobstore.Upload, error) {
	if !blobstore.ValidKey(key) {
		return blobstore.Upload{}, errors.New("s3blob: malformed key")
	}
	if maxBytes <= 0 {
		return blobstore.Upload{}, errors.New("s3blob: maxBytes must be positive")
	}
	ttl := expires.Sub(d.now()).Truncate(time.Second)
	if ttl < time.Second || ttl > maxExpiry {
		return blobstore.Upload{}, errors.New("s3blob: upload expiry must be from 1 second to 7 days away")
	}
	fields, err := d.postPolicy(ctx, d.prefix+key, d.now().Add(ttl), maxBytes)
	if err != nil {
		return blobstore.Upload{}, fmt.Errorf("s3blob: presign: %w", err)
	}
	return blobstore.Upload{
		URL: d.scheme + "://" + d.host + cmp.Or(d.bucketPath, "/"), Method: http.MethodPost,
		Headers: map[string]string{}, Fields: fields,
		ObjectURL: d.scheme + "://" + d.host + d.pathPrefix + key,
	}, nil
}

// postPolicy signs an S3 POST policy (SigV4) for exactly objectKey, with
// the driver's clock, and returns the form fields.
func (d *Driver) postPolicy(ctx context.Context, objectKey string, expires time.Time, maxBytes int64) (map[string]string, error) {
	o := d.client.Options()
	if o.Credentials == nil {
		return nil, errors.New("no credentials")
	}
	creds, err := o.Credentials.Retrieve(ctx)
	if err != nil {
		return nil, errors.New("credentials unavailable")
	}
	now := d.now().UTC()
	date := now.Format("20060102")
	credential := creds.AccessKeyID + "/" + date + "/" + o.Region + "/s3/aws4_request"
	amzDate := now.Format("20060102T150405Z")
	conditions := []any{
		map[string]string{"bucket": d.bucket},
		map[string]string{"key": objectKey},
		map[string]string{"Content-Type": contentType},
		[]any{"content-length-range", 1, maxBytes},
		map[string]string{"x-amz-algorithm": "AWS4-HMAC-SHA256"},
		map[string]string{"x-amz-credential": credential},
		map[string]string{"x-amz-date": amzDate},
	}
	fields := map[string]string{
		"key": objectKey, "Content-Type": contentType,
		"x-amz-algorithm": "AWS4-HMAC-SHA256", "x-amz-credential": credential, "x-amz-date": amzDate,
	}
	if creds.SessionToken != "" {
		conditions = append(conditions, map[string]string{"x-amz-security-token": creds.SessionToken})
		fields["x-amz-security-token"] = creds.SessionToken
	}
	policy, err := json.Marshal(map[string]any{
		"expiration": expires.UTC().Format("2006-01-02T15:04:05.000Z"),
		"conditions": conditions,
	})
	if err != nil {
		return nil, err
	}
	encoded := base64.StdEncoding.EncodeToString(policy)
	mac := func(key []byte, data string) []byte {
		m := hmac.New(sha256.New, key)
		m.Write([]byte(data))
		return m.Sum(nil)
	}
	signingKey := mac(mac(mac(mac([]byte("AWS4"+creds.SecretAccessKey), date), o.Region), "s3"), "aws4_request")
	fields["policy"] = encoded
	fields["x-amz-signature"] = hex.EncodeToString(mac(signingKey, encoded))
	return fields, nil
}

// KeyFromURL maps an object URL this driver issued back to its key.
func (d *Driver) KeyFromURL(rawURL string) (string, error) {
	if rawURL == "" || len(rawURL) > maxURLLen || strings.ContainsAny(rawURL, "#\\ \t\r\n\x00") {
		return "", blobstore.ErrForeignURL
	}
	u, err := url.Parse(rawURL)
	if err != nil || u.Scheme != d.scheme || u.Host != d.host || u.User != nil || u.Opaque != "" ||
		u.RawPath != "" || u.Fragment != "" || u.EscapedPath() != u.Path {
		return "", blobstore.ErrForeignURL
	}
	key, ok := strings.CutPrefix(u.Path, d.pathPrefix)
	if !ok || !blobstore.ValidKey(key) {
		return "", blobstore.ErrForeignURL
	}
	if u.RawQuery != "" || u.ForceQuery {
		return "", blobstore.ErrForeignURL
	}
	return key, nil
}

// Read returns the object under key from the configured bucket and prefix.
func (d *Driver) Read(ctx context.Context, key string, maxBytes int64) ([]byte, error) {
	if !blobstore.ValidKey(key) {
		return nil, errors.New("s3blob: malformed key")
	}
	out, err := d.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(d.bucket), Key: aws.String(d.prefix + key)})
	if err != nil {
		if isNotFound(err) {
			return nil, blobstore.ErrNotFound
		}
		return nil, fmt.Errorf("s3blob: get object: %w", err)
	}
	defer out.Body.Close()
	if out.ContentLength != nil && *out.ContentLength > maxBytes {
		return nil, blobstore.ErrTooLarge
	}
	b, err := io.ReadAll(io.LimitReader(out.Body, maxBytes+1))
	if err != nil {
		return nil, fmt.Errorf("s3blob: read object: %w", err)
	}
	if int64(len(b)) > maxBytes {
		clear(b)
		return nil, blobstore.ErrTooLarge
	}
	return b, nil
}

// Delete removes the object under key; an absent object is not an error.
func (d *Driver) Delete(ctx context.Context, key string) error {
	if !blobstore.ValidKey(key) {
		return errors.New("s3blob: malformed key")
	}
	_, err := d.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(d.bucket), Key: aws.String(d.prefix + key)})
	if err != nil && !isNotFound(err) {
		return fmt.Errorf("s3blob: delete object: %w", err)
	}
	return nil
}

// Sweep deletes the images under the prefix last modified before olderThan
// (ListObjectsV2 on the prefix, then DeleteObject each). Only keys of the
// blobstore shape are touched; anything else under the prefix, or outside
// it, is left alone. The bucket's lifecycle rule (docs/aws.md) is the
// backstop when no server sweeps.
func (d *Driver) Sweep(ctx context.Context, olderThan time.Time) (int, error) {
	p := s3.NewListObjectsV2Paginator(d.client, &s3.ListObjectsV2Input{Bucket: aws.String(d.bucket), Prefix: aws.String(d.prefix)})
	removed := 0
	var errs []error
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return removed, fmt.Errorf("s3blob: list objects: %w", err)
		}
		for _, o := range page.Contents {
			if o.Key == nil || o.LastModified == nil || !o.LastModified.Before(olderThan) {
				continue
			}
			key, ok := strings.CutPrefix(*o.Key, d.prefix)
			if !ok || !blobstore.ValidKey(key) {
				continue
			}
			if err := d.Delete(ctx, key); err != nil {
				errs = append(errs, err)
				continue
			}
			removed++
		}
	}
	if len(errs) > 0 {
		return removed, fmt.Errorf("s3blob: sweep: %w", errors.Join(errs...))
	}
	return removed, nil
}

var _ blobstore.Sweeper = (*Driver)(nil)

func isNotFound(err error) bool {
	var nsk *types.NoSuchKey
	var nf *types.NotFound
	if errors.As(err, &nsk) || errors.As(err, &nf) {
		return true
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		// A missing bucket is a broken deployment, not a missing image.
		return ae.ErrorCode() == "NoSuchKey" || ae.ErrorCode() == "NotFound"
	}
	var re *awshttp.ResponseError
	return errors.As(err, &re) && re.HTTPStatusCode() == http.StatusNotFound
}

func validPrefix(p string) bool {
	if p == "" {
		return true
	}
	if !strings.HasSuffix(p, "/") || len(p) > 256 {
		return false
	}
	for _, seg := range strings.Split(strings.TrimSuffix(p, "/"), "/") {
		if seg == "" || seg == "." || seg == ".." {
			return false
		}
		for i := 0; i < len(seg); i++ {
			c := seg[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
				return false
			}
		}
	}
	return true
}
