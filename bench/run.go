package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// runScenario starts the servers of one scenario, measures the baselines and
// the load, stops everything it started and returns the figures.
func runScenario(ctx context.Context, s scenario, o options, bin string, stderr io.Writer) (*runResult, error) {
	cl := &cleanup{}
	defer cl.run()
	dir, err := os.MkdirTemp("", "proofline-bench-run-")
	if err != nil {
		return nil, err
	}
	cl.add(func() { os.RemoveAll(dir) })

	r := &runResult{Scenario: s, LoadAvgBefore: loadAvg(), LogLevel: o.logLevel, JobTimeoutS: int(o.jobTimeout / time.Second)}
	var rs *redisServer
	if s.Mode == "redis" {
		if rs, err = startRedis(ctx, o.redisBin, cl); err != nil {
			return nil, err
		}
	}
	sc := serverConfig{bin: bin, vendorLatency: s.VendorLatency, jobTimeout: o.jobTimeout, logLevel: o.logLevel, dir: dir,
		workerConcurrency: o.workerConcurrency, workerQueueSize: o.workerQueueSize}
	if rs != nil {
		sc.redisURL = rs.url()
	}
	if sc.workerConcurrency == 0 {
		sc.workerConcurrency = max(64, s.People)
		if s.Hold {
			sc.workerConcurrency = 64
		}
	}
	if sc.workerQueueSize == 0 {
		sc.workerQueueSize = max(1024, 2*s.People)
		if s.Hold {
			sc.workerQueueSize = s.Jobs + 1024
		}
	}
	r.WorkerConcurrency, r.WorkerQueueSize = sc.workerConcurrency, sc.workerQueueSize
	srv, err := startProofline(ctx, sc, cl)
	if err != nil {
		return nil, err
	}
	client := newHTTPClient(s.People)
	defer client.CloseIdleConnections()
	errs := &errCounter{}
	a := &api{base: srv.base, key: srv.apiKey, client: client, errs: errs}

	if !sleepCtx(ctx, 300*time.Millisecond) {
		return nil, ctx.Err()
	}
	idle, _, _ := memKiB(srv.proc.pid())
	r.Server.IdleRSSMiB = kib2mib(idle)

	// Warm-up: one job of each kind, to check the server works and to take
	// the request and response sizes the bare baseline reproduces.
	sizes, valueSize, err := warmUp(ctx, a, rs, s)
	if err != nil {
		return nil, fmt.Errorf("warm-up job: %w (server log: %s)", err, srv.logPath)
	}

	if s.Hold {
		return r, runHold(ctx, s, o, srv, a, r, stderr)
	}

	// Baselines run before the load and again after it (against the then
	// idle server): the bound uses their mean, and a large difference says
	// the machine was not steady during the run.
	baselinesOnce := func(when string) error {
		fmt.Fprintf(stderr, "bench:   baseline (%s): bare net/http, %d people, %s ...\n", when, s.People, o.baselineDuration)
		b, err := runBareBaseline(ctx, s.People, sizes, o.baselineDuration, srv.apiKey, cl)
		if err != nil {
			return fmt.Errorf("bare baseline: %w", err)
		}
		r.Baselines.Bare = append(r.Baselines.Bare, b)
		if rs != nil {
			fmt.Fprintf(stderr, "bench:   baseline (%s): redis SET EX + GET (%d B), %d goroutines, %s ...\n", when, valueSize, s.People, o.baselineDuration)
			pps, rerrs, err := redisBaseline(ctx, rs, s.People, valueSize, o.baselineDuration)
			if err != nil {
				return fmt.Errorf("redis baseline: %w", err)
			}
			r.Baselines.RedisPairs = append(r.Baselines.RedisPairs, pps)
			r.Baselines.RedisErrors += rerrs
			r.Baselines.RedisValueBytes = valueSize
		}
		return nil
	}
	if o.baselines {
		if err := baselinesOnce("before"); err != nil {
			return nil, err
		}
	}

	// The load.
	var redisStats func() (map[string]int64, error)
	var cmd0, mon0 map[string]int64
	var mon *redisMonitor
	if rs != nil {
		c, err := rs.client()
		if err != nil {
			return nil, err
		}
		defer c.Close()
		redisStats = func() (map[string]int64, error) { return commandStats(ctx, c) }
		cmd0, _ = redisStats()
		if mon, err = startRedisMonitor(ctx, rs.addr); err != nil {
			return nil, fmt.Errorf("redis MONITOR: %w", err)
		}
		defer mon.close()
		mon0 = mon.snapshot()
	}
	logOffset := fileSize(srv.logPath)
	cpu0, _ := cpuSeconds(srv.proc.pid())
	var rcpu0 float64
	if rs != nil {
		rcpu0, _ = cpuSeconds(rs.proc.pid())
	}
	self0 := selfCPUSeconds()
	fmt.Fprintf(stderr, "bench:   load: %d people, %d jobs, vendor %s, wait %s ...\n", s.People, s.Jobs, s.VendorLatency, s.Wait)
	stopStarting, c1 := context.WithTimeout(ctx, o.durationLimit)
	defer c1()
	hard, c2 := context.WithTimeout(ctx, o.durationLimit+o.jobTimeout+10*time.Second)
	defer c2()
	w := waitOpts{push: s.Wait == "push", pollInterval: s.PollInterval, pushWait: min(o.pushWait, int(o.jobTimeout/time.Second))}
	lr := runPeople(stopStarting, hard, a, s.People, s.Jobs, o.mix, w, false)
	r.Interrupted = ctx.Err() != nil
	cpu1, _ := cpuSeconds(srv.proc.pid())
	self1 := selfCPUSeconds()
	rss, hwm, _ := memKiB(srv.proc.pid())
	if srv.proc.exited() {
		errs.add("server: exited during the load")
	}
	if rs != nil {
		rcpu1, _ := cpuSeconds(rs.proc.pid())
		r.RedisServerCPUPer1000 = rcpu1 - rcpu0
		if cmd1, err := redisStats(); err == nil && cmd0 != nil {
			r.RedisCalls = diffStats(cmd0, cmd1)
		}
		r.RedisClientCommands = diffStats(mon0, mon.snapshot())
	}
	r.LoadAvgAfter = loadAvg()

	// The open-loop phase, at a share of the throughput just measured.
	var olr *openLoopRun
	if s.OpenLoop && o.openLoop.duration > 0 && ctx.Err() == nil && !srv.proc.exited() {
		ol := &openLoopResult{Fraction: o.openLoopFraction, Arrivals: "constant"}
		if o.openLoop.poisson {
			ol.Arrivals = "poisson"
		}
		rate := o.openLoopRate
		if rate > 0 {
			ol.Fraction = 0
		} else if lr.elapsed > 0 {
			rate = roundRate(o.openLoopFraction * float64(completedOf(lr)) / lr.elapsed.Seconds())
		}
		if rate > 0 {
			oo := o.openLoop
			oo.rate = rate
			ol.TargetRate, ol.DurationS = rate, oo.duration.Seconds()
			fmt.Fprintf(stderr, "bench:   open loop: %s arrivals at %s jobs/s for %s ...\n", ol.Arrivals, num(rate), oo.duration)
			var omon0 map[string]int64
			if mon != nil {
				omon0 = mon.snapshot()
			}
			ocpu0, _ := cpuSeconds(srv.proc.pid())
			oclient := newHTTPClient(1024)
			oa := &api{base: srv.base, key: srv.apiKey, client: oclient, errs: errs}
			ohard, c3 := context.WithTimeout(ctx, oo.duration+o.jobTimeout+10*time.Second)
			olr = runOpenLoop(ctx, ohard, oa, oo, o.mix, w)
			c3()
			oclient.CloseIdleConnections()
			ocpu1, _ := cpuSeconds(srv.proc.pid())
			ol.ServerCPUSeconds = ocpu1 - ocpu0
			if mon != nil {
				ol.RedisCommandsPerJob, ol.RedisRoundTripsPerJob = perJob(diffStats(omon0, mon.snapshot()), completedOpen(olr))
			}
			ol.LoadAvgAfter = loadAvg()
			r.OpenLoop = ol
		}
	}
	if o.baselines && ctx.Err() == nil {
		if err := baselinesOnce("after"); err != nil {
			return nil, err
		}
	}

	var sl *serverLog
	if o.logLevel == "info" || o.logLevel == "debug" {
		srv.proc.stop(5 * time.Second) // every line is written; a stopped server writes no more
		if sl, err = scanServerLog(srv.logPath, logOffset); err != nil {
			errs.add("log: " + err.Error())
			sl = nil
		}
	}
	if o.keepLogs != "" {
		if err := copyFile(srv.logPath, filepath.Join(o.keepLogs, s.Name+".log")); err != nil {
			errs.add("keep-server-logs: " + err.Error())
		}
	}
	computeLoad(r, s, o, lr, sl)
	if r.OpenLoop != nil && olr != nil {
		computeOpenLoop(r.OpenLoop, s, olr, sl)
		if n := r.OpenLoop.Completed; n > 0 {
			r.OpenLoop.ServerCPUPer1000 = r.OpenLoop.ServerCPUSeconds / (float64(n) / 1000)
		}
	}
	if sl != nil {
		if n := r.Jobs.Completed + openCompleted(r.OpenLoop); n > 0 {
			r.ServerLog.LinesPerJob = float64(sl.lines) / float64(n)
		}
	}
	r.Server.CPUSeconds = cpu1 - cpu0
	r.Server.PeakRSSMiB, r.Server.EndRSSMiB = kib2mib(hwm), kib2mib(rss)
	r.ClientCPUSeconds = self1 - self0
	if n := r.Jobs.Completed; n > 0 {
		k := float64(n) / 1000
		r.Server.CPUSecondsPer1000 = r.Server.CPUSeconds / k
		r.Server.PeakRSSGrowthMiBPer1000 = (r.Server.PeakRSSMiB - r.Server.IdleRSSMiB) / k
		r.ClientCPUPer1000 = r.ClientCPUSeconds / k
		if rs != nil {
			r.RedisServerCPUPer1000 /= k
			r.RedisCallsPerJob, _ = perJob(r.RedisCalls, n)
			r.RedisCommandsPerJob, r.RedisRoundTripsPerJob = perJob(r.RedisClientCommands, n)
		}
	}
	r.Errors = errs.snapshot()
	computeBound(r, s, o)
	computeTargets(r, s, o)
	return r, nil
}

