package web_test

import (
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// Every visit asks for an icon; before there was one, each answered 404.
// Every page links the icon, and everything a page links resolves.
func TestFaviconAndEveryLinkedAssetResolve(t *testing.T) {
	t.Parallel()
	e := start(t, nil)
	get := func(path string) (*http.Response, []byte) {
		t.Helper()
		resp, err := http.Get(e.base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, b
	}
	_, page := get("/")
	if !strings.Contains(string(page), `<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">`) {
		t.Fatalf("the start page links no icon:\n%s", page)
	}
	refs := regexp.MustCompile(`(?:href|src)="(/[^"]*)"`).FindAllStringSubmatch(string(page), -1)
	if len(refs) < 3 {
		t.Fatalf("found only %d local links in the page", len(refs))
	}
	for _, m := range refs {
		if strings.HasPrefix(m[1], "/verify/") { // form actions and links to steps
			continue
		}
		if resp, _ := get(m[1]); resp.StatusCode != 200 {
			t.Errorf("GET %s (linked from /): %d", m[1], resp.StatusCode)
		}
	}
	for path, ctype := range map[string]string{"/static/favicon.svg": "image/svg+xml", "/favicon.ico": "image/x-icon"} {
		resp, body := get(path)
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != ctype || len(body) < 100 {
			t.Errorf("GET %s: %d %q, %d bytes", path, resp.StatusCode, resp.Header.Get("Content-Type"), len(body))
		}
		cc := resp.Header.Get("Cache-Control")
		age, _ := strconv.Atoi(strings.TrimPrefix(regexp.MustCompile(`max-age=\d+`).FindString(cc), "max-age="))
		if !strings.Contains(cc, "public") || age < 7*24*3600 {
			t.Errorf("GET %s: Cache-Control %q, want public and at least a week", path, cc)
		}
		if resp.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("GET %s: without the pages' security headers", path)
		}
	}
	if body := func() string { _, b := get("/static/favicon.svg"); return string(b) }(); !strings.HasPrefix(body, "<svg ") {
		t.Errorf("favicon.svg is not an SVG: %.40q", body)
	}
	if _, ico := get("/favicon.ico"); len(ico) < 6 || string(ico[:4]) != "\x00\x00\x01\x00" {
		t.Errorf("favicon.ico is not an ICO file")
	}
}
