package app_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/proofline/proofline/config"
	"github.com/proofline/proofline/internal/openapitest"
	"github.com/proofline/proofline/internal/webtest"
	"github.com/proofline/proofline/webhook/webhooktest"
)

// The verification sessions' part of the OpenAPI contract: the API calls
// go through the validating proxy like every other; the person's browser
// opens the one-time link through it too (the link is base_url's and
// documented) and then goes through the pages on the server directly (the
// pages are not part of the contract). Every webhook the server posts is
// validated against the document's webhooks: section.

// contractIDPKey is the key of the contract servers' API client with a
// webhook endpoint, PII and job webhooks.
const contractIDPKey = "contract-idp-key-0123456789"

// contractIDP adds the API client "contract-idp" to cfg, its webhooks going
// to the returned receiver. The plain contractKey stays a client of its own
// (no webhook, no PII).
func contractIDP(t *testing.T, cfg *config.Config) *webhooktest.Receiver {
	rcv := webhooktest.NewReceiver(t)
	cfg.APIClients = config.APIClients{{
		Name: "contract-idp", APIKeys: []string{contractIDPKey}, WebhookURL: rcv.URL,
		WebhookSecrets: []string{webhookSecret("c")}, IncludePII: true, JobWebhooks: true,
	}}
	cfg.WebhookInitialBackoffMS = 50
	return rcv
}

// contractWebhooks waits until rcv got every event of want, then validates
// every webhook it got against the document and records it in cov.
func contractWebhooks(t *testing.T, doc *openapitest.Doc, cov *openapitest.Coverage, rcv *webhooktest.Receiver, want ...string) {
	t.Helper()
	types := func(rs []webhooktest.Request) map[string]bool {
		seen := map[string]bool{}
		for _, r := range rs {
			var ev struct{ Type string }
			_ = json.Unmarshal(r.Body, &ev)
			seen[ev.Type] = true
		}
		return seen
	}
	got := rcv.WaitFor(t, 30*time.Second, "webhooks "+strings.Join(want, ", "), func(rs []webhooktest.Request) bool {
		seen := types(rs)
		for _, w := range want {
			if !seen[w] {
				return false
			}
		}
		return true
	})
	for _, r := range got {
		var ev struct{ Type string }
		_ = json.Unmarshal(r.Body, &ev)
		if err := doc.ValidateWebhook(context.Background(), ev.Type, r.Header, r.Body); err != nil {
			t.Errorf("webhook %s does not match the document: %v\n%s", ev.Type, err, r.Body)
			continue
		}
		cov.AddWebhook(ev.Type)
	}
}

// browser is a person's browser without JavaScript (webtest.Browser): it
// keeps cookies, follows redirects on the server's own origin only, and
// posts forms.
type browser struct {
	*webtest.Browser
	// Where the one-time link sent the browser (open).
	openedLocation string
}

func newBrowser(t *testing.T, direct string) *browser {
	b := webtest.New(t, direct)
	u, _ := url.Parse(direct)
	b.HTTP.CheckRedirect = func(req *http.Request, _ []*http.Request) error {
		if req.URL.Host != u.Host {
			return http.ErrUseLastResponse
		}
		return nil
	}
	return &browser{Browser: b}
}

// location is where the last answer redirected off the server's origin
// (the return_url), or "".
func (b *browser) location() string { return b.Resp.Header.Get("Location") }

// open opens a one-time link (through the proxy, not followed), then the
// page it sends the browser to, on the server. It returns the link's status.
func (b *browser) open(link string) int {
	b.T.Helper()
	b.Get(link)
	st := b.Status()
	b.openedLocation = b.location()
	if st == http.StatusSeeOther {
		b.Get(b.location())
	}
	return st
}

// waitPast reloads the waiting page, as its meta refresh does, until the
// flow moves on (to a page, or off the server to the return_url).
func (b *browser) waitPast() {
	b.T.Helper()
	for end := time.Now().Add(20 * time.Second); b.Path == "/verify/wait" && b.location() == ""; {
		if time.Now().After(end) {
			b.T.Fatal("still waiting")
		}
		time.Sleep(50 * time.Millisecond)
		b.Get("/verify/wait")
	}
}

