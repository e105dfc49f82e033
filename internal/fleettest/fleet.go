// Package fleettest runs a scale-out deployment of the built proofline binary
// on loopback for tests and benchmarks: a redis-server, `proofline serve`
// processes sharing it behind a round-robin load balancer (their common
// base_url), and `proofline worker` processes consuming the queue. It also
// speaks the JSON API as an IdP back end would.
//
// Everything is bounded: each process start waits at most 30 s, each stop
// at most its grace period before SIGKILL, every HTTP call has a timeout.
package fleettest

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/proofline/proofline/seal"
)

// Build builds the proofline binary into dir and returns its path.
func Build(ctx context.Context, dir string) (string, error) {
	bin := filepath.Join(dir, "proofline")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/proofline/proofline/cmd/proofline")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
}

// FreeAddr returns a free 127.0.0.1 host:port.
func FreeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// Options configure a Fleet.
type Options struct {
	// Bin is the built proofline binary. Required.
	Bin string
	// RedisURL is the servers' Redis (result store and queues). Required.
	RedisURL string
	// WorkerRedisURL is the queue Redis URL workers get: a user that can
	// touch only the queue's keys, as README's queue section sets up.
	// Default RedisURL.
	WorkerRedisURL string
	// BaseURL is the fleet's public origin: every process's base_url, so
	// the origin workers send claims and callbacks to. Default the load
	// balancer's URL; a proxy in front of it puts faults between workers
	// and servers.
	BaseURL string
	// Dir holds the shared data_dir and process logs. Required.
	Dir string
	// QueuePrefix keeps this fleet's queues apart. Default "fleet".
	QueuePrefix string
	// WorkerConcurrency per worker process. Default 64.
	WorkerConcurrency int
	// LogLevel of every process. Default "warn".
	LogLevel string
	// Extra environment for every process (KEY=value).
	Env []string
}

// The shared secrets of a fleet: every server and worker must agree.
const (
	APIKey          = "fleet-api-key-0123456789abcdef"
	addressToken    = "fleet-address-token-aaaaaaaa"
	documentToken   = "fleet-document-token-bbbbbbb"
	resolutionToken = "fleet-resolution-token-ccccc"
)

// Fleet is a running deployment.
type Fleet struct {
	o          Options
	LB         *LB
	recordKeys string
	mu         sync.Mutex
	procs      []*Proc
	n          atomic.Int64
}

// New starts the load balancer; servers and workers are started on demand.
func New(o Options) (*Fleet, error) {
	if o.QueuePrefix == "" {
		o.QueuePrefix = "fleet"
	}
	if o.WorkerConcurrency == 0 {
		o.WorkerConcurrency = 64
	}
	if o.LogLevel == "" {
		o.LogLevel = "warn"
	}
	if err := os.MkdirAll(filepath.Join(o.Dir, "data"), 0o700); err != nil {
		return nil, err
	}
	k, err := seal.Generate("fleet1")
	if err != nil {
		return nil, err
	}
	lb, err := NewLB()
	if err != nil {
		return nil, err
	}
	if o.WorkerRedisURL == "" {
		o.WorkerRedisURL = o.RedisURL
	}
	if o.BaseURL == "" {
		o.BaseURL = lb.URL()
	}
	return &Fleet{o: o, LB: lb, recordKeys: seal.FormatKeys(k)}, nil
}

// SetBaseURL sets the fleet's public origin (Options.BaseURL) for the
// processes started from now on: a proxy in front of f.LB, say, made once
// the load balancer's address is known.
func (f *Fleet) SetBaseURL(u string) { f.o.BaseURL = u }

