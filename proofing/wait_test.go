package proofing_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/proofline/proofline"
	"github.com/proofline/proofline/dispatch"
	"github.com/proofline/proofline/proofing"
	"github.com/proofline/proofline/resultstore"
	"github.com/proofline/proofline/seal"
	"github.com/proofline/proofline/tenant"
)

type keep struct {
	mu   sync.Mutex
	envs map[string]*proofline.Envelope
}

func (k *keep) Send(_ context.Context, e *proofline.Envelope) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.envs[e.ResultID] = e
	return nil
}
func (k *keep) Close(context.Context) error { return nil }

var tokens = map[proofline.Kind]string{proofline.KindAddress: "address-token-0123456789", proofline.KindDocument: "document-token-012345678", proofline.KindResolution: "resolution-token-0123456"}

func setup(t *testing.T, timeout time.Duration) (*proofing.Service, *keep, *seal.KeyRing) {
	k, _ := seal.Generate("k1")
	ring, _ := seal.NewKeyRing(k)
	kp := &keep{envs: map[string]*proofline.Envelope{}}
	store := resultstore.New(resultstore.NewMemory(resultstore.MemoryOptions{}), ring, resultstore.Options{Timeout: timeout})
	t.Cleanup(func() { _ = store.Close() }) // its janitor goroutine ends with it
	svc, err := proofing.New(proofing.Options{Store: store, Dispatcher: dispatch.New(kp, dispatch.Options{}),
		CallbackTokens: tokens, CallbackBaseURL: "http://127.0.0.1:1", Timeout: timeout})
	if err != nil {
		t.Fatal(err)
	}
	return svc, kp, ring
}

// deliver plays the worker: a valid callback straight into the service.
func deliver(t *testing.T, svc *proofing.Service, kp *keep, ring *seal.KeyRing, id string) error {
	kp.mu.Lock()
	env := kp.envs[id]
	kp.mu.Unlock()
	c, err := proofline.NewClaimant(env)
	if err != nil {
		t.Fatal(err)
	}
	answer, err := svc.ClaimJob(context.Background(), proofing.Claim{Kind: env.Kind, ResultID: id, Token: tokens[env.Kind], Body: c.Body()})
	if err != nil {
		t.Fatal(err)
	}
	dataKey, err := c.Open(answer)
	if err != nil {
		t.Fatal(err)
	}
	p, err := env.Open(dataKey)
	if err != nil {
		t.Fatal(err)
	}
	path := proofline.CallbackPath(proofline.KindAddress, id)
	now := time.Now()
	body, err := proofline.SealCallback(p.CallbackSecret, proofline.KindAddress, id, http.MethodPost, path, now, []byte(`{"address_result":{"success":true}}`))
	if err != nil {
		t.Fatal(err)
	}
	return svc.ReceiveCallback(context.Background(), proofing.Callback{
		Kind: proofline.KindAddress, ResultID: id, Token: tokens[proofline.KindAddress], Timestamp: fmt.Sprint(now.Unix()),
		Method: http.MethodPost, Path: path, Body: bytes.Clone(body),
	})
}

func TestWaitOutcomeWakesOnCallback(t *testing.T) {
	t.Parallel()
	svc, kp, ring := setup(t, time.Minute)
	st, err := svc.StartAddress(context.Background(), proofing.AddressRequest{Applicant: proofline.Applicant{Phone: "7035550100"}})
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan *proofline.Outcome, 1)
	go func() {
		o, _ := svc.WaitOutcome(context.Background(), st.ResultID, time.Hour) // no polling: only the wake-up can end it
		got <- o
	}()
	time.Sleep(20 * time.Millisecond) // let the waiter register (the test still passes if it has not: the first read sees done)
	if err := deliver(t, svc, kp, ring, st.ResultID); err != nil {
		t.Fatal(err)
	}
	select {
	case o := <-got:
		if o.Status != proofline.StatusDone {
			t.Fatalf("status %s", o.Status)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("waiter not woken by the callback")
	}
}

