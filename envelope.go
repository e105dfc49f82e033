package proofline

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"
)

// EnvelopeVersion is the version of the job envelope this build writes and
// reads. Version 2 seals the payload under a fresh per-job data key that the
// worker claims from the IdP (see Claimant); version 1 envelopes (sealed
// with a long-lived key ring) are refused.
const EnvelopeVersion = 2

// KeySize is the size of every per-job key and token: AES-256 data keys,
// claim tokens and callback secrets.
const KeySize = 32

// Sealer seals and opens data with authenticated encryption under a key ring
// (package seal). The IdP seals its stored records with one; envelopes and
// callbacks use per-job keys instead.
type Sealer interface {
	// Seal encrypts plaintext and binds it to aad.
	Seal(plaintext, aad []byte) ([]byte, error)
	// Open decrypts what Seal produced with the same aad.
	Open(sealed, aad []byte) ([]byte, error)
}

// Envelope is the unit of work handed to a worker, identical in every dispatch
// mode. Its header is plain routing data without PII, bound as additional
// data to Sealed, which holds everything personal or secret under the job's
// own data key. The data key is not in the envelope: the worker claims it
// from the IdP (once per job, before the deadline), and when the job's record
// ends the key is gone, so every copy of the envelope anywhere becomes
// unreadable with every key the deployment holds.
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
	// ClaimToken (32 bytes) lets the worker claim the data key: the worker
	// proves it with an HMAC over its ephemeral public key and never sends
	// it. The claim URL is ClaimURL(CallbackURL).
	ClaimToken []byte `json:"claim_token"`
	// Sealed is the JSON of a Payload under the data key (AES-256-GCM):
	// nonce (12) | ciphertext | tag (16).
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

// JobKeys are the per-job secrets SealEnvelope makes. The IdP keeps them only
// in the job's sealed pending record: DataKey until the claim, the others
// until the outcome.
type JobKeys struct {
	// DataKey opens the envelope's payload; released once, at claim.
	DataKey []byte
	// ClaimToken is the envelope's claim token.
	ClaimToken []byte
	// CallbackSecret is the payload's callback secret: the result comes back
	// sealed under a key derived from it.
	CallbackSecret []byte
}

func (JobKeys) String() string                  { return "JobKeys" + Redacted }
func (JobKeys) GoString() string                { return "proofline.JobKeys" + Redacted }
func (k JobKeys) Format(f fmt.State, verb rune) { _, _ = f.Write([]byte(k.String())) }
func (JobKeys) LogValue() slog.Value            { return slog.StringValue(Redacted) }

// Payload is the sealed part of an envelope.
type Payload struct {
	// CallbackSecret is the per-job secret the worker seals its result
	// under (a key derived from it); it never travels by itself. SealEnvelope
	// sets it.
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

// SealEnvelope makes the per-job keys, sets p.CallbackSecret, and seals p
// under the fresh data key into a new envelope with header h (h.Version,
// h.ClaimToken and h.Sealed are set here). The caller keeps the returned keys
// in the job's sealed pending record and nowhere else.
func SealEnvelope(h Envelope, p *Payload) (*Envelope, *JobKeys, error) {
	keys := &JobKeys{DataKey: randomKey(), ClaimToken: randomKey(), CallbackSecret: randomKey()}
	h.Version = EnvelopeVersion
	h.ClaimToken = keys.ClaimToken
	h.Sealed = nil
	if err := h.validateHeader(); err != nil {
		return nil, nil, err
	}
	if p != nil {
		p.CallbackSecret = keys.CallbackSecret
	}
	if err := p.validateFor(h.Kind); err != nil {
		return nil, nil, err
	}
	plain, err := p.marshalRevealed()
	if err != nil {
		return nil, nil, WrapError(EINTERNAL, "encode payload", err)
	}
	h.Sealed, err = sealGCM(keys.DataKey, plain, h.aad())
	clear(plain)
	if err != nil {
		return nil, nil, WrapError(EINTERNAL, "seal payload", err)
	}
	return &h, keys, nil
}

// Open checks the header and opens the payload with the job's data key. A
// payload moved to another header (other kind, result_id, callback URL,
// deadline, claim token, ...) does not open.
func (e *Envelope) Open(dataKey []byte) (*Payload, error) {
	if err := e.validateHeader(); err != nil {
		return nil, err
	}
	plain, err := openGCM(dataKey, e.Sealed, e.aad())
	if err != nil {
		return nil, Errorf(EINVALID, "envelope does not open")
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
	case len(e.ClaimToken) != KeySize:
		return Errorf(EINVALID, "envelope claim token malformed")
	}
	return nil
}

// aad binds the sealed payload to every header field.
func (e *Envelope) aad() []byte {
	b := make([]byte, 0, 160)
	b = append(b, "proofline/envelope/v"...)
	b = strconv.AppendInt(b, int64(e.Version), 10)
	for _, f := range []string{string(e.Kind), e.ResultID, e.CallbackURL, e.TraceID, e.SpanID, e.WorkerVersion, string(e.ClaimToken)} {
		b = appendField(b, f)
	}
	b = append(b, 0)
	b = strconv.AppendInt(b, e.Deadline.UnixNano(), 10)
	return b
}

func (p *Payload) validateFor(k Kind) error {
	if p == nil {
		return Errorf(EINVALID, "envelope payload missing")
	}
	if len(p.CallbackSecret) != KeySize {
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

// appendField appends 0, len(f), ':' and f: fields so joined cannot be
// shifted into one another.
func appendField(b []byte, f string) []byte {
	b = append(b, 0)
	b = strconv.AppendInt(b, int64(len(f)), 10)
	b = append(b, ':')
	return append(b, f...)
}

func randomKey() []byte {
	k := make([]byte, KeySize)
	_, _ = rand.Read(k) // never fails (crypto/rand)
	return k
}

// sealGCM seals plain under an AES-256 key with a fresh random nonce:
// nonce (12) | ciphertext | tag (16).
func sealGCM(key, plain, aad []byte) ([]byte, error) {
	aead, err := newGCM(key)
	if err != nil {
		return nil, err
	}
	out := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plain)+aead.Overhead())
	_, _ = rand.Read(out)
	return aead.Seal(out, out[:aead.NonceSize()], plain, aad), nil
}

// openGCM is the inverse of sealGCM.
func openGCM(key, sealed, aad []byte) ([]byte, error) {
	aead, err := newGCM(key)
	if err != nil {
		return nil, err
	}
	if len(sealed) < aead.NonceSize()+aead.Overhead() {
		return nil, errors.New("sealed data too short")
	}
	n := aead.NonceSize()
	return aead.Open(nil, sealed[:n], sealed[n:], aad)
}

func newGCM(key []byte) (cipher.AEAD, error) {
	if len(key) != KeySize {
		return nil, errors.New("key must be 32 bytes")
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
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
