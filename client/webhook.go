package client

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/proofline/proofline"
)

// Webhook event types.
const (
	EventSessionVerified = "verification_session.verified"
	EventSessionFailed   = "verification_session.failed"
	EventSessionExpired  = "verification_session.expired"
	EventSessionCanceled = "verification_session.canceled"
	EventJobCompleted    = "proofing_job.completed"
)

// DefaultWebhookTolerance is how far a webhook-timestamp may be from now,
// as the Standard Webhooks specification's libraries allow.
const DefaultWebhookTolerance = 5 * time.Minute

// maxWebhookBytes bounds a webhook body VerifyRequest reads.
const maxWebhookBytes = 1 << 20

// ErrWebhookSignature is returned for a webhook that does not verify: a
// header missing or malformed, a timestamp out of tolerance, or no
// signature made with one of the secrets. Answer such a request 400 and
// do not act on it.
var ErrWebhookSignature = errors.New("proofline: webhook signature does not verify")

// Webhooks verifies the webhooks proofline posts to your webhook_url, as
// the Standard Webhooks specification says: webhook-signature holds
// "v1,<base64 HMAC-SHA256>" entries over "{webhook-id}.{webhook-timestamp}.{body}",
// one per secret proofline signs with; one of them must match one of your
// secrets (compared in constant time), and webhook-timestamp must be within
// the tolerance of now. Create it with NewWebhooks; it is safe for
// concurrent use.
type Webhooks struct {
	keys      [][]byte
	tolerance time.Duration
	now       func() time.Time
}

// WebhookOption configures Webhooks.
type WebhookOption func(*Webhooks)

// WithTolerance sets how far webhook-timestamp may be from now (default
// DefaultWebhookTolerance; at least one second).
func WithTolerance(d time.Duration) WebhookOption { return func(w *Webhooks) { w.tolerance = d } }

// WithClock sets the clock the timestamp is checked against (default
// time.Now).
func WithClock(now func() time.Time) WebhookOption { return func(w *Webhooks) { w.now = now } }

// NewWebhooks returns a verifier for the given secrets: the webhook_secrets
// of your API client, each "whsec_" and the standard base64 of the key.
// While a secret rotates, pass both: a webhook that verifies with either is
// accepted.
func NewWebhooks(secrets []string, opts ...WebhookOption) (*Webhooks, error) {
	if len(secrets) == 0 {
		return nil, errors.New("client: a webhook secret is required")
	}
	w := &Webhooks{tolerance: DefaultWebhookTolerance, now: time.Now}
	for _, s := range secrets {
		b64, ok := strings.CutPrefix(strings.TrimSpace(s), "whsec_")
		key, err := base64.StdEncoding.DecodeString(b64)
		if err != nil {
			key, err = base64.RawStdEncoding.DecodeString(b64)
		}
		if !ok || err != nil || len(key) == 0 {
			// Never the secret itself in an error.
			return nil, errors.New("client: a webhook secret must be whsec_ followed by the standard base64 of the key")
		}
		w.keys = append(w.keys, key)
	}
	for _, o := range opts {
		o(w)
	}
	if w.tolerance < time.Second || w.now == nil {
		return nil, errors.New("client: the webhook tolerance must be at least one second, and the clock set")
	}
	return w, nil
}

// String never prints the secrets.
func (w *Webhooks) String() string { return "proofline webhook verifier" }

// GoString is String.
func (w *Webhooks) GoString() string { return w.String() }

// Event is a verified webhook.
type Event struct {
	// ID is webhook-id: the same on every retry of one event; deduplicate
	// by it (delivery is at least once).
	ID string `json:"-"`
	// Type is one of the Event constants.
	Type string `json:"type"`
	// Timestamp is when proofline queued the event.
	Timestamp time.Time `json:"timestamp"`
	// Data is the event's data: a Session for the verification_session
	// events, a JobEvent for proofing_job.completed.
	Data json.RawMessage `json:"data"`
}

// JobEvent is the data of proofing_job.completed.
type JobEvent struct {
	ResultID string           `json:"result_id"`
	Kind     proofline.Kind   `json:"kind"`
	Status   proofline.Status `json:"status"`
	// Result is the job's result; PIIFromDoc only if your client has
	// include_pii.
	Result *proofline.Result `json:"result"`
}

// Session decodes the data of a verification_session event.
func (e *Event) Session() (*Session, error) {
	if !strings.HasPrefix(e.Type, "verification_session.") {
		return nil, errors.New("client: a " + e.Type + " event carries no session")
	}
	var s Session
	if err := json.Unmarshal(e.Data, &s); err != nil {
		return nil, errors.New("client: the event's session is not the documented JSON")
	}
	return &s, nil
}

// Job decodes the data of a proofing_job.completed event.
func (e *Event) Job() (*JobEvent, error) {
	if e.Type != EventJobCompleted {
		return nil, errors.New("client: a " + e.Type + " event carries no job")
	}
	var j JobEvent
	if err := json.Unmarshal(e.Data, &j); err != nil {
		return nil, errors.New("client: the event's job is not the documented JSON")
	}
	return &j, nil
}

// Verify checks a webhook's headers and raw body (exactly as received) and
// returns the event. ErrWebhookSignature when it does not verify.
func (w *Webhooks) Verify(h http.Header, body []byte) (*Event, error) {
	id, ts, sigs := h.Get("webhook-id"), h.Get("webhook-timestamp"), h.Get("webhook-signature")
	if id == "" || ts == "" || sigs == "" {
		return nil, ErrWebhookSignature
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return nil, ErrWebhookSignature
	}
	if d := w.now().Sub(time.Unix(sec, 0)); d > w.tolerance || d < -w.tolerance {
		return nil, ErrWebhookSignature
	}
	if !w.signed(id, ts, body, sigs) {
		return nil, ErrWebhookSignature
	}
	var ev Event
	if err := json.Unmarshal(body, &ev); err != nil || ev.Type == "" {
		return nil, errors.New("client: a signed webhook that is not the documented JSON")
	}
	ev.ID = id
	return &ev, nil
}

// signed reports whether one v1 entry of sigs is the HMAC of the message
// under one of the keys. Every key and entry is compared, in constant time.
func (w *Webhooks) signed(id, ts string, body []byte, sigs string) bool {
	ok := false
	for _, k := range w.keys {
		m := hmac.New(sha256.New, k)
		m.Write([]byte(id + "." + ts + "."))
		m.Write(body)
		want := m.Sum(nil)
		for _, s := range strings.Fields(sigs) {
			v, b64, found := strings.Cut(s, ",")
			if !found || v != "v1" {
				continue
			}
			got, err := base64.StdEncoding.DecodeString(b64)
			if err == nil && hmac.Equal(got, want) {
				ok = true
			}
		}
	}
	return ok
}

// VerifyRequest reads r's body (at most 1 MiB) and verifies it as Verify
// does. Use it in your webhook handler: answer 2xx once you have stored
// the event, 400 on ErrWebhookSignature.
func (w *Webhooks) VerifyRequest(r *http.Request) (*Event, error) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxWebhookBytes+1))
	if err != nil {
		return nil, errors.New("client: read webhook: " + err.Error())
	}
	if len(body) > maxWebhookBytes {
		return nil, ErrWebhookSignature
	}
	return w.Verify(r.Header, body)
}
