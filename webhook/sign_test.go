package webhook_test

import (
	"bytes"
	"encoding/base64"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/proofline/proofline/webhook"
)

// TestParseSecretTakesTwentyFourToSixtyFourBytes: a secret is "whsec_" and
// the base64 (padded or not) of a 24- to 64-byte key; anything else is
// refused, so a truncated or mistyped secret never signs.
func TestParseSecretTakesTwentyFourToSixtyFourBytes(t *testing.T) {
	t.Parallel()
	key := func(n int) []byte { return bytes.Repeat([]byte{7}, n) }
	std := func(n int) string { return "whsec_" + base64.StdEncoding.EncodeToString(key(n)) }
	for _, c := range []struct {
		secret string
		n      int // key length, 0: refused
	}{
		{std(24), 24},
		{std(64), 64},
		{"  " + std(32) + "\n", 32},
		{"whsec_" + base64.RawStdEncoding.EncodeToString(key(25)), 25},
		{std(23), 0},
		{std(65), 0},
		{base64.StdEncoding.EncodeToString(key(32)), 0},
		{"whsec_not base64!", 0},
		{"whsec_", 0},
	} {
		k, err := webhook.ParseSecret(c.secret)
		switch {
		case c.n == 0 && err == nil:
			t.Errorf("ParseSecret(%q) accepted a %d-byte key", c.secret, len(k))
		case c.n != 0 && (err != nil || !bytes.Equal(k, key(c.n))):
			t.Errorf("ParseSecret(%q) = %d bytes, %v; want the %d-byte key", c.secret, len(k), err, c.n)
		}
	}
	if k, err := webhook.ParseSecret(webhook.NewSecret()); err != nil || len(k) != 32 {
		t.Errorf("a new secret parses to %d bytes, %v; want 32", len(k), err)
	}
}

// TestVerifyToleranceIsInclusive: a webhook-timestamp exactly the tolerance
// before or after now verifies; one second further does not, either way.
func TestVerifyToleranceIsInclusive(t *testing.T) {
	t.Parallel()
	keys := [][]byte{bytes.Repeat([]byte{9}, 32)}
	body := []byte(`{"type":"x"}`)
	ts := time.Unix(1_800_000_000, 0)
	h := http.Header{}
	h.Set(webhook.HeaderID, "msg_1")
	h.Set(webhook.HeaderTimestamp, strconv.FormatInt(ts.Unix(), 10))
	h.Set(webhook.HeaderSignature, webhook.Sign(keys, "msg_1", ts.Unix(), body))
	tol := webhook.DefaultTolerance
	for now, ok := range map[time.Time]bool{
		ts:                            true,
		ts.Add(tol):                   true,
		ts.Add(-tol):                  true,
		ts.Add(tol + time.Second):     false,
		ts.Add(-tol - time.Second):    false,
		ts.Add(4*time.Minute + 59e9):  true,
		ts.Add(-4*time.Minute - 59e9): true,
	} {
		if err := webhook.Verify(keys, h, body, now, tol); (err == nil) != ok {
			t.Errorf("now %v after the timestamp: Verify = %v, want ok %v", now.Sub(ts), err, ok)
		}
	}
}
