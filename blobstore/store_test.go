package blobstore_test

import (
	"context"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/proofline/proofline"
	"github.com/proofline/proofline/blobstore"
)

// stubDriver answers with fixed values, to pin down what Store adds on top of
// any driver. Real drivers are covered by blobtest.
type stubDriver struct {
	key     string
	data    []byte
	err     error
	maxSeen int64
	presign []string
}

func (s *stubDriver) PresignUpload(_ context.Context, key string, _ time.Time, maxBytes int64) (blobstore.Upload, error) {
	s.presign = append(s.presign, key)
	s.maxSeen = maxBytes
	return blobstore.Upload{URL: "x://" + key, Method: "PUT"}, s.err
}
func (s *stubDriver) KeyFromURL(string) (string, error) { return s.key, s.err }
func (s *stubDriver) Read(_ context.Context, _ string, maxBytes int64) ([]byte, error) {
	s.maxSeen = maxBytes
	return s.data, s.err
}
func (s *stubDriver) Delete(context.Context, string) error { return s.err }

const id = "0123456789abcdef0123456789abcdef"

func TestDefaultsAndCapture(t *testing.T) {
	t.Parallel()
	d := &stubDriver{}
	now := time.Date(2030, 1, 1, 0, 0, 0, 5e8, time.UTC)
	s := blobstore.New(d, blobstore.Options{Now: func() time.Time { return now }})
	if s.MaxBytes() != 10<<20 {
		t.Fatalf("MaxBytes = %d", s.MaxBytes())
	}
	c, err := s.NewCapture(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if want := now.Add(15 * time.Minute).Truncate(time.Second); !c.ExpiresAt.Equal(want) {
		t.Errorf("ExpiresAt = %v, want %v", c.ExpiresAt, want)
	}
	if len(d.presign) != 3 || d.maxSeen != 10<<20 {
		t.Errorf("presigned %v with max %d", d.presign, d.maxSeen)
	}
	if _, err := s.Read(t.Context(), id+"/front", 0); err != nil || d.maxSeen != 10<<20 {
		t.Errorf("Read(maxBytes 0) passed %d, %v", d.maxSeen, err)
	}
}

func TestErrorMapping(t *testing.T) {
	t.Parallel()
	backend := errors.New("disk on fire")
	for _, tc := range []struct {
		err      error
		code     string
		sentinel error
	}{
		{blobstore.ErrNotFound, proofline.ENOTFOUND, blobstore.ErrNotFound},
		{blobstore.ErrTooLarge, proofline.ETOOLARGE, blobstore.ErrTooLarge},
		{backend, proofline.EUNAVAILABLE, backend},
		{context.DeadlineExceeded, proofline.EUNAVAILABLE, context.DeadlineExceeded},
		{proofline.Errorf(proofline.ELIMIT, "slow down"), proofline.ELIMIT, nil},
	} {
		s := blobstore.New(&stubDriver{err: tc.err}, blobstore.Options{})
		_, err := s.Read(t.Context(), id+"/back", 0)
		if proofline.ErrorCode(err) != tc.code || (tc.sentinel != nil && !errors.Is(err, tc.sentinel)) {
			t.Errorf("Read with driver error %v: %v", tc.err, err)
		}
		if proofline.ErrorMessage(err) == "" || strings.Contains(proofline.ErrorMessage(err), "fire") {
			t.Errorf("public message %q", proofline.ErrorMessage(err))
		}
	}
	// Delete of an absent object is fine even if a driver says ErrNotFound.
	s := blobstore.New(&stubDriver{err: blobstore.ErrNotFound}, blobstore.Options{})
	if err := s.Delete(t.Context(), id+"/back"); err != nil {
		t.Errorf("Delete: %v", err)
	}
}

func TestStoreGuardsDrivers(t *testing.T) {
	t.Parallel()
	// A driver that ignores the read bound.
	s := blobstore.New(&stubDriver{data: make([]byte, 11)}, blobstore.Options{})
	if _, err := s.Read(t.Context(), id+"/front", 10); !errors.Is(err, blobstore.ErrTooLarge) {
		t.Errorf("oversized read: %v", err)
	}
	// A driver that maps a URL to a key of the wrong shape.
	for _, key := range []string{"../etc/passwd", id + "/other", ""} {
		s := blobstore.New(&stubDriver{key: key}, blobstore.Options{})
		_, _, _, err := s.KeyFromURL("x://whatever")
		if proofline.ErrorCode(err) != proofline.EINVALID || !errors.Is(err, blobstore.ErrForeignURL) {
			t.Errorf("driver key %q: %v", key, err)
		}
	}
	// Malformed keys never reach the driver; a cancelled context is unavailable.
	d := &stubDriver{}
	s = blobstore.New(d, blobstore.Options{})
	if _, err := s.Read(t.Context(), "../x", 0); proofline.ErrorCode(err) != proofline.EINVALID || d.maxSeen != 0 {
		t.Errorf("bad key: %v (driver saw max %d)", err, d.maxSeen)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := s.Read(ctx, id+"/front", 0); proofline.ErrorCode(err) != proofline.EUNAVAILABLE || !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled Read: %v", err)
	}
}

// TestParseKeyStrict: a key is exactly 32 lower-case hex characters, a
// slash and a known side. Every neighbour of the allowed character ranges,
// every other length and every traversal or escape form is EINVALID, so no
// driver ever builds a path or object name from it.
func TestParseKeyStrict(t *testing.T) {
	t.Parallel()
	for _, good := range []string{id, "00000000000000000000000000000000", "99999999999999999999999999999999", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "ffffffffffffffffffffffffffffffff"} {
		if !blobstore.ValidCaptureID(good) {
			t.Errorf("capture id %q refused", good)
		}
		for _, side := range blobstore.Sides() {
			gotID, gotSide, err := blobstore.ParseKey(blobstore.Key(good, side))
			if err != nil || gotID != good || gotSide != side || !blobstore.ValidKey(good+"/"+string(side)) {
				t.Errorf("ParseKey(%s/%s) = %q %q %v", good, side, gotID, gotSide, err)
			}
		}
	}
	var bad []string
	for _, c := range []string{"/", ":", "`", "g", "A", "F", ".", "-", " ", "\x00", "é"} {
		bad = append(bad, id[:31]+c, c+id[1:], id[:15]+c+id[16:])
	}
	bad = append(bad, "", id[:31], id+"0", id[:16], strings.Repeat(id, 2), "../"+id[3:], "..%2F"+id[5:], strings.ToUpper(id))
	for _, b := range bad {
		if blobstore.ValidCaptureID(b) {
			t.Errorf("capture id %q accepted", b)
		}
		key := b + "/front"
		if _, _, err := blobstore.ParseKey(key); proofline.ErrorCode(err) != proofline.EINVALID {
			t.Errorf("ParseKey(%q): %v, want EINVALID", key, err)
		}
		if blobstore.ValidKey(key) {
			t.Errorf("ValidKey(%q) = true", key)
		}
	}
	for _, key := range []string{id, id + "/", id + "/front/", id + "/Front", id + "/passport", id + "/../front", id + "/front/../back", "/" + id + "/front"} {
		if _, _, err := blobstore.ParseKey(key); proofline.ErrorCode(err) != proofline.EINVALID {
			t.Errorf("ParseKey(%q): %v, want EINVALID", key, err)
		}
	}
	for _, s := range []blobstore.Side{"", "Front", "front ", "passport"} {
		if s.Valid() {
			t.Errorf("side %q valid", s)
		}
	}
	// Malformed keys never reach the driver, for Delete either.
	d := &stubDriver{err: errors.New("driver reached")}
	s := blobstore.New(d, blobstore.Options{})
	if err := s.Delete(t.Context(), "../"+id+"/front"); proofline.ErrorCode(err) != proofline.EINVALID {
		t.Errorf("Delete of a malformed key: %v", err)
	}
}

// TestReadBounds: a driver's answer of exactly the caller's limit is
// returned; a caller's own limit overrides the store's, and a limit of zero
// or below means the store's.
func TestReadBounds(t *testing.T) {
	t.Parallel()
	d := &stubDriver{data: make([]byte, 10)}
	s := blobstore.New(d, blobstore.Options{MaxBytes: 10})
	if s.MaxBytes() != 10 {
		t.Fatalf("MaxBytes = %d", s.MaxBytes())
	}
	for _, max := range []int64{0, -1, 10} {
		if b, err := s.Read(t.Context(), id+"/front", max); err != nil || len(b) != 10 || d.maxSeen != 10 {
			t.Errorf("Read(max %d) = %d bytes, %v; driver saw %d", max, len(b), err, d.maxSeen)
		}
	}
	if _, err := s.Read(t.Context(), id+"/front", 9); proofline.ErrorCode(err) != proofline.ETOOLARGE || d.maxSeen != 9 {
		t.Errorf("Read(max 9) of 10 bytes: %v; driver saw %d", err, d.maxSeen)
	}
	if b, err := s.Read(t.Context(), id+"/front", 11); err != nil || len(b) != 10 || d.maxSeen != 11 {
		t.Errorf("Read(max 11) = %d bytes, %v; driver saw %d", len(b), err, d.maxSeen)
	}
	// Negative options take the defaults too.
	neg := blobstore.New(&stubDriver{}, blobstore.Options{MaxBytes: -5, UploadTTL: -time.Minute})
	if neg.MaxBytes() != blobstore.DefaultMaxBytes {
		t.Errorf("MaxBytes -5 gives %d", neg.MaxBytes())
	}
	before := time.Now()
	c, err := neg.NewCapture(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if c.ExpiresAt.Before(before.Add(blobstore.DefaultUploadTTL - time.Second)) {
		t.Errorf("UploadTTL -1m expires at %v", c.ExpiresAt)
	}
}

// TestCaptureUploads: a capture presigns the three sides under one fresh
// id with the configured TTL and limit; a PUT upload's object URL is its
// URL; a driver failure or an ended context gives no capture.
func TestCaptureUploads(t *testing.T) {
	t.Parallel()
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	d := &stubDriver{}
	s := blobstore.New(d, blobstore.Options{MaxBytes: 1234, UploadTTL: time.Minute, Now: func() time.Time { return now }})
	c, err := s.NewCapture(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if !blobstore.ValidCaptureID(c.ID) || !c.ExpiresAt.Equal(now.Add(time.Minute)) || d.maxSeen != 1234 {
		t.Errorf("capture %q expires %v, max %d", c.ID, c.ExpiresAt, d.maxSeen)
	}
	for i, side := range blobstore.Sides() {
		u := c.Uploads[side]
		if d.presign[i] != blobstore.Key(c.ID, side) || u.ObjectURL != u.URL || u.URL != "x://"+blobstore.Key(c.ID, side) {
			t.Errorf("%s: presigned %q, upload %+v", side, d.presign[i], u)
		}
	}
	if c2, _ := s.NewCapture(t.Context()); c2 == nil || c2.ID == c.ID {
		t.Error("two captures share an id")
	}
	failing := blobstore.New(&stubDriver{err: errors.New("no credentials")}, blobstore.Options{})
	if c, err := failing.NewCapture(t.Context()); c != nil || proofline.ErrorCode(err) != proofline.EUNAVAILABLE {
		t.Errorf("driver failure: %v, %v", c, err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	d = &stubDriver{}
	if c, err := blobstore.New(d, blobstore.Options{}).NewCapture(ctx); c != nil || !errors.Is(err, context.Canceled) || len(d.presign) != 0 {
		t.Errorf("ended context: %v, %v, presigned %v", c, err, d.presign)
	}
}

// objectURLDriver is a POST driver: its object URL is not its form target.
type objectURLDriver struct{ stubDriver }

func (o *objectURLDriver) PresignUpload(_ context.Context, key string, _ time.Time, _ int64) (blobstore.Upload, error) {
	return blobstore.Upload{URL: "x://bucket/", Method: "POST", ObjectURL: "x://bucket/" + key}, nil
}

// sweepDriver counts what it was asked to sweep.
type sweepDriver struct {
	stubDriver
	n     int
	older time.Time
}

func (s *sweepDriver) Sweep(_ context.Context, olderThan time.Time) (int, error) {
	s.older = olderThan
	return s.n, s.err
}

// TestObjectURLAndSweep: a driver's own object URL is kept; Sweep reaches a
// driver that can list, reports its count and maps its failure, and is
// errors.ErrUnsupported on a driver that cannot.
func TestObjectURLAndSweep(t *testing.T) {
	t.Parallel()
	c, err := blobstore.New(&objectURLDriver{}, blobstore.Options{}).NewCapture(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if u := c.Uploads[blobstore.SideBack]; u.URL != "x://bucket/" || u.ObjectURL != "x://bucket/"+c.ID+"/back" {
		t.Errorf("upload %+v", u)
	}
	if _, err := blobstore.New(&stubDriver{}, blobstore.Options{}).Sweep(t.Context(), time.Now()); !errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("Sweep on a driver that cannot list: %v", err)
	}
	cut := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	sw := &sweepDriver{n: 3}
	if n, err := blobstore.New(sw, blobstore.Options{}).Sweep(t.Context(), cut); n != 3 || err != nil || !sw.older.Equal(cut) {
		t.Errorf("Sweep = %d, %v (cut %v)", n, err, sw.older)
	}
	sw = &sweepDriver{n: 2, stubDriver: stubDriver{err: errors.New("list failed")}}
	if n, err := blobstore.New(sw, blobstore.Options{}).Sweep(t.Context(), cut); n != 2 || proofline.ErrorCode(err) != proofline.EUNAVAILABLE {
		t.Errorf("failing Sweep = %d, %v", n, err)
	}
}

// TestKeyFromURLErrors: a URL the driver maps is split into id, side and
// key; the driver's refusal is EINVALID wrapping ErrForeignURL and never
// shows the URL; another driver failure is EUNAVAILABLE.
func TestKeyFromURLErrors(t *testing.T) {
	t.Parallel()
	s := blobstore.New(&stubDriver{key: id + "/selfie"}, blobstore.Options{})
	if gotID, side, key, err := s.KeyFromURL("x://mine"); err != nil || gotID != id || side != blobstore.SideSelfie || key != id+"/selfie" {
		t.Errorf("KeyFromURL = %q %q %q %v", gotID, side, key, err)
	}
	s = blobstore.New(&stubDriver{err: blobstore.ErrForeignURL}, blobstore.Options{})
	_, _, _, err := s.KeyFromURL("http://169.254.169.254/secret-path")
	if proofline.ErrorCode(err) != proofline.EINVALID || !errors.Is(err, blobstore.ErrForeignURL) || strings.Contains(err.Error(), "secret-path") {
		t.Errorf("foreign URL: %v", err)
	}
	s = blobstore.New(&stubDriver{err: errors.New("backend down")}, blobstore.Options{})
	if _, _, _, err := s.KeyFromURL("x://mine"); proofline.ErrorCode(err) != proofline.EUNAVAILABLE {
		t.Errorf("driver failure: %v", err)
	}
	// Delete maps a driver failure; an ended context never reaches the driver.
	if err := s.Delete(t.Context(), id+"/front"); proofline.ErrorCode(err) != proofline.EUNAVAILABLE {
		t.Errorf("Delete with a failing driver: %v", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := blobstore.New(&stubDriver{}, blobstore.Options{}).Delete(ctx, id+"/front"); !errors.Is(err, context.Canceled) {
		t.Errorf("Delete with an ended context: %v", err)
	}
}

// TestNewUploadRequestPUT: a PUT upload is the bytes as the body, with the
// upload's headers.
func TestNewUploadRequestPUT(t *testing.T) {
	t.Parallel()
	u := blobstore.Upload{URL: "http://127.0.0.1:8080/uploads/" + id + "/front?expires=1", Method: http.MethodPut,
		Headers: map[string]string{"Content-Type": "application/octet-stream", "X-Extra": "1"}}
	req, err := blobstore.NewUploadRequest(t.Context(), u, []byte("ciphertext"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(req.Body)
	if req.Method != http.MethodPut || req.URL.String() != u.URL || string(body) != "ciphertext" || req.ContentLength != 10 ||
		req.Header.Get("Content-Type") != "application/octet-stream" || req.Header.Get("X-Extra") != "1" {
		t.Errorf("PUT request %s %s %q %v", req.Method, req.URL, body, req.Header)
	}
	if _, err := blobstore.NewUploadRequest(t.Context(), blobstore.Upload{URL: "http://x/", Method: "BAD METHOD"}, nil); err == nil {
		t.Error("an invalid method accepted")
	}
	if _, err := blobstore.NewUploadRequest(t.Context(), blobstore.Upload{URL: "http://[::1", Method: http.MethodPost}, nil); err == nil {
		t.Error("an invalid POST URL accepted")
	}
}

// TestNewUploadRequestPOST: a POST upload is multipart/form-data with every
// field (in a stable order) and then the bytes as the part named "file",
// last, as S3 requires; the upload's headers are sent, the content type is
// the form's own.
func TestNewUploadRequestPOST(t *testing.T) {
	t.Parallel()
	u := blobstore.Upload{URL: "http://127.0.0.1:9000/bucket", Method: http.MethodPost,
		Headers: map[string]string{"X-Extra": "1", "Content-Type": "text/plain"},
		Fields:  map[string]string{"policy": "cG9saWN5", "key": "doc/" + id + "/front", "Content-Type": "application/octet-stream", "x-amz-signature": "00"}}
	req, err := blobstore.NewUploadRequest(t.Context(), u, []byte("ciphertext"))
	if err != nil {
		t.Fatal(err)
	}
	if req.Method != http.MethodPost || req.URL.String() != u.URL || req.Header.Get("X-Extra") != "1" {
		t.Fatalf("POST request %s %s %v", req.Method, req.URL, req.Header)
	}
	mt, params, err := mime.ParseMediaType(req.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/form-data" || params["boundary"] == "" {
		t.Fatalf("Content-Type %q", req.Header.Get("Content-Type"))
	}
	mr := multipart.NewReader(req.Body, params["boundary"])
	var names []string
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		v, _ := io.ReadAll(p)
		names = append(names, p.FormName())
		if want, ok := u.Fields[p.FormName()]; ok && string(v) != want {
			t.Errorf("field %s = %q, want %q", p.FormName(), v, want)
		}
		if p.FormName() == "file" && string(v) != "ciphertext" {
			t.Errorf("file part %q", v)
		}
	}
	if want := []string{"Content-Type", "key", "policy", "x-amz-signature", "file"}; !slices.Equal(names, want) {
		t.Errorf("parts %v, want %v", names, want)
	}
}
