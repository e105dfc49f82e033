// Package verification keeps hosted verification sessions: an IdP back end
// creates one through the JSON API for one person (its person_id), sends the
// person's browser to the session's one-time URL, and learns the outcome from
// a signed webhook or by reading the session.
//
// A session's life:
//
//	created ──(the one-time link is opened)──▶ in_progress ──▶ verified | failed
//	   │                                           │
//	   └── expires_at passes, or canceled ─────────┴──▶ expired | canceled
//
// created lasts until expires_at (the link's expiry, LinkTTL after creation);
// opening the link makes it in_progress and moves expires_at to Lifetime
// later (the absolute lifetime of the person's browser session). verified:
// every step of the session succeeded. failed: the person reached the attempt
// limit. An ended session stays readable for Retention, then is gone (404).
//
// Sessions are stored sealed (resultstore.Records under the session key
// ring) with their TTL; the link's token is kept only as its SHA-256. Every
// read through the API is the creating tenant's only: another tenant's
// session is not found.
package verification

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/proofline/proofline"
	"github.com/proofline/proofline/resultstore"
	"github.com/proofline/proofline/tenant"
	"github.com/proofline/proofline/webhook"
)

// Status is where a session is.
type Status string

// Statuses.
const (
	StatusCreated    Status = "created"
	StatusInProgress Status = "in_progress"
	StatusVerified   Status = "verified"
	StatusFailed     Status = "failed"
	StatusExpired    Status = "expired"
	StatusCanceled   Status = "canceled"
)

// Ended reports whether s is final.
func (s Status) Ended() bool {
	return s == StatusVerified || s == StatusFailed || s == StatusExpired || s == StatusCanceled
}

// Step is one part of the flow a session runs.
type Step string

// Steps, in the order the flow runs them.
const (
	StepDocument    Step = "document"    // photos of the ID: a document job
	StepInformation Step = "information" // address and SSN (names, date of birth too without a document): a resolution job
	StepPhone       Step = "phone"       // a phone number in the person's name: an address job
)

// AllSteps are the steps of a session that names none.
var AllSteps = []Step{StepDocument, StepInformation, StepPhone}

// StepOf is the step a job kind belongs to.
func StepOf(k proofline.Kind) Step {
	switch k {
	case proofline.KindDocument:
		return StepDocument
	case proofline.KindResolution:
		return StepInformation
	}
	return StepPhone
}

// FailureAttemptLimit is the failure_reason of a session that failed because
// the person (or their address) reached the attempt limit.
const FailureAttemptLimit = "attempt_limit"

// TimerExpiry is the name of the webhook timer that notices expiries.
const TimerExpiry = "verification_session_expiry"

// Session is one stored verification session. It holds PII (step results
// and what was proofed) and redacts itself in logs.
type Session struct {
	ID        string            `json:"id"`
	Tenant    string            `json:"tenant"`
	PersonID  string            `json:"person_id"`
	ReturnURL string            `json:"return_url,omitempty"`
	Steps     []Step            `json:"steps"`
	Locale    string            `json:"locale,omitempty"`
	Metadata  map[string]string `json:"metadata,omitempty"`
	Status    Status            `json:"status"`
	CreatedAt time.Time         `json:"created_at"`
	ExpiresAt time.Time         `json:"expires_at"`
	StartedAt time.Time         `json:"started_at,omitzero"`
	EndedAt   time.Time         `json:"ended_at,omitzero"`
	// TokenHash is the SHA-256 of the one-time link's token.
	TokenHash     []byte               `json:"token_hash,omitempty"`
	Results       map[Step]*StepResult `json:"results,omitempty"`
	FailureReason string               `json:"failure_reason,omitempty"`
	FailedStep    Step                 `json:"failed_step,omitempty"`
	// Notified: the webhook of the final status is queued.
	Notified bool `json:"notified,omitempty"`
}

