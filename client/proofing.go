package client

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/proofline/proofline"
)

// Attempt says who is attempting, for the deployment's attempt limits (429
// once reached). Both fields are optional; proofline stores only keyed
// hashes of them.
type Attempt struct {
	// PersonID is your opaque id of the person (a user uuid; not PII).
	PersonID string
	// ClientIP is the person's IP address as you saw it.
	ClientIP string
}

// ResolutionRequest starts a resolution job: name, date of birth, SSN and
// address, then the state ID when asked (or when the bound document's
// jurisdiction is supported).
type ResolutionRequest struct {
	Attempt
	Applicant          proofline.Applicant
	ShouldProofStateID bool
	DOBYearOnly        bool
	// DocumentResultID binds the resolution to a done, successful document
	// job: its names, date of birth and state-ID fields are proofed, and
	// the Applicant needs only the SSN (and may give a residential
	// address). It binds one resolution only.
	DocumentResultID string
}

// AddressRequest starts an address (phone ownership) job; Applicant.Phone
// is required.
type AddressRequest struct {
	Attempt
	Applicant proofline.Applicant
}

// DocumentRequest starts a document job from a capture's uploaded images.
// UploadDocument fills it in.
type DocumentRequest struct {
	Attempt
	CaptureID string
	// EncryptionKey is the AES-256 key of every image (32 bytes).
	EncryptionKey proofline.Secret
	Front, Back   Image
	// Selfie, with LivenessCheckingEnabled, is checked against the ID.
	Selfie                  *Image
	LivenessCheckingEnabled bool
	// AADBinding: each image was encrypted with "{capture_id}/{side}" as
	// additional data (UploadDocument always does).
	AADBinding bool
	// PersonRef is your reference of the person, "<uuid_prefix>:<uuid>"
	// (not PII), passed to the document vendor.
	PersonRef string
}

// Image is one uploaded, encrypted image: the capture's object URL of its
// side and its 12-byte AES-GCM IV.
type Image struct {
	URL string
	IV  []byte
}

// Job is a started attempt.
type Job struct {
	ResultID string `json:"result_id"`
	// StatusURL is the path that answers its outcome.
	StatusURL string `json:"status_url"`
	// Deadline is when the attempt times out.
	Deadline time.Time `json:"deadline"`
}

// Outcome is an attempt's state: pending, done (with Result) or timed_out
// (start a new attempt).
type Outcome struct {
	Status proofline.Status  `json:"status"`
	Result *proofline.Result `json:"result,omitempty"`
}

// Done reports whether the attempt has its result.
func (o *Outcome) Done() bool { return o != nil && o.Status == proofline.StatusDone }

// StartResolution starts a resolution job.
func (c *Client) StartResolution(ctx context.Context, r ResolutionRequest) (*Job, error) {
	a, err := r.Applicant.MarshalRevealed()
	if err != nil {
		return nil, err
	}
	return c.start(ctx, "resolution", struct {
		Applicant          json.RawMessage `json:"applicant"`
		ShouldProofStateID bool            `json:"should_proof_state_id"`
		DOBYearOnly        bool            `json:"dob_year_only"`
		DocumentResultID   string          `json:"document_result_id,omitempty"`
		attemptWire
	}{a, r.ShouldProofStateID, r.DOBYearOnly, r.DocumentResultID, r.Attempt.wire()})
}

// StartAddress starts an address job.
func (c *Client) StartAddress(ctx context.Context, r AddressRequest) (*Job, error) {
	a, err := r.Applicant.MarshalRevealed()
	if err != nil {
		return nil, err
	}
	return c.start(ctx, "address", struct {
		Applicant json.RawMessage `json:"applicant"`
		attemptWire
	}{a, r.Attempt.wire()})
}

