package main

import (
	"context"
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// The open-loop phase: jobs arrive at a fixed rate whatever the server does
// (a person does not wait for the previous person's job before starting
// theirs), so a slow server meets a growing queue instead of a slower
// client. Each job's latency is measured from its scheduled arrival time,
// not from when its start request went out: when the tool or the server
// falls behind, the delay still counts (no coordinated omission).

// openLoopOpts configure one open-loop phase.
type openLoopOpts struct {
	rate     float64       // arrivals per second
	duration time.Duration // arrivals are scheduled over this long
	poisson  bool          // exponential gaps (a Poisson process); false: constant gaps
	seed     uint64
}

// arrivals returns the scheduled arrival offsets from the phase's start.
func (o openLoopOpts) arrivals() []time.Duration {
	if o.rate <= 0 || o.duration <= 0 {
		return nil
	}
	rng := rand.New(rand.NewPCG(o.seed, o.seed^0x9e3779b97f4a7c15))
	mean := float64(time.Second) / o.rate
	var out []time.Duration
	at := 0.0
	for i := 0; ; i++ {
		if o.poisson {
			at += rng.ExpFloat64() * mean
		} else {
			at = float64(i) * mean
		}
		if at >= float64(o.duration) {
			return out
		}
		out = append(out, time.Duration(at))
	}
}

// openRecord is what the client saw of one open-loop job.
type openRecord struct {
	jobRecord           // t0 is the scheduled arrival time
	sent      time.Time // when the start request actually went out
}

// openLoopRun is what an open-loop phase produced.
type openLoopRun struct {
	records []openRecord
	refused int64
	elapsed time.Duration // first arrival to the last job's end
}

// runOpenLoop schedules the arrivals of o, each in its own goroutine:
// start, wait for the outcome (push or poll as w says), delete. A 503 at
// start is retried after 20 ms and counted as refused; the job's latency
// still runs from its scheduled arrival. Waits end at hard.
func runOpenLoop(ctx, hard context.Context, a *api, o openLoopOpts, mix []string, w waitOpts) *openLoopRun {
	offsets := o.arrivals()
	res := &openLoopRun{records: make([]openRecord, len(offsets))}
	bodies := map[string][]byte{}
	paths := map[string]string{}
	for _, k := range []string{kindResolution, kindStateID, kindAddress} {
		paths[k], bodies[k] = jobBody(k, false)
	}
	var refused atomic.Int64
	var wg sync.WaitGroup
	t0 := time.Now()
	for i, off := range offsets {
		at := t0.Add(off)
		if d := time.Until(at); d > 0 {
			if !sleepCtx(ctx, d) {
				res.records = res.records[:i]
				break
			}
		}
		rec := &res.records[i]
		rec.kind = mix[i%len(mix)]
		rec.t0 = at
		wg.Add(1)
		go func() {
			defer wg.Done()
			for tries := 0; tries < 250 && ctx.Err() == nil; tries++ {
				rec.sent = time.Now()
				id, ref, err := a.start(hard, paths[rec.kind], bodies[rec.kind])
				if ref {
					refused.Add(1)
					sleepCtx(ctx, 20*time.Millisecond)
					continue
				}
				if err != nil {
					return
				}
				rec.id = id
				break
			}
			if rec.id == "" {
				return
			}
			a.wait(hard, &rec.jobRecord, w)
			if rec.status != "" {
				a.forget(hard, rec.id)
			}
		}()
	}
	wg.Wait()
	res.elapsed = time.Since(t0)
	res.refused = refused.Load()
	return res
}

// hdrDist is a latency distribution from an HdrHistogram (3 significant
// digits), in milliseconds.
type hdrDist struct {
	N    int64   `json:"n"`
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	P999 float64 `json:"p99_9"`
	Max  float64 `json:"max"`
}

// newLatencyHistogram tracks 1 µs to 10 minutes with 3 significant digits.
func newLatencyHistogram() *hdrhistogram.Histogram {
	return hdrhistogram.New(1, int64(10*time.Minute/time.Microsecond), 3)
}

func recordLatency(h *hdrhistogram.Histogram, d time.Duration) {
	us := max(d.Microseconds(), 1)
	_ = h.RecordValue(min(us, h.HighestTrackableValue()))
}

func distOf(h *hdrhistogram.Histogram) hdrDist {
	ms := func(v int64) float64 { return float64(v) / 1000 }
	return hdrDist{
		N: h.TotalCount(), P50: ms(h.ValueAtQuantile(50)), P90: ms(h.ValueAtQuantile(90)),
		P99: ms(h.ValueAtQuantile(99)), P999: ms(h.ValueAtQuantile(99.9)), Max: ms(h.Max()),
	}
}

// openLoopResult is the open-loop phase's figures; part of the --json shape.
type openLoopResult struct {
	// Fraction is the share of the saturated (closed-loop) throughput the
	// arrival rate was set to; 0 when --open-loop-rate gave it.
	Fraction    float64 `json:"fraction_of_capacity,omitempty"`
	TargetRate  float64 `json:"arrival_rate_per_sec"`
	Arrivals    string  `json:"arrivals"`
	DurationS   float64 `json:"arrival_seconds"`
	Seconds     float64 `json:"seconds"`
	Scheduled   int     `json:"scheduled"`
	Started     int     `json:"started"`
	Completed   int     `json:"completed"`
	TimedOut    int     `json:"timed_out"`
	Lost        int     `json:"lost"`
	Refused     int64   `json:"refused_503"`
	JobsPerSec  float64 `json:"completed_jobs_per_sec"`
	StatusReads float64 `json:"status_reads_per_job"`
	// ScheduleLag is how late start requests went out after their
	// scheduled time (the tool's own delay; it is inside AddedLatency).
	ScheduleLag hdrDist `json:"schedule_lag_ms"`
	// AddedLatency runs from the scheduled arrival to the outcome read,
	// minus the job's vendor time.
	AddedLatency hdrDist  `json:"added_latency_ms"`
	Push         *hdrDist `json:"push_callback_to_visible_ms,omitempty"`

	ServerCPUSeconds      float64            `json:"server_cpu_seconds"`
	ServerCPUPer1000      float64            `json:"server_cpu_seconds_per_1000_jobs"`
	RedisCommandsPerJob   map[string]float64 `json:"redis_client_commands_per_job,omitempty"`
	RedisRoundTripsPerJob float64            `json:"redis_round_trips_per_job,omitempty"`
	LoadAvgAfter          string             `json:"loadavg_after"`
}

// computeOpenLoop turns the open-loop records and the server log into figures.
func computeOpenLoop(r *openLoopResult, s scenario, lr *openLoopRun, sl *serverLog) {
	added, push, lag := newLatencyHistogram(), newLatencyHistogram(), newLatencyHistogram()
	r.Scheduled = len(lr.records)
	r.Refused = lr.refused
	r.Seconds = lr.elapsed.Seconds()
	var reads int64
	for i := range lr.records {
		rec := &lr.records[i]
		if rec.id == "" {
			// Never started (the tool's retries ran out or the phase was
			// interrupted): a lost arrival.
			r.Lost++
			continue
		}
		r.Started++
		recordLatency(lag, rec.sent.Sub(rec.t0))
		ok := rec.outcomes == 1
		if sl != nil {
			n := len(sl.received[rec.id])
			if (rec.status == "done" && n != 1) || (rec.status == "timed_out" && n != 0) {
				ok = false
			}
			if rec.status == "done" && n >= 1 && s.Wait == "push" {
				recordLatency(push, rec.t1.Sub(sl.received[rec.id][0]))
			}
		}
		if !ok {
			r.Lost++
		}
		switch rec.status {
		case "done":
			r.Completed++
			reads += int64(rec.reads)
			recordLatency(added, rec.t1.Sub(rec.t0)-time.Duration(rec.stages)*s.VendorLatency)
		case "timed_out":
			r.TimedOut++
		}
	}
	if r.Completed > 0 {
		r.JobsPerSec = float64(r.Completed) / lr.elapsed.Seconds()
		r.StatusReads = float64(reads) / float64(r.Completed)
	}
	r.AddedLatency = distOf(added)
	r.ScheduleLag = distOf(lag)
	if sl != nil && s.Wait == "push" {
		p := distOf(push)
		r.Push = &p
	}
}

// roundRate rounds an arrival rate to two significant digits, so a run's
// rate reads plainly (1,300/s rather than 1,287.4/s).
func roundRate(r float64) float64 {
	if r <= 0 {
		return 0
	}
	p := math.Pow(10, math.Floor(math.Log10(r))-1)
	return math.Max(1, math.Round(r/p)*p)
}
