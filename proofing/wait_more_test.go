package proofing_test

import (
	"context"
	"testing"
	"time"

	"github.com/proofline/proofline"
	"github.com/proofline/proofline/proofing"
)

// A poll interval of zero means the default: a done job is answered.
func TestWaitOutcomeZeroPoll(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	st := h.startAddress(context.Background(), proofing.Attempt{})
	if err := h.send(h.result(st.ResultID, addressOK)); err != nil {
		t.Fatal(err)
	}
	o, err := h.svc.WaitOutcome(context.Background(), st.ResultID, 0)
	if err != nil || o.Status != proofline.StatusDone {
		t.Fatalf("wait with poll 0: %+v %v", o, err)
	}
}

// A wait too short for two polls reads the store at once: a result another
// server stored is answered now, not when the wait runs out.
func TestWaitOutcomeShortWaitReadsFirst(t *testing.T) {
	t.Parallel()
	a, b := twoServers(t)
	st := a.startAddress(context.Background(), proofing.Attempt{})
	if err := b.send(a.result(st.ResultID, addressOK)); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	o, err := a.svc.WaitOutcome(ctx, st.ResultID, time.Hour)
	if err != nil || o.Status != proofline.StatusDone {
		t.Fatalf("short wait on the starting server: %+v %v", o, err)
	}
}

// Every local waiter on a job is woken by its callback, also after
// another waiter on it left.
func TestWaitOutcomeWakesEveryWaiter(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	st := h.startAddress(context.Background(), proofing.Attempt{})
	cb := h.result(st.ResultID, addressOK)
	leaving, leave := context.WithCancel(context.Background())
	left := make(chan struct{})
	go func() {
		defer close(left)
		_, _ = h.svc.WaitOutcome(leaving, st.ResultID, time.Hour)
	}()
	got := make(chan *proofline.Outcome, 2)
	for range 2 {
		go func() {
			o, _ := h.svc.WaitOutcome(context.Background(), st.ResultID, time.Hour) // no polling: only the wake-up ends it
			got <- o
		}()
	}
	time.Sleep(20 * time.Millisecond) // let the waiters register (the test still passes if they have not: the first read sees done)
	leave()
	<-left
	if err := h.send(cb); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		select {
		case o := <-got:
			if o.Status != proofline.StatusDone {
				t.Fatalf("woken with %s", o.Status)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("a waiter not woken by the callback")
		}
	}
}

// A long poll without a deadline on the server that started the job
// answers from what that server wrote and reads the store only at its poll
// interval (a round trip saved per wait): a result stored on another
// server is not seen before the next poll.
func TestWaitOutcomeWithoutDeadlineReadsAtPollOnly(t *testing.T) {
	t.Parallel()
	a, b := twoServers(t)
	st := a.startAddress(context.Background(), proofing.Attempt{})
	if err := b.send(a.result(st.ResultID, addressOK)); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer time.AfterFunc(100*time.Millisecond, cancel).Stop()
	before := a.drv.readCount()
	o, err := a.svc.WaitOutcome(ctx, st.ResultID, time.Hour)
	if err == nil || o.Status != proofline.StatusPending {
		t.Fatalf("wait without a deadline, cancelled before its first poll: %+v %v, want pending", o, err)
	}
	if n := a.drv.readCount() - before; n != 0 {
		t.Errorf("the wait read the store %d times before its first poll", n)
	}
}
