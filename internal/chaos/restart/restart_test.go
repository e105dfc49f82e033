package restart_test

import (
	"bufio"
	"bytes"
	"context"
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
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/proofline/proofline/internal/chaos"
	"github.com/proofline/proofline/internal/fleettest"
	"github.com/proofline/proofline/internal/redistest"
	"github.com/proofline/proofline/server/web"
)

func TestMain(m *testing.M) { os.Exit(chaos.Main(m)) }

// Every job takes vendorLatency in the workers, so waiters are pending
// across the restart; the job timeout leaves room for it.
const (
	vendorLatency = 12 * time.Second
	jobTimeout    = 18
	// httpShutdown is serve's second shutdown stage (cmd/proofline): after
	// draining jobs (up to the job timeout) it waits this long for open
	// requests.
	httpShutdown = 10 * time.Second
)

// person is a browser without JavaScript on the web flow, as the
// server/web no-JavaScript tests drive it.
type person struct {
	t    *testing.T
	http *http.Client
	body string
	path string
}

var (
	csrfRE   = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)
	eventsRE = regexp.MustCompile(`data-events-url="([^"]+)"`)
)

func (p *person) do(req *http.Request) {
	p.t.Helper()
	resp, err := p.http.Do(req)
	if err != nil {
		p.t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	p.body, p.path = string(b), resp.Request.URL.Path
}

func (p *person) get(u string) {
	p.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	p.do(req)
}

func (p *person) post(u string, form url.Values) {
	p.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	p.do(req)
}

func (p *person) csrf() string {
	p.t.Helper()
	m := csrfRE.FindStringSubmatch(p.body)
	if m == nil {
		p.t.Fatalf("no csrf token on %s", p.path)
	}
	return m[1]
}

// startDocument runs the flow on origin up to the waiting page of a
// document job and returns the page's events URL (server-sent events).
func (p *person) startDocument(origin string) string {
	p.t.Helper()
	p.get(origin + "/")
	p.post(origin+"/verify/start", url.Values{"csrf_token": {p.csrf()}})
	if p.path != "/verify/document" {
		p.t.Fatalf("on %s", p.path)
	}
	// The capture is made when the person starts uploading, as the page's
	// script asks for it.
	csrf := p.csrf()
	p.post(origin+"/verify/capture", url.Values{"csrf_token": {csrf}})
	var capture struct {
		CaptureID string `json:"capture_id"`
		Uploads   map[string]struct {
			URL string `json:"url"`
		} `json:"uploads"`
	}
	if err := json.Unmarshal([]byte(p.body), &capture); err != nil || capture.CaptureID == "" {
		p.t.Fatalf("capture: %v %s", err, p.body)
	}
	captureID := capture.CaptureID
	form := url.Values{"csrf_token": {csrf}}
	form.Set("capture_id", captureID)
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	form.Set("encryption_key", base64.StdEncoding.EncodeToString(key))
	block, _ := aes.NewCipher(key)
	gcm, _ := cipher.NewGCM(block)
	for side, up := range capture.Uploads {
		u := up.URL
		iv := make([]byte, 12)
		_, _ = rand.Read(iv)
		var aad []byte
		if web.BindImageAAD {
			aad = web.ImageAAD(captureID, side)
		}
		req, _ := http.NewRequest(http.MethodPut, u, bytes.NewReader(gcm.Seal(nil, iv, []byte(side+" image"), aad)))
		req.Header.Set("Content-Type", "application/octet-stream")
		resp, err := p.http.Do(req)
		if err != nil || resp.StatusCode != http.StatusNoContent {
			p.t.Fatalf("upload %s: %v %v", side, err, resp)
		}
		resp.Body.Close()
		form.Set(side+"_image_url", u)
		form.Set(side+"_image_iv", base64.StdEncoding.EncodeToString(iv))
	}
	p.post(origin+"/verify/document", form)
	m := eventsRE.FindStringSubmatch(p.body)
	if p.path != "/verify/wait" || m == nil {
		p.t.Fatalf("not waiting: on %s", p.path)
	}
	return html.UnescapeString(m[1])
}

// events opens the server-sent events stream at u and returns the data of
// the first "outcome" event, or an error when the stream ends first (the
// server went away): what EventSource does before it reconnects.
func (p *person) events(ctx context.Context, u string, opened chan<- struct{}) (string, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	// No client timeout: the stream lasts until the outcome.
	c := &http.Client{Jar: p.http.Jar}
	resp, err := c.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		return "", &streamError{resp.Status}
	}
	if opened != nil {
		close(opened)
	}
	sc := bufio.NewScanner(resp.Body)
	event := ""
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "event: "):
			event = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: ") && event == "outcome":
			return strings.TrimPrefix(line, "data: "), nil
		}
	}
	if err := sc.Err(); err != nil {
		return "", err
	}
	return "", io.ErrUnexpectedEOF
}

