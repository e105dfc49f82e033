package proofline

import (
	"crypto/ecdh"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
)

// A worker claims a job's data key from the IdP before proofing:
//
//	POST {callback_url}/claim   (ClaimPath)
//	X-API-AUTH-TOKEN: <per-kind token>
//	X-Proofline-Worker-Version: <build>
//	Content-Type: application/json
//	{"v":2,"public_key":"<X25519, 32 bytes>","proof":"<HMAC-SHA256, 32 bytes>"}
//
// public_key is a fresh X25519 key of the worker's, used for this claim only.
// proof is HMAC-SHA256 keyed by the envelope's claim token over
// "proofline/claim/v2" | kind | result_id | public_key (claimProofInput): the
// claim token itself never travels, so a hop that reads (or rewrites) the
// claim can neither replay it for another key nor swap in its own key.
//
// The IdP answers 200 once per job:
//
//	{"v":2,"public_key":"<IdP's ephemeral X25519 key>","wrapped_key":"<nonce | ciphertext | tag>"}
//
// wrapped_key is the data key sealed with AES-256-GCM under
// HKDF-SHA256(X25519(IdP key, worker key), salt = IdP public key | worker
// public key, info "proofline/claim/v2 wrap", 32 bytes), additional data
// binding kind, result_id and both public keys. Byte fields are standard
// base64 with padding. Every other answer is an error: 401 (token or proof),
// 404 (unknown result), 409 (already claimed or done), 410 (deadline passed),
// 400 (malformed), 413, 415.

// ClaimVersion is the "v" of claim requests and answers.
const ClaimVersion = 2

const (
	claimInfo     = "proofline/claim/v2"
	claimWrapInfo = "proofline/claim/v2 wrap"
)

// ClaimPath is the path a worker claims the data key of a job at.
func ClaimPath(k Kind, resultID string) string { return CallbackPath(k, resultID) + "/claim" }

// ClaimURL is the claim URL of a job whose callback URL is callbackURL.
func ClaimURL(callbackURL string) string { return strings.TrimRight(callbackURL, "/") + "/claim" }

// ClaimRequest is the body of a claim.
type ClaimRequest struct {
	V         int    `json:"v"`
	PublicKey []byte `json:"public_key"`
	Proof     []byte `json:"proof"`
}

// ClaimResponse is the IdP's answer to a claim.
type ClaimResponse struct {
	V          int    `json:"v"`
	PublicKey  []byte `json:"public_key"`
	WrappedKey []byte `json:"wrapped_key"`
}

// Claimant is one claim in progress on the worker's side: its ephemeral
// private key and what it claims.
type Claimant struct {
	priv     *ecdh.PrivateKey
	kind     Kind
	resultID string
	body     []byte
}

func (Claimant) String() string                  { return "Claimant" + Redacted }
func (Claimant) GoString() string                { return "proofline.Claimant" + Redacted }
func (c Claimant) Format(f fmt.State, verb rune) { _, _ = f.Write([]byte(c.String())) }
func (Claimant) LogValue() slog.Value            { return slog.StringValue(Redacted) }

// NewClaimant starts the claim of env's data key: a fresh X25519 key and
// the request body proving the envelope's claim token.
func NewClaimant(env *Envelope) (*Claimant, error) {
	if err := env.validateHeader(); err != nil {
		return nil, err
	}
	priv, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		return nil, WrapError(EINTERNAL, "claim key", err)
	}
	pub := priv.PublicKey().Bytes()
	body, err := json.Marshal(ClaimRequest{V: ClaimVersion, PublicKey: pub, Proof: claimProof(env.ClaimToken, env.Kind, env.ResultID, pub)})
	if err != nil {
		return nil, WrapError(EINTERNAL, "encode claim", err)
	}
	return &Claimant{priv: priv, kind: env.Kind, resultID: env.ResultID, body: body}, nil
}

// Body is the claim's request body.
func (c *Claimant) Body() []byte { return c.body }

// Open reads the IdP's 200 answer and unwraps the data key. An answer that
// is malformed or does not open (another job's, or not from the IdP) is
// EINVALID.
func (c *Claimant) Open(body []byte) ([]byte, error) {
	r, err := ParseClaimResponse(body)
	if err != nil {
		return nil, err
	}
	idpPub, err := ecdh.X25519().NewPublicKey(r.PublicKey)
	if err != nil {
		return nil, Errorf(EINVALID, "claim answer malformed")
	}
	key, err := wrapKey(c.priv, idpPub, idpPub.Bytes(), c.priv.PublicKey().Bytes())
	if err != nil {
		return nil, Errorf(EINVALID, "claim answer does not open")
	}
	defer clear(key)
	dataKey, err := openGCM(key, r.WrappedKey, wrapAAD(c.kind, c.resultID, idpPub.Bytes(), c.priv.PublicKey().Bytes()))
	if err != nil || len(dataKey) != KeySize {
		return nil, Errorf(EINVALID, "claim answer does not open")
	}
	return dataKey, nil
}

