package web_test

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/proofline/proofline/config"

	"github.com/proofline/proofline/server/web"
)

// client is a browser without JavaScript: it follows redirects, keeps
// cookies, posts forms and follows <meta http-equiv=refresh> by reloading.
type client struct {
	t    *testing.T
	e    *env
	http *http.Client
	// last page
	path string
	body string
	resp *http.Response
}

func newClient(t *testing.T, e *env) *client {
	jar, _ := cookiejar.New(nil)
	return &client{t: t, e: e, http: &http.Client{Jar: jar, Timeout: 20 * time.Second}}
}

func (c *client) do(req *http.Request) {
	c.t.Helper()
	resp, err := c.http.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	c.resp, c.body, c.path = resp, string(b), resp.Request.URL.Path
}

func (c *client) get(p string) {
	c.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, c.e.base+p, nil)
	c.do(req)
}

func (c *client) post(p string, form url.Values) {
	c.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, c.e.base+p, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	c.do(req)
}

var csrfRE = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)

func (c *client) csrf() string {
	c.t.Helper()
	m := csrfRE.FindStringSubmatch(c.body)
	if m == nil {
		c.t.Fatalf("no csrf token on %s", c.path)
	}
	return m[1]
}

func (c *client) field(name string) string {
	m := regexp.MustCompile(`name="` + name + `" value="([^"]*)"`).FindStringSubmatch(c.body)
	if m == nil {
		return ""
	}
	return html.UnescapeString(m[1])
}

// waitPast reloads the waiting page, as its meta refresh does, until the
// flow moves on.
func (c *client) waitPast() {
	c.t.Helper()
	deadline := time.Now().Add(waitLimit)
	for c.path == "/verify/wait" {
		if !strings.Contains(c.body, `http-equiv="refresh"`) {
			c.t.Fatal("waiting page without a meta refresh")
		}
		if time.Now().After(deadline) {
			c.t.Fatal("still waiting")
		}
		time.Sleep(50 * time.Millisecond) // the meta refresh, shortened
		c.get("/verify/wait")
	}
}

// capture asks for the document page's capture as app.js does when the
// first photo is chosen.
func (c *client) capture() (id string, uploads map[string]struct{ URL, Method, ObjectURL string }) {
	c.t.Helper()
	c.post("/verify/capture", url.Values{"csrf_token": {c.csrf()}})
	var out struct {
		CaptureID string `json:"capture_id"`
		Uploads   map[string]struct {
			URL       string `json:"url"`
			Method    string `json:"method"`
			ObjectURL string `json:"object_url"`
		} `json:"uploads"`
	}
	if c.resp.StatusCode != http.StatusOK || json.Unmarshal([]byte(c.body), &out) != nil || out.CaptureID == "" {
		c.t.Fatalf("capture: %d %s", c.resp.StatusCode, c.body)
	}
	uploads = map[string]struct{ URL, Method, ObjectURL string }{}
	for side, u := range out.Uploads {
		uploads[side] = struct{ URL, Method, ObjectURL string }{u.URL, u.Method, u.ObjectURL}
	}
	return out.CaptureID, uploads
}

// document does the capture step the way app.js does it, in Go.
func (c *client) document(back []byte) {
	c.t.Helper()
	if c.path != "/verify/document" {
		c.t.Fatalf("on %s", c.path)
	}
	page := c.body
	form := url.Values{"csrf_token": {c.csrf()}}
	captureID, uploads := c.capture()
	c.body = page
	form.Set("capture_id", captureID)
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	form.Set("encryption_key", base64.StdEncoding.EncodeToString(key))
	block, _ := aes.NewCipher(key)
	gcm, _ := cipher.NewGCM(block)
	images := map[string][]byte{"front": testPNG(c.t, 3), "back": back}
	for side, up := range uploads {
		iv := make([]byte, 12)
		_, _ = rand.Read(iv)
		var aad []byte // what the browser binds each image to
		if web.BindImageAAD {
			aad = web.ImageAAD(captureID, side)
		}
		req, _ := http.NewRequest(http.MethodPut, up.URL, bytes.NewReader(gcm.Seal(nil, iv, images[side], aad)))
		req.Header.Set("Content-Type", "application/octet-stream")
		resp, err := c.http.Do(req)
		if err != nil || resp.StatusCode != http.StatusNoContent {
			c.t.Fatalf("upload %s: %v %v", side, err, resp)
		}
		resp.Body.Close()
		form.Set(side+"_image_url", up.ObjectURL)
		form.Set(side+"_image_iv", base64.StdEncoding.EncodeToString(iv))
	}
	c.post("/verify/document", form)
}

