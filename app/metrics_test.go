package app_test

import (
	"io"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

func scrape(t *testing.T, e *env) string {
	t.Helper()
	r, err := e.http.Get(e.metrics)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	b, _ := io.ReadAll(r.Body)
	if r.StatusCode != 200 {
		t.Fatalf("/metrics: %d", r.StatusCode)
	}
	return string(b)
}

func sample(t *testing.T, text, series string) float64 {
	t.Helper()
	re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`)
	m := re.FindStringSubmatch(text)
	if m == nil {
		t.Fatalf("no sample %s in:\n%s", series, grepLines(text, "proofline_"))
	}
	v, _ := strconv.ParseFloat(m[1], 64)
	return v
}

func grepLines(text, prefix string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func TestMetricsCountWhatHappened(t *testing.T) {
	t.Parallel()
	e := start(t, opts{timeout: 2})
	for _, a := range []map[string]any{applicant(), applicant(set("ssn", "123-66-6600")), applicant(set("first_name", "Fail"))} {
		e.proof("resolution", map[string]any{"applicant": a, "should_proof_state_id": true})
	}
	e.proof("address", map[string]any{"applicant": map[string]any{"phone": "7035555888"}})
	hang := e.start("address", map[string]any{"applicant": map[string]any{"phone": "7035550100", "first_name": "Hang"}})
	if out := e.waitOutcome(hang, 10*time.Second); out["status"] != "timed_out" {
		t.Fatalf("hang: %v", out)
	}
	// the expired job is counted once the worker gives up at the deadline
	var text string
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		text = scrape(t, e)
		if sample(t, text, `proofline_worker_jobs_total{kind="address",outcome="expired"}`) == 1 {
			break
		}
	}
	checks := map[string]float64{
		`proofline_jobs_started_total{kind="resolution"}`:                    3,
		`proofline_jobs_started_total{kind="address"}`:                       2,
		`proofline_results_total{kind="resolution",outcome="success"}`:       1,
		`proofline_results_total{kind="resolution",outcome="failure"}`:       1,
		`proofline_results_total{kind="resolution",outcome="exception"}`:     1,
		`proofline_results_total{kind="address",outcome="vendor_timeout"}`:   1,
		`proofline_worker_jobs_total{kind="resolution",outcome="delivered"}`: 3,
		`proofline_worker_jobs_total{kind="address",outcome="expired"}`:      1,
		`proofline_result_seconds_count{kind="resolution"}`:                  3,
		`proofline_dispatch_seconds_count{kind="address"}`:                   2,
		// resolution passed → state id ran once; the failure and the exception stopped at resolution
		`proofline_vendor_call_seconds_count{outcome="passed",stage="state_id",vendor="StateIdMock"}`:         1,
		`proofline_vendor_call_seconds_count{outcome="exception",stage="resolution",vendor="ResolutionMock"}`: 1,
	}
	for series, want := range checks {
		if got := sample(t, text, series); got != want {
			t.Errorf("%s = %v, want %v", series, got, want)
		}
	}
	if strings.Contains(text, hang) || regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-`).MatchString(grepLines(text, "proofline_")) {
		t.Error("a result id reached /metrics")
	}
	if sample(t, text, "proofline_pool_queued_jobs") != 0 {
		t.Error("queue gauge")
	}
}

// TestMetricsAreNotOnThePublicHandler: GET /metrics on the public port is
// 404; the metrics listener (metrics_addr) serves them.
func TestMetricsAreNotOnThePublicHandler(t *testing.T) {
	t.Parallel()
	e := start(t, opts{})
	r, err := e.http.Get(e.base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(r.Body)
	r.Body.Close()
	if r.StatusCode != 404 || strings.Contains(string(b), "proofline_") {
		t.Fatalf("public GET /metrics: %d", r.StatusCode)
	}
	if !strings.Contains(scrape(t, e), "proofline_jobs_started_total") {
		t.Fatal("the metrics listener lacks proofline's metrics")
	}
}
