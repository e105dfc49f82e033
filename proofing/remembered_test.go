package proofing_test

import (
	"context"
	"testing"
	"time"

	"github.com/proofline/proofline"
	"github.com/proofline/proofline/dispatch"
	"github.com/proofline/proofline/proofing"
	"github.com/proofline/proofline/resultstore"
	"github.com/proofline/proofline/seal"
)

// Two servers over one store: the job starts on a, its claim and callback
// land on b. A long poll on a (which still remembers the job as it wrote it,
// pending) sees the result within its poll interval, and the result is
// stored once.
func TestWaitOutcomeSeesCallbackOnAnotherServer(t *testing.T) {
	t.Parallel()
	k, _ := seal.Generate("k1")
	ring, _ := seal.NewKeyRing(k)
	driver := resultstore.NewMemory(resultstore.MemoryOptions{})
	t.Cleanup(func() { _ = driver.Close() })
	kp := &keep{envs: map[string]*proofline.Envelope{}}
	server := func() *proofing.Service {
		st := resultstore.New(driver, ring, resultstore.Options{Timeout: time.Minute})
		svc, err := proofing.New(proofing.Options{Store: st, Dispatcher: dispatch.New(kp, dispatch.Options{}),
			CallbackTokens: tokens, CallbackBaseURL: "http://127.0.0.1:1", Timeout: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		return svc
	}
	a, b := server(), server()
	st, err := a.StartAddress(context.Background(), proofing.AddressRequest{Applicant: proofline.Applicant{Phone: "7035550100"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := deliver(t, b, kp, ring, st.ResultID); err != nil {
		t.Fatalf("callback on the other server: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	o, err := a.WaitOutcome(ctx, st.ResultID, 20*time.Millisecond)
	if err != nil || o.Status != proofline.StatusDone {
		t.Fatalf("long poll on the starting server: %v %v", o, err)
	}
	// A redelivered envelope claimed on a, which remembers the job
	// unclaimed: refused.
	kp.mu.Lock()
	env := kp.envs[st.ResultID]
	kp.mu.Unlock()
	c, _ := proofline.NewClaimant(env)
	if _, err := a.ClaimJob(context.Background(), proofing.Claim{Kind: env.Kind, ResultID: env.ResultID, Token: tokens[env.Kind], Body: c.Body()}); proofline.ErrorCode(err) != proofline.ECONFLICT {
		t.Fatalf("a second claim: %v", err)
	}
}
