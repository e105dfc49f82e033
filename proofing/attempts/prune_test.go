package attempts

import (
	"context"
	"strconv"
	"testing"
	"time"
)

// Subjects that never come back do not stay in memory: once their slots
// and used attempts have expired, they are dropped within 1024 calls, even
// though no call names them again.
func TestMemoryForgetsSubjectsThatNeverComeBack(t *testing.T) {
	t.Parallel()
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	m := NewMemory(func() time.Time { return now })
	ctx := context.Background()
	for i := range 1000 {
		key := "ip:" + strconv.Itoa(i)
		if ok, err := m.Reserve(ctx, key, "r"+strconv.Itoa(i), now.Add(time.Minute), 5, time.Hour); !ok || err != nil {
			t.Fatalf("Reserve %d: %v %v", i, ok, err)
		}
		if i%2 == 0 {
			_ = m.Finish(ctx, key, "r"+strconv.Itoa(i), true, time.Hour)
		}
	}
	now = now.Add(time.Hour + time.Minute)
	// One subject keeps coming back, up to the 1024th call.
	for i := m.calls; i < 1024; i++ {
		if ok, err := m.Reserve(ctx, "person:back", "b"+strconv.Itoa(i), now.Add(time.Minute), 1<<20, time.Hour); !ok || err != nil {
			t.Fatalf("Reserve: %v %v", ok, err)
		}
	}
	if n := len(m.subjects); n != 1 {
		t.Fatalf("%d subjects held, want 1 (the one that came back)", n)
	}
}