// TestNoJavaScriptInformationAndPhone runs the information and phone steps
// with plain form posts and meta refresh.
func TestNoJavaScriptInformationAndPhone(t *testing.T) {
	t.Parallel()
	e := start(t, nil)
	c := newClient(t, e)
	c.get("/")
	c.post("/verify/start", url.Values{"csrf_token": {c.csrf()}})
	c.document([]byte(susanYAML))
	c.waitPast()
	if c.path != "/verify/info" || !strings.Contains(c.body, `<dd id="doc-first_name">SUSAN</dd>`) || c.field("zipcode") != "59010" {
		t.Fatalf("on %s, the ID's facts and address are not shown", c.path)
	}

	// A validation error re-renders the form (400) with the values kept.
	f := addressForm(c, "12-34")
	f.Set("address1", "9 ELM ST")
	c.post("/verify/info", f)
	if c.resp.StatusCode != http.StatusBadRequest || !strings.Contains(c.body, `id="ssn-error"`) || c.field("address1") != "9 ELM ST" {
		t.Fatalf("bad ssn: %d on %s", c.resp.StatusCode, c.path)
	}
	if c.field("ssn") != "" || strings.Contains(c.body, "12-34") {
		t.Error("the refused SSN went back into the page")
	}
	// A vendor exception: "could not reach the service", not counted; Try again.
	c.post("/verify/info", addressForm(c, "000-00-0000"))
	c.waitPast()
	if c.path != "/verify/error" || !strings.Contains(c.body, `id="service-error"`) {
		t.Fatalf("exception: on %s", c.path)
	}
	c.post("/verify/retry", url.Values{"csrf_token": {c.csrf()}})
	if c.path != "/verify/info" || c.field("address1") != "9 ELM ST" {
		t.Fatalf("retry after exception: on %s, address not kept", c.path)
	}
	// The SSN never goes back into HTML: the person enters it again.
	if c.field("ssn") != "" || strings.Contains(c.body, "000-00-0000") {
		t.Fatal("retry after exception: the SSN came back into the page")
	}
	// The person's own address is the one resolution checks: a ZIP code the
	// vendor cannot verify fails there.
	f = addressForm(c, "123-45-6789")
	f.Set("zipcode", "00000")
	c.post("/verify/info", f)
	c.waitPast()
	if c.path != "/verify/info" || !strings.Contains(c.body, "Unverified ZIP code.") {
		t.Fatalf("unverifiable residential ZIP code: on %s", c.path)
	}
	if c.field("zipcode") != "00000" {
		t.Errorf("after the failure the form shows ZIP code %q, not the one sent", c.field("zipcode"))
	}
	f = addressForm(c, "123-45-6789")
	f.Set("zipcode", "59010")
	c.post("/verify/info", f)
	c.waitPast()
	if c.path != "/verify/phone" {
		t.Fatalf("after info: on %s", c.path)
	}
	c.post("/verify/phone", url.Values{"csrf_token": {c.csrf()}, "phone": {"7035555555"}})
	c.waitPast()
	if c.path != "/verify/phone" || !strings.Contains(c.body, `id="phone-error"`) {
		t.Fatalf("unverified phone: on %s", c.path)
	}
	c.post("/verify/phone", url.Values{"csrf_token": {c.csrf()}, "phone": {"(703) 555-1212"}})
	c.waitPast()
	if c.path != "/verify/done" || !strings.Contains(c.body, "•••-••-6789") || strings.Contains(c.body, "123-45-6789") {
		t.Fatalf("done: on %s", c.path)
	}
	e.noPIIInURLsOrLogs("SUSAN", "SMITH", "123-45-6789", "7035551212", "7035555555")
}

