// Command bench is proofline's end-to-end load tool.
//
// It builds proofline, starts it as a child process on 127.0.0.1 (with a
// redis-server of its own in redis mode), and runs N simulated people who
// each start a job through the JSON API, wait for its outcome (poll or push)
// and delete it: a closed loop that saturates the server. Then, against the
// same server, an open loop: jobs arrive at a fixed rate (half the saturated
// throughput by default), and latency is measured from each job's scheduled
// arrival, so it is what a person feels at ordinary load, free of
// coordinated omission. In the same run it measures two baselines with the same
// client load: a bare net/http server answering the same request and response
// sizes, and raw Redis SET+GET round trips with rueidis. It reports proofline's
// completed jobs/s against the bound those baselines imply, the added latency
// (start→outcome visible, minus vendor time), server CPU and memory, Redis
// round trips, lost jobs and errors, and each target met or not. Everything is bounded in count and time and stops by itself;
// every process it starts is stopped on exit, error or Ctrl-C.
//
//	go run ./bench --mode embedded --people 200 --jobs 5000 --wait push
//	go run ./bench --mode redis --people 200 --jobs 5000
//	go run ./bench --hold --jobs 100000
//	go run ./bench --suite standard --json bench.json
//
// See docs/bench.md.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "bare-server" {
		os.Exit(bareServerCmd(os.Args[2:]))
	}
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// scenario is one measured configuration.
type scenario struct {
	Name          string        `json:"name"`
	Mode          string        `json:"mode"` // embedded | redis
	People        int           `json:"people"`
	Jobs          int           `json:"jobs"`
	VendorLatency time.Duration `json:"-"`
	VendorMs      int64         `json:"vendor_latency_ms"`
	Wait          string        `json:"wait"` // push | poll
	PollInterval  time.Duration `json:"-"`
	PollMs        int64         `json:"poll_interval_ms,omitempty"`
	Hold          bool          `json:"hold,omitempty"`
	// OpenLoop: after the closed loop, run the open-loop phase.
	OpenLoop bool `json:"open_loop"`
}

