// Package localblob is the embedded default blob driver: objects are files
// under a directory, and uploads go through HMAC-SHA256-signed, expiring URLs
// served by proofline itself (UploadHandler).
//
// # Layout
//
// An object with key "{capture_id}/{side}" is the file {Dir}/{capture_id}/{side}
// (directories 0700, files 0600). Uploads are written to {Dir}/.tmp/ first and
// renamed into place, so a reader never sees half an object. Every file
// operation goes through an os.Root on Dir, and keys are validated strictly
// (blobstore.ParseKey) before any file name is built.
//
// # Upload URLs
//
//	{BaseURL}/uploads/{capture_id}/{side}?expires={unix seconds}&max={bytes}&signature={hex}
//
// signature is the lower-case hex HMAC-SHA256, under Options.SigningKey, of
// the canonical string
//
//	"proofline-upload-v1\n" + method + "\n" + path + "\n" + expires + "\n" + max
//
// where method is "PUT", path is "/uploads/{capture_id}/{side}" and expires
// and max are the decimal strings exactly as they appear in the URL (no sign,
// no leading zeros). None of the fields can contain a newline, so the string
// is unambiguous. The URL is valid while now < expires.
package localblob

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/proofline/proofline/blobstore"
)

// UploadPathPrefix is the path under which UploadHandler is mounted:
// "PUT /uploads/{capture_id}/{side}".
const UploadPathPrefix = "/uploads/"

// MinSigningKeyLen is the minimum length of Options.SigningKey, in bytes.
const MinSigningKeyLen = 32

const (
	contentType   = "application/octet-stream"
	signingDomain = "proofline-upload-v1"
	tmpDir        = ".tmp"
	// maxURLLen bounds the URLs KeyFromURL and the verifier look at.
	maxURLLen = 4096
)

// Options configure a Driver.
type Options struct {
	// Dir is the directory holding the objects; created (0700) if missing. Required.
	Dir string
	// BaseURL is the public origin of the server that mounts UploadHandler,
	// e.g. "http://127.0.0.1:8080": scheme and host only (a trailing slash is
	// allowed; no path, query, fragment or userinfo). Required.
	BaseURL string
	// SigningKey is the HMAC-SHA256 key of upload URLs, at least
	// MinSigningKeyLen bytes. Required. It never appears in a URL, log or error.
	SigningKey []byte
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// Logger receives upload outcomes (capture ids, sides, sizes; never the
	// bytes, the URL's signature or the key). Default: discard.
	Logger *slog.Logger
}

// Driver is the local-directory blobstore.Driver. It is safe for concurrent use.
type Driver struct {
	dir    string
	scheme string
	host   string
	origin string // scheme://host
	key    []byte
	now    func() time.Time
	log    *slog.Logger
}

var _ blobstore.Driver = (*Driver)(nil)