func TestSecurity(t *testing.T) {
	t.Parallel()
	// Vendors answer after 300 ms so that a waiting page (with its result
	// id) is shown.
	e := startWith(t, func(c *config.Config) { c.IDVMaxAttempts = 2 }, measureLatency)
	c := newClient(t, e)
	c.get("/")
	h := c.resp.Header
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
	if strings.Contains(cspv, "unsafe-inline") || strings.Contains(c.body, "<script>") || strings.Contains(c.body, "style=") {
		t.Error("inline script or style")
	}
	sc := c.resp.Header.Get("Set-Cookie")
	for _, want := range []string{"HttpOnly", "SameSite=Strict", "Path=/"} {
		if !strings.Contains(sc, want) {
			t.Errorf("cookie %q lacks %s", sc, want)
		}
	}
	if len(sc) > 4000 {
		t.Errorf("cookie is %d bytes", len(sc))
	}

	// No or a wrong CSRF token, or a cross-site post: 403.
	c.post("/verify/start", url.Values{})
	if c.resp.StatusCode != http.StatusForbidden {
		t.Errorf("no token: %d", c.resp.StatusCode)
	}
	c.post("/verify/start", url.Values{"csrf_token": {"x"}})
	if c.resp.StatusCode != http.StatusForbidden {
		t.Errorf("bad token: %d", c.resp.StatusCode)
	}
	c.get("/")
	req, _ := http.NewRequest(http.MethodPost, e.base+"/verify/start", strings.NewReader("csrf_token="+url.QueryEscape(c.csrf())))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	c.do(req)
	if c.resp.StatusCode != http.StatusForbidden {
		t.Errorf("cross-site: %d", c.resp.StatusCode)
	}

	// The upload origin is in connect-src of the document page.
	c.get("/")
	c.post("/verify/start", url.Values{"csrf_token": {c.csrf()}})
	if !strings.Contains(c.resp.Header.Get("Content-Security-Policy"), "connect-src 'self' "+e.base) {
		t.Errorf("document CSP %q", c.resp.Header.Get("Content-Security-Policy"))
	}
	c.document([]byte("friendly_error: Blurry.\n"))
	// A result_id bound to another session, or none, is 404.
	other := newClient(t, e)
	other.get("/")
	other.post("/verify/start", url.Values{"csrf_token": {other.csrf()}})
	other.document([]byte(susanYAML))
	c.get("/verify/status/00000000000000000000000000000000")
	if c.resp.StatusCode != http.StatusNotFound {
		t.Errorf("unknown result id: %d", c.resp.StatusCode)
	}
	// The other session's result id is in its events URL; this session may not read it.
	m := regexp.MustCompile(`/verify/status/([0-9a-zA-Z_-]+)`).FindStringSubmatch(other.body)
	if m == nil {
		t.Fatalf("the other session is on %s, not waiting", other.path)
	}
	{
		c.get(m[0])
		if c.resp.StatusCode != http.StatusNotFound {
			t.Errorf("another session's result id: %d", c.resp.StatusCode)
		}
		c.get("/verify/events/" + m[1])
		if c.resp.StatusCode != http.StatusNotFound {
			t.Errorf("another session's events: %d", c.resp.StatusCode)
		}
	}

	// Failures are counted (timeouts and exceptions are not). Two failures
	// with idv_max_attempts 2: the limit page.
	c.get("/verify/wait")
	c.waitPast()
	if c.path != "/verify/document" || !strings.Contains(c.body, "We could not verify your ID from these photos.") {
		t.Fatalf("failed document: on %s", c.path)
	}
	c.document([]byte("friendly_error: Blurry.\n"))
	c.waitPast()
	if c.path != "/verify/limit" || c.resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("after 2 failures: %d on %s", c.resp.StatusCode, c.path)
	}
	c.get("/verify/document")
	if c.path != "/verify/limit" {
		t.Errorf("document page reachable past the limit: %s", c.path)
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
	f := url.Values{"csrf_token": {c.csrf()}, "ssn": {ssn}}
	for _, n := range []string{"address1", "address2", "city", "state", "zipcode"} {
		f.Set(n, c.field(n))
	}
	return f
}

