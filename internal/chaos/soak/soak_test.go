package soak_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/proofline/proofline/internal/chaos"
	"github.com/proofline/proofline/internal/fleettest"
	"github.com/proofline/proofline/internal/history"
	"github.com/proofline/proofline/internal/redistest"
)

func TestMain(m *testing.M) { os.Exit(chaos.Main(m)) }

// rss reads a process's resident set size in bytes from /proc.
func rss(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(rest)
			kb, err := strconv.ParseFloat(f[0], 64)
			return kb * 1024, err
		}
	}
	return 0, fmt.Errorf("no VmRSS for %d", pid)
}

// TestSoak measures the fleet's capacity with a burst, then runs it at half
// that rate (45 s in `make test`, 10 minutes in `make chaos`) and samples
// every process's RSS and goroutine count (go_goroutines on its /metrics):
// after the warm-up both must stay flat (chaos.Flat), every job must end
// once, and the history must pass Porcupine.
func TestSoak(t *testing.T) {
	bin := chaos.Binary(t)
	rs, err := redistest.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rs.Stop)
	workerURL, err := rs.QueueUser(context.Background(), "soakworker", "soak-worker-pw-0123456789", "")
	if err != nil {
		t.Fatal(err)
	}
	f, err := fleettest.New(fleettest.Options{Bin: bin, RedisURL: rs.URL(), WorkerRedisURL: workerURL, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.Close)
	const timeout = 10
	var procs []*fleettest.Proc
	var servers []string
	for range 2 {
		p, err := f.StartServer(timeout)
		if err != nil {
			t.Fatal(err)
		}
		procs = append(procs, p)
		servers = append(servers, p.URL())
	}
	for range 2 {
		p, err := f.StartWorker()
		if err != nil {
			t.Fatal(err)
		}
		procs = append(procs, p)
	}
	origins := func() []string { return servers }
	ctx := context.Background()

	// Capacity: a burst of jobs as fast as the driver goes.
	burst := chaos.Mix(chaos.Size(300, 2000), 40, 0)
	d := chaos.NewDriver(&history.Recorder{}, timeout*time.Second)
	d.NoExpiryReads = true
	began := time.Now()
	d.Run(ctx, burst, origins, 0, time.Now().Add(2*time.Minute))
	capacity := float64(len(burst)) / time.Since(began).Seconds()
	rate := capacity / 2
	soak := time.Duration(chaos.Size(45, 600)) * time.Second
	every := time.Duration(chaos.Size(2, 5)) * time.Second
	t.Logf("capacity %.0f jobs/s (burst of %d); soaking at %.0f jobs/s for %s", capacity, len(burst), rate, soak)

	// Sample every process while the soak runs.
	type series struct{ rss, gor []float64 }
	samples := make([]series, len(procs))
	hc := &http.Client{Timeout: 5 * time.Second}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			for i, p := range procs {
				r, err := rss(p.PID())
				g, gerr := fleettest.Metric(hc, []string{p.MetricsURL()}, "go_goroutines ")
				if err != nil || gerr != nil {
					t.Errorf("%s: sample: %v %v", p.Name, err, gerr)
					continue
				}
				samples[i].rss = append(samples[i].rss, r)
				samples[i].gor = append(samples[i].gor, g)
			}
		}
	}()
	rec := &history.Recorder{}
	// The load balancer records the workers' claims and callbacks (no
	// copies: this is a steady load, not a fault).
	dup := &chaos.Duplicator{Rec: rec, LB: f.LB.URL()}
	f.LB.SetHook(dup.Hook())
	d = chaos.NewDriver(rec, timeout*time.Second)
	jobs := chaos.Mix(int(rate*soak.Seconds()), 40, 50)
	d.Run(ctx, jobs, origins, rate, time.Now().Add(soak+2*time.Minute))
	close(stop)
	wg.Wait()

	tally := &chaos.Tally{Fault: fmt.Sprintf("soak at half capacity (%.0f jobs/s) for %s", rate, soak), Link: "2 servers, 2 workers"}
	rep := history.Check(history.Config{Timeout: timeout * time.Second}, rec.Ops(), 5*time.Minute)
	errs := tally.Count(jobs, rep)
	t.Logf("%s", rep)
	if !rep.OK() {
		t.Errorf("the history is not what one record's life allows: %v", rep.Illegal())
	}
	for i, err := range errs {
		if i == 10 {
			break
		}
		t.Error(err)
	}
	var flat []string
	for i, p := range procs {
		okR, r0, r1 := chaos.Flat(samples[i].rss, 0.5, 32<<20)
		okG, g0, g1 := chaos.Flat(samples[i].gor, 0.25, 50)
		line := fmt.Sprintf("%s: RSS %.0f → %.0f MiB, goroutines %.0f → %.0f (%d samples)", p.Name, r0/(1<<20), r1/(1<<20), g0, g1, len(samples[i].rss))
		t.Log(line)
		flat = append(flat, fmt.Sprintf("%s %.0f→%.0f MiB, %.0f→%.0f goroutines", p.Name, r0/(1<<20), r1/(1<<20), g0, g1))
		if !okR {
			t.Errorf("%s: RSS grew under a steady load", line)
		}
		if !okG {
			t.Errorf("%s: goroutines grew under a steady load", line)
		}
	}
	tally.Link = strings.Join(flat, "; ")
	t.Logf("row: %s", tally.Row())
	chaos.WriteRow(tally)
}
