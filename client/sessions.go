package client

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"time"

	"github.com/proofline/proofline"
)

// SessionStep is one part of a verification session's flow.
type SessionStep string

// Steps, in the order the flow runs them.
const (
	StepDocument    SessionStep = "document"    // photos of the ID (a document job)
	StepInformation SessionStep = "information" // address and SSN; names and date of birth too without a document step
	StepPhone       SessionStep = "phone"       // a phone number in the person's name (an address job)
)

// SessionStatus is where a verification session is.
type SessionStatus string

// Statuses; the last four are final.
const (
	SessionCreated    SessionStatus = "created"     // the link is not used yet
	SessionInProgress SessionStatus = "in_progress" // the person opened the link
	SessionVerified   SessionStatus = "verified"    // every step succeeded
	SessionFailed     SessionStatus = "failed"      // the person reached the attempt limit
	SessionExpired    SessionStatus = "expired"     // not finished by ExpiresAt
	SessionCanceled   SessionStatus = "canceled"    // you canceled it
)

// Ended reports whether s is final.
func (s SessionStatus) Ended() bool {
	return s == SessionVerified || s == SessionFailed || s == SessionExpired || s == SessionCanceled
}

// SessionRequest creates a hosted verification session for one person.
type SessionRequest struct {
	// PersonID is your opaque id of the person (required; not PII).
	// Attempt limits count per PersonID across sessions and browsers.
	PersonID string `json:"person_id"`
	// ReturnURL is where the person's browser goes when the session ends
	// (required), on one of your client's allowed return origins; proofline
	// adds verification_session_id to its query.
	ReturnURL string `json:"return_url"`
	// Steps are the steps to run; nil runs all three, always in the order
	// document, information, phone.
	Steps []SessionStep `json:"steps,omitempty"`
	// Locale is the person's language for the pages (a BCP 47 tag such as
	// "es" or "fr-CA"); optional.
	Locale string `json:"locale,omitempty"`
	// Metadata is your own data, returned as given in reads and webhooks.
	// Never put PII in it.
	Metadata map[string]string `json:"metadata,omitempty"`
}

// CreatedSession is a new session and its one-time link. URL holds the
// link's token, which is never shown again: send the person's browser to
// it (a redirect), and do not log it. It prints without the token.
type CreatedSession struct {
	ID        string        `json:"id"`
	URL       string        `json:"url"`
	ExpiresAt time.Time     `json:"expires_at"`
	Status    SessionStatus `json:"status"`
}

// String names the session, never its link.
func (c *CreatedSession) String() string { return "verification session " + c.ID }

// GoString is String.
func (c *CreatedSession) GoString() string { return c.String() }

// Session is a verification session as reads, cancels and webhooks show it.
type Session struct {
	ID        string            `json:"id"`
	Status    SessionStatus     `json:"status"`
	PersonID  string            `json:"person_id"`
	ReturnURL string            `json:"return_url"`
	Steps     []SessionStep     `json:"steps"`
	Locale    string            `json:"locale,omitempty"`
	Metadata  map[string]string `json:"metadata,omitempty"`
	CreatedAt time.Time         `json:"created_at"`
	// ExpiresAt is the link's expiry while created; from the link's use,
	// the end of the person's browser session.
	ExpiresAt time.Time `json:"expires_at"`
	// StartedAt is when the link was used, EndedAt when the session ended
	// (zero until then).
	StartedAt time.Time `json:"started_at,omitzero"`
	EndedAt   time.Time `json:"ended_at,omitzero"`
	// FailureReason ("attempt_limit") and FailedStep are set when failed.
	FailureReason string      `json:"failure_reason,omitempty"`
	FailedStep    SessionStep `json:"failed_step,omitempty"`
	// Results holds each step's outcome once verified.
	Results map[SessionStep]*StepOutcome `json:"results,omitempty"`
}

// StepOutcome is one step of a verified session.
type StepOutcome struct {
	// ResultID is the step's job.
	ResultID    string    `json:"result_id"`
	CompletedAt time.Time `json:"completed_at"`
	// Result is the job's result; PIIFromDoc only if your client has
	// include_pii.
	Result *proofline.Result `json:"result"`
	// Applicant is what the information and phone steps proofed, only if
	// your client has include_pii.
	Applicant *proofline.Applicant `json:"applicant,omitempty"`
}

// CreateVerificationSession creates a session for one person and returns
// its one-time link. A refused request is a *ValidationError naming
// person_id, return_url, steps, locale or metadata.
func (c *Client) CreateVerificationSession(ctx context.Context, r SessionRequest) (*CreatedSession, error) {
	b, err := json.Marshal(r)
	if err != nil {
		return nil, err
	}
	var s CreatedSession
	if err := c.do(ctx, http.MethodPost, sessionsPath, b, http.StatusCreated, &s); err != nil {
		return nil, err
	}
	return &s, nil
}

// VerificationSession reads a session, with its status as of now.
// ErrNotFound: unknown, another client's, or ended longer ago than the
// deployment keeps sessions.
func (c *Client) VerificationSession(ctx context.Context, id string) (*Session, error) {
	var s Session
	if err := c.do(ctx, http.MethodGet, sessionsPath+"/"+url.PathEscape(id), nil, http.StatusOK, &s); err != nil {
		return nil, err
	}
	return &s, nil
}

// CancelVerificationSession cancels a session that has not ended and
// returns it (status canceled); the person is sent back at their next step.
// ErrConflict when it had already ended, ErrNotFound as for
// VerificationSession.
func (c *Client) CancelVerificationSession(ctx context.Context, id string) (*Session, error) {
	var s Session
	if err := c.do(ctx, http.MethodPost, sessionsPath+"/"+url.PathEscape(id)+"/cancel", nil, http.StatusOK, &s); err != nil {
		return nil, err
	}
	return &s, nil
}

const sessionsPath = "/api/v1/verification-sessions"
