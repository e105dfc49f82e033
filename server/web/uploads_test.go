package web_test

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"html"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/proofline/proofline/config"
)

// storedBytes is what the data directory holds in images (finished
// uploads; the temp directory is counted apart).
func storedBytes(t *testing.T, dir string) (stored, temp int64) {
	t.Helper()
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return nil
		}
		if strings.Contains(p, string(filepath.Separator)+".tmp"+string(filepath.Separator)) {
			temp += info.Size()
		} else {
			stored += info.Size()
		}
		return nil
	})
	return stored, temp
}

// uploadURLRE finds signed upload URLs in a page.
var uploadURLRE = regexp.MustCompile(`https?://[^"'\s]+/uploads/[0-9a-f]{32}/(?:front|back|selfie)\?[^"'\s]+`)

// harvest collects every upload URL an anonymous client can get from what
// the last request answered: the page's HTML, or the capture's JSON.
func (c *client) harvest() []string {
	var urls []string
	for _, u := range uploadURLRE.FindAllString(c.Body, -1) {
		urls = append(urls, html.UnescapeString(u))
	}
	var capture struct {
		Uploads map[string]struct {
			URL string `json:"url"`
		} `json:"uploads"`
	}
	if json.Unmarshal([]byte(c.Body), &capture) == nil {
		for _, u := range capture.Uploads {
			urls = append(urls, u.URL)
		}
	}
	return urls
}

// fill uploads size random bytes to each URL and counts the ones stored.
func (c *client) fill(urls []string, size int) (stored int) {
	c.T.Helper()
	junk := make([]byte, size)
	_, _ = rand.Read(junk)
	for _, u := range urls {
		req, _ := http.NewRequest(http.MethodPut, u, bytes.NewReader(junk))
		req.Header.Set("Content-Type", "application/octet-stream")
		resp, err := c.HTTP.Do(req)
		if err != nil {
			c.T.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusNoContent {
			stored++
		}
	}
	return stored
}

// TestAnonymousClientCannotFillTheDisk: a client with no account collects
// every upload URL the pages hand out, from as many fresh sessions (new
// cookies) and page loads as it likes, and fills each with an image of the
// largest size. What it stores is bounded by web_max_uploads_per_ip images;
// past that it gets 429 and the busy page. (Before captures were minted on
// demand, every load of the document page handed out two fresh URLs, and
// the client stored 24 images here.)
func TestAnonymousClientCannotFillTheDisk(t *testing.T) {
	t.Parallel()
	const maxImage = 64 << 10
	e := start(t, func(c *config.Config) {
		c.DocAuthMaxImageBytes = maxImage
		c.WebMaxUploadsPerIP = 4
	})
	var refused int
	var busy bool
	for range 6 { // fresh sessions
		c := newClient(t, e)
		c.Get("/")
		c.Post("/verify/start", url.Values{"csrf_token": {c.CSRF()}})
		for range 2 { // page loads, and captures, per session
			c.Get("/verify/document")
			if c.Path != "/verify/document" {
				continue
			}
			csrf := c.CSRF()
			c.fill(c.harvest(), maxImage-16)
			c.Post("/verify/capture", url.Values{"csrf_token": {csrf}})
			if c.Resp.StatusCode == http.StatusTooManyRequests {
				refused++
				c.Get("/verify/busy")
				busy = busy || (c.Resp.StatusCode == http.StatusTooManyRequests && strings.Contains(c.Body, `id="busy"`))
				continue
			}
			c.fill(c.harvest(), maxImage-16)
		}
	}
	stored, _ := storedBytes(t, e.dataDir)
	if limit := int64(4 * maxImage); stored > limit {
		t.Errorf("an anonymous client stored %d bytes (%d images), over the bound of %d", stored, stored/(maxImage-16), limit)
	}
	if refused == 0 || !busy {
		t.Errorf("refused %d captures; busy page shown: %v", refused, busy)
	}
}

// TestOneLiveCapturePerSession: one session loading the document page and
// asking for capture after capture, filling every upload URL it gets, holds
// one live capture: each new one deletes the images of the last. The
// cookie holds only the session's id, so replaying the cookie of before the
// captures is the same session: a capture asked for with it ends the live
// one too.
func TestOneLiveCapturePerSession(t *testing.T) {
	t.Parallel()
	const maxImage = 64 << 10
	e := start(t, func(c *config.Config) {
		c.DocAuthMaxImageBytes = maxImage
		c.WebMaxUploadsPerIP = 0 // the per-session bound alone
	})
	c := newClient(t, e)
	c.Get("/")
	c.Post("/verify/start", url.Values{"csrf_token": {c.CSRF()}})
	c.Get("/verify/document")
	csrf := c.CSRF()
	base, _ := url.Parse(e.base)
	before := c.HTTP.Jar.Cookies(base)
	for range 5 {
		c.Get("/verify/document")
		c.fill(c.harvest(), maxImage-16)
		c.Post("/verify/capture", url.Values{"csrf_token": {csrf}})
		c.fill(c.harvest(), maxImage-16)
	}
	if stored, _ := storedBytes(t, e.dataDir); stored > 2*maxImage || stored == 0 {
		t.Errorf("one session holds %d bytes after five page loads and captures; one capture is at most %d", stored, 2*maxImage)
	}
	// The cookie of before the captures names the same session.
	c.HTTP.Jar.SetCookies(base, before)
	c.Post("/verify/capture", url.Values{"csrf_token": {csrf}})
	c.fill(c.harvest(), maxImage-16)
	if stored, _ := storedBytes(t, e.dataDir); stored > 2*maxImage || stored == 0 {
		t.Errorf("after a capture with a replayed cookie, %d bytes stored; one capture is at most %d", stored, 2*maxImage)
	}
}

// TestUploadsInFlightBounded: one signed upload URL, eight uploads to it at
// once, each sending its first KiB and holding on. One may be in flight;
// the others are refused (429) at once, so they write nothing to disk.
func TestUploadsInFlightBounded(t *testing.T) {
	t.Parallel()
	e := start(t, nil)
	c := newClient(t, e)
	c.Get("/")
	c.Post("/verify/start", url.Values{"csrf_token": {c.CSRF()}})
	c.Get("/verify/document")
	_, uploads := c.Capture()
	front := uploads["front"].URL

	const n = 8
	type result struct{ status int }
	results := make(chan result, n)
	writers := make([]*io.PipeWriter, n)
	for i := range n {
		pr, pw := io.Pipe()
		writers[i] = pw
		req, _ := http.NewRequest(http.MethodPut, front, pr)
		req.Header.Set("Content-Type", "application/octet-stream")
		go func() {
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				results <- result{0}
				return
			}
			resp.Body.Close()
			results <- result{resp.StatusCode}
		}()
		go func() { _, _ = pw.Write(make([]byte, 1024)) }()
	}
	defer func() {
		for _, w := range writers {
			_ = w.Close()
		}
	}()
	// n-1 answers come while one upload is still sending.
	var refused int
	deadline := time.After(10 * time.Second)
	for refused < n-1 {
		select {
		case r := <-results:
			if r.status != http.StatusTooManyRequests {
				t.Fatalf("an upload ended with %d while another was in flight", r.status)
			}
			refused++
		case <-deadline:
			_, temp := storedBytes(t, e.dataDir)
			t.Fatalf("%d uploads in flight at once to one URL (%d refused); %d bytes in temporary files", n-refused, refused, temp)
		}
	}
	for _, w := range writers {
		_ = w.Close()
	}
	if r := <-results; r.status != http.StatusNoContent {
		t.Errorf("the one upload in flight ended with %d", r.status)
	}
}
