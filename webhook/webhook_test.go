package webhook_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/proofline/proofline/resultstore/storetest"
	"github.com/proofline/proofline/tenant"
	"github.com/proofline/proofline/webhook"
	"github.com/proofline/proofline/webhook/webhooktest"
)

type counts struct {
	mu sync.Mutex
	m  map[string]int
}

func (c *counts) WebhookDelivery(event, outcome string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]int{}
	}
	c.m[event+" "+outcome]++
}

func (c *counts) get(k string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m[k]
}

type fixture struct {
	sender *webhook.Sender
	outbox *webhook.Memory
	counts *counts
}

// setup starts a Sender whose client "idp" posts to url, signed with secrets.
func setup(t *testing.T, url string, secrets []string, mut func(*webhook.Options), timers ...func(*webhook.Sender)) *fixture {
	t.Helper()
	var keys [][]byte
	for _, s := range secrets {
		k, err := webhook.ParseSecret(s)
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k)
	}
	reg, err := tenant.New([]tenant.Client{{Name: "idp", Keys: []string{"idp-key-0123456789abcdef"}, WebhookURL: url, WebhookSecrets: keys}}, "http://127.0.0.1:1")
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{outbox: webhook.NewMemory(), counts: &counts{}}
	opts := webhook.Options{
		Outbox: f.outbox, Sealer: storetest.NewRing(t, "k1"), Clients: reg, Observer: f.counts,
		InitialBackoff: 50 * time.Millisecond, Poll: 20 * time.Millisecond, Timeout: 5 * time.Second,
	}
	if mut != nil {
		mut(&opts)
	}
	f.sender, err = webhook.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range timers {
		h(f.sender)
	}
	f.sender.Start()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = f.sender.Stop(ctx)
	})
	return f
}

func publish(t *testing.T, s *webhook.Sender, tenantName, id string) {
	t.Helper()
	ok, err := s.Publish(context.Background(), tenantName, id, webhook.EventSessionVerified, map[string]string{"id": "vs_1", "status": "verified"})
	if err != nil || !ok {
		t.Fatalf("Publish = %v, %v", ok, err)
	}
}

// waitEmpty waits until the outbox holds nothing: nothing can be sent again.
func (f *fixture) waitEmpty(t *testing.T) {
	t.Helper()
	end := time.Now().Add(15 * time.Second)
	for f.outbox.Len() > 0 {
		if time.Now().After(end) {
			t.Fatal("the outbox still holds the message")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestSignaturesVerifyWithTheReferenceLibrary: what the sender posts
// verifies with the Standard Webhooks reference library (npm
// standardwebhooks) under the current secret and, during a rotation, under
// the old one; not under another secret, and not once the body is changed.
func TestSignaturesVerifyWithTheReferenceLibrary(t *testing.T) {
	t.Parallel()
	rcv := webhooktest.NewReceiver(t)
	cur, old, other := webhook.NewSecret(), webhook.NewSecret(), webhook.NewSecret()
	f := setup(t, rcv.URL, []string{cur, old}, nil)
	publish(t, f.sender, "idp", webhook.MessageID("vs_1", "verified"))
	got := rcv.WaitFor(t, 15*time.Second, "one webhook", func(r []webhooktest.Request) bool { return len(r) == 1 })
	h := got[0].Header
	if !strings.HasPrefix(h.Get("webhook-id"), "msg_") || h.Get("webhook-timestamp") == "" || h.Get("Content-Type") != "application/json" {
		t.Fatalf("headers %v", h)
	}
	if sigs := strings.Fields(h.Get("webhook-signature")); len(sigs) != 2 || !strings.HasPrefix(sigs[0], "v1,") || !strings.HasPrefix(sigs[1], "v1,") {
		t.Fatalf("webhook-signature %q: want two v1 signatures while a secret rotates", h.Get("webhook-signature"))
	}
	for _, secret := range []string{cur, old} {
		ev := webhooktest.Verify(t, secret, got, false)
		if len(ev) != 1 || ev[0].Type != webhook.EventSessionVerified || !strings.Contains(string(ev[0].Data), `"status":"verified"`) {
			t.Fatalf("verified payload %+v", ev)
		}
		if _, err := time.Parse(time.RFC3339Nano, ev[0].Timestamp); err != nil {
			t.Errorf("timestamp %q: %v", ev[0].Timestamp, err)
		}
	}
	webhooktest.Verify(t, other, got, true)
	tampered := got[0]
	tampered.Body = []byte(strings.Replace(string(tampered.Body), "verified", "failed", 1))
	webhooktest.Verify(t, cur, []webhooktest.Request{tampered}, true)

	// proofline's own verifier agrees with the reference library.
	keys := func(s string) [][]byte { k, _ := webhook.ParseSecret(s); return [][]byte{k} }
	if err := webhook.Verify(keys(old), h, got[0].Body, time.Now(), webhook.DefaultTolerance); err != nil {
		t.Errorf("webhook.Verify under the old secret: %v", err)
	}
	if err := webhook.Verify(keys(other), h, got[0].Body, time.Now(), webhook.DefaultTolerance); err == nil {
		t.Error("webhook.Verify accepted another secret")
	}
	if err := webhook.Verify(keys(cur), h, got[0].Body, time.Now().Add(10*time.Minute), webhook.DefaultTolerance); err == nil {
		t.Error("webhook.Verify accepted a timestamp ten minutes old")
	}
}

// TestRetriedUntilDelivered: the receiver fails twice (500, then a
// redirect, which is not followed); the third attempt is delivered. Every
// attempt carries the same webhook-id and a fresh signature; each is counted.
func TestRetriedUntilDelivered(t *testing.T) {
	t.Parallel()
	elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		t.Error("a redirect was followed")
	}))
	t.Cleanup(elsewhere.Close)
	rcv := webhooktest.NewReceiver(t)
	rcv.Redirect = elsewhere.URL
	secret := webhook.NewSecret()
	f := setup(t, rcv.URL, []string{secret}, nil)
	rcv.AnswerWith(func(n int) int {
		switch n {
		case 1:
			return http.StatusInternalServerError
		case 2:
			return http.StatusTemporaryRedirect
		}
		return http.StatusOK
	})
	publish(t, f.sender, "idp", webhook.MessageID("vs_2", "verified"))
	rcv.WaitFor(t, 15*time.Second, "three attempts", func(r []webhooktest.Request) bool { return len(r) >= 3 })
	f.waitEmpty(t)
	got := rcv.Requests()
	if len(got) != 3 {
		t.Fatalf("%d attempts, want 3 (two failures, then delivered)", len(got))
	}
	for i, r := range got {
		if r.Header.Get("webhook-id") != got[0].Header.Get("webhook-id") {
			t.Errorf("attempt %d has another webhook-id", i+1)
		}
	}
	webhooktest.Verify(t, secret, got, false)
	ev := webhook.EventSessionVerified
	if f.counts.get(ev+" retry") != 2 || f.counts.get(ev+" delivered") != 1 {
		t.Errorf("counted %v, want 2 retry and 1 delivered", f.counts.m)
	}
}

