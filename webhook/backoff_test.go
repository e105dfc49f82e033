package webhook

import (
	"testing"
	"time"
)

// TestBackoffDoublesUpToItsCap: the wait after attempt n is InitialBackoff
// doubled n-1 times, capped at MaxBackoff, plus at most 10% jitter.
func TestBackoffDoublesUpToItsCap(t *testing.T) {
	t.Parallel()
	s := &Sender{opts: Options{InitialBackoff: 5 * time.Second, MaxBackoff: time.Hour}}
	want := 5 * time.Second
	for n := 1; n <= 15; n++ {
		for range 50 {
			if got := s.backoff(n); got < want || got > want+want/10 {
				t.Fatalf("backoff(%d) = %v, want %v plus at most 10%%", n, got, want)
			}
		}
		want = min(2*want, time.Hour)
	}
}
