package proofline

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"strconv"
	"time"
)

// EnvelopeVersion is the version of the job envelope this build writes.
const EnvelopeVersion = 1

// Sealer seals and opens data with authenticated encryption. The seal package
// provides the local key ring; other backends (KMS) implement the same.
type Sealer interface {
	// Seal encrypts plaintext and binds it to aad.
	Seal(plaintext, aad []byte) ([]byte, error)
	// Open decrypts what Seal produced with the same aad.
	Open(sealed, aad []byte) ([]byte, error)
}

// Envelope is the unit of work handed to a worker, identical in every dispatch
// mode. Its header is plain routing data without PII; everything personal or
// secret travels in Sealed, bound by AAD to every header field.
type Envelope struct {
	Version     int       `json:"v"`
	Kind        Kind      `json:"kind"`
	ResultID    string    `json:"result_id"`
	CallbackURL string    `json:"callback_url"`
	Deadline    time.Time `json:"deadline"`
	// TraceID identifies the attempt across every process (32 hex digits,
	// a W3C trace id); SpanID is the span that started it, when traced.
	TraceID string `json:"trace_id"`
	SpanID  string `json:"span_id,omitempty"`
	// WorkerVersion is the worker build the IdP dispatched to (the pinned git ref).
	WorkerVersion string `json:"worker_version"`
	// Sealed is the sealed JSON of a Payload.
	Sealed []byte `json:"sealed"`
}

// LogValue lists the header only.
func (e *Envelope) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("kind", string(e.Kind)),
		slog.String("result_id", e.ResultID),
		slog.String("trace_id", e.TraceID),
		slog.Time("deadline", e.Deadline),
	)
}

// Payload is the sealed part of an envelope.
type Payload struct {
	// CallbackSecret is the per-job one-time secret the worker proves in its
	// callback. The IdP keeps only its hash.
	CallbackSecret []byte          `json:"callback_secret"`
	Document       *DocumentArgs   `json:"document,omitempty"`
	Resolution     *ResolutionArgs `json:"resolution,omitempty"`
	Address        *AddressArgs    `json:"address,omitempty"`
}

func (Payload) String() string                  { return "Payload" + Redacted }
func (Payload) GoString() string                { return "proofline.Payload" + Redacted }
func (p Payload) Format(f fmt.State, verb rune) { _, _ = f.Write([]byte(p.String())) }
func (Payload) LogValue() slog.Value            { return slog.StringValue(Redacted) }

// DocumentArgs are the arguments of a document job.
type DocumentArgs struct {
	// EncryptionKey is the AES-256 key the images were encrypted with.
	EncryptionKey []byte   `json:"encryption_key"`
	Front         ImageRef `json:"front"`
	Back          ImageRef `json:"back"`
	// Selfie is set when liveness checking is enabled.
	Selfie                  *ImageRef `json:"selfie,omitempty"`
	LivenessCheckingEnabled bool      `json:"liveness_checking_enabled"`
	// AADBinding: each image was encrypted with its object key
	// ("{capture_id}/{side}") as AES-GCM additional data, so a front cannot
	// be swapped for a back or moved to another capture. The browser flow
	// always binds; API callers opt in.
	AADBinding bool `json:"aad_binding,omitempty"`
	// PersonRef is the IdP's reference of the person ("<uuid_prefix>:<uuid>",
	// not PII), sent to the document vendor as its request reference; empty
	// means a random one.
	PersonRef string `json:"person_ref,omitempty"`
}

// ImageRef names one encrypted image in the blob store.
type ImageRef struct {
	// Key is the object key within the configured store.
	Key string `json:"key"`
	// IV is the 12-byte AES-GCM nonce the image was encrypted with.
	IV []byte `json:"iv"`
}

// ResolutionArgs are the arguments of a resolution job.
type ResolutionArgs struct {
	Applicant          Applicant `json:"applicant"`
	ShouldProofStateID bool      `json:"should_proof_state_id"`
	DOBYearOnly        bool      `json:"dob_year_only"`
}

// AddressArgs are the arguments of an address (phone) job.
type AddressArgs struct {
	Applicant Applicant `json:"applicant"`
}

