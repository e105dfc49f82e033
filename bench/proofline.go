package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// goTool finds the go command: PATH, then GOROOT, then the usual place.
func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	if r := os.Getenv("GOROOT"); r != "" {
		return filepath.Join(r, "bin", "go")
	}
	return "/usr/local/go/bin/go"
}

// buildProofline builds ./cmd/proofline of the module around the working
// directory into dir and returns the binary's path.
func buildProofline(ctx context.Context, dir string) (string, error) {
	out := filepath.Join(dir, "proofline")
	bctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(bctx, goTool(), "build", "-trimpath", "-o", out, "github.com/proofline/proofline/cmd/proofline")
	cmd.Stdout = os.Stderr
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build ./cmd/proofline (run from inside the proofline module, or pass --proofline-bin): %w", err)
	}
	return out, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// prooflineServer is a running `proofline serve` child.
type prooflineServer struct {
	base    string // http://127.0.0.1:port
	apiKey  string
	proc    *child
	logPath string // the child's stderr: JSON logs
}

type serverConfig struct {
	bin               string
	redisURL          string
	vendorLatency     time.Duration
	workerConcurrency int
	workerQueueSize   int
	jobTimeout        time.Duration
	logLevel          string
	dir               string // temporary directory for the log file
}

// startProofline starts `proofline serve --addr 127.0.0.1:0` configured
// through PROOFLINE_* environment variables only and waits for its
// "listening on" line.
func startProofline(ctx context.Context, sc serverConfig, cl *cleanup) (*prooflineServer, error) {
	s := &prooflineServer{apiKey: "bench_" + randomHex(16), logPath: filepath.Join(sc.dir, "proofline.log")}
	seal := make([]byte, 32)
	_, _ = rand.Read(seal)
	env := []string{}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PROOFLINE_") {
			env = append(env, kv)
		}
	}
	set := func(k, v string) { env = append(env, "PROOFLINE_"+strings.ToUpper(k)+"="+v) }
	set("api_keys", s.apiKey)
	set("mock_vendor_latency_ms", strconv.FormatInt(sc.vendorLatency.Milliseconds(), 10))
	set("worker_concurrency", strconv.Itoa(sc.workerConcurrency))
	set("worker_queue_size", strconv.Itoa(sc.workerQueueSize))
	set("async_wait_timeout_seconds", strconv.Itoa(int(sc.jobTimeout/time.Second)))
	set("log_level", sc.logLevel)
	// Inside the run's directory, so it goes even when the server is killed.
	set("data_dir", filepath.Join(sc.dir, "data"))
	if sc.redisURL != "" {
		set("redis_url", sc.redisURL)
		set("record_keys", "b1:"+base64.StdEncoding.EncodeToString(seal))
		hashKey := make([]byte, 32)
		_, _ = rand.Read(hashKey)
		set("attempt_hash_key", base64.StdEncoding.EncodeToString(hashKey))
		// Every instance sharing a Redis must share the browser sessions' key.
		sessionKey := make([]byte, 32)
		_, _ = rand.Read(sessionKey)
		set("session_secret", base64.StdEncoding.EncodeToString(sessionKey))
		set("address_proof_result_lambda_token", "addr_"+randomHex(16))
		set("document_proof_result_lambda_token", "doc_"+randomHex(16))
		set("resolution_proof_result_lambda_token", "res_"+randomHex(16))
	}
	logf, err := os.Create(s.logPath)
	if err != nil {
		return nil, err
	}
	cl.add(func() { logf.Close() })
	cmd := exec.Command(sc.bin, "serve", "--addr", "127.0.0.1:0")
	cmd.Env = append(env, "PROOFLINE_METRICS_ADDR=127.0.0.1:0") // never the default port another run may hold
	cmd.Stderr = logf
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	p, err := startChild("proofline", cmd)
	if err != nil {
		return nil, err
	}
	s.proc = p
	// Drain stops in-flight jobs' waiting; hanging jobs would keep it busy
	// until their deadline, so it gets a short grace before SIGKILL.
	cl.add(func() { p.stop(5 * time.Second) })
	urlc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			line := sc.Text()
			if i := strings.Index(line, " listening on "); i >= 0 {
				select {
				case urlc <- strings.TrimSuffix(strings.TrimSpace(line[i+len(" listening on "):]), "/"):
				default:
				}
			}
		}
	}()
	select {
	case u := <-urlc:
		s.base = u
	case <-p.exit:
		b, _ := os.ReadFile(s.logPath)
		return nil, fmt.Errorf("proofline exited at start: %s", strings.TrimSpace(string(b)))
	case <-time.After(30 * time.Second):
		return nil, errors.New("proofline did not print its listening line within 30s")
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if !strings.HasPrefix(s.base, "http://127.0.0.1:") {
		return nil, fmt.Errorf("proofline listens on %q, not loopback", s.base)
	}
	return s, nil
}
