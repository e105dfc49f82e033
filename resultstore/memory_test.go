package resultstore_test

import (
	"context"
	"errors"
	"runtime"
	"testing"
	"testing/synctest"
	"time"

	"github.com/proofline/proofline/internal/testclock"
	"github.com/proofline/proofline/resultstore"
	"github.com/proofline/proofline/resultstore/storetest"
)

func memoryHarness() storetest.Harness {
	return storetest.Harness{
		NewDriver: func(t *testing.T, now func() time.Time) resultstore.Driver {
			return resultstore.NewMemory(resultstore.MemoryOptions{Now: now})
		},
	}
}

func TestMemoryDriver(t *testing.T) { storetest.RunDriverTests(t, memoryHarness()) }

func TestMemoryStore(t *testing.T) { storetest.RunStoreTests(t, memoryHarness()) }

func TestMemoryRecords(t *testing.T) { storetest.RunRecordsTests(t, memoryHarness()) }

func TestMemoryJanitorSweeps(t *testing.T) {
	t.Parallel()
	clk := testclock.New(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	d := resultstore.NewMemory(resultstore.MemoryOptions{Now: clk.Now, SweepInterval: time.Millisecond})
	t.Cleanup(func() { _ = d.Close() })
	ctx := context.Background()
	for i := range 100 {
		ttl := time.Second
		if i%2 == 0 {
			ttl = time.Hour
		}
		if err := d.Create(ctx, string(rune('a'+i%26))+time.Duration(i).String(), []byte("v"), ttl); err != nil {
			t.Fatal(err)
		}
	}
	if n := d.Len(); n != 100 {
		t.Fatalf("Len = %d, want 100", n)
	}
	clk.Advance(time.Second)
	deadline := time.Now().Add(10 * time.Second)
	for d.Len() != 50 {
		if time.Now().After(deadline) {
			t.Fatalf("janitor did not sweep: Len = %d, want 50", d.Len())
		}
		time.Sleep(time.Millisecond)
	}
}

// Left at its default, the janitor returns the memory of expired entries
// every 30 seconds: not before, and not never.
func TestMemoryDefaultJanitorSweepsEvery30Seconds(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		d := resultstore.NewMemory(resultstore.MemoryOptions{})
		defer d.Close()
		if err := d.Create(context.Background(), "k", []byte("v"), time.Second); err != nil {
			t.Fatal(err)
		}
		time.Sleep(30*time.Second - time.Nanosecond)
		synctest.Wait()
		if n := d.Len(); n != 1 {
			t.Fatalf("Len = %d before 30 s, want 1 (no sweep yet)", n)
		}
		time.Sleep(time.Nanosecond)
		synctest.Wait()
		if n := d.Len(); n != 0 {
			t.Fatalf("Len = %d at 30 s, want 0 (swept)", n)
		}
	})
}

func TestMemorySweep(t *testing.T) {
	t.Parallel()
	clk := testclock.New(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	d := resultstore.NewMemory(resultstore.MemoryOptions{Now: clk.Now, SweepInterval: -1})
	t.Cleanup(func() { _ = d.Close() })
	ctx := context.Background()
	_ = d.Create(ctx, "short", []byte("v"), time.Second)
	_ = d.Create(ctx, "long", []byte("v"), time.Minute)
	if n := d.Sweep(); n != 0 {
		t.Fatalf("Sweep removed %d live entries", n)
	}
	clk.Advance(time.Second)
	if n := d.Sweep(); n != 1 || d.Len() != 1 {
		t.Fatalf("Sweep removed %d, Len %d; want 1, 1", n, d.Len())
	}
}

func TestMemoryClosed(t *testing.T) {
	t.Parallel()
	d := resultstore.NewMemory(resultstore.MemoryOptions{SweepInterval: time.Millisecond})
	ctx := context.Background()
	_ = d.Create(ctx, "k", []byte("v"), time.Minute)
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Get(ctx, "k"); !errors.Is(err, resultstore.ErrClosed) {
		t.Fatalf("Get after Close: %v, want ErrClosed", err)
	}
	if err := d.Create(ctx, "k2", []byte("v"), time.Minute); !errors.Is(err, resultstore.ErrClosed) {
		t.Fatalf("Create after Close: %v, want ErrClosed", err)
	}
	if err := d.Swap(ctx, "k", []byte("v"), []byte("w"), time.Minute); !errors.Is(err, resultstore.ErrClosed) {
		t.Fatalf("Swap after Close: %v, want ErrClosed", err)
	}
	if _, err := d.Delete(ctx, "k"); !errors.Is(err, resultstore.ErrClosed) {
		t.Fatalf("Delete after Close: %v, want ErrClosed", err)
	}
}

func TestMemoryRejectsNonPositiveTTL(t *testing.T) {
	t.Parallel()
	d := resultstore.NewMemory(resultstore.MemoryOptions{})
	t.Cleanup(func() { _ = d.Close() })
	for _, ttl := range []time.Duration{0, -time.Second} {
		if err := d.Create(context.Background(), "k", []byte("v"), ttl); err == nil || errors.Is(err, resultstore.ErrExists) {
			t.Fatalf("Create with ttl %v: %v, want an error", ttl, err)
		}
	}
}

// TestMemoryFootprint holds 100,000 pending records, the size of a busy
// server's backlog, and checks what they cost.
func TestMemoryFootprint(t *testing.T) {
	if testing.Short() {
		t.Skip("fills 100,000 records")
	}
	const n = 100_000
	d := resultstore.NewMemory(resultstore.MemoryOptions{})
	defer d.Close()
	st := resultstore.New(d, storetest.NewRing(t, "k1"), resultstore.Options{})
	ps := make([]resultstore.Pending, n)
	for i := range ps {
		// An hour: the records must still be ahead of their deadline when
		// the last is stored, also under the race detector on a busy
		// machine (a minute was not always enough).
		ps[i] = storetest.NewPending(time.Now(), time.Hour)
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := range ps {
		if err := st.CreatePending(context.Background(), ps[i]); err != nil {
			t.Fatal(err)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(ps)
	per := float64(after.HeapAlloc-before.HeapAlloc) / n
	t.Logf("%d pending records: %.1f MiB heap, %.0f bytes/record", n, float64(after.HeapAlloc-before.HeapAlloc)/(1<<20), per)
	if per > 1024 {
		t.Errorf("%.0f bytes per pending record, want at most 1 KiB", per)
	}
	if d.Len() != n {
		t.Fatalf("Len = %d, want %d", d.Len(), n)
	}
}

func BenchmarkStore(b *testing.B) {
	storetest.RunBenchmarks(b, func(b *testing.B) resultstore.Driver {
		return resultstore.NewMemory(resultstore.MemoryOptions{})
	})
}
