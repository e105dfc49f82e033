package web_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/proofline/proofline/config"
	"github.com/proofline/proofline/internal/redistest"
	"github.com/proofline/proofline/internal/webtest"
	"github.com/proofline/proofline/seal"
	"github.com/proofline/proofline/webhook/webhooktest"
)

// A real redis-server for the tests that run against both stores, started
// by the first of them and stopped when the package's tests end.
var (
	redisOnce sync.Once
	redisSrv  *redistest.Server
	redisErr  error
)

func redisURL(t *testing.T) string {
	t.Helper()
	redisOnce.Do(func() { redisSrv, redisErr = redistest.Start() })
	if redisErr != nil {
		t.Fatal(redisErr)
	}
	return redisSrv.URL()
}

func stopRedis() {
	if redisSrv != nil {
		redisSrv.Stop()
	}
}

// The IdP of these tests: one API client with a webhook endpoint.
const (
	idpKey   = "idp-api-key-0123456789abcdef"
	otherKey = "other-api-key-0123456789abcd"
)

// idp is the IdP back end of a test: its webhook receiver and secret, and
// the page people return to.
type idp struct {
	hooks  *webhooktest.Receiver
	secret string
	back   *httptest.Server
}

func newIDP(t *testing.T) *idp {
	t.Helper()
	back := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, "<!doctype html><title>IdP</title><p id=back>Back at the IdP: %s</p>", r.URL.Query().Get("verification_session_id"))
	}))
	t.Cleanup(back.Close)
	return &idp{hooks: webhooktest.NewReceiver(t), secret: "whsec_" + base64.StdEncoding.EncodeToString([]byte("idp-webhook-secret-0123456789abcdef")), back: back}
}

// hosted configures an IdP client (idpKey, webhooks, its return origin) and
// a plain key of another tenant (otherKey), on the memory store or Redis.
func (p *idp) hosted(t *testing.T, redis bool, more func(*config.Config)) func(*config.Config) {
	return func(c *config.Config) {
		c.APIClients = config.APIClients{{
			Name: "idp", APIKeys: []string{idpKey}, AllowedReturnOrigins: []string{p.back.URL},
			WebhookURL: p.hooks.URL, WebhookSecrets: []string{p.secret},
		}}
		c.APIKeys = []string{otherKey}
		c.WebhookInitialBackoffMS = 50
		if redis {
			k, _ := seal.Generate("k1")
			c.RedisURL = redisURL(t)
			c.RecordKeys = seal.FormatKeys(k)
			c.AttemptHashKey = base64.StdEncoding.EncodeToString(bytes.Repeat([]byte("a"), 32))
			c.SessionSecret = base64.StdEncoding.EncodeToString(bytes.Repeat([]byte("s"), 32))
			c.AddressProofResultLambdaToken = "address-token-aaaaaaaaaaaa"
			c.DocumentProofResultLambdaToken = "document-token-bbbbbbbbbbb"
			c.ResolutionProofResultLambdaToken = "resolution-token-ccccccccc"
		}
		if more != nil {
			more(c)
		}
	}
}

// api calls the JSON API with key.
func (e *env) api(key, method, path string, body any) (int, map[string]any) {
	e.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, e.base+path, rd)
	req.Header.Set("Authorization", "Bearer "+key)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

// session creates a verification session of the IdP for person and returns
// its id and one-time url.
func (e *env) session(p *idp, person string, extra map[string]any) (string, string) {
	e.t.Helper()
	body := map[string]any{"person_id": person, "return_url": p.back.URL + "/back?flow=1"}
	for k, v := range extra {
		body[k] = v
	}
	st, got := e.api(idpKey, "POST", "/api/v1/verification-sessions", body)
	if st != http.StatusCreated || got["status"] != "created" || got["id"] == nil || got["url"] == nil || got["expires_at"] == nil {
		e.t.Fatalf("create session: %d %v", st, got)
	}
	return got["id"].(string), got["url"].(string)
}

