package queuedispatch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strconv"
	"sync"
	"time"

	"github.com/hibiken/asynq"

	"github.com/proofline/proofline"
	"github.com/proofline/proofline/dispatch"
	"github.com/proofline/proofline/worker"
)

// ConsumerOptions configure a Consumer.
type ConsumerOptions struct {
	// Redis is where the queues live (see ParseRedisURL). Required.
	Redis asynq.RedisConnOpt
	// QueuePrefix names the queues. Default DefaultQueuePrefix.
	QueuePrefix string
	// Weights are the kinds consumed and their priorities. Default: every
	// kind, document 3, resolution 2, address 1.
	Weights map[proofline.Kind]int
	// Concurrency is the number of jobs run at once. Default 64.
	Concurrency int
	// CheckInterval is how often an idle consumer looks for tasks (asynq
	// TaskCheckInterval). Default 20 ms.
	CheckInterval time.Duration
	// ShutdownTimeout is how long Shutdown lets in-flight jobs finish before
	// it hands them back to the queue. Default 60 s.
	ShutdownTimeout time.Duration
	// SweepInterval is how often the consumer sweeps its queues (see
	// Sweeper). Default DefaultSweepInterval; negative: off.
	SweepInterval time.Duration
	Logger        *slog.Logger
	Now           func() time.Time
}

// Consumer takes tasks off the queues and runs each envelope through a
// dispatch.Handler, normally the worker runtime (*worker.Runtime).
type Consumer struct {
	h       dispatch.Handler
	srv     *asynq.Server
	insp    *asynq.Inspector
	queues  []string
	logger  *slog.Logger
	now     func() time.Time
	metrics *Metrics

	sweeper       *Sweeper
	sweepInterval time.Duration
	stopSweep     func()

	base   context.Context // cancelled when a Shutdown's ctx ends first
	cancel context.CancelFunc

	startOnce sync.Once
	startErr  error
	stopOnce  sync.Once
	stopped   chan struct{}
}

