package web_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/proofline/proofline/config"
	"github.com/proofline/proofline/internal/webtest"
)

// client is a browser without JavaScript (webtest.Browser) on e's server.
type client struct {
	*webtest.Browser
	e *env
}

func newClient(t *testing.T, e *env) *client {
	return &client{Browser: webtest.New(t, e.base), e: e}
}

// waitPast reloads the waiting page, as its meta refresh does, until the
// flow moves on.
func (c *client) waitPast() {
	c.T.Helper()
	c.WaitPast(waitLimit)
}

// document does the capture step the way app.js does it, in Go: a real
// PNG in front, back on the back (the mock vendor's YAML).
func (c *client) document(back []byte) {
	c.T.Helper()
	c.Document(map[string][]byte{"front": testPNG(c.T, 3), "back": back})
}

// TestNoJavaScriptInformationAndPhone runs the information and phone steps
// with plain form posts and meta refresh.
func TestNoJavaScriptInformationAndPhone(t *testing.T) {
	t.Parallel()
	e := start(t, nil)
	c := newClient(t, e)
	c.Get("/")
	c.Post("/verify/start", url.Values{"csrf_token": {c.CSRF()}})
	c.document([]byte(susanYAML))
	c.waitPast()
	if c.Path != "/verify/info" || !strings.Contains(c.Body, `<dd id="doc-first_name">SUSAN</dd>`) || c.Field("zipcode") != "59010" {
		t.Fatalf("on %s, the ID's facts and address are not shown", c.Path)
	}

	// A validation error re-renders the form (400) with the values kept.
	f := addressForm(c, "12-34")
	f.Set("address1", "9 ELM ST")
	c.Post("/verify/info", f)
	if c.Resp.StatusCode != http.StatusBadRequest || !strings.Contains(c.Body, `id="ssn-error"`) || c.Field("address1") != "9 ELM ST" {
		t.Fatalf("bad ssn: %d on %s", c.Resp.StatusCode, c.Path)
	}
	if c.Field("ssn") != "" || strings.Contains(c.Body, "12-34") {
		t.Error("the refused SSN went back into the page")
	}
	// A vendor exception: "could not reach the service", not counted; Try again.
	c.Post("/verify/info", addressForm(c, "000-00-0000"))
	c.waitPast()
	if c.Path != "/verify/error" || !strings.Contains(c.Body, `id="service-error"`) {
		t.Fatalf("exception: on %s", c.Path)
	}
	c.Post("/verify/retry", url.Values{"csrf_token": {c.CSRF()}})
	if c.Path != "/verify/info" || c.Field("address1") != "9 ELM ST" {
		t.Fatalf("retry after exception: on %s, address not kept", c.Path)
	}
	// The SSN never goes back into HTML: the person enters it again.
	if c.Field("ssn") != "" || strings.Contains(c.Body, "000-00-0000") {
		t.Fatal("retry after exception: the SSN came back into the page")
	}
	// The person's own address is the one resolution checks: a ZIP code the
	// vendor cannot verify fails there.
	f = addressForm(c, "123-45-6789")
	f.Set("zipcode", "00000")
	c.Post("/verify/info", f)
	c.waitPast()
	if c.Path != "/verify/info" || !strings.Contains(c.Body, "Unverified ZIP code.") {
		t.Fatalf("unverifiable residential ZIP code: on %s", c.Path)
	}
	if c.Field("zipcode") != "00000" {
		t.Errorf("after the failure the form shows ZIP code %q, not the one sent", c.Field("zipcode"))
	}
	f = addressForm(c, "123-45-6789")
	f.Set("zipcode", "59010")
	c.Post("/verify/info", f)
	c.waitPast()
	if c.Path != "/verify/phone" {
		t.Fatalf("after info: on %s", c.Path)
	}
	c.Post("/verify/phone", url.Values{"csrf_token": {c.CSRF()}, "phone": {"7035555555"}})
	c.waitPast()
	if c.Path != "/verify/phone" || !strings.Contains(c.Body, `id="phone-error"`) {
		t.Fatalf("unverified phone: on %s", c.Path)
	}
	c.Post("/verify/phone", url.Values{"csrf_token": {c.CSRF()}, "phone": {"(703) 555-1212"}})
	c.waitPast()
	if c.Path != "/verify/done" || !strings.Contains(c.Body, "•••-••-6789") || strings.Contains(c.Body, "123-45-6789") {
		t.Fatalf("done: on %s", c.Path)
	}
	e.noPIIInURLsOrLogs("SUSAN", "SMITH", "123-45-6789", "7035551212", "7035555555")
}

