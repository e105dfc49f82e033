package client_test

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/proofline/proofline/client"
	"github.com/proofline/proofline/webhook"
	"github.com/proofline/proofline/webhook/webhooktest"
)

func secretOf(seed string) string {
	return "whsec_" + base64.StdEncoding.EncodeToString([]byte(strings.Repeat(seed, 32)[:32]))
}

const canceledBody = `{"type":"verification_session.canceled","timestamp":"2026-01-01T00:00:00Z","data":{"id":"vs_0123456789abcdef0123456789abcdef","status":"canceled"}}`

func hookHeader(id string, ts time.Time, sig string) http.Header {
	h := http.Header{}
	h.Set("webhook-id", id)
	h.Set("webhook-timestamp", strconv.FormatInt(ts.Unix(), 10))
	h.Set("webhook-signature", sig)
	return h
}

// TestWebhooksVerifyReferenceSignatures: a signature the Standard Webhooks
// reference library makes verifies with the client, also beside another
// secret's (rotation); a tampered body, id, timestamp or signature, another
// secret and a timestamp out of tolerance do not.
func TestWebhooksVerifyReferenceSignatures(t *testing.T) {
	t.Parallel()
	cur, old, other := secretOf("n"), secretOf("o"), secretOf("x")
	now := time.Now()
	const id = "msg_0123456789abcdef0123456789abcdef"
	sig := webhooktest.Sign(t, cur, id, now, []byte(canceledBody))
	oldSig := webhooktest.Sign(t, old, id, now, []byte(canceledBody))
	lateSig := webhooktest.Sign(t, cur, id, now.Add(-6*time.Minute), []byte(canceledBody))

	w, err := client.NewWebhooks([]string{cur})
	if err != nil {
		t.Fatal(err)
	}
	ev, err := w.Verify(hookHeader(id, now, sig), []byte(canceledBody))
	if err != nil || ev.ID != id || ev.Type != client.EventSessionCanceled {
		t.Fatalf("the reference library's signature: %+v %v", ev, err)
	}
	if s, err := ev.Session(); err != nil || s.Status != client.SessionCanceled || s.ID != "vs_0123456789abcdef0123456789abcdef" {
		t.Errorf("session %+v %v", s, err)
	}
	rotating, _ := client.NewWebhooks([]string{old})
	if _, err := rotating.Verify(hookHeader(id, now, sig+" "+oldSig), []byte(canceledBody)); err != nil {
		t.Errorf("the old secret during a rotation: %v", err)
	}
	flip := func(s string) string { // one base64 character changed
		i := len(s) - 5
		c := byte('A')
		if s[i] == 'A' {
			c = 'B'
		}
		return s[:i] + string(c) + s[i+1:]
	}
	otherW, _ := client.NewWebhooks([]string{other})
	for name, c := range map[string]struct {
		w    *client.Webhooks
		h    http.Header
		body string
	}{
		"tampered body":         {w, hookHeader(id, now, sig), strings.Replace(canceledBody, "canceled", "verified", 2)},
		"tampered id":           {w, hookHeader(id[:len(id)-1]+"0", now, sig), canceledBody},
		"tampered timestamp":    {w, hookHeader(id, now.Add(time.Second), sig), canceledBody},
		"tampered signature":    {w, hookHeader(id, now, flip(sig)), canceledBody},
		"another secret":        {otherW, hookHeader(id, now, sig+" "+oldSig), canceledBody},
		"six minutes late":      {w, hookHeader(id, now.Add(-6*time.Minute), lateSig), canceledBody},
		"no signature":          {w, hookHeader(id, now, ""), canceledBody},
		"another scheme":        {w, hookHeader(id, now, "v1a,"+strings.TrimPrefix(sig, "v1,")), canceledBody},
		"signature as the body": {w, hookHeader(id, now, sig), sig},
	} {
		if ev, err := c.w.Verify(c.h, []byte(c.body)); !errors.Is(err, client.ErrWebhookSignature) {
			t.Errorf("%s: %+v %v, want ErrWebhookSignature", name, ev, err)
		}
	}
	tolerant, _ := client.NewWebhooks([]string{cur}, client.WithTolerance(10*time.Minute))
	if _, err := tolerant.Verify(hookHeader(id, now.Add(-6*time.Minute), lateSig), []byte(canceledBody)); err != nil {
		t.Errorf("six minutes late with a ten-minute tolerance: %v", err)
	}
}

// TestWebhooksVerifyWhatProoflineSigns: the header proofline's sender
// writes (package webhook, two secrets while rotating) verifies with either
// secret, and the client's clock bounds the timestamp.
func TestWebhooksVerifyWhatProoflineSigns(t *testing.T) {
	t.Parallel()
	cur, old := secretOf("c"), secretOf("d")
	var keys [][]byte
	for _, s := range []string{cur, old} {
		k, err := webhook.ParseSecret(s)
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k)
	}
	at := time.Unix(1767225600, 0)
	const id = "msg_00112233445566778899aabbccddeeff"
	h := hookHeader(id, at, webhook.Sign(keys, id, at.Unix(), []byte(canceledBody)))
	for _, s := range []string{cur, old} {
		w, _ := client.NewWebhooks([]string{s}, client.WithClock(func() time.Time { return at.Add(time.Minute) }))
		if _, err := w.Verify(h, []byte(canceledBody)); err != nil {
			t.Errorf("secret %d of the rotation: %v", len(s), err)
		}
	}
	w, _ := client.NewWebhooks([]string{cur}, client.WithClock(func() time.Time { return at.Add(-6 * time.Minute) }))
	if _, err := w.Verify(h, []byte(canceledBody)); !errors.Is(err, client.ErrWebhookSignature) {
		t.Errorf("a timestamp six minutes ahead of the clock: %v", err)
	}
}

func TestNewWebhooksRefusesBadSecrets(t *testing.T) {
	t.Parallel()
	for _, s := range [][]string{nil, {""}, {"c2VjcmV0"}, {"whsec_not base64!"}, {"whsec_"}} {
		w, err := client.NewWebhooks(s)
		if err == nil {
			t.Errorf("NewWebhooks(%q) accepted", s)
			continue
		}
		if len(s) > 0 && len(s[0]) > len("whsec_") && strings.Contains(err.Error(), s[0]) {
			t.Errorf("the error quotes the secret: %v", err)
		}
		_ = w
	}
	w, err := client.NewWebhooks([]string{secretOf("s")})
	if err != nil || strings.Contains(fmt.Sprintf("%v %+v %#v", w, w, w), strings.TrimPrefix(secretOf("s"), "whsec_")) {
		t.Errorf("the verifier prints its secret (%v)", err)
	}
	if _, err := client.NewWebhooks([]string{secretOf("s")}, client.WithTolerance(0)); err == nil {
		t.Error("a zero tolerance accepted")
	}
}
