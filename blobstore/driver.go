// Package blobstore holds the encrypted ID images between the browser's upload
// and the worker's read. Uploads go straight from the browser to the store
// through presigned URLs; workers read by object key from the configured store
// only, and delete the objects when the job ends.
//
// Store is the concrete type callers use; it wraps a Driver: a local directory
// with HMAC-signed URLs served by proofline itself (blobstore/localblob) or S3
// with presigned POST policies (blobstore/s3blob).
package blobstore

import (
	"context"
	"errors"
	"time"
)

// Driver errors.
var (
	// ErrNotFound: no object under that key.
	ErrNotFound = errors.New("blobstore: object not found")
	// ErrForeignURL: the URL was not issued by this store (other host, other
	// bucket, other path); nothing was fetched.
	ErrForeignURL = errors.New("blobstore: url not issued by this store")
	// ErrTooLarge: the object is larger than the caller allowed.
	ErrTooLarge = errors.New("blobstore: object too large")
)

// Upload is how a client uploads one object.
//
// PUT: send the bytes as the body of Method URL with Headers. POST (S3, so
// that the store itself refuses an oversized image): send a
// multipart/form-data body to URL with every one of Fields, then the bytes
// as the last part, named "file".
//
// ObjectURL names the uploaded object: it is what a document start submits
// as front_image_url (and back, selfie). For PUT uploads it is URL itself.
type Upload struct {
	URL       string            `json:"url"`
	Method    string            `json:"method"`
	Headers   map[string]string `json:"headers"`
	Fields    map[string]string `json:"fields,omitempty"`
	ObjectURL string            `json:"object_url"`
}

// Driver is one blob backend. Keys are "{capture_id}/{side}" (see ValidKey).
type Driver interface {
	// PresignUpload returns a URL through which exactly one object, key, can
	// be uploaded until expires, at most maxBytes long, with content type
	// application/octet-stream.
	PresignUpload(ctx context.Context, key string, expires time.Time, maxBytes int64) (Upload, error)
	// KeyFromURL maps a URL this store issued back to its object key without
	// fetching anything. Anything else (other host, scheme, bucket or path
	// shape) is ErrForeignURL.
	KeyFromURL(rawURL string) (string, error)
	// Read returns the object under key; ErrNotFound if absent, ErrTooLarge
	// if longer than maxBytes (nothing more is read).
	Read(ctx context.Context, key string, maxBytes int64) ([]byte, error)
	// Delete removes the object under key; deleting an absent key is not an error.
	Delete(ctx context.Context, key string) error
}

// Sweeper is implemented by drivers that can list what they hold. Sweep
// deletes every object under a key of the blobstore shape last written
// before olderThan (abandoned uploads, images of jobs that expired
// unclaimed) and nothing else, and returns how many it deleted.
type Sweeper interface {
	Sweep(ctx context.Context, olderThan time.Time) (int, error)
}
