package webhook_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/proofline/proofline"
	"github.com/proofline/proofline/internal/testclock"
	"github.com/proofline/proofline/internal/testlog"
	"github.com/proofline/proofline/resultstore/storetest"
	"github.com/proofline/proofline/tenant"
	"github.com/proofline/proofline/webhook"
	"github.com/proofline/proofline/webhook/webhooktest"
)

// eventually waits up to 15 s for cond.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	end := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(end) {
			t.Fatalf("not within 15 s: %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// registry has the client "idp" posting to url.
func registry(t *testing.T, url string) *tenant.Registry {
	t.Helper()
	reg, err := tenant.New([]tenant.Client{{Name: "idp", Keys: []string{"idp-key-0123456789abcdef"}, WebhookURL: url, WebhookSecrets: [][]byte{bytes.Repeat([]byte{1}, 32)}}}, "http://127.0.0.1:1")
	if err != nil {
		t.Fatal(err)
	}
	return reg
}

// newSender returns a Sender that is not started yet, and stops it (if
// started) at the end of the test.
func newSender(t *testing.T, opts webhook.Options) *webhook.Sender {
	t.Helper()
	s, err := webhook.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = s.Stop(ctx)
	})
	return s
}

// TestDefaultOptionsDeliver: a sender with only the required options (a
// 10 s attempt timeout, a 1 s poll) delivers a webhook.
func TestDefaultOptionsDeliver(t *testing.T) {
	t.Parallel()
	rcv := webhooktest.NewReceiver(t)
	f := setup(t, rcv.URL, []string{webhook.NewSecret()}, func(o *webhook.Options) {
		o.Timeout, o.Poll, o.InitialBackoff, o.MaxBackoff, o.MaxAge = 0, 0, 0, 0, 0
	})
	publish(t, f.sender, "idp", webhook.MessageID("vs_d", "verified"))
	f.waitEmpty(t)
	if n := f.counts.get(webhook.EventSessionVerified + " delivered"); n != 1 || len(rcv.Requests()) != 1 {
		t.Fatalf("delivered %d times in %d requests", n, len(rcv.Requests()))
	}
}

// TestFirstRetryWaitsFiveSecondsByDefault: without InitialBackoff a failed
// attempt is retried 5 s later, not at the next poll.
func TestFirstRetryWaitsFiveSecondsByDefault(t *testing.T) {
	t.Parallel()
	rcv := webhooktest.NewReceiver(t)
	rcv.AnswerWith(func(int) int { return http.StatusServiceUnavailable })
	f := setup(t, rcv.URL, []string{webhook.NewSecret()}, func(o *webhook.Options) { o.InitialBackoff = 0 })
	publish(t, f.sender, "idp", webhook.MessageID("vs_b", "verified"))
	rcv.WaitFor(t, 15*time.Second, "the first attempt", func(r []webhooktest.Request) bool { return len(r) == 1 })
	time.Sleep(time.Second) // 50 polls
	if n := len(rcv.Requests()); n != 1 {
		t.Fatalf("%d attempts within a second of the first failure, want 1", n)
	}
	if n := f.counts.get(webhook.EventSessionVerified + " retry"); n != 1 {
		t.Errorf("retry counted %d times", n)
	}
}

