package web

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/proofline/proofline"
)

// The session is one cookie: the JSON of session, sealed with AES-256-GCM
// under a key derived from session_secret, with the cookie's purpose as
// additional data. GCM authenticates it, so a cookie the server did not make
// does not open and is treated as no session. It carries only the flow's
// state and the PII the next steps need (pii_from_doc, the applicant, the
// phone), about 1 KiB sealed, well under the 4 KiB cookie limit.

const (
	cookieName       = "proofline_session"
	secureCookieName = "__Host-proofline_session"
	// maxCookieBytes is the most a browser is guaranteed to keep for one
	// cookie (name, value and attributes).
	maxCookieBytes = 4000
	// sessionIdle is how long a session lives without a request.
	sessionIdle = time.Hour
	sessionAAD  = "proofline-web-session-v1"
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

// session is the sealed state of one person's flow.
type session struct {
	ID       string `json:"id"`
	Step     string `json:"step"`
	Liveness bool   `json:"liveness,omitempty"`
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
	// Locale is the session's language ("en", "es", "fr"): set by the
	// verification session that started the flow or by the language
	// switcher. Empty: the browser's Accept-Language decides.
	Locale string `json:"locale,omitempty"`
	// ReturnURL is where the person goes back to the service (the
	// verification session's return_url). Empty: the configured default.
	ReturnURL string `json:"return_url,omitempty"`
	// Exp is when the session expires (Unix seconds), renewed on each write.
	Exp int64 `json:"exp"`
}

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

// sessions seals and opens session cookies and derives CSRF tokens.
type sessions struct {
	aead    cipher.AEAD
	csrfKey []byte
	secure  bool
	now     func() time.Time
}

func newSessions(secret []byte, secure bool, now func() time.Time) (*sessions, error) {
	if len(secret) < 32 {
		return nil, errors.New("web: the session secret must be at least 32 bytes")
	}
	block, err := aes.NewCipher(derive(secret, "proofline-web-session-key-v1"))
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &sessions{aead: aead, csrfKey: derive(secret, "proofline-web-csrf-key-v1"), secure: secure, now: now}, nil
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

// load opens the request's session, or starts a new one. A missing,
// tampered or expired cookie is a new session (an expired one keeps its
// failures, so waiting out the idle time does not reset the attempt count).
func (ss *sessions) load(r *http.Request) *session {
	fresh := &session{ID: randomID(), Step: stepStart}
	c, err := r.Cookie(ss.name())
	if err != nil {
		return fresh
	}
	raw, err := base64.RawURLEncoding.DecodeString(c.Value)
	ns := ss.aead.NonceSize()
	if err != nil || len(raw) < ns+ss.aead.Overhead() {
		return fresh
	}
	plain, err := ss.aead.Open(nil, raw[:ns], raw[ns:], []byte(sessionAAD))
	if err != nil {
		return fresh
	}
	var s session
	if err := json.Unmarshal(plain, &s); err != nil || s.ID == "" {
		return fresh
	}
	if ss.now().Unix() > s.Exp {
		fresh.Failures = s.Failures
		return fresh
	}
	return &s
}

// save seals s into the response's cookie.
func (ss *sessions) save(w http.ResponseWriter, s *session) error {
	s.Exp = ss.now().Add(sessionIdle).Unix()
	plain, err := json.Marshal(s)
	if err != nil {
		return err
	}
	nonce := make([]byte, ss.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return err
	}
	value := base64.RawURLEncoding.EncodeToString(ss.aead.Seal(nonce, nonce, plain, []byte(sessionAAD)))
	c := &http.Cookie{
		Name: ss.name(), Value: value, Path: "/", HttpOnly: true, Secure: ss.secure,
		SameSite: http.SameSiteStrictMode,
	}
	if len(c.String()) > maxCookieBytes {
		return errors.New("web: session cookie over 4000 bytes")
	}
	http.SetCookie(w, c)
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

func randomID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