// ParseClaimRequest decodes a claim body strictly: exactly "v" (= 2),
// "public_key" (32 bytes) and "proof" (32 bytes). Anything else is EINVALID.
func ParseClaimRequest(body []byte) (*ClaimRequest, error) {
	var r ClaimRequest
	if err := decodeStrict(body, &r); err != nil {
		return nil, Errorf(EINVALID, "body is not a claim")
	}
	switch {
	case r.V != ClaimVersion:
		return nil, Errorf(EINVALID, "claim version %d not supported", r.V)
	case len(r.PublicKey) != 32:
		return nil, Errorf(EINVALID, "claim public_key must be 32 bytes")
	case len(r.Proof) != sha256.Size:
		return nil, Errorf(EINVALID, "claim proof must be 32 bytes")
	}
	return &r, nil
}

// ParseClaimResponse decodes a claim answer strictly: exactly "v" (= 2),
// "public_key" (32 bytes) and "wrapped_key" (60 bytes).
func ParseClaimResponse(body []byte) (*ClaimResponse, error) {
	var r ClaimResponse
	if err := decodeStrict(body, &r); err != nil {
		return nil, Errorf(EINVALID, "claim answer malformed")
	}
	if r.V != ClaimVersion || len(r.PublicKey) != 32 || len(r.WrappedKey) != 12+KeySize+16 {
		return nil, Errorf(EINVALID, "claim answer malformed")
	}
	return &r, nil
}

// Verify checks the request's proof against the job's claim token in
// constant time: EUNAUTHORIZED if it does not match.
func (r *ClaimRequest) Verify(kind Kind, resultID string, claimToken []byte) error {
	if len(claimToken) != KeySize || !hmac.Equal(r.Proof, claimProof(claimToken, kind, resultID, r.PublicKey)) {
		return Errorf(EUNAUTHORIZED, "invalid claim proof")
	}
	return nil
}

// AnswerClaim wraps dataKey to the request's public key under a fresh IdP
// key and returns the 200 answer's body. Verify the request first. A server
// answers with ClaimKeys.Answer instead, which reuses its key pair for a few
// seconds.
func AnswerClaim(kind Kind, resultID string, r *ClaimRequest, dataKey []byte) ([]byte, error) {
	priv, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		return nil, WrapError(EINTERNAL, "claim key", err)
	}
	return answerClaim(priv, kind, resultID, r, dataKey)
}

// answerClaim wraps dataKey to the request's public key under the IdP key
// priv.
func answerClaim(priv *ecdh.PrivateKey, kind Kind, resultID string, r *ClaimRequest, dataKey []byte) ([]byte, error) {
	workerPub, err := ecdh.X25519().NewPublicKey(r.PublicKey)
	if err != nil {
		return nil, Errorf(EINVALID, "claim public_key malformed")
	}
	idpPub := priv.PublicKey().Bytes()
	key, err := wrapKey(priv, workerPub, idpPub, workerPub.Bytes())
	if err != nil {
		// A low-order point: X25519 yields all zeros.
		return nil, Errorf(EINVALID, "claim public_key unusable")
	}
	defer clear(key)
	wrapped, err := sealGCM(key, dataKey, wrapAAD(kind, resultID, idpPub, workerPub.Bytes()))
	if err != nil {
		return nil, WrapError(EINTERNAL, "wrap data key", err)
	}
	return json.Marshal(ClaimResponse{V: ClaimVersion, PublicKey: idpPub, WrappedKey: wrapped})
}

// claimProofInput is "proofline/claim/v2" followed by kind, result_id and the
// public key, each as 0x00, its decimal length, ':' and its bytes.
func claimProof(token []byte, kind Kind, resultID string, pub []byte) []byte {
	m := hmac.New(sha256.New, token)
	b := append(make([]byte, 0, 128), claimInfo...)
	for _, f := range []string{string(kind), resultID, string(pub)} {
		b = appendField(b, f)
	}
	m.Write(b)
	return m.Sum(nil)
}

func wrapKey(priv *ecdh.PrivateKey, peer *ecdh.PublicKey, idpPub, workerPub []byte) ([]byte, error) {
	shared, err := priv.ECDH(peer)
	if err != nil {
		return nil, err
	}
	defer clear(shared)
	salt := append(append(make([]byte, 0, 64), idpPub...), workerPub...)
	return hkdf.Key(sha256.New, shared, salt, claimWrapInfo, KeySize)
}

func wrapAAD(kind Kind, resultID string, idpPub, workerPub []byte) []byte {
	b := append(make([]byte, 0, 160), claimWrapInfo...)
	for _, f := range []string{string(kind), resultID, string(idpPub), string(workerPub)} {
		b = appendField(b, f)
	}
	return b
}