func kib2mib(k int64) float64 { return float64(k) / 1024 }

// warmUp runs one job of each kind of the mix, sequentially, push-waiting,
// and returns the sizes of the bare baseline (from the resolution job) and,
// in redis mode, the size of a stored done record.
func warmUp(ctx context.Context, a *api, rs *redisServer, s scenario) (bareSizes, int, error) {
	var sz bareSizes
	valueSize := 0
	for _, kind := range []string{kindResolution, kindStateID, kindAddress} {
		path, body := jobBody(kind, false)
		r, err := a.do(ctx, http.MethodPost, path, body, 15*time.Second)
		if err != nil {
			return sz, 0, err
		}
		if r.status != http.StatusAccepted {
			return sz, 0, fmt.Errorf("start %s: HTTP %d: %s", kind, r.status, r.body)
		}
		var st struct {
			ResultID string `json:"result_id"`
		}
		if err := json.Unmarshal(r.body, &st); err != nil {
			return sz, 0, err
		}
		o, err := a.do(ctx, http.MethodGet, "/api/v1/proofing/"+st.ResultID+"?wait=30", nil, 40*time.Second)
		if err != nil {
			return sz, 0, err
		}
		var ob struct {
			Status string          `json:"status"`
			Result json.RawMessage `json:"result"`
		}
		if err := json.Unmarshal(o.body, &ob); err != nil || ob.Status != "done" {
			return sz, 0, fmt.Errorf("%s job: HTTP %d %s (want a done outcome)", kind, o.status, o.body)
		}
		if kind == kindResolution {
			sz = bareSizes{StartReq: len(body), StartResp: len(r.body), StatusResp: len(o.body),
				// The worker posts {"resolution_result": <result>}.
				CallbackReq: len(`{"resolution_result":}`) + len(ob.Result)}
			if rs != nil {
				c, err := rs.client()
				if err != nil {
					return sz, 0, err
				}
				n, err := c.Do(ctx, c.B().Strlen().Key("proofline:result:"+st.ResultID).Build()).AsInt64()
				c.Close()
				if err != nil || n == 0 {
					return sz, 0, fmt.Errorf("redis record of the warm-up job not found (STRLEN proofline:result:<id>): %v", err)
				}
				valueSize = int(n)
			}
		}
		d, err := a.do(ctx, http.MethodDelete, "/api/v1/proofing/"+st.ResultID, nil, 15*time.Second)
		if err != nil {
			return sz, 0, err
		}
		if d.status != http.StatusNoContent {
			return sz, 0, fmt.Errorf("delete: HTTP %d", d.status)
		}
	}
	return sz, valueSize, nil
}