// StepResult is the outcome of one step, as stored: the result with its PII
// in clear and what was proofed, sealed with the session.
type StepResult struct {
	ResultID    string          `json:"result_id"`
	CompletedAt time.Time       `json:"completed_at"`
	Result      json.RawMessage `json:"result,omitempty"`
	Applicant   json.RawMessage `json:"applicant,omitempty"`
}

// LogValue redacts the session.
func (s *Session) LogValue() slog.Value {
	return slog.GroupValue(slog.String("id", s.ID), slog.String("status", string(s.Status)))
}

// String redacts the session.
func (s *Session) String() string { return "verification.Session{" + s.ID + "}" }

// Format redacts the session for every verb.
func (s *Session) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(s.String())) }

// Has reports whether the session runs step.
func (s *Session) Has(step Step) bool { return slices.Contains(s.Steps, step) }

// effective is the status as of now: an active session past its expiry is
// expired even before the store says so.
func (s *Session) effective(now time.Time) Status {
	if !s.Status.Ended() && !now.Before(s.ExpiresAt) {
		return StatusExpired
	}
	return s.Status
}

// Options configure a Service. Records and Clients are required.
type Options struct {
	// Records stores the sessions (sealed under the session ring).
	Records *resultstore.Records
	Clients *tenant.Registry
	// BaseURL is the public origin the one-time links point to.
	BaseURL string
	// LinkTTL is how long a created session's link works. Default 1 h.
	LinkTTL time.Duration
	// Lifetime is how long the person has once the link is opened (the
	// browser session's absolute lifetime). Default 1 h.
	Lifetime time.Duration
	// Retention is how long an ended session stays readable. Default 24 h.
	Retention time.Duration
	// Webhooks sends the session's webhooks; nil sends none.
	Webhooks *webhook.Sender
	Logger   *slog.Logger
	Now      func() time.Time
}

// Service creates, reads and moves verification sessions. It is safe for
// concurrent use and keeps no state of its own.
type Service struct {
	opts Options
	log  *slog.Logger
}

