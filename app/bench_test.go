package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/proofline/proofline/app"
	"github.com/proofline/proofline/config"
	"github.com/proofline/proofline/observe/logbuf"
)

// BenchmarkEndToEnd runs whole jobs through the embedded server over HTTP
// (start, long-poll until done, delete) from 64 concurrent people, with the
// server's JSON logs written to a file the way `proofline serve` writes
// them, so `-cpuprofile` shows where a job's time goes. "in-process": the
// workers hand their claim and callback to the server's handler in memory
// (the default); "http": they use loopback TCP.
func BenchmarkEndToEnd(b *testing.B) {
	for _, overHTTP := range []bool{false, true} {
		name := "in-process"
		if overHTTP {
			name = "http"
		}
		b.Run(name, func(b *testing.B) { benchmarkEndToEnd(b, overHTTP) })
	}
}

func benchmarkEndToEnd(b *testing.B, overHTTP bool) {
	cfg := config.Defaults()
	cfg.DataDir = b.TempDir()
	cfg.WorkerConcurrency = 128
	logFile, err := os.Create(filepath.Join(b.TempDir(), "server.log"))
	if err != nil {
		b.Fatal(err)
	}
	defer logFile.Close()
	logw := logbuf.New(logFile, logbuf.Options{})
	defer logw.Close()
	logger := slog.New(logbuf.Handler(slog.NewJSONHandler(logw, nil), logw))
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	a, err := app.New(context.Background(), cfg, app.Options{ListenAddr: ln.Addr().String(), Logger: logger, WorkerHTTP: overHTTP})
	if err != nil {
		b.Fatal(err)
	}
	srv := &http.Server{Handler: a.Handler}
	go func() { _ = srv.Serve(ln) }()
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = a.Drain(ctx)
		_ = srv.Shutdown(ctx)
		_ = a.Close(ctx)
	}()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}}
	body, _ := json.Marshal(map[string]any{"applicant": applicant()})
	do := func(method, url string, body []byte) map[string]any {
		req, _ := http.NewRequest(method, url, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+a.DevAPIKey)
		req.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&m)
		return m
	}
	jobs := make(chan struct{}, b.N)
	for range b.N {
		jobs <- struct{}{}
	}
	close(jobs)
	b.ResetTimer()
	cpu0 := processCPU()
	var wg sync.WaitGroup
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range jobs {
				st := do("POST", a.BaseURL+"/api/v1/proofing/resolution", body)
				id, _ := st["result_id"].(string)
				if out := do("GET", a.BaseURL+"/api/v1/proofing/"+id+"?wait=30", nil); out["status"] != "done" {
					b.Errorf("outcome %v", out)
					return
				}
				do("DELETE", a.BaseURL+"/api/v1/proofing/"+id, nil)
			}
		}()
	}
	wg.Wait()
	// On a shared machine the wall time per job says little; the process's
	// CPU time per job (server and this benchmark's client together) holds.
	b.ReportMetric(float64((processCPU()-cpu0).Microseconds())/float64(b.N), "cpu-µs/op")
}

// processCPU is this process's user + system CPU time.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