// computeLoad turns the client records and the server log into figures.
func computeLoad(r *runResult, s scenario, o options, lr *loadResult, sl *serverLog) {
	r.Jobs.Requested = s.Jobs
	r.Jobs.Refused = lr.refused
	r.Jobs.CutOff = lr.cutOff
	r.Seconds = lr.elapsed.Seconds()
	var added, push []time.Duration
	vendorTotal := time.Duration(0)
	for i := range lr.records {
		rec := &lr.records[i]
		if rec.id == "" {
			continue
		}
		r.Jobs.Started++
		ok := rec.outcomes == 1
		if sl != nil {
			n := len(sl.received[rec.id])
			if (rec.status == "done" && n != 1) || (rec.status == "timed_out" && n != 0) {
				ok = false
			}
			if rec.status == "done" && n >= 1 && s.Wait == "push" {
				// Callback stored (its 204 follows at once) → the waiting
				// client has read the result.
				push = append(push, rec.t1.Sub(sl.received[rec.id][0]))
			}
		}
		if !ok {
			r.Jobs.Lost++
		}
		switch rec.status {
		case "done":
			r.Jobs.Completed++
			vendor := time.Duration(rec.stages) * s.VendorLatency
			vendorTotal += vendor
			added = append(added, rec.t1.Sub(rec.t0)-vendor)
			r.Jobs.StatusReads += int64(rec.reads)
		case "timed_out":
			r.Jobs.TimedOut++
		}
	}
	if sl != nil {
		r.ServerLog = &serverLogSummary{Lines: sl.lines, DuplicateCallbacks: sl.duplicates, LateCallbacks: sl.late, Errors: sl.errors}
	}
	if r.Jobs.Completed > 0 {
		r.JobsPerSec = float64(r.Jobs.Completed) / lr.elapsed.Seconds()
		r.MeanVendorMs = float64(vendorTotal.Milliseconds()) / float64(r.Jobs.Completed)
		r.StatusReadsPerJob = float64(r.Jobs.StatusReads) / float64(r.Jobs.Completed)
	}
	r.AddedLatency = percentiles(added)
	if sl != nil && s.Wait == "push" {
		p := percentiles(push)
		r.Push = &p
	}
}

