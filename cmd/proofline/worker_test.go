package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/proofline/proofline"
	"github.com/proofline/proofline/dispatch/queuedispatch"
	"github.com/proofline/proofline/internal/redistest"
	"github.com/proofline/proofline/internal/testlog"
	"github.com/proofline/proofline/seal"
)

// workerEnv is a worker's configuration: the queue, the tokens, the
// callback origin and the image directory; no key, no result store.
func workerEnv(queueURL, baseURL, dataDir string) []string {
	return []string{
		"PROOFLINE_QUEUE_REDIS_URL=" + queueURL,
		"PROOFLINE_ADDRESS_PROOF_RESULT_LAMBDA_TOKEN=address-token-aaaaaaaaaaaa",
		"PROOFLINE_DOCUMENT_PROOF_RESULT_LAMBDA_TOKEN=document-token-bbbbbbbbbbb",
		"PROOFLINE_RESOLUTION_PROOF_RESULT_LAMBDA_TOKEN=resolution-token-ccccccccc",
		"PROOFLINE_BASE_URL=" + baseURL,
		"PROOFLINE_DATA_DIR=" + dataDir,
	}
}

func TestWorkerBadConfigExitsTwoNamingTheKey(t *testing.T) {
	t.Parallel()
	k, _ := seal.Generate("k1")
	good := workerEnv("redis://:s3cret-pw@127.0.0.1:1/0", "http://127.0.0.1:8080", t.TempDir())
	without := func(key string) []string {
		var out []string
		for _, kv := range good {
			if !strings.HasPrefix(kv, key+"=") {
				out = append(out, kv)
			}
		}
		return out
	}
	cases := []struct {
		args    []string
		environ []string
		key     string
	}{
		{[]string{"worker"}, nil, "queue_redis_url"},
		{[]string{"worker"}, without("PROOFLINE_QUEUE_REDIS_URL"), "queue_redis_url"},
		{[]string{"worker"}, append(good, "PROOFLINE_RECORD_KEYS="+seal.FormatKeys(k)), "record_keys"},
		{[]string{"worker"}, append(good, "PROOFLINE_SEAL_KEYS="+seal.FormatKeys(k)), "record_keys"},
		{[]string{"worker"}, append(good, "PROOFLINE_REDIS_URL=redis://:s3cret-pw@127.0.0.1:1/1"), "redis_url"},
		{[]string{"worker"}, append(good, "PROOFLINE_API_KEYS=api-key-0123456789abcdef"), "api_keys"},
		{[]string{"worker"}, without("PROOFLINE_BASE_URL"), "base_url"},
		{[]string{"worker"}, without("PROOFLINE_DATA_DIR"), "data_dir"},
		{[]string{"worker"}, append(good, "PROOFLINE_QUEUE_WEIGHTS=document:3,fax:1"), "queue_weights"},
		{[]string{"worker"}, append(good, "PROOFLINE_QUEUE_CHECK_INTERVAL_MS=0"), "queue_check_interval_ms"},
		{[]string{"worker"}, append(good, "PROOFLINE_QUEUE_REDIS_URL=http://:s3cret-pw@x/"), "queue_redis_url"},
		{[]string{"worker", "--config", "/nonexistent/proofline.yaml"}, nil, "--config"},
	}
	for _, c := range cases {
		var out, errb bytes.Buffer
		code := run(context.Background(), c.args, c.environ, &out, &errb)
		msg := strings.TrimSpace(errb.String())
		if code != 2 || strings.Count(msg, "\n") != 0 || !strings.Contains(msg, c.key) {
			t.Errorf("%v (%s): exit %d, stderr %q", c.args, c.key, code, msg)
		}
		if strings.Contains(msg, "s3cret-pw") {
			t.Errorf("error echoes a secret: %q", msg)
		}
	}
	for _, args := range [][]string{{"worker", "--no-such-flag"}, {"worker", "extra"}} {
		var out, errb bytes.Buffer
		if code := run(context.Background(), args, good, &out, &errb); code != 2 {
			t.Errorf("%v: exit %d", args, code)
		}
	}
}

func TestWorkerRedisDownAtStartExitsOne(t *testing.T) {
	t.Parallel()
	var out, errb bytes.Buffer
	code := run(context.Background(), []string{"worker", "--addr", "127.0.0.1:0"},
		workerEnv("redis://:hunter2pw@127.0.0.1:1/0", "http://127.0.0.1:8080", t.TempDir()), &out, &errb)
	if code != 1 || !strings.Contains(errb.String(), "queue_redis_url") || strings.Contains(errb.String(), "hunter2pw") {
		t.Fatalf("exit %d, stderr %q", code, errb.String())
	}
}

