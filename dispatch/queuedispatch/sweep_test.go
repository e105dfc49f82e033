package queuedispatch_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/proofline/proofline"
	"github.com/proofline/proofline/dispatch"
	"github.com/proofline/proofline/dispatch/queuedispatch"
	"github.com/proofline/proofline/worker"
)

// traces returns the Redis keys whose name or value holds any of needles
// (result_ids, payload bytes): every key of the server, whatever its type,
// read with redistest's Dump.
func traces(t *testing.T, needles ...string) []string {
	t.Helper()
	all, err := redisSrv.Dump(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var hits []string
	for k, v := range all {
		for _, n := range needles {
			if strings.Contains(k, n) || bytes.Contains(v, []byte(n)) {
				hits = append(hits, k)
				break
			}
		}
	}
	return hits
}

// shutdown stops c, which also removes its heartbeat record from Redis
// (asynq keeps the message of each running task there while it runs).
func shutdown(t *testing.T, c *queuedispatch.Consumer) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := c.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
}

// noSweep turns a consumer's sweep off: its own paths are under test.
func noSweep(o *queuedispatch.ConsumerOptions) { o.SweepInterval = -1 }

// TestNothingIsArchived: every way a task can end on the consumer deletes
// it from Redis; asynq's archive (kept 90 days with the whole envelope) is
// never used. Each subtest is one path that archived before.
func TestNothingIsArchived(t *testing.T) {
	t.Parallel()
	t.Run("rejected and malformed", func(t *testing.T) {
		t.Parallel()
		f := setup(t)
		d := f.driver(3)
		h, _ := failing(100, fmt.Errorf("%w: envelope does not open", worker.ErrRejected))
		c := f.consumer(h, noSweep)
		e := envelope(proofline.KindResolution, time.Minute)
		_ = d.Send(context.Background(), e)
		cl := asynq.NewClient(f.opt)
		defer cl.Close()
		info, err := cl.Enqueue(asynq.NewTask(queuedispatch.TaskType(proofline.KindResolution), []byte("{not json"),
			asynq.Queue(queuedispatch.QueueName(f.prefix, proofline.KindResolution)), asynq.MaxRetry(3)))
		if err != nil {
			t.Fatal(err)
		}
		waitFor(t, "two rejections", func() bool {
			return c.Metrics().Jobs(proofline.KindResolution, queuedispatch.OutcomeRejected)+c.Metrics().Jobs("unknown", queuedispatch.OutcomeRejected) == 2
		})
		waitFor(t, "an empty queue", func() bool { return f.idle(proofline.KindResolution) })
		shutdown(t, c)
		if q := f.queue(proofline.KindResolution); q.Archived != 0 || q.Completed != 0 {
			t.Fatalf("rejected tasks kept: archived %d, completed %d", q.Archived, q.Completed)
		}
		if hits := traces(t, e.ResultID, info.ID); len(hits) > 0 {
			t.Fatalf("rejected tasks still in Redis: %v", hits)
		}
	})
	t.Run("deadline passed before pickup", func(t *testing.T) {
		t.Parallel()
		f := setup(t)
		d := f.driver(0)
		// Queued while no worker ran; its deadline (and the slack) passed.
		e := envelope(proofline.KindAddress, -5*time.Second)
		if err := d.Send(context.Background(), e); err != nil {
			t.Fatal(err)
		}
		var proofed atomic.Int64
		c := f.consumer(dispatch.HandlerFunc(func(context.Context, *proofline.Envelope) error { proofed.Add(1); return nil }), noSweep)
		waitFor(t, "the task taken", func() bool { return f.idle(proofline.KindAddress) })
		shutdown(t, c)
		if proofed.Load() != 0 {
			t.Fatal("a job past its deadline was proofed")
		}
		if q := f.queue(proofline.KindAddress); q.Archived != 0 {
			t.Fatalf("a job past its deadline was archived: %+v", q)
		}
		if hits := traces(t, e.ResultID); len(hits) > 0 {
			t.Fatalf("a job past its deadline is still in Redis: %v", hits)
		}
		if c.Metrics().Dropped(proofline.KindAddress) != 1 {
			t.Fatalf("dropped %d, want 1", c.Metrics().Dropped(proofline.KindAddress))
		}
	})
	t.Run("handler outlived the task timeout", func(t *testing.T) {
		t.Parallel()
		f := setup(t)
		d := f.driver(0)
		// A handler that hangs past everything (a vendor client ignoring
		// its context): asynq gives up on it at the task's timeout.
		var calls atomic.Int64
		c := f.consumer(dispatch.HandlerFunc(func(ctx context.Context, _ *proofline.Envelope) error {
			if calls.Add(1) == 1 {
				<-ctx.Done()
				time.Sleep(100 * time.Millisecond)
			}
			return nil
		}), noSweep)
		e := envelope(proofline.KindDocument, time.Second)
		if err := d.Send(context.Background(), e); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the task gone", func() bool {
			q := f.queue(proofline.KindDocument)
			return calls.Load() >= 1 && f.idle(proofline.KindDocument) && q.Archived+q.Completed == 0 || q.Archived > 0
		})
		shutdown(t, c)
		if q := f.queue(proofline.KindDocument); q.Archived != 0 {
			t.Fatalf("a timed-out job was archived: %+v", q)
		}
		if hits := traces(t, e.ResultID); len(hits) > 0 {
			t.Fatalf("a timed-out job is still in Redis: %v", hits)
		}
	})
}

