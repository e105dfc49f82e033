package queuedispatch_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/proofline/proofline"
	"github.com/proofline/proofline/dispatch"
	"github.com/proofline/proofline/dispatch/queuedispatch"
	"github.com/proofline/proofline/internal/redistest"
	"github.com/proofline/proofline/worker"
)

var redisSrv *redistest.Server

func TestMain(m *testing.M) { os.Exit(redistest.Main(m, &redisSrv)) }

// fixture is one test's queues: a fresh prefix on the shared redis-server.
type fixture struct {
	t      *testing.T
	opt    asynq.RedisConnOpt
	prefix string
	insp   *asynq.Inspector
}

func setup(t *testing.T) *fixture {
	t.Helper()
	opt, err := queuedispatch.ParseRedisURL(redisSrv.URL())
	if err != nil {
		t.Fatal(err)
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	f := &fixture{t: t, opt: opt, prefix: "t" + hex.EncodeToString(b[:]), insp: asynq.NewInspector(opt)}
	t.Cleanup(func() { _ = f.insp.Close() })
	return f
}

func (f *fixture) driver(maxRetry int) *queuedispatch.Driver {
	f.t.Helper()
	// No background sweep: tests that want one run it themselves.
	d, err := queuedispatch.NewDriver(queuedispatch.DriverOptions{Redis: f.opt, QueuePrefix: f.prefix, MaxRetry: maxRetry, SweepInterval: -1})
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { _ = d.Close(context.Background()) })
	return d
}

func (f *fixture) consumer(h dispatch.Handler, mod func(*queuedispatch.ConsumerOptions)) *queuedispatch.Consumer {
	f.t.Helper()
	o := queuedispatch.ConsumerOptions{Redis: f.opt, QueuePrefix: f.prefix, Concurrency: 8, CheckInterval: 10 * time.Millisecond, ShutdownTimeout: 10 * time.Second}
	if mod != nil {
		mod(&o)
	}
	c, err := queuedispatch.NewConsumer(h, o)
	if err != nil {
		f.t.Fatal(err)
	}
	if err := c.Start(); err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		_ = c.Shutdown(ctx)
	})
	return c
}

// queue returns the figures of kind's queue (zeros when it does not exist).
func (f *fixture) queue(k proofline.Kind) asynq.QueueInfo {
	info, err := f.insp.GetQueueInfo(queuedispatch.QueueName(f.prefix, k))
	if err != nil {
		return asynq.QueueInfo{}
	}
	return *info
}

// waitFor polls cond until it holds or 15 s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(15 * time.Second); time.Now().Before(end); time.Sleep(5 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

func (f *fixture) idle(k proofline.Kind) bool {
	q := f.queue(k)
	return q.Pending == 0 && q.Active == 0 && q.Retry == 0 && q.Scheduled == 0
}

// envelope is an unsealed envelope with a valid header (enough for handlers
// that do not open it).
func envelope(k proofline.Kind, ttl time.Duration) *proofline.Envelope {
	id := proofline.NewResultID()
	return &proofline.Envelope{
		Version: proofline.EnvelopeVersion, Kind: k, ResultID: id,
		CallbackURL: "http://127.0.0.1:1" + proofline.CallbackPath(k, id),
		Deadline:    time.Now().Add(ttl).UTC().Round(0), TraceID: "trace-" + id[:8], WorkerVersion: "test-ref",
		ClaimToken: bytes.Repeat([]byte{0xc1}, 32), Sealed: []byte("sealed bytes"),
	}
}

type recorder struct {
	mu   sync.Mutex
	envs []*proofline.Envelope
}

func (r *recorder) Handle(_ context.Context, e *proofline.Envelope) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.envs = append(r.envs, e)
	return nil
}

func (r *recorder) n() int { r.mu.Lock(); defer r.mu.Unlock(); return len(r.envs) }