// document does the document step as the page's script does (each image
// encrypted under one key, bound to capture and side, uploaded to the
// page's upload URL: base_url's, through the proxy), then waits past it.
func (b *browser) document(back string) {
	b.T.Helper()
	b.Document(map[string][]byte{"front": []byte("front photo"), "back": []byte(back)})
	b.waitPast()
}

// phone does the phone step.
func (b *browser) phone(number string) {
	b.T.Helper()
	if b.Path != "/verify/phone" {
		b.T.Fatalf("on %s, not the phone step", b.Path)
	}
	b.Post("/verify/phone", url.Values{"csrf_token": {b.CSRF()}, "phone": {number}})
	b.waitPast()
}

// backAt checks that the browser was sent to returnURL with the session id.
func (b *browser) backAt(returnURL, id string) {
	b.T.Helper()
	u, err := url.Parse(b.location())
	if err != nil || b.Status() != http.StatusSeeOther || !strings.HasPrefix(b.location(), returnURL) || u.Query().Get("verification_session_id") != id {
		b.T.Errorf("sent to %q (%d on %s), want %s with verification_session_id=%s", b.location(), b.Status(), b.Path, returnURL, id)
	}
}

// createSession creates a session and returns its id and link.
func (e *env) createSession(body map[string]any) (string, string) {
	e.t.Helper()
	r := e.do("POST", "/api/v1/verification-sessions", body)
	if r.status != http.StatusCreated {
		e.t.Fatalf("create session: %d %s", r.status, r.raw)
	}
	return r.body["id"].(string), r.body["url"].(string)
}

// sessionStatus reads a session and checks its status.
func (e *env) sessionStatus(id, want string) map[string]any {
	e.t.Helper()
	r := e.do("GET", "/api/v1/verification-sessions/"+id, nil)
	if r.status != 200 || r.body["status"] != want {
		e.t.Errorf("session %s: %d %s, want %s", id, r.status, r.raw, want)
	}
	return r.body
}

