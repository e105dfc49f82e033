package app_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/proofline/proofline/config"
	"github.com/proofline/proofline/webhook/webhooktest"
)

const (
	keyA = "tenant-a-key-0123456789abcdef"
	keyB = "tenant-b-key-0123456789abcdef"
)

// as is e acting with another API key.
func (e *env) as(key string) *env {
	c := *e
	c.apiKey = key
	return &c
}

// metric reads one sample of /metrics (0 when absent).
func (e *env) metric(name string) float64 {
	e.t.Helper()
	r, err := e.http.Get(e.metrics)
	if err != nil {
		e.t.Fatal(err)
	}
	defer r.Body.Close()
	sc := bufio.NewScanner(r.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			f, _ := strconv.ParseFloat(v, 64)
			return f
		}
	}
	return 0
}

func webhookSecret(seed string) string {
	return "whsec_" + base64.StdEncoding.EncodeToString([]byte(strings.Repeat(seed, 32)[:32]))
}

// TestTenancy: key B gets 404 for everything key A created: A's result
// (read, long poll, delete), A's capture (a document start on it, which
// leaves A's images alone), A's verification session (read, cancel); and
// A's document result binds nothing for B (refused exactly as an unknown
// id, and not used up). A still has all of it.
func TestTenancy(t *testing.T) {
	stores(t, func(t *testing.T, o opts) {
		e := startConfigured(t, o, func(c *config.Config) { c.APIKeys = []string{keyA, keyB} })
		a, b := e.as(keyA), e.as(keyB)

		id := a.start("resolution", map[string]any{"applicant": applicant()})
		a.waitOutcome(id, 10*time.Second)
		for _, r := range []resp{b.do("GET", "/api/v1/proofing/"+id, nil), b.do("GET", "/api/v1/proofing/"+id+"?wait=1", nil), b.do("DELETE", "/api/v1/proofing/"+id, nil)} {
			if r.status != http.StatusNotFound {
				t.Errorf("key B on A's result: %d %s", r.status, r.raw)
			}
		}
		if r := a.do("GET", "/api/v1/proofing/"+id, nil); r.status != 200 || r.body["status"] != "done" {
			t.Fatalf("A's result after B's delete: %d %s", r.status, r.raw)
		}

		req, _ := a.capture([]byte("front image bytes"), []byte(susanDoc))
		files := countFiles(t, e.dataDir)
		if r := b.do("POST", "/api/v1/proofing/document", req); r.status != http.StatusNotFound {
			t.Errorf("key B starting A's capture: %d %s", r.status, r.raw)
		}
		if n := countFiles(t, e.dataDir); n != files || n == 0 {
			t.Fatalf("B's refused start removed A's images: %d files, then %d", files, n)
		}
		doc := a.start("document", req)
		if out := a.waitOutcome(doc, 10*time.Second); out["status"] != "done" || out["result"].(map[string]any)["success"] != true {
			t.Fatalf("A's document after B's attempt: %v", out)
		}

		unknown := b.do("POST", "/api/v1/proofing/resolution", bound("AAAAAAAAAAAAAAAAAAAAAA"))
		theirs := b.do("POST", "/api/v1/proofing/resolution", bound(doc))
		if theirs.status != unknown.status || fieldError(theirs, "document_result_id") == "" || fieldError(theirs, "document_result_id") != fieldError(unknown, "document_result_id") {
			t.Errorf("key B binding A's document: %d %s; an unknown id: %d %s", theirs.status, theirs.raw, unknown.status, unknown.raw)
		}
		if res := a.proof("resolution", bound(doc)); res["success"] != true {
			t.Errorf("A's document no longer binds A's resolution: %v", res)
		}

		r := a.do("POST", "/api/v1/verification-sessions", map[string]any{"person_id": "p1", "return_url": e.base + "/"})
		if r.status != http.StatusCreated {
			t.Fatalf("create: %d %s", r.status, r.raw)
		}
		sid := r.body["id"].(string)
		for _, r := range []resp{b.do("GET", "/api/v1/verification-sessions/"+sid, nil), b.do("POST", "/api/v1/verification-sessions/"+sid+"/cancel", nil)} {
			if r.status != http.StatusNotFound {
				t.Errorf("key B on A's session: %d %s", r.status, r.raw)
			}
		}
		if r := a.do("GET", "/api/v1/verification-sessions/"+sid, nil); r.status != 200 || r.body["status"] != "created" {
			t.Errorf("A's session after B's cancel: %d %s", r.status, r.raw)
		}
	})
}

