package proofline

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"strconv"
	"strings"
	"time"
)

// Callback headers (worker → IdP). X-API-AUTH-TOKEN is the original design's
// per-kind shared token; the others are proofline's per-job proof.
const (
	HeaderAuthToken     = "X-API-AUTH-TOKEN"
	HeaderJobSecret     = "X-Proofline-Job-Secret"
	HeaderTimestamp     = "X-Proofline-Timestamp"
	HeaderSignature     = "X-Proofline-Signature"
	HeaderWorkerVersion = "X-Proofline-Worker-Version"
)

// CallbackPath is the path a worker posts a result of kind k to.
func CallbackPath(k Kind, resultID string) string {
	return "/api/proofing_results/" + string(k) + "/" + resultID
}

// HashSecret returns the SHA-256 of a per-job secret, which is all the IdP keeps.
func HashSecret(secret []byte) []byte {
	h := sha256.Sum256(secret)
	return h[:]
}

// EncodeSecret encodes a per-job secret for the HeaderJobSecret header.
func EncodeSecret(secret []byte) string { return base64.RawURLEncoding.EncodeToString(secret) }

// SignCallback returns the HeaderSignature value for a callback: an
// HMAC-SHA256, keyed by the per-job secret, over the version tag, timestamp
// (Unix seconds), method, path and the SHA-256 of the body.
func SignCallback(secret []byte, ts time.Time, method, path string, body []byte) string {
	return "v1=" + hex.EncodeToString(callbackMAC(secret, strconv.FormatInt(ts.Unix(), 10), method, path, body))
}

func callbackMAC(secret []byte, ts, method, path string, body []byte) []byte {
	bh := sha256.Sum256(body)
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("proofline-callback-v1\n"))
	m.Write([]byte(ts))
	m.Write([]byte{'\n'})
	m.Write([]byte(method))
	m.Write([]byte{'\n'})
	m.Write([]byte(path))
	m.Write([]byte{'\n'})
	m.Write([]byte(hex.EncodeToString(bh[:])))
	return m.Sum(nil)
}

// CallbackProof is the per-job part of a callback's credentials as received.
type CallbackProof struct {
	Secret    string // HeaderJobSecret
	Timestamp string // HeaderTimestamp
	Signature string // HeaderSignature
}

// VerifyCallback checks the per-job secret against its stored hash, then the
// signature and the timestamp (within skew of now). Every failure is an
// EUNAUTHORIZED error that says which check failed and nothing else.
func VerifyCallback(p CallbackProof, secretHash []byte, now time.Time, skew time.Duration, method, path string, body []byte) error {
	if p.Secret == "" || p.Timestamp == "" || p.Signature == "" {
		return Errorf(EUNAUTHORIZED, "missing job credentials")
	}
	secret, err := base64.RawURLEncoding.DecodeString(p.Secret)
	if err != nil || len(secret) < 16 || len(secret) > 128 {
		return Errorf(EUNAUTHORIZED, "invalid job secret")
	}
	if subtle.ConstantTimeCompare(HashSecret(secret), secretHash) != 1 {
		return Errorf(EUNAUTHORIZED, "invalid job secret")
	}
	sig, ok := strings.CutPrefix(p.Signature, "v1=")
	if !ok || len(sig) != 64 || strings.ToLower(sig) != sig {
		// One spelling only: 64 lower-case hex digits, as SignCallback writes.
		return Errorf(EUNAUTHORIZED, "invalid signature")
	}
	got, err := hex.DecodeString(sig)
	if err != nil {
		return Errorf(EUNAUTHORIZED, "invalid signature")
	}
	ts, err := strconv.ParseInt(p.Timestamp, 10, 64)
	if err != nil || len(p.Timestamp) > 12 {
		return Errorf(EUNAUTHORIZED, "invalid timestamp")
	}
	if !hmac.Equal(got, callbackMAC(secret, p.Timestamp, method, path, body)) {
		return Errorf(EUNAUTHORIZED, "invalid signature")
	}
	if d := now.Sub(time.Unix(ts, 0)); d > skew || d < -skew {
		return Errorf(EUNAUTHORIZED, "stale timestamp")
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
