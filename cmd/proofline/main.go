// Command proofline runs asynchronous identity proofing.
//
//	proofline serve [--addr 127.0.0.1:8080] [--config proofline.yaml]
//	proofline worker [--addr 127.0.0.1:9090] [--config proofline.yaml]
//	proofline vendors check [--config proofline.yaml]
//	proofline version
//
// serve answers the JSON API, callbacks, uploads and pages on --addr, and
// GET /metrics only on metrics_addr (127.0.0.1:9091 by default).
//
// Each command's --help lists its flags and every configuration key with
// its default and meaning, generated from config.Config.
//
// With no configuration, serve runs the embedded default: in-memory result
// store, local image store, in-process workers, mock vendors and development
// secrets generated at start.
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
	"github.com/proofline/proofline/observe/logbuf"
)

// version is the build's git ref, set with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Environ(), os.Stdout, os.Stderr))
}

const usage = `usage: proofline <command> [flags]

commands:
  serve     run the IdP-side server (in-process workers by default)
  worker    run a queue worker process (see README: scale-out)
  vendors   vendors check: check each configured vendor's configuration and reachability
  version   print the build version

proofline <command> --help lists the command's flags and every configuration
key with its default and meaning.
`

func run(ctx context.Context, args, environ []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "serve":
		return serve(ctx, args[1:], environ, stdout, stderr)
	case "worker":
		return workerCmd(ctx, args[1:], environ, stdout, stderr)
	case "vendors":
		return vendorsCmd(ctx, args[1:], environ, stdout, stderr)
	case "version", "--version":
		fmt.Fprintln(stdout, version)
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "proofline: unknown command %q\n%s", args[0], usage)
	return 2
}

func serve(ctx context.Context, args, environ []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:8080", "listen address (`host:port`)")
	cfgPath := fs.String("config", "", "YAML configuration `file` (the keys below); PROOFLINE_<KEY> environment variables override it")
	if code, done := parseFlags(fs, serveCommand, args, stdout, stderr); done {
		return code
	}
	cfg, err := config.Load(*cfgPath, environ)
	if err != nil {
		fmt.Fprintln(stderr, "proofline:", err)
		return 2
	}
	// Log lines are written in batches (warnings at once), not one write
	// system call each; every return path writes what is left.
	logw := logbuf.New(stderr, logbuf.Options{})
	defer logw.Close()
	logger := slog.New(logbuf.Handler(slog.NewJSONHandler(logw, &slog.HandlerOptions{Level: level(cfg.LogLevel)}), logw))

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintf(stderr, "proofline: --addr: cannot listen on %s: %v\n", *addr, err)
		return 1
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

	a, err := app.New(ctx, cfg, app.Options{ListenAddr: ln.Addr().String(), Version: version, Logger: logger})
	if err != nil {
		_ = ln.Close()
		var cerr *config.Error
		if errors.As(err, &cerr) {
			fmt.Fprintln(stderr, "proofline:", err)
			return 2
		}
		fmt.Fprintln(stderr, "proofline: cannot start:", err)
		return 1
	}
	srv := &http.Server{
		Handler:           a.Handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       2 * time.Minute, // large image uploads on slow links
		WriteTimeout:      2 * time.Minute,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	// Metrics on their own listener (metrics_addr, loopback by default),
	// never on the public port.
	var msrv *http.Server
	metricsLine := "  metrics: off\n"
	if cfg.MetricsAddr != config.MetricsOff {
		mln, err := net.Listen("tcp", cfg.MetricsAddr)
		if err != nil {
			_ = ln.Close()
			_ = a.Close(context.Background())
			fmt.Fprintf(stderr, "proofline: metrics_addr: cannot listen on %s: %v\n", cfg.MetricsAddr, err)
			return 1
		}
		msrv = &http.Server{
			Handler:           a.MetricsHandler(),
			ReadHeaderTimeout: 5 * time.Second,
			WriteTimeout:      30 * time.Second,
			IdleTimeout:       time.Minute,
			MaxHeaderBytes:    16 << 10,
			ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
		}
		go func() { _ = msrv.Serve(mln) }()
		metricsLine = "  metrics on http://" + mln.Addr().String() + "/metrics\n"
	}
	mode := a.Mode()
	fmt.Fprintf(stdout, "proofline %s listening on %s\n  mode: %s\n%s", version, a.BaseURL+"/", mode, metricsLine)
	if a.DevAPIKey != "" {
		fmt.Fprintf(stdout, "  development API key (shown once): %s\n", a.DevAPIKey)
	}
	logger.Info("serving", slog.String("addr", ln.Addr().String()), slog.String("version", version))

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		logger.Error("server stopped", slog.String("error", err.Error()))
		_ = a.Close(context.Background())
		return 1
	case <-ctx.Done():
	}
	// Two stages: stop taking jobs and let in-flight ones deliver their
	// callbacks to this still-running server, then stop serving.
	logger.Info("shutting down: draining jobs")
	drainCtx, cancel := context.WithTimeout(context.Background(), time.Duration(cfg.AsyncWaitTimeoutSeconds)*time.Second)
	defer cancel()
	_ = a.Drain(drainCtx)
	shutCtx, cancel2 := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel2()
	_ = srv.Shutdown(shutCtx)
	if msrv != nil {
		_ = msrv.Shutdown(shutCtx)
	}
	if err := a.Close(shutCtx); err != nil {
		logger.Warn("close", slog.String("error", err.Error()))
	}
	logger.Info("stopped")
	return 0
}

func level(s string) slog.Level {
	var l slog.Level
	_ = l.UnmarshalText([]byte(s))
	return l
}
