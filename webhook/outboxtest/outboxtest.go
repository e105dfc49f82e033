// Package outboxtest is the conformance suite of the webhook outbox: every
// Driver (memory, Redis) runs the same scenarios.
//
//	func TestConformance(t *testing.T) {
//		outboxtest.Run(t, func(t *testing.T) webhook.Driver { return newDriver(t) })
//	}
//
// Due times are passed to the driver explicitly, so they are tested without
// waiting; TTLs expire by real time and are polled.
package outboxtest

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/proofline/proofline/webhook"
)

// waitLimit bounds every poll: far beyond any TTL used here.
const waitLimit = 10 * time.Second

// Run runs the suite; newDriver returns a fresh, empty driver the suite
// closes.
func Run(t *testing.T, newDriver func(t *testing.T) webhook.Driver) {
	setup := func(t *testing.T) (webhook.Driver, context.Context) {
		t.Helper()
		d := newDriver(t)
		t.Cleanup(func() { _ = d.Close() })
		return d, context.Background()
	}
	t0 := time.Date(2031, 5, 6, 7, 8, 9, 0, time.UTC)
	must := func(t *testing.T, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	lease := func(t *testing.T, d webhook.Driver, ctx context.Context, now time.Time, n int) map[string][]byte {
		t.Helper()
		items, err := d.Lease(ctx, now, time.Minute, n)
		must(t, err)
		out := map[string][]byte{}
		for _, it := range items {
			out[it.ID] = it.Value
		}
		return out
	}

	t.Run("DueOnlyAndLeasedOnce", func(t *testing.T) {
		t.Parallel()
		d, ctx := setup(t)
		must(t, d.Put(ctx, "a", []byte("va"), t0, time.Hour))
		must(t, d.Put(ctx, "b", []byte("vb"), t0.Add(10*time.Second), time.Hour))
		got := lease(t, d, ctx, t0, 10)
		if len(got) != 1 || !bytes.Equal(got["a"], []byte("va")) {
			t.Fatalf("lease at t0 = %q, want only a", got)
		}
		if got := lease(t, d, ctx, t0.Add(time.Second), 10); len(got) != 0 {
			t.Fatalf("a leased twice within its lease: %q", got)
		}
		got = lease(t, d, ctx, t0.Add(30*time.Second), 10)
		if len(got) != 1 || got["b"] == nil {
			t.Fatalf("lease at t0+30s = %q, want b (a is leased until t0+1m)", got)
		}
		got = lease(t, d, ctx, t0.Add(61*time.Second), 10)
		if len(got) != 1 || got["a"] == nil {
			t.Fatalf("after its lease ran out a is due again; got %q", got)
		}
	})

	t.Run("PutReplaces", func(t *testing.T) {
		t.Parallel()
		d, ctx := setup(t)
		must(t, d.Put(ctx, "a", []byte("v1"), t0, time.Hour))
		must(t, d.Put(ctx, "a", []byte("v2"), t0.Add(time.Hour), time.Hour))
		if got := lease(t, d, ctx, t0, 10); len(got) != 0 {
			t.Fatalf("moved item still due: %q", got)
		}
		got := lease(t, d, ctx, t0.Add(time.Hour), 10)
		if !bytes.Equal(got["a"], []byte("v2")) {
			t.Fatalf("got %q, want v2", got)
		}
	})

	t.Run("AckOnlyTheLeasedValue", func(t *testing.T) {
		t.Parallel()
		d, ctx := setup(t)
		must(t, d.Put(ctx, "a", []byte("v1"), t0, time.Hour))
		leased := lease(t, d, ctx, t0, 1)["a"]
		// Put again while leased (a timer moved): the stale ack keeps it.
		must(t, d.Put(ctx, "a", []byte("v2"), t0, time.Hour))
		must(t, d.Ack(ctx, "a", leased))
		got := lease(t, d, ctx, t0, 1)
		if !bytes.Equal(got["a"], []byte("v2")) {
			t.Fatalf("a stale ack removed the new value: %q", got)
		}
		must(t, d.Ack(ctx, "a", got["a"]))
		if got := lease(t, d, ctx, t0.Add(time.Hour), 10); len(got) != 0 {
			t.Fatalf("acked item still there: %q", got)
		}
		must(t, d.Ack(ctx, "absent", []byte("x")))
	})

	t.Run("BatchSize", func(t *testing.T) {
		t.Parallel()
		d, ctx := setup(t)
		for i := range 5 {
			must(t, d.Put(ctx, fmt.Sprintf("m%d", i), []byte{byte(i), 0, 0xff}, t0, time.Hour))
		}
		first := lease(t, d, ctx, t0, 3)
		second := lease(t, d, ctx, t0, 3)
		if len(first) != 3 || len(second) != 2 {
			t.Fatalf("batches of %d and %d, want 3 and 2", len(first), len(second))
		}
		for id, v := range second {
			if _, dup := first[id]; dup || len(v) != 3 || v[2] != 0xff {
				t.Fatalf("%s leased twice or its binary value changed: %v", id, v)
			}
		}
	})

	t.Run("ConcurrentLeasesTakeEachItemOnce", func(t *testing.T) {
		t.Parallel()
		d, ctx := setup(t)
		const items, callers = 40, 8
		for i := range items {
			must(t, d.Put(ctx, fmt.Sprintf("c%d", i), []byte("v"), t0, time.Hour))
		}
		var mu sync.Mutex
		seen := map[string]int{}
		var wg sync.WaitGroup
		for range callers {
			wg.Go(func() {
				for {
					got, err := d.Lease(ctx, t0, time.Minute, 3)
					if err != nil {
						t.Error(err)
						return
					}
					if len(got) == 0 {
						return
					}
					mu.Lock()
					for _, it := range got {
						seen[it.ID]++
					}
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if len(seen) != items {
			t.Fatalf("%d of %d items leased", len(seen), items)
		}
		for id, n := range seen {
			if n != 1 {
				t.Errorf("%s leased %d times", id, n)
			}
		}
	})

	t.Run("TTL", func(t *testing.T) {
		t.Parallel()
		d, ctx := setup(t)
		must(t, d.Put(ctx, "short", []byte("v"), t0.Add(time.Hour), 150*time.Millisecond))
		end := time.Now().Add(waitLimit)
		for {
			if got := lease(t, d, ctx, t0.Add(2*time.Hour), 10); len(got) == 0 {
				return
			}
			if time.Now().After(end) {
				t.Fatal("an item outlived its TTL")
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
}