// TestSweepLeavesNothingPastItsDeadline puts proofline tasks in every state
// asynq keeps them in (pending and scheduled past their deadline, archived,
// completed) next to a live one, runs one sweep, and reads every Redis key:
// nothing of the expired tasks is left, the live task is untouched, and the
// sweep counted what it removed.
func TestSweepLeavesNothingPastItsDeadline(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := context.Background()
	d := f.driver(3)
	cl := asynq.NewClient(f.opt)
	defer cl.Close()
	enqueue := func(e *proofline.Envelope, opts ...asynq.Option) {
		t.Helper()
		payload, _ := json.Marshal(e)
		opts = append([]asynq.Option{asynq.Queue(queuedispatch.QueueName(f.prefix, e.Kind)), asynq.TaskID(e.ResultID)}, opts...)
		if _, err := cl.Enqueue(asynq.NewTask(queuedispatch.TaskType(e.Kind), payload), opts...); err != nil {
			t.Fatal(err)
		}
	}

	// Completed, as an older build or a retention setting would leave it.
	completed := envelope(proofline.KindAddress, time.Minute)
	enqueue(completed, asynq.Retention(time.Hour))
	rec := &recorder{}
	c := f.consumer(rec, noSweep)
	waitFor(t, "the completed task", func() bool { return f.queue(proofline.KindAddress).Completed == 1 })
	shutdown(t, c)

	// Archived (by an older build, or by asynq itself).
	archived := envelope(proofline.KindResolution, time.Minute)
	if err := d.Send(ctx, archived); err != nil {
		t.Fatal(err)
	}
	if err := f.insp.ArchiveTask(queuedispatch.QueueName(f.prefix, proofline.KindResolution), archived.ResultID); err != nil {
		t.Fatal(err)
	}
	// Pending past its deadline: no worker took it in time.
	pending := envelope(proofline.KindDocument, -time.Second)
	if err := d.Send(ctx, pending); err != nil {
		t.Fatal(err)
	}
	// Scheduled (a retry or a delayed task) past its deadline.
	scheduled := envelope(proofline.KindDocument, -time.Second)
	enqueue(scheduled, asynq.ProcessIn(time.Hour))
	// Live: must stay.
	live := envelope(proofline.KindDocument, time.Minute)
	if err := d.Send(ctx, live); err != nil {
		t.Fatal(err)
	}
	gone := []string{completed.ResultID, archived.ResultID, pending.ResultID, scheduled.ResultID}
	if hits := traces(t, gone...); len(hits) < 4 {
		t.Fatalf("setup: only %d of the 4 tasks are in Redis: %v", len(hits), hits)
	}

	sw := queuedispatch.NewSweeper(queuedispatch.SweepOptions{Redis: f.opt, QueuePrefix: f.prefix})
	defer sw.Close()
	got, err := sw.Sweep(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if hits := traces(t, gone...); len(hits) > 0 {
		t.Fatalf("after one sweep, Redis still holds expired tasks: %v", hits)
	}
	if hits := traces(t, live.ResultID); len(hits) == 0 {
		t.Fatal("the sweep removed a live task")
	}
	if got.Removed() != 4 || got.Archived != 1 || got.Completed != 1 || got.Expired != 2 {
		t.Fatalf("sweep result %+v, want 1 archived, 1 completed, 2 expired", got)
	}
	for _, q := range []proofline.Kind{proofline.KindAddress, proofline.KindResolution} {
		if info := f.queue(q); info.Archived+info.Completed+info.Pending+info.Scheduled != 0 {
			t.Fatalf("%s queue after the sweep: %+v", q, info)
		}
	}
	// The metric counts it.
	srv := httptest.NewServer(promHandler(sw))
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`proofline_queue_swept_total{queue="` + queuedispatch.QueueName(f.prefix, proofline.KindResolution) + `",state="archived"} 1`,
		`proofline_queue_swept_total{queue="` + queuedispatch.QueueName(f.prefix, proofline.KindAddress) + `",state="completed"} 1`,
		`proofline_queue_swept_total{queue="` + queuedispatch.QueueName(f.prefix, proofline.KindDocument) + `",state="expired"} 2`,
		`proofline_queue_sweeps_total{result="ok"} 1`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %q:\n%s", want, body)
		}
	}
	// A second sweep finds nothing more and leaves the live task.
	if got, err := sw.Sweep(ctx); err != nil || got.Removed() != 0 {
		t.Fatalf("second sweep: %+v, %v", got, err)
	}
	if f.queue(proofline.KindDocument).Pending != 1 {
		t.Fatal("the live task is gone")
	}
}

// promHandler serves c alone in the Prometheus text format.
func promHandler(c interface{ Collector() prometheus.Collector }) http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(c.Collector())
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
}

// TestServerDriverSweepsWithNoWorker: the IdP server's Driver sweeps on its
// own, so a job queued while no worker runs leaves Redis soon after its
// deadline.
func TestServerDriverSweepsWithNoWorker(t *testing.T) {
	t.Parallel()
	f := setup(t)
	d, err := queuedispatch.NewDriver(queuedispatch.DriverOptions{Redis: f.opt, QueuePrefix: f.prefix, SweepInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close(context.Background())
	e := envelope(proofline.KindResolution, 200*time.Millisecond)
	if err := d.Send(context.Background(), e); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the expired job swept", func() bool { return len(traces(t, e.ResultID)) == 0 })
	if time.Now().Before(e.Deadline) {
		t.Fatal("swept before its deadline")
	}
	srv := httptest.NewServer(promHandler(d))
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if want := `proofline_queue_swept_total{queue="` + queuedispatch.QueueName(f.prefix, proofline.KindResolution) + `",state="expired"} 1`; !strings.Contains(string(body), want) {
		t.Fatalf("metrics lack %q:\n%s", want, body)
	}
}
