package localblob

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/proofline/proofline"
	"github.com/proofline/proofline/blobstore"
	"github.com/proofline/proofline/blobstore/blobtest"
	"github.com/proofline/proofline/internal/testclock"
	"github.com/proofline/proofline/internal/testlog"
)

type fixture struct {
	dir    string
	key    []byte
	clock  *testclock.Clock
	logs   *testlog.Buffer
	driver *Driver
	store  *blobstore.Store
	srv    *httptest.Server
	client *http.Client
}

const testMaxBytes = 64 << 10

// setup starts a real HTTP server mounting the upload handler exactly as the
// server does, and a Store over a fresh driver whose BaseURL is that server.
func setup(t *testing.T) *fixture {
	t.Helper()
	return setupIn(t, t.TempDir())
}

// setupIn is setup with the objects under dir.
func setupIn(t *testing.T, dir string) *fixture {
	t.Helper()
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	f := &fixture{
		dir:   dir,
		key:   make([]byte, 32),
		clock: testclock.New(time.Now()),
		logs:  &testlog.Buffer{},
		srv:   srv,
	}
	if _, err := rand.Read(f.key); err != nil {
		t.Fatal(err)
	}
	d, err := New(Options{
		Dir:        f.dir,
		BaseURL:    srv.URL,
		SigningKey: f.key,
		Now:        f.clock.Now,
		Logger:     slog.New(slog.NewJSONHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		t.Fatal(err)
	}
	f.driver = d
	mux.Handle("PUT "+UploadPathPrefix+"{capture_id}/{side}", d.UploadHandler())
	f.store = blobstore.New(d, blobstore.Options{MaxBytes: testMaxBytes, Now: f.clock.Now})
	f.client = srv.Client()
	t.Cleanup(func() {
		// Nothing secret may ever reach a log line.
		out := f.logs.String()
		for _, secret := range []string{hex.EncodeToString(f.key), "signature="} {
			if strings.Contains(out, secret) {
				t.Errorf("logs contain %q", secret)
			}
		}
	})
	return f
}

func (f *fixture) capture(t *testing.T) *blobstore.Capture {
	t.Helper()
	c, err := f.store.NewCapture(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

type putOpts struct {
	method      string
	contentType *string
	chunked     bool
	headers     map[string]string
}

// put uploads body to rawURL with a plain net/http client, the way a browser
// would, and returns the status and response body.
func (f *fixture) put(t *testing.T, rawURL string, body []byte, o putOpts) (int, string, http.Header) {
	t.Helper()
	method := o.method
	if method == "" {
		method = http.MethodPut
	}
	var rd io.Reader = bytes.NewReader(body)
	if o.chunked {
		rd = io.MultiReader(rd) // hides the length: sent chunked
	}
	if body == nil {
		rd = nil
	}
	req, err := http.NewRequestWithContext(t.Context(), method, rawURL, rd)
	if err != nil {
		t.Fatal(err)
	}
	if o.chunked {
		req.ContentLength = -1
	}
	ct := "application/octet-stream"
	if o.contentType != nil {
		ct = *o.contentType
	}
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	for k, v := range o.headers {
		req.Header.Set(k, v)
	}
	resp, err := f.client.Do(req)
	if err != nil {
		t.Fatalf("%s: %v", method, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	return resp.StatusCode, string(b), resp.Header
}

func str(s string) *string { return &s }

func randomBytes(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// assertEmpty fails if the store holds any object or leftover temp file.
func (f *fixture) assertEmpty(t *testing.T) {
	t.Helper()
	err := filepath.WalkDir(f.dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			t.Errorf("unexpected file %s", strings.TrimPrefix(p, f.dir))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestConformance(t *testing.T) {
	t.Parallel()
	blobtest.Run(t, func(t *testing.T) (*blobstore.Store, blobtest.Uploader) {
		f := setup(t)
		return f.store, blobtest.HTTPUploader(f.client)
	})
}

func TestUploadRoundTrip(t *testing.T) {
	t.Parallel()
	f := setup(t)
	c := f.capture(t)
	body := randomBytes(t, 5000)
	status, resp, _ := f.put(t, c.Uploads[blobstore.SideFront].URL, body, putOpts{})
	if status != http.StatusNoContent {
		t.Fatalf("PUT: %d %q, want 204", status, resp)
	}
	key := blobstore.Key(c.ID, blobstore.SideFront)
	got, err := f.store.Read(t.Context(), key, 0)
	if err != nil || !bytes.Equal(got, body) {
		t.Fatalf("Read: %d bytes, %v", len(got), err)
	}

	// On disk: {dir}/{capture_id}/{side}, file 0600, directory 0700.
	fi, err := os.Stat(filepath.Join(f.dir, c.ID, "front"))
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Errorf("object mode %v, want 0600", perm)
	}
	di, err := os.Stat(filepath.Join(f.dir, c.ID))
	if err != nil {
		t.Fatal(err)
	}
	if perm := di.Mode().Perm(); perm != 0o700 {
		t.Errorf("capture dir mode %v, want 0700", perm)
	}
	tmps, err := os.ReadDir(filepath.Join(f.dir, tmpDir))
	if err != nil || len(tmps) != 0 {
		t.Errorf("temp dir holds %d files (%v) after upload", len(tmps), err)
	}

	// A retake replaces the object.
	retake := randomBytes(t, 3000)
	if status, _, _ := f.put(t, c.Uploads[blobstore.SideFront].URL, retake, putOpts{}); status != http.StatusNoContent {
		t.Fatalf("second PUT: %d", status)
	}
	if got, err := f.store.Read(t.Context(), key, 0); err != nil || !bytes.Equal(got, retake) {
		t.Fatalf("Read after retake: %d bytes, %v", len(got), err)
	}

	// Delete, then Read is not found.
	if err := f.store.Delete(t.Context(), key); err != nil {
		t.Fatal(err)
	}
	_, err = f.store.Read(t.Context(), key, 0)
	if proofline.ErrorCode(err) != proofline.ENOTFOUND || !errors.Is(err, blobstore.ErrNotFound) {
		t.Fatalf("Read after Delete: %v", err)
	}
	if _, err := os.Stat(filepath.Join(f.dir, c.ID)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("empty capture dir left behind: %v", err)
	}
}

// tamper returns rawURL with its query parameter name set to value (or
// removed when value is "").
func tamper(t *testing.T, rawURL, name, value string) string {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	if value == "" {
		q.Del(name)
	} else {
		q.Set(name, value)
	}
	u.RawQuery = q.Encode()
	return u.String()
}

func flipHex(s string) string {
	b := []byte(s)
	if b[0] == '0' {
		b[0] = '1'
	} else {
		b[0] = '0'
	}
	return string(b)
}

func TestUploadRejected(t *testing.T) {
	t.Parallel()
	f := setup(t)
	c := f.capture(t)
	other := f.capture(t)
	front := c.Uploads[blobstore.SideFront].URL
	u, _ := url.Parse(front)
	q := u.Query()
	sig, exp, mx := q.Get("signature"), q.Get("expires"), q.Get("max")
	body := randomBytes(t, 100)
	over := randomBytes(t, testMaxBytes+1)

	cases := []struct {
		name   string
		url    string
		body   []byte
		opts   putOpts
		status int
	}{
		{"signature flipped", tamper(t, front, "signature", flipHex(sig)), body, putOpts{}, 403},
		{"signature upper case", tamper(t, front, "signature", strings.ToUpper(sig)), body, putOpts{}, 403},
		{"signature truncated", tamper(t, front, "signature", sig[:62]), body, putOpts{}, 403},
		{"signature missing", tamper(t, front, "signature", ""), body, putOpts{}, 403},
		{"signature of another side", tamper(t, front, "signature", must(url.Parse(c.Uploads[blobstore.SideBack].URL)).Query().Get("signature")), body, putOpts{}, 403},
		{"max raised", tamper(t, front, "max", "999999999"), body, putOpts{}, 403},
		{"max leading zero", tamper(t, front, "max", "0"+mx), body, putOpts{}, 403},
		{"max missing", tamper(t, front, "max", ""), body, putOpts{}, 403},
		{"expires extended", tamper(t, front, "expires", "99999999999"), body, putOpts{}, 403},
		{"expires plus sign", tamper(t, front, "expires", "+"+exp), body, putOpts{}, 403},
		{"extra parameter", front + "&x=1", body, putOpts{}, 403},
		{"duplicate parameter", front + "&max=" + mx, body, putOpts{}, 403},
		{"no query", strings.Split(front, "?")[0], body, putOpts{}, 403},
		{"other side", strings.Replace(front, "/front?", "/back?", 1), body, putOpts{}, 403},
		{"other capture", strings.Replace(front, c.ID, other.ID, 1), body, putOpts{}, 403},
		{"escaped path", strings.Replace(front, "/front?", "/%66ront?", 1), body, putOpts{}, 403},
		{"wrong content type", front, body, putOpts{contentType: str("text/plain")}, 415},
		{"content type with params", front, body, putOpts{contentType: str("application/octet-stream; charset=utf-8")}, 415},
		{"content type upper case", front, body, putOpts{contentType: str("Application/Octet-Stream")}, 415},
		{"no content type", front, body, putOpts{contentType: str("")}, 415},
		{"content encoding", front, body, putOpts{headers: map[string]string{"Content-Encoding": "gzip"}}, 415},
		{"over max by content length", front, over, putOpts{}, 413},
		{"over max chunked", front, over, putOpts{chunked: true}, 413},
		{"empty body", front, []byte{}, putOpts{}, 400},
		{"no body", front, nil, putOpts{}, 400},
		{"empty chunked body", front, []byte{}, putOpts{chunked: true}, 400},
		{"GET", front, nil, putOpts{method: http.MethodGet}, 405},
		{"POST", front, body, putOpts{method: http.MethodPost}, 405},
	}
	for _, tc := range cases {
		status, resp, hdr := f.put(t, tc.url, tc.body, tc.opts)
		if status != tc.status {
			t.Errorf("%s: status %d %q, want %d", tc.name, status, resp, tc.status)
		}
		if status == 405 && !strings.Contains(hdr.Get("Allow"), "PUT") {
			t.Errorf("%s: Allow = %q, want PUT", tc.name, hdr.Get("Allow"))
		}
		if strings.Contains(resp, sig) || strings.Contains(resp, hex.EncodeToString(f.key)) {
			t.Errorf("%s: response leaks the signature or key", tc.name)
		}
	}
	f.assertEmpty(t)

	// Expired: the same URL, once the clock passes expires.
	f.clock.Advance(blobstore.DefaultUploadTTL + time.Second)
	if status, _, _ := f.put(t, front, body, putOpts{}); status != http.StatusForbidden {
		t.Errorf("expired: status %d, want 403", status)
	}
	f.assertEmpty(t)
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// TestHandlerDirect covers the handler mounted without a method in the
// pattern: it answers 405 itself, and refuses disagreeing path values.
func TestHandlerDirect(t *testing.T) {
	t.Parallel()
	f := setup(t)
	c := f.capture(t)
	up := c.Uploads[blobstore.SideBack].URL
	u, _ := url.Parse(up)
	target := u.RequestURI()

	rec := httptest.NewRecorder()
	f.driver.UploadHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, target, nil))
	if rec.Code != http.StatusMethodNotAllowed || rec.Header().Get("Allow") != http.MethodPut {
		t.Fatalf("GET: %d Allow=%q", rec.Code, rec.Header().Get("Allow"))
	}

	req := httptest.NewRequest(http.MethodPut, target, strings.NewReader("x"))
	req.Header.Set("Content-Type", "application/octet-stream")
	req.SetPathValue("capture_id", c.ID)
	req.SetPathValue("side", "front")
	rec = httptest.NewRecorder()
	f.driver.UploadHandler().ServeHTTP(rec, req)
	if rec.Code != http.StatusForbidden {
		t.Fatalf("disagreeing path values: %d, want 403", rec.Code)
	}

	req = httptest.NewRequest(http.MethodPut, target, strings.NewReader("x"))
	req.Header.Set("Content-Type", "application/octet-stream")
	rec = httptest.NewRecorder()
	f.driver.UploadHandler().ServeHTTP(rec, req)
	if rec.Code != http.StatusNoContent {
		t.Fatalf("unmounted PUT: %d %q, want 204", rec.Code, rec.Body)
	}
	if got := rec.Header().Get("Content-Type"); got != "" {
		t.Errorf("204 carries Content-Type %q", got)
	}
}

func TestSweep(t *testing.T) {
	t.Parallel()
	f := setup(t)
	oldC, newC := f.capture(t), f.capture(t)
	for _, side := range blobstore.Sides() {
		for _, c := range []*blobstore.Capture{oldC, newC} {
			if status, _, _ := f.put(t, c.Uploads[side].URL, []byte("img"), putOpts{}); status != 204 {
				t.Fatalf("PUT: %d", status)
			}
		}
	}
	// One side of the new capture is old too; a crashed upload left a temp file;
	// a foreign file sits in the directory.
	long := time.Now().Add(-2 * time.Hour)
	for _, p := range []string{
		filepath.Join(f.dir, oldC.ID, "front"),
		filepath.Join(f.dir, oldC.ID, "back"),
		filepath.Join(f.dir, oldC.ID, "selfie"),
		filepath.Join(f.dir, newC.ID, "selfie"),
	} {
		if err := os.Chtimes(p, long, long); err != nil {
			t.Fatal(err)
		}
	}
	stale := filepath.Join(f.dir, tmpDir, "deadbeef")
	foreign := filepath.Join(f.dir, "README")
	for _, p := range []string{stale, foreign} {
		if err := os.WriteFile(p, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, long, long); err != nil {
			t.Fatal(err)
		}
	}

	n, err := f.driver.Sweep(context.Background(), time.Now().Add(-time.Hour))
	if err != nil || n != 4 {
		t.Fatalf("Sweep = %d, %v; want 4", n, err)
	}
	if _, err := os.Stat(filepath.Join(f.dir, oldC.ID)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("old capture dir not removed: %v", err)
	}
	if _, err := os.Stat(stale); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("stale temp file not removed: %v", err)
	}
	if _, err := os.Stat(foreign); err != nil {
		t.Errorf("foreign file touched: %v", err)
	}
	for _, side := range []blobstore.Side{blobstore.SideFront, blobstore.SideBack} {
		if _, err := f.store.Read(t.Context(), blobstore.Key(newC.ID, side), 0); err != nil {
			t.Errorf("fresh %s swept: %v", side, err)
		}
	}
	if _, err := f.store.Read(t.Context(), blobstore.Key(newC.ID, blobstore.SideSelfie), 0); !errors.Is(err, blobstore.ErrNotFound) {
		t.Errorf("old selfie survived: %v", err)
	}
	if n, err := f.driver.Sweep(context.Background(), time.Now().Add(-time.Hour)); err != nil || n != 0 {
		t.Errorf("second Sweep = %d, %v; want 0", n, err)
	}
}

func TestKeyFromURL(t *testing.T) {
	t.Parallel()
	d, err := New(Options{Dir: t.TempDir(), BaseURL: "http://localhost:8080/", SigningKey: make([]byte, 32)})
	if err != nil {
		t.Fatal(err)
	}
	const id = "0123456789abcdef0123456789abcdef"
	up, err := d.PresignUpload(context.Background(), id+"/front", time.Now().Add(time.Minute), 10)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(up.URL, "http://localhost:8080/uploads/"+id+"/front?expires=") {
		t.Fatalf("upload URL %q", up.URL)
	}
	good := []string{
		up.URL,
		"http://localhost:8080/uploads/" + id + "/back",
		"http://localhost:8080/uploads/" + id + "/selfie?signature=00",
	}
	for _, raw := range good {
		key, err := d.KeyFromURL(raw)
		if err != nil || !blobstore.ValidKey(key) || !strings.HasPrefix(key, id+"/") {
			t.Errorf("KeyFromURL(%q) = %q, %v", raw, key, err)
		}
	}
	bad := []string{
		"",
		"http://127.0.0.1:8080/uploads/" + id + "/front",
		"http://[::1]:8080/uploads/" + id + "/front",
		"http://localhost/uploads/" + id + "/front",
		"http://localhost:80/uploads/" + id + "/front",
		"http://localhost:8081/uploads/" + id + "/front",
		"http://LOCALHOST:8080/uploads/" + id + "/front",
		"https://localhost:8080/uploads/" + id + "/front",
		"HTTP://localhost:8080/uploads/" + id + "/front",
		"http://169.254.169.254/latest/meta-data/",
		"http://169.254.169.254/uploads/" + id + "/front",
		"http://localhost:8080@169.254.169.254/uploads/" + id + "/front",
		"http://user@localhost:8080/uploads/" + id + "/front",
		"http://user:pass@localhost:8080/uploads/" + id + "/front",
		"http://localhost:8080.evil.example/uploads/" + id + "/front",
		"http://localhost:8080/uploads/" + id + "/front/../../../etc/passwd",
		"http://localhost:8080/uploads/../uploads/" + id + "/front",
		"http://localhost:8080/uploads/" + id + "/../" + id + "/front",
		"http://localhost:8080/uploads/./" + id + "/front",
		"http://localhost:8080/uploads/" + id + "%2Ffront",
		"http://localhost:8080/uploads/" + id + "%2ffront",
		"http://localhost:8080/uploads%2F" + id + "/front",
		"http://localhost:8080/uploads/%30123456789abcdef0123456789abcdef/front",
		"http://localhost:8080/uploads/" + id + "/front%00",
		"http://localhost:8080/uploads/" + id + "/front/",
		"http://localhost:8080/uploads//" + id + "/front",
		"http://localhost:8080//uploads/" + id + "/front",
		"http://localhost:8080/uploads/" + id + "//front",
		"http://localhost:8080/uploads/" + strings.ToUpper(id) + "/front",
		"http://localhost:8080/uploads/" + id + "/Front",
		"http://localhost:8080/uploads/" + id + "/passport",
		"http://localhost:8080/uploads/" + id[1:] + "/front",
		"http://localhost:8080/other/" + id + "/front",
		"http://localhost:8080/" + id + "/front",
		"http://localhost:8080/?key=" + id + "/front",
		"http://localhost:8080/uploads/?key=" + id + "/front",
		"http://localhost:8080/uploads/" + id + "/front?key=../../etc/passwd",
		"http://localhost:8080/uploads/" + id + "/front?url=http://169.254.169.254/",
		"http://localhost:8080/uploads/" + id + "/front?max=1&max=2",
		"http://localhost:8080/uploads/" + id + "/front?a;b",
		"http://localhost:8080/uploads/" + id + "/front#frag",
		"http://localhost:8080/uploads/" + id + "/front\\..\\x",
		"http://localhost:8080\\uploads\\" + id + "\\front",
		"//localhost:8080/uploads/" + id + "/front",
		"/uploads/" + id + "/front",
		"uploads/" + id + "/front",
		id + "/front",
		"localhost:8080/uploads/" + id + "/front",
		"file:///uploads/" + id + "/front",
		"http:/localhost:8080/uploads/" + id + "/front",
		"http:///localhost:8080/uploads/" + id + "/front",
		" http://localhost:8080/uploads/" + id + "/front",
		"http://localhost:8080/uploads/" + id + "/front\n",
		"http://localhost:8080/uploads/" + id + "/front\x00",
		"http://localhost:8080/uploads/" + id + "/front" + "?" + strings.Repeat("a", maxURLLen),
	}
	for _, raw := range bad {
		if key, err := d.KeyFromURL(raw); !errors.Is(err, blobstore.ErrForeignURL) {
			t.Errorf("KeyFromURL(%q) = %q, %v; want ErrForeignURL", raw, key, err)
		}
	}
	// Through the Store: EINVALID wrapping ErrForeignURL.
	s := blobstore.New(d, blobstore.Options{})
	_, _, _, err = s.KeyFromURL(bad[1])
	if proofline.ErrorCode(err) != proofline.EINVALID || !errors.Is(err, blobstore.ErrForeignURL) {
		t.Errorf("Store.KeyFromURL: %v", err)
	}
}

func TestNewValidates(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	key := make([]byte, 32)
	for _, o := range []Options{
		{BaseURL: "http://localhost:8080", SigningKey: key},
		{Dir: dir, BaseURL: "http://localhost:8080", SigningKey: key[:31]},
		{Dir: dir, BaseURL: "", SigningKey: key},
		{Dir: dir, BaseURL: "localhost:8080", SigningKey: key},
		{Dir: dir, BaseURL: "ftp://localhost", SigningKey: key},
		{Dir: dir, BaseURL: "http://u:p@localhost", SigningKey: key},
		{Dir: dir, BaseURL: "http://localhost/app", SigningKey: key},
		{Dir: dir, BaseURL: "http://localhost?x=1", SigningKey: key},
		{Dir: dir, BaseURL: "http:///x", SigningKey: key},
	} {
		if _, err := New(o); err == nil {
			t.Errorf("New(%+v) accepted", o.BaseURL)
		} else if strings.Contains(err.Error(), hex.EncodeToString(key)) {
			t.Errorf("error leaks the key")
		}
	}
	// The driver keeps its own copy of the key.
	k := bytes.Repeat([]byte{7}, 32)
	d, err := New(Options{Dir: dir, BaseURL: "http://localhost:8080", SigningKey: k})
	if err != nil {
		t.Fatal(err)
	}
	up, _ := d.PresignUpload(context.Background(), "0123456789abcdef0123456789abcdef/front", time.Now().Add(time.Minute), 10)
	k[0] = 8
	u, _ := url.Parse(up.URL)
	if _, _, err := d.verifyUpload(http.MethodPut, u.EscapedPath(), u.RawQuery); err != nil {
		t.Errorf("changing the caller's key slice broke the driver: %v", err)
	}
}

func TestReadLimits(t *testing.T) {
	t.Parallel()
	f := setup(t)
	const id = "00000000000000000000000000000000"
	if err := os.MkdirAll(filepath.Join(f.dir, id), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(f.dir, id, "front"), make([]byte, 11), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := f.driver.Read(t.Context(), id+"/front", 10); !errors.Is(err, blobstore.ErrTooLarge) {
		t.Errorf("Read over limit: %v", err)
	}
	if b, err := f.driver.Read(t.Context(), id+"/front", 11); err != nil || len(b) != 11 {
		t.Errorf("Read at limit: %d, %v", len(b), err)
	}
	// A symbolic link out of the directory is never followed out.
	outside := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(outside, []byte("s"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(f.dir, id, "back")); err != nil {
		t.Skip("no symlinks:", err)
	}
	if b, err := f.driver.Read(t.Context(), id+"/back", 10); err == nil {
		t.Errorf("Read followed a symlink out of the store: %q", b)
	}
	// A directory where an object should be is not an object.
	if err := os.Mkdir(filepath.Join(f.dir, id, "selfie"), 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := f.driver.Read(t.Context(), id+"/selfie", 10); !errors.Is(err, blobstore.ErrNotFound) {
		t.Errorf("Read of a directory: %v", err)
	}
}

// TestPresignRefuses: no upload URL is signed for a malformed key or for a
// limit of zero bytes or less.
func TestPresignRefuses(t *testing.T) {
	t.Parallel()
	f := setup(t)
	const id = "0123456789abcdef0123456789abcdef"
	exp := time.Now().Add(time.Minute)
	for _, max := range []int64{0, -1} {
		if up, err := f.driver.PresignUpload(t.Context(), id+"/front", exp, max); err == nil {
			t.Errorf("maxBytes %d signed: %s", max, up.URL)
		}
	}
	for _, key := range []string{"../" + id + "/front", id + "/passport", id} {
		if up, err := f.driver.PresignUpload(t.Context(), key, exp, 10); err == nil {
			t.Errorf("key %q signed: %s", key, up.URL)
		}
	}
	if up, err := f.driver.PresignUpload(t.Context(), id+"/front", exp, 1); err != nil || !strings.Contains(up.URL, "&max=1&") {
		t.Errorf("a 1-byte limit: %q, %v", up.URL, err)
	}
}

// TestKeyFromURLLength: an object URL of up to 4096 bytes maps to its key;
// one byte more is foreign, whatever it holds.
func TestKeyFromURLLength(t *testing.T) {
	t.Parallel()
	d, err := New(Options{Dir: t.TempDir(), BaseURL: "http://localhost:8080", SigningKey: make([]byte, 32)})
	if err != nil {
		t.Fatal(err)
	}
	const id = "0123456789abcdef0123456789abcdef"
	base := "http://localhost:8080/uploads/" + id + "/front?signature="
	at := base + strings.Repeat("0", maxURLLen-len(base))
	if key, err := d.KeyFromURL(at); err != nil || key != id+"/front" {
		t.Errorf("a %d-byte URL: %q, %v", len(at), key, err)
	}
	if _, err := d.KeyFromURL(at + "0"); !errors.Is(err, blobstore.ErrForeignURL) {
		t.Errorf("a %d-byte URL: %v, want ErrForeignURL", len(at)+1, err)
	}
}

// TestUploadBodyForms: "Content-Encoding: identity" is no encoding and is
// accepted; an upload of exactly the signed limit is stored; an empty
// chunked body is refused as empty, by name, and stores nothing.
func TestUploadBodyForms(t *testing.T) {
	t.Parallel()
	f := setup(t)
	c := f.capture(t)
	body := randomBytes(t, 100)
	if status, resp, _ := f.put(t, c.Uploads[blobstore.SideFront].URL, body, putOpts{headers: map[string]string{"Content-Encoding": "identity"}}); status != http.StatusNoContent {
		t.Errorf("identity encoding: %d %q, want 204", status, resp)
	}
	if status, resp, _ := f.put(t, c.Uploads[blobstore.SideBack].URL, randomBytes(t, testMaxBytes), putOpts{chunked: true}); status != http.StatusNoContent {
		t.Errorf("chunked upload of exactly the limit: %d %q, want 204", status, resp)
	}
	status, resp, _ := f.put(t, c.Uploads[blobstore.SideSelfie].URL, []byte{}, putOpts{chunked: true})
	if status != http.StatusBadRequest || !strings.Contains(resp, "empty body") {
		t.Errorf("empty chunked body: %d %q, want 400 empty body", status, resp)
	}
	if _, err := f.store.Read(t.Context(), blobstore.Key(c.ID, blobstore.SideSelfie), 0); !errors.Is(err, blobstore.ErrNotFound) {
		t.Errorf("empty body stored: %v", err)
	}
}

// vanishingBody is an upload body that, once read to its end, removes every
// temporary file of the store (a sweep racing a stalled upload).
type vanishingBody struct {
	r   io.Reader
	dir string
}

func (v *vanishingBody) Read(p []byte) (int, error) {
	n, err := v.r.Read(p)
	if err == io.EOF {
		tmps, _ := os.ReadDir(filepath.Join(v.dir, tmpDir))
		for _, e := range tmps {
			_ = os.Remove(filepath.Join(v.dir, tmpDir, e.Name()))
		}
	}
	return n, err
}

// TestUploadTempFileGone: an upload whose temporary file disappears before it
// is moved into place fails after a bounded number of retries with a 500,
// logs why, and leaves no object behind.
func TestUploadTempFileGone(t *testing.T) {
	t.Parallel()
	f := setup(t)
	c := f.capture(t)
	u, _ := url.Parse(c.Uploads[blobstore.SideFront].URL)
	req := httptest.NewRequestWithContext(t.Context(), http.MethodPut, u.RequestURI(), &vanishingBody{r: strings.NewReader("ciphertext"), dir: f.dir})
	req.Header.Set("Content-Type", "application/octet-stream")
	rec := httptest.NewRecorder()
	done := make(chan struct{})
	go func() {
		defer close(done)
		f.driver.UploadHandler().ServeHTTP(rec, req)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the upload keeps retrying")
	}
	if rec.Code != http.StatusInternalServerError || strings.Contains(rec.Body.String(), f.dir) {
		t.Errorf("status %d %q, want 500 without the path", rec.Code, rec.Body)
	}
	if !strings.Contains(f.logs.String(), "upload not stored") {
		t.Errorf("no log line says the upload was not stored: %s", f.logs)
	}
	if _, err := f.store.Read(t.Context(), blobstore.Key(c.ID, blobstore.SideFront), 0); !errors.Is(err, blobstore.ErrNotFound) {
		t.Errorf("object after a failed upload: %v", err)
	}
	f.assertEmpty(t)
}