func TestSecurity(t *testing.T) {
	t.Parallel()
	// Vendors answer after 300 ms so that a waiting page (with its result
	// id) is shown.
	e := startWith(t, func(c *config.Config) { c.IDVMaxAttempts = 2 }, measureLatency)
	c := newClient(t, e)
	c.Get("/")
	h := c.Resp.Header
	for k, want := range map[string]string{
		"X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer", "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff",
	} {
		if h.Get(k) != want {
			t.Errorf("%s: %q, want %q", k, h.Get(k), want)
		}
	}
	cspv := h.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'none'", "script-src 'self'", "style-src 'self'", "frame-ancestors 'none'", "form-action 'self'"} {
		if !strings.Contains(cspv, want) {
			t.Errorf("CSP %q lacks %q", cspv, want)
		}
	}
	if strings.Contains(cspv, "unsafe-inline") || strings.Contains(c.Body, "<script>") || strings.Contains(c.Body, "style=") {
		t.Error("inline script or style")
	}
	sc := c.Resp.Header.Get("Set-Cookie")
	for _, want := range []string{"HttpOnly", "SameSite=Strict", "Path=/"} {
		if !strings.Contains(sc, want) {
			t.Errorf("cookie %q lacks %s", sc, want)
		}
	}
	if len(sc) > 4000 {
		t.Errorf("cookie is %d bytes", len(sc))
	}

	// No or a wrong CSRF token, or a cross-site post: 403.
	c.Post("/verify/start", url.Values{})
	if c.Resp.StatusCode != http.StatusForbidden {
		t.Errorf("no token: %d", c.Resp.StatusCode)
	}
	c.Post("/verify/start", url.Values{"csrf_token": {"x"}})
	if c.Resp.StatusCode != http.StatusForbidden {
		t.Errorf("bad token: %d", c.Resp.StatusCode)
	}
	c.Get("/")
	req, _ := http.NewRequest(http.MethodPost, e.base+"/verify/start", strings.NewReader("csrf_token="+url.QueryEscape(c.CSRF())))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	c.Do(req)
	if c.Resp.StatusCode != http.StatusForbidden {
		t.Errorf("cross-site: %d", c.Resp.StatusCode)
	}

	// The upload origin is in connect-src of the document page.
	c.Get("/")
	c.Post("/verify/start", url.Values{"csrf_token": {c.CSRF()}})
	if !strings.Contains(c.Resp.Header.Get("Content-Security-Policy"), "connect-src 'self' "+e.base) {
		t.Errorf("document CSP %q", c.Resp.Header.Get("Content-Security-Policy"))
	}
	c.document([]byte("friendly_error: Blurry.\n"))
	// A result_id bound to another session, or none, is 404.
	other := newClient(t, e)
	other.Get("/")
	other.Post("/verify/start", url.Values{"csrf_token": {other.CSRF()}})
	other.document([]byte(susanYAML))
	c.Get("/verify/status/00000000000000000000000000000000")
	if c.Resp.StatusCode != http.StatusNotFound {
		t.Errorf("unknown result id: %d", c.Resp.StatusCode)
	}
	// The other session's result id is in its events URL; this session may not read it.
	m := regexp.MustCompile(`/verify/status/([0-9a-zA-Z_-]+)`).FindStringSubmatch(other.Body)
	if m == nil {
		t.Fatalf("the other session is on %s, not waiting", other.Path)
	}
	{
		c.Get(m[0])
		if c.Resp.StatusCode != http.StatusNotFound {
			t.Errorf("another session's result id: %d", c.Resp.StatusCode)
		}
		c.Get("/verify/events/" + m[1])
		if c.Resp.StatusCode != http.StatusNotFound {
			t.Errorf("another session's events: %d", c.Resp.StatusCode)
		}
	}

	// Failures are counted (timeouts and exceptions are not). Two failures
	// with idv_max_attempts 2: the limit page.
	c.Get("/verify/wait")
	c.waitPast()
	if c.Path != "/verify/document" || !strings.Contains(c.Body, "We could not verify your ID from these photos.") {
		t.Fatalf("failed document: on %s", c.Path)
	}
	c.document([]byte("friendly_error: Blurry.\n"))
	c.waitPast()
	if c.Path != "/verify/limit" || c.Resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("after 2 failures: %d on %s", c.Resp.StatusCode, c.Path)
	}
	c.Get("/verify/document")
	if c.Path != "/verify/limit" {
		t.Errorf("document page reachable past the limit: %s", c.Path)
	}
}

