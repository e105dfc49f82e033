package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/proofline/proofline/internal/testlog"
)

func TestBadConfigExitsTwoWithOneLineNamingTheKey(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := filepath.Join(dir, "c.yaml")
	_ = os.WriteFile(p, []byte("async_wait_timeout_seconds: -5\n"), 0o600)
	cases := []struct {
		args    []string
		environ []string
		key     string
	}{
		{[]string{"serve", "--config", p}, nil, "async_wait_timeout_seconds"},
		{[]string{"serve"}, []string{"PROOFLINE_REDIS_URL=redis://:s3cret-pw@127.0.0.1:1/0"}, "record_keys"},
		{[]string{"serve"}, []string{"PROOFLINE_SEAL_KEYS=k1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}, "record_keys"},
		{[]string{"serve", "--config", filepath.Join(dir, "missing.yaml")}, nil, "--config"},
		{[]string{"serve"}, []string{"PROOFLINE_LOG_LEVEL=shout"}, "log_level"},
		{[]string{"serve"}, []string{"PROOFLINE_NOT_A_KEY_AT_ALL=1", "PROOFLINE_LOG_LEVEL=info"}, "PROOFLINE_NOT_A_KEY_AT_ALL"},
	}
	for _, c := range cases {
		var out, errb bytes.Buffer
		code := run(context.Background(), c.args, c.environ, &out, &errb)
		msg := strings.TrimSpace(errb.String())
		if code != 2 || strings.Count(msg, "\n") != 0 || !strings.Contains(msg, c.key) {
			t.Errorf("%v %v: exit %d, stderr %q", c.args, c.environ, code, msg)
		}
		if strings.Contains(msg, "s3cret-pw") {
			t.Errorf("error echoes a secret: %q", msg)
		}
	}
}

func TestUsageErrors(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{nil, {"frobnicate"}, {"serve", "--no-such-flag"}, {"serve", "extra"}} {
		var out, errb bytes.Buffer
		if code := run(context.Background(), args, nil, &out, &errb); code != 2 {
			t.Errorf("%v: exit %d", args, code)
		}
	}
	var out bytes.Buffer
	if code := run(context.Background(), []string{"version"}, nil, &out, &out); code != 0 || strings.TrimSpace(out.String()) == "" {
		t.Errorf("version: %d %q", code, out.String())
	}
}

func TestRedisDownAtStartExitsNonZero(t *testing.T) {
	t.Parallel()
	var out, errb bytes.Buffer
	env := []string{
		"PROOFLINE_REDIS_URL=redis://:hunter2pw@127.0.0.1:1/0",
		"PROOFLINE_RECORD_KEYS=k1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
		"PROOFLINE_ATTEMPT_HASH_KEY=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
		"PROOFLINE_SESSION_SECRET=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
		"PROOFLINE_API_KEYS=api-key-0123456789abcdef",
		"PROOFLINE_ADDRESS_PROOF_RESULT_LAMBDA_TOKEN=aaaaaaaaaaaaaaaaaaaa",
		"PROOFLINE_DOCUMENT_PROOF_RESULT_LAMBDA_TOKEN=bbbbbbbbbbbbbbbbbbbb",
		"PROOFLINE_RESOLUTION_PROOF_RESULT_LAMBDA_TOKEN=cccccccccccccccccccc",
	}
	code := run(context.Background(), []string{"serve", "--addr", "127.0.0.1:0"}, env, &out, &errb)
	if code != 1 || !strings.Contains(errb.String(), "redis_url") || strings.Contains(errb.String(), "hunter2pw") {
		t.Fatalf("exit %d, stderr %q", code, errb.String())
	}
}

func TestServeEmbeddedDefaultRunsTheWholeLoop(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	var out, errb testlog.Buffer
	done := make(chan int)
	go func() {
		done <- run(ctx, []string{"serve", "--addr", "127.0.0.1:0"}, []string{"PROOFLINE_METRICS_ADDR=127.0.0.1:0"}, &out, &errb)
	}()

	urlRe := regexp.MustCompile(`listening on (http://127\.0\.0\.1:\d+)/`)
	keyRe := regexp.MustCompile(`development API key \(shown once\): (dev_\S+)`)
	var base, key string
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
		if m, k := urlRe.FindStringSubmatch(out.String()), keyRe.FindStringSubmatch(out.String()); m != nil && k != nil {
			base, key = m[1], k[1]
			break
		}
	}
	if base == "" {
		t.Fatalf("serve printed no URL and key: %q %q", out.String(), errb.String())
	}
	body := `{"applicant":{"phone":"7035555555"}}`
	req, _ := http.NewRequest("POST", base+"/api/v1/proofing/address", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var started struct {
		StatusURL string `json:"status_url"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&started)
	resp.Body.Close()
	if resp.StatusCode != 202 {
		t.Fatalf("start: %d", resp.StatusCode)
	}
	var outcome struct {
		Status string
		Result struct{ Errors map[string][]string }
	}
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end) && outcome.Status != "done"; time.Sleep(10 * time.Millisecond) {
		req, _ := http.NewRequest("GET", base+started.StatusURL, nil)
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = json.NewDecoder(resp.Body).Decode(&outcome)
		resp.Body.Close()
	}
	if outcome.Status != "done" || len(outcome.Result.Errors["phone"]) == 0 {
		t.Fatalf("outcome %+v", outcome)
	}
	cancel() // as SIGTERM would
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("exit %d after shutdown: %s", code, errb.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatal("serve did not stop")
	}
	if strings.Contains(errb.String(), key) {
		t.Fatal("the API key reached the logs")
	}
}

// TestServeMetricsOnlyOnTheMetricsAddress: /metrics (which tells anyone who
// reads it how many people are being proofed, and how) is not on the public
// port: it is served on metrics_addr, loopback by default, which the
// banner names.
func TestServeMetricsOnlyOnTheMetricsAddress(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errb testlog.Buffer
	done := make(chan int)
	go func() {
		done <- run(ctx, []string{"serve", "--addr", "127.0.0.1:0"}, []string{"PROOFLINE_METRICS_ADDR=127.0.0.1:0"}, &out, &errb)
	}()
	urlRe := regexp.MustCompile(`listening on (http://127\.0\.0\.1:\d+)/`)
	metricsRe := regexp.MustCompile(`metrics on (http://127\.0\.0\.1:\d+/metrics)`)
	var base, metricsURL string
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
		if m := urlRe.FindStringSubmatch(out.String()); m != nil {
			base = m[1]
			if k := metricsRe.FindStringSubmatch(out.String()); k != nil {
				metricsURL = k[1]
			}
			break
		}
	}
	get := func(u string) (int, string) {
		t.Helper()
		resp, err := http.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if base != "" {
		if code, body := get(base + "/metrics"); code != 404 || strings.Contains(body, "proofline_") {
			t.Errorf("public GET /metrics: %d (%d bytes), want 404", code, len(body))
		}
	}
	if metricsURL == "" {
		t.Fatalf("serve named no metrics address: %q %q", out.String(), errb.String())
	}
	if code, body := get(metricsURL); code != 200 || !strings.Contains(body, "proofline_jobs_started_total") {
		t.Errorf("metrics address: %d %.200s", code, body)
	}
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
}
