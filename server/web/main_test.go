package web_test

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/proofline/proofline/app"
	"github.com/proofline/proofline/config"
	"github.com/proofline/proofline/internal/redistest"
	"github.com/proofline/proofline/internal/s3test"
	"github.com/proofline/proofline/internal/testlog"
)

const chromiumPath = "/usr/bin/chromium"

// waitLimit bounds every wait for the browser: generous, for a loaded machine.
var waitLimit = 45 * time.Second

// browser is the one Chromium of this test package; each test opens its own
// browser context (separate cookies) with a new tab.
var browser context.Context

// artifacts is where screenshots and figures go (PROOFLINE_ARTIFACTS, or a
// new temporary directory that is kept).
var artifacts string

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	artifacts = os.Getenv("PROOFLINE_ARTIFACTS")
	if artifacts == "" {
		artifacts, _ = os.MkdirTemp("", "proofline-web-artifacts-")
	}
	_ = os.MkdirAll(artifacts, 0o755)
	if _, err := os.Stat(chromiumPath); err != nil {
		if os.Getenv("CI") != "" {
			fmt.Fprintf(os.Stderr, "web: %s not found: make deps installs it\n", chromiumPath)
			return 1
		}
		fmt.Fprintf(os.Stderr, "web: %s not found (make deps installs it); browser tests will skip\n", chromiumPath)
		defer stopRedis()
		return m.Run()
	}
	// Static test credentials for the S3 test server; nothing reaches AWS.
	for k, v := range map[string]string{
		"AWS_ACCESS_KEY_ID": s3test.AccessKey, "AWS_SECRET_ACCESS_KEY": s3test.SecretKey,
		"AWS_EC2_METADATA_DISABLED": "true", "AWS_CONFIG_FILE": os.DevNull, "AWS_SHARED_CREDENTIALS_FILE": os.DevNull,
	} {
		os.Setenv(k, v)
	}
	os.Unsetenv("AWS_PROFILE")
	os.Unsetenv("AWS_SESSION_TOKEN")
	profile, err := os.MkdirTemp("", "proofline-chromium-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(profile)
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(chromiumPath),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.UserDataDir(profile),
		chromedp.WindowSize(720, 900),
	)
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(alloc)
	defer cancel()
	if err := chromedp.Do(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "web: starting chromium:", err)
		return 1
	}
	browser = ctx
	defer stopRedis()
	code := m.Run()
	fmt.Fprintln(os.Stderr, "web: screenshots and figures in", artifacts)
	return code
}

// tab opens a tab in a fresh browser context (own cookies) for one test.
func tab(t *testing.T) context.Context {
	t.Helper()
	return tabFor(t, 90*time.Second)
}

// tabFor is tab for a test that may take up to d (the tours that check
// every page at several widths).
func tabFor(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	if browser == nil {
		if os.Getenv("CI") != "" {
			t.Fatal(chromiumPath + " is required in CI")
		}
		t.Skip(chromiumPath + " not installed")
	}
	ctx, cancel := chromedp.NewContext(browser, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	ctx, cancel2 := context.WithTimeout(ctx, d)
	t.Cleanup(cancel2)
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(720, 900)); err != nil {
		t.Fatal(err)
	}
	return ctx
}

// env is one running proofline with the pages, instrumented: it records when
// callbacks arrive and when step pages are first requested, and keeps a copy
// of every stored upload object and of the submitted document form.
type env struct {
	t       *testing.T
	base    string
	app     *app.App
	dataDir string
	logs    *testlog.Buffer

	mu       sync.Mutex
	events   map[string]time.Time // "callback:document", "page:/verify/info", ...
	uploads  map[string][]byte    // side → stored object (ciphertext)
	docForms []url.Values
	urls     []string
}

func start(t *testing.T, mut func(*config.Config)) *env {
	t.Helper()
	return startWith(t, mut, 0)
}

// startWith is start with every mock vendor answering after latency, so the
// waiting page is up before the callback lands (for measurements).
func startWith(t *testing.T, mut func(*config.Config), latency time.Duration) *env {
	t.Helper()
	cfg := config.Defaults()
	cfg.LogLevel = "debug"
	dataDir := t.TempDir()
	cfg.DataDir = dataDir
	if mut != nil {
		mut(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	logs := &testlog.Buffer{}
	logger := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	// WorkerHTTP: the workers' callbacks cross the instrumented listener,
	// where the test times them. The key prefix keeps deployments apart on
	// the shared Redis.
	a, err := app.New(context.Background(), cfg, app.Options{ListenAddr: ln.Addr().String(), Version: "test-ref", Logger: logger, VendorLatency: latency, WorkerHTTP: true,
		RedisKeyPrefix: redistest.Prefix(t)})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, base: a.BaseURL, app: a, dataDir: dataDir, logs: logs, events: map[string]time.Time{}, uploads: map[string][]byte{}}
	srv := &http.Server{Handler: e.instrument(a.Handler), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = a.Drain(ctx)
		_ = srv.Shutdown(ctx)
		_ = a.Close(ctx)
	})
	return e
}