// env is a process's environment by role: servers hold the result store
// and its keys; workers hold only the queue, the callback tokens and the
// image directory (keys by role, invariant 11).
func (f *Fleet) env(role string, extra ...string) []string {
	env := []string{"PATH=" + os.Getenv("PATH")}
	if role == "server" {
		env = append(env,
			"PROOFLINE_REDIS_URL="+f.o.RedisURL,
			"PROOFLINE_RECORD_KEYS="+f.recordKeys,
			"PROOFLINE_ATTEMPT_HASH_KEY="+base64.StdEncoding.EncodeToString(bytes.Repeat([]byte("h"), 32)),
			"PROOFLINE_SESSION_SECRET="+base64.StdEncoding.EncodeToString(bytes.Repeat([]byte("s"), 32)),
			"PROOFLINE_API_KEYS="+APIKey,
			"PROOFLINE_UPLOAD_SIGNING_KEY="+base64.StdEncoding.EncodeToString(bytes.Repeat([]byte("u"), 32)),
			"PROOFLINE_QUEUE_PROOFING_ENABLED=true",
		)
	} else {
		env = append(env, "PROOFLINE_QUEUE_REDIS_URL="+f.o.WorkerRedisURL)
	}
	env = append(env,
		"PROOFLINE_ADDRESS_PROOF_RESULT_LAMBDA_TOKEN="+addressToken,
		"PROOFLINE_DOCUMENT_PROOF_RESULT_LAMBDA_TOKEN="+documentToken,
		"PROOFLINE_RESOLUTION_PROOF_RESULT_LAMBDA_TOKEN="+resolutionToken,
		"PROOFLINE_BASE_URL="+f.o.BaseURL,
		"PROOFLINE_DATA_DIR="+filepath.Join(f.o.Dir, "data"),
		"PROOFLINE_QUEUE_NAME_PREFIX="+f.o.QueuePrefix,
		"PROOFLINE_WORKER_CONCURRENCY="+strconv.Itoa(f.o.WorkerConcurrency),
		"PROOFLINE_LOG_LEVEL="+f.o.LogLevel,
	)
	env = append(env, f.o.Env...)
	return append(env, extra...)
}

// StartServer starts `proofline serve` with async_wait_timeout_seconds =
// timeout, waits for /healthz and adds it to the load balancer.
func (f *Fleet) StartServer(timeout int) (*Proc, error) {
	addr, err := FreeAddr()
	if err != nil {
		return nil, err
	}
	return f.StartServerAt(addr, timeout)
}

// StartServerAt is StartServer on a given address (to start a stopped
// server again where it was), with extra environment (KEY=value).
func (f *Fleet) StartServerAt(addr string, timeout int, env ...string) (*Proc, error) {
	// Metrics on a free loopback port: several servers share the machine.
	maddr, err := FreeAddr()
	if err != nil {
		return nil, err
	}
	env = append([]string{"PROOFLINE_ASYNC_WAIT_TIMEOUT_SECONDS=" + strconv.Itoa(timeout), "PROOFLINE_METRICS_ADDR=" + maddr}, env...)
	p, err := f.start("server", []string{"serve", "--addr", addr}, addr, env...)
	if err != nil {
		return nil, err
	}
	p.MetricsAddr = maddr
	f.LB.Add(p.URL())
	return p, nil
}

// StartWorker starts `proofline worker` with extra environment (KEY=value)
// and waits for /healthz.
func (f *Fleet) StartWorker(env ...string) (*Proc, error) {
	addr, err := FreeAddr()
	if err != nil {
		return nil, err
	}
	return f.start("worker", []string{"worker", "--addr", addr}, addr, env...)
}

func (f *Fleet) start(role string, args []string, addr string, extraEnv ...string) (*Proc, error) {
	name := fmt.Sprintf("%s%d", role, f.n.Add(1))
	logf, err := os.Create(filepath.Join(f.o.Dir, name+".log"))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(f.o.Bin, args...)
	cmd.Env = f.env(role, extraEnv...)
	cmd.Stdout = logf
	cmd.Stderr = logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, err
	}
	p := &Proc{Name: name, Addr: addr, MetricsAddr: addr, cmd: cmd, logPath: logf.Name(), exited: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		logf.Close()
		close(p.exited)
	}()
	f.mu.Lock()
	f.procs = append(f.procs, p)
	f.mu.Unlock()
	client := &http.Client{Timeout: time.Second}
	for end := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		select {
		case <-p.exited:
			return nil, fmt.Errorf("%s exited at start (status %d):\n%s", name, p.ExitCode(), p.Log())
		default:
		}
		if resp, err := client.Get(p.URL() + "/healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return p, nil
			}
		}
		if time.Now().After(end) {
			p.Kill()
			return nil, fmt.Errorf("%s not healthy within 30s:\n%s", name, p.Log())
		}
	}
}

