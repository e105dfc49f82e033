package resultstore

import (
	"context"
	"crypto/rand"
	"sync"
	"testing"
	"time"

	"github.com/proofline/proofline"
	"github.com/proofline/proofline/seal"
)

// No remembered copy of a pending value (it holds the sealed data key
// until the claim) stays in memory past the record's deadline: the next
// store call after it removes every lapsed entry, not only the one asked for.
func TestRememberedValuesGoAtTheDeadline(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	k, _ := seal.Generate("k1")
	ring, _ := seal.NewKeyRing(k)
	st := New(NewMemory(MemoryOptions{Now: clock, SweepInterval: -1}), ring, Options{Now: clock, Timeout: time.Minute})
	defer st.Close()
	key := func() []byte { b := make([]byte, 32); _, _ = rand.Read(b); return b }
	pending := func() Pending {
		return Pending{ResultID: proofline.NewResultID(), Kind: proofline.KindAddress, RequestedAt: clock(), Deadline: clock().Add(time.Minute),
			DataKey: key(), ClaimToken: key(), CallbackSecret: key()}
	}
	count := func() int {
		n := 0
		for i := range st.recent.shards {
			s := &st.recent.shards[i]
			s.mu.Lock()
			n += len(s.m)
			s.mu.Unlock()
		}
		return n
	}
	ctx := context.Background()
	for range 10 {
		if err := st.CreatePending(ctx, pending()); err != nil {
			t.Fatal(err)
		}
	}
	if count() != 10 {
		t.Fatalf("%d remembered, want 10", count())
	}
	mu.Lock()
	now = now.Add(time.Minute + time.Second)
	mu.Unlock()
	// Any store call that consults the memory sweeps it.
	if _, ok := st.PendingHere(proofline.NewResultID()); ok {
		t.Fatal("an unknown id is pending here")
	}
	if n := count(); n != 0 {
		t.Fatalf("%d values still remembered past their deadline", n)
	}
}

// recentStore is a Store over a memory driver on a manual clock, for the
// tests of what it remembers.
func recentStore(t *testing.T) (*Store, func(time.Duration)) {
	t.Helper()
	var mu sync.Mutex
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	k, _ := seal.Generate("k1")
	ring, _ := seal.NewKeyRing(k)
	st := New(NewMemory(MemoryOptions{Now: clock, SweepInterval: -1}), ring, Options{Now: clock, Timeout: time.Minute})
	t.Cleanup(func() { _ = st.Close() })
	return st, advance
}

func recentPending(st *Store, id string, deadlineIn time.Duration) Pending {
	key := func() []byte { b := make([]byte, 32); _, _ = rand.Read(b); return b }
	return Pending{ResultID: id, Kind: proofline.KindAddress, RequestedAt: st.now(), Deadline: st.now().Add(deadlineIn),
		DataKey: key(), ClaimToken: key(), CallbackSecret: key(), Tenant: "idp"}
}

// idsInOneShard returns n fresh result ids that the Store's memory keeps
// under one lock, so that one shard's bound is reached with few records.
func idsInOneShard(st *Store, n int) []string {
	var ids []string
	var target *recentShard
	for len(ids) < n {
		id := proofline.NewResultID()
		if target == nil {
			target = st.recent.shard(id)
		}
		if st.recent.shard(id) == target {
			ids = append(ids, id)
		}
	}
	return ids
}

func (r *recent) count() int {
	n := 0
	for i := range r.shards {
		s := &r.shards[i]
		s.mu.Lock()
		n += len(s.m)
		s.mu.Unlock()
	}
	return n
}

// The lapsed values are removed by the first store call a second after
// the last sweep, not a moment later.
func TestRememberedValuesSweptASecondAfterTheLastSweep(t *testing.T) {
	t.Parallel()
	st, advance := recentStore(t)
	ctx := context.Background()
	// The create sweeps (the first call does) and remembers p until its
	// deadline, one second from now.
	p := recentPending(st, proofline.NewResultID(), time.Second)
	if err := st.CreatePending(ctx, p); err != nil {
		t.Fatal(err)
	}
	advance(time.Second)
	if _, ok := st.PendingHere(proofline.NewResultID()); ok {
		t.Fatal("an unknown id is pending here")
	}
	if n := st.recent.count(); n != 0 {
		t.Fatalf("%d values still remembered a second after the last sweep, past their deadline", n)
	}
}

