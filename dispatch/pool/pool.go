// Package pool is the in-process dispatch driver, the embedded default: a
// bounded queue feeding a fixed number of goroutines that run the worker
// runtime, exactly as a Lambda function or a queue worker would run it.
package pool

import (
	"context"
	"log/slog"
	"runtime/debug"
	"sync"
	"sync/atomic"

	"github.com/proofline/proofline"
	"github.com/proofline/proofline/dispatch"
)

// Options configure the in-process pool.
type Options struct {
	// Workers is the number of jobs run at once. Default 64.
	Workers int
	// QueueSize is how many jobs may wait for a worker before Send answers
	// ErrFull. Default 1024.
	QueueSize int
	Logger    *slog.Logger
}

// Pool is the in-process driver: a bounded queue feeding a fixed number of
// goroutines that run the worker runtime, exactly as a Lambda or queue worker
// would run it.
type Pool struct {
	h      dispatch.Handler
	logger *slog.Logger
	jobs   chan *proofline.Envelope

	mu     sync.RWMutex // guards closed against Send racing Close
	closed bool

	base     context.Context // cancelled in the second stage of Close
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	inFlight atomic.Int64
	once     sync.Once
}

// New starts a pool running h.
func New(h dispatch.Handler, opts Options) *Pool {
	if opts.Workers <= 0 {
		opts.Workers = 64
	}
	if opts.QueueSize <= 0 {
		opts.QueueSize = 1024
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	base, cancel := context.WithCancel(context.Background())
	p := &Pool{h: h, logger: opts.Logger, jobs: make(chan *proofline.Envelope, opts.QueueSize), base: base, cancel: cancel}
	p.wg.Add(opts.Workers)
	for range opts.Workers {
		go p.work()
	}
	return p
}

// Send queues env, or answers dispatch.ErrFull / dispatch.ErrClosed at once; it never blocks.
func (p *Pool) Send(_ context.Context, env *proofline.Envelope) error {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.closed {
		return dispatch.ErrClosed
	}
	select {
	case p.jobs <- env:
		return nil
	default:
		return dispatch.ErrFull
	}
}

// Depth is the number of jobs waiting for a worker.
func (p *Pool) Depth() int { return len(p.jobs) }

// InFlight is the number of jobs running now.
func (p *Pool) InFlight() int { return int(p.inFlight.Load()) }

// Close stops taking work, lets the workers finish every queued and running
// job, and when ctx ends first cancels the jobs still running and waits for
// them to return. Idempotent; later calls wait for the same drain.
func (p *Pool) Close(ctx context.Context) error {
	p.once.Do(func() {
		p.mu.Lock()
		p.closed = true
		close(p.jobs)
		p.mu.Unlock()
	})
	done := make(chan struct{})
	go func() { p.wg.Wait(); close(done) }()
	select {
	case <-done:
		p.cancel()
		return nil
	case <-ctx.Done():
		p.cancel()
		<-done
		return ctx.Err()
	}
}

func (p *Pool) work() {
	defer p.wg.Done()
	for env := range p.jobs {
		p.run(env)
	}
}

func (p *Pool) run(env *proofline.Envelope) {
	p.inFlight.Add(1)
	defer p.inFlight.Add(-1)
	defer func() {
		if v := recover(); v != nil {
			// The panic value may hold anything; log only that it happened and where.
			_ = v
			p.logger.Error("worker panic", slog.String("kind", string(env.Kind)),
				slog.String("result_id", env.ResultID), slog.String("stack", string(debug.Stack())))
		}
	}()
	if err := p.h.Handle(p.base, env); err != nil {
		p.logger.LogAttrs(p.base, slog.LevelDebug, "job ended with error",
			slog.String("kind", string(env.Kind)), slog.String("result_id", env.ResultID), slog.String("error", err.Error()))
	}
}
