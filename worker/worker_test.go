package worker_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/proofline/proofline"
	"github.com/proofline/proofline/seal"
	"github.com/proofline/proofline/worker"
)

type fakeProofer struct {
	calls atomic.Int64
	delay time.Duration
}

func (f *fakeProofer) Proof(ctx context.Context, kind proofline.Kind, p *proofline.Payload) *proofline.Result {
	f.calls.Add(1)
	if f.delay > 0 {
		select {
		case <-time.After(f.delay):
		case <-ctx.Done():
		}
	}
	r := &proofline.Result{Success: true, TransactionID: "tx"}
	r.Normalize()
	return r
}

type receiver struct {
	mu       sync.Mutex
	statuses []int // answers, in order; the last repeats
	requests []*http.Request
	bodies   [][]byte
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	rc.requests = append(rc.requests, r)
	rc.bodies = append(rc.bodies, b)
	i := min(len(rc.requests)-1, len(rc.statuses)-1)
	st := rc.statuses[i]
	rc.mu.Unlock()
	w.WriteHeader(st)
}

func (rc *receiver) count() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return len(rc.requests)
}

type fixture struct {
	ring    *seal.KeyRing
	srv     *httptest.Server
	rc      *receiver
	proofer *fakeProofer
	rt      *worker.Runtime
	secret  []byte
}

