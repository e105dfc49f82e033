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