// computeBound: a job needs at least a start request, a callback and one
// status read (3 requests of the bare baseline), and in redis mode k Redis
// round trips (a SET+GET pair is 2). With vendor latency, people can finish
// at most people / vendor time jobs per second.
func computeBound(r *runResult, s scenario, o options) {
	b := &r.Baselines
	bound := 0.0
	take := func(v float64, basis string) {
		if v > 0 && (bound == 0 || v < bound) {
			bound, b.BoundBasis = v, basis
		}
	}
	if len(b.Bare) > 0 {
		var rps []float64
		for _, x := range b.Bare {
			rps = append(rps, x.RequestsPerSec)
		}
		b.BareReqPerSec, b.BareSpreadPct = meanSpread(rps)
		b.BareBoundJobsPerSec = b.BareReqPerSec / 3
		take(b.BareBoundJobsPerSec, "bare HTTP req/s ÷ 3")
	}
	if len(b.RedisPairs) > 0 {
		b.RedisPairsPerSec, b.RedisSpreadPct = meanSpread(b.RedisPairs)
	}
	if b.RedisPairsPerSec > 0 {
		b.RedisK = o.redisK
		b.RedisBoundJobsPerSec = 2 * b.RedisPairsPerSec / float64(o.redisK)
		take(b.RedisBoundJobsPerSec, fmt.Sprintf("Redis round trips/s (2 × pairs/s) ÷ %d", o.redisK))
	}
	if s.VendorLatency > 0 && r.MeanVendorMs > 0 {
		b.VendorBoundJobsPerSec = float64(s.People) / (r.MeanVendorMs / 1000)
		take(b.VendorBoundJobsPerSec, "people ÷ mean vendor time")
	}
	b.BoundJobsPerSec = bound
	if bound > 0 {
		r.PctOfBound = 100 * r.JobsPerSec / bound
	}
}

