package queuedispatch

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/proofline/proofline"
)

// DefaultSweepInterval is how often a Driver or a Consumer sweeps the queues
// when its options leave SweepInterval at zero.
const DefaultSweepInterval = 30 * time.Second

// sweepPageSize and sweepMaxPages bound one state's listing in one sweep:
// at most 50,000 tasks per queue and state are looked at; the rest wait for
// the next sweep.
const (
	sweepPageSize = 500
	sweepMaxPages = 100
)

// SweepOptions configure a Sweeper.
type SweepOptions struct {
	// Redis is where the queues live (see ParseRedisURL). Required.
	Redis asynq.RedisConnOpt
	// QueuePrefix names the queues. Default DefaultQueuePrefix. Every kind's
	// queue under it is swept.
	QueuePrefix string
	Logger      *slog.Logger
	Now         func() time.Time
}

// Sweeper deletes from the queues what must not be kept: every archived or
// completed task (proofline keeps neither: see the package documentation),
// and every pending, scheduled or retry task whose job deadline has passed.
// Active tasks belong to a running worker (asynq refuses to delete them);
// one whose worker died goes back to retry when its lease expires, and a
// later sweep or pickup deletes it.
//
// It is what proves the queue keeps nothing past a job's deadline, and it
// cleans up after older builds, asynq's own paths and operators (asynq's
// Inspector can archive by hand). Drivers and Consumers run one every
// SweepInterval; several sweeping at once is harmless.
type Sweeper struct {
	insp   *asynq.Inspector
	queues []string
	logger *slog.Logger
	now    func() time.Time

	mu      sync.Mutex
	removed map[[2]string]uint64 // queue, state → tasks removed
	runs    map[string]uint64    // result → sweeps

	closeOnce sync.Once
}

// Swept is what one sweep removed, by the state the tasks were in.
type Swept struct {
	Archived  int // archived tasks (any deadline)
	Completed int // completed tasks kept for retention (any deadline)
	Expired   int // pending, scheduled or retry tasks past their deadline
}

// Removed is the number of tasks removed.
func (s Swept) Removed() int { return s.Archived + s.Completed + s.Expired }

// Sweep states (label "state" of proofline_queue_swept_total).
const (
	sweptArchived  = "archived"
	sweptCompleted = "completed"
	sweptExpired   = "expired"
)