// TestVerificationSessionAPI: the contract of POST, GET and cancel.
func TestVerificationSessionAPI(t *testing.T) {
	stores(t, func(t *testing.T, o opts) {
		e := startConfigured(t, o, func(c *config.Config) {
			c.APIKeys = []string{keyA}
			c.VerificationSessionLinkTTLSeconds = 600
		})
		e = e.as(keyA)
		before := time.Now()
		r := e.do("POST", "/api/v1/verification-sessions", map[string]any{
			"person_id": "user-42", "return_url": e.base + "/done?x=1", "steps": []string{"phone", "document"},
			"locale": "fr-CA", "metadata": map[string]string{"ticket": "T-1"},
		})
		if r.status != http.StatusCreated || len(r.body) != 4 {
			t.Fatalf("create: %d %s", r.status, r.raw)
		}
		id, _ := r.body["id"].(string)
		exp, _ := time.Parse(time.RFC3339, r.body["expires_at"].(string))
		if !strings.HasPrefix(id, "vs_") || r.body["status"] != "created" || r.header.Get("Location") != "/api/v1/verification-sessions/"+id ||
			!strings.HasPrefix(r.body["url"].(string), e.base+"/verify/session/"+id+"?token=") ||
			exp.Before(before.Add(599*time.Second)) || exp.After(time.Now().Add(601*time.Second)) {
			t.Fatalf("create answer %s (Location %q)", r.raw, r.header.Get("Location"))
		}
		g := e.do("GET", "/api/v1/verification-sessions/"+id, nil)
		steps, _ := g.body["steps"].([]any)
		md, _ := g.body["metadata"].(map[string]any)
		if g.status != 200 || g.body["status"] != "created" || g.body["person_id"] != "user-42" || g.body["locale"] != "fr-CA" ||
			len(steps) != 2 || steps[0] != "document" || steps[1] != "phone" || md["ticket"] != "T-1" || g.body["results"] != nil ||
			g.body["return_url"] != e.base+"/done?x=1" || g.body["url"] != nil || g.header.Get("Cache-Control") != "no-store" {
			t.Fatalf("GET: %d %s", g.status, g.raw)
		}
		if strings.Contains(string(g.raw), "token") {
			t.Error("GET shows the link's token")
		}

		for _, c := range []struct {
			field string
			body  map[string]any
		}{
			{"person_id", map[string]any{"return_url": e.base + "/"}},
			{"person_id", map[string]any{"person_id": "a\nb", "return_url": e.base + "/"}},
			{"return_url", map[string]any{"person_id": "p"}},
			{"return_url", map[string]any{"person_id": "p", "return_url": "https://elsewhere.example/"}},
			{"return_url", map[string]any{"person_id": "p", "return_url": "/relative"}},
			{"return_url", map[string]any{"person_id": "p", "return_url": strings.Replace(e.base, "http://", "http://user:pw@", 1) + "/"}},
			{"steps", map[string]any{"person_id": "p", "return_url": e.base + "/", "steps": []string{"selfie"}}},
			{"steps", map[string]any{"person_id": "p", "return_url": e.base + "/", "steps": []string{}}},
			{"steps", map[string]any{"person_id": "p", "return_url": e.base + "/", "steps": []string{"phone", "phone"}}},
			{"locale", map[string]any{"person_id": "p", "return_url": e.base + "/", "locale": "english please"}},
			{"metadata", map[string]any{"person_id": "p", "return_url": e.base + "/", "metadata": map[string]string{"bad key!": "v"}}},
		} {
			if r := e.do("POST", "/api/v1/verification-sessions", c.body); r.status != 400 || fieldError(r, c.field) == "" {
				t.Errorf("%v: %d %s, want 400 on %s", c.body, r.status, r.raw, c.field)
			}
		}
		if r := e.do("POST", "/api/v1/verification-sessions", map[string]any{"person_id": "p", "return_url": e.base}, "Authorization", "Bearer not-a-key-0123456789"); r.status != 401 {
			t.Errorf("bad key: %d", r.status)
		}
		if r := e.do("GET", "/api/v1/verification-sessions/vs_00000000000000000000000000000000", nil); r.status != 404 {
			t.Errorf("unknown session: %d", r.status)
		}
		c := e.do("POST", "/api/v1/verification-sessions/"+id+"/cancel", nil)
		if c.status != 200 || c.body["status"] != "canceled" || c.body["ended_at"] == nil {
			t.Fatalf("cancel: %d %s", c.status, c.raw)
		}
		if c := e.do("POST", "/api/v1/verification-sessions/"+id+"/cancel", nil); c.status != http.StatusConflict {
			t.Errorf("second cancel: %d %s", c.status, c.raw)
		}
	})
}

