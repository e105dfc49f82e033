package queuedispatch

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/proofline/proofline"
	"github.com/proofline/proofline/dispatch"
)

// DriverOptions configure a Driver.
type DriverOptions struct {
	// Redis is where the queues live (see ParseRedisURL). Required.
	Redis asynq.RedisConnOpt
	// QueuePrefix names the queues. Default DefaultQueuePrefix.
	QueuePrefix string
	// MaxRetry bounds redeliveries of a task whose callback failed; 0 means
	// none. The Consumer retries only while the job's deadline allows.
	MaxRetry int
	// SweepInterval is how often the Driver sweeps the queues (see
	// Sweeper): the IdP server's sweep removes what is past its deadline
	// even when no worker runs. Default DefaultSweepInterval; negative: off.
	SweepInterval time.Duration
	Logger        *slog.Logger
	// Now is the clock task timeouts are computed with. Default time.Now.
	Now func() time.Time
}

// Driver is the dispatch.Driver over asynq: Send enqueues the envelope in
// the queue of its kind.
type Driver struct {
	client *asynq.Client
	prefix string
	retry  int
	logger *slog.Logger
	now    func() time.Time

	sweeper   *Sweeper
	stopSweep func()

	mu     sync.RWMutex // guards closed against Send racing Close
	closed bool
	once   sync.Once
	err    error
}

var _ dispatch.Driver = (*Driver)(nil)

// NewDriver connects to Redis and checks that it answers.
func NewDriver(o DriverOptions) (*Driver, error) {
	if o.Redis == nil {
		return nil, errors.New("queuedispatch: Redis is required")
	}
	if o.QueuePrefix == "" {
		o.QueuePrefix = DefaultQueuePrefix
	}
	if o.MaxRetry < 0 {
		o.MaxRetry = 0
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	c := asynq.NewClient(o.Redis)
	if err := c.Ping(); err != nil {
		_ = c.Close()
		return nil, errors.New("queuedispatch: queue Redis does not answer")
	}
	d := &Driver{client: c, prefix: o.QueuePrefix, retry: o.MaxRetry, logger: o.Logger, now: o.Now}
	d.sweeper = NewSweeper(SweepOptions{Redis: o.Redis, QueuePrefix: o.QueuePrefix, Logger: o.Logger, Now: o.Now})
	d.stopSweep = startSweeping(d.sweeper, o.SweepInterval)
	return d, nil
}

// Collector exports what the Driver's sweeps removed (see Sweeper).
func (d *Driver) Collector() prometheus.Collector { return d.sweeper.Collector() }

// Send enqueues env: the envelope's JSON, in its kind's queue, with its
// result_id as the task id. The job deadline travels in a task header (the
// sweep reads it); asynq gets a timeout, not a deadline, so that a task
// picked up late still reaches the Consumer, which deletes it (asynq would
// archive it). A second Send of the same result_id while the first is still
// queued is a no-op.
func (d *Driver) Send(ctx context.Context, env *proofline.Envelope) error {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if d.closed {
		return dispatch.ErrClosed
	}
	if !env.Kind.Valid() {
		return proofline.Errorf(proofline.EINVALID, "envelope kind unknown")
	}
	payload, err := json.Marshal(env)
	if err != nil {
		return proofline.WrapError(proofline.EINTERNAL, "encode envelope", err)
	}
	task := asynq.NewTaskWithHeaders(TaskType(env.Kind), payload,
		map[string]string{
			headerDeadline: env.Deadline.UTC().Format(time.RFC3339Nano),
			headerRetries:  strconv.Itoa(d.retry),
		},
		asynq.Queue(QueueName(d.prefix, env.Kind)),
		asynq.TaskID(env.ResultID),
		asynq.Timeout(taskTimeout(d.now(), env.Deadline)),
		asynq.MaxRetry(d.retry+retryBackstop),
		asynq.Retention(0),
	)
	_, err = d.client.EnqueueContext(ctx, task)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, asynq.ErrTaskIDConflict):
		return nil // already queued: one job, one task
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	// go-redis errors name addresses, never credentials; keep the class only.
	return errors.New("queuedispatch: enqueue failed")
}

// Close stops taking work and closes the Redis connection. Jobs already
// enqueued stay in the queue for the workers. Idempotent.
func (d *Driver) Close(context.Context) error {
	d.once.Do(func() {
		d.mu.Lock()
		d.closed = true
		d.mu.Unlock()
		d.stopSweep()
		d.err = errors.Join(d.client.Close(), d.sweeper.Close())
	})
	return d.err
}
