package web

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/proofline/proofline"
	"github.com/proofline/proofline/proofing/verification"
	"github.com/proofline/proofline/resultstore"
)

// The session lives on the server: its state (the flow's step, the pending
// attempt, and the PII the next steps need: pii_from_doc, the applicant, the
// phone) is a record in the result store (memory or Redis), sealed under the
// session key ring (session_secret) and bound to its id. The cookie holds
// only the id: 32 random bytes. A session is revoked (its record deleted)
// on "Start over", when the flow ends, and when it is bound to a new
// verification session; it has an absolute lifetime (the verification
// session's expires_at, web_session_lifetime_seconds after it began), after
// which its record is gone and the cookie names nothing.
//
// A session on the start page (nothing begun yet) is not stored: loading the
// start page costs the store nothing. Its id only keys the start form's CSRF
// token; starting mints a new id (no session fixation).

const (
	cookieName       = "proofline_session"
	secureCookieName = "__Host-proofline_session"
)

// Flow steps.
const (
	stepStart    = "start"
	stepDocument = "document"
	stepInfo     = "info"
	stepPhone    = "phone"
	stepDone     = "done"
)

// Screens shown instead of a step's form.
const (
	screenTimeout = "timeout"
	screenError   = "error"
	// screenLimit: the shared attempt counter (per person or per IP)
	// refused a start.
	screenLimit = "limit"
	// screenBusy: the bounds on photo uploads (per session, per IP)
	// refused a new capture.
	screenBusy = "busy"
)

// session is the stored (sealed) state of one person's flow.
type session struct {
	ID string `json:"id"`
	// VS is the verification session this browser session works on, with
	// what the pages need of it: its tenant (every service call runs under
	// it), the person (attempt limits count per person_id), its steps,
	// where the browser returns when it ends ("" for the demo) and the
	// person's language.
	VS        string              `json:"vs,omitempty"`
	Tenant    string              `json:"tenant,omitempty"`
	PersonID  string              `json:"person_id,omitempty"`
	Steps     []verification.Step `json:"steps,omitempty"`
	ReturnURL string              `json:"return_url,omitempty"`
	Locale    string              `json:"locale,omitempty"`
	Step      string              `json:"step"`
	Liveness  bool                `json:"liveness,omitempty"`
	// CaptureID is the document capture whose upload URLs the document
	// page handed out; only it may be submitted.
	CaptureID string `json:"capture,omitempty"`
	// CaptureSlots are the hashed limiter keys holding the capture's
	// upload slots (per session, per IP), released when it ends.
	CaptureSlots []string `json:"capture_slots,omitempty"`
	// Pending is the attempt being waited for; its result_id is the only
	// one this session may read.
	Pending *pending `json:"pending,omitempty"`
	// Screen is timeout or error while that screen is shown.
	Screen string `json:"screen,omitempty"`
	// Errors are the field errors of the last failed attempt (messages
	// never hold PII), shown once by the step's form.
	Errors map[string][]string `json:"errors,omitempty"`
	// Failures are the Unix times of failed attempts (a vendor said no).
	Failures []int64 `json:"failures,omitempty"`
	// Doc is pii_from_doc, kept only here (sealed): the names, date of birth
	// and state-ID fields proofed are always these, never the form's. Person
	// is what was proofed: Doc's identity with the person's address and SSN
	// (and, later, phone).
	Doc    *person `json:"doc,omitempty"`
	Person *person `json:"person,omitempty"`
	// Exp is when the session ends (Unix seconds): its absolute lifetime.
	Exp int64 `json:"exp"`

	// As loaded: whether it is stored, its version and its sealed JSON, so
	// that an unchanged session is not written again.
	stored bool
	ver    resultstore.Version
	loaded []byte
	// over: its lifetime ended; it is kept (endGrace) only to send the
	// person back to the IdP.
	over bool
}

// endGrace keeps a hosted session's record past its lifetime, so that a
// person who comes back late is sent back to the IdP rather than to a fresh
// start page.
const endGrace = 10 * time.Minute

// locale is the session's language, or "" to follow Accept-Language.
func (s *session) locale() string { return s.Locale }

// setLocale records the language the person chose.
func (s *session) setLocale(code string) { s.Locale = code }

// returnURL is the verification session's return_url, or "".
func (s *session) returnURL() string { return s.ReturnURL }

type pending struct {
	Kind     proofline.Kind `json:"kind"`
	ResultID string         `json:"result_id"`
	Deadline time.Time      `json:"deadline"`
}