// options apply to every scenario of an invocation.
type options struct {
	durationLimit     time.Duration
	baselineDuration  time.Duration
	baselines         bool
	jobTimeout        time.Duration
	logLevel          string
	mix               []string
	mixSpec           string
	redisK            int
	prooflineBin      string
	redisBin          string
	workerConcurrency int
	workerQueueSize   int
	pushWait          int
	holdLongPolls     int
	keepLogs          string
	openLoop          openLoopOpts // rate is set per scenario
	openLoopFraction  float64
	openLoopRate      float64
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	mode := fs.String("mode", "embedded", "result store: embedded (memory) or redis (a redis-server the tool starts)")
	people := fs.Int("people", 200, "simulated people, each with at most one job in flight (1-20000)")
	jobs := fs.Int("jobs", 5000, "jobs to run in total (1-1000000); with --hold, jobs left waiting")
	vendor := fs.Duration("vendor-latency", 0, "mock vendor latency per vendor call (mock_vendor_latency_ms), e.g. 0ms or 1s")
	wait := fs.String("wait", "push", "how people wait: push (GET ?wait=N long poll) or poll (GET every --poll-interval)")
	pollInterval := fs.Duration("poll-interval", 50*time.Millisecond, "status poll interval with --wait poll (first read right after the start)")
	pushWait := fs.Int("push-wait", 30, "seconds per long poll with --wait push (?wait=, 1-60)")
	mix := fs.String("mix", "resolution:2,state_id:1,address:1", "job mix, kind:weight; kinds resolution (1 vendor stage), state_id (resolution + state id: 2 stages), address (1 stage)")
	durationLimit := fs.Duration("duration-limit", 50*time.Second, "no new job starts after this; jobs in flight then get up to --job-timeout more")
	baselineDur := fs.Duration("baseline-duration", 3*time.Second, "duration of each baseline measurement (bare HTTP, Redis); each runs before and after the load")
	baselines := fs.Bool("baselines", true, "measure the same-run baselines")
	jobTimeout := fs.Duration("job-timeout", 60*time.Second, "async_wait_timeout_seconds of the server (the job deadline); with --hold default 600s")
	logLevel := fs.String("log-level", "info", "server log_level; info or debug is needed for the push figure and the server-side lost-job check")
	redisK := fs.Int("redis-k", 4, "Redis round trips a job needs at least, for the Redis bound (SET NX at start, GET + CAS script at callback, GET at the status read)")
	prooflineBin := fs.String("proofline-bin", "", "use this proofline binary instead of building ./cmd/proofline")
	redisBin := fs.String("redis-server", "", "redis-server binary (default: from PATH)")
	wc := fs.Int("worker-concurrency", 0, "server worker_concurrency (default: max(64, people); with --hold 64)")
	wq := fs.Int("worker-queue-size", 0, "server worker_queue_size (default: max(1024, 2×people); with --hold jobs+1024)")
	hold := fs.Bool("hold", false, "waiting mode: start --jobs jobs whose mock vendor hangs until the deadline, then read the server's RSS")
	holdLongPolls := fs.Int("hold-long-polls", 0, "with --hold: long polls (?wait=60) held open while RSS is read (default: --people)")
	suite := fs.String("suite", "", "run a named set of scenarios instead of one: standard (embedded 0ms push and redis 0ms push, each saturated then open loop; embedded 0ms poll; embedded 1s push)")
	jsonOut := fs.String("json", "", "also write machine-readable results to this file")
	keepLogs := fs.String("keep-server-logs", "", "copy each run's server JSON log to this directory (<scenario>.log), for diagnosis")
	olDuration := fs.Duration("open-loop-duration", 10*time.Second, "after the closed loop, jobs arrive at a fixed rate for this long (0: no open loop)")
	olFraction := fs.Float64("open-loop-fraction", 0.5, "open-loop arrival rate as a share of the closed loop's completed jobs/s")
	olRate := fs.Float64("open-loop-rate", 0, "open-loop arrival rate in jobs/s (overrides --open-loop-fraction)")
	arrivals := fs.String("arrivals", "poisson", "open-loop arrivals: poisson (exponential gaps) or constant")
	olSeed := fs.Uint64("open-loop-seed", 1, "seed of the Poisson arrival times")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "bench: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	bad := func(msg string) int { fmt.Fprintln(stderr, "bench:", msg); return 2 }
	if *mode != "embedded" && *mode != "redis" {
		return bad("--mode must be embedded or redis")
	}
	if *wait != "push" && *wait != "poll" {
		return bad("--wait must be push or poll")
	}
	if *people < 1 || *people > 20000 {
		return bad("--people must be 1-20000")
	}
	if *jobs < 1 || *jobs > 1000000 {
		return bad("--jobs must be 1-1000000")
	}
	if *vendor < 0 || *vendor > 10*time.Minute || *vendor%time.Millisecond != 0 {
		return bad("--vendor-latency must be whole milliseconds from 0 to 10m")
	}
	if *pushWait < 1 || *pushWait > 60 {
		return bad("--push-wait must be 1-60")
	}
	if *pollInterval < time.Millisecond || *pollInterval > time.Minute {
		return bad("--poll-interval must be 1ms-1m")
	}
	if *durationLimit < time.Second || *durationLimit > time.Hour {
		return bad("--duration-limit must be 1s-1h")
	}
	if *baselineDur < 100*time.Millisecond || *baselineDur > 5*time.Minute {
		return bad("--baseline-duration must be 100ms-5m")
	}
	jobTimeoutSet := false
	fs.Visit(func(f *flag.Flag) { jobTimeoutSet = jobTimeoutSet || f.Name == "job-timeout" })
	if *hold && !jobTimeoutSet {
		*jobTimeout = 600 * time.Second
	}
	if *jobTimeout < time.Second || *jobTimeout > time.Hour || *jobTimeout%time.Second != 0 {
		return bad("--job-timeout must be whole seconds from 1s to 1h")
	}
	switch *logLevel {
	case "debug", "info", "warn", "error":
	default:
		return bad("--log-level must be debug, info, warn or error")
	}
	if *redisK < 1 {
		return bad("--redis-k must be at least 1")
	}
	if *olDuration < 0 || *olDuration > time.Hour {
		return bad("--open-loop-duration must be 0-1h")
	}
	if *olFraction <= 0 || *olFraction > 2 {
		return bad("--open-loop-fraction must be more than 0 and at most 2")
	}
	if *olRate < 0 || *olRate > 1e6 {
		return bad("--open-loop-rate must be 0-1000000")
	}
	if *arrivals != "poisson" && *arrivals != "constant" {
		return bad("--arrivals must be poisson or constant")
	}
	seq, err := parseMix(*mix)
	if err != nil {
		return bad(err.Error())
	}
	if *holdLongPolls == 0 {
		*holdLongPolls = *people
	}
	opts := options{
		durationLimit: *durationLimit, baselineDuration: *baselineDur, baselines: *baselines,
		jobTimeout: *jobTimeout, logLevel: *logLevel, mix: seq, mixSpec: *mix, redisK: *redisK,
		prooflineBin: *prooflineBin, redisBin: *redisBin, workerConcurrency: *wc, workerQueueSize: *wq,
		pushWait: *pushWait, holdLongPolls: *holdLongPolls, keepLogs: *keepLogs,
		openLoop:         openLoopOpts{duration: *olDuration, poisson: *arrivals == "poisson", seed: *olSeed},
		openLoopFraction: *olFraction, openLoopRate: *olRate,
	}
	var scenarios []scenario
	switch *suite {
	case "":
		scenarios = []scenario{{Mode: *mode, People: *people, Jobs: *jobs, VendorLatency: *vendor, Wait: *wait, PollInterval: *pollInterval, Hold: *hold, OpenLoop: !*hold}}
	case "standard":
		// Jobs are sized so the set takes a few minutes on a 2-core machine;
		// --duration-limit and --open-loop-duration bound each anyway. The
		// open loop runs where the targets are judged: 0 ms vendors, push.
		p := *people
		scenarios = []scenario{
			{Name: "embedded-0ms-push", Mode: "embedded", People: p, Jobs: *jobs, Wait: "push", OpenLoop: true},
			{Name: "redis-0ms-push", Mode: "redis", People: p, Jobs: *jobs, Wait: "push", OpenLoop: true},
			{Name: "embedded-0ms-poll", Mode: "embedded", People: p, Jobs: *jobs, Wait: "poll", PollInterval: *pollInterval},
			{Name: "embedded-1s-push", Mode: "embedded", People: p, Jobs: 5 * p, VendorLatency: time.Second, Wait: "push"},
		}
	default:
		return bad("--suite must be standard")
	}
	for i := range scenarios {
		s := &scenarios[i]
		if s.Name == "" {
			s.Name = fmt.Sprintf("%s-%dms-%s", s.Mode, s.VendorLatency.Milliseconds(), s.Wait)
			if s.Hold {
				s.Name = s.Mode + "-hold"
			}
		}
		s.VendorMs = s.VendorLatency.Milliseconds()
		if s.Wait == "poll" {
			s.PollMs = s.PollInterval.Milliseconds()
		}
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// Everything this invocation does ends by this bound, whatever happens.
	total := time.Duration(len(scenarios)) * (opts.durationLimit + opts.openLoop.duration + 2*opts.jobTimeout + 4*opts.baselineDuration + 2*time.Minute)
	ctx, cancel := context.WithTimeout(ctx, total+5*time.Minute)
	defer cancel()

	cl := &cleanup{}
	defer cl.run()
	tmp, err := os.MkdirTemp("", "proofline-bench-")
	if err != nil {
		fmt.Fprintln(stderr, "bench:", err)
		return 1
	}
	cl.add(func() { os.RemoveAll(tmp) })

	bin := opts.prooflineBin
	if bin == "" {
		fmt.Fprintln(stderr, "bench: building ./cmd/proofline ...")
		if bin, err = buildProofline(ctx, tmp); err != nil {
			fmt.Fprintln(stderr, "bench:", err)
			return 1
		}
	}
	out := report{Tool: "proofline bench", StartedAt: time.Now().UTC(), Machine: machineInfo(), Mix: opts.mixSpec}
	status := 0
	for _, s := range scenarios {
		fmt.Fprintf(stderr, "bench: running %s (%d people, %d jobs) ...\n", s.Name, s.People, s.Jobs)
		r, err := runScenario(ctx, s, opts, bin, stderr)
		if err != nil {
			fmt.Fprintf(stderr, "bench: %s: %v\n", s.Name, err)
			status = 1
			if ctx.Err() != nil {
				break
			}
			continue
		}
		printRun(stdout, r)
		out.Runs = append(out.Runs, r)
		if r.Jobs.Lost > 0 {
			status = 1
		}
	}
	if len(out.Runs) > 0 {
		printSummary(stdout, out.Runs)
	}
	if *jsonOut != "" {
		b, _ := json.MarshalIndent(out, "", "  ")
		if err := os.WriteFile(*jsonOut, append(b, '\n'), 0o644); err != nil {
			fmt.Fprintln(stderr, "bench:", err)
			status = 1
		}
	}
	if errors.Is(ctx.Err(), context.Canceled) {
		fmt.Fprintln(stderr, "bench: interrupted; stopped every process it started")
		return 130
	}
	return status
}

type report struct {
	Tool      string       `json:"tool"`
	StartedAt time.Time    `json:"started_at"`
	Machine   machine      `json:"machine"`
	Mix       string       `json:"mix"`
	Runs      []*runResult `json:"runs"`
}

type machine struct {
	CPUs      int    `json:"cpus"`
	GOOS      string `json:"goos"`
	GOARCH    string `json:"goarch"`
	GoVersion string `json:"go_version"`
	CPUModel  string `json:"cpu_model"`
}

func machineInfo() machine {
	m := machine{CPUs: runtime.NumCPU(), GOOS: runtime.GOOS, GOARCH: runtime.GOARCH, GoVersion: runtime.Version()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	return m
}
