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
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/proofline/proofline"
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

// receiver stands where the IdP would: it answers claims with the job's
// data key (or the statuses in claims) and callbacks with statuses.
type receiver struct {
	mu       sync.Mutex
	statuses []int // callback answers, in order; the last repeats
	claims   []int // claim answers before a 200, in order
	keys     map[string]*proofline.JobKeys
	claimed  int
	requests []*http.Request
	bodies   [][]byte
	opened   [][]byte // callback plaintexts
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if strings.HasSuffix(r.URL.Path, "/claim") {
		rc.claimed++
		if len(rc.claims) > 0 {
			st := rc.claims[0]
			rc.claims = rc.claims[1:]
			w.WriteHeader(st)
			return
		}
		id := strings.Split(r.URL.Path, "/")[4]
		req, err := proofline.ParseClaimRequest(b)
		keys := rc.keys[id]
		if err != nil || keys == nil || req.Verify(proofline.KindAddress, id, keys.ClaimToken) != nil {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		if keys.DataKey == nil {
			w.WriteHeader(http.StatusConflict)
			return
		}
		answer, _ := proofline.AnswerClaim(proofline.KindAddress, id, req, keys.DataKey)
		keys.DataKey = nil // once
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(answer)
		return
	}
	rc.requests = append(rc.requests, r)
	rc.bodies = append(rc.bodies, b)
	if keys := rc.keys[strings.Split(r.URL.Path, "/")[4]]; keys != nil {
		plain, err := proofline.OpenCallback(keys.CallbackSecret, proofline.KindAddress, strings.Split(r.URL.Path, "/")[4], r.Method, r.URL.Path, r.Header.Get(proofline.HeaderTimestamp), time.Now(), time.Minute, b)
		if err == nil {
			rc.opened = append(rc.opened, plain)
		}
	}
	i := min(len(rc.requests)-1, len(rc.statuses)-1)
	w.WriteHeader(rc.statuses[i])
}

func (rc *receiver) count() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return len(rc.requests)
}

type fixture struct {
	srv     *httptest.Server
	rc      *receiver
	proofer *fakeProofer
	rt      *worker.Runtime
}

func setup(t *testing.T, statuses ...int) *fixture {
	t.Helper()
	if len(statuses) == 0 {
		statuses = []int{http.StatusNoContent}
	}
	f := &fixture{rc: &receiver{statuses: statuses, keys: map[string]*proofline.JobKeys{}}, proofer: &fakeProofer{}}
	f.srv = httptest.NewServer(f.rc)
	t.Cleanup(f.srv.Close)
	u, _ := url.Parse(f.srv.URL)
	rt, err := worker.New(worker.Options{
		Proofer: f.proofer, Version: "ref123",
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
	env, keys, err := proofline.SealEnvelope(proofline.Envelope{
		Kind: proofline.KindAddress, ResultID: id, CallbackURL: f.srv.URL + proofline.CallbackPath(proofline.KindAddress, id),
		Deadline: time.Now().Add(deadline), TraceID: "trace",
	}, &proofline.Payload{Address: &proofline.AddressArgs{Applicant: proofline.Applicant{Phone: "7035550100"}}})
	if err != nil {
		t.Fatal(err)
	}
	f.rc.mu.Lock()
	f.rc.keys[id] = keys
	f.rc.mu.Unlock()
	return env
}

func TestDeliversSealedCallback(t *testing.T) {
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
	if r.Header.Get("X-Proofline-Job-Secret") != "" || r.Header.Get("X-Proofline-Signature") != "" || bytes.Contains(body, []byte("success")) {
		t.Errorf("the callback shows its secret or its result: %v %s", r.Header, body)
	}
	if len(f.rc.opened) != 1 {
		t.Fatalf("callback does not open with the job secret: %s", body)
	}
	var decoded map[string]proofline.Result
	if err := json.Unmarshal(f.rc.opened[0], &decoded); err != nil || !decoded["address_result"].Success {
		t.Errorf("body %s", f.rc.opened[0])
	}
}

// A redelivered envelope: the claim is refused (409), nothing is proofed.
func TestRedeliveryIsNotProofedTwice(t *testing.T) {
	t.Parallel()
	f := setup(t)
	env := f.envelope(t, time.Minute)
	if err := f.rt.Handle(context.Background(), env); err != nil {
		t.Fatal(err)
	}
	if err := f.rt.Handle(context.Background(), env); !errors.Is(err, worker.ErrClaimed) {
		t.Fatalf("redelivery: got %v, want ErrClaimed", err)
	}
	if f.proofer.calls.Load() != 1 || f.rc.count() != 1 {
		t.Fatalf("%d proofings, %d callbacks; want 1 and 1", f.proofer.calls.Load(), f.rc.count())
	}
}

func TestClaimAnswers(t *testing.T) {
	t.Parallel()
	cases := []struct {
		claims []int
		want   error
		tries  int
	}{
		{[]int{409}, worker.ErrClaimed, 1},
		{[]int{410}, worker.ErrExpired, 1},
		{[]int{404}, worker.ErrRejected, 1},
		{[]int{401}, worker.ErrRejected, 1},
		{[]int{503, 502}, nil, 3}, // retried, then answered
		{[]int{500, 500, 500}, &worker.DeliveryError{}, 3},
	}
	for _, c := range cases {
		f := setup(t)
		f.rc.claims = c.claims
		err := f.rt.Handle(context.Background(), f.envelope(t, time.Minute))
		var de *worker.DeliveryError
		switch want := c.want.(type) {
		case nil:
			if err != nil {
				t.Errorf("claims %v: %v", c.claims, err)
			}
		case *worker.DeliveryError:
			if !errors.As(err, &de) {
				t.Errorf("claims %v: got %v, want a DeliveryError", c.claims, err)
			}
		default:
			if !errors.Is(err, want) {
				t.Errorf("claims %v: got %v, want %v", c.claims, err, want)
			}
		}
		if f.rc.claimed != c.tries {
			t.Errorf("claims %v: %d tries, want %d", c.claims, f.rc.claimed, c.tries)
		}
		if c.want != nil && (f.proofer.calls.Load() != 0 || f.rc.count() != 0) {
			t.Errorf("claims %v: proofed without a key", c.claims)
		}
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
		Proofer: f.proofer, Tokens: worker.StaticTokens{proofline.KindAddress: "address-token-0123456789"},
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
		"other scheme":     func(e *proofline.Envelope) { e.CallbackURL = "file:///etc/passwd" },
		"tampered payload": func(e *proofline.Envelope) { e.Sealed[len(e.Sealed)-2] ^= 0xff },
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
	rt, _ := worker.New(worker.Options{Proofer: f.proofer, Tokens: worker.StaticTokens{}, AllowedCallbackHosts: []string{mustHost(f.srv.URL)}})
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