// TestNonSuccessStatusesAreRetried: only a 2xx delivers; a 300 (not
// followed) is retried like a 503, and the retry is logged with the reason:
// the status, or "network error" when nothing answered.
func TestNonSuccessStatusesAreRetried(t *testing.T) {
	t.Parallel()
	rcv := webhooktest.NewReceiver(t)
	rcv.AnswerWith(func(n int) int {
		switch n {
		case 1:
			return http.StatusMultipleChoices
		case 2:
			return http.StatusServiceUnavailable
		}
		return http.StatusNoContent
	})
	var l testlog.Buffer
	f := setup(t, rcv.URL, []string{webhook.NewSecret()}, func(o *webhook.Options) { o.Logger = l.Logger() })
	publish(t, f.sender, "idp", webhook.MessageID("vs_s", "verified"))
	f.waitEmpty(t)
	if n := len(rcv.Requests()); n != 3 {
		t.Fatalf("%d attempts, want 3 (300, 503, then 204)", n)
	}
	ev := webhook.EventSessionVerified
	if f.counts.get(ev+" retry") != 2 || f.counts.get(ev+" delivered") != 1 {
		t.Errorf("counted %v", f.counts.m)
	}
	var reasons []string
	for _, m := range l.Lines(t, "webhook not delivered; retrying") {
		reasons = append(reasons, m["reason"].(string))
	}
	if strings.Join(reasons, ",") != "status 300,status 503" {
		t.Errorf("retry reasons %q", reasons)
	}

	// Nothing listening: a network error.
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close()
	var l2 testlog.Buffer
	g := setup(t, dead.URL, []string{webhook.NewSecret()}, func(o *webhook.Options) { o.Logger = l2.Logger() })
	publish(t, g.sender, "idp", webhook.MessageID("vs_n", "verified"))
	eventually(t, "a retry logged", func() bool { return len(l2.Lines(t, "webhook not delivered; retrying")) > 0 })
	if m := l2.Lines(t, "webhook not delivered; retrying")[0]; m["reason"] != "network error" || m["attempt"] != float64(1) {
		t.Errorf("retry after a network error logged as %v", m)
	}
}

