package server_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/proofline/proofline"
	"github.com/proofline/proofline/dispatch"
	"github.com/proofline/proofline/proofing"
	"github.com/proofline/proofline/resultstore"
	"github.com/proofline/proofline/seal"
	"github.com/proofline/proofline/server"
)

// logged is a server (without image uploads) whose JSON logs the test reads.
type logged struct {
	srv *server.Server
	buf bytes.Buffer
	mu  sync.Mutex
}

func newLogged(t *testing.T) *logged {
	t.Helper()
	l := &logged{}
	k, _ := seal.Generate("k1")
	ring, _ := seal.NewKeyRing(k)
	store := resultstore.New(resultstore.NewMemory(resultstore.MemoryOptions{}), ring, resultstore.Options{})
	svc, err := proofing.New(proofing.Options{Store: store, Dispatcher: dispatch.New(&captured{envs: map[string]*proofline.Envelope{}}, dispatch.Options{}),
		CallbackTokens: tokens, CallbackBaseURL: "http://127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	l.srv = server.New(svc, server.Options{APIKeys: []string{apiKey}, Logger: newLogger(&l.buf, &l.mu)})
	return l
}

// lines are the log lines so far, decoded.
func (l *logged) lines(t *testing.T) []map[string]any {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	for _, s := range strings.Split(strings.TrimSpace(l.buf.String()), "\n") {
		if s == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(s), &m); err != nil {
			t.Fatalf("log line %q: %v", s, err)
		}
		out = append(out, m)
	}
	l.buf.Reset()
	return out
}

// serve runs one request through h and returns the answer and the one
// access log line it wrote.
func (l *logged) serve(t *testing.T, h http.Handler, req *http.Request) (*httptest.ResponseRecorder, map[string]any) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var access []map[string]any
	for _, m := range l.lines(t) {
		if m["msg"] == "http request" {
			access = append(access, m)
		}
	}
	if len(access) != 1 {
		t.Fatalf("%s %s: %d access log lines, want 1", req.Method, req.URL, len(access))
	}
	return rec, access[0]
}

// TestRequestIDIsKeptOnlyWhenSafe: a caller's X-Request-Id of 1 to 64 of
// A-Z a-z 0-9 - _ is echoed and logged as it is; anything else (longer, or
// holding a character outside that set, such as a control character that
// would forge a log line) is replaced by a fresh 16-hex-digit id.
func TestRequestIDIsKeptOnlyWhenSafe(t *testing.T) {
	t.Parallel()
	l := newLogged(t)
	h := l.srv.Handler()
	kept := []string{"a", "z", "A", "Z", "0", "9", "-", "_", "req-2026_ABCxyz", strings.Repeat("r", 64)}
	replaced := []string{strings.Repeat("r", 65), "a b", "a/b", "a.b", "a\x1bb", "a\tb", "`", "{", "@", "[", "/", ":", "é"}
	for _, id := range append(kept, replaced...) {
		req := httptest.NewRequest("GET", "/healthz", nil)
		req.Header["X-Request-Id"] = []string{id}
		rec, line := l.serve(t, h, req)
		got := rec.Header().Get("X-Request-Id")
		if line["request_id"] != got {
			t.Errorf("id %q: logged %q, answered %q", id, line["request_id"], got)
		}
		wantKept := false
		for _, k := range kept {
			wantKept = wantKept || k == id
		}
		switch {
		case wantKept && got != id:
			t.Errorf("a safe request id %q was replaced by %q", id, got)
		case !wantKept && (got == id || len(got) != 16 || strings.Trim(got, "0123456789abcdef") != ""):
			t.Errorf("an unsafe request id %q was answered as %q, want a fresh 16-hex-digit id", id, got)
		}
	}
	// Without one, each request gets its own.
	a, _ := l.serve(t, h, httptest.NewRequest("GET", "/healthz", nil))
	b, _ := l.serve(t, h, httptest.NewRequest("GET", "/healthz", nil))
	if a.Header().Get("X-Request-Id") == b.Header().Get("X-Request-Id") || len(a.Header().Get("X-Request-Id")) != 16 {
		t.Errorf("fresh ids %q and %q", a.Header().Get("X-Request-Id"), b.Header().Get("X-Request-Id"))
	}
}

