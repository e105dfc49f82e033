// Package blobtest is the conformance suite every blob driver passes, through
// the blobstore.Store that wraps it: captures, uploads made the way a browser
// makes them, reads by key, deletion, size limits, foreign URLs and keys.
//
//	func TestConformance(t *testing.T) {
//		blobtest.Run(t, func(t *testing.T) (*blobstore.Store, blobtest.Uploader) {
//			... build a fresh store ...
//			return store, blobtest.HTTPUploader(http.DefaultClient)
//		})
//	}
package blobtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/proofline/proofline"
	"github.com/proofline/proofline/blobstore"
)

// Uploader sends body through u the way a browser would (the method, URL and
// headers of u, nothing else) and returns the HTTP status code.
type Uploader func(ctx context.Context, u blobstore.Upload, body []byte) (status int, err error)

// HTTPUploader returns an Uploader that uses c, a plain net/http client.
func HTTPUploader(c *http.Client) Uploader {
	return func(ctx context.Context, u blobstore.Upload, body []byte) (int, error) {
		req, err := blobstore.NewUploadRequest(ctx, u, body)
		if err != nil {
			return 0, err
		}
		resp, err := c.Do(req)
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
		return resp.StatusCode, nil
	}
}

// Run runs the suite. newStore builds a fresh, empty store for one subtest
// (it may be called concurrently) and the Uploader that reaches its uploads.
func Run(t *testing.T, newStore func(t *testing.T) (*blobstore.Store, Uploader)) {
	t.Run("CaptureShape", func(t *testing.T) {
		t.Parallel()
		testCaptureShape(t, newStore)
	})
	t.Run("RoundTrip", func(t *testing.T) {
		t.Parallel()
		testRoundTrip(t, newStore)
	})
	t.Run("Replace", func(t *testing.T) {
		t.Parallel()
		testReplace(t, newStore)
	})
	t.Run("Oversized", func(t *testing.T) {
		t.Parallel()
		testOversized(t, newStore)
	})
	t.Run("ReadLimit", func(t *testing.T) {
		t.Parallel()
		testReadLimit(t, newStore)
	})
	t.Run("MissingAndMalformedKeys", func(t *testing.T) {
		t.Parallel()
		testMissingAndMalformed(t, newStore)
	})
	t.Run("ForeignURLs", func(t *testing.T) {
		t.Parallel()
		testForeignURLs(t, newStore)
	})
	t.Run("Sweep", func(t *testing.T) {
		t.Parallel()
		testSweep(t, newStore)
	})
	t.Run("ParseKey", func(t *testing.T) {
		t.Parallel()
		testParseKey(t)
	})
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

func randomBytes(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func newCapture(t *testing.T, s *blobstore.Store) *blobstore.Capture {
	t.Helper()
	c, err := s.NewCapture(ctx(t))
	if err != nil {
		t.Fatalf("NewCapture: %v", err)
	}
	return c
}

func upload(t *testing.T, up Uploader, u blobstore.Upload, body []byte) int {
	t.Helper()
	status, err := up(ctx(t), u, body)
	if err != nil {
		t.Fatalf("upload: %v", err)
	}
	return status
}

func mustUpload(t *testing.T, up Uploader, u blobstore.Upload, body []byte) {
	t.Helper()
	if status := upload(t, up, u, body); status < 200 || status > 299 {
		t.Fatalf("upload: status %d, want 2xx", status)
	}
}

func wantCode(t *testing.T, err error, code string, sentinel error) {
	t.Helper()
	if err == nil {
		t.Fatalf("err = nil, want %s", code)
	}
	if got := proofline.ErrorCode(err); got != code {
		t.Fatalf("code = %q (%v), want %q", got, err, code)
	}
	if sentinel != nil && !errors.Is(err, sentinel) {
		t.Fatalf("errors.Is(%v, %v) = false", err, sentinel)
	}
}

func isLowerHex(s string) bool {
	for _, c := range s {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

func testCaptureShape(t *testing.T, newStore func(*testing.T) (*blobstore.Store, Uploader)) {
	s, _ := newStore(t)
	before := time.Now()
	c1, c2 := newCapture(t, s), newCapture(t, s)
	if len(c1.ID) != 32 || !isLowerHex(c1.ID) {
		t.Fatalf("capture id %q: want 32 lower-case hex characters", c1.ID)
	}
	if c1.ID == c2.ID {
		t.Fatal("two captures share an id")
	}
	if !c1.ExpiresAt.After(before) {
		t.Fatalf("ExpiresAt %v is not in the future", c1.ExpiresAt)
	}
	if len(c1.Uploads) != len(blobstore.Sides()) {
		t.Fatalf("uploads for %d sides, want %d", len(c1.Uploads), len(blobstore.Sides()))
	}
	seen := map[string]bool{}
	for _, side := range blobstore.Sides() {
		u, ok := c1.Uploads[side]
		if !ok {
			t.Fatalf("no upload for side %q", side)
		}
		switch u.Method {
		case http.MethodPut:
			if got := u.Headers["Content-Type"]; got != "application/octet-stream" {
				t.Errorf("%s: Content-Type header %q, want application/octet-stream", side, got)
			}
			if u.ObjectURL != u.URL {
				t.Errorf("%s: a PUT upload's object URL must be its URL", side)
			}
		case http.MethodPost:
			if got := u.Fields["Content-Type"]; got != "application/octet-stream" {
				t.Errorf("%s: Content-Type field %q, want application/octet-stream", side, got)
			}
		default:
			t.Errorf("%s: method %q, want PUT or POST", side, u.Method)
		}
		if seen[u.ObjectURL] || u.ObjectURL == c2.Uploads[side].ObjectURL {
			t.Errorf("%s: upload URL reused", side)
		}
		seen[u.ObjectURL] = true
		id, sd, key, err := s.KeyFromURL(u.ObjectURL)
		if err != nil {
			t.Fatalf("%s: KeyFromURL(own upload URL): %v", side, err)
		}
		if id != c1.ID || sd != side || key != blobstore.Key(c1.ID, side) {
			t.Errorf("%s: KeyFromURL = %q %q %q", side, id, sd, key)
		}
	}
}

func testRoundTrip(t *testing.T, newStore func(*testing.T) (*blobstore.Store, Uploader)) {
	s, up := newStore(t)
	c := newCapture(t, s)
	want := map[blobstore.Side][]byte{}
	for _, side := range blobstore.Sides() {
		want[side] = randomBytes(t, 1000+len(side))
		mustUpload(t, up, c.Uploads[side], want[side])
	}
	for _, side := range blobstore.Sides() {
		_, _, key, err := s.KeyFromURL(c.Uploads[side].ObjectURL)
		if err != nil {
			t.Fatalf("KeyFromURL: %v", err)
		}
		got, err := s.Read(ctx(t), key, 0)
		if err != nil {
			t.Fatalf("Read(%s): %v", side, err)
		}
		if !bytes.Equal(got, want[side]) {
			t.Fatalf("Read(%s): got %d bytes, not what was uploaded", side, len(got))
		}
	}
	for _, side := range blobstore.Sides() {
		key := blobstore.Key(c.ID, side)
		if err := s.Delete(ctx(t), key); err != nil {
			t.Fatalf("Delete(%s): %v", side, err)
		}
		_, err := s.Read(ctx(t), key, 0)
		wantCode(t, err, proofline.ENOTFOUND, blobstore.ErrNotFound)
		if err := s.Delete(ctx(t), key); err != nil {
			t.Fatalf("second Delete(%s): %v", side, err)
		}
	}
}

// testSweep: the sweep deletes what was written before its cutoff (an image
// nothing read: abandoned, refused or expired unclaimed) and nothing newer.
// Object times are the store's own, so the cutoffs are an hour either side
// of now rather than a wait.
func testSweep(t *testing.T, newStore func(*testing.T) (*blobstore.Store, Uploader)) {
	s, up := newStore(t)
	c := newCapture(t, s)
	for _, side := range []blobstore.Side{blobstore.SideFront, blobstore.SideBack} {
		mustUpload(t, up, c.Uploads[side], randomBytes(t, 100))
	}
	if n, err := s.Sweep(ctx(t), time.Now().Add(-time.Hour)); err != nil || n != 0 {
		t.Fatalf("Sweep(an hour ago) = %d, %v; want 0 (nothing that old)", n, err)
	}
	if _, err := s.Read(ctx(t), blobstore.Key(c.ID, blobstore.SideFront), 0); err != nil {
		t.Fatalf("a recent image was swept: %v", err)
	}
	if n, err := s.Sweep(ctx(t), time.Now().Add(time.Hour)); err != nil || n != 2 {
		t.Fatalf("Sweep(in an hour) = %d, %v; want 2", n, err)
	}
	for _, side := range []blobstore.Side{blobstore.SideFront, blobstore.SideBack} {
		_, err := s.Read(ctx(t), blobstore.Key(c.ID, side), 0)
		wantCode(t, err, proofline.ENOTFOUND, blobstore.ErrNotFound)
	}
	if n, err := s.Sweep(ctx(t), time.Now().Add(time.Hour)); err != nil || n != 0 {
		t.Fatalf("second Sweep = %d, %v; want 0", n, err)
	}
}

func testReplace(t *testing.T, newStore func(*testing.T) (*blobstore.Store, Uploader)) {
	s, up := newStore(t)
	c := newCapture(t, s)
	u := c.Uploads[blobstore.SideFront]
	mustUpload(t, up, u, randomBytes(t, 2000))
	second := randomBytes(t, 1500)
	mustUpload(t, up, u, second)
	got, err := s.Read(ctx(t), blobstore.Key(c.ID, blobstore.SideFront), 0)
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	if !bytes.Equal(got, second) {
		t.Fatal("a second upload did not replace the first")
	}
}

// testOversized uploads one byte over the limit. A driver that can refuse it
// at upload must; one that cannot (e.g. a presigned PUT that cannot bound the
// length) must refuse to read it back. Either way the bytes never reach a caller.
func testOversized(t *testing.T, newStore func(*testing.T) (*blobstore.Store, Uploader)) {
	s, up := newStore(t)
	c := newCapture(t, s)
	big := randomBytes(t, int(s.MaxBytes())+1)
	status, err := up(ctx(t), c.Uploads[blobstore.SideBack], big)
	accepted := err == nil && status >= 200 && status <= 299
	got, rerr := s.Read(ctx(t), blobstore.Key(c.ID, blobstore.SideBack), 0)
	if rerr == nil {
		t.Fatalf("oversized upload readable (%d bytes); upload status %d", len(got), status)
	}
	if accepted {
		wantCode(t, rerr, proofline.ETOOLARGE, blobstore.ErrTooLarge)
	} else {
		wantCode(t, rerr, proofline.ENOTFOUND, blobstore.ErrNotFound)
	}
	// Exactly MaxBytes is fine.
	ok := randomBytes(t, int(s.MaxBytes()))
	mustUpload(t, up, c.Uploads[blobstore.SideFront], ok)
	got, err = s.Read(ctx(t), blobstore.Key(c.ID, blobstore.SideFront), 0)
	if err != nil || !bytes.Equal(got, ok) {
		t.Fatalf("Read of a MaxBytes upload: %d bytes, %v", len(got), err)
	}
}

func testReadLimit(t *testing.T, newStore func(*testing.T) (*blobstore.Store, Uploader)) {
	s, up := newStore(t)
	c := newCapture(t, s)
	body := randomBytes(t, 100)
	mustUpload(t, up, c.Uploads[blobstore.SideSelfie], body)
	key := blobstore.Key(c.ID, blobstore.SideSelfie)
	_, err := s.Read(ctx(t), key, 99)
	wantCode(t, err, proofline.ETOOLARGE, blobstore.ErrTooLarge)
	got, err := s.Read(ctx(t), key, 100)
	if err != nil || !bytes.Equal(got, body) {
		t.Fatalf("Read with maxBytes = size: %d bytes, %v", len(got), err)
	}
}

func testMissingAndMalformed(t *testing.T, newStore func(*testing.T) (*blobstore.Store, Uploader)) {
	s, _ := newStore(t)
	c := newCapture(t, s)
	_, err := s.Read(ctx(t), blobstore.Key(c.ID, blobstore.SideFront), 0)
	wantCode(t, err, proofline.ENOTFOUND, blobstore.ErrNotFound)
	if err := s.Delete(ctx(t), blobstore.Key(c.ID, blobstore.SideFront)); err != nil {
		t.Fatalf("Delete of a missing object: %v", err)
	}
	for _, key := range badKeys(c.ID) {
		_, err := s.Read(ctx(t), key, 0)
		wantCode(t, err, proofline.EINVALID, nil)
		wantCode(t, s.Delete(ctx(t), key), proofline.EINVALID, nil)
	}
}

// badKeys are keys ParseKey must refuse, built around a valid capture id.
func badKeys(id string) []string {
	return []string{
		"",
		id,
		id + "/",
		"/" + id + "/front",
		id + "/front/",
		id + "//front",
		id + "/front/x",
		id + "/Front",
		id + "/FRONT",
		id + "/side",
		id + "/front\x00",
		id + "\x00/front",
		id + "/fro",
		id + "/front ",
		" " + id + "/front",
		strings.ToUpper(id) + "/front",
		id[:31] + "/front",
		id + "0/front",
		id[:31] + "g/front",
		"../" + id[3:] + "/front",
		id[:30] + "../front",
		"../../etc/passwd",
		id + "/../front",
		id + "/./front",
		id + `\front`,
		id + "%2Ffront",
		id + "/front\n",
		"0x" + id[2:] + "/front",
	}
}

func testParseKey(t *testing.T) {
	id := "0123456789abcdef0123456789abcdef"
	for _, side := range blobstore.Sides() {
		key := blobstore.Key(id, side)
		if key != id+"/"+string(side) {
			t.Fatalf("Key = %q", key)
		}
		gotID, gotSide, err := blobstore.ParseKey(key)
		if err != nil || gotID != id || gotSide != side {
			t.Fatalf("ParseKey(%q) = %q, %q, %v", key, gotID, gotSide, err)
		}
	}
	for _, key := range badKeys(id) {
		if _, _, err := blobstore.ParseKey(key); err == nil {
			t.Errorf("ParseKey(%q) accepted", key)
		} else if proofline.ErrorCode(err) != proofline.EINVALID {
			t.Errorf("ParseKey(%q): code %q, want invalid", key, proofline.ErrorCode(err))
		}
	}
}

// foreignURLs derives, from one genuine upload URL, URLs that must be refused:
// other hosts (metadata service, loopback aliases), userinfo, other schemes,
// traversal, escapes, other shapes.
func foreignURLs(t *testing.T, own string) []string {
	t.Helper()
	u, err := url.Parse(own)
	if err != nil {
		t.Fatalf("own upload URL does not parse: %v", err)
	}
	mod := func(f func(v *url.URL)) string {
		v := *u
		f(&v)
		return v.String()
	}
	p := u.Path
	i := strings.LastIndex(p, "/")
	dir, side := p[:i], p[i+1:]
	id := dir[strings.LastIndex(dir, "/")+1:]
	return []string{
		"",
		"not a url",
		"%",
		"/" + id + "/" + side,
		id + "/" + side,
		"file:///etc/passwd",
		"file://" + p,
		"gopher://" + u.Host + p,
		mod(func(v *url.URL) { v.Host = "169.254.169.254" }),
		mod(func(v *url.URL) { v.Host = "169.254.169.254:80" }),
		mod(func(v *url.URL) { v.Host = "evil.example" }),
		mod(func(v *url.URL) { v.Host = "evil.example:" + u.Port() }),
		mod(func(v *url.URL) { v.Host = u.Host + ".evil.example" }),
		mod(func(v *url.URL) { v.Host = "127.0.0.2:" + u.Port() }),
		mod(func(v *url.URL) { v.Host = "[::1]:" + u.Port() }),
		mod(func(v *url.URL) { v.User = url.UserPassword("a", "b") }),
		mod(func(v *url.URL) { v.User = url.User(u.Host) }),
		mod(func(v *url.URL) {
			if v.Scheme == "https" {
				v.Scheme = "http"
			} else {
				v.Scheme = "https"
			}
		}),
		mod(func(v *url.URL) { v.Scheme = "ftp" }),
		mod(func(v *url.URL) { v.Path = p + "/.." }),
		mod(func(v *url.URL) { v.Path = p + "/../../etc/passwd" }),
		mod(func(v *url.URL) { v.Path = dir + "/../" + side }),
		mod(func(v *url.URL) { v.Path = "/../" + strings.TrimPrefix(p, "/") }),
		mod(func(v *url.URL) { v.Path = dir + "//" + side }),
		mod(func(v *url.URL) { v.Path = dir + "/" + side + "/" }),
		mod(func(v *url.URL) { v.Path = dir + "/passwd" }),
		mod(func(v *url.URL) { v.Path = strings.ToUpper(dir) + "/" + side }),
		mod(func(v *url.URL) { v.Path = dir + "/" + strings.ToUpper(side) }),
		mod(func(v *url.URL) { v.Path = dir + "/" + side + "\x00" }),
		mod(func(v *url.URL) { v.Path = "/" }),
		mod(func(v *url.URL) { v.Path = "" }),
		mod(func(v *url.URL) { v.Path = "/" + id + "-x/" + side }),
		mod(func(v *url.URL) { v.Path = p; v.RawPath = dir + "%2F" + side }),
		mod(func(v *url.URL) { v.Path = p; v.RawPath = dir + "/%" + strings.ToUpper(hexByte(side[0])) + side[1:] }),
		mod(func(v *url.URL) { v.Path = "/"; v.RawQuery = "key=" + url.QueryEscape(id+"/"+side) }),
		mod(func(v *url.URL) { v.Path = "/"; v.RawQuery = "url=" + url.QueryEscape(own) }),
		mod(func(v *url.URL) { v.Fragment = "x" }),
		strings.Replace(own, "://", "://"+u.Host+"@", 1),
		strings.Replace(own, "://", ":///", 1),
		strings.Replace(own, "://", ":", 1),
		strings.Replace(own, "://", "://\\\\", 1),
		"//" + u.Host + p,
		" " + own,
		own + "\n",
		strings.Replace(own, "/", "\\", -1),
	}
}

func hexByte(b byte) string {
	const digits = "0123456789abcdef"
	return string([]byte{digits[b>>4], digits[b&15]})
}

func testForeignURLs(t *testing.T, newStore func(*testing.T) (*blobstore.Store, Uploader)) {
	s, _ := newStore(t)
	c := newCapture(t, s)
	own := c.Uploads[blobstore.SideFront].ObjectURL
	for _, raw := range foreignURLs(t, own) {
		id, side, key, err := s.KeyFromURL(raw)
		if err == nil {
			t.Errorf("KeyFromURL(%q) = %q %q %q, want refused", raw, id, side, key)
			continue
		}
		if proofline.ErrorCode(err) != proofline.EINVALID || !errors.Is(err, blobstore.ErrForeignURL) {
			t.Errorf("KeyFromURL(%q): %v, want EINVALID wrapping ErrForeignURL", raw, err)
		}
		if raw != "" && strings.Contains(err.Error(), raw) {
			t.Errorf("KeyFromURL(%q): the error repeats the URL", raw)
		}
	}
}
