package server_test

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/proofline/proofline"
)

// BenchmarkCallbackHandler: one authenticated callback (token, sealed body
// opened with the job secret, store transition) through the HTTP handler, memory store.
func BenchmarkCallbackHandler(b *testing.B) {
	f := setup(b, false)
	h := f.srv.Config.Handler
	type job struct {
		id     string
		secret []byte
	}
	jobs := make([]job, b.N)
	for i := range jobs {
		id, secret := f.startAddress()
		jobs[i] = job{id, secret}
	}
	body := `{"address_result":{"success":true,"errors":{},"messages":[],"exception":null,"timed_out":false,"transaction_id":"t","context":{"stages":[{"stage":"address","vendor":"AddressMock","transaction_id":"t","success":true}]}}}`
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		j := jobs[i]
		path := proofline.CallbackPath(proofline.KindAddress, j.id)
		now := time.Now()
		sealed, err := proofline.SealCallback(j.secret, proofline.KindAddress, j.id, http.MethodPost, path, now, []byte(body))
		if err != nil {
			b.Fatal(err)
		}
		req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(sealed))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set(proofline.HeaderAuthToken, tokens[proofline.KindAddress])
		req.Header.Set(proofline.HeaderTimestamp, fmt.Sprint(now.Unix()))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusNoContent {
			b.Fatalf("callback %d", rec.Code)
		}
	}
}

// BenchmarkStatusHandler: reading a done result through GET
// /api/v1/proofing/{id} (API key check, open the sealed record, JSON), memory store.
func BenchmarkStatusHandler(b *testing.B) {
	f := setup(b, false)
	h := f.srv.Config.Handler
	id, secret := f.startAddress()
	if code := f.post(cb{id: id, token: tokens[proofline.KindAddress], secret: secret}); code != 204 {
		b.Fatal(code)
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req := httptest.NewRequest(http.MethodGet, "/api/v1/proofing/"+id, nil)
			req.Header.Set("Authorization", "Bearer "+apiKey)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != 200 {
				b.Fatalf("status %d", rec.Code)
			}
		}
	})
}