// open follows the one-time url with the client (its own cookies).
func (c *client) open(u string) {
	c.T.Helper()
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	c.Do(req)
}

// forStores runs f on the memory store and on Redis.
func forStores(t *testing.T, f func(t *testing.T, redis bool)) {
	for _, name := range []string{"memory", "redis"} {
		t.Run(name, func(t *testing.T) { f(t, name == "redis") })
	}
}

// TestBrowserHostedSession: an IdP creates a session; the person opens its
// one-time URL in a real browser and finishes every step; the browser is
// back at the IdP's return_url with the session id; the verified webhook
// arrives and verifies with the Standard Webhooks reference library; GET
// shows verified with the result of each step and no PII (the client did
// not ask for it). The link does not work twice, and the browser session is
// revoked at the end.
func TestBrowserHostedSession(t *testing.T) {
	forStores(t, func(t *testing.T, redis bool) {
		ctx := tab(t)
		p := newIDP(t)
		e := start(t, p.hosted(t, redis, nil))
		id, link := e.session(p, "person-"+fmt.Sprint(time.Now().UnixNano()), map[string]any{"locale": "es", "metadata": map[string]string{"ticket": "T-1"}})

		do(t, ctx, chromedp.Navigate(link))
		waitPath(t, ctx, "/verify/document")
		waitJS(t, ctx, `document.getElementById('capture').dataset.ready === '1'`)
		// The page takes images (and, with the mock vendor, its YAML).
		for side, f := range map[string]struct {
			name string
			b    []byte
		}{"front": {"front.png", testPNG(t, 1)}, "back": {"back.yaml", []byte(susanYAML)}} {
			do(t, ctx, chromedp.SetUploadFiles(chromedp.CSS("#"+side), []string{writeFile(t, f.name, f.b)}))
			waitJS(t, ctx, fmt.Sprintf(`document.getElementById('%s_image_url').value !== ''`, side))
		}
		do(t, ctx, chromedp.Click(chromedp.CSS("#submit")))
		submitInfo(t, ctx, "", "123-45-6789")
		waitPath(t, ctx, "/verify/phone")
		do(t, ctx, chromedp.SetValue(chromedp.CSS("#phone"), "703-555-1212"), chromedp.Click(chromedp.CSS("#submit")))
		waitJS(t, ctx, `location.pathname === '/back' && document.readyState === 'complete'`)
		href, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`location.href`))
		u, _ := url.Parse(href)
		if u.Query().Get("verification_session_id") != id || u.Query().Get("flow") != "1" || !strings.HasPrefix(href, p.back.URL) {
			t.Fatalf("back at %s, want the return_url with verification_session_id=%s", href, id)
		}

		got := p.hooks.WaitFor(t, waitLimit, "the verified webhook", func(r []webhooktest.Request) bool { return len(r) >= 1 })
		ev := webhooktest.Verify(t, p.secret, got[:1], false)
		var data struct {
			ID, Status, PersonID string
			Metadata             map[string]string
		}
		_ = json.Unmarshal(ev[0].Data, &data)
		if ev[0].Type != "verification_session.verified" || data.ID != id || data.Status != "verified" || data.Metadata["ticket"] != "T-1" {
			t.Errorf("webhook %s %s", ev[0].Type, ev[0].Data)
		}
		for _, pii := range []string{"SUSAN", "SMITH", "123-45-6789", "123456789", "7035551212", "1985-03-04"} {
			if bytes.Contains(got[0].Body, []byte(pii)) {
				t.Errorf("the webhook carries PII %q without include_pii", pii)
			}
		}

		st, view := e.api(idpKey, "GET", "/api/v1/verification-sessions/"+id, nil)
		results, _ := view["results"].(map[string]any)
		if st != 200 || view["status"] != "verified" || view["locale"] != "es" || len(results) != 3 {
			t.Fatalf("GET after the flow: %d %v", st, view)
		}
		for _, step := range []string{"document", "information", "phone"} {
			r, _ := results[step].(map[string]any)
			res, _ := r["result"].(map[string]any)
			if r["result_id"] == nil || res["success"] != true || res["pii_from_doc"] != nil || r["applicant"] != nil {
				t.Errorf("results.%s = %v", step, r)
			}
		}

		// The browser session ended with the flow: the pages start afresh.
		do(t, ctx, chromedp.Navigate(e.base+"/verify/info"))
		waitPath(t, ctx, "/")
		// The link works once.
		other := tab(t)
		do(t, other, chromedp.Navigate(link))
		waitJS(t, other, `!!document.getElementById('link-message')`)
		if msg := text(t, other, "#link-message"); !strings.Contains(msg, "already been used") {
			t.Errorf("reused link: %q", msg)
		}
		e.noPIIInURLsOrLogs("SUSAN", "SMITH", "123-45-6789", "7035551212")
	})
}

