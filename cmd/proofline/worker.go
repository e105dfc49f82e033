package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/proofline/proofline/app"
	"github.com/proofline/proofline/config"
	"github.com/proofline/proofline/observe/metrics"
	"github.com/proofline/proofline/observe/tracing"
)

// workerCmd runs `proofline worker`: a queue worker process. It reads the
// same configuration as serve, consumes the per-kind queues with
// queue_weights and worker_concurrency, runs every job through the same worker
// runtime as the other modes, and serves GET /healthz and GET /metrics on
// --addr. SIGTERM or SIGINT: stop taking jobs, drain in-flight ones, exit 0.
func workerCmd(ctx context.Context, args, environ []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("worker", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:9090", "health and metrics listen address (`host:port`)")
	cfgPath := fs.String("config", "", "YAML configuration `file` (the same keys as serve, below); PROOFLINE_<KEY> environment variables override it")
	if code, done := parseFlags(fs, workerCommand, args, stdout, stderr); done {
		return code
	}
	cfg, err := config.Load(*cfgPath, environ)
	if err == nil {
		err = checkWorkerConfig(cfg)
	}
	if err != nil {
		fmt.Fprintln(stderr, "proofline:", err)
		return 2
	}
	logger := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: level(cfg.LogLevel)})).With(slog.String("process", "worker"))

	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

	m := metrics.New()
	tp, shutdownTracing, err := tracing.New(ctx, cfg.OtelExporterOtlpEndpoint, cfg.OtelServiceName, version)
	if err != nil {
		fmt.Fprintln(stderr, "proofline: otel_exporter_otlp_endpoint:", err)
		return 2
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = shutdownTracing(sctx)
	}()
	consumer, err := app.NewQueueConsumer(ctx, cfg, app.WorkerOptions{Version: version, Logger: logger, Metrics: m, TracerProvider: tp})
	if err != nil {
		var cerr *config.Error
		if errors.As(err, &cerr) {
			fmt.Fprintln(stderr, "proofline:", err)
			return 2
		}
		fmt.Fprintln(stderr, "proofline: cannot start:", err)
		return 1
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintf(stderr, "proofline: --addr: cannot listen on %s: %v\n", *addr, err)
		return 1
	}
	if err := consumer.Start(); err != nil {
		_ = ln.Close()
		fmt.Fprintln(stderr, "proofline: cannot start: queue_redis_url:", err)
		return 1
	}

	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if err := consumer.Ping(); err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintln(w, "unhealthy: "+err.Error())
			return
		}
		fmt.Fprintln(w, "ok")
	})
	// proofline's worker and vendor metrics, the Go runtime, and the queue's.
	mux.Handle("GET /metrics", m.Handler())
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       time.Minute,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	fmt.Fprintf(stdout, "proofline %s worker: health and metrics on http://%s/\n  queues: %v (weights %s), concurrency %d\n",
		version, ln.Addr(), consumer.Queues(), cfg.QueueWeights, cfg.WorkerConcurrency)
	logger.Info("worker started", slog.String("addr", ln.Addr().String()), slog.String("version", version),
		slog.Any("queues", consumer.Queues()), slog.Int("concurrency", cfg.WorkerConcurrency))

	code := 0
	select {
	case err := <-errc:
		logger.Error("health server stopped", slog.String("error", err.Error()))
		code = 1
	case <-ctx.Done():
	}
	// Stop taking jobs and let in-flight ones finish; the job deadline bounds
	// each, so the drain never needs longer than one timeout period.
	logger.Info("shutting down: draining jobs", slog.Int64("in_flight", consumer.Metrics().InFlight()))
	drain := time.Duration(cfg.AsyncWaitTimeoutSeconds)*time.Second + 5*time.Second
	drainCtx, cancel := context.WithTimeout(context.Background(), drain)
	defer cancel()
	if err := consumer.Shutdown(drainCtx); err != nil {
		logger.Warn("drain cut short", slog.String("error", err.Error()))
	}
	shutCtx, cancel2 := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel2()
	_ = srv.Shutdown(shutCtx)
	logger.Info("stopped")
	return code
}

// checkWorkerConfig: a worker must share the servers' callback tokens
// (generated ones would make every claim and callback be refused), and holds
// no server-only key: no record key, no result store (invariant 11).
func checkWorkerConfig(cfg config.Config) error {
	if err := cfg.CheckWorker(); err != nil {
		return err
	}
	if cfg.QueueRedisURL == "" {
		return &config.Error{Key: "queue_redis_url", Msg: "is required for a worker (a Redis user that can touch only the queue's keys)"}
	}
	for _, kv := range [][2]string{
		{"base_url", cfg.BaseURL},
		{"address_proof_result_lambda_token", cfg.AddressProofResultLambdaToken},
		{"document_proof_result_lambda_token", cfg.DocumentProofResultLambdaToken},
		{"resolution_proof_result_lambda_token", cfg.ResolutionProofResultLambdaToken},
	} {
		if kv[1] == "" {
			return &config.Error{Key: kv[0], Msg: "is required for a worker (it must match the servers')"}
		}
	}
	if cfg.DataDir == "" && !cfg.DocAuthEnablePresignedS3URLs {
		return &config.Error{Key: "data_dir", Msg: "is required for a worker (the servers' image directory)"}
	}
	return nil
}