// contractSessions runs the sessions API through its successes and the
// errors a client can cause, and a person through two sessions.
func contractSessions(t *testing.T, e *env, p *openapitest.Proxy) {
	idp, plain := e.as(contractIDPKey), e.as(contractKey)
	back := e.base + "/back"

	// A session of the client with PII: document and phone, verified.
	id, link := idp.createSession(map[string]any{"person_id": "person-s1", "return_url": back + "?state=x",
		"steps": []string{"phone", "document"}, "locale": "es", "metadata": map[string]string{"ticket": "T-1"}})
	idp.sessionStatus(id, "created")
	b := newBrowser(t, p.Target())
	if st := b.open(link); st != http.StatusSeeOther || b.openedLocation != "/verify/document" {
		t.Fatalf("open the link: %d to %q", st, b.openedLocation)
	}
	idp.sessionStatus(id, "in_progress")
	if st := newBrowser(t, p.Target()).open(link); st != http.StatusGone {
		t.Errorf("the link a second time: %d", st)
	}
	if st := newBrowser(t, p.Target()).open(strings.Replace(link, "token=", "token=x", 1)); st != http.StatusNotFound {
		t.Errorf("a wrong token: %d", st)
	}
	b.document(contractDocumentYAML)
	b.phone("703-555-1212")
	b.backAt(back, id)
	v := idp.sessionStatus(id, "verified")
	res, _ := v["results"].(map[string]any)
	docStep, _ := res["document"].(map[string]any)
	phoneStep, _ := res["phone"].(map[string]any)
	if docStep["result"].(map[string]any)["pii_from_doc"] == nil || phoneStep["applicant"] == nil {
		t.Errorf("verified session of a client with include_pii: %v", v)
	}
	want(t, "cancel a verified session", idp.do("POST", "/api/v1/verification-sessions/"+id+"/cancel", nil), 409)
	want(t, "another client reads it", plain.do("GET", "/api/v1/verification-sessions/"+id, nil), 404)
	want(t, "another client cancels it", plain.do("POST", "/api/v1/verification-sessions/"+id+"/cancel", nil), 404)

	// A plain key's session (no PII): phone only, returning to base_url.
	id, link = plain.createSession(map[string]any{"person_id": "person-s2", "return_url": back, "steps": []string{"phone"}})
	b = newBrowser(t, p.Target())
	if st := b.open(link); st != http.StatusSeeOther || b.openedLocation != "/verify/phone" {
		t.Fatalf("open the phone-only link: %d to %q", st, b.openedLocation)
	}
	b.phone("703-555-1212")
	b.backAt(back, id)
	v = plain.sessionStatus(id, "verified")
	res, _ = v["results"].(map[string]any)
	if ph, _ := res["phone"].(map[string]any); len(res) != 1 || ph["applicant"] != nil || ph["result"] == nil {
		t.Errorf("verified session without include_pii: %v", v)
	}

	// Canceled, then again.
	id, _ = idp.createSession(map[string]any{"person_id": "person-s3", "return_url": back})
	if r := idp.do("POST", "/api/v1/verification-sessions/"+id+"/cancel", nil); r.status != 200 || r.body["status"] != "canceled" {
		t.Errorf("cancel: %d %s", r.status, r.raw)
	}
	idp.sessionStatus(id, "canceled")
	want(t, "cancel twice", idp.do("POST", "/api/v1/verification-sessions/"+id+"/cancel", nil), 409)

	// A job the client with job webhooks starts.
	idp.wait(idp.start("address", map[string]any{"applicant": map[string]any{"phone": "7035551212"}}))

	// Errors a client can cause.
	const sessions = "/api/v1/verification-sessions"
	good := map[string]any{"person_id": "p", "return_url": back}
	unknown := sessions + "/vs_00000000000000000000000000000000"
	want(t, "create without a key", e.do("POST", sessions, good, with(invalid, "Authorization", "")...), 401)
	want(t, "create with a wrong key", e.do("POST", sessions, good, "Authorization", "Bearer wrong-key-0123456789"), 401)
	want(t, "read without a key", e.do("GET", unknown, nil, with(invalid, "Authorization", "")...), 401)
	want(t, "cancel with a wrong key", e.do("POST", unknown+"/cancel", nil, "Authorization", "Bearer wrong-key-0123456789"), 401)
	want(t, "read an unknown session", idp.do("GET", unknown, nil), 404)
	want(t, "cancel an unknown session", idp.do("POST", unknown+"/cancel", nil), 404)
	want(t, "create as text", idp.do("POST", sessions, good, with(invalid, "Content-Type", "text/plain")...), 415)
	want(t, "create oversized", idp.do("POST", sessions, map[string]any{"person_id": "p", "return_url": back,
		"metadata": map[string]string{"note": strings.Repeat("a", 70<<10)}}, invalid...), 413)
	want(t, "create not JSON", idp.do("POST", sessions, `{"person_id": `, invalid...), 400)
	for field, c := range map[string]struct {
		body    map[string]any
		invalid bool // against the document too
	}{
		"person_id":  {map[string]any{"return_url": back}, true},
		"return_url": {map[string]any{"person_id": "p", "return_url": "https://elsewhere.example/back"}, false},
		"steps":      {map[string]any{"person_id": "p", "return_url": back, "steps": []string{"selfie"}}, true},
		"locale":     {map[string]any{"person_id": "p", "return_url": back, "locale": "english please"}, true},
		"metadata":   {map[string]any{"person_id": "p", "return_url": back, "metadata": map[string]string{"ok": "a\nb"}}, false},
	} {
		var hdr []string
		if c.invalid {
			hdr = invalid
		}
		if r := idp.do("POST", sessions, c.body, hdr...); r.status != 400 || fieldError(r, field) == "" {
			t.Errorf("create with a bad %s: %d %s", field, r.status, r.raw)
		}
	}
}