func (e *env) mark(name string, at time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, ok := e.events[name]; !ok {
		e.events[name] = at
	}
}

func (e *env) instrument(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		now := time.Now()
		e.mu.Lock()
		e.urls = append(e.urls, r.URL.String())
		e.mu.Unlock()
		p := r.URL.Path
		switch {
		case r.Method == http.MethodPost && strings.HasPrefix(p, "/api/proofing_results/") && !strings.HasSuffix(p, "/claim"):
			e.mark("callback:"+strings.Split(p, "/")[3], now)
		case r.Method == http.MethodGet && strings.HasPrefix(p, "/verify/") && !strings.HasPrefix(p, "/verify/events/") && !strings.HasPrefix(p, "/verify/status/"):
			e.mark("page:"+p, now)
		case r.Method == http.MethodPost && p == "/verify/document":
			body, _ := io.ReadAll(r.Body)
			r.Body = io.NopCloser(bytes.NewReader(body))
			if f, err := url.ParseQuery(string(body)); err == nil {
				e.mu.Lock()
				e.docForms = append(e.docForms, f)
				e.mu.Unlock()
			}
		}
		next.ServeHTTP(w, r)
		if r.Method == http.MethodPut && strings.HasPrefix(p, "/uploads/") {
			parts := strings.Split(p, "/") // "", uploads, capture, side
			if b, err := os.ReadFile(filepath.Join(e.dataDir, parts[2], parts[3])); err == nil {
				e.mu.Lock()
				e.uploads[parts[3]] = b
				e.mu.Unlock()
			}
		}
	})
}

// latency is the time from the callback of kind to the first request of
// the page that follows it.
func (e *env) latency(kind, page string) time.Duration {
	e.mu.Lock()
	defer e.mu.Unlock()
	cb, ok1 := e.events["callback:"+kind]
	pg, ok2 := e.events["page:"+page]
	if !ok1 || !ok2 {
		e.t.Fatalf("latency %s→%s: events missing: %v", kind, page, e.events)
	}
	if w, ok := e.events["page:/verify/wait"]; !ok || !w.Before(cb) {
		e.t.Fatalf("latency %s: the waiting page was not up before the callback", kind)
	}
	return pg.Sub(cb)
}

// testPNG is a small real PNG image.
func testPNG(t testing.TB, seed uint8) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 64, 40))
	for y := 0; y < 40; y++ {
		for x := 0; x < 64; x++ {
			img.Set(x, y, color.RGBA{uint8(x*4) ^ seed, uint8(y * 6), seed, 255})
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func writeFile(t *testing.T, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// docShots are the screenshots docs/web.md shows.
var docShots = map[string]bool{"02-document-uploaded": true, "05-done": true, "07-waiting": true, "08-timeout": true, "09-ssn-error": true}

// shot saves a PNG of the viewport as artifacts/name.png and, when
// PROOFLINE_DOCS_SCREENSHOTS names a directory, a copy there too.
func shot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	b, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(artifacts, name+".png"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	if dir := os.Getenv("PROOFLINE_DOCS_SCREENSHOTS"); dir != "" && docShots[name] {
		_ = os.WriteFile(filepath.Join(dir, name+".png"), b, 0o644)
	}
}

func do(t *testing.T, ctx context.Context, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatal(err)
	}
}

// waitJS waits until the JavaScript expression is true. Errors while a
// page is navigating count as "not yet".
func waitJS(t *testing.T, ctx context.Context, expr string) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	var last error
	for time.Now().Before(deadline) {
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](expr))
		if err == nil && ok {
			return
		}
		last = err
		select {
		case <-ctx.Done():
			t.Fatalf("waiting for %s: %v", expr, ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
	p, _ := chromedp.Run(ctx, chromedp.Evaluate[string]("location.pathname + ': ' + document.body.innerText.slice(0, 300)"))
	t.Fatalf("waiting for %s: still on %s (%v)", expr, p, last)
}

func text(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		t.Fatalf("text of %s: %v", sel, err)
	}
	return s
}

func value(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Value(chromedp.CSS(sel)))
	if err != nil {
		t.Fatalf("value of %s: %v", sel, err)
	}
	return s
}

// waitPath waits until the page at path has loaded, or fails with the page
// the browser is on.
func waitPath(t *testing.T, ctx context.Context, p string) {
	t.Helper()
	waitJS(t, ctx, fmt.Sprintf("location.pathname === %q && document.readyState === 'complete'", p))
}
