package proofing_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/proofline/proofline"
	"github.com/proofline/proofline/dispatch"
	"github.com/proofline/proofline/internal/testclock"
	"github.com/proofline/proofline/internal/testlog"
	"github.com/proofline/proofline/proofing"
	"github.com/proofline/proofline/resultstore"
	"github.com/proofline/proofline/seal"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// The harness: a Service over a memory store, its dispatcher, attempt
// limiter and blob store all on one manual clock, with what an operator
// sees (counters, observer events, log lines, trace spans) recorded.

// t0 is the harness clock's start.
var t0 = time.Date(2031, 5, 6, 7, 8, 9, 0, time.UTC)

// sender keeps every envelope dispatched; fail makes the next sends fail.
type sender struct {
	mu   sync.Mutex
	envs map[string]*proofline.Envelope
	last *proofline.Envelope
	fail error
}

func (s *sender) Send(_ context.Context, e *proofline.Envelope) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.envs[e.ResultID] = e
	s.last = e
	return s.fail
}

func (s *sender) Close(context.Context) error { return nil }

// flakyDriver is a memory driver whose operations can be made to fail, and
// which counts its reads.
type flakyDriver struct {
	resultstore.Driver
	mu      sync.Mutex
	gets    int
	failOp  map[string]error // "create", "get", "swap", "delete"
	missing bool             // Delete reports the record already gone
}

func (d *flakyDriver) err(op string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.failOp[op]
}

func (d *flakyDriver) setFail(op string, err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.failOp == nil {
		d.failOp = map[string]error{}
	}
	d.failOp[op] = err
}

func (d *flakyDriver) readCount() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.gets
}

func (d *flakyDriver) Create(ctx context.Context, id string, v []byte, ttl time.Duration) error {
	if err := d.err("create"); err != nil {
		return err
	}
	return d.Driver.Create(ctx, id, v, ttl)
}

func (d *flakyDriver) Get(ctx context.Context, id string) ([]byte, error) {
	d.mu.Lock()
	d.gets++
	d.mu.Unlock()
	if err := d.err("get"); err != nil {
		return nil, err
	}
	return d.Driver.Get(ctx, id)
}

func (d *flakyDriver) Swap(ctx context.Context, id string, old, next []byte, ttl time.Duration) error {
	if err := d.err("swap"); err != nil {
		return err
	}
	return d.Driver.Swap(ctx, id, old, next, ttl)
}

func (d *flakyDriver) Delete(ctx context.Context, id string) (bool, error) {
	if err := d.err("delete"); err != nil {
		return false, err
	}
	d.mu.Lock()
	missing := d.missing
	d.mu.Unlock()
	if missing {
		return false, nil
	}
	return d.Driver.Delete(ctx, id)
}

// recorder is the Observer: every event, by kind.
type recorder struct {
	mu       sync.Mutex
	started  map[proofline.Kind]int
	refused  map[string]int // "kind/reason"
	stored   []storedEvent
	mismatch map[proofline.Kind]int
}

type storedEvent struct {
	kind              proofline.Kind
	sinceStart, limit time.Duration
	success           bool
}

func newRecorder() *recorder {
	return &recorder{started: map[proofline.Kind]int{}, refused: map[string]int{}, mismatch: map[proofline.Kind]int{}}
}

func (r *recorder) JobStarted(k proofline.Kind) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.started[k]++
}

func (r *recorder) CallbackRefused(k proofline.Kind, reason string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.refused[string(k)+"/"+reason]++
}

func (r *recorder) ResultStored(k proofline.Kind, since, budget time.Duration, res *proofline.Result) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stored = append(r.stored, storedEvent{k, since, budget, res.Success})
}

func (r *recorder) VersionMismatch(k proofline.Kind) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.mismatch[k]++
}

func (r *recorder) refusals() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]int{}
	for k, v := range r.refused {
		out[k] = v
	}
	return out
}

type harness struct {
	t     *testing.T
	clk   *testclock.Clock
	svc   *proofing.Service
	opts  proofing.Options
	store *resultstore.Store
	drv   *flakyDriver
	out   *sender
	obs   *recorder
	logs  *testlog.Buffer
	spans *tracetest.InMemoryExporter
	ring  *seal.KeyRing
}

const workerVersion = "worker-abc123"

