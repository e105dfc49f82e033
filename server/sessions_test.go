package server_test

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"

	"github.com/proofline/proofline"
	"github.com/proofline/proofline/proofing"
	"github.com/proofline/proofline/proofing/verification"
	"github.com/proofline/proofline/resultstore"
	"github.com/proofline/proofline/seal"
	"github.com/proofline/proofline/server"
	"github.com/proofline/proofline/tenant"
)

const (
	// notifiedKey is the key of a client with job webhooks.
	notifiedKey = "notified-key-0123456789ab"
	origin      = "https://idp.example.gov"
)

// setupClients is setup with two API clients: apiKey's, whose return URLs
// may be on origin, and notifiedKey's, with job webhooks. The verification
// sessions API is mounted. notified receives the outcome of every job
// started with a request for its webhook.
func setupClients(t *testing.T, notified func(*proofline.Outcome)) *fixture {
	t.Helper()
	return setupWith(t, false, func(p *proofing.Options, s *server.Options) {
		reg, err := tenant.New([]tenant.Client{
			{Name: tenant.KeyClient(apiKey).Name, Keys: []string{apiKey}, ReturnOrigins: []string{origin}},
			{Name: "notified", Keys: []string{notifiedKey}, JobWebhooks: true},
		}, "http://127.0.0.1")
		if err != nil {
			t.Fatal(err)
		}
		k, _ := seal.Generate("s1")
		ring, _ := seal.NewKeyRing(k)
		vs, err := verification.New(verification.Options{
			Records: resultstore.NewRecords(resultstore.NewMemory(resultstore.MemoryOptions{}), ring, "session"),
			Clients: reg, BaseURL: "https://proofline.example.gov",
		})
		if err != nil {
			t.Fatal(err)
		}
		p.Notify = func(_ context.Context, o *proofline.Outcome) { notified(o) }
		s.APIKeys, s.Clients, s.Sessions = nil, reg, vs
	})
}

// TestVerificationSessionsAPI: a session is created (201, its one-time url,
// Location), read (200) and canceled (200, canceled) by its tenant; a second
// cancel is a 409; a bad request is a 400 naming the field; another
// tenant's session or an unknown one is a 404.
func TestVerificationSessionsAPI(t *testing.T) {
	t.Parallel()
	f := setupClients(t, func(*proofline.Outcome) {})
	status, h, b := f.api("POST", "/api/v1/verification-sessions", "application/json",
		`{"person_id":"u-1","return_url":"`+origin+`/done","metadata":{"k":"v"}}`)
	var created struct {
		ID, URL, Status string
	}
	if status != 201 || json.Unmarshal([]byte(b), &created) != nil || created.ID == "" || created.Status != "created" ||
		!strings.HasPrefix(created.URL, "https://proofline.example.gov/") || h.Get("Location") != "/api/v1/verification-sessions/"+created.ID {
		t.Fatalf("create: %d %v %s", status, h, b)
	}
	path := "/api/v1/verification-sessions/" + created.ID
	if status, _, b := f.api("GET", path, "", ""); status != 200 || !strings.Contains(b, `"person_id":"u-1"`) || !strings.Contains(b, `"status":"created"`) {
		t.Errorf("get: %d %s", status, b)
	}
	if status, _, b := f.api("POST", path+"/cancel", "", ""); status != 200 || !strings.Contains(b, `"status":"canceled"`) {
		t.Errorf("cancel: %d %s", status, b)
	}
	if status, _, b := f.api("POST", path+"/cancel", "", ""); status != 409 {
		t.Errorf("second cancel: %d %s, want 409", status, b)
	}
	for name, body := range map[string]string{
		"return_url": `{"person_id":"u-1","return_url":"https://elsewhere.example/"}`,
		"person_id":  `{"person_id":7,"return_url":"` + origin + `/done"}`,
	} {
		if status, _, b := f.api("POST", "/api/v1/verification-sessions", "application/json", body); status != 400 || !strings.Contains(b, `"field":"`+name+`"`) {
			t.Errorf("create with a bad %s: %d %s, want 400 naming it", name, status, b)
		}
	}
	if status, _, b := f.api("POST", "/api/v1/verification-sessions", "text/plain", `{}`); status != 415 {
		t.Errorf("create as text/plain: %d %s, want 415", status, b)
	}
	// Another tenant reads and cancels nothing of it.
	for _, c := range []struct{ method, path string }{{"GET", path}, {"POST", path + "/cancel"}, {"GET", "/api/v1/verification-sessions/vs_unknown"}} {
		if status, _, b := f.apiAs(notifiedKey, c.method, c.path, "", ""); status != 404 {
			t.Errorf("%s %s by another tenant: %d %s, want 404", c.method, c.path, status, b)
		}
	}
	if status, _, b := f.api("POST", "/api/v1/verification-sessions/vs_unknown/cancel", "", ""); status != 404 {
		t.Errorf("cancel of an unknown session: %d %s, want 404", status, b)
	}
}

// TestJobWebhookOnlyForClientsThatAskForIt: a job started through the API by
// a client with job webhooks has its outcome notified once stored; one
// started by a client without is not.
func TestJobWebhookOnlyForClientsThatAskForIt(t *testing.T) {
	t.Parallel()
	var (
		mu  sync.Mutex
		got []string
	)
	f := setupClients(t, func(o *proofline.Outcome) {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, o.ResultID)
	})
	start := func(key string) string {
		t.Helper()
		status, _, b := f.apiAs(key, "POST", "/api/v1/proofing/address", "application/json", `{"applicant":{"phone":"7035550100"}}`)
		var st struct {
			ResultID string `json:"result_id"`
		}
		if status != 202 || json.Unmarshal([]byte(b), &st) != nil {
			t.Fatalf("start: %d %s", status, b)
		}
		if code := f.post(cb{id: st.ResultID, token: tokens[proofline.KindAddress], secret: f.claimed(f.envelope(st.ResultID))}); code != 204 {
			t.Fatalf("callback: %d", code)
		}
		return st.ResultID
	}
	notified := start(notifiedKey)
	start(apiKey)
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 1 || got[0] != notified {
		t.Fatalf("notified of %v, want only %s", got, notified)
	}
}
