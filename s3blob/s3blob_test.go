package s3blob_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/proofline/proofline"
	"github.com/proofline/proofline/blobstore"
	"github.com/proofline/proofline/blobstore/blobtest"
	"github.com/proofline/proofline/internal/s3test"
	"github.com/proofline/proofline/s3blob"
)

var srv *s3test.Server

func TestMain(m *testing.M) { os.Exit(s3test.Main(m, &srv)) }

const prefix = "doc-capture/"

// small keeps uploads quick: the suite uploads MaxBytes and MaxBytes+1.
const small = 64 << 10

func newDriver(t *testing.T, bucket, pfx string, now func() time.Time) *s3blob.Driver {
	t.Helper()
	d, err := s3blob.New(s3blob.Options{
		Client: s3blob.NewClient(srv.Config(), srv.Endpoint()),
		Bucket: bucket, Prefix: pfx, Now: now,
	})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func newStore(t *testing.T) (*blobstore.Store, string) {
	bucket := srv.NewBucket(t)
	return blobstore.New(newDriver(t, bucket, prefix, nil), blobstore.Options{MaxBytes: small}), bucket
}

func TestConformance(t *testing.T) {
	t.Parallel()
	blobtest.Run(t, func(t *testing.T) (*blobstore.Store, blobtest.Uploader) {
		s, _ := newStore(t)
		return s, blobtest.HTTPUploader(http.DefaultClient)
	})
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	t.Cleanup(cancel)
	return c
}

func put(t *testing.T, u blobstore.Upload, body []byte, edit func(*http.Request)) int {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx(t), u.Method, u.URL, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range u.Headers {
		req.Header.Set(k, v)
	}
	if edit != nil {
		edit(req)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestUploadShape: the URL names the bucket and prefix on the configured
// endpoint, expires with the capture, and the object lands under the prefix.
func TestUploadShape(t *testing.T) {
	t.Parallel()
	s, bucket := newStore(t)
	c, err := s.NewCapture(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	u := c.Uploads[blobstore.SideFront]
	p, err := url.Parse(u.URL)
	if err != nil {
		t.Fatal(err)
	}
	if want := "/" + bucket + "/" + prefix + c.ID + "/front"; p.Host != srv.Addr() || p.Path != want {
		t.Fatalf("upload URL host %q path %q, want %q %q", p.Host, p.Path, srv.Addr(), want)
	}
	if got := p.Query().Get("X-Amz-Expires"); got != "900" && got != "899" {
		t.Errorf("X-Amz-Expires = %q, want the 15-minute default", got)
	}
	if !strings.Contains(p.Query().Get("X-Amz-SignedHeaders"), "content-type") {
		t.Errorf("content-type not signed: %q", p.Query().Get("X-Amz-SignedHeaders"))
	}
	if put(t, u, []byte("ciphertext"), nil) != 200 {
		t.Fatal("upload refused")
	}
	// The object is a file under bucket/prefix on the server.
	if _, err := os.Stat(filepath.Join(srv.Dir(), bucket, prefix, c.ID, "front")); err != nil {
		t.Fatalf("object not under the prefix: %v", err)
	}
	if err := s.Delete(ctx(t), blobstore.Key(c.ID, blobstore.SideFront)); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(srv.Dir(), bucket, prefix, c.ID, "front")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("object still on disk after Delete: %v", err)
	}
}

// TestUploadRefusals: S3 itself refuses an expired URL, another content
// type, a tampered signature and a key other than the signed one.
func TestUploadRefusals(t *testing.T) {
	t.Parallel()
	bucket := srv.NewBucket(t)
	// Signed an hour and a minute ago, valid for an hour: expired now.
	past := func() time.Time { return time.Now().Add(-61 * time.Minute) }
	old := blobstore.New(newDriver(t, bucket, prefix, past), blobstore.Options{MaxBytes: small, UploadTTL: time.Hour, Now: past})
	c, err := old.NewCapture(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if st := put(t, c.Uploads[blobstore.SideFront], []byte("x"), nil); st != http.StatusForbidden {
		t.Errorf("expired URL: status %d, want 403", st)
	}

	s := blobstore.New(newDriver(t, bucket, prefix, nil), blobstore.Options{MaxBytes: small})
	c, err = s.NewCapture(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	u := c.Uploads[blobstore.SideBack]
	if st := put(t, u, []byte("x"), func(r *http.Request) { r.Header.Set("Content-Type", "text/html") }); st != http.StatusForbidden {
		t.Errorf("other content type: status %d, want 403", st)
	}
	if st := put(t, u, []byte("x"), func(r *http.Request) {
		q := r.URL.Query()
		sig := q.Get("X-Amz-Signature")
		q.Set("X-Amz-Signature", strings.Repeat("0", len(sig)))
		r.URL.RawQuery = q.Encode()
	}); st != http.StatusForbidden {
		t.Errorf("tampered signature: status %d, want 403", st)
	}
	if st := put(t, u, []byte("x"), func(r *http.Request) {
		r.URL.Path = strings.Replace(r.URL.Path, "/back", "/front", 1)
	}); st != http.StatusForbidden {
		t.Errorf("other key: status %d, want 403", st)
	}
	for _, side := range []blobstore.Side{blobstore.SideFront, blobstore.SideBack} {
		_, err := s.Read(ctx(t), blobstore.Key(c.ID, side), 0)
		if !errors.Is(err, blobstore.ErrNotFound) {
			t.Errorf("%s after refused uploads: %v, want not found", side, err)
		}
	}
}

// TestOversizeRefusedAtRead: a presigned PUT cannot bound the length, so an
// oversized object never reaches a caller: Read refuses it from its length.
func TestOversizeRefusedAtRead(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	c, err := s.NewCapture(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if st := put(t, c.Uploads[blobstore.SideSelfie], make([]byte, small+1), nil); st != 200 {
		t.Fatalf("upload status %d", st)
	}
	_, err = s.Read(ctx(t), blobstore.Key(c.ID, blobstore.SideSelfie), 0)
	if proofline.ErrorCode(err) != proofline.ETOOLARGE || !errors.Is(err, blobstore.ErrTooLarge) {
		t.Fatalf("Read of an oversized object: %v", err)
	}
}

// TestForeignBucketsAndPrefixes: URLs this store did not issue, though
// genuine presigned URLs of the same server, are refused without a fetch.
func TestForeignBucketsAndPrefixes(t *testing.T) {
	t.Parallel()
	bucket, other := srv.NewBucket(t), srv.NewBucket(t)
	mine := blobstore.New(newDriver(t, bucket, prefix, nil), blobstore.Options{})
	for name, d := range map[string]*s3blob.Driver{
		"other bucket":      newDriver(t, other, prefix, nil),
		"outside prefix":    newDriver(t, bucket, "elsewhere/", nil),
		"no prefix":         newDriver(t, bucket, "", nil),
		"nested prefix":     newDriver(t, bucket, prefix+"x/", nil),
		"other endpoint":    mustDriver(t, s3blob.NewClient(srv.Config(), "http://localhost:"+srv.Addr()[strings.LastIndex(srv.Addr(), ":")+1:]), bucket, prefix),
		"aws (no endpoint)": mustDriver(t, s3blob.NewClient(srv.Config(), ""), bucket, prefix),
	} {
		c, err := blobstore.New(d, blobstore.Options{}).NewCapture(ctx(t))
		if err != nil {
			t.Fatal(err)
		}
		_, _, _, err = mine.KeyFromURL(c.Uploads[blobstore.SideFront].URL)
		if proofline.ErrorCode(err) != proofline.EINVALID || !errors.Is(err, blobstore.ErrForeignURL) {
			t.Errorf("%s: %v, want refused", name, err)
		}
	}
	// Without the signature, our own URL is not one we issued.
	c, err := mine.NewCapture(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	own := c.Uploads[blobstore.SideFront].URL
	if _, _, _, err := mine.KeyFromURL(own[:strings.Index(own, "?")]); !errors.Is(err, blobstore.ErrForeignURL) {
		t.Errorf("unsigned URL: %v", err)
	}
}

func mustDriver(t *testing.T, c *s3.Client, bucket, pfx string) *s3blob.Driver {
	t.Helper()
	d, err := s3blob.New(s3blob.Options{Client: c, Bucket: bucket, Prefix: pfx})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestVirtualHostedAWS: without an endpoint, URLs are AWS virtual-hosted
// ones for the bucket, and they map back; nothing is contacted.
func TestVirtualHostedAWS(t *testing.T) {
	t.Parallel()
	cfg := aws.Config{Region: "us-west-2", Credentials: credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", "")}
	d, err := s3blob.New(s3blob.Options{Client: s3blob.NewClient(cfg, ""), Bucket: "idp-images", Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	s := blobstore.New(d, blobstore.Options{})
	c, err := s.NewCapture(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(c.Uploads[blobstore.SideBack].URL)
	if u.Scheme != "https" || u.Host != "idp-images.s3.us-west-2.amazonaws.com" || u.Path != "/"+prefix+c.ID+"/back" {
		t.Fatalf("AWS upload URL %s://%s%s", u.Scheme, u.Host, u.Path)
	}
	if _, _, key, err := s.KeyFromURL(u.String()); err != nil || key != c.ID+"/back" {
		t.Fatalf("KeyFromURL = %q, %v", key, err)
	}
	for _, raw := range []string{
		strings.Replace(u.String(), "idp-images.", "other-bucket.", 1),
		strings.Replace(u.String(), "idp-images.s3.us-west-2.amazonaws.com", "s3.us-west-2.amazonaws.com/idp-images", 1),
		strings.Replace(u.String(), "/"+prefix, "/other/", 1),
	} {
		if _, _, _, err := s.KeyFromURL(raw); !errors.Is(err, blobstore.ErrForeignURL) {
			t.Errorf("KeyFromURL(%s): %v", raw, err)
		}
	}
}

// TestCORSPreflight: a browser on another origin may PUT (the server runs
// with --cors-allow-origin).
func TestCORSPreflight(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	c, err := s.NewCapture(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequestWithContext(ctx(t), http.MethodOptions, c.Uploads[blobstore.SideFront].URL, nil)
	req.Header.Set("Origin", "https://idp.example.gov")
	req.Header.Set("Access-Control-Request-Method", "PUT")
	req.Header.Set("Access-Control-Request-Headers", "content-type")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 || resp.Header.Get("Access-Control-Allow-Origin") == "" {
		t.Fatalf("preflight: %d, Allow-Origin %q", resp.StatusCode, resp.Header.Get("Access-Control-Allow-Origin"))
	}
}