func TestWaitOutcomeTimesOutAtDeadline(t *testing.T) {
	t.Parallel()
	// 1 s: long enough for a start to finish on a loaded machine under -race
	// (a dispatcher refuses an envelope whose deadline has passed).
	svc, _, _ := setup(t, time.Second)
	start := func() string {
		t.Helper()
		st, err := svc.StartAddress(context.Background(), proofing.AddressRequest{Applicant: proofline.Applicant{Phone: "7035550100"}})
		if err != nil {
			t.Fatalf("start: %v", err)
		}
		return st.ResultID
	}
	o, err := svc.WaitOutcome(context.Background(), start(), time.Hour)
	if err != nil || o.Status != proofline.StatusTimedOut {
		t.Fatalf("got %v %v", o, err)
	}
	id := start()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if o, err := svc.WaitOutcome(ctx, id, time.Hour); err == nil || o.Status != proofline.StatusPending {
		t.Fatalf("cancelled wait: %v %v", o, err)
	}
}

// Another tenant's long poll on a job this server holds pending learns
// nothing: it is told not found at once, as a plain read would tell it,
// not kept waiting as if the job were its own (the server's memory of the
// jobs it wrote must not skip the tenant check).
func TestWaitOutcomeOtherTenantNotFound(t *testing.T) {
	t.Parallel()
	svc, _, _ := setup(t, time.Minute)
	owner := tenant.With(context.Background(), "idp-a")
	st, err := svc.StartAddress(owner, proofing.AddressRequest{Applicant: proofline.Applicant{Phone: "7035550100"}})
	if err != nil {
		t.Fatal(err)
	}
	// No polling (an hour) and no deadline: only the first answer counts,
	// and it must come before the context is cancelled.
	ctx, cancel := context.WithCancel(tenant.With(context.Background(), "idp-b"))
	defer time.AfterFunc(10*time.Second, cancel).Stop()
	o, err := svc.WaitOutcome(ctx, st.ResultID, time.Hour)
	if proofline.ErrorCode(err) != proofline.ENOTFOUND {
		t.Fatalf("another tenant's wait: %+v %v, want not found", o, err)
	}
	short, cancelShort := context.WithTimeout(owner, 50*time.Millisecond)
	defer cancelShort()
	if o, _ := svc.WaitOutcome(short, st.ResultID, 10*time.Millisecond); o == nil || o.Status != proofline.StatusPending {
		t.Fatalf("the owner's wait: %+v, want pending", o)
	}
}

// A delete of a job whose callback landed on this server is judged on the
// tenant this server remembers (no read of the store): another tenant's
// delete is told not found and the result stays for its owner, and a record
// another server deleted meanwhile is not found to the owner either.
func TestForgetAfterCallbackHereOnlyItsTenant(t *testing.T) {
	t.Parallel()
	svc, kp, ring := setup(t, time.Minute)
	owner := tenant.With(context.Background(), "idp-a")
	other := tenant.With(context.Background(), "idp-b")
	start := func() string {
		t.Helper()
		st, err := svc.StartAddress(owner, proofing.AddressRequest{Applicant: proofline.Applicant{Phone: "7035550100"}})
		if err != nil {
			t.Fatal(err)
		}
		if err := deliver(t, svc, kp, ring, st.ResultID); err != nil {
			t.Fatal(err)
		}
		return st.ResultID
	}
	id := start()
	if err := svc.Forget(other, id); proofline.ErrorCode(err) != proofline.ENOTFOUND {
		t.Fatalf("another tenant's delete: %v, want not found", err)
	}
	if o, err := svc.Outcome(owner, id); err != nil || o.Status != proofline.StatusDone {
		t.Fatalf("the owner's read after another tenant's delete: %+v %v, want done", o, err)
	}
	if err := svc.Forget(owner, id); err != nil {
		t.Fatalf("the owner's delete: %v", err)
	}
	if err := svc.Forget(owner, id); proofline.ErrorCode(err) != proofline.ENOTFOUND {
		t.Fatalf("second delete: %v, want not found", err)
	}
}