// TestWorkerRunsJobsServesHealthAndMetricsAndDrainsOnSignal runs `proofline
// worker` in-process against a real redis-server: a job enqueued by the
// queue driver is proofed by the mock vendors and delivered to the callback
// host named by base_url; cancelling the context (as SIGTERM does) exits 0.
func TestWorkerRunsJobsServesHealthAndMetricsAndDrainsOnSignal(t *testing.T) {
	t.Parallel()
	rs, err := redistest.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rs.Stop)
	var delivered atomic.Int64
	var body atomic.Value
	var jobKeys atomic.Pointer[proofline.JobKeys]
	// The IdP's side of the claim and the callback, from the domain's own
	// functions (the server tests run the real handlers).
	idp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get(proofline.HeaderAuthToken) != "address-token-aaaaaaaaaaaa" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		b, _ := io.ReadAll(r.Body)
		id := strings.Split(r.URL.Path, "/")[4]
		keys := jobKeys.Load()
		if strings.HasSuffix(r.URL.Path, "/claim") {
			req, err := proofline.ParseClaimRequest(b)
			if err != nil || req.Verify(proofline.KindAddress, id, keys.ClaimToken) != nil {
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
			answer, _ := proofline.AnswerClaim(proofline.KindAddress, id, req, keys.DataKey)
			_, _ = w.Write(answer)
			return
		}
		plain, err := proofline.OpenCallback(keys.CallbackSecret, proofline.KindAddress, id, r.Method, r.URL.Path, r.Header.Get(proofline.HeaderTimestamp), time.Now(), time.Minute, b)
		if err != nil {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		body.Store(string(plain))
		delivered.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(idp.Close)

	env := append(workerEnv(rs.URL(), idp.URL, t.TempDir()), "PROOFLINE_QUEUE_NAME_PREFIX=cmdtest")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errb testlog.Buffer
	done := make(chan int, 1)
	go func() { done <- run(ctx, []string{"worker", "--addr", "127.0.0.1:0"}, env, &out, &errb) }()
	addrRe := regexp.MustCompile(`health and metrics on (http://127\.0\.0\.1:\d+)/`)
	var base string
	for end := time.Now().Add(15 * time.Second); time.Now().Before(end) && base == ""; time.Sleep(10 * time.Millisecond) {
		if m := addrRe.FindStringSubmatch(out.String()); m != nil {
			base = m[1]
		}
		select {
		case code := <-done:
			t.Fatalf("worker exited %d: %s", code, errb.String())
		default:
		}
	}
	if base == "" {
		t.Fatalf("worker printed no address: %q %q", out.String(), errb.String())
	}
	get := func(path string) (int, string) {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, b := get("/healthz"); code != 200 || strings.TrimSpace(b) != "ok" {
		t.Fatalf("healthz: %d %q", code, b)
	}

	opt, _ := queuedispatch.ParseRedisURL(rs.URL())
	drv, err := queuedispatch.NewDriver(queuedispatch.DriverOptions{Redis: opt, QueuePrefix: "cmdtest", MaxRetry: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer drv.Close(context.Background())
	id := proofline.NewResultID()
	e, keys, err := proofline.SealEnvelope(proofline.Envelope{
		Kind: proofline.KindAddress, ResultID: id, CallbackURL: idp.URL + proofline.CallbackPath(proofline.KindAddress, id),
		Deadline: time.Now().Add(time.Minute), TraceID: "t1", WorkerVersion: version,
	}, &proofline.Payload{Address: &proofline.AddressArgs{Applicant: proofline.Applicant{Phone: "7035555555"}}})
	if err != nil {
		t.Fatal(err)
	}
	jobKeys.Store(keys)
	if err := drv.Send(context.Background(), e); err != nil {
		t.Fatal(err)
	}
	for end := time.Now().Add(15 * time.Second); time.Now().Before(end) && delivered.Load() == 0; time.Sleep(10 * time.Millisecond) {
	}
	if delivered.Load() != 1 {
		t.Fatalf("job not delivered: %s", errb.String())
	}
	if b, _ := body.Load().(string); !strings.Contains(b, `"phone"`) {
		t.Fatalf("callback body lacks the phone failure: %s", b)
	}
	// The worker counts a job once the IdP has answered its callback, a
	// moment after the IdP saw it: wait for the counters, then check all.
	wants := []string{
		`proofline_queue_jobs_total{kind="address",outcome="delivered"} 1`,
		`proofline_queue_tasks{queue="cmdtest-address",state="pending"} 0`,
		`proofline_worker_jobs_total{kind="address",outcome="delivered"} 1`,
		`go_goroutines`,
	}
	var metrics string
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		if _, metrics = get("/metrics"); strings.Contains(metrics, wants[0]) && strings.Contains(metrics, wants[2]) {
			break
		}
	}
	for _, want := range wants {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	cancel() // as SIGTERM would
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("exit %d after shutdown: %s", code, errb.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("worker did not stop")
	}
	if strings.Contains(errb.String(), "7035555555") {
		t.Fatal("PII reached the worker's logs")
	}
}
