package fleettest_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/proofline/proofline/internal/fleettest"
	"github.com/proofline/proofline/internal/redistest"
)

// job is one proofing job of the test and what its outcome must be.
type job struct {
	kind string
	body any
	doc  bool
	// want: "success", "error:<field>", or "timed_out" (the Hang sandbox).
	want    string
	started fleettest.Started
	// start is the server that started the job; poll is the other one.
	start, poll string
	outcome     fleettest.Outcome
}

// mix returns fleettest.Mix's jobs as this test's.
func mix(n, docEvery, hangEvery int) []*job {
	jobs := make([]*job, 0, n)
	for _, j := range fleettest.Mix(n, docEvery, hangEvery) {
		jobs = append(jobs, &job{kind: j.Kind, body: j.Body, doc: j.Doc, want: j.Want})
	}
	return jobs
}

// each runs fn over jobs with workers goroutines and returns the first error.
func each(jobs []*job, workers int, fn func(i int, j *job) error) error {
	var next atomic.Int64
	var first error
	var once sync.Once
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= len(jobs) {
					return
				}
				if err := fn(i, jobs[i]); err != nil {
					once.Do(func() { first = err })
					return
				}
			}
		}()
	}
	wg.Wait()
	return first
}

// run starts every job on servers[i%2] and polls it on the other server
// until it is no longer pending (at most until the deadline).
func run(c *fleettest.Client, servers []*fleettest.Proc, jobs []*job, deadline time.Time) error {
	err := each(jobs, 16, func(i int, j *job) error {
		j.start, j.poll = servers[i%2].URL(), servers[(i+1)%2].URL()
		var err error
		if j.doc {
			j.started, err = c.StartDocument(j.start, []byte("front image"), []byte("back image"))
		} else {
			j.started, err = c.Start(j.start, j.kind, j.body)
		}
		if err != nil {
			return fmt.Errorf("job %d (%s): %w", i, j.kind, err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	return each(jobs, 16, func(i int, j *job) error {
		for {
			o, err := c.Poll(j.poll, j.started.StatusURL)
			if err != nil {
				return fmt.Errorf("job %d: %w", i, err)
			}
			if o.Status != "pending" {
				j.outcome = o
				return nil
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("job %d (%s) still pending at the test deadline", i, j.kind)
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
}

// check reports whether j's outcome is what its input asks the mock vendors for.
func (j *job) check() error {
	o := j.outcome
	switch {
	case j.want == "timed_out":
		if o.Status != "timed_out" {
			return fmt.Errorf("%s job: status %q, want timed_out", j.kind, o.Status)
		}
	case o.Status != "done" || o.Result == nil:
		return fmt.Errorf("%s job: status %q, want done", j.kind, o.Status)
	case j.want == "success":
		if !o.Result.Success || len(o.Result.Errors) != 0 {
			return fmt.Errorf("%s job: %+v, want success", j.kind, o.Result)
		}
	default:
		field := strings.TrimPrefix(j.want, "error:")
		if o.Result.Success || len(o.Result.Errors[field]) == 0 {
			return fmt.Errorf("%s job: %+v, want errors.%s", j.kind, o.Result, field)
		}
	}
	return nil
}

// TestFleet is the scale-out deployment of issue #5 on loopback: the built
// binary as two `proofline serve` and two `proofline worker` processes, a
// real redis-server, and a load balancer as the servers' shared base_url.
//
//  1. 2,000 jobs of every kind, started on both servers and each polled
//     through the other one: every job reaches exactly its one outcome.
//  2. A worker is killed with SIGKILL while jobs run on it: every job still
//     ends done or timed out by its (short) deadline, and the fleet goes on.
func TestFleet(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dir := t.TempDir()
	bin, err := fleettest.Build(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	rs, err := redistest.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rs.Stop)
	// Workers run as a Redis user confined to the queue's keys.
	workerURL, err := rs.QueueUser(context.Background(), "fleetworker", "fleet-worker-pw-0123456789", "")
	if err != nil {
		t.Fatal(err)
	}
	f, err := fleettest.New(fleettest.Options{Bin: bin, RedisURL: rs.URL(), WorkerRedisURL: workerURL, Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.Close)
	must := func(p *fleettest.Proc, err error) *fleettest.Proc {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	dump := func() {
		for _, p := range f.Procs() {
			t.Logf("--- %s (exit %d):\n%s", p.Name, p.ExitCode(), p.Log())
		}
	}
	c := fleettest.NewClient()
	httpc := &http.Client{Timeout: 5 * time.Second}

	// Phase 1: 2,000 jobs, every one to exactly one outcome.
	servers := []*fleettest.Proc{must(f.StartServer(60)), must(f.StartServer(60))}
	workers := []*fleettest.Proc{must(f.StartWorker()), must(f.StartWorker())}
	jobs := mix(2000, 200, 0)
	begin := time.Now()
	if err := run(c, servers, jobs, time.Now().Add(90*time.Second)); err != nil {
		dump()
		t.Fatal(err)
	}
	t.Logf("phase 1: %d jobs in %s", len(jobs), time.Since(begin).Round(time.Millisecond))
	seen := map[string]bool{}
	for i, j := range jobs {
		if err := j.check(); err != nil {
			dump()
			t.Fatalf("job %d: %v", i, err)
		}
		if seen[j.started.ResultID] {
			t.Fatalf("result_id %s given twice", j.started.ResultID)
		}
		seen[j.started.ResultID] = true
	}
	// Both servers give the same one outcome (nothing lives in one process).
	for _, j := range jobs[:50] {
		o, err := c.Poll(j.start, j.started.StatusURL)
		if err != nil || o.Status != j.outcome.Status || o.Result.Success != j.outcome.Result.Success {
			t.Fatalf("the starting server disagrees: %+v %v", o, err)
		}
	}
	origins := []string{workers[0].URL(), workers[1].URL()}
	delivered, _ := fleettest.Metric(httpc, origins, `proofline_queue_jobs_total{kind=`)
	dlv, _ := fleettest.Metric(httpc, origins, `proofline_queue_jobs_total{kind="address",outcome="delivered"}`)
	dlv2, _ := fleettest.Metric(httpc, origins, `proofline_queue_jobs_total{kind="resolution",outcome="delivered"}`)
	dlv3, _ := fleettest.Metric(httpc, origins, `proofline_queue_jobs_total{kind="document",outcome="delivered"}`)
	rejected, _ := fleettest.Metric(httpc, origins, `proofline_queue_jobs_total{kind="unknown",outcome="rejected"}`)
	t.Logf("phase 1 worker counters: %v jobs ended, %v delivered", delivered, dlv+dlv2+dlv3)
	if dlv+dlv2+dlv3 < float64(len(jobs)) || rejected != 0 {
		t.Fatalf("workers delivered %v of %d jobs (%v malformed)", dlv+dlv2+dlv3, len(jobs), rejected)
	}
	for _, w := range workers {
		if n, _ := fleettest.Metric(httpc, []string{w.URL()}, `proofline_queue_jobs_total{kind="address",outcome="delivered"}`); n == 0 {
			t.Errorf("%s took no address jobs: the queue did not spread the work", w.Name)
		}
	}

	// Servers and workers drain and exit 0 on SIGTERM.
	for _, p := range append(servers, workers...) {
		if code, err := p.Stop(30 * time.Second); err != nil || code != 0 {
			dump()
			t.Fatalf("%s: SIGTERM: exit %d, %v", p.Name, code, err)
		}
		f.LB.Remove(p.URL())
	}

	// Phase 2: a 5 s deadline, vendors answering in 150 ms, some jobs
	// hanging past the deadline; one worker killed with jobs in flight.
	servers = []*fleettest.Proc{must(f.StartServer(5)), must(f.StartServer(5))}
	victim := must(f.StartWorker("PROOFLINE_MOCK_VENDOR_LATENCY_MS=150"))
	survivor := must(f.StartWorker("PROOFLINE_MOCK_VENDOR_LATENCY_MS=150"))
	jobs = mix(400, 100, 20)
	killed := make(chan struct{})
	var didKill atomic.Bool
	go func() {
		defer close(killed)
		// Kill the victim as soon as it has jobs in flight (bounded wait).
		for end := time.Now().Add(20 * time.Second); time.Now().Before(end); time.Sleep(5 * time.Millisecond) {
			if n, err := fleettest.Metric(httpc, []string{victim.URL()}, "proofline_queue_jobs_in_flight"); err == nil && n >= 1 {
				victim.Kill()
				didKill.Store(true)
				return
			}
		}
	}()
	err = run(c, servers, jobs, time.Now().Add(60*time.Second))
	<-killed
	if err != nil {
		dump()
		t.Fatal(err)
	}
	if !didKill.Load() {
		t.Fatal("the victim worker never had a job in flight: it was not killed mid-run")
	}
	done, timedOut := 0, 0
	for i, j := range jobs {
		switch j.outcome.Status {
		case "timed_out":
			timedOut++
			if j.want == "timed_out" {
				continue
			}
			// Lost with the killed worker: a clean timeout.
		case "done":
			done++
			if err := j.check(); err != nil {
				t.Fatalf("phase 2 job %d: %v", i, err)
			}
		default:
			t.Fatalf("phase 2 job %d: status %q", i, j.outcome.Status)
		}
	}
	t.Logf("phase 2: %d done, %d timed out (%d by the Hang sandbox), worker killed mid-run", done, timedOut, len(jobs)/20)
	if done == 0 {
		t.Fatal("no job completed after the kill")
	}
	if code, err := survivor.Stop(30 * time.Second); err != nil || code != 0 {
		dump()
		t.Fatalf("survivor: SIGTERM: exit %d, %v", code, err)
	}
}