// New validates opts and returns a Driver, creating Dir if needed.
func New(opts Options) (*Driver, error) {
	if opts.Dir == "" {
		return nil, errors.New("localblob: Options.Dir is required")
	}
	if len(opts.SigningKey) < MinSigningKeyLen {
		return nil, fmt.Errorf("localblob: Options.SigningKey must be at least %d bytes", MinSigningKeyLen)
	}
	u, err := url.Parse(opts.BaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
		u.User != nil || u.Opaque != "" || (u.Path != "" && u.Path != "/") ||
		u.RawQuery != "" || u.ForceQuery || u.Fragment != "" {
		return nil, errors.New("localblob: Options.BaseURL must be an http(s) origin like http://127.0.0.1:8080")
	}
	if err := os.MkdirAll(opts.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("localblob: Options.Dir: %w", err)
	}
	d := &Driver{
		dir:    opts.Dir,
		scheme: u.Scheme,
		host:   u.Host,
		origin: u.Scheme + "://" + u.Host,
		key:    bytes.Clone(opts.SigningKey),
		now:    opts.Now,
		log:    opts.Logger,
	}
	if d.now == nil {
		d.now = time.Now
	}
	if d.log == nil {
		d.log = slog.New(slog.DiscardHandler)
	}
	return d, nil
}

// sign returns the hex signature of one upload.
func (d *Driver) sign(method, urlPath, expires, maxBytes string) string {
	m := hmac.New(sha256.New, d.key)
	io.WriteString(m, signingDomain+"\n"+method+"\n"+urlPath+"\n"+expires+"\n"+maxBytes)
	return hex.EncodeToString(m.Sum(nil))
}

// PresignUpload returns a PUT URL for key, valid until expires (whole
// seconds, rounded down), accepting at most maxBytes bytes of
// application/octet-stream.
func (d *Driver) PresignUpload(ctx context.Context, key string, expires time.Time, maxBytes int64) (blobstore.Upload, error) {
	if !blobstore.ValidKey(key) {
		return blobstore.Upload{}, errors.New("localblob: malformed key")
	}
	if maxBytes <= 0 {
		return blobstore.Upload{}, errors.New("localblob: maxBytes must be positive")
	}
	p := UploadPathPrefix + key
	exp := strconv.FormatInt(expires.Unix(), 10)
	mx := strconv.FormatInt(maxBytes, 10)
	sig := d.sign(http.MethodPut, p, exp, mx)
	return blobstore.Upload{
		URL:     d.origin + p + "?expires=" + exp + "&max=" + mx + "&signature=" + sig,
		Method:  http.MethodPut,
		Headers: map[string]string{"Content-Type": contentType},
	}, nil
}

// errForbidden is every verification failure; callers never learn which check failed.
var errForbidden = errors.New("localblob: upload url not valid")

// keyFromPath returns the key of an escaped request path
// "/uploads/{capture_id}/{side}", or false.
func keyFromPath(escapedPath string) (string, bool) {
	k, ok := strings.CutPrefix(escapedPath, UploadPathPrefix)
	if !ok || !blobstore.ValidKey(k) {
		return "", false
	}
	return k, true
}

// canonicalInt parses a positive decimal in canonical form (what
// strconv.FormatInt makes: no sign, no leading zeros).
func canonicalInt(s string) (int64, bool) {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 || strconv.FormatInt(n, 10) != s {
		return 0, false
	}
	return n, true
}

// verifyUpload checks a request target against its signature and expiry:
// escapedPath as sent ("/uploads/{capture_id}/{side}"), rawQuery without "?".
// It returns the object key and the byte limit the URL was signed with.
func (d *Driver) verifyUpload(method, escapedPath, rawQuery string) (key string, maxBytes int64, err error) {
	if len(escapedPath)+len(rawQuery) > maxURLLen {
		return "", 0, errForbidden
	}
	key, ok := keyFromPath(escapedPath)
	if !ok {
		return "", 0, errForbidden
	}
	q, err := url.ParseQuery(rawQuery)
	if err != nil || len(q) != 3 {
		return "", 0, errForbidden
	}
	one := func(name string) string {
		if v := q[name]; len(v) == 1 {
			return v[0]
		}
		return ""
	}
	exp, mx, sig := one("expires"), one("max"), one("signature")
	expires, ok1 := canonicalInt(exp)
	maxBytes, ok2 := canonicalInt(mx)
	if !ok1 || !ok2 || len(sig) != 2*sha256.Size {
		return "", 0, errForbidden
	}
	// Comparing the lower-case hex strings in constant time also refuses
	// any other spelling of the same MAC.
	if !hmac.Equal([]byte(sig), []byte(d.sign(method, escapedPath, exp, mx))) {
		return "", 0, errForbidden
	}
	if !d.now().Before(time.Unix(expires, 0)) {
		return "", 0, errForbidden
	}
	return key, maxBytes, nil
}

// KeyFromURL maps an upload URL this driver issued back to its key without
// fetching anything. The scheme and host must equal BaseURL's exactly, the
// path must be exactly /uploads/{capture_id}/{side} with nothing escaped, and
// the query (if any) may hold only the expires, max and signature parameters.
// The signature is not checked here (the URL may have expired since the
// upload); the key shape and origin are what bind it to this store.
// Anything else is blobstore.ErrForeignURL.
func (d *Driver) KeyFromURL(rawURL string) (string, error) {
	if len(rawURL) > maxURLLen {
		return "", blobstore.ErrForeignURL
	}
	u, err := url.Parse(rawURL)
	if err != nil || u.Scheme != d.scheme || u.Host != d.host || u.User != nil ||
		u.Opaque != "" || u.RawPath != "" || u.Fragment != "" || u.RawFragment != "" {
		return "", blobstore.ErrForeignURL
	}
	// The path as written must be the path as decoded: no escapes at all.
	if !strings.HasPrefix(rawURL, d.origin+u.Path) {
		return "", blobstore.ErrForeignURL
	}
	key, ok := keyFromPath(u.Path)
	if !ok {
		return "", blobstore.ErrForeignURL
	}
	if u.RawQuery != "" || u.ForceQuery {
		q, err := url.ParseQuery(u.RawQuery)
		if err != nil {
			return "", blobstore.ErrForeignURL
		}
		for name, v := range q {
			if (name != "expires" && name != "max" && name != "signature") || len(v) != 1 {
				return "", blobstore.ErrForeignURL
			}
		}
	}
	return key, nil
}

// root opens the object directory. Every file operation goes through it, so
// no name can reach outside Dir, even through a symbolic link.
func (d *Driver) root() (*os.Root, error) {
	return os.OpenRoot(d.dir)
}

// Read returns the object under key: blobstore.ErrNotFound if absent,
// blobstore.ErrTooLarge if longer than maxBytes (checked on the open file's
// size, then bounded by a LimitReader, so nothing more is read).
func (d *Driver) Read(ctx context.Context, key string, maxBytes int64) ([]byte, error) {
	if !blobstore.ValidKey(key) {
		return nil, blobstore.ErrNotFound
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	r, err := d.root()
	if err != nil {
		return nil, fmt.Errorf("localblob: open dir: %w", err)
	}
	defer r.Close()
	f, err := r.Open(key)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, blobstore.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("localblob: open object: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("localblob: stat object: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, blobstore.ErrNotFound
	}
	if fi.Size() > maxBytes {
		return nil, blobstore.ErrTooLarge
	}
	b, err := io.ReadAll(io.LimitReader(f, maxBytes+1))
	if err != nil {
		return nil, fmt.Errorf("localblob: read object: %w", err)
	}
	if int64(len(b)) > maxBytes {
		return nil, blobstore.ErrTooLarge
	}
	return b, nil
}

// Delete removes the object under key, and its capture directory once empty.
// Deleting an absent object is not an error.
func (d *Driver) Delete(ctx context.Context, key string) error {
	if !blobstore.ValidKey(key) {
		return nil // no such object can exist
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	r, err := d.root()
	if err != nil {
		return fmt.Errorf("localblob: open dir: %w", err)
	}
	defer r.Close()
	if err := r.Remove(key); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("localblob: remove object: %w", err)
	}
	_ = r.Remove(path.Dir(key)) // fails while other sides remain; that is fine
	return nil
}

// put stores body under key: written to a temporary file, synced, renamed
// into place (replacing any earlier upload). At most maxBytes are accepted;
// body errors (including *http.MaxBytesError) are returned as they are.
func (d *Driver) put(key string, body io.Reader) (int64, error) {
	r, err := d.root()
	if err != nil {
		return 0, fmt.Errorf("localblob: open dir: %w", err)
	}
	defer r.Close()
	if err := r.MkdirAll(tmpDir, 0o700); err != nil {
		if noSpace(err) {
			return 0, fmt.Errorf("%w: %v", ErrNoSpace, err)
		}
		return 0, fmt.Errorf("localblob: create temp dir: %w", err)
	}
	var rnd [16]byte
	_, _ = rand.Read(rnd[:])
	tmp := tmpDir + "/" + hex.EncodeToString(rnd[:])
	f, err := r.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		if noSpace(err) { // no inode left
			return 0, fmt.Errorf("%w: %v", ErrNoSpace, err)
		}
		return 0, fmt.Errorf("localblob: create temp file: %w", err)
	}
	n, err := io.Copy(f, body)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = r.Remove(tmp)
		if noSpace(err) {
			return n, fmt.Errorf("%w: %v", ErrNoSpace, err)
		}
		return n, err
	}
	// A concurrent Sweep or Delete may remove the capture directory between
	// MkdirAll and Rename; try again a few times.
	for attempt := 0; ; attempt++ {
		if err = r.MkdirAll(path.Dir(key), 0o700); err == nil {
			if err = r.Rename(tmp, key); err == nil {
				return n, nil
			}
		}
		if attempt == 3 || !errors.Is(err, fs.ErrNotExist) {
			_ = r.Remove(tmp)
			if noSpace(err) { // the capture directory could not be made
				return n, fmt.Errorf("%w: %v", ErrNoSpace, err)
			}
			return n, fmt.Errorf("localblob: store object: %w", err)
		}
	}
}

