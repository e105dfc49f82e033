package proofer

import (
	"context"
	"sync"
	"time"
)

// Step is one timed step of a job: reading or decrypting an image, or a
// vendor call.
type Step struct {
	// Name is "download_<side>", "decrypt_<side>" or the stage name
	// ("document", "resolution", "state_id", "address").
	Name string
	// Vendor names the adapter, for vendor steps.
	Vendor string
	// Outcome is "ok"/"failed" for image steps, and passed, failed,
	// exception, timeout or skipped for vendor steps.
	Outcome string
	Took    time.Duration
}

// Timings collects the steps of one job. The worker attaches one to the job's
// context and writes them in its single outcome log line.
type Timings struct {
	mu    sync.Mutex
	steps []Step
}

type timingsKey struct{}

// WithTimings returns a context that collects the steps Proof runs.
func WithTimings(ctx context.Context) (context.Context, *Timings) {
	t := &Timings{}
	return context.WithValue(ctx, timingsKey{}, t), t
}

// Steps returns the steps recorded so far.
func (t *Timings) Steps() []Step {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]Step(nil), t.steps...)
}

func record(ctx context.Context, s Step) {
	if t, ok := ctx.Value(timingsKey{}).(*Timings); ok {
		t.mu.Lock()
		t.steps = append(t.steps, s)
		t.mu.Unlock()
	}
}

// Observer is told of every vendor call, e.g. to export latency metrics. It
// must be fast and safe for concurrent use.
type Observer interface {
	VendorCall(stage, vendor, outcome string, took time.Duration)
}