// hostedConfig adds an API client "idp" (keyA) whose webhooks go to rcv,
// signed with secret.
func hostedConfig(rcv *webhooktest.Receiver, secrets []string, mut func(*config.APIClient)) func(*config.Config) {
	return func(c *config.Config) {
		c.APIKeys = nil
		cl := config.APIClient{Name: "idp", APIKeys: []string{keyA}, WebhookURL: rcv.URL, WebhookSecrets: secrets}
		if mut != nil {
			mut(&cl)
		}
		c.APIClients = config.APIClients{cl}
		c.WebhookInitialBackoffMS = 50
	}
}

// TestWebhookRetriedUntilDelivered: the IdP's endpoint fails twice; the
// third attempt delivers the webhook. Every attempt has the same webhook-id
// and verifies with the reference library under both secrets of a rotation;
// the attempts are in the metrics.
func TestWebhookRetriedUntilDelivered(t *testing.T) {
	stores(t, func(t *testing.T, o opts) {
		rcv := webhooktest.NewReceiver(t)
		rcv.AnswerWith(func(n int) int {
			if n <= 2 {
				return http.StatusInternalServerError
			}
			return http.StatusNoContent
		})
		cur, old := webhookSecret("n"), webhookSecret("o")
		e := startConfigured(t, o, hostedConfig(rcv, []string{cur, old}, nil)).as(keyA)
		r := e.do("POST", "/api/v1/verification-sessions", map[string]any{"person_id": "p1", "return_url": e.base + "/"})
		id := r.body["id"].(string)
		if c := e.do("POST", "/api/v1/verification-sessions/"+id+"/cancel", nil); c.status != 200 {
			t.Fatalf("cancel: %d", c.status)
		}
		got := rcv.WaitFor(t, 20*time.Second, "three attempts", func(r []webhooktest.Request) bool { return len(r) >= 3 })
		for _, g := range got[1:] {
			if g.Header.Get("webhook-id") != got[0].Header.Get("webhook-id") {
				t.Error("a retry has another webhook-id")
			}
		}
		for _, secret := range []string{cur, old} {
			for _, ev := range webhooktest.Verify(t, secret, got, false) {
				if ev.Type != "verification_session.canceled" || !strings.Contains(string(ev.Data), id) {
					t.Errorf("event %s %s", ev.Type, ev.Data)
				}
			}
		}
		const m = `proofline_webhook_deliveries_total{event="verification_session.canceled",outcome=`
		end := time.Now().Add(10 * time.Second)
		for e.metric(m+`"delivered"}`) != 1 && time.Now().Before(end) {
			time.Sleep(20 * time.Millisecond)
		}
		if d, rt := e.metric(m+`"delivered"}`), e.metric(m+`"retry"}`); d != 1 || rt != 2 {
			t.Errorf("metrics: delivered %v, retry %v; want 1 and 2", d, rt)
		}
		if n := len(rcv.Requests()); n != 3 {
			t.Errorf("%d attempts", n)
		}
	})
}