// SealEnvelope seals p into a new envelope with header h (h.Sealed is ignored).
func SealEnvelope(s Sealer, h Envelope, p *Payload) (*Envelope, error) {
	h.Version = EnvelopeVersion
	h.Sealed = nil
	if err := h.validateHeader(); err != nil {
		return nil, err
	}
	if err := p.validateFor(h.Kind); err != nil {
		return nil, err
	}
	plain, err := p.marshalRevealed()
	if err != nil {
		return nil, WrapError(EINTERNAL, "encode payload", err)
	}
	sealed, err := s.Seal(plain, h.aad())
	clear(plain)
	if err != nil {
		return nil, WrapError(EINTERNAL, "seal payload", err)
	}
	h.Sealed = sealed
	return &h, nil
}

// Open checks the header and opens the payload. A payload moved to another
// header (other kind, result_id, callback URL or deadline) does not open.
func (e *Envelope) Open(s Sealer) (*Payload, error) {
	if err := e.validateHeader(); err != nil {
		return nil, err
	}
	plain, err := s.Open(e.Sealed, e.aad())
	if err != nil {
		return nil, WrapError(EINVALID, "envelope does not open", err)
	}
	defer clear(plain)
	var p Payload
	if err := json.Unmarshal(plain, &p); err != nil {
		return nil, WrapError(EINVALID, "envelope payload malformed", nil)
	}
	if err := p.validateFor(e.Kind); err != nil {
		return nil, err
	}
	return &p, nil
}

// ParseEnvelope decodes an envelope from JSON and checks its header.
func ParseEnvelope(data []byte) (*Envelope, error) {
	var e Envelope
	if err := json.Unmarshal(data, &e); err != nil {
		return nil, Errorf(EINVALID, "envelope malformed")
	}
	if err := e.validateHeader(); err != nil {
		return nil, err
	}
	return &e, nil
}

func (e *Envelope) validateHeader() error {
	switch {
	case e.Version != EnvelopeVersion:
		return Errorf(EINVALID, "envelope version %d not supported", e.Version)
	case !e.Kind.Valid():
		return Errorf(EINVALID, "envelope kind unknown")
	case !ValidResultID(e.ResultID):
		return Errorf(EINVALID, "envelope result_id malformed")
	case e.CallbackURL == "":
		return Errorf(EINVALID, "envelope callback_url missing")
	case e.Deadline.IsZero():
		return Errorf(EINVALID, "envelope deadline missing")
	}
	return nil
}

// aad binds the sealed payload to every header field.
func (e *Envelope) aad() []byte {
	b := make([]byte, 0, 160)
	b = append(b, "proofline/envelope/v"...)
	b = strconv.AppendInt(b, int64(e.Version), 10)
	for _, f := range []string{string(e.Kind), e.ResultID, e.CallbackURL, e.TraceID, e.SpanID, e.WorkerVersion} {
		b = append(b, 0)
		b = strconv.AppendInt(b, int64(len(f)), 10)
		b = append(b, ':')
		b = append(b, f...)
	}
	b = append(b, 0)
	b = strconv.AppendInt(b, e.Deadline.UnixNano(), 10)
	return b
}

func (p *Payload) validateFor(k Kind) error {
	if p == nil {
		return Errorf(EINVALID, "envelope payload missing")
	}
	if len(p.CallbackSecret) < 16 {
		return Errorf(EINVALID, "envelope callback secret missing")
	}
	ok := false
	switch k {
	case KindDocument:
		ok = p.Document != nil && p.Resolution == nil && p.Address == nil
	case KindResolution:
		ok = p.Resolution != nil && p.Document == nil && p.Address == nil
	case KindAddress:
		ok = p.Address != nil && p.Document == nil && p.Resolution == nil
	}
	if !ok {
		return Errorf(EINVALID, "envelope payload does not match kind %s", k)
	}
	return nil
}

// NewResultID returns a fresh random result id (a version 4 UUID).
func NewResultID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	var s [36]byte
	hex.Encode(s[0:8], b[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], b[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], b[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], b[8:10])
	s[23] = '-'
	hex.Encode(s[24:], b[10:])
	return string(s[:])
}

// ValidResultID reports whether id has the form NewResultID produces
// (lower-case hex UUID). Anything else is never looked up.
func ValidResultID(id string) bool {
	if len(id) != 36 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
				return false
			}
		}
	}
	return true
}