func TestEnvelopeRoundTripsThroughTheQueue(t *testing.T) {
	t.Parallel()
	f := setup(t)
	d := dispatch.New(f.driver(3), dispatch.Options{})
	rec := &recorder{}
	c := f.consumer(rec, nil)
	sent := map[string]*proofline.Envelope{}
	for _, k := range proofline.Kinds {
		e := envelope(k, time.Minute)
		sent[e.ResultID] = e
		if err := d.Dispatch(context.Background(), e); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "3 jobs", func() bool { return rec.n() == 3 })
	for _, got := range rec.envs {
		want := sent[got.ResultID]
		if want == nil || got.Kind != want.Kind || got.CallbackURL != want.CallbackURL || !got.Deadline.Equal(want.Deadline) ||
			got.TraceID != want.TraceID || got.WorkerVersion != want.WorkerVersion || !bytes.Equal(got.Sealed, want.Sealed) || got.Version != want.Version {
			t.Fatalf("envelope changed in transit: got %+v want %+v", got, want)
		}
		if c.Metrics().Jobs(got.Kind, queuedispatch.OutcomeDelivered) != 1 {
			t.Errorf("%s: delivered count %d", got.Kind, c.Metrics().Jobs(got.Kind, queuedispatch.OutcomeDelivered))
		}
	}
	// Retention none: nothing of a done job stays in Redis.
	for _, k := range proofline.Kinds {
		waitFor(t, "queue "+string(k)+" empty", func() bool { q := f.queue(k); return f.idle(k) && q.Completed == 0 && q.Archived == 0 })
	}
}

// TestRuntimeThroughQueueDeliversOnce runs the real worker runtime behind the
// consumer: a sealed envelope is claimed, opened, proofed (fake vendor edge)
// and delivered to a receiver standing for the IdP, which releases each
// job's data key once.
func TestRuntimeThroughQueueDeliversOnce(t *testing.T) {
	t.Parallel()
	f := setup(t)
	var posts, stored atomic.Int64
	done := map[string]bool{}
	keys := map[string]*proofline.JobKeys{}
	var mu sync.Mutex
	cb := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.Header.Get(proofline.HeaderAuthToken) != "address-token-aaaaaaaaaaaa" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		mu.Lock()
		defer mu.Unlock()
		id := strings.Split(r.URL.Path, "/")[4]
		if strings.HasSuffix(r.URL.Path, "/claim") {
			req, err := proofline.ParseClaimRequest(body)
			if err != nil || req.Verify(proofline.KindAddress, id, keys[id].ClaimToken) != nil {
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
			if keys[id].DataKey == nil {
				w.WriteHeader(http.StatusConflict)
				return
			}
			answer, _ := proofline.AnswerClaim(proofline.KindAddress, id, req, keys[id].DataKey)
			keys[id].DataKey = nil
			_, _ = w.Write(answer)
			return
		}
		posts.Add(1)
		if _, err := proofline.OpenCallback(keys[id].CallbackSecret, proofline.KindAddress, id, r.Method, r.URL.Path, r.Header.Get(proofline.HeaderTimestamp), time.Now(), time.Minute, body); err != nil {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		if done[r.URL.Path] {
			w.WriteHeader(http.StatusConflict)
			return
		}
		done[r.URL.Path] = true
		stored.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(cb.Close)
	var proofed atomic.Int64
	rt, err := worker.New(worker.Options{
		Proofer: proofFunc(func(ctx context.Context, k proofline.Kind, p *proofline.Payload) *proofline.Result {
			proofed.Add(1)
			return &proofline.Result{Success: p.Address.Applicant.Phone.Reveal() == "2025550100", Errors: map[string][]string{}}
		}),
		Tokens:               worker.StaticTokens{proofline.KindAddress: "address-token-aaaaaaaaaaaa"},
		AllowedCallbackHosts: []string{strings.TrimPrefix(cb.URL, "http://")},
		Version:              "test-ref",
	})
	if err != nil {
		t.Fatal(err)
	}
	c := f.consumer(rt, nil)
	drv := f.driver(3)
	id := proofline.NewResultID()
	env, jk, err := proofline.SealEnvelope(proofline.Envelope{
		Kind: proofline.KindAddress, ResultID: id, CallbackURL: cb.URL + proofline.CallbackPath(proofline.KindAddress, id),
		Deadline: time.Now().Add(time.Minute), TraceID: "t1", WorkerVersion: "test-ref",
	}, &proofline.Payload{Address: &proofline.AddressArgs{Applicant: proofline.Applicant{Phone: "2025550100"}}})
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	keys[id] = jk
	mu.Unlock()
	if err := drv.Send(context.Background(), env); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "delivery", func() bool { return c.Metrics().Jobs(proofline.KindAddress, queuedispatch.OutcomeDelivered) == 1 })
	// At-least-once delivery, at-most-once proofing: the same job delivered
	// again (a redelivery after a lost acknowledgement) meets 409 at its
	// claim and is not proofed again.
	env2 := *env
	if err := c.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	c2 := f.consumer(rt, nil)
	if err := drv.Send(context.Background(), &env2); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "redelivery", func() bool { return c2.Metrics().Jobs(proofline.KindAddress, queuedispatch.OutcomeDuplicate) == 1 })
	if stored.Load() != 1 || posts.Load() != 1 || proofed.Load() != 1 {
		t.Fatalf("stored %d outcomes from %d posts, %d proofings; want 1 from 1, proofed once", stored.Load(), posts.Load(), proofed.Load())
	}
}