// ErrNoSpace is a write refused because the directory's file system is full
// (or its quota used up): nothing of the upload is kept.
var ErrNoSpace = errors.New("localblob: no space left for uploads")

// noSpace reports whether err is the file system refusing a write for lack
// of space: ENOSPC, a quota (EDQUOT), or a file size limit (EFBIG).
func noSpace(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) || errors.Is(err, syscall.EFBIG)
}

// UploadHandler serves the signed upload URLs. Mount it at
// "PUT /uploads/{capture_id}/{side}". Responses are short plain text:
// 204 stored; 400 empty body; 403 bad, tampered or expired URL; 405 not PUT;
// 413 over the signed limit (nothing stored); 415 content type not exactly
// application/octet-stream; 507 the disk is full (nothing stored; try again
// later); 500 other storage failure.
func (d *Driver) UploadHandler() http.Handler {
	return http.HandlerFunc(d.serveUpload)
}

func (d *Driver) serveUpload(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPut {
		w.Header().Set("Allow", http.MethodPut)
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	// The escaped path must equal the decoded one: no %-escapes anywhere.
	escaped := r.URL.EscapedPath()
	if r.URL.RawPath != "" || escaped != r.URL.Path {
		d.reject(w, http.StatusForbidden, "forbidden", "bad path")
		return
	}
	key, maxBytes, err := d.verifyUpload(r.Method, escaped, r.URL.RawQuery)
	if err != nil {
		d.reject(w, http.StatusForbidden, "forbidden", "bad or expired signature")
		return
	}
	captureID, side, _ := blobstore.ParseKey(key)
	// When mounted with the pattern, the mux's view of the path must agree.
	if cv, sv := r.PathValue("capture_id"), r.PathValue("side"); (cv != "" || sv != "") &&
		(cv != captureID || sv != string(side)) {
		d.reject(w, http.StatusForbidden, "forbidden", "path values disagree")
		return
	}
	log := d.log.With("capture_id", captureID, "side", string(side))
	if ct := r.Header.Values("Content-Type"); len(ct) != 1 || ct[0] != contentType {
		d.rejectLog(log, w, http.StatusUnsupportedMediaType, "unsupported media type", "content type")
		return
	}
	if ce := r.Header.Values("Content-Encoding"); len(ce) > 0 && !(len(ce) == 1 && ce[0] == "identity") {
		d.rejectLog(log, w, http.StatusUnsupportedMediaType, "unsupported media type", "content encoding")
		return
	}
	if r.ContentLength > maxBytes {
		d.rejectLog(log, w, http.StatusRequestEntityTooLarge, "too large", "content length over limit")
		return
	}
	if r.ContentLength == 0 {
		d.rejectLog(log, w, http.StatusBadRequest, "empty body", "empty body")
		return
	}
	body := http.MaxBytesReader(w, r.Body, maxBytes)
	// Peek one byte so an empty chunked body creates no file.
	br := &firstByteReader{r: body}
	if _, err := br.peek(); err != nil {
		if err == io.EOF {
			d.rejectLog(log, w, http.StatusBadRequest, "empty body", "empty body")
			return
		}
		d.rejectLog(log, w, http.StatusBadRequest, "bad request", "read body")
		return
	}
	n, err := d.put(key, br)
	if err != nil {
		var mbe *http.MaxBytesError
		switch {
		case errors.As(err, &mbe):
			d.rejectLog(log, w, http.StatusRequestEntityTooLarge, "too large", "body over limit")
		case errors.Is(err, errBodyRead):
			d.rejectLog(log, w, http.StatusBadRequest, "bad request", "read body")
		case errors.Is(err, ErrNoSpace):
			log.Error("localblob: upload refused: disk full", "err", err)
			w.Header().Set("Retry-After", "60")
			http.Error(w, "insufficient storage: the upload was not kept; try again later", http.StatusInsufficientStorage)
		default:
			log.Error("localblob: upload not stored", "err", err)
			http.Error(w, "internal error", http.StatusInternalServerError)
		}
		return
	}
	log.Info("localblob: upload stored", "bytes", n)
	w.WriteHeader(http.StatusNoContent)
}

func (d *Driver) reject(w http.ResponseWriter, status int, public, reason string) {
	d.rejectLog(d.log, w, status, public, reason)
}

func (d *Driver) rejectLog(log *slog.Logger, w http.ResponseWriter, status int, public, reason string) {
	log.Warn("localblob: upload rejected", "status", status, "reason", reason)
	http.Error(w, public, status)
}

// errBodyRead marks a failure to read the request body (client went away,
// malformed chunking) as opposed to a failure to store it.
var errBodyRead = errors.New("localblob: read request body")

// firstByteReader reads one byte ahead so an empty body is detected before a
// file is created, and tags body read errors with errBodyRead.
type firstByteReader struct {
	r   io.Reader
	b   [1]byte
	has bool
}

func (f *firstByteReader) peek() (byte, error) {
	n, err := io.ReadFull(f.r, f.b[:])
	if n == 1 {
		f.has = true
		return f.b[0], nil
	}
	return 0, err
}

func (f *firstByteReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if f.has {
		f.has = false
		p[0] = f.b[0]
		return 1, nil
	}
	n, err := f.r.Read(p)
	if err != nil && err != io.EOF {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return n, err
		}
		return n, fmt.Errorf("%w: %w", errBodyRead, err)
	}
	return n, err
}