func computeTargets(r *runResult, s scenario, o options) {
	add := func(name, want string, value string, met bool) {
		r.Targets = append(r.Targets, target{Name: name, Target: want, Value: value, Met: met})
	}
	add("lost jobs", "0", strconv.Itoa(r.Jobs.Lost+openLost(r.OpenLoop)), r.Jobs.Lost+openLost(r.OpenLoop) == 0)
	if s.VendorLatency == 0 && r.Baselines.BoundJobsPerSec > 0 {
		switch s.Mode {
		case "embedded":
			add("saturated jobs/s vs same-run bound (embedded)", "≥ 50%", fmt.Sprintf("%.1f%%", r.PctOfBound), r.PctOfBound >= 50)
		case "redis":
			add("saturated jobs/s vs same-run bound (redis)", "≥ 40%", fmt.Sprintf("%.1f%%", r.PctOfBound), r.PctOfBound >= 40)
		}
	}
	if bare := bareCPUPerRequest(r); bare > 0 && s.VendorLatency == 0 && r.Jobs.Completed > 0 && s.Wait == "push" {
		r.CPUPerJobVsBare3 = (r.Server.CPUSecondsPer1000 / 1000) / (3 * bare)
		add(fmt.Sprintf("server CPU per job vs bare CPU for 3 requests (%s)", s.Mode), "≤ 3×",
			fmt.Sprintf("%.1f×", r.CPUPerJobVsBare3), r.CPUPerJobVsBare3 <= 3)
	}
	if s.Mode == "redis" && r.Jobs.Completed > 0 && r.RedisCommandsPerJob != nil {
		add("redis round trips per job (saturated)", "≤ 4", fmt.Sprintf("%.2f", r.RedisRoundTripsPerJob), r.RedisRoundTripsPerJob <= 4.005)
	}
	if ol := r.OpenLoop; ol != nil && ol.AddedLatency.N > 0 {
		at := fmt.Sprintf("%s, open loop at %s/s", s.Mode, num(ol.TargetRate))
		if ol.Fraction > 0 {
			at = fmt.Sprintf("%s, open loop at %.0f%% of capacity", s.Mode, 100*ol.Fraction)
		}
		add("added latency p99 ("+at+")", "≤ 25 ms", fmt.Sprintf("%.2f ms", ol.AddedLatency.P99), ol.AddedLatency.P99 <= 25)
		if ol.Push != nil && ol.Push.N > 0 {
			add("push p99, callback stored → client has it ("+at+")", "≤ 10 ms", fmt.Sprintf("%.2f ms", ol.Push.P99), ol.Push.P99 <= 10)
		}
		if s.Mode == "redis" && ol.RedisCommandsPerJob != nil {
			add("redis round trips per job ("+at+")", "≤ 4", fmt.Sprintf("%.2f", ol.RedisRoundTripsPerJob), ol.RedisRoundTripsPerJob <= 4.005)
		}
	}
}

func openLost(r *openLoopResult) int {
	if r == nil {
		return 0
	}
	return r.Lost
}