func setup(t *testing.T, statuses ...int) *fixture {
	t.Helper()
	if len(statuses) == 0 {
		statuses = []int{http.StatusNoContent}
	}
	k, _ := seal.Generate("k1")
	ring, _ := seal.NewKeyRing(k)
	f := &fixture{ring: ring, rc: &receiver{statuses: statuses}, proofer: &fakeProofer{}, secret: bytes.Repeat([]byte{5}, 32)}
	f.srv = httptest.NewServer(f.rc)
	t.Cleanup(f.srv.Close)
	u, _ := url.Parse(f.srv.URL)
	rt, err := worker.New(worker.Options{
		Sealer: ring, Proofer: f.proofer, Version: "ref123",
		Tokens:               worker.StaticTokens{proofline.KindAddress: "address-token-0123456789"},
		AllowedCallbackHosts: []string{u.Host}, Backoff: 10 * time.Millisecond, TryTimeout: 500 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	f.rt = rt
	return f
}

func (f *fixture) envelope(t *testing.T, deadline time.Duration) *proofline.Envelope {
	t.Helper()
	id := proofline.NewResultID()
	env, err := proofline.SealEnvelope(f.ring, proofline.Envelope{
		Kind: proofline.KindAddress, ResultID: id, CallbackURL: f.srv.URL + proofline.CallbackPath(proofline.KindAddress, id),
		Deadline: time.Now().Add(deadline), TraceID: "trace",
	}, &proofline.Payload{CallbackSecret: f.secret, Address: &proofline.AddressArgs{Applicant: proofline.Applicant{Phone: "7035550100"}}})
	if err != nil {
		t.Fatal(err)
	}
	return env
}

func TestDeliversSignedCallback(t *testing.T) {
	t.Parallel()
	f := setup(t)
	env := f.envelope(t, time.Minute)
	if err := f.rt.Handle(context.Background(), env); err != nil {
		t.Fatal(err)
	}
	if f.rc.count() != 1 {
		t.Fatalf("%d callbacks, want 1", f.rc.count())
	}
	r, body := f.rc.requests[0], f.rc.bodies[0]
	if r.Method != http.MethodPost || r.URL.Path != proofline.CallbackPath(proofline.KindAddress, env.ResultID) {
		t.Errorf("callback %s %s", r.Method, r.URL.Path)
	}
	if r.Header.Get(proofline.HeaderAuthToken) != "address-token-0123456789" || r.Header.Get("Content-Type") != "application/json" || r.Header.Get(proofline.HeaderWorkerVersion) != "ref123" {
		t.Errorf("headers: %v", r.Header)
	}
	proof := proofline.CallbackProof{Secret: r.Header.Get(proofline.HeaderJobSecret), Timestamp: r.Header.Get(proofline.HeaderTimestamp), Signature: r.Header.Get(proofline.HeaderSignature)}
	if err := proofline.VerifyCallback(proof, proofline.HashSecret(f.secret), time.Now(), time.Minute, r.Method, r.URL.Path, body); err != nil {
		t.Errorf("callback does not verify: %v", err)
	}
	var decoded map[string]proofline.Result
	if err := json.Unmarshal(body, &decoded); err != nil || !decoded["address_result"].Success {
		t.Errorf("body %s", body)
	}
}

func TestRetriesServerErrorsThenSucceeds(t *testing.T) {
	t.Parallel()
	f := setup(t, 503, 502, 204)
	if err := f.rt.Handle(context.Background(), f.envelope(t, time.Minute)); err != nil {
		t.Fatal(err)
	}
	if f.rc.count() != 3 {
		t.Fatalf("%d tries, want 3", f.rc.count())
	}
}

func TestDoesNotRetryClientErrors(t *testing.T) {
	t.Parallel()
	f := setup(t, 401)
	err := f.rt.Handle(context.Background(), f.envelope(t, time.Minute))
	var de *worker.DeliveryError
	if !errors.As(err, &de) || de.Status != 401 || de.Tries != 1 {
		t.Fatalf("got %v", err)
	}
	if f.rc.count() != 1 {
		t.Fatalf("%d tries of a 401, want 1", f.rc.count())
	}
}

func TestConflictCountsAsDelivered(t *testing.T) {
	t.Parallel()
	f := setup(t, 409)
	if err := f.rt.Handle(context.Background(), f.envelope(t, time.Minute)); err != nil {
		t.Fatalf("409 (an earlier try landed) should be delivered: %v", err)
	}
}

func TestGivesUpAfterMaxTries(t *testing.T) {
	t.Parallel()
	f := setup(t, 500)
	err := f.rt.Handle(context.Background(), f.envelope(t, time.Minute))
	var de *worker.DeliveryError
	if !errors.As(err, &de) || de.Tries != 3 || f.rc.count() != 3 {
		t.Fatalf("got %v after %d tries", err, f.rc.count())
	}
}

func TestNeverRetriesPastTheDeadline(t *testing.T) {
	t.Parallel()
	f := setup(t, 500)
	rt, _ := worker.New(worker.Options{
		Sealer: f.ring, Proofer: f.proofer, Tokens: worker.StaticTokens{proofline.KindAddress: "address-token-0123456789"},
		AllowedCallbackHosts: []string{mustHost(f.srv.URL)}, Backoff: 200 * time.Millisecond, MaxTries: 50,
	})
	env := f.envelope(t, 500*time.Millisecond)
	err := rt.Handle(context.Background(), env)
	if err == nil {
		t.Fatal("delivered to a server that only fails")
	}
	if time.Now().After(env.Deadline.Add(100 * time.Millisecond)) {
		t.Errorf("worker kept trying %v past the deadline", time.Since(env.Deadline))
	}
	if n := f.rc.count(); n >= 50 || n < 1 {
		t.Errorf("%d tries", n)
	}
}

func TestExpiredEnvelopeIsDroppedUnproofed(t *testing.T) {
	t.Parallel()
	f := setup(t)
	env := f.envelope(t, time.Millisecond)
	time.Sleep(5 * time.Millisecond)
	if err := f.rt.Handle(context.Background(), env); !errors.Is(err, worker.ErrExpired) {
		t.Fatalf("got %v", err)
	}
	if f.proofer.calls.Load() != 0 || f.rc.count() != 0 {
		t.Fatal("expired job was proofed or delivered")
	}
}

func TestResultAfterDeadlineIsNotDelivered(t *testing.T) {
	t.Parallel()
	f := setup(t)
	f.proofer.delay = time.Second // longer than the deadline; the proofer honours ctx
	if err := f.rt.Handle(context.Background(), f.envelope(t, 100*time.Millisecond)); !errors.Is(err, worker.ErrExpired) {
		t.Fatalf("got %v", err)
	}
	if f.rc.count() != 0 {
		t.Fatal("a result was delivered after the deadline")
	}
}

func TestRefusesForeignCallbackAndForeignKeys(t *testing.T) {
	t.Parallel()
	f := setup(t)
	cases := map[string]func(e *proofline.Envelope){
		"other host": func(e *proofline.Envelope) {
			e.CallbackURL = "http://169.254.169.254" + proofline.CallbackPath(e.Kind, e.ResultID)
		},
		"other path": func(e *proofline.Envelope) { e.CallbackURL = f.srv.URL + "/admin" },
		"userinfo": func(e *proofline.Envelope) {
			e.CallbackURL = "http://user:pw@" + mustHost(f.srv.URL) + proofline.CallbackPath(e.Kind, e.ResultID)
		},
		"other scheme":   func(e *proofline.Envelope) { e.CallbackURL = "file:///etc/passwd" },
		"other key ring": func(e *proofline.Envelope) { e.Sealed[len(e.Sealed)-2] ^= 0xff },
	}
	for name, mut := range cases {
		env := f.envelope(t, time.Minute)
		mut(env)
		if err := f.rt.Handle(context.Background(), env); !errors.Is(err, worker.ErrRejected) {
			t.Errorf("%s: got %v", name, err)
		}
	}
	if f.proofer.calls.Load() != 0 || f.rc.count() != 0 {
		t.Fatal("a refused envelope reached the proofer or a callback")
	}
}

func TestMissingTokenFailsBeforeVendor(t *testing.T) {
	t.Parallel()
	f := setup(t)
	rt, _ := worker.New(worker.Options{Sealer: f.ring, Proofer: f.proofer, Tokens: worker.StaticTokens{}, AllowedCallbackHosts: []string{mustHost(f.srv.URL)}})
	if err := rt.Handle(context.Background(), f.envelope(t, time.Minute)); !errors.Is(err, worker.ErrRejected) {
		t.Fatalf("got %v", err)
	}
	if f.proofer.calls.Load() != 0 {
		t.Fatal("vendor called without a callback token")
	}
}

func mustHost(raw string) string {
	u, _ := url.Parse(raw)
	return u.Host
}