// NewConsumer returns a Consumer running h; Start starts it.
func NewConsumer(h dispatch.Handler, o ConsumerOptions) (*Consumer, error) {
	if h == nil || o.Redis == nil {
		return nil, errors.New("queuedispatch: a handler and Redis are required")
	}
	if o.QueuePrefix == "" {
		o.QueuePrefix = DefaultQueuePrefix
	}
	if len(o.Weights) == 0 {
		o.Weights = map[proofline.Kind]int{proofline.KindDocument: 3, proofline.KindResolution: 2, proofline.KindAddress: 1}
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 64
	}
	if o.CheckInterval <= 0 {
		o.CheckInterval = 20 * time.Millisecond
	}
	if o.ShutdownTimeout <= 0 {
		o.ShutdownTimeout = time.Minute
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	queues := map[string]int{}
	var names []string
	for k, w := range o.Weights {
		if !k.Valid() || w <= 0 {
			return nil, fmt.Errorf("queuedispatch: bad weight for kind %q", k)
		}
		queues[QueueName(o.QueuePrefix, k)] = w
	}
	for _, k := range proofline.Kinds {
		if _, ok := o.Weights[k]; ok {
			names = append(names, QueueName(o.QueuePrefix, k))
		}
	}
	base, cancel := context.WithCancel(context.Background())
	c := &Consumer{
		h: h, queues: names, logger: o.Logger, now: o.Now, metrics: newMetrics(),
		base: base, cancel: cancel, stopped: make(chan struct{}),
	}
	c.srv = asynq.NewServer(o.Redis, asynq.Config{
		Concurrency:              o.Concurrency,
		BaseContext:              func() context.Context { return c.base },
		TaskCheckInterval:        o.CheckInterval,
		DelayedTaskCheckInterval: retryPickup,
		RetryDelayFunc:           func(n int, _ error, _ *asynq.Task) time.Duration { return RetryDelay(n) },
		Queues:                   queues,
		ShutdownTimeout:          o.ShutdownTimeout,
		Logger:                   slogAdapter{o.Logger},
		LogLevel:                 asynqLevel(o.Logger),
		HealthCheckFunc: func(err error) {
			if err != nil {
				o.Logger.Warn("queue Redis health check failed")
			}
		},
	})
	c.insp = asynq.NewInspector(o.Redis)
	c.sweeper = NewSweeper(SweepOptions{Redis: o.Redis, QueuePrefix: o.QueuePrefix, Logger: o.Logger, Now: o.Now})
	c.sweepInterval = o.SweepInterval
	c.stopSweep = func() {}
	return c, nil
}

// Metrics are the consumer's counters and the queues' figures.
func (c *Consumer) Metrics() *Metrics { return c.metrics }

// Queues lists the queue names consumed, in kind order.
func (c *Consumer) Queues() []string { return append([]string(nil), c.queues...) }

// Start starts taking tasks. It fails when Redis does not answer.
func (c *Consumer) Start() error {
	c.startOnce.Do(func() {
		if err := c.srv.Ping(); err != nil {
			c.startErr = errors.New("queuedispatch: queue Redis does not answer")
			return
		}
		c.startErr = c.srv.Start(asynq.HandlerFunc(c.process))
		if c.startErr == nil {
			c.stopSweep = startSweeping(c.sweeper, c.sweepInterval)
		}
	})
	return c.startErr
}

// Ping reports whether the queue Redis answers.
func (c *Consumer) Ping() error {
	if err := c.srv.Ping(); err != nil {
		return errors.New("queue Redis does not answer")
	}
	return nil
}

// Stop stops taking new tasks; in-flight jobs go on. Idempotent. Shutdown
// calls it first.
func (c *Consumer) Stop() { c.srv.Stop() }

// Shutdown stops taking tasks and waits for in-flight jobs to finish (at
// most ShutdownTimeout, after which asynq hands them back to the queue).
// When ctx ends first, in-flight jobs are cancelled: each is retried if its
// deadline allows, and Shutdown waits for them to return. Idempotent; later
// calls wait for the same drain.
func (c *Consumer) Shutdown(ctx context.Context) error {
	c.stopOnce.Do(func() {
		c.srv.Stop() // no new tasks from here on
		go func() {
			c.srv.Shutdown()
			c.cancel()
			// A Start racing or following Shutdown starts nothing.
			c.startOnce.Do(func() { c.startErr = errors.New("queuedispatch: consumer shut down") })
			c.stopSweep()
			_ = c.insp.Close()
			_ = c.sweeper.Close()
			close(c.stopped)
		}()
	})
	select {
	case <-c.stopped:
		return nil
	case <-ctx.Done():
		c.cancel()
		<-c.stopped
		return ctx.Err()
	}
}

// Outcomes counted per kind (label "outcome" of proofline_queue_jobs_total).
const (
	OutcomeDelivered   = "delivered"   // callback stored (or already stored: 409)
	OutcomeDropped     = "dropped"     // arrived after its deadline; not proofed
	OutcomeExpired     = "expired"     // deadline passed while proofing or delivering
	OutcomeRejected    = "rejected"    // malformed, does not open, or callback not allowed
	OutcomeRetried     = "retried"     // callback not delivered; redelivery scheduled
	OutcomeUndelivered = "undelivered" // callback not delivered; no time or retries left
	OutcomeDuplicate   = "duplicate"   // the job was claimed before (a redelivery); not proofed
)

var outcomes = []string{OutcomeDelivered, OutcomeDropped, OutcomeExpired, OutcomeRejected, OutcomeRetried, OutcomeUndelivered, OutcomeDuplicate}

// process is the asynq handler: one task, one envelope, one outcome.
func (c *Consumer) process(ctx context.Context, t *asynq.Task) error {
	env, err := proofline.ParseEnvelope(t.Payload())
	if err != nil {
		c.metrics.count("unknown", OutcomeRejected)
		c.logger.Error("queue task rejected: envelope malformed", slog.String("task_type", t.Type()))
		return fmt.Errorf("%w: envelope malformed", asynq.RevokeTask)
	}
	log := c.logger.With(slog.String("kind", string(env.Kind)), slog.String("result_id", env.ResultID), slog.String("trace_id", env.TraceID))
	if t.Type() != TaskType(env.Kind) {
		c.metrics.count(string(env.Kind), OutcomeRejected)
		log.Error("queue task rejected: task type does not match the envelope")
		return fmt.Errorf("%w: task type does not match the envelope", asynq.RevokeTask)
	}
	if now := c.now(); !now.Before(env.Deadline) {
		c.metrics.count(string(env.Kind), OutcomeDropped)
		c.metrics.dropped(string(env.Kind))
		log.Warn("queue task dropped: deadline passed before pickup", slog.Duration("late_by", now.Sub(env.Deadline)))
		return fmt.Errorf("%w: deadline passed", asynq.RevokeTask)
	}

	c.metrics.inFlight.Add(1)
	herr := c.handle(ctx, env)
	c.metrics.inFlight.Add(-1)

	var derr *worker.DeliveryError
	switch {
	case herr == nil:
		c.metrics.count(string(env.Kind), OutcomeDelivered)
		return nil
	case errors.Is(herr, worker.ErrExpired):
		c.metrics.count(string(env.Kind), OutcomeExpired)
		return fmt.Errorf("%w: deadline passed", asynq.RevokeTask)
	case errors.Is(herr, worker.ErrRejected):
		c.metrics.count(string(env.Kind), OutcomeRejected)
		log.Warn("queue task rejected")
		return fmt.Errorf("%w: envelope rejected", asynq.RevokeTask)
	case errors.Is(herr, worker.ErrClaimed):
		// A redelivered task whose job was claimed before: the IdP released
		// its key once, so it cannot be proofed again.
		c.metrics.count(string(env.Kind), OutcomeDuplicate)
		return fmt.Errorf("%w: job already claimed", asynq.RevokeTask)
	case errors.As(herr, &derr) && derr.Status >= 400 && derr.Status < 500:
		// The IdP refused the callback (4xx other than 409): a retry
		// would be refused the same way.
		c.metrics.count(string(env.Kind), OutcomeUndelivered)
		return fmt.Errorf("%w: callback refused with status %d", asynq.RevokeTask, derr.Status)
	}
	// Not delivered (network, 5xx, cancelled by shutdown, panic): redeliver
	// while retries are left and the deadline leaves room for another try.
	retried, _ := asynq.GetRetryCount(ctx)
	if retried < retryBudget(ctx, t) && c.now().Add(RetryDelay(retried)+retryPickup).Before(env.Deadline) {
		c.metrics.count(string(env.Kind), OutcomeRetried)
		log.Warn("queue task will be redelivered", slog.Int("retried", retried))
		return errors.New("proofline: callback not delivered, retrying")
	}
	c.metrics.count(string(env.Kind), OutcomeUndelivered)
	return fmt.Errorf("%w: callback not delivered, no time or retries left", asynq.RevokeTask)
}

// handle runs the handler; a panic is an undelivered job, never a crash.
func (c *Consumer) handle(ctx context.Context, env *proofline.Envelope) (err error) {
	defer func() {
		if v := recover(); v != nil {
			_ = v // the panic value may hold anything: log only where
			c.logger.Error("worker panic", slog.String("kind", string(env.Kind)),
				slog.String("result_id", env.ResultID), slog.String("stack", string(debug.Stack())))
			err = errors.New("worker panic")
		}
	}()
	return c.h.Handle(ctx, env)
}

// retryBudget is the number of redeliveries the job may have: the header
// Send writes (asynq's own MaxRetry is larger by retryBackstop), or asynq's
// MaxRetry for tasks sent by older builds.
func retryBudget(ctx context.Context, t *asynq.Task) int {
	if v, ok := t.Headers()[headerRetries]; ok {
		if n, err := strconv.Atoi(v); err == nil && n >= 0 {
			return n
		}
	}
	n, _ := asynq.GetMaxRetry(ctx)
	return n
}