// badgerYAML is an ID whose holder the resolution vendor cannot verify: the
// mock fails a first name containing "Bad".
const badgerYAML = `document:
  first_name: BADGER
  last_name: BROCK
  address1: 2 OAK ST
  city: HELENA
  state: MT
  zipcode: '59601'
  dob: '1990-07-08'
  state_id_number: '987654321'
  state_id_jurisdiction: MT
  state_id_type: drivers_license
`

// boundFields are the information the ID binds: never an input of the form.
var boundFields = []string{"first_name", "middle_name", "last_name", "dob", "state_id_number", "state_id_jurisdiction", "state_id_type"}

// addressForm is the information form as the page offers it: the address
// (as shown) and the SSN.
func addressForm(c *client, ssn string) url.Values {
	f := url.Values{"csrf_token": {c.CSRF()}, "ssn": {ssn}}
	for _, n := range []string{"address1", "address2", "city", "state", "zipcode"} {
		f.Set(n, c.Field(n))
	}
	return f
}

// toDone drives an accepted information step on through the phone step and
// returns the summary the done page shows (or the page it stopped on).
func (c *client) toDone() string {
	c.T.Helper()
	c.waitPast()
	if c.Path == "/verify/phone" {
		c.Post("/verify/phone", url.Values{"csrf_token": {c.CSRF()}, "phone": {"7035551212"}})
		c.waitPast()
	}
	if m := regexp.MustCompile(`(?s)<dl class="summary">(.*?)</dl>`).FindStringSubmatch(c.Body); c.Path == "/verify/done" && m != nil {
		return "done: " + regexp.MustCompile(`<[^>]+>`).ReplaceAllString(m[1], " ")
	}
	return c.Path
}

