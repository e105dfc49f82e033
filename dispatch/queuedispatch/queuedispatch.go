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
// Nothing is kept past a job's deadline, and nothing goes to asynq's
// archive (which would keep the whole envelope for 90 days). Every way a
// task can end deletes it:
//
//	nil (delivered, or 409 already done)  → done, task deleted (Retention 0)
//	arrived after the deadline            → dropped and counted, task deleted (asynq.RevokeTask)
//	worker.ErrExpired                     → task deleted (asynq.RevokeTask)
//	worker.ErrRejected, malformed task    → counted and logged, task deleted (asynq.RevokeTask), never retried
//	worker.ErrClaimed (a redelivery)      → counted as duplicate, task deleted (asynq.RevokeTask)
//	*worker.DeliveryError                 → retried while the job's retry budget (queue_max_retry) and deadline allow another try, else deleted
//
// asynq archives on its own in three more cases, all closed here: a task
// whose asynq deadline passed before pickup (tasks carry an asynq timeout
// instead of a deadline, so the handler always runs and drops a late task
// itself), a handler that outlives that timeout, and a worker that died
// mid-task (asynq retries both, rather than archiving, while retries are
// left: tasks get retryBackstop more asynq retries than their budget, which
// the Consumer reads from a task header and enforces itself; the next pickup
// of such a task is past its deadline and deletes it). A Sweeper, run by
// every Driver and Consumer, deletes whatever is archived or retained
// anyway (older builds, operators) and every pending, scheduled or retry
// task past its deadline, and counts it (proofline_queue_swept_total).
// asynq's heartbeat also copies each running task's message into
// asynq:workers:<server> while it runs (and until the next heartbeat, 5 s);
// that record expires with its worker.
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
	"github.com/proofline/proofline/internal/redisurl"
)

// DefaultQueuePrefix is the queue name prefix when none is given.
const DefaultQueuePrefix = "proofline"

// deadlineSlack is added to the time left until the envelope deadline to
// make the asynq task timeout. Every step of the worker runtime is bounded by
// the envelope deadline itself; asynq's timeout is only the backstop.
const deadlineSlack = 2 * time.Second

// retryBackstop is how many asynq retries a task has beyond its retry
// budget. asynq archives a task that fails with no retries left, and two of
// its failures never reach the handler (a handler outliving the task
// timeout, a worker dying mid-task): with retries left it retries instead,
// and the Consumer, which enforces the budget itself, deletes the task at
// its next pickup.
const retryBackstop = 25

// Task headers (routing data, no PII).
const (
	// headerDeadline is the job deadline, RFC 3339 (the sweep reads it).
	headerDeadline = "proofline-deadline"
	// headerRetries is the job's retry budget (queue_max_retry).
	headerRetries = "proofline-max-retry"
)

// taskTimeout is the asynq timeout of a task sent at now for a job due at
// deadline: the time left plus the slack, in whole seconds (asynq's unit),
// at least one.
func taskTimeout(now, deadline time.Time) time.Duration {
	left := deadline.Sub(now) + deadlineSlack
	secs := (left + time.Second - 1) / time.Second
	return max(secs, 1) * time.Second
}

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
// password). The Sentinel form is internal/redisurl's: the URL's user and
// password are the Redis primary's and replicas' (a worker's user confined
// to the queue's keys), sentinel_username and sentinel_password the
// Sentinels' own.
func ParseRedisURL(raw string) (asynq.RedisConnOpt, error) {
	if redisurl.IsSentinel(raw) {
		s, err := redisurl.ParseSentinel(raw)
		if err != nil {
			return nil, errors.New("not a valid Redis Sentinel URL: " + err.Error())
		}
		return asynq.RedisFailoverClientOpt{
			MasterName:       s.Master,
			SentinelAddrs:    s.Addrs,
			SentinelUsername: s.SentinelUsername,
			SentinelPassword: s.SentinelPassword,
			Username:         s.Username,
			Password:         s.Password,
			DB:               s.DB,
		}, nil
	}
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