// person is the applicant as the session carries it. Its fields are plain
// strings so the sealed JSON holds values (PII marshals as [REDACTED]); the
// type itself prints as [REDACTED] everywhere else.
type person struct {
	FirstName           string `json:"first_name,omitempty"`
	MiddleName          string `json:"middle_name,omitempty"`
	LastName            string `json:"last_name,omitempty"`
	DOB                 string `json:"dob,omitempty"`
	SSN                 string `json:"ssn,omitempty"`
	Address1            string `json:"address1,omitempty"`
	Address2            string `json:"address2,omitempty"`
	City                string `json:"city,omitempty"`
	State               string `json:"state,omitempty"`
	Zipcode             string `json:"zipcode,omitempty"`
	Phone               string `json:"phone,omitempty"`
	StateIDNumber       string `json:"state_id_number,omitempty"`
	StateIDJurisdiction string `json:"state_id_jurisdiction,omitempty"`
	StateIDType         string `json:"state_id_type,omitempty"`
	// Optional facts of the ID, sent to the state-ID check when known.
	NameSuffix        string `json:"name_suffix,omitempty"`
	Sex               string `json:"sex,omitempty"`
	Height            string `json:"height,omitempty"`
	StateIDIssued     string `json:"state_id_issued,omitempty"`
	StateIDExpiration string `json:"state_id_expiration,omitempty"`
}

func (person) String() string              { return "person" + proofline.Redacted }
func (person) GoString() string            { return "web.person" + proofline.Redacted }
func (person) Format(f fmt.State, _ rune)  { _, _ = f.Write([]byte("person" + proofline.Redacted)) }
func (person) LogValue() slog.Value        { return slog.StringValue(proofline.Redacted) }
func (session) LogValue() slog.Value       { return slog.StringValue("session" + proofline.Redacted) }
func (session) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte("session" + proofline.Redacted)) }
func (p *person) applicant() proofline.Applicant {
	return proofline.Applicant{
		FirstName: proofline.PII(p.FirstName), MiddleName: proofline.PII(p.MiddleName), LastName: proofline.PII(p.LastName),
		DOB: proofline.PII(p.DOB), SSN: proofline.PII(p.SSN), Address1: proofline.PII(p.Address1),
		Address2: proofline.PII(p.Address2), City: proofline.PII(p.City), State: proofline.PII(p.State),
		Zipcode: proofline.PII(p.Zipcode), Phone: proofline.PII(p.Phone), StateIDNumber: proofline.PII(p.StateIDNumber),
		StateIDJurisdiction: proofline.PII(p.StateIDJurisdiction), StateIDType: proofline.PII(p.StateIDType),
		NameSuffix: proofline.PII(p.NameSuffix), Sex: proofline.PII(p.Sex), Height: proofline.PII(p.Height),
		StateIDIssued: proofline.PII(p.StateIDIssued), StateIDExpiration: proofline.PII(p.StateIDExpiration),
	}
}

// documentPII is the pii_from_doc the session keeps in Doc.
func (p *person) documentPII() *proofline.DocumentPII {
	return &proofline.DocumentPII{
		FirstName: proofline.PII(p.FirstName), MiddleName: proofline.PII(p.MiddleName), LastName: proofline.PII(p.LastName),
		Address1: proofline.PII(p.Address1), Address2: proofline.PII(p.Address2), City: proofline.PII(p.City),
		State: proofline.PII(p.State), Zipcode: proofline.PII(p.Zipcode), DOB: proofline.PII(p.DOB),
		StateIDNumber: proofline.PII(p.StateIDNumber), StateIDJurisdiction: proofline.PII(p.StateIDJurisdiction),
		StateIDType: proofline.PII(p.StateIDType), NameSuffix: proofline.PII(p.NameSuffix), Sex: proofline.PII(p.Sex),
		Height: proofline.PII(p.Height), StateIDIssued: proofline.PII(p.StateIDIssued), StateIDExpiration: proofline.PII(p.StateIDExpiration),
	}
}

func personOf(a proofline.Applicant) *person {
	return &person{
		FirstName: a.FirstName.Reveal(), MiddleName: a.MiddleName.Reveal(), LastName: a.LastName.Reveal(),
		DOB: a.DOB.Reveal(), SSN: a.SSN.Reveal(), Address1: a.Address1.Reveal(), Address2: a.Address2.Reveal(),
		City: a.City.Reveal(), State: a.State.Reveal(), Zipcode: a.Zipcode.Reveal(), Phone: a.Phone.Reveal(),
		StateIDNumber: a.StateIDNumber.Reveal(), StateIDJurisdiction: a.StateIDJurisdiction.Reveal(),
		StateIDType: a.StateIDType.Reveal(), NameSuffix: a.NameSuffix.Reveal(), Sex: a.Sex.Reveal(),
		Height: a.Height.Reveal(), StateIDIssued: a.StateIDIssued.Reveal(), StateIDExpiration: a.StateIDExpiration.Reveal(),
	}
}

func personOfDoc(d *proofline.DocumentPII) *person {
	if d == nil {
		return nil
	}
	return &person{
		FirstName: d.FirstName.Reveal(), MiddleName: d.MiddleName.Reveal(), LastName: d.LastName.Reveal(),
		DOB: d.DOB.Reveal(), Address1: d.Address1.Reveal(), Address2: d.Address2.Reveal(), City: d.City.Reveal(),
		State: d.State.Reveal(), Zipcode: d.Zipcode.Reveal(), StateIDNumber: d.StateIDNumber.Reveal(),
		StateIDJurisdiction: d.StateIDJurisdiction.Reveal(), StateIDType: d.StateIDType.Reveal(),
		NameSuffix: d.NameSuffix.Reveal(), Sex: d.Sex.Reveal(), Height: d.Height.Reveal(),
		StateIDIssued: d.StateIDIssued.Reveal(), StateIDExpiration: d.StateIDExpiration.Reveal(),
	}
}

