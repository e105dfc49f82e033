package main

import (
	"math"
	"testing"
	"time"
)

// Arrivals come at the asked rate over the asked time: evenly spaced, or
// as a Poisson process whose count is close to rate × duration, the same
// for the same seed.
func TestArrivalSchedule(t *testing.T) {
	t.Parallel()
	c := openLoopOpts{rate: 100, duration: 10 * time.Second}.arrivals()
	if len(c) != 1000 || c[1]-c[0] != 10*time.Millisecond || c[999] != 9990*time.Millisecond {
		t.Fatalf("constant: %d arrivals, first gap %v, last %v", len(c), c[1]-c[0], c[len(c)-1])
	}
	o := openLoopOpts{rate: 1000, duration: 10 * time.Second, poisson: true, seed: 7}
	p := o.arrivals()
	if n := float64(len(p)); math.Abs(n-10000) > 500 { // > 5 standard deviations
		t.Fatalf("poisson: %d arrivals for an expected 10,000", len(p))
	}
	for i := 1; i < len(p); i++ {
		if p[i] < p[i-1] || p[i] >= o.duration {
			t.Fatalf("arrival %d at %v after %v", i, p[i], p[i-1])
		}
	}
	if q := o.arrivals(); len(q) != len(p) || q[len(q)/2] != p[len(p)/2] {
		t.Fatal("the same seed gave another schedule")
	}
}

// A job whose start went out late (the tool or the server fell behind) is
// measured from its scheduled arrival, not from when its request was sent:
// no coordinated omission.
func TestOpenLoopLatencyRunsFromTheSchedule(t *testing.T) {
	t.Parallel()
	t0 := time.Now()
	lr := &openLoopRun{records: []openRecord{
		{jobRecord: jobRecord{id: "a", t0: t0, t1: t0.Add(5 * time.Millisecond), status: "done", outcomes: 1}, sent: t0},
		// Scheduled at t0, sent 200 ms late, answered 5 ms after sending.
		{jobRecord: jobRecord{id: "b", t0: t0, t1: t0.Add(205 * time.Millisecond), status: "done", outcomes: 1}, sent: t0.Add(200 * time.Millisecond)},
		{jobRecord: jobRecord{}}, // never started: lost
	}, elapsed: time.Second}
	var r openLoopResult
	computeOpenLoop(&r, scenario{Wait: "push"}, lr, nil)
	if r.AddedLatency.Max < 204 || r.AddedLatency.Max > 206 {
		t.Errorf("max added latency %.1f ms, want the 205 ms from the schedule", r.AddedLatency.Max)
	}
	if r.ScheduleLag.Max < 199 || r.ScheduleLag.Max > 201 {
		t.Errorf("schedule lag %.1f ms, want 200", r.ScheduleLag.Max)
	}
	if r.Completed != 2 || r.Lost != 1 || r.Scheduled != 3 {
		t.Errorf("completed %d lost %d scheduled %d", r.Completed, r.Lost, r.Scheduled)
	}
}

// MONITOR lines: a command a client sent counts (a script once); what a
// script runs inside, and housekeeping, do not.
func TestMonitorCountsClientCommandsOnly(t *testing.T) {
	t.Parallel()
	m := &redisMonitor{calls: map[string]int64{}}
	for _, l := range []string{
		`+1733300000.100000 [0 127.0.0.1:50000] "SET" "proofline:result:x" "v" "NX" "PX" "120000"`,
		`+1733300000.200000 [0 127.0.0.1:50000] "EVALSHA" "abc" "1" "proofline:result:x" "old" "new" "60000"`,
		`+1733300000.200001 [0 lua] "GET" "proofline:result:x"`,
		`+1733300000.200002 [0 lua] "SET" "proofline:result:x" "new" "PX" "60000"`,
		`+1733300000.300000 [0 127.0.0.1:50001] "PING"`,
		`+1733300000.400000 [0 127.0.0.1:50000] "DEL" "proofline:result:x"`,
		`+1733300000.500000 [0 unix:/tmp/r.sock] "GET" "k"`,
	} {
		m.count([]byte(l + "\n"))
	}
	calls, perJob := perJob(m.calls, 1)
	if perJob != 4 || calls["set"] != 1 || calls["evalsha"] != 1 || calls["del"] != 1 || calls["get"] != 1 || m.inner != 2 {
		t.Fatalf("counted %v (%v per job), %d inside scripts", m.calls, perJob, m.inner)
	}
}