// New returns a Service and registers its expiry timer with opts.Webhooks
// (call it before the sender starts).
func New(opts Options) (*Service, error) {
	if opts.Records == nil || opts.Clients == nil {
		return nil, errors.New("verification: Records and Clients are required")
	}
	u, err := url.Parse(opts.BaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, errors.New("verification: BaseURL must be an http(s) origin")
	}
	opts.BaseURL = strings.TrimRight(opts.BaseURL, "/")
	if opts.LinkTTL <= 0 {
		opts.LinkTTL = time.Hour
	}
	if opts.Lifetime <= 0 {
		opts.Lifetime = time.Hour
	}
	if opts.Retention <= 0 {
		opts.Retention = 24 * time.Hour
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Service{opts: opts, log: opts.Logger}
	if opts.Webhooks != nil {
		opts.Webhooks.Handle(TimerExpiry, s.expiryTimer)
	}
	return s, nil
}

// Lifetime is how long the person has once the link is opened.
func (s *Service) Lifetime() time.Duration { return s.opts.Lifetime }

// CreateRequest is the body of POST /api/v1/verification-sessions.
type CreateRequest struct {
	// PersonID is the IdP's opaque id of the person (required; not PII):
	// attempt limits count per person_id of the tenant.
	PersonID string `json:"person_id"`
	// ReturnURL is where the person's browser goes when the session ends
	// (required): an absolute http(s) URL on one of the client's return
	// origins.
	ReturnURL string `json:"return_url"`
	// Steps chooses the steps (default all), run in their fixed order.
	Steps []Step `json:"steps,omitempty"`
	// Locale is the person's language (a BCP 47 tag like "es" or "fr-CA")
	// for the pages.
	Locale string `json:"locale,omitempty"`
	// Metadata is the IdP's own key-value data, returned as given (never
	// put PII in it).
	Metadata map[string]string `json:"metadata,omitempty"`
}

// Created is a new session with its one-time link.
type Created struct {
	Session *Session
	// URL is the one-time link into the pages; it holds a token that is
	// never stored and never shown again.
	URL string
}

var (
	localeRE      = regexp.MustCompile(`^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8}){0,3}$`)
	metadataKeyRE = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,40}$`)
)

// Metadata bounds.
const (
	maxMetadataKeys  = 20
	maxMetadataValue = 500
	maxPersonID      = 256
)

func validateSteps(steps []Step, v *proofline.ValidationError) []Step {
	if steps == nil {
		return slices.Clone(AllSteps)
	}
	if len(steps) == 0 {
		v.Add("steps", "must name at least one of document, information, phone")
		return nil
	}
	var out []Step
	for _, st := range AllSteps {
		n := 0
		for _, g := range steps {
			if g == st {
				n++
			}
		}
		if n > 1 {
			v.Add("steps", "must not name a step twice")
			return nil
		}
		if n == 1 {
			out = append(out, st)
		}
	}
	if len(out) != len(steps) {
		v.Add("steps", "must hold only document, information and phone")
		return nil
	}
	return out
}

func (r *CreateRequest) validate(reg *tenant.Registry, c *tenant.Client, v *proofline.ValidationError) []Step {
	switch {
	case r.PersonID == "":
		v.Add("person_id", "is required")
	case len(r.PersonID) > maxPersonID || strings.ContainsFunc(r.PersonID, isControl):
		v.Add("person_id", "must be at most 256 characters without control characters")
	}
	switch {
	case r.ReturnURL == "":
		v.Add("return_url", "is required")
	case !reg.ReturnURLAllowed(c, r.ReturnURL):
		v.Add("return_url", "must be an absolute http(s) URL, without credentials or fragment, on an allowed return origin")
	}
	steps := validateSteps(r.Steps, v)
	if r.Locale != "" && (len(r.Locale) > 35 || !localeRE.MatchString(r.Locale)) {
		v.Add("locale", "must be a language tag like en, es or fr-CA")
	}
	if len(r.Metadata) > maxMetadataKeys {
		v.Add("metadata", "must hold at most 20 keys")
	}
	for k, val := range r.Metadata {
		if !metadataKeyRE.MatchString(k) || len(val) > maxMetadataValue || strings.ContainsFunc(val, isControl) {
			v.Add("metadata", "keys must be 1 to 40 of A-Z a-z 0-9 _ . - and values at most 500 characters without control characters")
			break
		}
	}
	return steps
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

// Create creates a session for ctx's tenant (tenant.From) and returns it
// with its one-time link. Validation failures are a *proofline.ValidationError.
func (s *Service) Create(ctx context.Context, r CreateRequest) (*Created, error) {
	owner := tenant.From(ctx)
	c, ok := s.opts.Clients.Lookup(owner)
	if !ok {
		return nil, proofline.Errorf(proofline.EUNAUTHORIZED, "a valid API key is required")
	}
	var v proofline.ValidationError
	steps := r.validate(s.opts.Clients, c, &v)
	if err := v.Err(); err != nil {
		return nil, err
	}
	now := s.opts.Now().UTC()
	token := randomToken()
	sess := &Session{
		ID: newID(), Tenant: owner, PersonID: r.PersonID, ReturnURL: r.ReturnURL, Steps: steps,
		Locale: r.Locale, Metadata: r.Metadata, Status: StatusCreated, CreatedAt: now,
		ExpiresAt: now.Add(s.opts.LinkTTL), TokenHash: tokenHash(token),
	}
	if err := s.opts.Records.Create(ctx, sess.ID, sess, s.ttl(sess, now)); err != nil {
		return nil, err
	}
	s.scheduleExpiry(ctx, c, sess)
	s.log.LogAttrs(ctx, slog.LevelInfo, "verification session created",
		slog.String("session_id", sess.ID), slog.String("tenant", owner), slog.Int("steps", len(steps)))
	return &Created{Session: sess, URL: s.opts.BaseURL + "/verify/session/" + sess.ID + "?token=" + token}, nil
}

// StartDemo creates an in_progress session of the built-in demo (tenant ""):
// no API key reads it, it sends no webhook and keeps no step results.
func (s *Service) StartDemo(ctx context.Context, steps []Step) (*Session, error) {
	var v proofline.ValidationError
	if steps = validateSteps(steps, &v); v.Err() != nil {
		return nil, v.Err()
	}
	now := s.opts.Now().UTC()
	sess := &Session{
		ID: newID(), PersonID: "demo-" + randomToken()[:16], Steps: steps, Status: StatusInProgress,
		CreatedAt: now, StartedAt: now, ExpiresAt: now.Add(s.opts.Lifetime),
	}
	if err := s.opts.Records.Create(ctx, sess.ID, sess, s.ttl(sess, now)); err != nil {
		return nil, err
	}
	return sess, nil
}

// Get returns ctx's tenant's session id, with its status as of now.
// ENOTFOUND for an unknown, expired-and-gone or another tenant's session.
func (s *Service) Get(ctx context.Context, id string) (*Session, error) {
	sess, err := s.load(ctx, id)
	if err != nil {
		return nil, err
	}
	if sess.Tenant != tenant.From(ctx) || sess.Tenant == "" {
		return nil, notFound()
	}
	sess.Status = sess.effective(s.opts.Now())
	return sess, nil
}

// Cancel cancels ctx's tenant's session: ECONFLICT when it has already
// ended, ENOTFOUND as for Get. The person's pages stop at their next step.
func (s *Service) Cancel(ctx context.Context, id string) (*Session, error) {
	owner := tenant.From(ctx)
	sess, err := s.update(ctx, id, func(sess *Session, now time.Time) error {
		if sess.Tenant != owner || sess.Tenant == "" {
			return notFound()
		}
		if sess.effective(now).Ended() {
			return proofline.Errorf(proofline.ECONFLICT, "the session has already ended")
		}
		end(sess, StatusCanceled, now)
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.notify(ctx, sess)
	return sess, nil
}

// Redeem opens the one-time link of session id: the session becomes
// in_progress, with Lifetime from now to finish. ENOTFOUND for an unknown
// session or a wrong token; EGONE for a link used before, a session that
// expired, was canceled or ended.
func (s *Service) Redeem(ctx context.Context, id, token string) (*Session, error) {
	sess, err := s.update(ctx, id, func(sess *Session, now time.Time) error {
		if len(sess.TokenHash) == 0 || token == "" || subtle.ConstantTimeCompare(sess.TokenHash, tokenHash(token)) != 1 {
			return notFound()
		}
		switch st := sess.effective(now); {
		case st == StatusExpired:
			return proofline.Errorf(proofline.EGONE, "the link has expired")
		case st != StatusCreated:
			return proofline.Errorf(proofline.EGONE, "the link has been used")
		}
		sess.Status, sess.StartedAt, sess.ExpiresAt = StatusInProgress, now.UTC(), now.Add(s.opts.Lifetime).UTC()
		return nil
	})
	if err != nil {
		return nil, err
	}
	if c, ok := s.opts.Clients.Lookup(sess.Tenant); ok {
		s.scheduleExpiry(ctx, c, sess)
	}
	s.log.LogAttrs(ctx, slog.LevelInfo, "verification session link used", slog.String("session_id", sess.ID))
	return sess, nil
}

// Active returns session id (any tenant's: the caller is the pages, which
// hold the id) while it can still move on; EGONE once it has ended or
// expired, ENOTFOUND once it is gone.
func (s *Service) Active(ctx context.Context, id string) (*Session, error) {
	sess, err := s.load(ctx, id)
	if err != nil {
		return nil, err
	}
	if sess.effective(s.opts.Now()).Ended() {
		return nil, proofline.Errorf(proofline.EGONE, "the session has ended")
	}
	return sess, nil
}

// Restart forgets the step results of an active session: the person
// started over, and every step must succeed again.
func (s *Service) Restart(ctx context.Context, id string) error {
	_, err := s.update(ctx, id, func(sess *Session, now time.Time) error {
		if sess.effective(now).Ended() {
			return proofline.Errorf(proofline.EGONE, "the session has ended")
		}
		sess.Results = nil
		return nil
	})
	return err
}

// StepOutcome is a step that succeeded, for StepDone.
type StepOutcome struct {
	ResultID string
	Result   *proofline.Result
	// Applicant is what was proofed (information and phone steps).
	Applicant *proofline.Applicant
}

// StepDone records a successful step of an active session; when every step
// of the session has succeeded it is verified (and its webhook queued).
// EGONE when the session ended meanwhile.
func (s *Service) StepDone(ctx context.Context, id string, step Step, o StepOutcome) (*Session, error) {
	var res, app json.RawMessage
	var err error
	if o.Result != nil {
		if res, err = o.Result.MarshalRevealed(); err != nil {
			return nil, proofline.WrapError(proofline.EINTERNAL, "encode result", err)
		}
	}
	if o.Applicant != nil {
		if app, err = o.Applicant.MarshalRevealed(); err != nil {
			return nil, proofline.WrapError(proofline.EINTERNAL, "encode applicant", err)
		}
	}
	sess, err := s.update(ctx, id, func(sess *Session, now time.Time) error {
		if sess.effective(now).Ended() {
			return proofline.Errorf(proofline.EGONE, "the session has ended")
		}
		if sess.Results == nil {
			sess.Results = map[Step]*StepResult{}
		}
		r := &StepResult{ResultID: o.ResultID, CompletedAt: now.UTC()}
		if sess.Tenant != "" { // the demo's results have no reader
			r.Result, r.Applicant = res, app
		}
		sess.Results[step] = r
		for _, st := range sess.Steps {
			if sess.Results[st] == nil {
				return nil
			}
		}
		end(sess, StatusVerified, now)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if sess.Status == StatusVerified {
		s.log.LogAttrs(ctx, slog.LevelInfo, "verification session verified", slog.String("session_id", sess.ID))
		s.notify(ctx, sess)
	}
	return sess, nil
}

// Fail ends an active session as failed at step for reason
// (FailureAttemptLimit). EGONE when it had ended already.
func (s *Service) Fail(ctx context.Context, id string, step Step, reason string) (*Session, error) {
	sess, err := s.update(ctx, id, func(sess *Session, now time.Time) error {
		if sess.effective(now).Ended() {
			return proofline.Errorf(proofline.EGONE, "the session has ended")
		}
		end(sess, StatusFailed, now)
		sess.FailureReason, sess.FailedStep = reason, step
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.log.LogAttrs(ctx, slog.LevelInfo, "verification session failed", slog.String("session_id", sess.ID), slog.String("reason", reason))
	s.notify(ctx, sess)
	return sess, nil
}

func end(sess *Session, st Status, now time.Time) {
	sess.Status, sess.EndedAt, sess.Notified = st, now.UTC(), false
}

// ReturnTo is where the browser of an ended session goes: its return_url
// with verification_session_id set. "" for the demo.
func (sess *Session) ReturnTo() string {
	if sess.ReturnURL == "" {
		return ""
	}
	u, err := url.Parse(sess.ReturnURL)
	if err != nil {
		return ""
	}
	q := u.Query()
	q.Set("verification_session_id", sess.ID)
	u.RawQuery = q.Encode()
	return u.String()
}

// View is a session as the JSON API and the webhooks show it.
type View struct {
	ID            string            `json:"id"`
	Status        Status            `json:"status"`
	PersonID      string            `json:"person_id"`
	ReturnURL     string            `json:"return_url"`
	Steps         []Step            `json:"steps"`
	Locale        string            `json:"locale,omitempty"`
	Metadata      map[string]string `json:"metadata,omitempty"`
	CreatedAt     time.Time         `json:"created_at"`
	ExpiresAt     time.Time         `json:"expires_at"`
	StartedAt     *time.Time        `json:"started_at,omitempty"`
	EndedAt       *time.Time        `json:"ended_at,omitempty"`
	FailureReason string            `json:"failure_reason,omitempty"`
	FailedStep    Step              `json:"failed_step,omitempty"`
	// Results are the outcome per step, once verified.
	Results map[Step]*StepView `json:"results,omitempty"`
}

// StepView is one step's outcome in a View: the result as GET
// /api/v1/proofing/{result_id} shows it, with pii_from_doc and the proofed
// applicant only for a client with include_pii.
type StepView struct {
	ResultID    string          `json:"result_id"`
	CompletedAt time.Time       `json:"completed_at"`
	Result      json.RawMessage `json:"result"`
	Applicant   json.RawMessage `json:"applicant,omitempty"`
}

// View renders sess for its tenant: PII only when the client asked for it.
func (s *Service) View(sess *Session) (*View, error) {
	c, _ := s.opts.Clients.Lookup(sess.Tenant)
	pii := c != nil && c.IncludePII
	v := &View{
		ID: sess.ID, Status: sess.Status, PersonID: sess.PersonID, ReturnURL: sess.ReturnURL, Steps: sess.Steps,
		Locale: sess.Locale, Metadata: sess.Metadata, CreatedAt: sess.CreatedAt, ExpiresAt: sess.ExpiresAt,
		FailureReason: sess.FailureReason, FailedStep: sess.FailedStep,
	}
	if !sess.StartedAt.IsZero() {
		t := sess.StartedAt
		v.StartedAt = &t
	}
	if !sess.EndedAt.IsZero() {
		t := sess.EndedAt
		v.EndedAt = &t
	}
	if sess.Status != StatusVerified {
		return v, nil
	}
	v.Results = map[Step]*StepView{}
	for step, r := range sess.Results {
		sv := &StepView{ResultID: r.ResultID, CompletedAt: r.CompletedAt, Result: r.Result}
		if pii {
			sv.Applicant = r.Applicant
		} else if len(r.Result) > 0 {
			var res proofline.Result
			if err := json.Unmarshal(r.Result, &res); err != nil {
				return nil, proofline.Errorf(proofline.EINTERNAL, "stored step result malformed")
			}
			res.PIIFromDoc = nil
			b, err := json.Marshal(&res)
			if err != nil {
				return nil, proofline.WrapError(proofline.EINTERNAL, "encode result", err)
			}
			sv.Result = b
		}
		v.Results[step] = sv
	}
	return v, nil
}

// events maps a final status to its webhook.
var events = map[Status]string{
	StatusVerified: webhook.EventSessionVerified, StatusFailed: webhook.EventSessionFailed,
	StatusExpired: webhook.EventSessionExpired, StatusCanceled: webhook.EventSessionCanceled,
}

// notify queues the webhook of an ended session and marks it queued. A
// failure is logged: the expiry timer queues it again later.
func (s *Service) notify(ctx context.Context, sess *Session) {
	if s.opts.Webhooks == nil || sess.Tenant == "" || sess.Notified {
		return
	}
	v, err := s.View(sess)
	if err != nil {
		s.log.LogAttrs(ctx, slog.LevelError, "verification session webhook not built", slog.String("session_id", sess.ID))
		return
	}
	queued, err := s.opts.Webhooks.Publish(ctx, sess.Tenant, webhook.MessageID(sess.ID, string(sess.Status)), events[sess.Status], v)
	if err != nil {
		s.log.LogAttrs(ctx, slog.LevelWarn, "verification session webhook not queued; the expiry check retries",
			slog.String("session_id", sess.ID), slog.String("code", proofline.ErrorCode(err)))
		return
	}
	if !queued {
		return
	}
	_, err = s.update(context.WithoutCancel(ctx), sess.ID, func(cur *Session, _ time.Time) error {
		if cur.Status != sess.Status {
			return errUnchanged
		}
		cur.Notified = true
		return nil
	})
	if err != nil && !errors.Is(err, errUnchanged) {
		s.log.LogAttrs(ctx, slog.LevelWarn, "verification session webhook queued but not marked", slog.String("session_id", sess.ID))
	}
}

func (s *Service) scheduleExpiry(ctx context.Context, c *tenant.Client, sess *Session) {
	if s.opts.Webhooks == nil || c.WebhookURL == "" {
		return
	}
	if err := s.opts.Webhooks.Schedule(ctx, TimerExpiry, sess.ID, sess.ExpiresAt); err != nil {
		s.log.LogAttrs(ctx, slog.LevelWarn, "verification session expiry not scheduled", slog.String("session_id", sess.ID),
			slog.String("code", proofline.ErrorCode(err)))
	}
}

// expiryTimer runs at a session's expires_at: it ends an active session as
// expired, and queues the webhook of an ended session that has none queued.
func (s *Service) expiryTimer(ctx context.Context, id string) (time.Time, error) {
	sess, err := s.update(ctx, id, func(sess *Session, now time.Time) error {
		switch {
		case sess.Status.Ended():
			return errUnchanged
		case now.Before(sess.ExpiresAt):
			return errUnchanged
		}
		end(sess, StatusExpired, sess.ExpiresAt)
		return nil
	})
	switch {
	case proofline.ErrorCode(err) == proofline.ENOTFOUND:
		return time.Time{}, nil
	case errors.Is(err, errUnchanged):
		if !sess.Status.Ended() {
			return sess.ExpiresAt, nil
		}
	case err != nil:
		return time.Time{}, err
	default:
		s.log.LogAttrs(ctx, slog.LevelInfo, "verification session expired", slog.String("session_id", sess.ID))
	}
	s.notify(ctx, sess)
	return time.Time{}, nil
}

// errUnchanged tells update to write nothing; update returns it with the
// session as read.
var errUnchanged = errors.New("verification: unchanged")

// update reads session id, applies f and writes it back by compare-and-swap,
// again on a conflict. When f returns errUnchanged, nothing is written and
// the session is returned with it.
func (s *Service) update(ctx context.Context, id string, f func(*Session, time.Time) error) (*Session, error) {
	for range 8 {
		var sess Session
		ver, err := s.opts.Records.Get(ctx, id, &sess)
		if err != nil {
			if proofline.ErrorCode(err) == proofline.ENOTFOUND {
				return nil, notFound()
			}
			return nil, err
		}
		now := s.opts.Now()
		if err := f(&sess, now); err != nil {
			if errors.Is(err, errUnchanged) {
				return &sess, err
			}
			return nil, err
		}
		err = s.opts.Records.Replace(ctx, id, ver, &sess, s.ttl(&sess, now))
		if proofline.ErrorCode(err) == proofline.ECONFLICT {
			continue
		}
		if err != nil {
			return nil, err
		}
		return &sess, nil
	}
	return nil, proofline.Errorf(proofline.EUNAVAILABLE, "the session is busy; try again")
}

func (s *Service) load(ctx context.Context, id string) (*Session, error) {
	var sess Session
	if _, err := s.opts.Records.Get(ctx, id, &sess); err != nil {
		if proofline.ErrorCode(err) == proofline.ENOTFOUND {
			return nil, notFound()
		}
		return nil, err
	}
	return &sess, nil
}

// ttl keeps a session until Retention after it ends (or would expire). The
// demo's sessions, which nobody reads, last only as long as the person's
// browser session.
func (s *Service) ttl(sess *Session, now time.Time) time.Duration {
	retention := s.opts.Retention
	if sess.Tenant == "" {
		retention = time.Minute
	}
	if sess.Status.Ended() {
		return retention
	}
	return max(sess.ExpiresAt.Sub(now), 0) + retention
}

func notFound() error { return proofline.Errorf(proofline.ENOTFOUND, "verification session not found") }

func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return "vs_" + hex.EncodeToString(b[:])
}

func randomToken() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func tokenHash(token string) []byte {
	h := sha256.Sum256([]byte("proofline/verification-link/v1\x00" + token))
	return h[:]
}
