package queuedispatch

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"sync"

	"github.com/hibiken/asynq"

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
	Logger   *slog.Logger
}

// Driver is the dispatch.Driver over asynq: Send enqueues the envelope in
// the queue of its kind.
type Driver struct {
	client *asynq.Client
	prefix string
	retry  int
	logger *slog.Logger

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
	c := asynq.NewClient(o.Redis)
	if err := c.Ping(); err != nil {
		_ = c.Close()
		return nil, errors.New("queuedispatch: queue Redis does not answer")
	}
	return &Driver{client: c, prefix: o.QueuePrefix, retry: o.MaxRetry, logger: o.Logger}, nil
}

// Send enqueues env: the envelope's JSON, in its kind's queue, with its
// result_id as the task id and a deadline of the envelope's deadline (plus
// the slack that lets workers count late arrivals). A second Send of the same
// result_id while the first is still queued is a no-op.
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
	task := asynq.NewTask(TaskType(env.Kind), payload,
		asynq.Queue(QueueName(d.prefix, env.Kind)),
		asynq.TaskID(env.ResultID),
		asynq.Deadline(env.Deadline.Add(deadlineSlack)),
		asynq.MaxRetry(d.retry),
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
		d.err = d.client.Close()
	})
	return d.err
}
