// Command queue measures the queue dispatch mode on loopback:
//
//   - completed jobs/s with 1 and 2 `proofline worker` processes: jobs are
//     queued through two `proofline serve` processes first, then the workers
//     are started and the time until every callback is stored is measured;
//   - idle pickup latency p50/p99: one job at a time into an idle queue, from
//     Send to the worker's handler, with the default check interval and with
//     asynq's own default (1 s).
//
// It is a benchmark, not a test: run it by hand and copy the table into
// docs/queue.md.
//
//	go run ./bench/queue [-jobs 4000] [-samples 200]
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"net/http"
	"os"
	"runtime"
	"slices"
	"sync/atomic"
	"time"

	"github.com/proofline/proofline"
	"github.com/proofline/proofline/dispatch"
	"github.com/proofline/proofline/dispatch/queuedispatch"
	"github.com/proofline/proofline/internal/fleettest"
	"github.com/proofline/proofline/internal/redistest"
)

func main() {
	jobs := flag.Int("jobs", 4000, "jobs per throughput run (bounded: 100-50000)")
	samples := flag.Int("samples", 200, "idle pickup samples at the default check interval (bounded: 10-2000)")
	runs := flag.Int("runs", 3, "throughput runs per worker count, interleaved (bounded: 1-10)")
	flag.Parse()
	*jobs = min(max(*jobs, 100), 50000)
	*samples = min(max(*samples, 10), 2000)
	*runs = min(max(*runs, 1), 10)
	if err := run(*jobs, *samples, *runs); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(jobs, samples, runs int) error {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	dir, err := os.MkdirTemp("", "proofline-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	rs, err := redistest.Start()
	if err != nil {
		return err
	}
	defer rs.Stop()
	fmt.Printf("proofline queue benchmark: %s, %d CPUs, %s\n\n", runtime.Version(), runtime.NumCPU(), time.Now().UTC().Format("2006-01-02"))

	bin, err := fleettest.Build(ctx, dir)
	if err != nil {
		return err
	}
	overall := map[int][]float64{}
	steady := map[int][]float64{}
	for range runs {
		for _, k := range []int{1, 2} {
			o, s, err := throughput(ctx, bin, rs.URL(), dir, k, jobs)
			if err != nil {
				return err
			}
			overall[k] = append(overall[k], o)
			steady[k] = append(steady[k], s)
		}
	}
	fmt.Printf("| workers | jobs per run | runs | overall jobs/s, median (min–max) | steady jobs/s (10→90 %%), median (min–max) |\n")
	fmt.Println("|---|---|---|---|---|")
	for _, k := range []int{1, 2} {
		fmt.Printf("| %d | %d | %d | %s | %s |\n", k, jobs, runs, spread(overall[k]), spread(steady[k]))
	}

	fmt.Println()
	enq, cons, err := noop(ctx, rs.URL(), 20000)
	if err != nil {
		return err
	}
	fmt.Println("| asynq alone (in-process, no-op handler, 20,000 jobs) | jobs/s |")
	fmt.Println("|---|---|")
	fmt.Printf("| enqueue (16 goroutines, queuedispatch.Driver) | %.0f |\n| consume (one Consumer, concurrency 64) | %.0f |\n", enq, cons)

	fmt.Println()
	fmt.Println("| check interval | samples | idle pickup p50 | p99 | max |")
	fmt.Println("|---|---|---|---|---|")
	for _, c := range []struct {
		interval time.Duration
		n        int
	}{{20 * time.Millisecond, samples}, {time.Second, max(samples/5, 10)}} {
		lat, err := pickup(rs.URL(), c.interval, c.n)
		if err != nil {
			return err
		}
		fmt.Printf("| %s | %d | %s | %s | %s |\n", c.interval, c.n, pct(lat, 50), pct(lat, 99), lat[len(lat)-1].Round(100*time.Microsecond))
	}
	return nil
}

// throughput queues n jobs through two servers, then starts k workers and
// measures until every job's callback has been stored.
func throughput(ctx context.Context, bin, redisURL, dir string, k, n int) (overall, steady float64, err error) {
	prefix := randomPrefix()
	sub, err := os.MkdirTemp(dir, prefix)
	if err != nil {
		return 0, 0, err
	}
	f, err := fleettest.New(fleettest.Options{Bin: bin, RedisURL: redisURL, Dir: sub, QueuePrefix: prefix})
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	var servers []*fleettest.Proc
	for range 2 {
		s, err := f.StartServer(600)
		if err != nil {
			return 0, 0, err
		}
		servers = append(servers, s)
	}
	c := fleettest.NewClient()
	var next, failed atomic.Int64
	done := make(chan struct{})
	for range 16 {
		go func() {
			defer func() { done <- struct{}{} }()
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				var err error
				if i%2 == 0 {
					_, err = c.Start(servers[i%2].URL(), "address", map[string]any{"applicant": map[string]any{"phone": "7035550100"}})
				} else {
					_, err = c.Start(servers[i%2].URL(), "resolution", map[string]any{"applicant": map[string]any{
						"first_name": "Jane", "last_name": "Doe", "dob": "1980-06-15", "ssn": "123-45-6789",
						"address1": "1 Main St", "city": "Reston", "state": "VA", "zipcode": "20190"}})
				}
				if err != nil {
					failed.Add(1)
				}
			}
		}()
	}
	for range 16 {
		<-done
	}
	if failed.Load() > 0 {
		return 0, 0, fmt.Errorf("%d of %d starts failed", failed.Load(), n)
	}
	start := time.Now()
	var origins []string
	for range k {
		w, err := f.StartWorker()
		if err != nil {
			return 0, 0, err
		}
		origins = append(origins, w.URL())
	}
	httpc := &http.Client{Timeout: 5 * time.Second}
	var t10, t90 time.Time
	for {
		if ctx.Err() != nil {
			return 0, 0, ctx.Err()
		}
		got := 0.0
		for _, kind := range []string{"address", "resolution"} {
			v, err := fleettest.Metric(httpc, origins, `proofline_queue_jobs_total{kind="`+kind+`",outcome="delivered"}`)
			if err != nil {
				return 0, 0, err
			}
			got += v
		}
		now := time.Now()
		if t10.IsZero() && got >= 0.1*float64(n) {
			t10 = now
		}
		if t90.IsZero() && got >= 0.9*float64(n) {
			t90 = now
		}
		if got >= float64(n) {
			return float64(n) / now.Sub(start).Seconds(), 0.8 * float64(n) / t90.Sub(t10).Seconds(), nil
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// noop measures the queue alone: n envelopes enqueued by 16 goroutines, then
// drained by one consumer with a no-op handler.
func noop(ctx context.Context, redisURL string, n int) (enqueue, consume float64, err error) {
	opt, err := queuedispatch.ParseRedisURL(redisURL)
	if err != nil {
		return 0, 0, err
	}
	prefix := randomPrefix()
	d, err := queuedispatch.NewDriver(queuedispatch.DriverOptions{Redis: opt, QueuePrefix: prefix})
	if err != nil {
		return 0, 0, err
	}
	defer d.Close(context.Background())
	var next, failed atomic.Int64
	done := make(chan struct{}, 16)
	start := time.Now()
	for range 16 {
		go func() {
			defer func() { done <- struct{}{} }()
			for next.Add(1) <= int64(n) && ctx.Err() == nil {
				id := proofline.NewResultID()
				env := &proofline.Envelope{Version: proofline.EnvelopeVersion, Kind: proofline.KindAddress, ResultID: id,
					CallbackURL: "http://127.0.0.1:1" + proofline.CallbackPath(proofline.KindAddress, id),
					Deadline:    time.Now().Add(5 * time.Minute), Sealed: make([]byte, 256)}
				if d.Send(ctx, env) != nil {
					failed.Add(1)
				}
			}
		}()
	}
	for range 16 {
		<-done
	}
	enqueue = float64(n) / time.Since(start).Seconds()
	if failed.Load() > 0 {
		return 0, 0, fmt.Errorf("%d enqueues failed", failed.Load())
	}
	var handled atomic.Int64
	all := make(chan struct{})
	c, err := queuedispatch.NewConsumer(dispatch.HandlerFunc(func(context.Context, *proofline.Envelope) error {
		if handled.Add(1) == int64(n) {
			close(all)
		}
		return nil
	}), queuedispatch.ConsumerOptions{Redis: opt, QueuePrefix: prefix, Concurrency: 64})
	if err != nil {
		return 0, 0, err
	}
	start = time.Now()
	if err := c.Start(); err != nil {
		return 0, 0, err
	}
	defer c.Shutdown(context.Background())
	select {
	case <-all:
	case <-ctx.Done():
		return 0, 0, ctx.Err()
	}
	return enqueue, float64(n) / time.Since(start).Seconds(), nil
}

// pickup measures n idle pickups with the given check interval.
func pickup(redisURL string, interval time.Duration, n int) ([]time.Duration, error) {
	opt, err := queuedispatch.ParseRedisURL(redisURL)
	if err != nil {
		return nil, err
	}
	prefix := randomPrefix()
	d, err := queuedispatch.NewDriver(queuedispatch.DriverOptions{Redis: opt, QueuePrefix: prefix})
	if err != nil {
		return nil, err
	}
	defer d.Close(context.Background())
	got := make(chan time.Time, 1)
	c, err := queuedispatch.NewConsumer(dispatch.HandlerFunc(func(context.Context, *proofline.Envelope) error {
		got <- time.Now()
		return nil
	}), queuedispatch.ConsumerOptions{Redis: opt, QueuePrefix: prefix, CheckInterval: interval, Concurrency: 8})
	if err != nil {
		return nil, err
	}
	if err := c.Start(); err != nil {
		return nil, err
	}
	defer c.Shutdown(context.Background())
	var lat []time.Duration
	for i := range n {
		// Idle gap: the consumer finds the queues empty and sleeps.
		time.Sleep(interval + time.Duration(i%7)*interval/7 + 20*time.Millisecond)
		id := proofline.NewResultID()
		env := &proofline.Envelope{Version: proofline.EnvelopeVersion, Kind: proofline.KindAddress, ResultID: id,
			CallbackURL: "http://127.0.0.1:1" + proofline.CallbackPath(proofline.KindAddress, id),
			Deadline:    time.Now().Add(time.Minute), Sealed: []byte("x")}
		sent := time.Now()
		if err := d.Send(context.Background(), env); err != nil {
			return nil, err
		}
		select {
		case at := <-got:
			lat = append(lat, at.Sub(sent))
		case <-time.After(10 * time.Second):
			return nil, fmt.Errorf("job %d not picked up within 10s", i)
		}
	}
	slices.Sort(lat)
	return lat, nil
}

func spread(v []float64) string {
	slices.Sort(v)
	return fmt.Sprintf("%.0f (%.0f–%.0f)", v[len(v)/2], v[0], v[len(v)-1])
}

func pct(s []time.Duration, p int) time.Duration {
	i := (len(s)*p + 99) / 100
	return s[min(max(i-1, 0), len(s)-1)].Round(100 * time.Microsecond)
}

func randomPrefix() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return "bench" + hex.EncodeToString(b[:])
}
