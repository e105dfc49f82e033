package app

import (
	"context"
	"log/slog"
	"time"

	"github.com/proofline/proofline"
	"github.com/proofline/proofline/config"
	"github.com/proofline/proofline/dispatch"
	"github.com/proofline/proofline/dispatch/queuedispatch"
	"github.com/proofline/proofline/observe/metrics"
)

// queueEnabled reports whether jobs go to the distributed queue (asynq on
// Redis) consumed by `proofline worker` processes.
func queueEnabled(cfg config.Config) bool { return cfg.QueueProofingEnabled }

// newQueueDriver builds the queue dispatch driver `proofline serve` sends
// through when queue_proofing_enabled is set.
func newQueueDriver(ctx context.Context, cfg config.Config, log *slog.Logger) (dispatch.Driver, error) {
	opt, err := queueRedis(cfg)
	if err != nil {
		return nil, err
	}
	d, err := queuedispatch.NewDriver(queuedispatch.DriverOptions{
		Redis: opt, QueuePrefix: cfg.QueueNamePrefix, MaxRetry: cfg.QueueMaxRetry, Logger: log,
	})
	if err != nil {
		return nil, &queueUnavailableError{err}
	}
	return d, nil
}

// NewQueueConsumer builds what a `proofline worker` process runs: the worker
// runtime (NewWorker, the same as every other mode) fed by the queues of the
// kinds in queue_weights, worker_concurrency jobs at once. With o.Metrics set,
// the runtime reports to it and the queue's figures are registered with it.
// The caller starts the consumer and shuts it down.
func NewQueueConsumer(ctx context.Context, cfg config.Config, o WorkerOptions) (*queuedispatch.Consumer, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	opt, err := queueRedis(cfg)
	if err != nil {
		return nil, err
	}
	weights, err := config.ParseQueueWeights(cfg.QueueWeights)
	if err != nil {
		return nil, err
	}
	kw := map[proofline.Kind]int{}
	for k, w := range weights {
		kw[proofline.Kind(k)] = w
	}
	o.VendorLatency = max(o.VendorLatency, time.Duration(cfg.MockVendorLatencyMs)*time.Millisecond)
	rt, err := NewWorker(ctx, cfg, o)
	if err != nil {
		return nil, err
	}
	shutdown := time.Duration(cfg.QueueShutdownTimeoutSeconds) * time.Second
	if shutdown == 0 {
		shutdown = time.Duration(cfg.AsyncWaitTimeoutSeconds) * time.Second
	}
	c, err := queuedispatch.NewConsumer(rt, queuedispatch.ConsumerOptions{
		Redis: opt, QueuePrefix: cfg.QueueNamePrefix, Weights: kw,
		Concurrency:     cfg.WorkerConcurrency,
		CheckInterval:   time.Duration(cfg.QueueCheckIntervalMS) * time.Millisecond,
		ShutdownTimeout: shutdown,
		Logger:          o.Logger,
	})
	if err != nil {
		return nil, err
	}
	if o.Metrics != nil {
		if err := o.Metrics.Registry().Register(c.Collector()); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// registerQueueSweep exports what the queue driver's sweeps removed
// (proofline_queue_swept_total) with the server's metrics; other drivers
// have none.
func registerQueueSweep(m *metrics.Metrics, d dispatch.Driver) error {
	if q, ok := d.(*queuedispatch.Driver); ok {
		return m.Registry().Register(q.Collector())
	}
	return nil
}

func queueRedis(cfg config.Config) (queuedispatch.RedisOpt, error) {
	raw := cfg.QueueRedis()
	if raw == "" {
		return nil, &config.Error{Key: "queue_redis_url", Msg: "is required for queue workers (or set redis_url)"}
	}
	key := "queue_redis_url"
	if cfg.QueueRedisURL == "" {
		key = "redis_url"
	}
	opt, err := queuedispatch.ParseRedisURL(raw)
	if err != nil {
		return nil, &config.Error{Key: key, Msg: err.Error()}
	}
	return opt, nil
}

// queueUnavailableError: the queue Redis did not answer at start (a runtime
// failure, not a configuration error: exit 1, not 2).
type queueUnavailableError struct{ err error }

func (e *queueUnavailableError) Error() string { return "queue_redis_url: " + e.err.Error() }
func (e *queueUnavailableError) Unwrap() error { return e.err }
