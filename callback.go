package proofline

import (
	"bytes"
	"crypto/hkdf"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"io"
	"strconv"
	"time"
)

// Headers of the worker → IdP requests (callback and claim).
// X-API-AUTH-TOKEN is the original design's per-kind shared token.
const (
	HeaderAuthToken     = "X-API-AUTH-TOKEN"
	HeaderTimestamp     = "X-Proofline-Timestamp"
	HeaderWorkerVersion = "X-Proofline-Worker-Version"
)

// CallbackVersion is the "v" of a sealed callback body.
const CallbackVersion = 2

// callbackInfo is the HKDF info of the callback key and the prefix of its AAD.
const callbackInfo = "proofline/callback/v2"

// CallbackPath is the path a worker posts a result of kind k to.
func CallbackPath(k Kind, resultID string) string {
	return "/api/proofing_results/" + string(k) + "/" + resultID
}

// SealedCallback is the body of a callback: the {"<kind>_result": {...}}
// object sealed to the IdP. Sealed is AES-256-GCM under
// HKDF-SHA256(callback secret, no salt, info "proofline/callback/v2", 32
// bytes): nonce (12) | ciphertext | tag (16); the additional data binds kind,
// result_id, method, path and the X-Proofline-Timestamp value (see
// callbackAAD). In JSON, Sealed is standard base64 with padding.
type SealedCallback struct {
	V      int    `json:"v"`
	Sealed []byte `json:"sealed"`
}

// SealCallback seals result (the JSON of {"<kind>_result": {...}}) under a
// key derived from the job's callback secret, bound to kind, resultID,
// method, path and ts (Unix seconds, sent as X-Proofline-Timestamp), and
// returns the request body.
func SealCallback(secret []byte, kind Kind, resultID, method, path string, ts time.Time, result []byte) ([]byte, error) {
	key, err := callbackKey(secret)
	if err != nil {
		return nil, err
	}
	defer clear(key)
	sealed, err := sealGCM(key, result, callbackAAD(kind, resultID, method, path, strconv.FormatInt(ts.Unix(), 10)))
	if err != nil {
		return nil, WrapError(EINTERNAL, "seal callback", err)
	}
	return json.Marshal(SealedCallback{V: CallbackVersion, Sealed: sealed})
}

// ParseSealedCallback decodes a callback body strictly: one JSON object with
// exactly "v" (= 2) and "sealed" (base64, at least a nonce and a tag long).
// Anything else is EINVALID.
func ParseSealedCallback(body []byte) (*SealedCallback, error) {
	var c SealedCallback
	if err := decodeStrict(body, &c); err != nil {
		return nil, Errorf(EINVALID, "body is not a sealed callback")
	}
	switch {
	case c.V != CallbackVersion:
		return nil, Errorf(EINVALID, "sealed callback version %d not supported", c.V)
	case len(c.Sealed) < 12+16:
		return nil, Errorf(EINVALID, "sealed callback too short")
	}
	return &c, nil
}

// OpenCallback checks the timestamp (within skew of now) and opens a
// callback body with the job's callback secret, returning the plaintext
// {"<kind>_result": {...}} JSON. A malformed body is EINVALID; a bad or stale
// timestamp, or a body that does not open (other job, other path, rewritten,
// forged), is EUNAUTHORIZED.
func OpenCallback(secret []byte, kind Kind, resultID, method, path, timestamp string, now time.Time, skew time.Duration, body []byte) ([]byte, error) {
	ts, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil || len(timestamp) > 12 || strconv.FormatInt(ts, 10) != timestamp {
		return nil, Errorf(EUNAUTHORIZED, "invalid timestamp")
	}
	if d := now.Sub(time.Unix(ts, 0)); d > skew || d < -skew {
		return nil, Errorf(EUNAUTHORIZED, "stale timestamp")
	}
	c, err := ParseSealedCallback(body)
	if err != nil {
		return nil, err
	}
	key, err := callbackKey(secret)
	if err != nil {
		return nil, Errorf(EUNAUTHORIZED, "callback does not open")
	}
	defer clear(key)
	plain, err := openGCM(key, c.Sealed, callbackAAD(kind, resultID, method, path, timestamp))
	if err != nil {
		return nil, Errorf(EUNAUTHORIZED, "callback does not open")
	}
	return plain, nil
}

func callbackKey(secret []byte) ([]byte, error) {
	if len(secret) != KeySize {
		return nil, Errorf(EINVALID, "callback secret must be 32 bytes")
	}
	return hkdf.Key(sha256.New, secret, nil, callbackInfo, KeySize)
}

// callbackAAD is "proofline/callback/v2" followed by kind, result_id,
// method, path and timestamp, each as 0x00, its decimal length, ':' and
// its bytes.
func callbackAAD(kind Kind, resultID, method, path, timestamp string) []byte {
	b := append(make([]byte, 0, 128), callbackInfo...)
	for _, f := range []string{string(kind), resultID, method, path, timestamp} {
		b = appendField(b, f)
	}
	return b
}

// decodeStrict decodes exactly one JSON object into v, refusing unknown
// fields and trailing data.
func decodeStrict(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return Errorf(EINVALID, "trailing data")
	}
	return nil
}

// TokenEqual compares a presented token with the expected one in constant time.
// An empty expected token never matches.
func TokenEqual(got, want string) bool {
	if want == "" {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}