type proofFunc func(ctx context.Context, k proofline.Kind, p *proofline.Payload) *proofline.Result

func (f proofFunc) Proof(ctx context.Context, k proofline.Kind, p *proofline.Payload) *proofline.Result {
	return f(ctx, k, p)
}

func TestPerKindQueues(t *testing.T) {
	t.Parallel()
	f := setup(t)
	d := f.driver(0)
	for _, k := range proofline.Kinds {
		for range 2 {
			if err := d.Send(context.Background(), envelope(k, time.Minute)); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, k := range proofline.Kinds {
		if q := f.queue(k); q.Pending != 2 {
			t.Fatalf("%s queue holds %d pending, want 2", k, q.Pending)
		}
	}
	// A worker that consumes only address jobs leaves the others queued.
	addr := &recorder{}
	f.consumer(addr, func(o *queuedispatch.ConsumerOptions) { o.Weights = map[proofline.Kind]int{proofline.KindAddress: 1} })
	waitFor(t, "address jobs", func() bool { return addr.n() == 2 })
	for _, e := range addr.envs {
		if e.Kind != proofline.KindAddress {
			t.Fatalf("address-only worker ran a %s job", e.Kind)
		}
	}
	if f.queue(proofline.KindDocument).Pending != 2 || f.queue(proofline.KindResolution).Pending != 2 {
		t.Fatal("address-only worker touched other queues")
	}
	all := &recorder{}
	f.consumer(all, nil)
	waitFor(t, "the other jobs", func() bool { return all.n() == 4 })
}

func TestLateTaskIsDroppedAndCountedNeverProofed(t *testing.T) {
	t.Parallel()
	f := setup(t)
	d := f.driver(3)
	e := envelope(proofline.KindResolution, time.Minute)
	if err := d.Send(context.Background(), e); err != nil {
		t.Fatal(err)
	}
	// The worker's clock is past the job's deadline: the task reached it late.
	var proofed atomic.Int64
	h := dispatch.HandlerFunc(func(context.Context, *proofline.Envelope) error { proofed.Add(1); return nil })
	c := f.consumer(h, func(o *queuedispatch.ConsumerOptions) {
		o.Now = func() time.Time { return time.Now().Add(time.Minute + time.Second) }
	})
	waitFor(t, "the drop", func() bool { return c.Metrics().Dropped(proofline.KindResolution) == 1 })
	waitFor(t, "an empty queue", func() bool { return f.idle(proofline.KindResolution) })
	if proofed.Load() != 0 {
		t.Fatal("a late job was proofed")
	}
	if q := f.queue(proofline.KindResolution); q.Archived != 0 || q.Retry != 0 {
		t.Fatalf("a late job was kept: %+v", q)
	}
	if c.Metrics().Jobs(proofline.KindResolution, queuedispatch.OutcomeDropped) != 1 {
		t.Fatal("drop not counted as an outcome")
	}
	// The real runtime's own ErrExpired (deadline passed while proofing) is
	// deleted too, never retried.
	if err := c.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	var calls atomic.Int64
	c2 := f.consumer(dispatch.HandlerFunc(func(context.Context, *proofline.Envelope) error {
		calls.Add(1)
		return worker.ErrExpired
	}), nil)
	_ = d.Send(context.Background(), envelope(proofline.KindAddress, time.Minute))
	waitFor(t, "expired outcome", func() bool { return c2.Metrics().Jobs(proofline.KindAddress, queuedispatch.OutcomeExpired) == 1 })
	waitFor(t, "an empty queue", func() bool { return f.idle(proofline.KindAddress) })
	if calls.Load() != 1 || f.queue(proofline.KindAddress).Archived != 0 {
		t.Fatalf("expired job ran %d times / archived", calls.Load())
	}
}

// failing fails its first n calls with err.
func failing(n int64, err error) (dispatch.Handler, *atomic.Int64) {
	var calls atomic.Int64
	return dispatch.HandlerFunc(func(context.Context, *proofline.Envelope) error {
		if calls.Add(1) <= n {
			return err
		}
		return nil
	}), &calls
}

func TestUndeliveredJobIsRetriedWhileTheDeadlineAllows(t *testing.T) {
	t.Parallel()
	f := setup(t)
	d := f.driver(3)
	h, calls := failing(2, &worker.DeliveryError{Status: 503, Tries: 3, Cause: errors.New("server error")})
	c := f.consumer(h, nil)
	if err := d.Send(context.Background(), envelope(proofline.KindAddress, time.Minute)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "delivery after two retries", func() bool { return c.Metrics().Jobs(proofline.KindAddress, queuedispatch.OutcomeDelivered) == 1 })
	if calls.Load() != 3 || c.Metrics().Jobs(proofline.KindAddress, queuedispatch.OutcomeRetried) != 2 {
		t.Fatalf("calls %d, retried %d", calls.Load(), c.Metrics().Jobs(proofline.KindAddress, queuedispatch.OutcomeRetried))
	}
	waitFor(t, "an empty queue", func() bool { return f.idle(proofline.KindAddress) })
}

func TestNoRetryPastTheDeadlineOrTheRetryBudget(t *testing.T) {
	t.Parallel()
	undelivered := &worker.DeliveryError{Status: 0, Tries: 3, Cause: errors.New("callback transport error")}
	t.Run("deadline", func(t *testing.T) {
		t.Parallel()
		f := setup(t)
		d := f.driver(5)
		h, calls := failing(100, undelivered)
		// Half a second left by the worker's clock: less than a retry costs.
		c := f.consumer(h, func(o *queuedispatch.ConsumerOptions) {
			o.Now = func() time.Time { return time.Now().Add(time.Minute - 500*time.Millisecond) }
		})
		_ = d.Send(context.Background(), envelope(proofline.KindDocument, time.Minute))
		waitFor(t, "undelivered", func() bool { return c.Metrics().Jobs(proofline.KindDocument, queuedispatch.OutcomeUndelivered) == 1 })
		waitFor(t, "an empty queue", func() bool { return f.idle(proofline.KindDocument) })
		if calls.Load() != 1 || f.queue(proofline.KindDocument).Archived != 0 {
			t.Fatalf("calls %d; archived %d", calls.Load(), f.queue(proofline.KindDocument).Archived)
		}
	})
	t.Run("retries", func(t *testing.T) {
		t.Parallel()
		f := setup(t)
		d := f.driver(1)
		h, calls := failing(100, undelivered)
		c := f.consumer(h, nil)
		_ = d.Send(context.Background(), envelope(proofline.KindDocument, time.Minute))
		waitFor(t, "undelivered", func() bool { return c.Metrics().Jobs(proofline.KindDocument, queuedispatch.OutcomeUndelivered) == 1 })
		if calls.Load() != 2 {
			t.Fatalf("calls %d, want 2 (one retry)", calls.Load())
		}
	})
	t.Run("refused", func(t *testing.T) {
		t.Parallel()
		f := setup(t)
		d := f.driver(3)
		h, calls := failing(100, &worker.DeliveryError{Status: 410, Tries: 1, Cause: errors.New("callback refused")})
		c := f.consumer(h, nil)
		_ = d.Send(context.Background(), envelope(proofline.KindDocument, time.Minute))
		waitFor(t, "undelivered", func() bool { return c.Metrics().Jobs(proofline.KindDocument, queuedispatch.OutcomeUndelivered) == 1 })
		waitFor(t, "an empty queue", func() bool { return f.idle(proofline.KindDocument) })
		if calls.Load() != 1 {
			t.Fatalf("a refused callback was retried: %d calls", calls.Load())
		}
	})
}

func TestRejectedJobsAreNotRetried(t *testing.T) {
	t.Parallel()
	f := setup(t)
	d := f.driver(3)
	h, calls := failing(100, fmt.Errorf("%w: envelope does not open", worker.ErrRejected))
	c := f.consumer(h, nil)
	_ = d.Send(context.Background(), envelope(proofline.KindResolution, time.Minute))
	// A task whose payload is not an envelope never reaches the handler.
	cl := asynq.NewClient(f.opt)
	defer cl.Close()
	if _, err := cl.Enqueue(asynq.NewTask(queuedispatch.TaskType(proofline.KindResolution), []byte("{not json"),
		asynq.Queue(queuedispatch.QueueName(f.prefix, proofline.KindResolution)), asynq.MaxRetry(3))); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "two rejections", func() bool {
		return c.Metrics().Jobs(proofline.KindResolution, queuedispatch.OutcomeRejected)+c.Metrics().Jobs("unknown", queuedispatch.OutcomeRejected) == 2
	})
	waitFor(t, "an empty queue", func() bool { return f.idle(proofline.KindResolution) })
	if q := f.queue(proofline.KindResolution); q.Archived != 0 {
		t.Fatalf("rejected tasks archived: %d", q.Archived)
	}
	if calls.Load() != 1 {
		t.Fatalf("handler calls %d, want 1", calls.Load())
	}
}

func TestShutdownDrainsInFlightJobs(t *testing.T) {
	t.Parallel()
	f := setup(t)
	d := f.driver(3)
	started := make(chan struct{}, 4)
	release := make(chan struct{})
	var finished atomic.Int64
	c := f.consumer(dispatch.HandlerFunc(func(ctx context.Context, e *proofline.Envelope) error {
		started <- struct{}{}
		<-release
		finished.Add(1)
		return nil
	}), nil)
	for range 2 {
		_ = d.Send(context.Background(), envelope(proofline.KindAddress, time.Minute))
	}
	<-started
	<-started
	// As on SIGTERM: stop taking jobs, then drain. A job sent now waits for
	// another worker.
	c.Stop()
	_ = d.Send(context.Background(), envelope(proofline.KindAddress, time.Minute))
	stopped := make(chan error, 1)
	go func() { stopped <- c.Shutdown(context.Background()) }()
	select {
	case err := <-stopped:
		t.Fatalf("Shutdown returned %v with jobs in flight", err)
	default:
	}
	close(release)
	if err := <-stopped; err != nil {
		t.Fatal(err)
	}
	if finished.Load() != 2 || c.Metrics().Jobs(proofline.KindAddress, queuedispatch.OutcomeDelivered) != 2 {
		t.Fatalf("drained %d of 2", finished.Load())
	}
	if q := f.queue(proofline.KindAddress); q.Active != 0 || q.Pending != 1 {
		t.Fatalf("after drain: active %d pending %d, want 0 and 1 (the job sent during shutdown waits)", q.Active, q.Pending)
	}
	if err := c.Shutdown(context.Background()); err != nil {
		t.Fatal("second Shutdown:", err)
	}
}

func TestShutdownCancelsJobsWhenItsContextEnds(t *testing.T) {
	t.Parallel()
	f := setup(t)
	d := f.driver(3)
	started := make(chan struct{}, 1)
	var cancelled atomic.Int64
	c := f.consumer(dispatch.HandlerFunc(func(ctx context.Context, e *proofline.Envelope) error {
		started <- struct{}{}
		<-ctx.Done()
		cancelled.Add(1)
		return &worker.DeliveryError{Cause: ctx.Err()}
	}), nil)
	_ = d.Send(context.Background(), envelope(proofline.KindAddress, time.Minute))
	<-started
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := c.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown: %v, want deadline exceeded", err)
	}
	if cancelled.Load() != 1 {
		t.Fatal("the hung job was not cancelled")
	}
	// The cancelled job goes back to the queue for another worker (its
	// deadline allows it).
	waitFor(t, "the job back in the queue", func() bool { q := f.queue(proofline.KindAddress); return q.Retry+q.Pending == 1 })
}

