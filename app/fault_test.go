package app_test

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/proofline/proofline/app"
	"github.com/proofline/proofline/config"
	"github.com/proofline/proofline/internal/redistest"
	"github.com/proofline/proofline/internal/testlog"
	"github.com/proofline/proofline/seal"
)

// TestRedisOutageMidFlight: with Redis gone, API callers get a retryable 503
// (never a panic or a 500), and once Redis is back the service recovers
// without a restart.
func TestRedisOutageMidFlight(t *testing.T) {
	t.Parallel()
	rs, err := redistest.Start() // its own server: this test stops it
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rs.Stop)
	k, _ := seal.Generate("k1")
	cfg := config.Defaults()
	cfg.RedisURL = rs.URL()
	cfg.RecordKeys = seal.FormatKeys(k)
	cfg.AttemptHashKey = testHashKey
	cfg.SessionSecret = testHashKey
	cfg.APIKeys = []string{"test-api-key-0123456789abcdef"}
	cfg.AddressProofResultLambdaToken = "address-token-aaaaaaaaaaaa"
	cfg.DocumentProofResultLambdaToken = "document-token-bbbbbbbbbbb"
	cfg.ResolutionProofResultLambdaToken = "resolution-token-ccccccccc"
	cfg.DataDir = t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	logs := &testlog.Buffer{}
	a, err := app.New(context.Background(), cfg, app.Options{ListenAddr: ln.Addr().String(), Logger: slog.New(slog.NewJSONHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: a.Handler}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = a.Drain(ctx)
		_ = srv.Shutdown(ctx)
		_ = a.Close(ctx)
	})
	e := &env{t: t, base: a.BaseURL, apiKey: cfg.APIKeys[0], app: a, logs: logs, http: &http.Client{Timeout: 10 * time.Second}}
	body := map[string]any{"applicant": map[string]any{"phone": "7035550100"}}
	id := e.start("address", body)
	if out := e.waitOutcome(id, 10*time.Second); out["status"] != "done" {
		t.Fatalf("before the outage: %v", out)
	}

	rs.Down()
	for _, r := range []resp{e.do("POST", "/api/v1/proofing/address", body), e.do("GET", "/api/v1/proofing/"+id, nil)} {
		if r.status != http.StatusServiceUnavailable || r.header.Get("Retry-After") == "" {
			t.Fatalf("with Redis down: %d %s (want 503 with Retry-After)", r.status, r.raw)
		}
		if r.body["error"].(map[string]any)["code"] != "unavailable" {
			t.Fatalf("error body %s", r.raw)
		}
	}

	if err := rs.Restart(); err != nil {
		t.Fatal(err)
	}
	// Recovers without restarting proofline (a pooled connection may fail
	// once more while it reconnects).
	var started string
	for end := time.Now().Add(15 * time.Second); time.Now().Before(end) && started == ""; time.Sleep(50 * time.Millisecond) {
		if r := e.do("POST", "/api/v1/proofing/address", body); r.status == http.StatusAccepted {
			started = r.body["result_id"].(string)
		} else if r.status != http.StatusServiceUnavailable {
			t.Fatalf("while reconnecting: %d %s", r.status, r.raw)
		}
	}
	if started == "" {
		t.Fatal("did not recover after Redis came back")
	}
	if out := e.waitOutcome(started, 10*time.Second); out["status"] != "done" {
		t.Fatalf("after recovery: %v", out)
	}
}