// TestHostedLinkOnceAndExpiry: the one-time link works once (a second use,
// from any browser, is 410); a wrong token is 404; a link not used before
// expires_at is 410 and the session reads expired, with its webhook.
func TestHostedLinkOnceAndExpiry(t *testing.T) {
	t.Parallel()
	forStores(t, func(t *testing.T, redis bool) {
		p := newIDP(t)
		e := start(t, p.hosted(t, redis, func(c *config.Config) { c.VerificationSessionLinkTTLSeconds = 1 }))
		id, link := e.session(p, "person-1", nil)

		u, _ := url.Parse(link)
		tok := u.Query().Get("token")
		bad := newClient(t, e)
		bad.open(strings.Replace(link, tok, tok[:len(tok)-2]+"xx", 1))
		if bad.Resp.StatusCode != http.StatusNotFound {
			t.Errorf("wrong token: %d", bad.Resp.StatusCode)
		}
		c := newClient(t, e)
		c.open(link)
		if c.Path != "/verify/document" {
			t.Fatalf("first use: on %s (%d)", c.Path, c.Resp.StatusCode)
		}
		if st, v := e.api(idpKey, "GET", "/api/v1/verification-sessions/"+id, nil); st != 200 || v["status"] != "in_progress" || v["started_at"] == nil {
			t.Errorf("after the link's use: %d %v", st, v)
		}
		for _, who := range []*client{newClient(t, e), c} {
			who.open(link)
			if who.Resp.StatusCode != http.StatusGone || !strings.Contains(who.Body, "already been used") {
				t.Errorf("second use: %d", who.Resp.StatusCode)
			}
		}

		late, lateLink := e.session(p, "person-2", nil)
		var view map[string]any
		end := time.Now().Add(waitLimit)
		for view["status"] != "expired" {
			if time.Now().After(end) {
				t.Fatalf("the unused session never expired: %v", view)
			}
			time.Sleep(50 * time.Millisecond)
			_, view = e.api(idpKey, "GET", "/api/v1/verification-sessions/"+late, nil)
		}
		c = newClient(t, e)
		c.open(lateLink)
		if c.Resp.StatusCode != http.StatusGone {
			t.Errorf("expired link: %d on %s", c.Resp.StatusCode, c.Path)
		}
		got := p.hooks.WaitFor(t, waitLimit, "the expired webhook", func(r []webhooktest.Request) bool {
			for _, x := range r {
				if bytes.Contains(x.Body, []byte(late)) {
					return true
				}
			}
			return false
		})
		for _, ev := range webhooktest.Verify(t, p.secret, got, false) {
			if strings.Contains(string(ev.Data), late) && ev.Type != "verification_session.expired" {
				t.Errorf("webhook for the unused session: %s", ev.Type)
			}
		}
	})
}

