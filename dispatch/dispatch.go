// Package dispatch hands sealed job envelopes to workers. Dispatcher is the
// concrete type the IdP uses; it wraps a Driver: the in-process pool
// (dispatch/pool, the embedded default), AWS Lambda (dispatch/lambdadispatch)
// or a distributed queue (dispatch/queuedispatch). Every driver carries the
// same envelope to the same worker runtime.
package dispatch

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/proofline/proofline"
)

// Driver errors.
var (
	// ErrFull: the driver cannot take more work now; retry later.
	ErrFull = errors.New("dispatch: queue full")
	// ErrClosed: the driver is shutting down.
	ErrClosed = errors.New("dispatch: closed")
)

// Handler runs one envelope: the worker runtime.
type Handler interface {
	Handle(ctx context.Context, env *proofline.Envelope) error
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(ctx context.Context, env *proofline.Envelope) error

// Handle calls f.
func (f HandlerFunc) Handle(ctx context.Context, env *proofline.Envelope) error { return f(ctx, env) }

// Driver is one dispatch backend.
type Driver interface {
	// Send hands env to a worker and returns once the backend has it.
	Send(ctx context.Context, env *proofline.Envelope) error
	// Close stops taking work and drains what was taken; when ctx ends it
	// cancels whatever still runs. Idempotent.
	Close(ctx context.Context) error
}

// Options configure a Dispatcher.
type Options struct {
	Logger *slog.Logger
	Now    func() time.Time
	// Observer, when set, is told of every dispatch (metrics).
	Observer Observer
}

// Observer is told how long each hand-off took and whether it failed. It must
// be fast and safe for concurrent use.
type Observer interface {
	Dispatched(kind proofline.Kind, took time.Duration, err error)
}

// Dispatcher is the concrete dispatcher over a Driver.
type Dispatcher struct {
	d      Driver
	logger *slog.Logger
	now    func() time.Time
	obs    Observer
}

// New returns a Dispatcher over d.
func New(d Driver, opts Options) *Dispatcher {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Dispatcher{d: d, logger: opts.Logger, now: opts.Now, obs: opts.Observer}
}

// Dispatch hands env to a worker. An envelope whose deadline has passed is
// refused (nothing could still deliver its result); a full or closed backend is
// EUNAVAILABLE, so callers answer "try again".
func (d *Dispatcher) Dispatch(ctx context.Context, env *proofline.Envelope) error {
	if !d.now().Before(env.Deadline) {
		return proofline.Errorf(proofline.EINVALID, "job deadline already passed")
	}
	start := d.now()
	err := d.d.Send(ctx, env)
	if d.obs != nil {
		d.obs.Dispatched(env.Kind, d.now().Sub(start), err)
	}
	if err != nil {
		d.logger.LogAttrs(ctx, slog.LevelWarn, "dispatch failed",
			slog.String("kind", string(env.Kind)), slog.String("result_id", env.ResultID), slog.String("error", err.Error()))
		switch {
		case errors.Is(err, ErrFull):
			return proofline.WrapError(proofline.EUNAVAILABLE, "workers are busy, try again", err)
		case errors.Is(err, ErrClosed):
			return proofline.WrapError(proofline.EUNAVAILABLE, "shutting down, try again", err)
		}
		var perr *proofline.Error
		if errors.As(err, &perr) {
			return err
		}
		return proofline.WrapError(proofline.EUNAVAILABLE, "could not dispatch the job, try again", err)
	}
	d.logger.LogAttrs(ctx, slog.LevelDebug, "dispatched",
		slog.String("kind", string(env.Kind)), slog.String("result_id", env.ResultID), slog.Duration("took", d.now().Sub(start)))
	return nil
}

// Close closes the driver (see Driver.Close).
func (d *Dispatcher) Close(ctx context.Context) error { return d.d.Close(ctx) }
