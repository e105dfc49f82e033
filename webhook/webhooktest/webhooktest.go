// Package webhooktest helps test webhooks end to end: a Receiver (a real HTTP
// server on 127.0.0.1 that records what it is sent and can be told to fail),
// and Verify, which checks received webhooks with the Standard Webhooks
// specification's reference library (npm standardwebhooks, run by node), so
// signatures are proven by code other than proofline's own; Sign makes
// signatures with that library, to check a verifier.
//
// The library is installed once per version with npm into
// {os.UserCacheDir}/proofline/npm/standardwebhooks-{version}. Verify skips the
// test when node or npm is missing (and fails it in CI).
package webhooktest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"
)

// ReferenceVersion is the version of npm standardwebhooks Verify uses.
const ReferenceVersion = "1.1.1"

// Request is one webhook as received.
type Request struct {
	Header http.Header
	Body   []byte
	At     time.Time
	// Status is what the receiver answered.
	Status int
}

// Receiver is a webhook endpoint on 127.0.0.1.
type Receiver struct {
	URL string
	// Redirect is the Location of a 3xx answer (set it before the first
	// request).
	Redirect string

	mu     sync.Mutex
	got    []Request
	status func(n int) int
	signal chan struct{}
}

// NewReceiver starts a Receiver that answers 204; it stops at the end of
// the test.
func NewReceiver(t testing.TB) *Receiver {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &Receiver{URL: "http://" + ln.Addr().String() + "/hooks/proofline", signal: make(chan struct{}, 1024)}
	srv := &http.Server{Handler: r, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return r
}

// AnswerWith sets the status of the n-th request (from 1).
func (r *Receiver) AnswerWith(f func(n int) int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.status = f
}

// ServeHTTP records the request.
func (r *Receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(req.Body, 1<<20))
	r.mu.Lock()
	n := len(r.got) + 1
	status := http.StatusNoContent
	if r.status != nil {
		status = r.status(n)
	}
	r.got = append(r.got, Request{Header: req.Header.Clone(), Body: body, At: time.Now(), Status: status})
	r.mu.Unlock()
	if status >= 300 && status < 400 && r.Redirect != "" {
		w.Header().Set("Location", r.Redirect)
	}
	w.WriteHeader(status)
	select {
	case r.signal <- struct{}{}:
	default:
	}
}

// Requests returns what was received so far.
func (r *Receiver) Requests() []Request {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Request(nil), r.got...)
}

// WaitFor waits until cond holds for what was received, or fails the test
// after limit.
func (r *Receiver) WaitFor(t testing.TB, limit time.Duration, what string, cond func([]Request) bool) []Request {
	t.Helper()
	end := time.NewTimer(limit)
	defer end.Stop()
	for {
		if got := r.Requests(); cond(got) {
			return got
		}
		select {
		case <-r.signal:
		case <-time.After(50 * time.Millisecond):
		case <-end.C:
			t.Fatalf("webhook receiver: %s: not within %s (%d requests)", what, limit, len(r.Requests()))
		}
	}
}

// Event is a webhook body as the reference library returns it.
type Event struct {
	Type      string          `json:"type"`
	Timestamp string          `json:"timestamp"`
	Data      json.RawMessage `json:"data"`
}

// Verify checks every request with the reference library under secret (a
// "whsec_…" string) and returns the verified payloads; a request that does
// not verify fails the test, unless wantFail is set, in which case every
// request must fail verification and nil is returned.
func Verify(t testing.TB, secret string, reqs []Request, wantFail bool) []Event {
	t.Helper()
	dir := install(t)
	type input struct {
		Headers map[string]string `json:"headers"`
		Body    string            `json:"body"`
	}
	in := make([]input, len(reqs))
	for i, r := range reqs {
		in[i] = input{Headers: map[string]string{}, Body: string(r.Body)}
		for k := range r.Header {
			in[i].Headers[k] = r.Header.Get(k)
		}
	}
	payload, _ := json.Marshal(map[string]any{"secret": secret, "requests": in})
	cmd := exec.Command("node", "-e", verifyJS)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "NODE_PATH="+filepath.Join(dir, "node_modules"))
	cmd.Stdin = bytes.NewReader(payload)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("webhooktest: node: %v: %s", err, stderr.String())
	}
	var res []struct {
		OK    bool   `json:"ok"`
		Error string `json:"error"`
		Event Event  `json:"event"`
	}
	if err := json.Unmarshal(out, &res); err != nil || len(res) != len(reqs) {
		t.Fatalf("webhooktest: node answered %q (%v)", out, err)
	}
	var events []Event
	for i, r := range res {
		switch {
		case wantFail && r.OK:
			t.Errorf("webhook %d verified with the reference library under a secret that should not verify it", i)
		case !wantFail && !r.OK:
			t.Errorf("webhook %d does not verify with the reference library: %s", i, r.Error)
		case r.OK:
			events = append(events, r.Event)
		}
	}
	if wantFail {
		return nil
	}
	return events
}

