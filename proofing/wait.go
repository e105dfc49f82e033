package proofing

import (
	"context"
	"sync"
	"time"

	"github.com/proofline/proofline"
	"github.com/proofline/proofline/tenant"
)

// waiters wakes local readers the moment a callback stores a result.
// Callbacks that land on another instance (several servers sharing Redis)
// are seen by WaitOutcome's polling instead.
// A waiter is handed the stored outcome itself, so a woken long poll does
// not read back from the store what the callback has just written.
type waiters struct {
	mu sync.Mutex
	m  map[string]map[chan *proofline.Outcome]struct{}
}

func (w *waiters) add(id string) chan *proofline.Outcome {
	ch := make(chan *proofline.Outcome, 1)
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.m == nil {
		w.m = map[string]map[chan *proofline.Outcome]struct{}{}
	}
	if w.m[id] == nil {
		w.m[id] = map[chan *proofline.Outcome]struct{}{}
	}
	w.m[id][ch] = struct{}{}
	return ch
}

func (w *waiters) remove(id string, ch chan *proofline.Outcome) {
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.m[id], ch)
	if len(w.m[id]) == 0 {
		delete(w.m, id)
	}
}

func (w *waiters) wake(o *proofline.Outcome) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for ch := range w.m[o.ResultID] {
		select {
		case ch <- o:
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
	// A job this server started (or claimed) and still holds pending is
	// not read back first: its callback landing here wakes the waiter, and
	// a change made on another server is read at the next tick (so only a
	// wait long enough for ticks skips the first read).
	var o *proofline.Outcome
	here := false
	if dl, ok := ctx.Deadline(); !ok || time.Until(dl) >= 2*poll {
		o, here = s.opts.Store.PendingHere(resultID)
		// Another tenant's job is read like any other: not found.
		here = here && o.Tenant == tenant.From(ctx)
	}
	for {
		var err error
		if !here {
			o, err = s.Outcome(ctx, resultID)
		}
		here = false
		if err != nil || o.Status != proofline.StatusPending {
			return o, err
		}
		untilDeadline := o.Deadline.Sub(s.opts.Now())
		deadline := time.NewTimer(max(untilDeadline, 0) + time.Millisecond)
		select {
		case <-ctx.Done():
			deadline.Stop()
			return o, ctx.Err()
		case done := <-ch:
			deadline.Stop()
			if done.Tenant != tenant.From(ctx) {
				return nil, proofline.Errorf(proofline.ENOTFOUND, "result not found")
			}
			return done, nil
		case <-tick.C:
		case <-deadline.C:
		}
		deadline.Stop()
	}
}