// Sweep removes the objects last modified before olderThan, leftover
// temporary files, and capture directories left empty. The server runs it
// periodically (e.g. every minute with olderThan = now - upload TTL - job
// timeout) so abandoned uploads never linger. It returns how many objects it
// removed. Only names this driver makes are touched.
func (d *Driver) Sweep(ctx context.Context, olderThan time.Time) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	r, err := d.root()
	if err != nil {
		return 0, fmt.Errorf("localblob: open dir: %w", err)
	}
	defer r.Close()
	top, err := fs.ReadDir(r.FS(), ".")
	if err != nil {
		return 0, fmt.Errorf("localblob: list dir: %w", err)
	}
	removed := 0
	var errs []error
	old := func(name string) bool {
		fi, err := r.Lstat(name)
		return err == nil && fi.Mode().IsRegular() && fi.ModTime().Before(olderThan)
	}
	for _, e := range top {
		name := e.Name()
		switch {
		case name == tmpDir && e.IsDir():
			tmps, err := fs.ReadDir(r.FS(), tmpDir)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			for _, t := range tmps {
				if p := tmpDir + "/" + t.Name(); old(p) {
					if err := r.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
						errs = append(errs, err)
					}
				}
			}
		case blobstore.ValidCaptureID(name) && e.IsDir():
			for _, side := range blobstore.Sides() {
				k := blobstore.Key(name, side)
				if !old(k) {
					continue
				}
				if err := r.Remove(k); err == nil {
					removed++
				} else if !errors.Is(err, fs.ErrNotExist) {
					errs = append(errs, err)
				}
			}
			_ = r.Remove(name) // only succeeds when empty
		}
	}
	if len(errs) > 0 {
		return removed, fmt.Errorf("localblob: sweep: %w", errors.Join(errs...))
	}
	return removed, nil
}
