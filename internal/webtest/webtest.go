// Package webtest drives proofline's pages the way a browser without
// JavaScript does (and, for the document step, the way the page's script
// does it, in Go): it follows redirects, keeps cookies, posts forms with the
// page's CSRF token, reloads a waiting page as its meta refresh asks, and
// encrypts and uploads the ID images before posting the document form.
// Tests of several packages drive the pages through it.
package webtest

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

	"github.com/proofline/proofline/server/web"
)

// Browser is one person's browser. Its fields describe the last page.
type Browser struct {
	T    testing.TB
	HTTP *http.Client
	// Base is put before a path that is not a whole URL.
	Base string

	Path string // of the last page, after redirects
	Body string
	Resp *http.Response // its body already read into Body
}

// New returns a browser with a cookie jar and a 20 s timeout per request.
func New(t testing.TB, base string) *Browser {
	jar, _ := cookiejar.New(nil)
	return &Browser{T: t, HTTP: &http.Client{Jar: jar, Timeout: 20 * time.Second}, Base: base}
}

// Status is the last page's HTTP status.
func (b *Browser) Status() int { return b.Resp.StatusCode }

func (b *Browser) url(p string) string {
	if strings.HasPrefix(p, "http://") || strings.HasPrefix(p, "https://") {
		return p
	}
	return b.Base + p
}

// Do sends req and makes its answer the last page.
func (b *Browser) Do(req *http.Request) {
	b.T.Helper()
	resp, err := b.HTTP.Do(req)
	if err != nil {
		b.T.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	b.Resp, b.Body, b.Path = resp, string(body), resp.Request.URL.Path
}

// Get opens p (a path below Base, or a URL).
func (b *Browser) Get(p string) {
	b.T.Helper()
	req, _ := http.NewRequest(http.MethodGet, b.url(p), nil)
	b.Do(req)
}

// Post submits form to p as a page's form does.
func (b *Browser) Post(p string, form url.Values) {
	b.T.Helper()
	req, _ := http.NewRequest(http.MethodPost, b.url(p), strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	b.Do(req)
}

var csrfRE = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)

// CSRF returns the last page's CSRF token; the test fails when it has none.
func (b *Browser) CSRF() string {
	b.T.Helper()
	m := csrfRE.FindStringSubmatch(b.Body)
	if m == nil {
		b.T.Fatalf("no csrf token on %s (%d)", b.Path, b.Resp.StatusCode)
	}
	return m[1]
}

// Field returns the value of the last page's input name ("" if none).
func (b *Browser) Field(name string) string {
	m := regexp.MustCompile(`name="` + regexp.QuoteMeta(name) + `" value="([^"]*)"`).FindStringSubmatch(b.Body)
	if m == nil {
		return ""
	}
	return html.UnescapeString(m[1])
}

// WaitPast reloads the waiting page every 50 ms (its meta refresh,
// shortened) until the flow moves on; the test fails after limit, or when
// the waiting page has no meta refresh.
func (b *Browser) WaitPast(limit time.Duration) {
	b.T.Helper()
	deadline := time.Now().Add(limit)
	for b.Path == "/verify/wait" {
		if !strings.Contains(b.Body, `http-equiv="refresh"`) {
			b.T.Fatal("waiting page without a meta refresh")
		}
		if time.Now().After(deadline) {
			b.T.Fatal("still waiting")
		}
		time.Sleep(50 * time.Millisecond)
		b.Get(b.url("/verify/wait"))
	}
}

// Upload is where one side's image goes.
type Upload struct{ URL, Method, ObjectURL string }

// Capture asks for the document page's capture as the page's script does
// when the first photo is chosen (POST /verify/capture). The last page
// stays the document page.
func (b *Browser) Capture() (id string, uploads map[string]Upload) {
	b.T.Helper()
	page, path := b.Body, b.Path
	b.Post(b.url("/verify/capture"), url.Values{"csrf_token": {b.CSRF()}})
	var out struct {
		CaptureID string `json:"capture_id"`
		Uploads   map[string]struct {
			URL       string `json:"url"`
			Method    string `json:"method"`
			ObjectURL string `json:"object_url"`
		} `json:"uploads"`
	}
	if b.Resp.StatusCode != http.StatusOK || json.Unmarshal([]byte(b.Body), &out) != nil || out.CaptureID == "" {
		b.T.Fatalf("capture: %d %s", b.Resp.StatusCode, b.Body)
	}
	uploads = map[string]Upload{}
	for side, u := range out.Uploads {
		uploads[side] = Upload{u.URL, u.Method, u.ObjectURL}
	}
	b.Body, b.Path = page, path
	return out.CaptureID, uploads
}

// Document does the document step as the page's script does: on the
// document page it asks for a capture, encrypts each side's image under one
// new key (AES-256-GCM, bound to the capture and side when the pages bind
// them), uploads it, and posts the form with the key and the IVs. images
// holds "front" and "back".
func (b *Browser) Document(images map[string][]byte) {
	b.T.Helper()
	if b.Path != "/verify/document" {
		b.T.Fatalf("not on the document page: on %s", b.Path)
	}
	form := url.Values{"csrf_token": {b.CSRF()}}
	captureID, uploads := b.Capture()
	form.Set("capture_id", captureID)
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	form.Set("encryption_key", base64.StdEncoding.EncodeToString(key))
	block, _ := aes.NewCipher(key)
	gcm, _ := cipher.NewGCM(block)
	for side, up := range uploads {
		iv := make([]byte, 12)
		_, _ = rand.Read(iv)
		var aad []byte // what the browser binds each image to
		if web.BindImageAAD {
			aad = web.ImageAAD(captureID, side)
		}
		req, _ := http.NewRequest(http.MethodPut, up.URL, bytes.NewReader(gcm.Seal(nil, iv, images[side], aad)))
		req.Header.Set("Content-Type", "application/octet-stream")
		resp, err := b.HTTP.Do(req)
		if err != nil {
			b.T.Fatalf("upload %s: %v", side, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNoContent {
			b.T.Fatalf("upload %s: status %d", side, resp.StatusCode)
		}
		obj := up.ObjectURL
		if obj == "" {
			obj = up.URL
		}
		form.Set(side+"_image_url", obj)
		form.Set(side+"_image_iv", base64.StdEncoding.EncodeToString(iv))
	}
	b.Post(b.url("/verify/document"), form)
}