// NewSweeper returns a Sweeper over every kind's queue under o.QueuePrefix.
// It contacts nothing until Sweep.
func NewSweeper(o SweepOptions) *Sweeper {
	if o.QueuePrefix == "" {
		o.QueuePrefix = DefaultQueuePrefix
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	s := &Sweeper{
		insp: asynq.NewInspector(o.Redis), logger: o.Logger, now: o.Now,
		removed: map[[2]string]uint64{}, runs: map[string]uint64{"ok": 0, "error": 0},
	}
	for _, k := range proofline.Kinds {
		q := QueueName(o.QueuePrefix, k)
		s.queues = append(s.queues, q)
		for _, st := range []string{sweptArchived, sweptCompleted, sweptExpired} {
			s.removed[[2]string{q, st}] = 0
		}
	}
	return s
}

// Close closes the Sweeper's Redis connection. Idempotent.
func (s *Sweeper) Close() error {
	var err error
	s.closeOnce.Do(func() { err = s.insp.Close() })
	return err
}

// Sweep runs one sweep over every queue and reports what it removed. An
// error (Redis unreachable) leaves the rest for the next sweep; what was
// removed before it is still counted.
func (s *Sweeper) Sweep(ctx context.Context) (Swept, error) {
	var out Swept
	var errs []error
	for _, q := range s.queues {
		if err := ctx.Err(); err != nil {
			errs = append(errs, err)
			break
		}
		n, err := s.insp.DeleteAllArchivedTasks(q)
		s.count(q, sweptArchived, n)
		out.Archived += n
		errs = append(errs, quiet(err))
		n, err = s.insp.DeleteAllCompletedTasks(q)
		s.count(q, sweptCompleted, n)
		out.Completed += n
		errs = append(errs, quiet(err))
		n, err = s.sweepExpired(ctx, q)
		s.count(q, sweptExpired, n)
		out.Expired += n
		errs = append(errs, quiet(err))
	}
	err := errors.Join(errs...)
	s.mu.Lock()
	if err != nil {
		s.runs["error"]++
	} else {
		s.runs["ok"]++
	}
	s.mu.Unlock()
	if out.Removed() > 0 {
		s.logger.Info("queue sweep removed tasks", slog.Int("archived", out.Archived),
			slog.Int("completed", out.Completed), slog.Int("expired", out.Expired))
	}
	if err != nil {
		// go-redis errors name addresses, never credentials; keep the class only.
		return out, errors.New("queuedispatch: sweep incomplete: queue Redis failed")
	}
	return out, nil
}

// sweepExpired deletes q's pending, scheduled and retry tasks whose job
// deadline has passed.
func (s *Sweeper) sweepExpired(ctx context.Context, q string) (int, error) {
	now := s.now()
	lists := []func(string, ...asynq.ListOption) ([]*asynq.TaskInfo, error){
		s.insp.ListPendingTasks, s.insp.ListScheduledTasks, s.insp.ListRetryTasks,
	}
	var ids []string
	for _, list := range lists {
		for page := 1; page <= sweepMaxPages; page++ {
			if err := ctx.Err(); err != nil {
				return 0, err
			}
			tasks, err := list(q, asynq.PageSize(sweepPageSize), asynq.Page(page))
			if err != nil {
				return 0, err
			}
			for _, t := range tasks {
				if d, ok := taskDeadline(t); ok && !now.Before(d) {
					ids = append(ids, t.ID)
				}
			}
			if len(tasks) < sweepPageSize {
				break
			}
		}
	}
	n := 0
	var errs []error
	for _, id := range ids {
		switch err := s.insp.DeleteTask(q, id); {
		case err == nil:
			n++
		case errors.Is(err, asynq.ErrTaskNotFound), errors.Is(err, asynq.ErrQueueNotFound):
			// Taken by a worker or deleted by another sweep meanwhile.
		default:
			if !isActiveRefusal(err) {
				errs = append(errs, err)
			}
		}
	}
	return n, errors.Join(errs...)
}

// isActiveRefusal: asynq refuses to delete a task that became active
// between the listing and the delete ("cannot delete task in active
// state"); its worker drops it, since it is late.
func isActiveRefusal(err error) bool { return strings.Contains(err.Error(), "active state") }

// quiet drops the error of a queue nothing was ever sent to.
func quiet(err error) error {
	if errors.Is(err, asynq.ErrQueueNotFound) {
		return nil
	}
	return err
}

// taskDeadline is the job deadline of a queued task: the header Send
// writes, else the envelope's own (tasks of older builds), else asynq's
// task deadline.
func taskDeadline(t *asynq.TaskInfo) (time.Time, bool) {
	if v, ok := t.Headers[headerDeadline]; ok {
		if d, err := time.Parse(time.RFC3339Nano, v); err == nil {
			return d, true
		}
	}
	var head struct {
		Deadline time.Time `json:"deadline"`
	}
	if err := json.Unmarshal(t.Payload, &head); err == nil && !head.Deadline.IsZero() {
		return head.Deadline, true
	}
	if !t.Deadline.IsZero() {
		return t.Deadline, true
	}
	return time.Time{}, false
}

func (s *Sweeper) count(q, state string, n int) {
	if n <= 0 {
		return
	}
	s.mu.Lock()
	s.removed[[2]string{q, state}] += uint64(n)
	s.mu.Unlock()
}

// Run sweeps every interval until ctx ends.
func (s *Sweeper) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if _, err := s.Sweep(ctx); err != nil && ctx.Err() == nil {
			s.logger.Warn("queue sweep failed", slog.String("error", err.Error()))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Collector exports what the sweeps removed, by queue and state, and the
// sweeps run, by result. Register it with the process's registry.
func (s *Sweeper) Collector() prometheus.Collector { return sweepCollector{s} }

var (
	descSwept = prometheus.NewDesc("proofline_queue_swept_total",
		"Tasks the queue sweep deleted, by queue and state: archived, completed (retained), expired (pending, scheduled or retry past the job deadline).",
		[]string{"queue", "state"}, nil)
	descSweeps = prometheus.NewDesc("proofline_queue_sweeps_total",
		"Queue sweeps run by this process, by result (ok, error).", []string{"result"}, nil)
)

type sweepCollector struct{ s *Sweeper }

func (x sweepCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descSwept
	ch <- descSweeps
}

func (x sweepCollector) Collect(ch chan<- prometheus.Metric) {
	x.s.mu.Lock()
	defer x.s.mu.Unlock()
	for k, v := range x.s.removed {
		ch <- prometheus.MustNewConstMetric(descSwept, prometheus.CounterValue, float64(v), k[0], k[1])
	}
	for r, v := range x.s.runs {
		ch <- prometheus.MustNewConstMetric(descSweeps, prometheus.CounterValue, float64(v), r)
	}
}

// startSweeping runs s every interval in the background until the
// returned stop is called; stop waits for the running sweep to return.
// A negative interval runs nothing.
func startSweeping(s *Sweeper, interval time.Duration) (stop func()) {
	if interval < 0 {
		return func() {}
	}
	if interval == 0 {
		interval = DefaultSweepInterval
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.Run(ctx, interval)
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			cancel()
			<-done
		})
	}
}
