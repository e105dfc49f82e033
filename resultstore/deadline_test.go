package resultstore_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
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

// pendingSetup is a Store over a memory driver wrapped by wrap, on a test
// clock, holding one pending record (deadline in 10 s, timeout a minute).
func pendingSetup(t *testing.T, wrap func(resultstore.Driver) resultstore.Driver) (*testclock.Clock, *resultstore.Store, resultstore.Pending) {
	t.Helper()
	clk := testclock.New(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC))
	d := wrap(resultstore.NewMemory(resultstore.MemoryOptions{Now: clk.Now}))
	st := resultstore.New(d, storetest.NewRing(t, "k1"), resultstore.Options{Timeout: time.Minute, Now: clk.Now})
	t.Cleanup(func() { _ = st.Close() })
	p := storetest.NewPending(clk.Now(), 10*time.Second)
	if err := st.CreatePending(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	return clk, st, p
}

// claimedSetup is pendingSetup with the record claimed by a worker.
func claimedSetup(t *testing.T, wrap func(resultstore.Driver) resultstore.Driver) (*testclock.Clock, *resultstore.Store, resultstore.Pending) {
	t.Helper()
	clk, st, p := pendingSetup(t, wrap)
	ctx := context.Background()
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

// busyDriver answers every Swap with ErrConflict once busy is set: another
// server that changes the record between each of our reads and writes. It
// counts the swaps; past 50 it fails them outright, so a store that would
// retry forever ends (and the count says so) instead of hanging the test.
type busyDriver struct {
	resultstore.Driver
	busy  atomic.Bool
	swaps atomic.Int32
}

func (d *busyDriver) Swap(ctx context.Context, id string, old, next []byte, ttl time.Duration) error {
	if !d.busy.Load() {
		return d.Driver.Swap(ctx, id, old, next, ttl)
	}
	if d.swaps.Add(1) > 50 {
		return errors.New("swapped too often")
	}
	return resultstore.ErrConflict
}

func busySetup(t *testing.T) (*testclock.Clock, *busyDriver, *resultstore.Store, *resultstore.Record) {
	t.Helper()
	var d *busyDriver
	clk, st, p := claimedSetup(t, func(m resultstore.Driver) resultstore.Driver { d = &busyDriver{Driver: m}; return d })
	rec, err := st.Lookup(context.Background(), p.ResultID)
	if err != nil {
		t.Fatal(err)
	}
	d.busy.Store(true)
	return clk, d, st, rec
}

// A callback whose write keeps losing to changes it cannot see the end of
// is answered "unavailable" after four writes (the first and three after
// reading the record again), so the worker retries later; it is neither
// taken as recorded nor retried without end against a busy store.
func TestCompleteUnderEndlessConflictGivesUpAfterFourWrites(t *testing.T) {
	t.Parallel()
	_, d, st, rec := busySetup(t)
	err := st.Complete(context.Background(), rec, &proofline.Result{Success: true}, time.Time{})
	storetest.WantCode(t, err, proofline.EUNAVAILABLE)
	if n := d.swaps.Load(); n != 4 {
		t.Errorf("%d writes before giving up, want 4", n)
	}
}

// The same for a reader ending a pending record past its deadline as timed
// out: four writes, then "result store busy" (unavailable), never an
// answer that was not stored.
func TestOutcomeUnderEndlessConflictGivesUpAfterFourWrites(t *testing.T) {
	t.Parallel()
	clk, d, st, rec := busySetup(t)
	clk.Advance(11 * time.Second)
	o, err := st.Outcome(context.Background(), rec.ResultID)
	storetest.WantCode(t, err, proofline.EUNAVAILABLE)
	if o != nil {
		t.Errorf("answered %+v with nothing stored", o)
	}
	if n := d.swaps.Load(); n != 4 {
		t.Errorf("%d writes before giving up, want 4", n)
	}
}

// A record read just before it expires and claimed at the very instant it
// expires (its deadline plus the timeout) is gone: not found, not a write
// with no time left to live (which a driver refuses as an error).
func TestClaimAtTheInstantOfExpiryIsNotFound(t *testing.T) {
	t.Parallel()
	clk, st, p := pendingSetup(t, func(d resultstore.Driver) resultstore.Driver { return d })
	ctx := context.Background()
	clk.Advance(70*time.Second - time.Nanosecond)
	rec, err := st.Lookup(ctx, p.ResultID)
	if err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Nanosecond)
	storetest.WantCode(t, st.Claim(ctx, rec, clk.Now()), proofline.ENOTFOUND)
}
