package proofing

import (
	"context"
	"sync"
	"time"

	"github.com/proofline/proofline"
)

// waiters wakes local readers the moment a callback stores a result.
// Callbacks that land on another instance (several servers sharing Redis)
// are seen by WaitOutcome's polling instead.
type waiters struct {
	mu sync.Mutex
	m  map[string]map[chan struct{}]struct{}
}

func (w *waiters) add(id string) chan struct{} {
	ch := make(chan struct{}, 1)
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.m == nil {
		w.m = map[string]map[chan struct{}]struct{}{}
	}
	if w.m[id] == nil {
		w.m[id] = map[chan struct{}]struct{}{}
	}
	w.m[id][ch] = struct{}{}
	return ch
}

func (w *waiters) remove(id string, ch chan struct{}) {
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.m[id], ch)
	if len(w.m[id]) == 0 {
		delete(w.m, id)
	}
}

func (w *waiters) wake(id string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for ch := range w.m[id] {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// WaitOutcome returns the outcome of resultID once it is no longer pending:
// at once when a result is stored through this Service, within poll when it
// is stored by another instance, and at the deadline as timed_out. When ctx
// ends first it returns the pending outcome and ctx's error. poll <= 0 means
// one second.
func (s *Service) WaitOutcome(ctx context.Context, resultID string, poll time.Duration) (*proofline.Outcome, error) {
	if poll <= 0 {
		poll = time.Second
	}
	ch := s.waiters.add(resultID)
	defer s.waiters.remove(resultID, ch)
	tick := time.NewTicker(poll)
	defer tick.Stop()
	for {
		o, err := s.Outcome(ctx, resultID)
		if err != nil || o.Status != proofline.StatusPending {
			return o, err
		}
		untilDeadline := o.Deadline.Sub(s.opts.Now())
		deadline := time.NewTimer(max(untilDeadline, 0) + time.Millisecond)
		select {
		case <-ctx.Done():
			deadline.Stop()
			return o, ctx.Err()
		case <-ch:
		case <-tick.C:
		case <-deadline.C:
		}
		deadline.Stop()
	}
}
