package resultstore_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/proofline/proofline"
	"github.com/proofline/proofline/internal/testclock"
	"github.com/proofline/proofline/resultstore"
	"github.com/proofline/proofline/resultstore/storetest"
)

// hookDriver runs afterGet once, after the next Get has read its value and
// before the Store sees it: what another server does while a read is in
// flight.
type hookDriver struct {
	resultstore.Driver
	mu       sync.Mutex
	afterGet func()
}

func (h *hookDriver) Get(ctx context.Context, id string) ([]byte, error) {
	b, err := h.Driver.Get(ctx, id)
	h.mu.Lock()
	f := h.afterGet
	h.afterGet = nil
	h.mu.Unlock()
	if f != nil {
		f()
	}
	return b, err
}

func deadlineSetup(t *testing.T) (*testclock.Clock, *hookDriver, *resultstore.Store, resultstore.Pending) {
	t.Helper()
	var d *hookDriver
	clk, st, p := claimedSetup(t, func(m resultstore.Driver) resultstore.Driver { d = &hookDriver{Driver: m}; return d })
	return clk, d, st, p
}

// claimedSetup is a Store over a memory driver wrapped by wrap, on a test
// clock, holding one pending record (deadline in 10 s, timeout a minute)
// that a worker has claimed.
func claimedSetup(t *testing.T, wrap func(resultstore.Driver) resultstore.Driver) (*testclock.Clock, *resultstore.Store, resultstore.Pending) {
	t.Helper()
	clk := testclock.New(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC))
	d := wrap(resultstore.NewMemory(resultstore.MemoryOptions{Now: clk.Now}))
	st := resultstore.New(d, storetest.NewRing(t, "k1"), resultstore.Options{Timeout: time.Minute, Now: clk.Now})
	t.Cleanup(func() { _ = st.Close() })
	ctx := context.Background()
	p := storetest.NewPending(clk.Now(), 10*time.Second)
	if err := st.CreatePending(ctx, p); err != nil {
		t.Fatal(err)
	}
	rec, err := st.Lookup(ctx, p.ResultID)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Claim(ctx, rec, clk.Now()); err != nil {
		t.Fatal(err)
	}
	return clk, st, p
}

// A callback checked before the deadline whose compare-and-swap lands after
// a reader was told timed_out must not turn the attempt into done: the
// person saw "timed out", so that is its one outcome. (Before the fix the
// late swap won and later reads said done; the fleet's deadline-race test
// saw it with Redis 100±80 ms away.)
func TestTimedOutIsFinal(t *testing.T) {
	t.Parallel()
	clk, _, st, p := deadlineSetup(t)
	ctx := context.Background()
	rec, err := st.Lookup(ctx, p.ResultID) // the callback handler's read, before the deadline
	if err != nil {
		t.Fatal(err)
	}
	clk.Advance(11 * time.Second)
	o, err := st.Outcome(ctx, p.ResultID)
	if err != nil || o.Status != proofline.StatusTimedOut {
		t.Fatalf("Outcome past the deadline = %+v, %v; want timed_out", o, err)
	}
	err = st.Complete(ctx, rec, &proofline.Result{Success: true}, clk.Now().Add(-2*time.Second))
	storetest.WantCode(t, err, proofline.EGONE)
	o, err = st.Outcome(ctx, p.ResultID)
	if err != nil || o.Status != proofline.StatusTimedOut {
		t.Fatalf("Outcome after the late swap = %+v, %v; want timed_out still", o, err)
	}
}

// A read that found the record pending, then the clock past the deadline,
// must not say timed_out when a callback stored the result in between: the
// reader would report a timeout for a job that was done before its deadline.
func TestTimedOutNotFromAStaleRead(t *testing.T) {
	t.Parallel()
	clk, d, st, p := deadlineSetup(t)
	ctx := context.Background()
	rec, err := st.Lookup(ctx, p.ResultID)
	if err != nil {
		t.Fatal(err)
	}
	d.mu.Lock()
	d.afterGet = func() {
		// While the read is in flight: the callback lands (before the
		// deadline), then the clock passes the deadline.
		if err := st.Complete(ctx, rec, &proofline.Result{Success: true}, clk.Now()); err != nil {
			t.Errorf("Complete: %v", err)
		}
		clk.Advance(11 * time.Second)
	}
	d.mu.Unlock()
	o, err := st.Outcome(ctx, p.ResultID)
	if err != nil || o.Status != proofline.StatusDone {
		t.Fatalf("Outcome = %+v, %v; want done (stored before the deadline)", o, err)
	}
}
