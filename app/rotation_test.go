package app_test

import (
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/proofline/proofline/config"
	"github.com/proofline/proofline/seal"
)

// testHashKey is the attempt_hash_key every test instance sharing Redis uses.
const testHashKey = "aGhoaGhoaGhoaGhoaGhoaGhoaGhoaGhoaGhoaGhoaGg="

func redisConfig(t *testing.T, recordKeys string, token func(kind string) string) config.Config {
	cfg := config.Defaults()
	cfg.RedisURL = redisSrv.URL()
	cfg.RecordKeys = recordKeys
	cfg.AttemptHashKey = testHashKey
	cfg.SessionSecret = testHashKey
	cfg.APIKeys = []string{"test-api-key-0123456789abcdef"}
	cfg.AddressProofResultLambdaToken = token("address")
	cfg.DocumentProofResultLambdaToken = token("document")
	cfg.ResolutionProofResultLambdaToken = token("resolution")
	cfg.DataDir = t.TempDir()
	return cfg
}

// TestRotationWithJobsInFlight rolls a new record key and new callback tokens
// out across instances sharing Redis while jobs run: nothing in flight is
// lost, and a retired key or token stops working once removed.
func TestRotationWithJobsInFlight(t *testing.T) {
	t.Parallel()
	k1, _ := seal.Generate("k1")
	k2, _ := seal.Generate("k2")
	oldTok := func(kind string) string { return kind + "-token-old-0123456789" }
	newTok := func(kind string) string { return kind + "-token-new-0123456789" }
	both := func(kind string) string { return newTok(kind) + "," + oldTok(kind) }

	// The rolled-out instance: k2 seals, k1 still opens; new token sent, old still accepted.
	lnNew, _ := net.Listen("tcp", "127.0.0.1:0")
	rolled := serve(t, redisConfig(t, seal.FormatKeys(k2, k1), both), lnNew)
	// An instance not yet rolled: k1 and the old token only. Its workers call
	// back through the load balancer, which here sends them to the rolled one.
	oldCfg := redisConfig(t, seal.FormatKeys(k1), oldTok)
	oldCfg.BaseURL = rolled.base
	old := serve(t, oldCfg, nil)

	app := map[string]any{"applicant": applicant()}
	fromOld := old.start("resolution", app) // pending record sealed with k1 (its worker claims through the rolled instance), callback with the old token
	out := rolled.waitOutcome(fromOld, 10*time.Second)
	if out["status"] != "done" || out["result"].(map[string]any)["success"] != true {
		t.Fatalf("job started before the rollout: %v", out)
	}
	fromNew := rolled.start("resolution", app)
	if out := rolled.waitOutcome(fromNew, 10*time.Second); out["status"] != "done" {
		t.Fatalf("job started after the rollout: %v", out)
	}
	// A record still sealed with k1: pending, from an old instance whose
	// worker claimed it from that instance (a claim re-seals the record with
	// the claiming instance's current key).
	oldSelf := serve(t, redisConfig(t, seal.FormatKeys(k1), oldTok), nil)
	pendingOld := oldSelf.start("resolution", map[string]any{"applicant": applicant(set("first_name", "Hang"))})

	// Finally k1 and the old token are removed.
	final := serve(t, redisConfig(t, seal.FormatKeys(k2), newTok), nil)
	if out := final.waitOutcome(fromNew, 5*time.Second); out["status"] != "done" {
		t.Fatalf("k2 record after k1 was removed: %v", out)
	}
	if r := final.do("GET", "/api/v1/proofing/"+pendingOld, nil); r.status == http.StatusOK {
		t.Fatalf("a record sealed with the removed key still opens: %s", r.raw)
	} else if strings.Contains(string(r.raw), "seal") || r.status != http.StatusInternalServerError {
		t.Fatalf("removed key: %d %s", r.status, r.raw)
	}
	// The old token is refused once removed.
	req, _ := http.NewRequest("POST", final.base+"/api/proofing_results/resolution/"+pendingOld, strings.NewReader(`{}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-API-AUTH-TOKEN", oldTok("resolution"))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("removed token: %d", resp.StatusCode)
	}
}