// Sign returns the webhook-signature value the reference library makes
// (Webhook.sign) for body under secret, with msgID and the timestamp at,
// so a verifier is checked against signatures proofline did not make.
func Sign(t testing.TB, secret, msgID string, at time.Time, body []byte) string {
	t.Helper()
	dir := install(t)
	payload, _ := json.Marshal(map[string]any{"secret": secret, "id": msgID, "ts": at.Unix(), "body": string(body)})
	cmd := exec.Command("node", "-e", signJS)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "NODE_PATH="+filepath.Join(dir, "node_modules"))
	cmd.Stdin = bytes.NewReader(payload)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("webhooktest: node: %v: %s", err, stderr.String())
	}
	return string(bytes.TrimSpace(out))
}

const signJS = `
const { Webhook } = require("standardwebhooks");
let input = "";
process.stdin.on("data", (c) => (input += c));
process.stdin.on("end", () => {
  const { secret, id, ts, body } = JSON.parse(input);
  process.stdout.write(new Webhook(secret).sign(id, new Date(ts * 1000), body));
});
`

const verifyJS = `
const { Webhook } = require("standardwebhooks");
let input = "";
process.stdin.on("data", (c) => (input += c));
process.stdin.on("end", () => {
  const { secret, requests } = JSON.parse(input);
  const wh = new Webhook(secret);
  const out = requests.map((r) => {
    try {
      return { ok: true, event: wh.verify(r.body, r.headers) };
    } catch (e) {
      return { ok: false, error: String(e && e.message) };
    }
  });
  process.stdout.write(JSON.stringify(out));
});
`

var installMu sync.Mutex

// install puts the reference library into the cache once and returns its
// directory; it skips (or, in CI, fails) the test without node and npm.
func install(t testing.TB) string {
	t.Helper()
	for _, tool := range []string{"node", "npm"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("webhooktest: %s is required in CI", tool)
			}
			t.Skipf("webhooktest: %s not installed: the reference library cannot run", tool)
		}
	}
	installMu.Lock()
	defer installMu.Unlock()
	base, err := os.UserCacheDir()
	if err != nil {
		t.Fatal(err)
	}
	root := filepath.Join(base, "proofline", "npm")
	dir := filepath.Join(root, "standardwebhooks-"+ReferenceVersion)
	marker := filepath.Join(dir, "node_modules", "standardwebhooks", "package.json")
	if err := os.MkdirAll(root, 0o755); err != nil {
		t.Fatal(err)
	}
	lock, err := os.OpenFile(filepath.Join(root, ".standardwebhooks.lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	if installedVersion(marker) == ReferenceVersion {
		return dir
	}
	tmp, err := os.MkdirTemp(root, ".install-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(tmp)
	cmd := exec.Command("npm", "install", "--no-audit", "--no-fund", "--ignore-scripts", "--prefix", tmp, "standardwebhooks@"+ReferenceVersion)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("webhooktest: npm install standardwebhooks@%s: %v: %s", ReferenceVersion, err, out)
	}
	_ = os.RemoveAll(dir)
	if err := os.Rename(tmp, dir); err != nil {
		t.Fatal(err)
	}
	if v := installedVersion(marker); v != ReferenceVersion {
		t.Fatal(errors.New("webhooktest: npm installed standardwebhooks " + fmt.Sprint(v)))
	}
	return dir
}

func installedVersion(packageJSON string) string {
	b, err := os.ReadFile(packageJSON)
	if err != nil {
		return ""
	}
	var p struct {
		Version string `json:"version"`
	}
	_ = json.Unmarshal(b, &p)
	return p.Version
}