// TestWebhookGivesUpAtItsAge: an endpoint that never answers 2xx gets
// retries, with doubling waits, until the next would come after the webhook
// is webhook_max_age_seconds old; then it is dropped and counted as expired,
// and every attempt made is counted.
func TestWebhookGivesUpAtItsAge(t *testing.T) {
	stores(t, func(t *testing.T, o opts) {
		rcv := webhooktest.NewReceiver(t)
		rcv.AnswerWith(func(int) int { return http.StatusServiceUnavailable })
		e := startConfigured(t, o, func(c *config.Config) {
			hostedConfig(rcv, []string{webhookSecret("s")}, nil)(c)
			c.WebhookMaxAgeSeconds = 1
			c.WebhookInitialBackoffMS = 100
		}).as(keyA)
		r := e.do("POST", "/api/v1/verification-sessions", map[string]any{"person_id": "p1", "return_url": e.base + "/"})
		e.do("POST", "/api/v1/verification-sessions/"+r.body["id"].(string)+"/cancel", nil)
		const m = `proofline_webhook_deliveries_total{event="verification_session.canceled",outcome=`
		end := time.Now().Add(20 * time.Second)
		for e.metric(m+`"expired"}`) != 1 {
			if time.Now().After(end) {
				t.Fatalf("never given up: %d attempts", len(rcv.Requests()))
			}
			time.Sleep(20 * time.Millisecond)
		}
		got := rcv.Requests()
		if len(got) < 2 || float64(len(got)) != e.metric(m+`"retry"}`)+1 {
			t.Fatalf("%d attempts, %v retries counted", len(got), e.metric(m+`"retry"}`))
		}
		// Waits of 100, 200, 400 ms (doubling) fit in the 1 s age; the next
		// (800 ms) would not: at most four attempts.
		if len(got) > 4 {
			t.Errorf("%d attempts within a 1 s age from a 100 ms backoff that doubles", len(got))
		}
	})
}

// TestJobWebhooks: a client with job_webhooks is told when each job it
// started is done (proofing_job.completed), with pii_from_doc only when it
// opted into PII; a client without job_webhooks is not.
func TestJobWebhooks(t *testing.T) {
	stores(t, func(t *testing.T, o opts) {
		for _, pii := range []bool{false, true} {
			rcv := webhooktest.NewReceiver(t)
			// The first attempt fails, so the webhook waits in the outbox.
			rcv.AnswerWith(func(n int) int { return map[bool]int{true: 500, false: 204}[n == 1] })
			secret := webhookSecret("j")
			e := startConfigured(t, o, hostedConfig(rcv, []string{secret}, func(c *config.APIClient) {
				c.JobWebhooks, c.IncludePII = true, pii
			})).as(keyA)
			doc := e.document(susanDoc)
			rcv.WaitFor(t, 10*time.Second, "the first attempt", func(r []webhooktest.Request) bool { return len(r) >= 1 })
			if o.redis {
				// Waiting for its retry, the webhook is sealed at rest, even
				// with the PII the client opted into.
				dump, err := redisSrv.Dump(context.Background())
				if err != nil {
					t.Fatal(err)
				}
				for k, v := range dump {
					for _, m := range []string{"Susan", "Smith", "123456789", "1985-03-04"} {
						if strings.Contains(k, m) || bytes.Contains(v, []byte(m)) {
							t.Errorf("redis %s holds %q in clear", k, m)
						}
					}
				}
			}
			got := rcv.WaitFor(t, 10*time.Second, "proofing_job.completed", func(r []webhooktest.Request) bool { return len(r) >= 2 })[1:]
			ev := webhooktest.Verify(t, secret, got, false)
			body := string(got[0].Body)
			if ev[0].Type != "proofing_job.completed" || !strings.Contains(body, `"result_id":"`+doc+`"`) || !strings.Contains(body, `"kind":"document"`) ||
				!strings.Contains(body, `"status":"done"`) || !strings.Contains(body, `"success":true`) {
				t.Errorf("include_pii %v: %s", pii, body)
			}
			if hasPII := strings.Contains(body, "pii_from_doc") || strings.Contains(body, "Susan"); hasPII != pii {
				t.Errorf("include_pii %v: the webhook carries PII: %v", pii, hasPII)
			}
		}
		rcv := webhooktest.NewReceiver(t)
		e := startConfigured(t, o, hostedConfig(rcv, []string{webhookSecret("k")}, nil)).as(keyA)
		e.proof("resolution", map[string]any{"applicant": applicant()})
		r := e.do("POST", "/api/v1/verification-sessions", map[string]any{"person_id": "p", "return_url": e.base + "/"})
		e.do("POST", "/api/v1/verification-sessions/"+r.body["id"].(string)+"/cancel", nil)
		got := rcv.WaitFor(t, 10*time.Second, "the canceled webhook", func(r []webhooktest.Request) bool { return len(r) >= 1 })
		for _, g := range got {
			if strings.Contains(string(g.Body), "proofing_job.completed") {
				t.Error("a client without job_webhooks got proofing_job.completed")
			}
		}
	})
}
