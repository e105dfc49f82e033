package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/proofline/proofline/app"
	"github.com/proofline/proofline/config"
)

// BenchmarkEndToEnd runs whole jobs through the embedded server over HTTP
// (start, long-poll until done, delete) from 64 concurrent people, with the
// server's JSON logs on, so `-cpuprofile` shows where a job's time goes.
func BenchmarkEndToEnd(b *testing.B) {
	cfg := config.Defaults()
	cfg.DataDir = b.TempDir()
	cfg.WorkerConcurrency = 128
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	a, err := app.New(context.Background(), cfg, app.Options{ListenAddr: ln.Addr().String(), Logger: slog.New(slog.NewJSONHandler(io.Discard, nil))})
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
}