// TestGivesUpAtMaxAge: a receiver that always fails gets attempts with
// growing gaps until the message is MaxAge old; then the message is
// dropped, counted as expired, and nothing more is sent.
func TestGivesUpAtMaxAge(t *testing.T) {
	t.Parallel()
	rcv := webhooktest.NewReceiver(t)
	rcv.AnswerWith(func(int) int { return http.StatusServiceUnavailable })
	const maxAge = 1500 * time.Millisecond
	f := setup(t, rcv.URL, []string{webhook.NewSecret()}, func(o *webhook.Options) { o.MaxAge = maxAge })
	publish(t, f.sender, "idp", webhook.MessageID("vs_3", "verified"))
	f.waitEmpty(t)
	got := rcv.Requests()
	// Waits of 50, 100, 200, 400 ms fit in 1.5 s; the next (800 ms) would
	// not: two to five attempts.
	if len(got) < 2 || len(got) > 5 {
		t.Fatalf("%d attempts before giving up, want 2 to 5", len(got))
	}
	if n := f.counts.get(webhook.EventSessionVerified + " expired"); n != 1 {
		t.Errorf("expired counted %d times", n)
	}
	if n := f.counts.get(webhook.EventSessionVerified + " retry"); n != len(got)-1 {
		t.Errorf("retry counted %d times for %d attempts", n, len(got))
	}
}

// TestNoEndpointNoMessage: a tenant without a webhook endpoint gets nothing
// queued.
func TestNoEndpointNoMessage(t *testing.T) {
	t.Parallel()
	f := setup(t, "http://127.0.0.1:1/", []string{webhook.NewSecret()}, nil)
	ok, err := f.sender.Publish(context.Background(), "someone-else", "msg_x", webhook.EventJobCompleted, json.RawMessage(`{}`))
	if ok || err != nil || f.outbox.Len() != 0 {
		t.Fatalf("Publish for a tenant without an endpoint = %v, %v (outbox %d)", ok, err, f.outbox.Len())
	}
}

// TestTimersRunAgainUntilDone: a timer runs when due and again when its
// function asks, until it reports done.
func TestTimersRunAgainUntilDone(t *testing.T) {
	t.Parallel()
	rcv := webhooktest.NewReceiver(t)
	var (
		mu   sync.Mutex
		runs []string
	)
	done := make(chan struct{})
	f := setup(t, rcv.URL, []string{webhook.NewSecret()}, nil, func(s *webhook.Sender) {
		s.Handle("check", func(_ context.Context, ref string) (time.Time, error) {
			mu.Lock()
			defer mu.Unlock()
			runs = append(runs, ref)
			if len(runs) == 1 {
				return time.Now().Add(30 * time.Millisecond), nil
			}
			close(done)
			return time.Time{}, nil
		})
	})
	if err := f.sender.Schedule(context.Background(), "check", "vs_9", time.Now()); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		t.Fatal("the timer did not run twice")
	}
	f.waitEmpty(t)
	mu.Lock()
	defer mu.Unlock()
	if len(runs) != 2 || runs[0] != "vs_9" {
		t.Fatalf("runs %v", runs)
	}
}