// Procs lists every process started, in start order.
func (f *Fleet) Procs() []*Proc {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]*Proc(nil), f.procs...)
}

// Close kills every process still running and stops the load balancer.
func (f *Fleet) Close() {
	f.mu.Lock()
	procs := f.procs
	f.mu.Unlock()
	for _, p := range procs {
		p.Kill()
	}
	f.LB.Close()
}

// Proc is one proofline process.
type Proc struct {
	Name string
	Addr string
	// MetricsAddr serves GET /metrics: metrics_addr for a server, --addr
	// for a worker.
	MetricsAddr string
	cmd         *exec.Cmd
	logPath     string
	exited      chan struct{}
}

// URL is the process's own origin.
func (p *Proc) URL() string { return "http://" + p.Addr }

// MetricsURL is the origin of the process's /metrics.
func (p *Proc) MetricsURL() string { return "http://" + p.MetricsAddr }

// PID is the process id.
func (p *Proc) PID() int { return p.cmd.Process.Pid }

// Exited is closed once the process has exited.
func (p *Proc) Exited() <-chan struct{} { return p.exited }

// Kill sends SIGKILL and waits for the process to go.
func (p *Proc) Kill() {
	select {
	case <-p.exited:
		return
	default:
	}
	_ = p.cmd.Process.Kill()
	<-p.exited
}

// Stop sends SIGTERM and waits up to grace for the exit status; past grace
// the process is killed and an error returned.
func (p *Proc) Stop(grace time.Duration) (int, error) {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
		return p.ExitCode(), nil
	case <-time.After(grace):
		p.Kill()
		return -1, fmt.Errorf("%s did not exit within %s of SIGTERM", p.Name, grace)
	}
}

// ExitCode is the exit status once the process has exited (-1 before).
func (p *Proc) ExitCode() int {
	select {
	case <-p.exited:
		return p.cmd.ProcessState.ExitCode()
	default:
		return -1
	}
}

// Log returns the last 8 KiB of the process's output.
func (p *Proc) Log() string {
	b, _ := os.ReadFile(p.logPath)
	if len(b) > 8<<10 {
		b = b[len(b)-8<<10:]
	}
	return string(b)
}

// LB is a round-robin reverse proxy on loopback: the fleet's base_url, as a
// load balancer is in production. Callbacks and uploads land on any server.
type LB struct {
	srv      *http.Server
	addr     string
	mu       sync.RWMutex
	backends []*url.URL
	next     atomic.Uint64
	hook     atomic.Pointer[Hook]
	lastErr  atomic.Value // string
}

// LastError describes the last request the load balancer could not
// forward (answered 502), for test failure messages.
func (lb *LB) LastError() string {
	s, _ := lb.lastErr.Load().(string)
	return s
}

// Exchange is one worker request (a claim or a callback) the load balancer
// forwarded, with what came back.
type Exchange struct {
	Method string
	// Path is the request path, e.g. /api/proofing_results/address/{id}/claim.
	Path   string
	Header http.Header
	Body   []byte
	// Backend is the server's origin.
	Backend string
	// Start is when the load balancer began forwarding; End when the
	// answer was back (wall clock).
	Start, End time.Time
	// Status is the server's answer; 0 when none came (the server was
	// unreachable or went away).
	Status int
}

