package blobstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"strings"
	"time"

	"github.com/proofline/proofline"
)

// Defaults of Options.
const (
	// DefaultMaxBytes is the default upper bound of one image: 10 MiB.
	DefaultMaxBytes int64 = 10 << 20
	// DefaultUploadTTL is how long presigned upload URLs stay valid by default.
	DefaultUploadTTL = 15 * time.Minute
)

// Options configure a Store. The zero value is usable.
type Options struct {
	// MaxBytes bounds the size of one image, in bytes, both at upload (the
	// presigned URL carries it) and at read. Default DefaultMaxBytes (10 MiB).
	MaxBytes int64
	// UploadTTL is how long a capture's upload URLs stay valid.
	// Default DefaultUploadTTL (15 minutes).
	UploadTTL time.Duration
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

func (o Options) withDefaults() Options {
	if o.MaxBytes <= 0 {
		o.MaxBytes = DefaultMaxBytes
	}
	if o.UploadTTL <= 0 {
		o.UploadTTL = DefaultUploadTTL
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// Store is the blob store every caller uses. It wraps a Driver and owns what
// all backends share: capture ids, the key shape, size limits and the mapping
// of driver errors to *proofline.Error codes (the driver's sentinel stays
// reachable with errors.Is). A Store is safe for concurrent use when its
// Driver is.
type Store struct {
	d    Driver
	opts Options
}

// New returns a Store over d. Zero fields of opts take their defaults.
func New(d Driver, opts Options) *Store {
	return &Store{d: d, opts: opts.withDefaults()}
}

// MaxBytes is the configured upper bound of one image, in bytes.
func (s *Store) MaxBytes() int64 { return s.opts.MaxBytes }

// Side is one image of a document capture.
type Side string

// The sides of a capture.
const (
	SideFront  Side = "front"
	SideBack   Side = "back"
	SideSelfie Side = "selfie"
)

// Sides lists every side, in a stable order.
func Sides() []Side { return []Side{SideFront, SideBack, SideSelfie} }

// Valid reports whether s is one of the known sides.
func (s Side) Valid() bool {
	switch s {
	case SideFront, SideBack, SideSelfie:
		return true
	}
	return false
}

// Capture is one document capture: an id and a presigned upload per side.
type Capture struct {
	ID        string          `json:"capture_id"`
	Uploads   map[Side]Upload `json:"uploads"`
	ExpiresAt time.Time       `json:"expires_at"`
}

// captureIDLen is the length of a capture id: 16 random bytes, hex encoded.
const captureIDLen = 32

// NewCapture starts a capture: a fresh random id and presigned upload URLs
// for every side, valid for Options.UploadTTL and bounded by Options.MaxBytes.
func (s *Store) NewCapture(ctx context.Context) (*Capture, error) {
	if err := ctx.Err(); err != nil {
		return nil, mapError(err, "create upload urls")
	}
	var raw [captureIDLen / 2]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return nil, proofline.WrapError(proofline.EINTERNAL, "create capture id", err)
	}
	// Whole seconds: signed URLs carry Unix seconds, and ExpiresAt must not
	// promise more than the URLs allow.
	expires := s.opts.Now().Add(s.opts.UploadTTL).Truncate(time.Second)
	c := &Capture{
		ID:        hex.EncodeToString(raw[:]),
		Uploads:   make(map[Side]Upload, 3),
		ExpiresAt: expires,
	}
	for _, side := range Sides() {
		u, err := s.d.PresignUpload(ctx, Key(c.ID, side), expires, s.opts.MaxBytes)
		if err != nil {
			return nil, mapError(err, "create upload urls")
		}
		if u.ObjectURL == "" {
			u.ObjectURL = u.URL
		}
		c.Uploads[side] = u
	}
	return c, nil
}

// Key is the object key of one side of a capture: "{capture_id}/{side}".
func Key(captureID string, side Side) string {
	return captureID + "/" + string(side)
}

// errBadKey is the cause of every key that is not of the shape Key makes.
var errBadKey = errors.New("blobstore: malformed object key")

// ParseKey splits a key made by Key. It is strict: exactly 32 lower-case hex
// characters, one slash and a known side; anything else (path traversal,
// extra slashes, upper case, other sides, NUL, ...) is an EINVALID error.
func ParseKey(key string) (captureID string, side Side, err error) {
	id, rest, ok := strings.Cut(key, "/")
	if !ok || !validCaptureID(id) || !Side(rest).Valid() {
		return "", "", proofline.WrapError(proofline.EINVALID, "malformed image key", errBadKey)
	}
	return id, Side(rest), nil
}

// ValidKey reports whether key has exactly the shape Key makes.
func ValidKey(key string) bool {
	_, _, err := ParseKey(key)
	return err == nil
}

// ValidCaptureID reports whether id has the shape NewCapture makes.
func ValidCaptureID(id string) bool { return validCaptureID(id) }

func validCaptureID(id string) bool {
	if len(id) != captureIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// KeyFromURL maps an upload URL this store issued back to its capture id,
// side and object key, without fetching anything. A URL the store did not
// issue (other host, scheme, bucket or path shape) is an EINVALID error
// wrapping ErrForeignURL. The URL never appears in the error.
func (s *Store) KeyFromURL(rawURL string) (captureID string, side Side, key string, err error) {
	k, err := s.d.KeyFromURL(rawURL)
	if err != nil {
		if errors.Is(err, ErrForeignURL) {
			return "", "", "", proofline.WrapError(proofline.EINVALID, "image url not issued by this store", ErrForeignURL)
		}
		return "", "", "", mapError(err, "read image url")
	}
	id, sd, err := ParseKey(k)
	if err != nil {
		return "", "", "", proofline.WrapError(proofline.EINVALID, "image url not issued by this store", ErrForeignURL)
	}
	return id, sd, k, nil
}

// Read returns the object under key, at most maxBytes long (maxBytes <= 0
// means Options.MaxBytes). The key is validated before the driver sees it.
// Errors: EINVALID for a malformed key, ENOTFOUND (ErrNotFound), ETOOLARGE
// (ErrTooLarge), EUNAVAILABLE when the backend fails.
func (s *Store) Read(ctx context.Context, key string, maxBytes int64) ([]byte, error) {
	if _, _, err := ParseKey(key); err != nil {
		return nil, err
	}
	if maxBytes <= 0 {
		maxBytes = s.opts.MaxBytes
	}
	if err := ctx.Err(); err != nil {
		return nil, mapError(err, "read image")
	}
	b, err := s.d.Read(ctx, key, maxBytes)
	if err != nil {
		return nil, mapError(err, "read image")
	}
	if int64(len(b)) > maxBytes { // a driver that ignored the bound
		return nil, proofline.WrapError(proofline.ETOOLARGE, "image too large", ErrTooLarge)
	}
	return b, nil
}

// Delete removes the object under key; deleting an absent object is not an
// error. The key is validated before the driver sees it.
func (s *Store) Delete(ctx context.Context, key string) error {
	if _, _, err := ParseKey(key); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return mapError(err, "delete image")
	}
	if err := s.d.Delete(ctx, key); err != nil && !errors.Is(err, ErrNotFound) {
		return mapError(err, "delete image")
	}
	return nil
}

// Sweep deletes every image last written before olderThan: uploads never
// submitted, images of jobs refused or expired before a worker read them.
// The server runs it every minute with olderThan = now - upload TTL - two
// job timeouts, so no job can still need what it deletes. A driver that
// cannot list its objects returns errors.ErrUnsupported.
func (s *Store) Sweep(ctx context.Context, olderThan time.Time) (int, error) {
	sw, ok := s.d.(Sweeper)
	if !ok {
		return 0, errors.ErrUnsupported
	}
	n, err := sw.Sweep(ctx, olderThan)
	if err != nil {
		return n, mapError(err, "sweep images")
	}
	return n, nil
}

// mapError turns a driver error into a *proofline.Error, keeping err as the
// cause so errors.Is still finds the sentinel. op is a short public phrase.
func mapError(err error, op string) error {
	var pe *proofline.Error
	switch {
	case errors.As(err, &pe):
		return err
	case errors.Is(err, ErrNotFound):
		return proofline.WrapError(proofline.ENOTFOUND, "image not found", err)
	case errors.Is(err, ErrTooLarge):
		return proofline.WrapError(proofline.ETOOLARGE, "image too large", err)
	case errors.Is(err, ErrForeignURL):
		return proofline.WrapError(proofline.EINVALID, "image url not issued by this store", err)
	default:
		// Backend failures, including a context that ended, are retryable.
		return proofline.WrapError(proofline.EUNAVAILABLE, "blob store unavailable: "+op, err)
	}
}
