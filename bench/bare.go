package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// bareServerCmd is the hidden subcommand `bench bare-server`: a bare net/http
// server (ServeMux with method patterns, as proofline uses) that reads each
// request body and answers with a fixed body of the size proofline answers:
//
//	POST /start     → 202, startResp bytes   (a job start)
//	POST /callback  → 204                     (a worker callback)
//	GET  /status    → 200, statusResp bytes  (a status read of a done job)
//
// It runs as its own process, like proofline, so its CPU is its own and the
// client load (this tool) is the same.
func bareServerCmd(args []string) int {
	fs := flag.NewFlagSet("bare-server", flag.ContinueOnError)
	startResp := fs.Int("start-resp", 160, "start response body bytes")
	statusResp := fs.Int("status-resp", 400, "status response body bytes")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	start, status := filler(*startResp), filler(*statusResp)
	mux := http.NewServeMux()
	mux.HandleFunc("POST /start", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusAccepted)
		_, _ = w.Write(start)
	})
	mux.HandleFunc("POST /callback", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		_, _ = w.Write(status)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, "bare-server:", err)
		return 1
	}
	fmt.Printf("listening on %s\n", ln.Addr())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	// The parent stops this process with SIGTERM (default action: exit).
	_ = srv.Serve(ln)
	return 0
}

// filler is n bytes of a JSON string, like a JSON body of that size.
func filler(n int) []byte {
	if n < 2 {
		return bytes.Repeat([]byte(" "), max(n, 0))
	}
	b := bytes.Repeat([]byte("x"), n)
	b[0], b[n-1] = '"', '"'
	return b
}

// bareSizes are the request and response sizes the baseline reproduces, taken
// from a real proofline job of the run (the warm-up job).
type bareSizes struct {
	StartReq    int `json:"start_request_bytes"`
	StartResp   int `json:"start_response_bytes"`
	CallbackReq int `json:"callback_request_bytes"`
	StatusResp  int `json:"status_response_bytes"`
}

type bareResult struct {
	RequestsPerSec   float64   `json:"requests_per_sec"`
	Requests         int64     `json:"requests"`
	Seconds          float64   `json:"seconds"`
	Errors           int64     `json:"errors"`
	ServerCPUPer1000 float64   `json:"server_cpu_seconds_per_1000_requests"`
	Sizes            bareSizes `json:"sizes"`
}

// runBareBaseline starts the bare server as a child process (this binary,
// hidden subcommand) and drives it with people goroutines through the same
// HTTP client settings as the proofline load, each looping start, callback,
// status, for d.
func runBareBaseline(ctx context.Context, people int, sizes bareSizes, d time.Duration, apiKey string, cl *cleanup) (*bareResult, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(self, "bare-server", "--start-resp", strconv.Itoa(sizes.StartResp), "--status-resp", strconv.Itoa(sizes.StatusResp))
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = os.Stderr
	p, err := startChild("bare-server", cmd)
	if err != nil {
		return nil, err
	}
	cl.add(func() { p.stop(2 * time.Second) })
	defer p.stop(2 * time.Second)
	addrc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if a, ok := strings.CutPrefix(sc.Text(), "listening on "); ok {
				addrc <- a
			}
		}
	}()
	var base string
	select {
	case a := <-addrc:
		base = "http://" + a
	case <-time.After(10 * time.Second):
		return nil, errors.New("bare server did not start within 10s")
	case <-ctx.Done():
		return nil, ctx.Err()
	}

	client := newHTTPClient(people)
	defer client.CloseIdleConnections()
	startBody := filler(sizes.StartReq)
	cbBody := filler(sizes.CallbackReq)
	cpu0, _ := cpuSeconds(p.pid())
	lctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var n, errs atomic.Int64
	do := func(method, path string, body []byte, want int, callback bool) bool {
		var rd io.Reader
		if body != nil {
			rd = bytes.NewReader(body)
		}
		req, _ := http.NewRequestWithContext(lctx, method, base+path, rd)
		if callback {
			// Roughly the headers a worker callback carries.
			req.Header.Set("X-API-AUTH-TOKEN", "0123456789abcdef0123456789abcdef")
			req.Header.Set("X-Proofline-Job-Secret", "0123456789abcdef0123456789abcdef0123456789a")
			req.Header.Set("X-Proofline-Timestamp", strconv.FormatInt(time.Now().Unix(), 10))
			req.Header.Set("X-Proofline-Signature", "v1="+strings.Repeat("0", 64))
			req.Header.Set("X-Proofline-Worker-Version", "dev")
		} else {
			req.Header.Set("Authorization", "Bearer "+apiKey)
		}
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := client.Do(req)
		if err != nil {
			if lctx.Err() == nil {
				errs.Add(1)
			}
			return false
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want {
			errs.Add(1)
			return false
		}
		n.Add(1)
		return true
	}
	done := make(chan struct{}, people)
	t0 := time.Now()
	for range people {
		go func() {
			defer func() { done <- struct{}{} }()
			for lctx.Err() == nil {
				do(http.MethodPost, "/start", startBody, http.StatusAccepted, false)
				do(http.MethodPost, "/callback", cbBody, http.StatusNoContent, true)
				do(http.MethodGet, "/status", nil, http.StatusOK, false)
			}
		}()
	}
	for range people {
		<-done
	}
	el := time.Since(t0)
	cpu1, _ := cpuSeconds(p.pid())
	r := &bareResult{Requests: n.Load(), Seconds: el.Seconds(), Errors: errs.Load(), Sizes: sizes}
	r.RequestsPerSec = float64(r.Requests) / el.Seconds()
	if r.Requests > 0 {
		r.ServerCPUPer1000 = (cpu1 - cpu0) / float64(r.Requests) * 1000
	}
	return r, nil
}