type streamError struct{ status string }

func (e *streamError) Error() string { return "events: " + e.status }

// TestRollingRestart stops one of two servers with SIGTERM in the middle of
// a run and starts it again, as a rolling deploy does: the load balancer
// stops sending it requests, then it gets SIGTERM. Long polls on it are
// answered or cut and carry on at the other server; a person's waiting page
// whose server-sent events stream it held reconnects (through the load
// balancer, to the other server, with the same session) and gets the
// outcome; nothing pending is lost (every job ends done, checked with
// Porcupine); and the server exits 0 within its shutdown timeout (the job
// timeout for draining, then 10 s for open requests).
func TestRollingRestart(t *testing.T) {
	bin := chaos.Binary(t)
	rs, err := redistest.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rs.Stop)
	workerURL, err := rs.QueueUser(context.Background(), "chaosworker", "chaos-worker-pw-0123456789", "")
	if err != nil {
		t.Fatal(err)
	}
	f, err := fleettest.New(fleettest.Options{Bin: bin, RedisURL: rs.URL(), WorkerRedisURL: workerURL, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.Close)
	// Sessions open on every server (a shared session_secret).
	sessionEnv := "PROOFLINE_SESSION_SECRET=" + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte("s"), 32))
	var mu sync.Mutex
	servers := make([]*fleettest.Proc, 2)
	addrs := make([]string, 2)
	for i := range servers {
		if addrs[i], err = fleettest.FreeAddr(); err != nil {
			t.Fatal(err)
		}
		if servers[i], err = f.StartServerAt(addrs[i], jobTimeout, sessionEnv); err != nil {
			t.Fatal(err)
		}
	}
	for range 2 {
		if _, err := f.StartWorker("PROOFLINE_MOCK_VENDOR_LATENCY_MS=" + strconv.FormatInt(vendorLatency.Milliseconds(), 10)); err != nil {
			t.Fatal(err)
		}
	}
	dump := func() {
		for _, p := range f.Procs() {
			t.Logf("--- %s (exit %d):\n%s", p.Name, p.ExitCode(), p.Log())
		}
	}
	origins := func() []string {
		mu.Lock()
		defer mu.Unlock()
		var o []string
		for _, s := range servers {
			if s != nil {
				o = append(o, s.URL())
			}
		}
		return o
	}

	// A person waits on server 0 (the one to restart) with push.
	jar, _ := cookiejar.New(nil)
	pers := &person{t: t, http: &http.Client{Jar: jar, Timeout: 20 * time.Second}}
	eventsPath := pers.startDocument(servers[0].URL())
	// A second person, whose page comes back only long after the deadline
	// (a laptop waking up).
	jar2, _ := cookiejar.New(nil)
	late := &person{t: t, http: &http.Client{Jar: jar2, Timeout: 20 * time.Second}}
	lateEvents := late.startDocument(servers[1].URL())
	lateDeadline := time.Now().Add(jobTimeout * time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	opened := make(chan struct{})
	type streamEnd struct {
		data string
		err  error
		// next is where the waiting page went once it had the outcome.
		next string
	}
	// The page's EventSource: when the stream ends without an outcome it
	// reconnects after the retry the server set (1 s), to the public
	// origin (the load balancer), with the same session.
	got := make(chan streamEnd, 1)
	go func() {
		// With the outcome, the page loads the waiting page again, which
		// moves on.
		moveOn := func(d string) streamEnd {
			resp, err := pers.http.Get(f.LB.URL() + "/verify/wait")
			if err != nil {
				return streamEnd{d, err, ""}
			}
			resp.Body.Close()
			return streamEnd{d, nil, resp.Request.URL.Path}
		}
		d, err := pers.events(ctx, servers[0].URL()+eventsPath, opened)
		if err == nil {
			got <- moveOn(d)
			return
		}
		t.Logf("the stream on the stopped server ended without an outcome (%v): reconnecting", err)
		for ctx.Err() == nil {
			time.Sleep(time.Second)
			if d, err = pers.events(ctx, f.LB.URL()+eventsPath, nil); err == nil {
				got <- moveOn(d)
				return
			}
			t.Logf("reconnect: %v (load balancer: %s)", err, f.LB.LastError())
		}
		got <- streamEnd{"", err, ""}
	}()
	select {
	case <-opened:
	case <-time.After(20 * time.Second):
		t.Fatal("the events stream did not open")
	}

	var drained time.Duration
	var exit int
	ft := chaos.Fault{
		Name: "rolling restart (SIGTERM, start again)", Where: "one of two servers",
		// The other server answers throughout: there is nothing to recover.
		NoRecovery: true,
		Apply: func() error {
			victim := servers[0]
			f.LB.Remove(victim.URL())
			mu.Lock()
			servers[0] = nil
			mu.Unlock()
			began := time.Now()
			code, err := victim.Stop(time.Duration(jobTimeout)*time.Second + httpShutdown + 5*time.Second)
			drained, exit = time.Since(began), code
			if err != nil {
				return err
			}
			p, err := f.StartServerAt(addrs[0], jobTimeout, sessionEnv)
			if err != nil {
				return err
			}
			mu.Lock()
			servers[0] = p
			mu.Unlock()
			return nil
		},
	}
	tg := chaos.Target{Fleet: f, Origins: origins, Timeout: jobTimeout * time.Second}
	// At most 128 jobs run at once (2 workers × 64), each for
	// vendorLatency: more would time out waiting for a worker.
	n := chaos.Size(100, 120)
	rate := float64(chaos.Size(25, 10))
	tally := chaos.RunFault(t, tg, ft, chaos.Mix(n, 40, 0), rate, 2*time.Second, 0)
	t.Logf("server drained and exited %d in %s after SIGTERM", exit, drained.Round(time.Millisecond))
	if exit != 0 {
		dump()
		t.Fatalf("the server exited %d on SIGTERM", exit)
	}
	end := <-got
	if end.err != nil || !strings.Contains(end.data, `"ready"`) {
		dump()
		t.Fatalf("the waiting page got no outcome: %q, %v", end.data, end.err)
	}
	if end.next != "/verify/info" {
		t.Fatalf("after the outcome the flow is on %s, want /verify/info (the document was read)", end.next)
	}
	// The late page gets its outcome at once, from either server.
	time.Sleep(time.Until(lateDeadline.Add(10 * time.Second)))
	for _, o := range origins() {
		if d, err := late.events(ctx, o+lateEvents, nil); err != nil || !strings.Contains(d, `"ready"`) {
			t.Errorf("events at %s, %s after the deadline: %q, %v", o, time.Since(lateDeadline).Round(time.Second), d, err)
		}
	}
	if tally.Lost != 0 {
		t.Fatalf("%d jobs pending across the restart were lost", tally.Lost)
	}
}