// Sweeping walks every remembered value under every lock, so it runs at
// most once a second however busy the store is: a value that lapsed is
// still held a moment later, until a second has passed since the last
// sweep. (A sweep on every call would make each request cost as much as
// the whole memory at 100,000 records.)
func TestRememberedValuesNotSweptTwiceInASecond(t *testing.T) {
	t.Parallel()
	st, advance := recentStore(t)
	ctx := context.Background()
	// The first call sweeps (nothing to remove yet) and starts the second.
	if err := st.CreatePending(ctx, recentPending(st, proofline.NewResultID(), 100*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	advance(500 * time.Millisecond) // past the deadline, half a second after the sweep
	if err := st.CreatePending(ctx, recentPending(st, proofline.NewResultID(), time.Hour)); err != nil {
		t.Fatal(err)
	}
	if n := st.recent.count(); n != 2 {
		t.Fatalf("%d values remembered half a second after the last sweep, want 2: swept again within the second", n)
	}
	advance(500 * time.Millisecond)
	if err := st.CreatePending(ctx, recentPending(st, proofline.NewResultID(), time.Hour)); err != nil {
		t.Fatal(err)
	}
	if n := st.recent.count(); n != 2 {
		t.Fatalf("%d values remembered a second after the last sweep, want 2 (the lapsed one swept)", n)
	}
}

// A Store remembers at most recentMax records (recentMax/recentShards under
// each lock). Beyond that a new record is not remembered: it is read from
// the driver, as without the memory, and the outcome is the same. A done
// record never takes the room of a pending one.
func TestRememberedValuesAreBounded(t *testing.T) {
	t.Parallel()
	st, _ := recentStore(t)
	ctx := context.Background()
	const perShard = recentMax / recentShards
	ids := idsInOneShard(st, perShard+1)
	for _, id := range ids[:perShard] {
		if err := st.CreatePending(ctx, recentPending(st, id, time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range ids[:perShard] {
		if _, ok := st.PendingHere(id); !ok {
			t.Fatal("a record within the bound is not remembered")
		}
	}
	over := ids[perShard]
	if err := st.CreatePending(ctx, recentPending(st, over, time.Minute)); err != nil {
		t.Fatal(err)
	}
	if _, ok := st.PendingHere(over); ok {
		t.Fatalf("record %d of one shard is remembered, want at most %d", perShard+1, perShard)
	}
	if o, err := st.Outcome(ctx, over); err != nil || o.Status != proofline.StatusPending || o.Tenant != "idp" {
		t.Fatalf("Outcome of the record not remembered = %+v, %v; want it pending, read from the driver", o, err)
	}
	// Completing the record not remembered: still not remembered, even as
	// done (it would take the room of a pending one).
	rec, err := st.LookupForUpdate(ctx, over)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Complete(ctx, rec, &proofline.Result{Success: true}, time.Time{}); err != nil {
		t.Fatal(err)
	}
	if _, ok := st.TenantHere(over); ok {
		t.Fatal("a completed record took room beyond the bound")
	}
	// Completing a remembered one replaces its entry.
	rec, err = st.LookupForUpdate(ctx, ids[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Complete(ctx, rec, &proofline.Result{Success: true}, time.Time{}); err != nil {
		t.Fatal(err)
	}
	if tn, ok := st.TenantHere(ids[0]); !ok || tn != "idp" {
		t.Fatalf("TenantHere of a remembered record completed here = %q, %v", tn, ok)
	}
	if _, ok := st.PendingHere(ids[0]); ok {
		t.Fatal("a completed record is still pending here")
	}
}

// When the bound is reached by records whose deadlines have passed, a new
// record takes their room at once, without waiting for the next sweep.
func TestRememberedValuesLapsedMakeRoom(t *testing.T) {
	t.Parallel()
	st, advance := recentStore(t)
	ctx := context.Background()
	const perShard = recentMax / recentShards
	ids := idsInOneShard(st, perShard+1)
	for _, id := range ids[:perShard] {
		if err := st.CreatePending(ctx, recentPending(st, id, 500*time.Millisecond)); err != nil {
			t.Fatal(err)
		}
	}
	// Half a second on: every remembered record has lapsed, and the last
	// sweep (at the first create) was less than a second ago.
	advance(500 * time.Millisecond)
	if err := st.CreatePending(ctx, recentPending(st, ids[perShard], time.Minute)); err != nil {
		t.Fatal(err)
	}
	if _, ok := st.PendingHere(ids[perShard]); !ok {
		t.Fatal("a new record is not remembered though every other one has lapsed")
	}
	if n := st.recent.count(); n != 1 {
		t.Fatalf("%d records remembered, want 1 (the lapsed ones dropped)", n)
	}
}