// TestGivenUpOnlyPastMaxAge: the message is retried while its next attempt
// falls at or before MaxAge after it was published, and given up once the
// next one would fall after it. (Backoffs under 10 ns have no jitter, so
// the edge is exact.)
func TestGivenUpOnlyPastMaxAge(t *testing.T) {
	t.Parallel()
	rcv := webhooktest.NewReceiver(t)
	rcv.AnswerWith(func(int) int { return http.StatusServiceUnavailable })
	clk := testclock.New(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	f := setup(t, rcv.URL, []string{webhook.NewSecret()}, func(o *webhook.Options) {
		o.InitialBackoff, o.MaxBackoff, o.MaxAge, o.Now = 5, 5, 5, clk.Now
	})
	ev := webhook.EventSessionVerified
	publish(t, f.sender, "idp", webhook.MessageID("vs_e", "verified"))
	eventually(t, "the first retry", func() bool { return f.counts.get(ev+" retry") == 1 })
	// The retry is due at exactly MaxAge: not before.
	time.Sleep(100 * time.Millisecond)
	if n := len(rcv.Requests()); n != 1 || f.counts.get(ev+" expired") != 0 {
		t.Fatalf("%d attempts, %v before the clock moved", n, f.counts.m)
	}
	clk.Advance(5)
	f.waitEmpty(t)
	if n := len(rcv.Requests()); n != 2 || f.counts.get(ev+" expired") != 1 || f.counts.get(ev+" retry") != 1 {
		t.Fatalf("%d attempts, counted %v; want 2 attempts, then given up", n, f.counts.m)
	}
}

// TestBacklogLargerThanABatchIsSentAtOnce: messages queued while no sender
// ran are all sent when one starts, not one lease batch per poll.
func TestBacklogLargerThanABatchIsSentAtOnce(t *testing.T) {
	t.Parallel()
	rcv := webhooktest.NewReceiver(t)
	out := webhook.NewMemory()
	s := newSender(t, webhook.Options{Outbox: out, Sealer: storetest.NewRing(t, "k1"), Clients: registry(t, rcv.URL), Poll: time.Hour})
	const n = 50
	for i := range n {
		if ok, err := s.Publish(context.Background(), "idp", webhook.MessageID("vs_q", string(rune('a'+i))), webhook.EventJobCompleted, map[string]int{"i": i}); !ok || err != nil {
			t.Fatal(ok, err)
		}
	}
	s.Start()
	rcv.WaitFor(t, 15*time.Second, "the whole backlog", func(r []webhooktest.Request) bool { return len(r) == n })
	eventually(t, "an empty outbox", func() bool { return out.Len() == 0 })
}

// TestTimerRunsWhenScheduledWithoutWaitingForAPoll: Schedule wakes the
// sender, so a timer due now runs at once even with an hour between polls.
func TestTimerRunsWhenScheduledWithoutWaitingForAPoll(t *testing.T) {
	t.Parallel()
	ran := make(chan string, 1)
	f := setup(t, "http://127.0.0.1:1/", []string{webhook.NewSecret()}, func(o *webhook.Options) { o.Poll = time.Hour }, func(s *webhook.Sender) {
		s.Handle("check", func(_ context.Context, ref string) (time.Time, error) {
			ran <- ref
			return time.Time{}, nil
		})
	})
	time.Sleep(50 * time.Millisecond) // the first look at the outbox is over
	if err := f.sender.Schedule(context.Background(), "check", "vs_w", time.Now()); err != nil {
		t.Fatal(err)
	}
	select {
	case ref := <-ran:
		if ref != "vs_w" {
			t.Fatalf("ran for %q", ref)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the timer did not run until a poll")
	}
}

// TestFailedTimerRunsAgain: a timer that fails is logged with its error
// code and runs again after InitialBackoff.
func TestFailedTimerRunsAgain(t *testing.T) {
	t.Parallel()
	var (
		runs atomic.Int32
		l    testlog.Buffer
	)
	f := setup(t, "http://127.0.0.1:1/", []string{webhook.NewSecret()}, func(o *webhook.Options) { o.Logger = l.Logger() }, func(s *webhook.Sender) {
		s.Handle("check", func(context.Context, string) (time.Time, error) {
			if runs.Add(1) == 1 {
				return time.Time{}, proofline.Errorf(proofline.EUNAVAILABLE, "store down")
			}
			return time.Time{}, nil
		})
	})
	if err := f.sender.Schedule(context.Background(), "check", "vs_f", time.Now()); err != nil {
		t.Fatal(err)
	}
	eventually(t, "a second run", func() bool { return runs.Load() == 2 })
	f.waitEmpty(t)
	m := l.Lines(t, "webhook timer failed; retrying")
	if len(m) != 1 || m[0]["code"] != proofline.EUNAVAILABLE || m[0]["timer"] != "check" {
		t.Errorf("failure logged as %v", m)
	}
}

// TestClosedOutbox: Publish and Schedule report an unavailable outbox, and
// a running sender logs that it cannot read it.
func TestClosedOutbox(t *testing.T) {
	t.Parallel()
	var l testlog.Buffer
	f := setup(t, "http://127.0.0.1:1/", []string{webhook.NewSecret()}, func(o *webhook.Options) { o.Logger = l.Logger() })
	_ = f.outbox.Close()
	if _, err := f.sender.Publish(context.Background(), "idp", "msg_c", webhook.EventJobCompleted, nil); proofline.ErrorCode(err) != proofline.EUNAVAILABLE {
		t.Errorf("Publish = %v, want unavailable", err)
	}
	if err := f.sender.Schedule(context.Background(), "check", "vs_c", time.Now()); proofline.ErrorCode(err) != proofline.EUNAVAILABLE {
		t.Errorf("Schedule = %v, want unavailable", err)
	}
	eventually(t, "the outbox logged unavailable", func() bool { return len(l.Lines(t, "webhook outbox unavailable")) > 0 })
}

// TestStopBeforeStart returns at once.
func TestStopBeforeStart(t *testing.T) {
	t.Parallel()
	s, err := webhook.New(webhook.Options{Outbox: webhook.NewMemory(), Sealer: storetest.NewRing(t, "k1"), Clients: registry(t, "http://127.0.0.1:1/")})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Stop(ctx); err != nil || ctx.Err() != nil {
		t.Fatalf("Stop of a sender never started = %v (waited: %v)", err, ctx.Err())
	}
}

// TestMemoryOutboxRefusesNonPositiveTTL: an entry kept for no time is
// refused, not stored already expired.
func TestMemoryOutboxRefusesNonPositiveTTL(t *testing.T) {
	t.Parallel()
	out := webhook.NewMemory()
	for _, ttl := range []time.Duration{0, -time.Second} {
		if err := out.Put(context.Background(), "msg_t", []byte("v"), time.Now(), ttl); err == nil {
			t.Errorf("Put with ttl %v accepted", ttl)
		}
	}
	if out.Len() != 0 {
		t.Errorf("%d entries held", out.Len())
	}
}

// keeps is an outbox that checks what it is asked to keep: every entry at
// least until it is due, and a webhook at least until MaxAge after it was
// published (a driver like Redis drops an entry when its ttl runs out).
type keeps struct {
	*webhook.Memory
	t         *testing.T
	published time.Time
	maxAge    time.Duration
	puts      atomic.Int32
}

func (k *keeps) Put(ctx context.Context, id string, value []byte, due time.Time, ttl time.Duration) error {
	now := time.Now()
	k.puts.Add(1)
	if now.Add(ttl).Before(due) {
		k.t.Errorf("%s kept for %v, due in %v: dropped before it is due", id, ttl, due.Sub(now))
	}
	if strings.HasPrefix(id, "msg_") && now.Add(ttl).Before(k.published.Add(k.maxAge)) {
		k.t.Errorf("%s kept for %v: dropped before it is MaxAge (%v) old", id, ttl, k.maxAge)
	}
	return k.Memory.Put(ctx, id, value, due, ttl)
}

// TestOutboxKeepsEntriesUntilDue: a timer scheduled hours ahead, a timer
// that asks to run again hours later and a webhook being retried are each
// kept in the outbox until they are due, a webhook until it is MaxAge old.
func TestOutboxKeepsEntriesUntilDue(t *testing.T) {
	t.Parallel()
	rcv := webhooktest.NewReceiver(t)
	rcv.AnswerWith(func(int) int { return http.StatusServiceUnavailable })
	out := &keeps{Memory: webhook.NewMemory(), t: t, published: time.Now(), maxAge: 24 * time.Hour}
	reran := make(chan struct{})
	var once sync.Once
	f := setup(t, rcv.URL, []string{webhook.NewSecret()}, func(o *webhook.Options) { o.Outbox = out }, func(s *webhook.Sender) {
		s.Handle("later", func(context.Context, string) (time.Time, error) {
			defer once.Do(func() { close(reran) })
			return time.Now().Add(2 * time.Hour), nil
		})
	})
	if err := f.sender.Schedule(context.Background(), "later", "vs_1", time.Now().Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := f.sender.Schedule(context.Background(), "later", "vs_2", time.Now()); err != nil {
		t.Fatal(err)
	}
	publish(t, f.sender, "idp", webhook.MessageID("vs_k", "verified"))
	rcv.WaitFor(t, 15*time.Second, "a retried webhook", func(r []webhooktest.Request) bool { return len(r) >= 2 })
	select {
	case <-reran:
	case <-time.After(15 * time.Second):
		t.Fatal("the due timer did not run")
	}
	// Schedule twice, the timer's own reschedule, publish, at least one retry.
	eventually(t, "every put", func() bool { return out.puts.Load() >= 5 })
}

// TestInFlightMessageIsNotSentByAnotherInstance: two senders share an
// outbox; while one is delivering a message, the other (its clock 3 s
// ahead) does not send it too: the lease outlasts an attempt with room for
// clocks that differ.
func TestInFlightMessageIsNotSentByAnotherInstance(t *testing.T) {
	t.Parallel()
	var got atomic.Int32
	release := make(chan struct{})
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if got.Add(1) == 1 {
			<-release
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(rcv.Close)
	t.Cleanup(func() {
		select {
		case <-release:
		default:
			close(release)
		}
	})
	out, ring, reg := webhook.NewMemory(), storetest.NewRing(t, "k1"), registry(t, rcv.URL)
	opts := webhook.Options{Outbox: out, Sealer: ring, Clients: reg, Timeout: 2 * time.Second, Poll: 20 * time.Millisecond}
	a := newSender(t, opts)
	a.Start()
	if ok, err := a.Publish(context.Background(), "idp", "msg_f", webhook.EventJobCompleted, nil); !ok || err != nil {
		t.Fatal(ok, err)
	}
	eventually(t, "the first attempt", func() bool { return got.Load() == 1 })
	opts.Now = func() time.Time { return time.Now().Add(3 * time.Second) }
	b := newSender(t, opts)
	b.Start()
	time.Sleep(time.Second) // 50 polls of b while a's attempt is in flight
	if n := got.Load(); n != 1 {
		t.Fatalf("%d requests while the first was in flight, want 1", n)
	}
	close(release)
	eventually(t, "an empty outbox", func() bool { return out.Len() == 0 })
	if n := got.Load(); n != 1 {
		t.Errorf("%d requests in all, want 1", n)
	}
}
