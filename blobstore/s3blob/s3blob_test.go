package s3blob_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/proofline/proofline"
	"github.com/proofline/proofline/blobstore"
	"github.com/proofline/proofline/blobstore/blobtest"
	"github.com/proofline/proofline/blobstore/s3blob"
	"github.com/proofline/proofline/internal/s3test"
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

// post uploads body through u (a POST policy), after edit may change the
// fields, and returns the status.
func post(t *testing.T, u blobstore.Upload, body []byte, edit func(fields map[string]string)) int {
	t.Helper()
	if edit != nil {
		f := map[string]string{}
		for k, v := range u.Fields {
			f[k] = v
		}
		edit(f)
		u.Fields = f
	}
	req, err := blobstore.NewUploadRequest(ctx(t), u, body)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestUploadShape: a POST policy to the bucket on the configured endpoint
// for exactly the object under the prefix; the object URL names it.
func TestUploadShape(t *testing.T) {
	t.Parallel()
	s, bucket := newStore(t)
	c, err := s.NewCapture(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	u := c.Uploads[blobstore.SideFront]
	if u.Method != http.MethodPost || u.URL != srv.Endpoint()+"/"+bucket {
		t.Fatalf("upload %s %s, want POST to the bucket", u.Method, u.URL)
	}
	if u.Fields["key"] != prefix+c.ID+"/front" || u.Fields["Content-Type"] != "application/octet-stream" || u.Fields["policy"] == "" || u.Fields["x-amz-signature"] == "" {
		t.Fatalf("fields %v", u.Fields)
	}
	if want := srv.Endpoint() + "/" + bucket + "/" + prefix + c.ID + "/front"; u.ObjectURL != want {
		t.Fatalf("object URL %q, want %q", u.ObjectURL, want)
	}
	if st := post(t, u, []byte("ciphertext"), nil); st/100 != 2 {
		t.Fatalf("upload refused: %d", st)
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

// TestUploadRefusals: S3 itself refuses an expired policy, another content
// type, a tampered policy or signature, another key and an oversized image.
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
	if st := post(t, c.Uploads[blobstore.SideFront], []byte("x"), nil); st/100 == 2 {
		t.Errorf("expired policy: status %d, want refused", st)
	}

	s := blobstore.New(newDriver(t, bucket, prefix, nil), blobstore.Options{MaxBytes: small})
	c, err = s.NewCapture(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	u := c.Uploads[blobstore.SideBack]
	for name, edit := range map[string]func(f map[string]string){
		"other content type": func(f map[string]string) { f["Content-Type"] = "text/html" },
		"tampered signature": func(f map[string]string) { f["x-amz-signature"] = strings.Repeat("0", 64) },
		"other key":          func(f map[string]string) { f["key"] = strings.Replace(f["key"], "/back", "/front", 1) },
		"tampered policy": func(f map[string]string) {
			f["policy"] = strings.Replace(f["policy"], f["policy"][:8], "eyJleHBp", 1) + "="
		},
	} {
		if st := post(t, u, []byte("x"), edit); st/100 == 2 {
			t.Errorf("%s: status %d, want refused", name, st)
		}
	}
	if st := post(t, u, make([]byte, small+1), nil); st != http.StatusBadRequest {
		t.Errorf("oversized image: status %d, want 400 (EntityTooLarge)", st)
	}
	for _, side := range []blobstore.Side{blobstore.SideFront, blobstore.SideBack} {
		_, err := s.Read(ctx(t), blobstore.Key(c.ID, side), 0)
		if !errors.Is(err, blobstore.ErrNotFound) {
			t.Errorf("%s after refused uploads: %v, want not found", side, err)
		}
	}
	// An image at the limit is accepted.
	if st := post(t, u, make([]byte, small), nil); st/100 != 2 {
		t.Errorf("image of exactly the limit: status %d", st)
	}
}

// TestForeignBucketsAndPrefixes: object URLs this store did not issue,
// though of the same server, are refused without a fetch.
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
		_, _, _, err = mine.KeyFromURL(c.Uploads[blobstore.SideFront].ObjectURL)
		if proofline.ErrorCode(err) != proofline.EINVALID || !errors.Is(err, blobstore.ErrForeignURL) {
			t.Errorf("%s: %v, want refused", name, err)
		}
	}
	// The form target (the bucket itself) and a query are not object URLs.
	c, err := mine.NewCapture(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, raw := range []string{c.Uploads[blobstore.SideFront].URL, c.Uploads[blobstore.SideFront].ObjectURL + "?x=1"} {
		if _, _, _, err := mine.KeyFromURL(raw); !errors.Is(err, blobstore.ErrForeignURL) {
			t.Errorf("KeyFromURL(%s): %v", raw, err)
		}
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
	if up := c.Uploads[blobstore.SideBack]; up.URL != "https://idp-images.s3.us-west-2.amazonaws.com/" || up.Fields["key"] != prefix+c.ID+"/back" {
		t.Fatalf("AWS upload %s %v", up.URL, up.Fields["key"])
	}
	u, _ := url.Parse(c.Uploads[blobstore.SideBack].ObjectURL)
	if u.Scheme != "https" || u.Host != "idp-images.s3.us-west-2.amazonaws.com" || u.Path != "/"+prefix+c.ID+"/back" {
		t.Fatalf("AWS object URL %s://%s%s", u.Scheme, u.Host, u.Path)
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

// TestCORSPreflight: a browser on another origin may POST its form (the
// server runs with --cors-allow-origin).
func TestCORSPreflight(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	c, err := s.NewCapture(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequestWithContext(ctx(t), http.MethodOptions, c.Uploads[blobstore.SideFront].URL, nil)
	req.Header.Set("Origin", "https://idp.example.gov")
	req.Header.Set("Access-Control-Request-Method", "POST")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 || resp.Header.Get("Access-Control-Allow-Origin") == "" {
		t.Fatalf("preflight: %d, Allow-Origin %q", resp.StatusCode, resp.Header.Get("Access-Control-Allow-Origin"))
	}
}

// TestSweepTouchesOnlyImagesUnderThePrefix: the server's sweep deletes old
// images of the blobstore shape under the prefix, and nothing else in the
// bucket: not other prefixes, not other names under the prefix.
func TestSweepTouchesOnlyImagesUnderThePrefix(t *testing.T) {
	t.Parallel()
	s, bucket := newStore(t)
	cl := srv.Client()
	put := func(key string) {
		t.Helper()
		if _, err := cl.PutObject(ctx(t), &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: strings.NewReader("x")}); err != nil {
			t.Fatal(err)
		}
	}
	image := prefix + "0123456789abcdef0123456789abcdef/front"
	others := []string{"other/0123456789abcdef0123456789abcdef/front", prefix + "README", prefix + "0123456789abcdef0123456789abcdef/extra", "0123456789abcdef0123456789abcdef/back"}
	put(image)
	for _, k := range others {
		put(k)
	}
	n, err := s.Sweep(ctx(t), time.Now().Add(time.Hour))
	if err != nil || n != 1 {
		t.Fatalf("Sweep = %d, %v; want 1", n, err)
	}
	if _, err := cl.HeadObject(ctx(t), &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(image)}); err == nil {
		t.Fatal("the old image is still in the bucket")
	}
	for _, k := range others {
		if _, err := cl.HeadObject(ctx(t), &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(k)}); err != nil {
			t.Errorf("%s was swept: %v", k, err)
		}
	}
}

// offline returns a driver for a path-style endpoint nothing listens on:
// presigning is local, so nothing is contacted.
func offline(t *testing.T, pfx string, creds aws.CredentialsProvider, now func() time.Time) (*s3blob.Driver, error) {
	t.Helper()
	cfg := aws.Config{Region: "us-east-1", Credentials: creds}
	return s3blob.New(s3blob.Options{Client: s3blob.NewClient(cfg, "http://127.0.0.1:9"), Bucket: "images", Prefix: pfx, Now: now})
}

var staticCreds = credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", "")

// TestPrefixes: a key prefix is empty or segments of [a-zA-Z0-9._-] each
// ending in '/', at most 256 bytes; no empty, "." or ".." segment, no other
// character (the neighbours of each allowed range included).
func TestPrefixes(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("p", 255) + "/"
	for _, p := range []string{"", "a/", "z/", "A/", "Z/", "0/", "9/", "-/", "_/", ".a/", "a.b/", "azAZ09-_./", "doc-capture/2030/", long} {
		if _, err := offline(t, p, staticCreds, nil); err != nil {
			t.Errorf("prefix %q refused: %v", p, err)
		}
	}
	for _, p := range []string{
		"a", "/", "//", "a//", "/a/", "./", "../", "a/../", "a/./", "p" + long,
		"`/", "{/", "@/", "[/", "//", ":/", " /", "a b/", "a\x00/", "é/", "a%2F/", "a\\/", "a?/", "a#/",
	} {
		if _, err := offline(t, p, staticCreds, nil); err == nil {
			t.Errorf("prefix %q accepted", p)
		}
	}
	if _, err := s3blob.New(s3blob.Options{Client: srv.Client()}); err == nil {
		t.Error("no bucket accepted")
	}
	if _, err := s3blob.New(s3blob.Options{Bucket: "images"}); err == nil {
		t.Error("no client accepted")
	}
}

// policy decodes the POST policy of u.
func policy(t *testing.T, u blobstore.Upload) (expiration string, conditions []any) {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(u.Fields["policy"])
	if err != nil {
		t.Fatal(err)
	}
	var p struct {
		Expiration string `json:"expiration"`
		Conditions []any  `json:"conditions"`
	}
	if err := json.Unmarshal(b, &p); err != nil {
		t.Fatal(err)
	}
	return p.Expiration, p.Conditions
}

// TestPresignBounds: a POST policy is signed only for a well-formed key, a
// limit of at least one byte, and an expiry from one second to seven days
// away (whole seconds, never later than asked); the policy binds the size
// range 1..limit and the expiry.
func TestPresignBounds(t *testing.T) {
	t.Parallel()
	now := time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
	d, err := offline(t, prefix, staticCreds, func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	const key = "0123456789abcdef0123456789abcdef/front"
	for _, exp := range []time.Time{now.Add(time.Second), now.Add(1500 * time.Millisecond), now.Add(7 * 24 * time.Hour), now.Add(7*24*time.Hour + 999*time.Millisecond)} {
		u, err := d.PresignUpload(t.Context(), key, exp, 1)
		if err != nil {
			t.Errorf("expiry %v away refused: %v", exp.Sub(now), err)
			continue
		}
		expiration, conds := policy(t, u)
		if want := exp.Truncate(time.Second).Format("2006-01-02T15:04:05.000Z"); expiration != want {
			t.Errorf("expiry %v away: policy expires %s, want %s", exp.Sub(now), expiration, want)
		}
		if !slices.ContainsFunc(conds, func(c any) bool { return fmt.Sprint(c) == "[content-length-range 1 1]" }) {
			t.Errorf("policy conditions %v lack the size range", conds)
		}
	}
	for _, exp := range []time.Time{now, now.Add(999 * time.Millisecond), now.Add(-time.Hour), now.Add(7*24*time.Hour + time.Second)} {
		if _, err := d.PresignUpload(t.Context(), key, exp, 1); err == nil {
			t.Errorf("expiry %v away signed", exp.Sub(now))
		}
	}
	for _, max := range []int64{0, -1} {
		if _, err := d.PresignUpload(t.Context(), key, now.Add(time.Minute), max); err == nil {
			t.Errorf("limit %d signed", max)
		}
	}
	for _, bad := range []string{"../" + key, "0123456789abcdef0123456789abcdef/passport", "0123456789abcdef0123456789abcdef"} {
		if _, err := d.PresignUpload(t.Context(), bad, now.Add(time.Minute), 1); err == nil {
			t.Errorf("key %q signed", bad)
		}
	}
}

// TestSessionToken: with temporary credentials the session token is both a
// form field and a policy condition (S3 refuses it otherwise); with
// long-lived credentials neither appears.
func TestSessionToken(t *testing.T) {
	t.Parallel()
	const key = "0123456789abcdef0123456789abcdef/back"
	exp := time.Now().Add(time.Minute)
	for token, want := range map[string]bool{"": false, "FwoGZXIvYXdzEXAMPLETOKEN": true} {
		d, err := offline(t, prefix, credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", token), nil)
		if err != nil {
			t.Fatal(err)
		}
		u, err := d.PresignUpload(t.Context(), key, exp, 10)
		if err != nil {
			t.Fatal(err)
		}
		_, has := u.Fields["x-amz-security-token"]
		_, conds := policy(t, u)
		inPolicy := slices.ContainsFunc(conds, func(c any) bool {
			m, ok := c.(map[string]any)
			return ok && m["x-amz-security-token"] != nil
		})
		if has != want || inPolicy != want || (want && u.Fields["x-amz-security-token"] != token) {
			t.Errorf("token %q: field %v (%q), condition %v", token, has, u.Fields["x-amz-security-token"], inPolicy)
		}
	}
}

// TestMissingBucket: a bucket that does not exist is a broken deployment,
// not a missing image: Read is unavailable (a job retries), not not-found.
func TestMissingBucket(t *testing.T) {
	t.Parallel()
	s := blobstore.New(newDriver(t, "no-such-bucket-"+strings.ToLower(strings.ReplaceAll(t.Name(), "/", "-")), prefix, nil), blobstore.Options{})
	_, err := s.Read(ctx(t), "0123456789abcdef0123456789abcdef/front", 0)
	if proofline.ErrorCode(err) != proofline.EUNAVAILABLE || errors.Is(err, blobstore.ErrNotFound) {
		t.Errorf("Read from a missing bucket: %v, want unavailable", err)
	}
}

// countingTransport counts the response body bytes the client reads.
type countingTransport struct{ n atomic.Int64 }

type countingBody struct {
	io.ReadCloser
	n *atomic.Int64
}

func (c countingBody) Read(p []byte) (int, error) {
	n, err := c.ReadCloser.Read(p)
	c.n.Add(int64(n))
	return n, err
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(r)
	if err == nil {
		resp.Body = countingBody{resp.Body, &c.n}
	}
	return resp, err
}

// TestOversizedNotDownloaded: an object longer than the caller allows is
// refused from its length alone: none of its body is read.
func TestOversizedNotDownloaded(t *testing.T) {
	t.Parallel()
	bucket := srv.NewBucket(t)
	const key = "0123456789abcdef0123456789abcdef/selfie"
	if _, err := srv.Client().PutObject(ctx(t), &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(prefix + key), Body: strings.NewReader(strings.Repeat("x", 100))}); err != nil {
		t.Fatal(err)
	}
	tr := &countingTransport{}
	cfg := srv.Config()
	cfg.HTTPClient = &http.Client{Transport: tr}
	d, err := s3blob.New(s3blob.Options{Client: s3blob.NewClient(cfg, srv.Endpoint()), Bucket: bucket, Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	s := blobstore.New(d, blobstore.Options{})
	if _, err := s.Read(ctx(t), key, 10); !errors.Is(err, blobstore.ErrTooLarge) {
		t.Fatalf("Read over the limit: %v", err)
	}
	if n := tr.n.Load(); n != 0 {
		t.Errorf("read %d bytes of an object refused for its length", n)
	}
	if b, err := s.Read(ctx(t), key, 100); err != nil || len(b) != 100 {
		t.Errorf("Read at the limit: %d bytes, %v", len(b), err)
	}
}

// TestBare404IsNotFound: an S3-compatible server that answers a missing
// object with a bare 404 (no S3 error document) means a missing image; a
// bare 500 does not.
func TestBare404IsNotFound(t *testing.T) {
	t.Parallel()
	for status, code := range map[int]string{http.StatusNotFound: proofline.ENOTFOUND, http.StatusInternalServerError: proofline.EUNAVAILABLE} {
		fake := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(status)
			_, _ = io.WriteString(w, "<html>no</html>")
		}))
		defer fake.Close()
		cfg := aws.Config{Region: "us-east-1", Credentials: staticCreds, RetryMaxAttempts: 1}
		d, err := s3blob.New(s3blob.Options{Client: s3blob.NewClient(cfg, fake.URL), Bucket: "images", Prefix: prefix})
		if err != nil {
			t.Fatal(err)
		}
		_, err = blobstore.New(d, blobstore.Options{}).Read(ctx(t), "0123456789abcdef0123456789abcdef/front", 0)
		if proofline.ErrorCode(err) != code {
			t.Errorf("bare %d: %v (%T), want %s", status, err, errors.Unwrap(err), code)
		}
	}
}
