package blobstore_test

import (
	"context"
	"errors"
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