// Hook watches the claims and callbacks the load balancer forwards (paths
// under /api/proofing_results/). Both functions may be nil and must be safe
// for concurrent use.
type Hook struct {
	// Before runs before the request is forwarded; it may start
	// duplicates of it.
	Before func(e *Exchange)
	// After runs once the answer is back (or the backend failed).
	After func(e *Exchange)
}

// SetHook installs h (nil removes it).
func (lb *LB) SetHook(h *Hook) { lb.hook.Store(h) }

// maxHookBody bounds the bodies a Hook sees (callbacks are at most 1 MiB).
const maxHookBody = 1<<20 + 1

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

type proxyFailedKey struct{}

// NewLB starts a load balancer with no backends (it answers 503 until one
// is added).
func NewLB() (*LB, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	lb := &LB{addr: ln.Addr().String()}
	proxy := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(r.In.Context().Value(backendKey{}).(*url.URL))
			r.Out.Host = r.In.Host // the servers sign and check URLs for base_url's host
		},
		Transport: &http.Transport{MaxIdleConnsPerHost: 256, IdleConnTimeout: 30 * time.Second},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			if failed, ok := r.Context().Value(proxyFailedKey{}).(*atomic.Bool); ok {
				failed.Store(true)
			}
			lb.lastErr.Store(fmt.Sprintf("%s %s: %v", r.Method, r.URL.Path, err))
			w.WriteHeader(http.StatusBadGateway)
		},
	}
	lb.srv = &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		lb.mu.RLock()
		n := len(lb.backends)
		var b *url.URL
		if n > 0 {
			b = lb.backends[lb.next.Add(1)%uint64(n)]
		}
		lb.mu.RUnlock()
		if b == nil {
			http.Error(w, "no backend", http.StatusServiceUnavailable)
			return
		}
		ctx := context.WithValue(r.Context(), backendKey{}, b)
		h := lb.hook.Load()
		if h == nil || !strings.HasPrefix(r.URL.Path, "/api/proofing_results/") {
			proxy.ServeHTTP(w, r.WithContext(ctx))
			return
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, maxHookBody))
		if err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		e := &Exchange{Method: r.Method, Path: r.URL.Path, Header: r.Header.Clone(), Body: body, Backend: b.String()}
		if h.Before != nil {
			h.Before(e)
		}
		failed := new(atomic.Bool)
		sw := &statusWriter{ResponseWriter: w}
		e.Start = time.Now()
		proxy.ServeHTTP(sw, r.WithContext(context.WithValue(ctx, proxyFailedKey{}, failed)))
		e.End = time.Now()
		if e.Status = sw.status; failed.Load() {
			e.Status = 0
		}
		if h.After != nil {
			h.After(e)
		}
	})}
	go func() { _ = lb.srv.Serve(ln) }()
	return lb, nil
}

type backendKey struct{}

// URL is the load balancer's origin.
func (lb *LB) URL() string { return "http://" + lb.addr }

// Add adds a backend origin.
func (lb *LB) Add(origin string) {
	u, _ := url.Parse(origin)
	lb.mu.Lock()
	lb.backends = append(lb.backends, u)
	lb.mu.Unlock()
}

// Remove removes a backend origin.
func (lb *LB) Remove(origin string) {
	lb.mu.Lock()
	defer lb.mu.Unlock()
	for i, b := range lb.backends {
		if b.String() == origin {
			lb.backends = append(lb.backends[:i], lb.backends[i+1:]...)
			return
		}
	}
}

// Close stops the load balancer.
func (lb *LB) Close() { _ = lb.srv.Close() }

// Client speaks the JSON API as an IdP back end.
type Client struct {
	HTTP *http.Client
}

// NewClient returns a client with bounded requests.
func NewClient() *Client {
	return &Client{HTTP: &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}}
}