// TestAccessLogLine: one line per request with the method, the matched route
// (never the path's ids or query), the first status written and the bytes
// of the body; an unmatched path is logged by its first segment, at most 64
// bytes of it.
func TestAccessLogLine(t *testing.T) {
	t.Parallel()
	l := newLogged(t)
	h := l.srv.Handler()
	id := proofline.NewResultID()
	req := httptest.NewRequest("GET", "/api/v1/proofing/"+id+"?wait=abc", nil)
	req.Header.Set("Authorization", "Bearer "+apiKey)
	rec, line := l.serve(t, h, req)
	if line["method"] != "GET" || line["route"] != "GET /api/v1/proofing/{result_id}" || line["status"] != float64(400) ||
		line["bytes"] != float64(rec.Body.Len()) || rec.Body.Len() == 0 || line["level"] != "INFO" {
		t.Errorf("access line %v for a %d of %d bytes", line, rec.Code, rec.Body.Len())
	}
	if _, ok := line["duration"]; !ok {
		t.Errorf("access line without a duration: %v", line)
	}
	if _, ok := line["source"]; ok {
		t.Errorf("access line with a source: %v", line)
	}
	long := strings.Repeat("p", 100)
	cases := map[string]string{
		"/" + long:                    "/" + long[:63],
		"/nothing/" + id + "/x?q=ssn": "/nothing/…",
		"/":                           "GET /{$}",
		"/favicon.ico":                "/favicon.ico",
		"//" + id + "/x":              "//…",
	}
	for path, want := range cases {
		_, line := l.serve(t, h, httptest.NewRequest("GET", path, nil))
		if line["route"] != want {
			t.Errorf("%s logged as route %q, want %q", path, line["route"], want)
		}
	}
	// The first status written is the one logged.
	twice := l.srv.Middleware(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusTeapot)
		w.WriteHeader(http.StatusOK)
		_, _ = io.WriteString(w, "tea")
	}))
	rec, line = l.serve(t, twice, httptest.NewRequest("GET", "/x", nil))
	if rec.Code != http.StatusTeapot || line["status"] != float64(http.StatusTeapot) || line["bytes"] != float64(3) {
		t.Errorf("answered %d, logged %v", rec.Code, line)
	}
	// A body without WriteHeader is a 200.
	plain := l.srv.Middleware(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") }))
	if _, line = l.serve(t, plain, httptest.NewRequest("GET", "/x", nil)); line["status"] != float64(200) || line["bytes"] != float64(2) {
		t.Errorf("logged %v, want 200 and 2 bytes", line)
	}
}

// TestPanicIsA500WithoutItsValue: a handler's panic is answered 500 with the
// internal error body (unless the handler had started answering), logged
// with its stack but never its value, and the request still gets its access
// line. http.ErrAbortHandler is passed on.
func TestPanicIsA500WithoutItsValue(t *testing.T) {
	t.Parallel()
	l := newLogged(t)
	h := l.srv.Middleware(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("ssn 123456789") }))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/boom", nil))
	if rec.Code != 500 || rec.Body.String() != `{"error":{"code":"internal","message":"internal error"}}`+"\n" {
		t.Errorf("panic answered %d %s", rec.Code, rec.Body)
	}
	lines := l.lines(t)
	if len(lines) != 2 || lines[0]["msg"] != "panic serving request" || lines[0]["level"] != "ERROR" ||
		!strings.Contains(lines[0]["stack"].(string), "goroutine") || lines[1]["msg"] != "http request" || lines[1]["status"] != float64(500) {
		t.Fatalf("log lines %v", lines)
	}
	for _, m := range lines {
		if b, _ := json.Marshal(m); strings.Contains(string(b), "123456789") {
			t.Errorf("the panic value reached the log: %s", b)
		}
	}

	started := l.srv.Middleware(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusAccepted)
		panic("late")
	}))
	rec = httptest.NewRecorder()
	started.ServeHTTP(rec, httptest.NewRequest("GET", "/boom", nil))
	if rec.Code != http.StatusAccepted || rec.Body.Len() != 0 {
		t.Errorf("a panic after the answer started: %d %q, want the 202 alone", rec.Code, rec.Body)
	}
	l.lines(t)

	abort := l.srv.Middleware(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic(http.ErrAbortHandler) }))
	func() {
		defer func() {
			if v := recover(); v != http.ErrAbortHandler {
				t.Errorf("recovered %v, want http.ErrAbortHandler passed on", v)
			}
		}()
		abort.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/abort", nil))
	}()
	for _, m := range l.lines(t) {
		if m["msg"] == "panic serving request" {
			t.Errorf("an aborted request was logged as a panic: %v", m)
		}
	}
}

// TestUnavailableAsksToRetry: a 503 (here: document capture without an image
// store) carries Retry-After: 1; other errors do not.
func TestUnavailableAsksToRetry(t *testing.T) {
	t.Parallel()
	l := newLogged(t)
	h := l.srv.Handler()
	req := httptest.NewRequest("POST", "/api/v1/document-capture", nil)
	req.Header.Set("Authorization", "Bearer "+apiKey)
	rec, _ := l.serve(t, h, req)
	if rec.Code != 503 || rec.Header().Get("Retry-After") != "1" || !strings.Contains(rec.Body.String(), `"code":"unavailable"`) {
		t.Errorf("capture without images: %d %v %s, want 503 with Retry-After", rec.Code, rec.Header(), rec.Body)
	}
	if rec.Header().Get("Content-Type") != "application/json" || rec.Header().Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("error headers %v", rec.Header())
	}
	rec, _ = l.serve(t, h, httptest.NewRequest("GET", "/api/v1/proofing/x", nil))
	if rec.Code != 401 || rec.Header().Get("Retry-After") != "" {
		t.Errorf("401 answered %d with Retry-After %q", rec.Code, rec.Header().Get("Retry-After"))
	}
}

// TestAPIKeyListedTwiceIsRefused: server.New panics on api_keys naming one
// key twice rather than serving with a configuration it cannot trust.
func TestAPIKeyListedTwiceIsRefused(t *testing.T) {
	t.Parallel()
	defer func() {
		if v, _ := recover().(string); !strings.HasPrefix(v, "server: tenant: ") {
			t.Errorf("recovered %q, want a server: tenant: panic", v)
		}
	}()
	server.New(nil, server.Options{APIKeys: []string{apiKey, apiKey}})
}
