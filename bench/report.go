package main

import (
	"fmt"
	"io"
	"sort"
	"strings"
)

// runResult is one scenario's figures; it is also the --json shape.
type runResult struct {
	Scenario          scenario `json:"scenario"`
	LogLevel          string   `json:"server_log_level"`
	JobTimeoutS       int      `json:"job_timeout_seconds"`
	WorkerConcurrency int      `json:"worker_concurrency"`
	WorkerQueueSize   int      `json:"worker_queue_size"`
	LoadAvgBefore     string   `json:"loadavg_before"`
	LoadAvgAfter      string   `json:"loadavg_after"`
	// Interrupted: Ctrl-C or the overall time bound ended the load; jobs
	// in flight then count as lost.
	Interrupted bool `json:"interrupted,omitempty"`

	Baselines baselines `json:"baselines"`

	Seconds           float64 `json:"load_seconds"`
	JobsPerSec        float64 `json:"completed_jobs_per_sec"`
	PctOfBound        float64 `json:"pct_of_bound"`
	MeanVendorMs      float64 `json:"mean_vendor_ms_per_job"`
	StatusReadsPerJob float64 `json:"status_reads_per_job"`
	Jobs              jobs    `json:"jobs"`
	// AddedLatency is start→outcome visible minus the job's vendor time
	// (vendor latency × the stages in its result), in ms.
	AddedLatency dist `json:"added_latency_ms"`
	// Push is the server's "result received" log time (callback stored,
	// just before its 204) → the waiting client has read the result, in ms.
	Push *dist `json:"push_callback_to_visible_ms,omitempty"`

	Server                serverFigures      `json:"server"`
	ClientCPUSeconds      float64            `json:"client_cpu_seconds"`
	ClientCPUPer1000      float64            `json:"client_cpu_seconds_per_1000_jobs"`
	RedisServerCPUPer1000 float64            `json:"redis_server_cpu_seconds_per_1000_jobs,omitempty"`
	RedisCalls            map[string]int64   `json:"redis_calls,omitempty"`
	RedisCallsPerJob      map[string]float64 `json:"redis_calls_per_job,omitempty"`
	// RedisClientCommands are the commands the server sent (MONITOR, not
	// counting what scripts ran inside): each one round trip.
	RedisClientCommands   map[string]int64   `json:"redis_client_commands,omitempty"`
	RedisCommandsPerJob   map[string]float64 `json:"redis_client_commands_per_job,omitempty"`
	RedisRoundTripsPerJob float64            `json:"redis_round_trips_per_job,omitempty"`
	// CPUPerJobVsBare3 is server CPU per job ÷ the bare server's CPU for
	// three requests (same run).
	CPUPerJobVsBare3 float64 `json:"server_cpu_per_job_vs_bare_3_requests,omitempty"`
	// OpenLoop is the open-loop phase (fixed arrival rate), when run.
	OpenLoop  *openLoopResult   `json:"open_loop,omitempty"`
	ServerLog *serverLogSummary `json:"server_log,omitempty"`
	Errors    map[string]int64  `json:"errors"`
	Hold      *holdResult       `json:"hold,omitempty"`
	Targets   []target          `json:"targets"`
}

type baselines struct {
	// Bare and RedisPairs hold the measurement before the load and the one
	// after it; the bound uses their means.
	Bare                  []*bareResult `json:"bare_http,omitempty"`
	BareReqPerSec         float64       `json:"bare_http_requests_per_sec_mean,omitempty"`
	BareSpreadPct         float64       `json:"bare_http_spread_pct,omitempty"`
	RedisPairs            []float64     `json:"redis_set_get_pairs_per_sec,omitempty"`
	RedisPairsPerSec      float64       `json:"redis_set_get_pairs_per_sec_mean,omitempty"`
	RedisSpreadPct        float64       `json:"redis_spread_pct,omitempty"`
	RedisValueBytes       int           `json:"redis_value_bytes,omitempty"`
	RedisErrors           int64         `json:"redis_errors,omitempty"`
	RedisK                int           `json:"bound_redis_k_round_trips_per_job,omitempty"`
	BareBoundJobsPerSec   float64       `json:"bare_bound_jobs_per_sec,omitempty"`
	RedisBoundJobsPerSec  float64       `json:"redis_bound_jobs_per_sec,omitempty"`
	VendorBoundJobsPerSec float64       `json:"vendor_bound_jobs_per_sec,omitempty"`
	BoundJobsPerSec       float64       `json:"bound_jobs_per_sec"`
	BoundBasis            string        `json:"bound_basis"`
}