// runHold is the "people waiting at once" mode: it starts s.Jobs jobs whose
// mock vendor hangs until the deadline (first name "JaneHang"), so none
// completes during the run: worker_concurrency of them occupy the in-process
// workers, the rest wait in the pool's queue, and every one has a pending
// record in the store. It then holds o.holdLongPolls long polls open, reads
// every job's status once (as each waiting page polls), and reads the
// server's RSS.
func runHold(ctx context.Context, s scenario, o options, srv *prooflineServer, a *api, r *runResult, stderr io.Writer) error {
	fmt.Fprintf(stderr, "bench:   hold: starting %d hanging jobs with %d people ...\n", s.Jobs, s.People)
	stopStarting, c1 := context.WithTimeout(ctx, o.durationLimit)
	defer c1()
	ids := make([]string, s.Jobs)
	var next, refused, started atomic.Int64
	cpu0, _ := cpuSeconds(srv.proc.pid())
	t0 := time.Now()
	var wg sync.WaitGroup
	_, body := jobBody(kindResolution, true)
	for range s.People {
		wg.Add(1)
		go func() {
			defer wg.Done()
			fails := 0
			for stopStarting.Err() == nil && fails < 50 {
				i := int(next.Add(1) - 1)
				if i >= s.Jobs {
					return
				}
				for stopStarting.Err() == nil {
					id, ref, err := a.start(ctx, "/api/v1/proofing/resolution", body)
					if ref {
						refused.Add(1)
						sleepCtx(stopStarting, 20*time.Millisecond)
						continue
					}
					if err != nil {
						fails++
						break
					}
					ids[i] = id
					started.Add(1)
					break
				}
			}
		}()
	}
	wg.Wait()
	startSecs := time.Since(t0).Seconds()
	h := &holdResult{Requested: s.Jobs, Started: started.Load(), Refused: refused.Load(), StartSeconds: startSecs,
		WorkerConcurrency: r.WorkerConcurrency, LongPolls: o.holdLongPolls}
	r.Hold = h
	if h.Started > 0 {
		h.StartsPerSec = float64(h.Started) / startSecs
	}

	// Long polls held open while memory is read.
	lpCtx, lpCancel := context.WithCancel(ctx)
	var lpWG sync.WaitGroup
	var lpOpen atomic.Int64
	for i := 0; i < o.holdLongPolls && i < len(ids); i++ {
		if ids[i] == "" {
			continue
		}
		lpWG.Add(1)
		go func(id string) {
			defer lpWG.Done()
			lpOpen.Add(1)
			_, _ = a.do(lpCtx, http.MethodGet, "/api/v1/proofing/"+id+"?wait=60", nil, 70*time.Second)
		}(ids[i])
	}
	defer func() { lpCancel(); lpWG.Wait() }()

	// Every waiting person reads its status once.
	sweepCtx, c3 := context.WithTimeout(ctx, o.durationLimit)
	defer c3()
	var pending, other atomic.Int64
	var sweepNext atomic.Int64
	var swg sync.WaitGroup
	for range s.People {
		swg.Add(1)
		go func() {
			defer swg.Done()
			for sweepCtx.Err() == nil {
				i := int(sweepNext.Add(1) - 1)
				if i >= len(ids) {
					return
				}
				if ids[i] == "" {
					continue
				}
				resp, err := a.do(sweepCtx, http.MethodGet, "/api/v1/proofing/"+ids[i], nil, 10*time.Second)
				var ob outcomeBody
				if err == nil && resp.status == http.StatusOK && json.Unmarshal(resp.body, &ob) == nil && ob.Status == "pending" {
					pending.Add(1)
				} else {
					other.Add(1)
				}
			}
		}()
	}
	swg.Wait()
	h.StillPending, h.NotPending = pending.Load(), other.Load()
	sleepCtx(ctx, 500*time.Millisecond)
	rss, hwm, _ := memKiB(srv.proc.pid())
	cpu1, _ := cpuSeconds(srv.proc.pid())
	h.LongPollsOpen = lpOpen.Load()
	h.RSSMiB, h.PeakRSSMiB = kib2mib(rss), kib2mib(hwm)
	if h.Started > 0 {
		h.RSSGrowthKiBPerWaiting = float64(rss-int64(r.Server.IdleRSSMiB*1024)) / float64(h.Started)
	}
	r.Server.PeakRSSMiB, r.Server.EndRSSMiB, r.Server.CPUSeconds = h.PeakRSSMiB, h.RSSMiB, cpu1-cpu0
	r.Jobs.Requested, r.Jobs.Started, r.Jobs.Refused = s.Jobs, int(h.Started), h.Refused
	r.LoadAvgAfter = loadAvg()
	if srv.proc.exited() {
		return errors.New("server exited during the hold")
	}
	if s.Jobs >= 100000 {
		r.Targets = append(r.Targets, target{Name: fmt.Sprintf("%s people waiting at once (%s), peak RSS", num(float64(h.Started)), s.Mode), Target: "< 1 GiB",
			Value: fmt.Sprintf("%.0f MiB", h.PeakRSSMiB), Met: h.Started == int64(s.Jobs) && h.NotPending == 0 && h.PeakRSSMiB < 1024})
	}
	return nil
}

// percentiles of ds in milliseconds (nearest rank).
func percentiles(ds []time.Duration) dist {
	if len(ds) == 0 {
		return dist{}
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	at := func(q float64) float64 {
		i := int(q*float64(len(ds))+0.999999) - 1
		i = min(max(i, 0), len(ds)-1)
		return float64(ds[i]) / 1e6
	}
	return dist{N: len(ds), P50: at(0.50), P90: at(0.90), P99: at(0.99), Max: float64(ds[len(ds)-1]) / 1e6, Min: float64(ds[0]) / 1e6}
}

// meanSpread is the mean of xs and (max − min) ÷ mean in percent.
func meanSpread(xs []float64) (mean, spreadPct float64) {
	lo, hi := xs[0], xs[0]
	for _, x := range xs {
		mean += x
		lo, hi = min(lo, x), max(hi, x)
	}
	mean /= float64(len(xs))
	if mean > 0 {
		spreadPct = 100 * (hi - lo) / mean
	}
	return mean, spreadPct
}

func copyFile(from, to string) error {
	b, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		return err
	}
	return os.WriteFile(to, b, 0o644)
}