// newHarness returns a Service with a one-minute timeout on a manual clock;
// mod changes its options before New.
func newHarness(t *testing.T, mod func(*harness, *proofing.Options)) *harness {
	t.Helper()
	k, _ := seal.Generate("k1")
	ring, _ := seal.NewKeyRing(k)
	h := &harness{t: t, clk: testclock.New(t0), out: &sender{envs: map[string]*proofline.Envelope{}},
		obs: newRecorder(), logs: &testlog.Buffer{}, spans: tracetest.NewInMemoryExporter(), ring: ring}
	h.drv = &flakyDriver{Driver: resultstore.NewMemory(resultstore.MemoryOptions{Now: h.clk.Now, SweepInterval: -1})}
	h.store = resultstore.New(h.drv, ring, resultstore.Options{Timeout: time.Minute, Now: h.clk.Now})
	t.Cleanup(func() { _ = h.store.Close() })
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(h.spans))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	opts := proofing.Options{
		Store: h.store, Dispatcher: dispatch.New(h.out, dispatch.Options{Now: h.clk.Now}),
		CallbackTokens: tokens, CallbackBaseURL: "https://idp.example.gov", Timeout: time.Minute,
		WorkerVersion: workerVersion, Now: h.clk.Now, Observer: h.obs, TracerProvider: tp,
		Logger: slog.New(slog.NewJSONHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	if mod != nil {
		mod(h, &opts)
	}
	svc, err := proofing.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	h.svc, h.opts = svc, opts
	return h
}

// envelope returns the envelope dispatched for id.
func (h *harness) envelope(id string) *proofline.Envelope {
	h.t.Helper()
	h.out.mu.Lock()
	defer h.out.mu.Unlock()
	env := h.out.envs[id]
	if env == nil {
		h.t.Fatalf("no envelope dispatched for %s", id)
	}
	return env
}

func (h *harness) startAddress(ctx context.Context, who proofing.Attempt) *proofing.Started {
	h.t.Helper()
	st, err := h.svc.StartAddress(ctx, proofing.AddressRequest{Attempt: who, Applicant: proofline.Applicant{Phone: "7035550100"}})
	if err != nil {
		h.t.Fatalf("start: %v", err)
	}
	return st
}

// claim plays the worker's claim of id with its envelope's claim token.
func (h *harness) claim(id string) ([]byte, error) {
	env := h.envelope(id)
	c, err := proofline.NewClaimant(env)
	if err != nil {
		h.t.Fatal(err)
	}
	return h.svc.ClaimJob(context.Background(), proofing.Claim{Kind: env.Kind, ResultID: id, Token: tokens[env.Kind], WorkerVersion: workerVersion, Body: c.Body()})
}

// payload claims id and opens its envelope: what the worker reads.
func (h *harness) payload(id string) *proofline.Payload {
	h.t.Helper()
	env := h.envelope(id)
	c, err := proofline.NewClaimant(env)
	if err != nil {
		h.t.Fatal(err)
	}
	answer, err := h.svc.ClaimJob(context.Background(), proofing.Claim{Kind: env.Kind, ResultID: id, Token: tokens[env.Kind], WorkerVersion: workerVersion, Body: c.Body()})
	if err != nil {
		h.t.Fatalf("claim: %v", err)
	}
	dataKey, err := c.Open(answer)
	if err != nil {
		h.t.Fatal(err)
	}
	p, err := env.Open(dataKey)
	if err != nil {
		h.t.Fatal(err)
	}
	return p
}

// callback is one worker callback, sealed with secret at ts.
type callback struct {
	secret  []byte
	kind    proofline.Kind
	id      string
	ts      time.Time
	body    string // the {"<kind>_result": ...} JSON
	token   string
	version string
}

func (h *harness) send(c callback) error {
	h.t.Helper()
	path := proofline.CallbackPath(c.kind, c.id)
	sealed, err := proofline.SealCallback(c.secret, c.kind, c.id, http.MethodPost, path, c.ts, []byte(c.body))
	if err != nil {
		h.t.Fatal(err)
	}
	return h.svc.ReceiveCallback(context.Background(), proofing.Callback{
		Kind: c.kind, ResultID: c.id, Token: c.token, Timestamp: fmt.Sprint(c.ts.Unix()),
		WorkerVersion: c.version, Method: http.MethodPost, Path: path, Body: sealed,
	})
}

// result is a valid callback of id (claimed here) with body, now, from the
// pinned worker build.
func (h *harness) result(id string, body string) callback {
	h.t.Helper()
	env := h.envelope(id)
	p := h.payload(id)
	return callback{secret: p.CallbackSecret, kind: env.Kind, id: id, ts: h.clk.Now(), body: body, token: tokens[env.Kind], version: workerVersion}
}

// span returns the last ended span named name.
func (h *harness) span(name string) tracetest.SpanStub {
	h.t.Helper()
	spans := h.spans.GetSpans()
	for i := len(spans) - 1; i >= 0; i-- {
		if spans[i].Name == name {
			return spans[i]
		}
	}
	h.t.Fatalf("no span %s", name)
	return tracetest.SpanStub{}
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if got := proofline.ErrorCode(err); got != code {
		t.Fatalf("error %v (%s), want %s", err, got, code)
	}
}

// fieldErrors returns the field errors of a validation error, field →
// message (the first per field).
func fieldErrors(t *testing.T, err error) map[string]string {
	t.Helper()
	var v *proofline.ValidationError
	if !errors.As(err, &v) {
		t.Fatalf("error %v, want a validation error", err)
	}
	out := map[string]string{}
	for _, f := range v.Fields {
		if _, ok := out[f.Field]; !ok {
			out[f.Field] = f.Message
		}
	}
	return out
}

var errDown = errors.New("backend down")