// TestHostedPerPersonLimitAcrossFreshCookies: attempt limits count the
// session's person_id. Each new session, in a browser with fresh cookies,
// is still the same person: with idv_max_attempts 2, two failed documents
// in two sessions leave a third session nothing to try; it fails
// (attempt_limit), the person is sent back, and the IdP is told. Another
// person is not limited.
func TestHostedPerPersonLimitAcrossFreshCookies(t *testing.T) {
	t.Parallel()
	forStores(t, func(t *testing.T, redis bool) {
		p := newIDP(t)
		e := start(t, p.hosted(t, redis, func(c *config.Config) {
			c.IDVMaxAttempts = 2
			c.IDVMaxAttemptsPerIP = 0
		}))
		person := "person-" + fmt.Sprint(time.Now().UnixNano())
		for i := range 2 {
			_, link := e.session(p, person, nil)
			c := newClient(t, e) // fresh cookies
			c.open(link)
			c.document([]byte("friendly_error: Blurry.\n"))
			c.waitPast()
			if c.Path != "/verify/document" || !strings.Contains(c.Body, "We could not verify your ID from these photos.") {
				t.Fatalf("failed document %d: on %s", i+1, c.Path)
			}
		}
		third, link := e.session(p, person, nil)
		c := newClient(t, e)
		c.open(link)
		if c.Path == "/verify/document" {
			c.document([]byte(susanYAML))
		}
		if !strings.HasPrefix(c.Resp.Request.URL.String(), p.back.URL+"/back") {
			t.Fatalf("third session of the same person: on %s (%d), want back at the IdP", c.Resp.Request.URL, c.Resp.StatusCode)
		}
		if st, v := e.api(idpKey, "GET", "/api/v1/verification-sessions/"+third, nil); st != 200 || v["status"] != "failed" || v["failure_reason"] != "attempt_limit" {
			t.Errorf("third session: %d %v", st, v)
		}
		got := p.hooks.WaitFor(t, waitLimit, "the failed webhook", func(r []webhooktest.Request) bool { return len(r) >= 1 })
		if ev := webhooktest.Verify(t, p.secret, got, false); ev[0].Type != "verification_session.failed" {
			t.Errorf("webhook %s", ev[0].Type)
		}

		_, link = e.session(p, person+"-other", nil)
		o := newClient(t, e)
		o.open(link)
		o.document([]byte(susanYAML))
		o.waitPast()
		if o.Path != "/verify/info" {
			t.Errorf("another person is limited too: on %s", o.Path)
		}
	})
}

// TestHostedCanceledMidFlow: the IdP cancels a session the person is in;
// the person's next step sends them back, nothing more is proofed, and the
// canceled webhook arrives.
func TestHostedCanceledMidFlow(t *testing.T) {
	t.Parallel()
	p := newIDP(t)
	e := start(t, p.hosted(t, false, nil))
	id, link := e.session(p, "person-c", nil)
	c := newClient(t, e)
	c.open(link)
	if st, v := e.api(idpKey, "POST", "/api/v1/verification-sessions/"+id+"/cancel", nil); st != 200 || v["status"] != "canceled" {
		t.Fatalf("cancel: %d %v", st, v)
	}
	if st, _ := e.api(idpKey, "POST", "/api/v1/verification-sessions/"+id+"/cancel", nil); st != http.StatusConflict {
		t.Errorf("second cancel: %d", st)
	}
	c.document([]byte(susanYAML))
	if !strings.HasPrefix(c.Resp.Request.URL.String(), p.back.URL+"/back") {
		t.Fatalf("after cancel: on %s", c.Resp.Request.URL)
	}
	got := p.hooks.WaitFor(t, waitLimit, "the canceled webhook", func(r []webhooktest.Request) bool { return len(r) >= 1 })
	if ev := webhooktest.Verify(t, p.secret, got, false); ev[0].Type != "verification_session.canceled" {
		t.Errorf("webhook %s", ev[0].Type)
	}
	e.mu.Lock()
	forms := len(e.docForms)
	e.mu.Unlock()
	if n := countCallbacks(e); forms != 1 || n != 0 {
		t.Errorf("a canceled session proofed: %d document callbacks", n)
	}
}

func countCallbacks(e *env) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := 0
	for k := range e.events {
		if strings.HasPrefix(k, "callback:") {
			n++
		}
	}
	return n
}

