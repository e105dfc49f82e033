package app_test

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/proofline/proofline/app"
	"github.com/proofline/proofline/config"
	"github.com/proofline/proofline/internal/testlog"
)

// TestOneTracePerAttempt: start, job, each vendor call, callback send and
// receive (and the claim's send and receive) are spans of one trace whose id is the envelope's trace id (the
// one in the logs), with parent links across the HTTP callback; no span
// attribute carries PII.
func TestOneTracePerAttempt(t *testing.T) {
	t.Parallel()
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })

	cfg := config.Defaults()
	cfg.DataDir = t.TempDir()
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	logs := &testlog.Buffer{}
	a, err := app.New(context.Background(), cfg, app.Options{ListenAddr: ln.Addr().String(), TracerProvider: tp,
		Logger: slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: a.Handler}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = a.Drain(ctx)
		_ = srv.Shutdown(ctx)
		_ = a.Close(ctx)
	})
	e := &env{t: t, base: a.BaseURL, apiKey: a.DevAPIKey, app: a, logs: logs, http: &http.Client{Timeout: 10 * time.Second}}
	const mark = "TRACECANARY"
	id := e.start("resolution", map[string]any{"applicant": applicant(set("first_name", mark), set("last_name", mark+"L")), "should_proof_state_id": true})
	if out := e.waitOutcome(id, 10*time.Second); out["status"] != "done" {
		t.Fatalf("outcome %v", out)
	}
	var spans tracetest.SpanStubs
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
		spans = exp.GetSpans()
		if len(spans) >= 8 {
			break
		}
	}
	byName := map[string]tracetest.SpanStub{}
	for _, s := range spans {
		byName[s.Name] = s
		for _, kv := range s.Attributes {
			if strings.Contains(kv.Value.String(), mark) {
				t.Errorf("span %s attribute %s carries PII", s.Name, kv.Key)
			}
		}
	}
	start := byName["proofline.start"]
	for _, name := range []string{"proofline.job", "proofline.claim.send", "proofline.claim.receive", "proofline.vendor.resolution", "proofline.vendor.state_id", "proofline.callback.send", "proofline.callback.receive"} {
		s, ok := byName[name]
		if !ok {
			t.Fatalf("no %s span among %d spans", name, len(spans))
		}
		if s.SpanContext.TraceID() != start.SpanContext.TraceID() {
			t.Errorf("%s is in another trace", name)
		}
	}
	if byName["proofline.job"].Parent.SpanID() != start.SpanContext.SpanID() {
		t.Error("the job span is not a child of the start span (envelope span id lost)")
	}
	if byName["proofline.claim.receive"].Parent.SpanID() != byName["proofline.claim.send"].SpanContext.SpanID() {
		t.Error("the claim receive span is not a child of the send span (traceparent lost)")
	}
	if byName["proofline.callback.receive"].Parent.SpanID() != byName["proofline.callback.send"].SpanContext.SpanID() {
		t.Error("the callback receive span is not a child of the send span (traceparent lost)")
	}
	if !strings.Contains(logs.String(), `"trace_id":"`+start.SpanContext.TraceID().String()+`"`) {
		t.Error("the logs do not carry the trace id")
	}
}
