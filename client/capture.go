package client

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/proofline/proofline"
	"github.com/proofline/proofline/blobstore"
)

// Capture is one document capture: its id and a presigned upload per side
// ("front", "back", "selfie"), valid until ExpiresAt.
type Capture struct {
	ID        string            `json:"capture_id"`
	Uploads   map[string]Upload `json:"uploads"`
	ExpiresAt time.Time         `json:"expires_at"`
}

// Upload says how to upload one side: a PUT of the bytes to URL with
// Headers (proofline's local store), or a multipart POST of Fields and then
// the bytes (S3). ObjectURL is what the document job is started with.
type Upload struct {
	URL       string            `json:"url"`
	Method    string            `json:"method"`
	Headers   map[string]string `json:"headers"`
	Fields    map[string]string `json:"fields,omitempty"`
	ObjectURL string            `json:"object_url"`
}

// Images are the plain images of one document; Selfie is optional (with it
// the job checks liveness).
type Images struct {
	Front, Back, Selfie []byte
}

// CreateCapture starts a document capture.
func (c *Client) CreateCapture(ctx context.Context) (*Capture, error) {
	var cp Capture
	if err := c.do(ctx, http.MethodPost, "/api/v1/document-capture", nil, http.StatusCreated, &cp); err != nil {
		return nil, err
	}
	return &cp, nil
}

// UploadDocument encrypts the images as proofline's browser page does and
// uploads them through the capture's presigned uploads: AES-256-GCM under
// one fresh random key, a fresh random 12-byte IV per image, and the
// additional data "{capture_id}/{side}" (so a side cannot be swapped or
// moved to another capture). It returns the request that starts the
// document job; set PersonRef or Attempt on it if you like, then call
// StartDocument. The API key is not sent to the upload URLs.
//
// An image over the deployment's limit (doc_auth_max_image_bytes) is an
// *Error matching ErrTooLarge; an expired upload URL one with status 403.
func (c *Client) UploadDocument(ctx context.Context, cp *Capture, img Images) (*DocumentRequest, error) {
	if cp == nil || cp.ID == "" {
		return nil, errors.New("client: UploadDocument needs a capture")
	}
	if len(img.Front) == 0 || len(img.Back) == 0 {
		return nil, errors.New("client: UploadDocument needs the front and the back")
	}
	key := make([]byte, 32)
	if _, err := io.ReadFull(rand.Reader, key); err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	req := &DocumentRequest{CaptureID: cp.ID, EncryptionKey: proofline.Secret(key), AADBinding: true}
	ivs := map[string]bool{}
	put := func(side string, plain []byte) (Image, error) {
		up, ok := cp.Uploads[side]
		if !ok {
			return Image{}, errors.New("client: the capture has no upload for " + side)
		}
		iv := make([]byte, gcm.NonceSize())
		for {
			if _, err := io.ReadFull(rand.Reader, iv); err != nil {
				return Image{}, err
			}
			if !ivs[string(iv)] { // one key: never one IV twice
				ivs[string(iv)] = true
				break
			}
		}
		sealed := gcm.Seal(nil, iv, plain, []byte(cp.ID+"/"+side))
		if err := c.upload(ctx, up, sealed); err != nil {
			return Image{}, err
		}
		return Image{URL: up.ObjectURL, IV: iv}, nil
	}
	if req.Front, err = put("front", img.Front); err != nil {
		return nil, err
	}
	if req.Back, err = put("back", img.Back); err != nil {
		return nil, err
	}
	if len(img.Selfie) > 0 {
		s, err := put("selfie", img.Selfie)
		if err != nil {
			return nil, err
		}
		req.Selfie, req.LivenessCheckingEnabled = &s, true
	}
	return req, nil
}

// upload sends one ciphertext as up says, without the API key.
func (c *Client) upload(ctx context.Context, up Upload, body []byte) error {
	req, err := blobstore.NewUploadRequest(ctx, blobstore.Upload{
		URL: up.URL, Method: up.Method, Headers: up.Headers, Fields: up.Fields, ObjectURL: up.ObjectURL,
	}, body)
	if err != nil {
		return errors.New("client: the capture's upload is malformed")
	}
	req.Header.Set("User-Agent", c.ua)
	resp, err := c.hc.Do(req)
	if err != nil {
		return errors.Join(errors.New("client: upload"), scrub(err))
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 != 2 {
		// The host may be S3: its body is not proofline's; keep the status.
		return &Error{StatusCode: resp.StatusCode, Message: "upload refused", RequestID: resp.Header.Get("X-Request-Id")}
	}
	return nil
}