// TestSessionCookieIsOnlyAnIDAndIsRevoked: the cookie holds only the
// session's id; after "Start over" (and after the flow ends) the old
// cookie opens nothing, so a copied cookie does not outlive either.
func TestSessionCookieIsOnlyAnIDAndIsRevoked(t *testing.T) {
	t.Parallel()
	e := start(t, nil)
	c := newClient(t, e)
	c.Get("/")
	c.Post("/verify/start", url.Values{"csrf_token": {c.CSRF()}})
	c.document([]byte(susanYAML))
	c.waitPast()
	if c.Path != "/verify/info" {
		t.Fatalf("on %s", c.Path)
	}
	base, _ := url.Parse(e.base)
	var stolen *http.Cookie
	for _, ck := range c.HTTP.Jar.Cookies(base) {
		if ck.Name == "proofline_session" {
			stolen = ck
		}
	}
	if stolen == nil || len(stolen.Value) != 43 {
		t.Fatalf("session cookie %v: want a 43-character id", stolen)
	}
	replay := func(what string) {
		t.Helper()
		jar, _ := cookiejar.New(nil)
		jar.SetCookies(base, []*http.Cookie{{Name: stolen.Name, Value: stolen.Value, Path: "/"}})
		thief := &client{Browser: &webtest.Browser{T: t, HTTP: &http.Client{Jar: jar, Timeout: 20 * time.Second}, Base: e.base}, e: e}
		thief.Get("/verify/info")
		if thief.Path != "/" || strings.Contains(thief.Body, "SUSAN") {
			t.Errorf("%s: the old cookie still opens the session (on %s)", what, thief.Path)
		}
	}
	// Before: the copied cookie is the session.
	jar, _ := cookiejar.New(nil)
	jar.SetCookies(base, []*http.Cookie{stolen})
	same := &client{Browser: &webtest.Browser{T: t, HTTP: &http.Client{Jar: jar, Timeout: 20 * time.Second}, Base: e.base}, e: e}
	same.Get("/verify/info")
	if same.Path != "/verify/info" {
		t.Fatalf("the cookie does not name the session: on %s", same.Path)
	}
	c.Get("/")
	c.Post("/verify/start", url.Values{"csrf_token": {c.CSRF()}})
	if c.Path != "/verify/document" {
		t.Fatalf("start over: on %s", c.Path)
	}
	replay("after Start over")
}

// TestHostedSessionOutlivedSendsBack: a person who comes back after the
// session's lifetime is sent back to the IdP (the session reads expired, and
// the IdP is told), not to a fresh start page.
func TestHostedSessionOutlivedSendsBack(t *testing.T) {
	t.Parallel()
	p := newIDP(t)
	e := start(t, p.hosted(t, false, func(c *config.Config) { c.WebSessionLifetimeSeconds = 3 }))
	id, link := e.session(p, "person-late", nil)
	c := newClient(t, e)
	c.open(link)
	if c.Path != "/verify/document" {
		t.Fatalf("on %s", c.Path)
	}
	var view map[string]any
	end := time.Now().Add(waitLimit)
	for view["status"] != "expired" {
		if time.Now().After(end) {
			t.Fatalf("never expired: %v", view)
		}
		time.Sleep(50 * time.Millisecond)
		_, view = e.api(idpKey, "GET", "/api/v1/verification-sessions/"+id, nil)
	}
	c.Get("/verify/document")
	if !strings.HasPrefix(c.Resp.Request.URL.String(), p.back.URL+"/back") || c.Resp.Request.URL.Query().Get("verification_session_id") != id {
		t.Fatalf("after the lifetime: on %s", c.Resp.Request.URL)
	}
	got := p.hooks.WaitFor(t, waitLimit, "the expired webhook", func(r []webhooktest.Request) bool { return len(r) >= 1 })
	if ev := webhooktest.Verify(t, p.secret, got, false); ev[0].Type != "verification_session.expired" {
		t.Errorf("webhook %s", ev[0].Type)
	}
}