// Conformance: what the in-process pool's tests require of every driver.

func TestConformanceRunsEveryJobWithBoundedConcurrency(t *testing.T) {
	t.Parallel()
	f := setup(t)
	var running, peak, done atomic.Int64
	h := dispatch.HandlerFunc(func(ctx context.Context, e *proofline.Envelope) error {
		n := running.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		time.Sleep(time.Millisecond)
		running.Add(-1)
		done.Add(1)
		return nil
	})
	f.consumer(h, func(o *queuedispatch.ConsumerOptions) { o.Concurrency = 4 })
	d := dispatch.New(f.driver(0), dispatch.Options{})
	for i := range 200 {
		if err := d.Dispatch(context.Background(), envelope(proofline.Kinds[i%3], time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "200 jobs", func() bool { return done.Load() == 200 })
	if peak.Load() > 4 {
		t.Fatalf("ran %d jobs at once with concurrency 4", peak.Load())
	}
	if err := d.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestConformanceClosedAndUnreachableAreUnavailable(t *testing.T) {
	t.Parallel()
	f := setup(t)
	d := dispatch.New(f.driver(0), dispatch.Options{})
	if err := d.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := d.Dispatch(context.Background(), envelope(proofline.KindAddress, time.Minute)); !errors.Is(err, dispatch.ErrClosed) || proofline.ErrorCode(err) != proofline.EUNAVAILABLE {
		t.Fatalf("closed driver: %v", err)
	}
	if err := d.Close(context.Background()); err != nil {
		t.Fatal("second Close:", err)
	}

	// Redis gone after start: EUNAVAILABLE ("try again"), and the error
	// never carries the URL's password.
	own, err := redistest.StartWith(redistest.Options{Password: "queue-secret-pw"})
	if err != nil {
		t.Fatal(err)
	}
	defer own.Stop()
	opt, err := queuedispatch.ParseRedisURL(own.URL())
	if err != nil {
		t.Fatal(err)
	}
	drv, err := queuedispatch.NewDriver(queuedispatch.DriverOptions{Redis: opt, QueuePrefix: f.prefix})
	if err != nil {
		t.Fatal(err)
	}
	defer drv.Close(context.Background())
	own.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = dispatch.New(drv, dispatch.Options{}).Dispatch(ctx, envelope(proofline.KindAddress, time.Minute))
	if proofline.ErrorCode(err) != proofline.EUNAVAILABLE || strings.Contains(fmt.Sprint(err), "queue-secret-pw") {
		t.Fatalf("redis down: %v", err)
	}
	if _, err := queuedispatch.NewDriver(queuedispatch.DriverOptions{Redis: opt}); err == nil {
		t.Fatal("NewDriver with Redis down succeeded")
	}
	if _, err := queuedispatch.ParseRedisURL("redis://:queue-secret-pw@127.0.0.1:1/notadb"); err == nil || strings.Contains(err.Error(), "queue-secret-pw") {
		t.Fatalf("bad URL: %v", err)
	}
}

func TestConformanceRefusesExpiredEnvelope(t *testing.T) {
	t.Parallel()
	f := setup(t)
	d := dispatch.New(f.driver(0), dispatch.Options{})
	if err := d.Dispatch(context.Background(), envelope(proofline.KindAddress, -time.Second)); proofline.ErrorCode(err) != proofline.EINVALID {
		t.Fatalf("got %v", err)
	}
	if q := f.queue(proofline.KindAddress); q.Pending != 0 {
		t.Fatal("an expired envelope was queued")
	}
}

func TestConformanceSurvivesPanickingJob(t *testing.T) {
	t.Parallel()
	f := setup(t)
	var ok atomic.Int64
	c := f.consumer(dispatch.HandlerFunc(func(_ context.Context, e *proofline.Envelope) error {
		if e.TraceID == "panic" {
			panic("boom")
		}
		ok.Add(1)
		return nil
	}), func(o *queuedispatch.ConsumerOptions) { o.Concurrency = 1 })
	d := f.driver(0)
	bad := envelope(proofline.KindAddress, time.Minute)
	bad.TraceID = "panic"
	_ = d.Send(context.Background(), bad)
	_ = d.Send(context.Background(), envelope(proofline.KindAddress, time.Minute))
	waitFor(t, "the second job", func() bool { return ok.Load() == 1 })
	waitFor(t, "the panic counted", func() bool { return c.Metrics().Jobs(proofline.KindAddress, queuedispatch.OutcomeUndelivered) == 1 })
}

func TestSameJobSentTwiceIsQueuedOnce(t *testing.T) {
	t.Parallel()
	f := setup(t)
	d := f.driver(0)
	e := envelope(proofline.KindAddress, time.Minute)
	for range 2 {
		if err := d.Send(context.Background(), e); err != nil {
			t.Fatal(err)
		}
	}
	if q := f.queue(proofline.KindAddress); q.Pending != 1 {
		t.Fatalf("pending %d, want 1", q.Pending)
	}
}

func TestMetricsExportCountersAndQueueFigures(t *testing.T) {
	t.Parallel()
	f := setup(t)
	d := f.driver(0)
	rec := &recorder{}
	c := f.consumer(rec, nil)
	_ = d.Send(context.Background(), envelope(proofline.KindAddress, time.Minute))
	waitFor(t, "the job", func() bool { return rec.n() == 1 })
	srv := httptest.NewServer(c.MetricsHandler())
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	q := queuedispatch.QueueName(f.prefix, proofline.KindAddress)
	for _, want := range []string{
		`proofline_queue_jobs_total{kind="address",outcome="delivered"} 1`,
		`proofline_queue_expired_dropped_total{kind="resolution"} 0`,
		`proofline_queue_jobs_in_flight 0`,
		`proofline_queue_up{queue="` + q + `"} 1`,
		`proofline_queue_tasks{queue="` + q + `",state="archived"} 0`,
		`proofline_queue_tasks{queue="` + q + `",state="pending"} 0`,
		`# TYPE proofline_queue_jobs_total counter`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %q:\n%s", want, body)
		}
	}
}