// TestNoJavaScriptForgedIdentityRefused: the ID says BADGER BROCK, whom the
// vendor cannot verify. Posting another person's name, date of birth or ID
// number (the page offers no input for them) is refused; the honest post
// proofs the ID's person and stops at the vendor's failure. The flow never
// reaches done.
func TestNoJavaScriptForgedIdentityRefused(t *testing.T) {
	t.Parallel()
	e := start(t, nil)
	c := newClient(t, e)
	c.Get("/")
	c.Post("/verify/start", url.Values{"csrf_token": {c.CSRF()}})
	c.document([]byte(badgerYAML))
	c.waitPast()
	if c.Path != "/verify/info" {
		t.Fatalf("after the document: on %s", c.Path)
	}
	forged := map[string]string{
		"first_name": "JANE", "middle_name": "X", "last_name": "DOE", "dob": "1970-01-01",
		"state_id_number": "D1234567", "state_id_jurisdiction": "VA", "state_id_type": "state_id_card",
	}
	try := func(name string, f url.Values) {
		t.Helper()
		c.Post("/verify/info", f)
		if c.Path != "/verify/info" || c.Resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("forged %s accepted: %d on %s, then %s", name, c.Resp.StatusCode, c.Path, c.toDone())
		}
		if !strings.Contains(c.Body, `id="general-error"`) || !strings.Contains(c.Body, "does not match your ID") {
			t.Errorf("forged %s: the refusal does not say why", name)
		}
	}
	all := addressForm(c, "123-45-6789")
	for _, n := range boundFields {
		f := addressForm(c, "123-45-6789")
		f.Set(n, forged[n])
		try(n, f)
		all.Set(n, forged[n])
	}
	try("identity", all)

	// The page shows what the ID says, with no input for it.
	for _, n := range boundFields {
		if regexp.MustCompile(`<(input|select|textarea)[^>]*name="` + n + `"`).MatchString(c.Body) {
			t.Errorf("the information page has an input for %s", n)
		}
	}
	for _, want := range []string{"BADGER", "BROCK", "1990-07-08", "987654321"} {
		if !strings.Contains(c.Body, want) {
			t.Errorf("the information page does not show %q from the ID", want)
		}
	}

	// The honest post proofs BADGER, whom the vendor cannot verify.
	c.Post("/verify/info", addressForm(c, "123-45-6789"))
	c.waitPast()
	if c.Path != "/verify/info" || !strings.Contains(c.Body, "Unverified first name.") {
		t.Fatalf("the ID's person: on %s, then %s", c.Path, c.toDone())
	}
}

// TestNoJavaScriptDocumentMustCarryIdentity: an ID the vendor read without a
// date of birth, or one that expired, is a failed document: the person stays
// on the document step with the reason.
func TestNoJavaScriptDocumentMustCarryIdentity(t *testing.T) {
	t.Parallel()
	e := start(t, nil)
	for _, c := range []struct{ name, back, want string }{
		{"no date of birth", strings.Replace(susanYAML, "  dob: '1985-03-04'\n", "", 1), "date of birth"},
		{"expired", susanYAML + "  state_id_expiration: '2020-01-31'\n", "Your ID has expired"},
	} {
		cl := newClient(t, e)
		cl.Get("/")
		cl.Post("/verify/start", url.Values{"csrf_token": {cl.CSRF()}})
		cl.document([]byte(c.back))
		cl.waitPast()
		if cl.Path != "/verify/document" || !strings.Contains(cl.Body, c.want) {
			t.Errorf("%s: on %s (%q not shown)", c.name, cl.Path, c.want)
		}
	}
}

// TestNoJavaScriptDMVAfterDocument: after the document the state-ID (DMV)
// check runs whenever the ID's jurisdiction is one the DMV vendor supports:
// an ID number it cannot verify stops the information step. From a
// jurisdiction it does not support, there is no DMV check to fail.
func TestNoJavaScriptDMVAfterDocument(t *testing.T) {
	t.Parallel()
	e := start(t, nil)
	zeros := strings.Replace(susanYAML, "'123456789'", "'000000000'", 1)
	for _, c := range []struct{ name, back, wantPath, wantText string }{
		{"supported jurisdiction", zeros, "/verify/info", "The state ID number could not be verified."},
		{"unsupported jurisdiction", strings.Replace(zeros, "jurisdiction: MT", "jurisdiction: GU", 1), "/verify/phone", ""},
	} {
		cl := newClient(t, e)
		cl.Get("/")
		cl.Post("/verify/start", url.Values{"csrf_token": {cl.CSRF()}})
		cl.document([]byte(c.back))
		cl.waitPast()
		cl.Post("/verify/info", addressForm(cl, "123-45-6789"))
		cl.waitPast()
		if cl.Path != c.wantPath || !strings.Contains(cl.Body, c.wantText) {
			t.Errorf("%s: on %s (want %s showing %q)", c.name, cl.Path, c.wantPath, c.wantText)
		}
	}
}
