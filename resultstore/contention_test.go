package resultstore_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/proofline/proofline"
	"github.com/proofline/proofline/internal/testclock"
	"github.com/proofline/proofline/resultstore"
	"github.com/proofline/proofline/resultstore/storetest"
)

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
	clk := testclock.New(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC))
	d := resultstore.NewMemory(resultstore.MemoryOptions{Now: clk.Now, SweepInterval: -1})
	st := resultstore.New(d, storetest.NewRing(t, "k1"), resultstore.Options{Timeout: time.Minute, Now: clk.Now})
	t.Cleanup(func() { _ = st.Close() })
	ctx := context.Background()
	p := storetest.NewPending(clk.Now(), 10*time.Second)
	if err := st.CreatePending(ctx, p); err != nil {
		t.Fatal(err)
	}
	clk.Advance(70*time.Second - time.Nanosecond)
	rec, err := st.Lookup(ctx, p.ResultID)
	if err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Nanosecond)
	storetest.WantCode(t, st.Claim(ctx, rec, clk.Now()), proofline.ENOTFOUND)
}