type jobs struct {
	Requested   int   `json:"requested"`
	Started     int   `json:"started"`
	Completed   int   `json:"completed"`
	TimedOut    int   `json:"timed_out"`
	Lost        int   `json:"lost"`
	Refused     int64 `json:"refused_503"`
	CutOff      bool  `json:"cut_off_by_duration_limit"`
	StatusReads int64 `json:"status_reads"`
}

type dist struct {
	N   int     `json:"n"`
	Min float64 `json:"min"`
	P50 float64 `json:"p50"`
	P90 float64 `json:"p90"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
}

type serverFigures struct {
	CPUSeconds              float64 `json:"cpu_seconds"`
	CPUSecondsPer1000       float64 `json:"cpu_seconds_per_1000_jobs"`
	IdleRSSMiB              float64 `json:"idle_rss_mib"`
	PeakRSSMiB              float64 `json:"peak_rss_mib"`
	EndRSSMiB               float64 `json:"end_rss_mib"`
	PeakRSSGrowthMiBPer1000 float64 `json:"peak_rss_growth_mib_per_1000_jobs"`
}

type serverLogSummary struct {
	Lines              int     `json:"lines"`
	LinesPerJob        float64 `json:"lines_per_job"`
	DuplicateCallbacks int     `json:"duplicate_callbacks"`
	LateCallbacks      int     `json:"late_callbacks"`
	Errors             int     `json:"error_lines"`
}

type holdResult struct {
	Requested              int     `json:"requested"`
	Started                int64   `json:"started"`
	Refused                int64   `json:"refused_503"`
	StartSeconds           float64 `json:"start_seconds"`
	StartsPerSec           float64 `json:"starts_per_sec"`
	WorkerConcurrency      int     `json:"worker_concurrency"`
	LongPolls              int     `json:"long_polls_requested"`
	LongPollsOpen          int64   `json:"long_polls_open"`
	StillPending           int64   `json:"status_read_pending"`
	NotPending             int64   `json:"status_read_not_pending"`
	RSSMiB                 float64 `json:"rss_mib"`
	PeakRSSMiB             float64 `json:"peak_rss_mib"`
	RSSGrowthKiBPerWaiting float64 `json:"rss_growth_kib_per_waiting_job"`
}

type target struct {
	Name   string `json:"name"`
	Target string `json:"target"`
	Value  string `json:"value"`
	Met    bool   `json:"met"`
}

// num formats n with thousands separators.
func num(f float64) string {
	s := fmt.Sprintf("%.0f", f)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

func printRun(w io.Writer, r *runResult) {
	s := r.Scenario
	p := func(format string, a ...any) { fmt.Fprintf(w, format+"\n", a...) }
	p("")
	p("=== %s ===", s.Name)
	if r.Interrupted {
		p("INTERRUPTED: partial figures; jobs in flight at the interrupt count as lost")
	}
	wait := s.Wait
	if s.Wait == "poll" {
		wait = fmt.Sprintf("poll every %s", s.PollInterval)
	}
	if s.Hold {
		wait = "hold (vendors hang until the deadline)"
	}
	p("mode %s · %d people · %d jobs · vendor latency %s · wait: %s", s.Mode, s.People, s.Jobs, s.VendorLatency, wait)
	p("server: worker_concurrency %d, worker_queue_size %d, job timeout %ds, log_level %s", r.WorkerConcurrency, r.WorkerQueueSize, r.JobTimeoutS, r.LogLevel)
	p("load average before %s, after %s (a busy machine makes every figure below lower; ratios to the same-run baselines hold better)", r.LoadAvgBefore, r.LoadAvgAfter)
	if r.Hold != nil {
		printHold(w, r)
		return
	}
	b := r.Baselines
	p("")
	p("%-44s %s", "baselines (same run, same client)", "")
	if len(b.Bare) > 0 {
		for i, x := range b.Bare {
			p("  %-42s %s req/s   (%.1f s, %d errors; server CPU %.3f s per 1,000 requests)", "bare net/http, "+whenLabel(i), num(x.RequestsPerSec), x.Seconds, x.Errors, x.ServerCPUPer1000)
		}
		sz := b.Bare[0].Sizes
		p("  %-42s start %d→%d B, callback %d→0 B, status 0→%d B", "  request→response sizes", sz.StartReq, sz.StartResp, sz.CallbackReq, sz.StatusResp)
		p("  %-42s %s jobs/s (mean %s req/s%s)", "bound from bare HTTP (÷ 3 requests)", num(b.BareBoundJobsPerSec), num(b.BareReqPerSec), spread(b.BareSpreadPct, len(b.Bare)))
	} else {
		p("  (baselines off)")
	}
	if b.RedisPairsPerSec > 0 {
		for i, x := range b.RedisPairs {
			p("  %-42s %s pairs/s (value %d B)", "redis SET EX + GET (rueidis), "+whenLabel(i), num(x), b.RedisValueBytes)
		}
		p("  %-42s %s jobs/s (mean %s pairs/s%s; %d errors)", fmt.Sprintf("bound from Redis (2×pairs ÷ %d round trips)", b.RedisK), num(b.RedisBoundJobsPerSec), num(b.RedisPairsPerSec), spread(b.RedisSpreadPct, len(b.RedisPairs)), b.RedisErrors)
	}
	if b.VendorBoundJobsPerSec > 0 {
		p("  %-42s %s jobs/s", "bound from vendor time (people ÷ vendor s)", num(b.VendorBoundJobsPerSec))
	}
	if b.BoundJobsPerSec > 0 {
		p("  %-42s %s jobs/s (%s)", "bound", num(b.BoundJobsPerSec), b.BoundBasis)
	}
	p("")
	p("proofline, saturated (closed loop: %d people, each starts its next job when the last one ends)", s.People)
	j := r.Jobs
	p("  %-42s %d of %d in %.2f s = %s jobs/s", "completed", j.Completed, j.Requested, r.Seconds, num(r.JobsPerSec))
	if b.BoundJobsPerSec > 0 {
		p("  %-42s %.1f%%", "of the bound", r.PctOfBound)
	}
	a := r.AddedLatency
	p("  %-42s p50 %.2f · p90 %.2f · p99 %.2f · max %.2f ms (n=%d)", "added latency at saturation (start→visible − vendor)", a.P50, a.P90, a.P99, a.Max, a.N)
	if r.Push != nil {
		pp := r.Push
		p("  %-42s p50 %.2f · p90 %.2f · p99 %.2f · max %.2f ms (n=%d)", "push at saturation: callback stored → client has it", pp.P50, pp.P90, pp.P99, pp.Max, pp.N)
	} else if s.Wait == "push" {
		p("  %-42s not measured (needs --log-level info or debug)", "push: callback stored → client has it")
	}
	p("  %-42s %.2f", "status reads per job", r.StatusReadsPerJob)
	p("  %-42s %.3f s per 1,000 jobs (%.2f s total)%s", "server CPU", r.Server.CPUSecondsPer1000, r.Server.CPUSeconds, cpuRatio(r))
	p("  %-42s peak %.1f MiB (idle %.1f, end %.1f; +%.2f MiB per 1,000 jobs over idle)", "server RSS", r.Server.PeakRSSMiB, r.Server.IdleRSSMiB, r.Server.EndRSSMiB, r.Server.PeakRSSGrowthMiBPer1000)
	p("  %-42s %.3f s per 1,000 jobs", "load tool CPU (shares the machine)", r.ClientCPUPer1000)
	if r.RedisCallsPerJob != nil {
		p("  %-42s %.3f s per 1,000 jobs", "redis-server CPU", r.RedisServerCPUPer1000)
		p("  %-42s %s", "redis commands sent per job (MONITOR)", sortedCalls(r.RedisCommandsPerJob))
		p("  %-42s %.2f (each command the server sent; a script counts once)", "redis round trips per job", r.RedisRoundTripsPerJob)
		p("  %-42s %s", "  commandstats per job (scripts' inside too)", sortedCalls(r.RedisCallsPerJob))
	}
	p("  %-42s started %d · completed %d · timed out %d · LOST %d · refused (503) %d%s", "jobs", j.Started, j.Completed, j.TimedOut, j.Lost, j.Refused, cutOff(j.CutOff))
	if ol := r.OpenLoop; ol != nil {
		p("")
		rate := fmt.Sprintf("%s jobs/s", num(ol.TargetRate))
		if ol.Fraction > 0 {
			rate = fmt.Sprintf("%s jobs/s = %.0f%% of the saturated %s jobs/s", num(ol.TargetRate), 100*ol.Fraction, num(r.JobsPerSec))
		}
		p("proofline, open loop (%s arrivals at %s for %.0f s; latency from each job's scheduled arrival, HdrHistogram)", ol.Arrivals, rate, ol.DurationS)
		p("  %-42s %d scheduled · %d started · %d completed in %.2f s = %s jobs/s · timed out %d · LOST %d · refused (503) %d", "jobs", ol.Scheduled, ol.Started, ol.Completed, ol.Seconds, num(ol.JobsPerSec), ol.TimedOut, ol.Lost, ol.Refused)
		h := ol.AddedLatency
		p("  %-42s p50 %.2f · p90 %.2f · p99 %.2f · p99.9 %.2f · max %.2f ms (n=%d)", "added latency (arrival→visible − vendor)", h.P50, h.P90, h.P99, h.P999, h.Max, h.N)
		if ol.Push != nil {
			h := *ol.Push
			p("  %-42s p50 %.2f · p90 %.2f · p99 %.2f · p99.9 %.2f · max %.2f ms (n=%d)", "push: callback stored → client has it", h.P50, h.P90, h.P99, h.P999, h.Max, h.N)
		}
		h = ol.ScheduleLag
		p("  %-42s p50 %.2f · p99 %.2f · max %.2f ms (the tool's own delay, inside the latency above)", "start sent after its scheduled time", h.P50, h.P99, h.Max)
		p("  %-42s %.2f", "status reads per job", ol.StatusReads)
		p("  %-42s %.3f s per 1,000 jobs", "server CPU", ol.ServerCPUPer1000)
		if ol.RedisCommandsPerJob != nil {
			p("  %-42s %.2f (%s)", "redis round trips per job", ol.RedisRoundTripsPerJob, sortedCalls(ol.RedisCommandsPerJob))
		}
		p("  %-42s %s", "load average after", ol.LoadAvgAfter)
	}
	p("")
	if r.ServerLog != nil {
		p("  %-42s %d lines (%.2f per job) · duplicate callbacks %d · late callbacks %d · error lines %d", "server log", r.ServerLog.Lines, r.ServerLog.LinesPerJob, r.ServerLog.DuplicateCallbacks, r.ServerLog.LateCallbacks, r.ServerLog.Errors)
	}
	p("  %-42s %s", "errors by kind", sortedErrors(r.Errors))
	printTargets(w, r)
}

// bareCPUPerRequest is the bare server's mean CPU seconds per request of
// this run's baselines (0 when none ran).
func bareCPUPerRequest(r *runResult) float64 {
	var sum float64
	n := 0
	for _, b := range r.Baselines.Bare {
		if b.ServerCPUPer1000 > 0 {
			sum += b.ServerCPUPer1000 / 1000
			n++
		}
	}
	if n == 0 {
		return 0
	}
	return sum / float64(n)
}

// cpuRatio describes the server CPU per job against the bare server's CPU
// for the three requests a job needs at least.
func cpuRatio(r *runResult) string {
	if r.CPUPerJobVsBare3 <= 0 {
		return ""
	}
	return fmt.Sprintf("; %.1f× the bare server's CPU for 3 requests (%.3f s per 1,000)", r.CPUPerJobVsBare3, 3000*bareCPUPerRequest(r))
}

func printHold(w io.Writer, r *runResult) {
	h := r.Hold
	p := func(format string, a ...any) { fmt.Fprintf(w, format+"\n", a...) }
	p("")
	p("  %-42s %d of %d in %.1f s (%s starts/s), refused (503) %d", "jobs started and left waiting", h.Started, h.Requested, h.StartSeconds, num(h.StartsPerSec), h.Refused)
	p("  %-42s %d running (hung in a vendor call) + %d queued; every one a pending record", "  of which", min(int64(h.WorkerConcurrency), h.Started), max(h.Started-int64(h.WorkerConcurrency), 0))
	p("  %-42s %d pending, %d not (must be 0)", "one status read of each", h.StillPending, h.NotPending)
	p("  %-42s %d", "long polls issued before the reading", h.LongPollsOpen)
	p("  %-42s %.1f MiB (peak %.1f MiB, idle %.1f MiB; %.2f KiB per waiting job over idle)", "server RSS", h.RSSMiB, h.PeakRSSMiB, r.Server.IdleRSSMiB, h.RSSGrowthKiBPerWaiting)
	p("  %-42s %.2f s", "server CPU for starts + reads", r.Server.CPUSeconds)
	p("  %-42s %s", "errors by kind", sortedErrors(r.Errors))
	printTargets(w, r)
}

func printTargets(w io.Writer, r *runResult) {
	fmt.Fprintln(w, "\ntargets (ratios to the same run's baselines; judge absolute figures only on a quiet machine)")
	if r.Hold != nil && r.Scenario.Jobs < 100000 {
		fmt.Fprintln(w, "  (the waiting-people target is judged at --jobs 100000)")
	}
	for _, t := range r.Targets {
		mark := "met"
		if !t.Met {
			mark = "NOT MET"
		}
		fmt.Fprintf(w, "  %-62s %-14s %-12s %s\n", t.Name, t.Target, t.Value, mark)
	}
}

// printSummary lists every target of every run, met or not, once more at
// the end, with the load average each run saw.
func printSummary(w io.Writer, runs []*runResult) {
	fmt.Fprintln(w, "\n=== summary: targets of this invocation ===")
	met, all := 0, 0
	for _, r := range runs {
		fmt.Fprintf(w, "%s (load average %s → %s)\n", r.Scenario.Name, r.LoadAvgBefore, r.LoadAvgAfter)
		for _, t := range r.Targets {
			mark := "met"
			if !t.Met {
				mark = "NOT MET"
			} else {
				met++
			}
			all++
			fmt.Fprintf(w, "  %-62s %-14s %-12s %s\n", t.Name, t.Target, t.Value, mark)
		}
	}
	fmt.Fprintf(w, "%d of %d targets met\n", met, all)
}

func cutOff(b bool) string {
	if b {
		return " · CUT OFF by --duration-limit"
	}
	return ""
}

func sortedErrors(m map[string]int64) string {
	if len(m) == 0 {
		return "none"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s: %d", k, m[k])
	}
	return strings.Join(parts, "; ")
}

func sortedCalls(m map[string]float64) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		if m[k] >= 0.005 {
			parts = append(parts, fmt.Sprintf("%s %.2f", k, m[k]))
		}
	}
	return strings.Join(parts, " · ")
}

func whenLabel(i int) string {
	if i == 0 {
		return "before"
	}
	return "after"
}

// spread describes the before/after difference, warning when it is large.
func spread(pct float64, n int) string {
	if n < 2 {
		return ""
	}
	if pct > 20 {
		return fmt.Sprintf("; before/after differ by %.0f%%: the machine was not steady, repeat the run", pct)
	}
	return fmt.Sprintf("; before/after within %.0f%%", pct)
}