// toDone drives an accepted information step on through the phone step and
// returns the summary the done page shows (or the page it stopped on).
func (c *client) toDone() string {
	c.t.Helper()
	c.waitPast()
	if c.path == "/verify/phone" {
		c.post("/verify/phone", url.Values{"csrf_token": {c.csrf()}, "phone": {"7035551212"}})
		c.waitPast()
	}
	if m := regexp.MustCompile(`(?s)<dl class="summary">(.*?)</dl>`).FindStringSubmatch(c.body); c.path == "/verify/done" && m != nil {
		return "done: " + regexp.MustCompile(`<[^>]+>`).ReplaceAllString(m[1], " ")
	}
	return c.path
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
	c.get("/")
	c.post("/verify/start", url.Values{"csrf_token": {c.csrf()}})
	c.document([]byte(badgerYAML))
	c.waitPast()
	if c.path != "/verify/info" {
		t.Fatalf("after the document: on %s", c.path)
	}
	forged := map[string]string{
		"first_name": "JANE", "middle_name": "X", "last_name": "DOE", "dob": "1970-01-01",
		"state_id_number": "D1234567", "state_id_jurisdiction": "VA", "state_id_type": "state_id_card",
	}
	try := func(name string, f url.Values) {
		t.Helper()
		c.post("/verify/info", f)
		if c.path != "/verify/info" || c.resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("forged %s accepted: %d on %s, then %s", name, c.resp.StatusCode, c.path, c.toDone())
		}
		if !strings.Contains(c.body, `id="general-error"`) || !strings.Contains(c.body, "does not match your ID") {
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
		if regexp.MustCompile(`<(input|select|textarea)[^>]*name="` + n + `"`).MatchString(c.body) {
			t.Errorf("the information page has an input for %s", n)
		}
	}
	for _, want := range []string{"BADGER", "BROCK", "1990-07-08", "987654321"} {
		if !strings.Contains(c.body, want) {
			t.Errorf("the information page does not show %q from the ID", want)
		}
	}

	// The honest post proofs BADGER, whom the vendor cannot verify.
	c.post("/verify/info", addressForm(c, "123-45-6789"))
	c.waitPast()
	if c.path != "/verify/info" || !strings.Contains(c.body, "Unverified first name.") {
		t.Fatalf("the ID's person: on %s, then %s", c.path, c.toDone())
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
		cl.get("/")
		cl.post("/verify/start", url.Values{"csrf_token": {cl.csrf()}})
		cl.document([]byte(c.back))
		cl.waitPast()
		if cl.path != "/verify/document" || !strings.Contains(cl.body, c.want) {
			t.Errorf("%s: on %s (%q not shown)", c.name, cl.path, c.want)
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
		cl.get("/")
		cl.post("/verify/start", url.Values{"csrf_token": {cl.csrf()}})
		cl.document([]byte(c.back))
		cl.waitPast()
		cl.post("/verify/info", addressForm(cl, "123-45-6789"))
		cl.waitPast()
		if cl.path != c.wantPath || !strings.Contains(cl.body, c.wantText) {
			t.Errorf("%s: on %s (want %s showing %q)", c.name, cl.path, c.wantPath, c.wantText)
		}
	}
}
