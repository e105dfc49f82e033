package webhook

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Standard Webhooks headers.
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

// SecretPrefix starts every webhook secret: "whsec_" then the standard
// base64 of the key (24 to 64 bytes).
const SecretPrefix = "whsec_"

// DefaultTolerance is how far a webhook-timestamp may be from now for Verify
// (the specification's reference libraries use five minutes).
const DefaultTolerance = 5 * time.Minute

// ErrSignature is returned by Verify for a webhook that does not verify:
// missing headers, a timestamp out of tolerance, or no matching signature.
var ErrSignature = errors.New("webhook: signature does not verify")

// ParseSecret decodes a "whsec_…" secret into its key.
func ParseSecret(s string) ([]byte, error) {
	b64, ok := strings.CutPrefix(strings.TrimSpace(s), SecretPrefix)
	if !ok {
		return nil, errors.New("webhook: a secret must start with " + SecretPrefix)
	}
	key, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		key, err = base64.RawStdEncoding.DecodeString(b64)
	}
	if err != nil || len(key) < 24 || len(key) > 64 {
		return nil, errors.New("webhook: a secret must be " + SecretPrefix + " then the base64 of 24 to 64 bytes")
	}
	return key, nil
}

// NewSecret returns a fresh random secret (32 bytes) in the "whsec_" form.
func NewSecret() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return SecretPrefix + base64.StdEncoding.EncodeToString(b)
}

// Sign returns the webhook-signature header value of one message: for each
// key, "v1," and the standard base64 of HMAC-SHA256(key, id "." timestamp "."
// body), space-separated, so a receiver holding any one of the keys (the old
// or the new one while a secret rotates) verifies it.
func Sign(keys [][]byte, msgID string, timestamp int64, body []byte) string {
	sigs := make([]string, 0, len(keys))
	for _, k := range keys {
		sigs = append(sigs, "v1,"+base64.StdEncoding.EncodeToString(mac(k, msgID, strconv.FormatInt(timestamp, 10), body)))
	}
	return strings.Join(sigs, " ")
}

func mac(key []byte, msgID, timestamp string, body []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(msgID))
	m.Write([]byte{'.'})
	m.Write([]byte(timestamp))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// Verify checks a received webhook as the Standard Webhooks specification
// says: the three headers are present, webhook-timestamp is within tolerance
// of now, and one v1 signature of webhook-signature matches one of keys.
func Verify(keys [][]byte, h http.Header, body []byte, now time.Time, tolerance time.Duration) error {
	id, ts, sigs := h.Get(HeaderID), h.Get(HeaderTimestamp), h.Get(HeaderSignature)
	if id == "" || ts == "" || sigs == "" {
		return ErrSignature
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return ErrSignature
	}
	if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return ErrSignature
	}
	for _, k := range keys {
		want := mac(k, id, ts, body)
		for _, s := range strings.Fields(sigs) {
			v, b64, ok := strings.Cut(s, ",")
			if !ok || v != "v1" {
				continue
			}
			got, err := base64.StdEncoding.DecodeString(b64)
			if err == nil && hmac.Equal(got, want) {
				return nil
			}
		}
	}
	return ErrSignature
}