// Do sends a JSON request to origin+path and decodes a JSON answer into out
// (when not nil). It returns the status.
func (c *Client) Do(method, origin, path string, body, out any) (int, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, origin+path, rd)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+APIKey)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if out != nil && len(raw) > 0 {
		if err := json.Unmarshal(raw, out); err != nil {
			return resp.StatusCode, fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, raw)
		}
	}
	return resp.StatusCode, nil
}

// Started is a 202 answer.
type Started struct {
	ResultID  string    `json:"result_id"`
	StatusURL string    `json:"status_url"`
	Deadline  time.Time `json:"deadline"`
}

// Start starts a resolution or address job with body at origin.
func (c *Client) Start(origin, kind string, body any) (Started, error) {
	var s Started
	code, err := c.Do("POST", origin, "/api/v1/proofing/"+kind, body, &s)
	if err == nil && code != 202 {
		err = fmt.Errorf("start %s: status %d", kind, code)
	}
	return s, err
}

// StartDocument creates a capture at origin, encrypts and uploads the front
// and back images to origin with their signed upload paths, and starts the
// document job.
func (c *Client) StartDocument(origin string, front, back []byte) (Started, error) {
	var capt struct {
		CaptureID string `json:"capture_id"`
		Uploads   map[string]struct {
			URL     string            `json:"url"`
			Method  string            `json:"method"`
			Headers map[string]string `json:"headers"`
		} `json:"uploads"`
	}
	if code, err := c.Do("POST", origin, "/api/v1/document-capture", nil, &capt); err != nil || code != 201 {
		return Started{}, fmt.Errorf("capture: %d %v", code, err)
	}
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	block, _ := aes.NewCipher(key)
	gcm, _ := cipher.NewGCM(block)
	req := map[string]any{"capture_id": capt.CaptureID, "encryption_key": base64.StdEncoding.EncodeToString(key)}
	for side, img := range map[string][]byte{"front": front, "back": back} {
		up, ok := capt.Uploads[side]
		if !ok {
			return Started{}, errors.New("capture has no " + side + " upload")
		}
		iv := make([]byte, 12)
		_, _ = rand.Read(iv)
		// Upload to the server the job starts on (any server takes it):
		// base_url may be a faulty proxy meant for the workers' traffic.
		target, err := url.Parse(up.URL)
		if err != nil {
			return Started{}, err
		}
		put, err := http.NewRequest(up.Method, origin+target.RequestURI(), bytes.NewReader(gcm.Seal(nil, iv, img, nil)))
		if err != nil {
			return Started{}, err
		}
		for k, v := range up.Headers {
			put.Header.Set(k, v)
		}
		resp, err := c.HTTP.Do(put)
		if err != nil {
			return Started{}, err
		}
		resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			return Started{}, fmt.Errorf("upload %s: %d", side, resp.StatusCode)
		}
		req[side+"_image_url"] = up.URL
		req[side+"_image_iv"] = base64.StdEncoding.EncodeToString(iv)
	}
	return c.Start(origin, "document", req)
}

// Outcome is a poll answer.
type Outcome struct {
	Status string `json:"status"`
	Result *struct {
		Success bool                `json:"success"`
		Errors  map[string][]string `json:"errors"`
	} `json:"result"`
}

// Poll reads a job's outcome at origin.
func (c *Client) Poll(origin, statusURL string) (Outcome, error) {
	var o Outcome
	code, err := c.Do("GET", origin, statusURL, nil, &o)
	if err == nil && code != 200 {
		err = fmt.Errorf("poll: status %d", code)
	}
	return o, err
}

// Metric sums the samples of the Prometheus text series whose line starts
// with prefix (name and labels) on every worker's /metrics.
func Metric(client *http.Client, origins []string, prefix string) (float64, error) {
	var sum float64
	for _, o := range origins {
		resp, err := client.Get(o + "/metrics")
		if err != nil {
			return 0, err
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		for _, line := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(line, prefix) {
				f := strings.Fields(line)
				v, _ := strconv.ParseFloat(f[len(f)-1], 64)
				sum += v
			}
		}
	}
	return sum, nil
}
