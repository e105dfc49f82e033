package app_test

import (
	"net/http"
	"testing"

	"github.com/proofline/proofline/config"
	"github.com/proofline/proofline/seal"
)

func TestAttemptLimitsThroughTheAPI(t *testing.T) {
	stores(t, func(t *testing.T, o opts) {
		cfg := config.Defaults()
		cfg.DataDir = t.TempDir()
		if o.redis {
			k, _ := seal.Generate("k1")
			cfg = redisConfig(t, seal.FormatKeys(k), func(k string) string { return k + "-token-attempts-0123456789" })
		}
		cfg.IDVMaxAttempts = 2
		cfg.IDVMaxAttemptsPerIP = 3
		e := serve(t, cfg, nil)
		person := "person-" + t.Name()
		// The redis variants share one Redis: each counts its own IP.
		ip := "192.0.2.10"
		if o.http {
			ip = "192.0.2.11"
		}
		req := func(a map[string]any, ip string) map[string]any {
			return map[string]any{"applicant": a, "person_id": person, "client_ip": ip}
		}
		// A vendor timeout and a vendor exception do not use an attempt.
		e.proof("resolution", req(applicant(set("first_name", "Time")), ip))
		e.proof("resolution", req(applicant(set("first_name", "Fail")), ip))
		// Two failures use both attempts.
		for range 2 {
			if r := e.proof("resolution", req(applicant(set("ssn", "123-66-6600")), ip)); r["success"] != false {
				t.Fatalf("want a failure: %v", r)
			}
		}
		r := e.do("POST", "/api/v1/proofing/resolution", req(applicant(), ip))
		if r.status != http.StatusTooManyRequests || r.body["error"].(map[string]any)["code"] != "limit" {
			t.Fatalf("third failure's start: %d %s", r.status, r.raw)
		}
		// Another person on the same IP still has the IP's third attempt, then the IP is full.
		other := map[string]any{"applicant": applicant(set("ssn", "123-66-6600")), "person_id": "someone-else-" + t.Name(), "client_ip": ip}
		e.proof("resolution", other)
		if r := e.do("POST", "/api/v1/proofing/resolution", other); r.status != http.StatusTooManyRequests {
			t.Fatalf("full IP: %d %s", r.status, r.raw)
		}
		// Bad subjects are validation errors naming the field.
		if r := e.do("POST", "/api/v1/proofing/address", map[string]any{"applicant": map[string]any{"phone": "7035550100"}, "client_ip": "not-an-ip"}); r.status != 400 {
			t.Fatalf("bad client_ip: %d %s", r.status, r.raw)
		}
	})
}