// StartDocument starts a document job. A refused start (any error) deletes
// the capture's images on the server: a retry needs a new capture.
func (c *Client) StartDocument(ctx context.Context, r DocumentRequest) (*Job, error) {
	w := struct {
		CaptureID               string `json:"capture_id"`
		EncryptionKey           string `json:"encryption_key"`
		FrontImageURL           string `json:"front_image_url"`
		FrontImageIV            string `json:"front_image_iv"`
		BackImageURL            string `json:"back_image_url"`
		BackImageIV             string `json:"back_image_iv"`
		SelfieImageURL          string `json:"selfie_image_url,omitempty"`
		SelfieImageIV           string `json:"selfie_image_iv,omitempty"`
		LivenessCheckingEnabled bool   `json:"liveness_checking_enabled"`
		AADBinding              bool   `json:"aad_binding,omitempty"`
		PersonRef               string `json:"person_ref,omitempty"`
		attemptWire
	}{
		CaptureID: r.CaptureID, EncryptionKey: base64.StdEncoding.EncodeToString(r.EncryptionKey.Reveal()),
		FrontImageURL: r.Front.URL, FrontImageIV: base64.StdEncoding.EncodeToString(r.Front.IV),
		BackImageURL: r.Back.URL, BackImageIV: base64.StdEncoding.EncodeToString(r.Back.IV),
		LivenessCheckingEnabled: r.LivenessCheckingEnabled, AADBinding: r.AADBinding, PersonRef: r.PersonRef,
		attemptWire: r.Attempt.wire(),
	}
	if r.Selfie != nil {
		w.SelfieImageURL, w.SelfieImageIV = r.Selfie.URL, base64.StdEncoding.EncodeToString(r.Selfie.IV)
	}
	return c.start(ctx, "document", w)
}

type attemptWire struct {
	PersonID string `json:"person_id,omitempty"`
	ClientIP string `json:"client_ip,omitempty"`
}

func (a Attempt) wire() attemptWire { return attemptWire(a) }

func (c *Client) start(ctx context.Context, kind string, body any) (*Job, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return nil, err
	}
	defer clear(b) // it holds the applicant's data or the image key
	var j Job
	if err := c.do(ctx, http.MethodPost, "/api/v1/proofing/"+kind, b, http.StatusAccepted, &j); err != nil {
		return nil, err
	}
	return &j, nil
}

// Outcome reads an attempt's state once. ErrNotFound: never existed,
// expired, or forgotten.
func (c *Client) Outcome(ctx context.Context, resultID string) (*Outcome, error) {
	return c.outcome(ctx, resultID, -1)
}

// outcome is GET …/{result_id}, with ?wait=secs when secs >= 0.
func (c *Client) outcome(ctx context.Context, resultID string, secs int) (*Outcome, error) {
	path := "/api/v1/proofing/" + url.PathEscape(resultID)
	if secs >= 0 {
		path += "?wait=" + strconv.Itoa(secs)
	}
	var o Outcome
	if err := c.do(ctx, http.MethodGet, path, nil, http.StatusOK, &o); err != nil {
		return nil, err
	}
	return &o, nil
}

// Wait returns the attempt's outcome once it is no longer pending: done
// with its result, or timed_out. It long-polls (each poll answers the moment
// the result lands), one poll after the other, and rides out 503 answers
// after their Retry-After. When ctx ends first it returns the last pending
// outcome (nil if none was read) with ctx's error.
func (c *Client) Wait(ctx context.Context, resultID string) (*Outcome, error) {
	var last *Outcome
	for {
		secs := c.pollSeconds(ctx)
		o, err := c.outcome(ctx, resultID, secs)
		switch {
		case err == nil && o.Status != proofline.StatusPending:
			return o, nil
		case err == nil:
			last = o
		case ctx.Err() != nil:
			return last, ctx.Err()
		case errors.Is(err, ErrUnavailable):
			d, _ := RetryAfter(err)
			if err := sleep(ctx, max(d, time.Second)); err != nil {
				return last, err
			}
			continue
		default:
			return nil, err
		}
		if secs == 0 {
			// Less than a second of ctx left for a poll: look again shortly.
			if err := sleep(ctx, 200*time.Millisecond); err != nil {
				return last, err
			}
		}
	}
}

// pollSeconds is the ?wait of the next long poll: the configured long
// poll, shortened to end before ctx's deadline and the HTTP client's
// timeout.
func (c *Client) pollSeconds(ctx context.Context) int {
	d := c.longPoll
	if dl, ok := ctx.Deadline(); ok {
		d = min(d, time.Until(dl)-500*time.Millisecond)
	}
	if c.hc.Timeout > 0 {
		d = min(d, c.hc.Timeout-time.Second)
	}
	return max(int(d/time.Second), 0)
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Forget deletes an attempt once you took its result. ErrNotFound if it was
// not there (already forgotten or expired).
func (c *Client) Forget(ctx context.Context, resultID string) error {
	return c.do(ctx, http.MethodDelete, "/api/v1/proofing/"+url.PathEscape(resultID), nil, http.StatusNoContent, nil)
}
