package restart_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"html"
	"io"
	"net/http"
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
	"github.com/proofline/proofline/internal/webtest"
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

// person is a browser without JavaScript on the web flow (webtest.Browser).
type person struct{ *webtest.Browser }

var eventsRE = regexp.MustCompile(`data-events-url="([^"]+)"`)

// startDocument runs the flow on origin up to the waiting page of a
// document job and returns the page's events URL (server-sent events).
func (p *person) startDocument(origin string) string {
	p.T.Helper()
	p.Base = origin
	p.Get("/")
	p.Post("/verify/start", url.Values{"csrf_token": {p.CSRF()}})
	p.Document(map[string][]byte{"front": []byte("front image"), "back": []byte("back image")})
	m := eventsRE.FindStringSubmatch(p.Body)
	if p.Path != "/verify/wait" || m == nil {
		p.T.Fatalf("not waiting: on %s", p.Path)
	}
	return html.UnescapeString(m[1])
}

// events opens the server-sent events stream at u and returns the data of
// the first "outcome" event, or an error when the stream ends first (the
// server went away): what EventSource does before it reconnects.
func (p *person) events(ctx context.Context, u string, opened chan<- struct{}) (string, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	// No client timeout: the stream lasts until the outcome.
	c := &http.Client{Jar: p.HTTP.Jar}
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
	pers := &person{webtest.New(t, "")}
	eventsPath := pers.startDocument(servers[0].URL())
	// A second person, whose page comes back only long after the deadline
	// (a laptop waking up).
	late := &person{webtest.New(t, "")}
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
			resp, err := pers.HTTP.Get(f.LB.URL() + "/verify/wait")
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