// failuresSince drops failures older than the window and returns how many remain.
func (s *session) failuresSince(now time.Time, window time.Duration) int {
	cut := now.Add(-window).Unix()
	kept := s.Failures[:0]
	for _, t := range s.Failures {
		if t > cut {
			kept = append(kept, t)
		}
	}
	s.Failures = kept
	return len(kept)
}

// sessions keeps the browser sessions in the store and derives CSRF tokens.
type sessions struct {
	store   *resultstore.Records
	csrfKey []byte
	secure  bool
	now     func() time.Time
}

func newSessions(store *resultstore.Records, secret []byte, secure bool, now func() time.Time) (*sessions, error) {
	if len(secret) < 32 {
		return nil, errors.New("web: the session secret must be at least 32 bytes")
	}
	if store == nil {
		return nil, errors.New("web: a session store is required")
	}
	return &sessions{store: store, csrfKey: derive(secret, "proofline-web-csrf-key-v1"), secure: secure, now: now}, nil
}

func derive(secret []byte, purpose string) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(purpose))
	return m.Sum(nil)
}

func (ss *sessions) name() string {
	if ss.secure {
		return secureCookieName
	}
	return cookieName
}

// fresh is a new session on the start page, not stored.
func (ss *sessions) fresh() *session { return &session{ID: randomSessionID(), Step: stepStart} }

// load returns the request's session: the stored one its cookie names, or a
// fresh one when the cookie is missing, names nothing (revoked, ended,
// never stored) or the session's lifetime is over. An error only when the
// store cannot be read.
func (ss *sessions) load(r *http.Request) (*session, error) {
	c, err := r.Cookie(ss.name())
	if err != nil || !resultstore.ValidRecordID(c.Value) || len(c.Value) != sessionIDLen {
		return ss.fresh(), nil
	}
	var s session
	ver, err := ss.store.Get(r.Context(), c.Value, &s)
	switch {
	case proofline.ErrorCode(err) == proofline.ENOTFOUND:
		// Never stored (the start page) or gone: keep the id, so that the
		// start form's CSRF token still matches.
		return &session{ID: c.Value, Step: stepStart}, nil
	case err != nil:
		return nil, err
	case s.ID != c.Value:
		return ss.fresh(), nil
	case ss.now().Unix() >= s.Exp && s.ReturnURL == "":
		return ss.fresh(), nil
	}
	s.stored, s.ver = true, ver
	s.over = ss.now().Unix() >= s.Exp
	s.loaded, _ = json.Marshal(&s)
	return &s, nil
}

// errSessionChanged: another request changed the session since it was
// loaded (two tabs); the page reloads.
var errSessionChanged = errors.New("web: the session changed meanwhile")

// save stores s (unless it is on the start page with nothing begun, or
// unchanged) and sets its cookie.
func (ss *sessions) save(ctx context.Context, w http.ResponseWriter, s *session) error {
	if s.VS != "" {
		plain, err := json.Marshal(s)
		if err != nil {
			return err
		}
		ttl := time.Unix(s.Exp, 0).Sub(ss.now())
		if s.ReturnURL != "" {
			ttl += endGrace
		}
		switch {
		case ttl <= 0:
			return errSessionChanged
		case !s.stored:
			err = ss.store.Create(ctx, s.ID, s, ttl)
		case !bytes.Equal(plain, s.loaded):
			err = ss.store.Replace(ctx, s.ID, s.ver, s, ttl)
			if proofline.ErrorCode(err) == proofline.ECONFLICT || proofline.ErrorCode(err) == proofline.ENOTFOUND {
				return errSessionChanged
			}
		}
		clear(plain)
		if err != nil {
			return err
		}
	}
	http.SetCookie(w, &http.Cookie{
		Name: ss.name(), Value: s.ID, Path: "/", HttpOnly: true, Secure: ss.secure, SameSite: http.SameSiteStrictMode,
	})
	return nil
}

// revoke deletes s from the store: its id names nothing from now on.
func (ss *sessions) revoke(ctx context.Context, s *session) error {
	if !s.stored {
		return nil
	}
	if err := ss.store.Delete(ctx, s.ID); err != nil && proofline.ErrorCode(err) != proofline.ENOTFOUND {
		return err
	}
	return nil
}

// csrf is the CSRF token of s: an HMAC of its id, so it needs no storage.
func (ss *sessions) csrf(s *session) string {
	m := hmac.New(sha256.New, ss.csrfKey)
	m.Write([]byte(s.ID))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func (ss *sessions) validCSRF(s *session, token string) bool {
	return hmac.Equal([]byte(ss.csrf(s)), []byte(token))
}

// sessionIDLen is the length of a session id: 32 random bytes, base64url.
const sessionIDLen = 43

func randomSessionID() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}
