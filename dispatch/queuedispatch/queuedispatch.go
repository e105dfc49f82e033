// Package queuedispatch carries sealed job envelopes over a distributed queue,
// asynq on Redis, to `proofline worker` processes on any number of machines.
//
// Driver is the dispatch.Driver the IdP server sends through; Consumer runs in
// a worker process and hands every task to the same worker runtime the
// in-process and Lambda modes run.
//
// What the queue holds: one task per job, in the queue of its kind
// (<prefix>-document, <prefix>-resolution, <prefix>-address), typed
// "proofline:<kind>", with the job's result_id as its task id and the
// envelope's JSON as its payload. The envelope's header (kind, result_id,
// callback URL, deadline, trace id, worker build) is routing data without PII;
// everything personal travels sealed. Nothing else is written: completed tasks
// are deleted at once (no retention).
//
// Delivery is at least once; proofing is at most once. The IdP releases a
// job's data key to one claim only, so a task redelivered after a crash or a
// lost acknowledgement is refused at its claim (409) and never reaches a
// vendor; the result store's once-only pending→done transition and the
// callback's 409 make sure exactly one outcome is stored.
//
// Deadlines: a task's asynq deadline is the envelope's deadline plus a small
// slack, so that the Consumer (not asynq) sees a task that arrives late: it is
// dropped without proofing and counted. Outcomes of worker.Runtime.Handle map
// to the queue as follows:
//
//	nil (delivered, or 409 already done)  → done, task deleted
//	arrived after the deadline            → dropped and counted, task deleted (asynq.RevokeTask)
//	worker.ErrExpired                     → task deleted (asynq.RevokeTask)
//	worker.ErrRejected, malformed task    → not retried, archived for inspection (asynq.SkipRetry); the payload stays sealed
//	worker.ErrClaimed (a redelivery)      → counted as duplicate, task deleted (asynq.RevokeTask)
//	*worker.DeliveryError                 → retried while retries are left and the deadline allows another try, else deleted
package queuedispatch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"time"

	"github.com/hibiken/asynq"

	"github.com/proofline/proofline"
)

// DefaultQueuePrefix is the queue name prefix when none is given.
const DefaultQueuePrefix = "proofline"

// deadlineSlack is added to the envelope deadline to make the asynq task
// deadline. Every step of the worker runtime is bounded by the envelope
// deadline itself; asynq's deadline is only the backstop, and the slack lets
// the Consumer see and count tasks that arrive late instead of asynq failing
// them before any handler runs.
const deadlineSlack = 2 * time.Second

// retryPickup is how often retried tasks are moved back to their queue
// (asynq DelayedTaskCheckInterval); a retry costs its backoff plus up to this.
const retryPickup = time.Second

// TaskType is the asynq task type of a job of kind k.
func TaskType(k proofline.Kind) string { return "proofline:" + string(k) }

// QueueName is the queue of kind k under prefix.
func QueueName(prefix string, k proofline.Kind) string {
	if prefix == "" {
		prefix = DefaultQueuePrefix
	}
	return prefix + "-" + string(k)
}

// RetryDelay is the wait before redelivery number n+1 of a task whose
// callback could not be delivered: 250 ms doubling, at most 4 s. The job
// deadline (60 s by default) leaves room for a few.
func RetryDelay(n int) time.Duration {
	if n < 0 {
		n = 0
	}
	if n > 4 {
		n = 4
	}
	return 250 * time.Millisecond << n
}

// ParseRedisURL turns a redis://, rediss:// or redis-sentinel:// URL into
// asynq connection options. The error never repeats the URL (it may hold a
// password).
func ParseRedisURL(raw string) (asynq.RedisConnOpt, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return nil, errors.New("not a Redis URL")
	}
	switch u.Scheme {
	case "redis", "rediss", "redis-sentinel":
	default:
		return nil, errors.New("must be a redis://, rediss:// or redis-sentinel:// URL")
	}
	opt, err := asynq.ParseRedisURI(raw)
	if err != nil {
		return nil, errors.New("not a valid Redis URL (database number, host or sentinel master)")
	}
	return opt, nil
}

// slogAdapter is asynq's Logger over slog. asynq logs task ids (our
// result_ids), queue names and Redis errors: no PII.
type slogAdapter struct{ l *slog.Logger }

func (a slogAdapter) Debug(args ...any) {
	a.l.Debug(fmt.Sprint(args...), slog.String("component", "asynq"))
}
func (a slogAdapter) Info(args ...any) {
	a.l.Info(fmt.Sprint(args...), slog.String("component", "asynq"))
}
func (a slogAdapter) Warn(args ...any) {
	a.l.Warn(fmt.Sprint(args...), slog.String("component", "asynq"))
}
func (a slogAdapter) Error(args ...any) {
	a.l.Error(fmt.Sprint(args...), slog.String("component", "asynq"))
}
func (a slogAdapter) Fatal(args ...any) {
	// asynq's Server never calls Fatal; should it, log an error and leave
	// the decision to exit to the caller.
	a.l.Error(fmt.Sprint(args...), slog.String("component", "asynq"), slog.Bool("fatal", true))
}

func asynqLevel(l *slog.Logger) asynq.LogLevel {
	ctx := context.Background()
	switch {
	case l.Enabled(ctx, slog.LevelDebug):
		return asynq.DebugLevel
	case l.Enabled(ctx, slog.LevelInfo):
		// asynq's info lines are per-process lifecycle messages; keep them.
		return asynq.InfoLevel
	case l.Enabled(ctx, slog.LevelWarn):
		return asynq.WarnLevel
	}
	return asynq.ErrorLevel
}

// RedisOpt is asynq's Redis connection option (what ParseRedisURL returns).
type RedisOpt = asynq.RedisConnOpt
