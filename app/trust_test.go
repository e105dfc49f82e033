package app_test

// Trust boundaries held by cryptography (ARCHITECTURE invariants 9, 10, 11),
// tried as an attacker would: a hop that terminates TLS between worker and
// IdP, a host that holds only a worker's configuration, a redelivered task,
// and an envelope copied somewhere before its record ended.

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/proofline/proofline"
	"github.com/proofline/proofline/app"
	"github.com/proofline/proofline/config"
	"github.com/proofline/proofline/internal/testlog"
	"github.com/proofline/proofline/observe/metrics"
	"github.com/proofline/proofline/resultstore"
	"github.com/proofline/proofline/resultstore/redisstore"
	"github.com/proofline/proofline/seal"
)

// rewriter is a TLS-terminating hop between workers and the IdP: it sees
// every request in clear, turns a failed result into a success, and re-signs
// (or re-seals) with everything it saw. It also tries on its own: a claim
// with its own key and the proof it saw, and forged callbacks sealed under
// every byte string it saw.
type rewriter struct {
	mu      sync.Mutex
	target  string
	seen    [][]byte // every request and response body, as it passed
	headers []string // every request header value, as it passed
	won     []string // what the hop's own attempts obtained
}

func (rw *rewriter) saw(b []byte) {
	rw.mu.Lock()
	rw.seen = append(rw.seen, bytes.Clone(b))
	rw.mu.Unlock()
}

func (rw *rewriter) sawAny(s string) bool {
	rw.mu.Lock()
	defer rw.mu.Unlock()
	for _, b := range rw.seen {
		if bytes.Contains(b, []byte(s)) {
			return true
		}
	}
	return false
}

func (rw *rewriter) start(t *testing.T, target string) (*httptest.Server, string) {
	t.Helper()
	rw.target = target
	u, _ := url.Parse(target)
	proxy := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(u)
			pr.Out.Host = pr.In.Host
			body, _ := io.ReadAll(pr.Out.Body)
			rw.saw(body)
			rw.mu.Lock()
			for _, vs := range pr.Out.Header {
				rw.headers = append(rw.headers, vs...)
			}
			rw.mu.Unlock()
			switch p := pr.Out.URL.Path; {
			case strings.HasPrefix(p, "/api/proofing_results/") && strings.HasSuffix(p, "/claim"):
				rw.claimWithOwnKey(pr.Out, body)
			case strings.HasPrefix(p, "/api/proofing_results/"):
				rw.forgeSealed(pr.Out, body)
				body = rw.forge(pr.Out, body)
			}
			pr.Out.Body = io.NopCloser(bytes.NewReader(body))
			pr.Out.ContentLength = int64(len(body))
			pr.Out.Header.Set("Content-Length", strconv.Itoa(len(body)))
		},
		ModifyResponse: func(r *http.Response) error {
			b, _ := io.ReadAll(r.Body)
			rw.saw(b)
			r.Body = io.NopCloser(bytes.NewReader(b))
			return nil
		},
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(proxy)
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, srv.URL
}

// forge rewrites a callback: failure becomes success, errors vanish, and the
// request is signed again with the job secret it carried (if any).
func (rw *rewriter) forge(r *http.Request, body []byte) []byte {
	forged := bytes.ReplaceAll(body, []byte(`"success":false`), []byte(`"success":true`))
	if i := bytes.Index(forged, []byte(`"errors":{`)); i >= 0 {
		if j := bytes.Index(forged[i:], []byte(`}`)); j >= 0 {
			forged = append(append(bytes.Clone(forged[:i]), []byte(`"errors":{}`)...), forged[i+j+1:]...)
		}
	}
	if secret := r.Header.Get("X-Proofline-Job-Secret"); secret != "" {
		raw, err := decodeAny(secret)
		if err == nil {
			ts := r.Header.Get("X-Proofline-Timestamp")
			bh := sha256.Sum256(forged)
			m := hmac.New(sha256.New, raw)
			m.Write([]byte("proofline-callback-v1\n" + ts + "\n" + r.Method + "\n" + r.URL.EscapedPath() + "\n" + hex.EncodeToString(bh[:])))
			r.Header.Set("X-Proofline-Signature", "v1="+hex.EncodeToString(m.Sum(nil)))
		}
	}
	return forged
}

func decodeAny(s string) ([]byte, error) {
	return config.DecodeKey(s)
}

// candidates is every 32-byte string the hop can make from what it saw:
// header values and every base64 or string field of every body, raw, as
// decoded, hashed, truncated and padded.
func (rw *rewriter) candidates() [][]byte {
	rw.mu.Lock()
	defer rw.mu.Unlock()
	var strs []string
	strs = append(strs, rw.headers...)
	for _, b := range rw.seen {
		var m map[string]any
		if json.Unmarshal(b, &m) == nil {
			for _, v := range m {
				if s, ok := v.(string); ok {
					strs = append(strs, s)
				}
			}
		}
	}
	var out [][]byte
	for _, s := range strs {
		raws := [][]byte{[]byte(s)}
		if d, err := decodeAny(s); err == nil {
			raws = append(raws, d)
		}
		for _, r := range raws {
			h := sha256.Sum256(r)
			out = append(out, h[:], append(bytes.Clone(r), make([]byte, 32)...)[:32])
		}
	}
	return out
}

// claimWithOwnKey claims the job with the hop's own X25519 key and the proof
// it saw, before the worker's claim goes on. A 200 would hand the hop the
// data key.
func (rw *rewriter) claimWithOwnKey(r *http.Request, body []byte) {
	var req proofline.ClaimRequest
	if json.Unmarshal(body, &req) != nil {
		return
	}
	own, _ := proofline.NewClaimant(&proofline.Envelope{Version: proofline.EnvelopeVersion, Kind: proofline.KindAddress,
		ResultID: proofline.NewResultID(), CallbackURL: "x", Deadline: time.Now().Add(time.Minute), ClaimToken: make([]byte, 32)})
	var mine proofline.ClaimRequest
	_ = json.Unmarshal(own.Body(), &mine)
	req.PublicKey = mine.PublicKey
	forged, _ := json.Marshal(req)
	if st := rw.post(r, r.URL.Path, forged, r.Header.Get(proofline.HeaderTimestamp)); st == http.StatusOK {
		rw.mu.Lock()
		rw.won = append(rw.won, "a data key for its own key pair")
		rw.mu.Unlock()
	}
}

// forgeSealed sends the IdP callbacks of its own: a success sealed under
// every candidate secret, and the worker's body with one bit flipped. Any
// 2xx is a forged outcome.
func (rw *rewriter) forgeSealed(r *http.Request, body []byte) {
	var sc proofline.SealedCallback
	if json.Unmarshal(body, &sc) != nil || len(sc.Sealed) == 0 {
		return
	}
	parts := strings.Split(r.URL.Path, "/")
	kind, id := proofline.Kind(parts[3]), parts[4]
	ts := r.Header.Get(proofline.HeaderTimestamp)
	at, _ := strconv.ParseInt(ts, 10, 64)
	success := []byte(`{"` + kind.ResultField() + `":{"success":true,"errors":{},"messages":[],"exception":null,"timed_out":false,"transaction_id":"forged","context":{"stages":[]}}}`)
	var tries [][]byte
	for _, k := range rw.candidates() {
		if b, err := proofline.SealCallback(k, kind, id, r.Method, r.URL.Path, time.Unix(at, 0), success); err == nil {
			tries = append(tries, b)
		}
	}
	flipped := sc
	flipped.Sealed = bytes.Clone(sc.Sealed)
	flipped.Sealed[len(flipped.Sealed)/2] ^= 1
	fb, _ := json.Marshal(flipped)
	tries = append(tries, fb)
	for _, b := range tries {
		if st := rw.post(r, r.URL.Path, b, ts); st/100 == 2 {
			rw.mu.Lock()
			rw.won = append(rw.won, "a forged callback stored")
			rw.mu.Unlock()
			return
		}
	}
}

func (rw *rewriter) post(r *http.Request, path string, body []byte, ts string) int {
	req, _ := http.NewRequest(http.MethodPost, rw.target+path, bytes.NewReader(body))
	req.Header = r.Header.Clone()
	req.Header.Set(proofline.HeaderTimestamp, ts)
	req.Header.Del("Content-Length")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestRewritingProxyCannotChangeOutcome: a hop between worker and IdP that
// rewrites the callback cannot change a stored outcome, and never sees the
// plaintext result nor pii_from_doc.
func TestRewritingProxyCannotChangeOutcome(t *testing.T) {
	cfg := config.Defaults()
	cfg.DataDir = t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rw := &rewriter{}
	_, proxyURL := rw.start(t, "http://"+ln.Addr().String())
	cfg.BaseURL = proxyURL
	e := serve(t, cfg, ln)

	// The vendor fails this person; the hop wants a success on record.
	r := e.proof("resolution", map[string]any{"applicant": applicant(set("first_name", "Bad"))})
	if r["success"] != false || errorsOf(r)["first_name"] == nil {
		t.Errorf("the hop changed the stored outcome: %v", r)
	}
	r = e.proof("address", map[string]any{"applicant": map[string]any{"phone": "7035555555"}})
	if r["success"] != false {
		t.Errorf("the hop changed the stored address outcome: %v", r)
	}
	yamlBack := []byte("document:\n  first_name: Qvordlinde\n  last_name: Smith\n  dob: '1985-03-04'\n  state: MT\n  zipcode: '59010'\n  state_id_number: '123456789'\n  state_id_jurisdiction: MT\n  state_id_type: drivers_license\n")
	req, _ := e.capture([]byte("front"), yamlBack)
	r = e.proof("document", req)
	if pii, _ := r["pii_from_doc"].(map[string]any); r["success"] != true || pii["first_name"] != "Qvordlinde" {
		t.Errorf("document outcome %v", r)
	}
	for _, s := range []string{"Qvordlinde", "pii_from_doc", "resolution_result", "address_result", "document_result", `"success"`} {
		if rw.sawAny(s) {
			t.Errorf("the hop saw %q in clear", s)
		}
	}
	rw.mu.Lock()
	defer rw.mu.Unlock()
	if len(rw.won) > 0 {
		t.Errorf("the hop obtained %v", rw.won)
	}
	if len(rw.seen) == 0 {
		t.Fatal("nothing went through the hop")
	}
}

// workerConfig is the configuration README gives a queue or Lambda worker
// of the deployment whose servers run serverCfg: the callback tokens, the
// callback origin, the image store, and (for queue workers) queueURL, a
// Redis user that can touch only the queue's keys. Nothing else.
func workerConfig(serverCfg config.Config, queueURL string) config.Config {
	c := config.Defaults()
	c.BaseURL = serverCfg.BaseURL
	c.DataDir = serverCfg.DataDir
	c.AddressProofResultLambdaToken = serverCfg.AddressProofResultLambdaToken
	c.DocumentProofResultLambdaToken = serverCfg.DocumentProofResultLambdaToken
	c.ResolutionProofResultLambdaToken = serverCfg.ResolutionProofResultLambdaToken
	c.QueueRedisURL = queueURL
	c.QueueNamePrefix = serverCfg.QueueNamePrefix
	c.QueueCheckIntervalMS = serverCfg.QueueCheckIntervalMS
	return c
}

// candidateKeys is every 32-byte key an attacker can make from the secret
// values of cfg: each value (and each comma-separated part) as a key list,
// as one base64 key, and as raw bytes.
func candidateKeys(cfg config.Config) [][]byte {
	var keys [][]byte
	for _, s := range secretValues(cfg) {
		if ks, err := seal.ParseKeys(s); err == nil {
			for _, k := range ks {
				keys = append(keys, k.Material)
			}
		}
		for _, part := range append(strings.Split(s, ","), s) {
			if _, b64, ok := strings.Cut(part, ":"); ok {
				part = b64
			}
			if m, err := config.DecodeKey(part); err == nil && len(m) >= seal.KeySize {
				keys = append(keys, m[:seal.KeySize])
			}
			if len(part) >= seal.KeySize {
				keys = append(keys, []byte(part)[:seal.KeySize])
			}
		}
	}
	return keys
}

// ringsFor is a key ring per candidate key, each under the key id the
// sealed value names.
func ringsFor(keys [][]byte, sealed []byte) []*seal.KeyRing {
	id, err := seal.KeyID(sealed)
	if err != nil {
		return nil
	}
	var rings []*seal.KeyRing
	for _, k := range keys {
		if r, err := seal.NewKeyRing(seal.Key{ID: id, Material: k}); err == nil {
			rings = append(rings, r)
		}
	}
	return rings
}

// secretValues lists the values of every secret key set in cfg.
func secretValues(cfg config.Config) []string {
	secret := map[string]bool{}
	for _, k := range config.SecretKeys() {
		secret[k] = true
	}
	var out []string
	var walk func(v reflect.Value)
	walk = func(v reflect.Value) {
		for i := range v.NumField() {
			f, sf := v.Field(i), v.Type().Field(i)
			if sf.Anonymous && f.Kind() == reflect.Struct {
				walk(f)
				continue
			}
			if !secret[sf.Tag.Get("key")] {
				continue
			}
			switch f.Kind() {
			case reflect.String:
				if f.String() != "" {
					out = append(out, f.String())
				}
			case reflect.Slice:
				if cs, ok := f.Interface().(config.APIClients); ok {
					for _, c := range cs {
						out = append(append(out, c.APIKeys...), c.WebhookSecrets...)
					}
					continue
				}
				out = append(out, f.Interface().([]string)...)
			}
		}
	}
	walk(reflect.ValueOf(cfg))
	return out
}

// aclQueueUser creates a Redis user that can touch only asynq's keys and
// channels (asynq:*), as README's queue section sets workers up, and returns
// its URL.
func aclQueueUser(t *testing.T, prefix string) string {
	t.Helper()
	u, err := redisSrv.QueueUser(context.Background(), "worker"+strconv.FormatInt(time.Now().UnixNano(), 36), "worker-only-pw-0123456789", prefix)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// queueDeployment is a server in queue mode (results in database 1, queue in
// database 0) and one `proofline worker` consumer running with only a
// worker's configuration, as an ACL user that can touch only the queue.
func queueDeployment(t *testing.T) (*env, config.Config, config.Config, func()) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := redisServerConfig(t)
	srv.RedisURL = strings.TrimSuffix(redisSrv.URL(), "/0") + "/1"
	srv.QueueRedisURL = redisSrv.URL()
	srv.QueueProofingEnabled = true
	srv.QueueNamePrefix = "trust" + strconv.FormatInt(time.Now().UnixNano(), 36)
	srv.BaseURL = "http://" + ln.Addr().String()
	e := serve(t, srv, ln)
	wcfg := workerConfig(srv, aclQueueUser(t, srv.QueueNamePrefix))
	if err := wcfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if err := wcfg.CheckWorker(); err != nil {
		t.Fatal(err)
	}
	logs := &testlog.Buffer{}
	c, err := app.NewQueueConsumer(context.Background(), wcfg, app.WorkerOptions{Version: "w",
		Logger: slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	stop := func() {
		once.Do(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_ = c.Shutdown(ctx)
			// The ACL user is enough for everything the consumer does.
			if l := strings.ToLower(logs.String()); strings.Contains(l, "noperm") || strings.Contains(l, "no permissions") {
				t.Errorf("the queue's ACL user lacks a permission the worker needs:\n%s", logs.String())
			}
		})
	}
	t.Cleanup(stop)
	return e, srv, wcfg, stop
}

// TestWorkerConfigCannotReadOrWriteResults: a queue worker runs with only a
// worker's configuration (an ACL user confined to the queue's keys, no
// record key), and a host holding that configuration can neither read a
// stored result nor write an outcome.
func TestWorkerConfigCannotReadOrWriteResults(t *testing.T) {
	e, srvCfg, wcfg, stopWorker := queueDeployment(t)
	done := e.start("resolution", map[string]any{"applicant": applicant(set("first_name", "Bad"))})
	if out := e.waitOutcome(done, 10*time.Second); out["status"] != "done" {
		t.Fatalf("the worker-only config did not proof: %v", out)
	}
	stopWorker()
	pending := e.start("resolution", map[string]any{"applicant": applicant()}) // waits in the queue

	// What the result store holds, read as the admin would.
	admin, err := redisstore.New(context.Background(), redisstore.Options{URL: srvCfg.RedisURL})
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	raw, err := admin.Get(context.Background(), done)
	if err != nil {
		t.Fatal(err)
	}
	keys := candidateKeys(wcfg)
	// Every Redis URL the worker holds, at the results' database and its own.
	var urls []string
	for _, u := range []string{wcfg.RedisURL, wcfg.QueueRedisURL} {
		if u != "" {
			urls = append(urls, u, strings.TrimSuffix(u, "/0")+"/1")
		}
	}
	if len(urls) == 0 {
		t.Fatal("the worker config holds no Redis URL: the queue test proves nothing")
	}
	for _, u := range urls {
		d, err := redisstore.New(context.Background(), redisstore.Options{URL: u})
		if err != nil {
			continue // cannot even reach the store: fine
		}
		got, err := d.Get(context.Background(), done)
		if err == nil {
			raw = got
			t.Errorf("a worker's Redis user read a stored record")
		}
		if _, err := d.Delete(context.Background(), pending); err == nil {
			t.Errorf("a worker's Redis user deleted a record")
		}
		for _, ring := range ringsFor(keys, raw) {
			st := resultstore.New(d, ring, resultstore.Options{})
			rec, err := st.Lookup(context.Background(), pending)
			if err != nil {
				continue
			}
			forged := &proofline.Result{Success: true}
			forged.Normalize()
			if err := st.Complete(context.Background(), rec, forged, time.Now()); err == nil {
				t.Errorf("a worker's config wrote an outcome straight into the store")
			}
		}
		d.Close()
	}
	// The stored value opens with no key the worker holds.
	for _, ring := range ringsFor(keys, raw) {
		if _, err := resultstore.New(admin, ring, resultstore.Options{}).Outcome(context.Background(), done); err == nil {
			t.Errorf("a worker's key opened a stored record")
		}
	}
	// Through the IdP: the per-kind token is the worker's, but a callback
	// sealed under anything the worker holds is refused.
	for _, k := range keys {
		path := proofline.CallbackPath(proofline.KindResolution, pending)
		now := time.Now()
		body, _ := proofline.SealCallback(k, proofline.KindResolution, pending, "POST", path, now, []byte(`{"resolution_result":{"success":true}}`))
		r := e.do("POST", path, body, proofline.HeaderAuthToken, wcfg.ResolutionProofResultLambdaToken, proofline.HeaderTimestamp, strconv.FormatInt(now.Unix(), 10))
		if r.status/100 == 2 {
			t.Errorf("a callback sealed under a worker's key was stored")
		}
	}
	if o := e.do("GET", "/api/v1/proofing/"+pending, nil); o.body["status"] == "done" {
		t.Errorf("pending job has an outcome nobody proofed: %s", o.raw)
	}
}

// redisServerConfig is a server configuration sharing the test Redis.
func redisServerConfig(t *testing.T) config.Config {
	t.Helper()
	cfg := config.Defaults()
	cfg.DataDir = t.TempDir()
	k, _ := seal.Generate("k1")
	cfg.RedisURL = redisSrv.URL()
	cfg.RecordKeys = seal.FormatKeys(k)
	cfg.AttemptHashKey = testHashKey
	cfg.SessionSecret = testHashKey
	cfg.APIKeys = []string{"test-api-key-0123456789abcdef"}
	cfg.AddressProofResultLambdaToken = "address-token-aaaaaaaaaaaa"
	cfg.DocumentProofResultLambdaToken = "document-token-bbbbbbbbbbb"
	cfg.ResolutionProofResultLambdaToken = "resolution-token-ccccccccc"
	return cfg
}

// lambdaDeployment is a server dispatching to AWS Lambda, whose Invoke API is
// the test's own: it keeps every envelope sent, as Lambda's event queue would.
type lambdaDeployment struct {
	e         *env
	cfg       config.Config
	mu        sync.Mutex
	envelopes map[string][]byte
}

func startLambdaDeployment(t *testing.T, timeoutSeconds int) *lambdaDeployment {
	t.Helper()
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDPROOFLINETEST")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "proofline-test-secret")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_CONFIG_FILE", "/dev/null")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
	ld := &lambdaDeployment{envelopes: map[string][]byte{}}
	lambdaAPI := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var h struct {
			ResultID string `json:"result_id"`
		}
		_ = json.Unmarshal(b, &h)
		ld.mu.Lock()
		ld.envelopes[h.ResultID] = b
		ld.mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
	}))
	t.Cleanup(lambdaAPI.Close)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := redisServerConfig(t)
	cfg.BaseURL = "http://" + ln.Addr().String()
	cfg.AWSLambdaProofingEnabled = true
	cfg.AWSLambdaEndpoint = lambdaAPI.URL
	cfg.EnvironmentName = "int"
	cfg.WorkerGitRef = "0a1b2c3d4e5f60718293"
	cfg.AsyncWaitTimeoutSeconds = timeoutSeconds
	ld.cfg = cfg
	ld.e = serve(t, cfg, ln)
	return ld
}

func (ld *lambdaDeployment) envelope(t *testing.T, id string) *proofline.Envelope {
	t.Helper()
	ld.mu.Lock()
	b := ld.envelopes[id]
	ld.mu.Unlock()
	env, err := proofline.ParseEnvelope(b)
	if err != nil {
		t.Fatalf("envelope of %s: %v", id, err)
	}
	return env
}

// vendorCalls scrapes the count of vendor calls from m.
func vendorCalls(t *testing.T, m *metrics.Metrics) int {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	n := 0
	for _, l := range strings.Split(rec.Body.String(), "\n") {
		if strings.HasPrefix(l, "proofline_vendor_call_seconds_count{") {
			f := strings.Fields(l)
			c, _ := strconv.Atoi(f[len(f)-1])
			n += c
		}
	}
	return n
}

// TestRedeliveredEnvelopeCallsVendorOnce: the same envelope handled twice,
// as a Lambda retry or a queue redelivery would, calls the vendor once.
func TestRedeliveredEnvelopeCallsVendorOnce(t *testing.T) {
	ld := startLambdaDeployment(t, 60)
	id := ld.e.start("resolution", map[string]any{"applicant": applicant(), "should_proof_state_id": true})
	env := ld.envelope(t, id)

	m := metrics.New()
	wcfg := workerConfig(ld.cfg, "")
	if err := wcfg.CheckWorker(); err != nil {
		t.Fatal(err)
	}
	rt, err := app.NewWorker(context.Background(), wcfg, app.WorkerOptions{Version: "w", Metrics: m})
	if err != nil {
		t.Fatal(err)
	}
	_ = rt.Handle(context.Background(), env)
	first := vendorCalls(t, m)
	if first == 0 {
		t.Fatal("the first delivery called no vendor")
	}
	if out := ld.e.waitOutcome(id, 5*time.Second); out["status"] != "done" {
		t.Fatalf("outcome %v", out)
	}
	if err := rt.Handle(context.Background(), env); err == nil { // redelivered
		t.Error("a redelivered envelope was delivered again")
	}
	if n := vendorCalls(t, m); n != first {
		t.Errorf("a redelivered envelope called vendors %d more times", n-first)
	}
}

// TestEndedEnvelopeOpensWithNoKey: once its record ended (done, deleted by
// the IdP, or timed out), a copy of the envelope opens with no key the
// deployment holds, even for someone who holds them all and reads the
// result store.
func TestEndedEnvelopeOpensWithNoKey(t *testing.T) {
	ld := startLambdaDeployment(t, 2)
	doneID := ld.e.start("resolution", map[string]any{"applicant": applicant()})
	deletedID := ld.e.start("resolution", map[string]any{"applicant": applicant()})
	expiredID := ld.e.start("resolution", map[string]any{"applicant": applicant()}) // never delivered
	rt, err := app.NewWorker(context.Background(), workerConfig(ld.cfg, ""), app.WorkerOptions{Version: "w"})
	if err != nil {
		t.Fatal(err)
	}
	if err := rt.Handle(context.Background(), ld.envelope(t, doneID)); err != nil {
		t.Fatal(err)
	}
	ld.e.waitOutcome(doneID, 5*time.Second)
	if r := ld.e.do("DELETE", "/api/v1/proofing/"+deletedID, nil); r.status != 204 {
		t.Fatalf("delete: %d", r.status)
	}
	if out := ld.e.waitOutcome(expiredID, 10*time.Second); out["status"] != "timed_out" {
		t.Fatalf("outcome %v", out)
	}
	// The deployment's own result store, opened with its own record ring.
	ring, err := app.RecordKeyRing(ld.cfg)
	if err != nil {
		t.Fatal(err)
	}
	drv, err := redisstore.New(context.Background(), redisstore.Options{URL: ld.cfg.RedisURL})
	if err != nil {
		t.Fatal(err)
	}
	store := resultstore.New(drv, ring, resultstore.Options{})
	defer store.Close()
	// Every key the deployment holds: its configuration (record keys,
	// tokens, API keys, attempt-hash and session keys, ...) and the keys of
	// the envelope itself.
	keys := candidateKeys(ld.cfg)
	if len(keys) < 5 {
		t.Fatalf("only %d keys found in the deployment's configuration", len(keys))
	}
	for _, id := range []string{doneID, deletedID, expiredID} {
		env := ld.envelope(t, id)
		all := append(append([][]byte(nil), keys...), env.ClaimToken)
		if rec, err := store.Lookup(context.Background(), id); err == nil {
			all = append(all, rec.DataKey, rec.ClaimToken, rec.CallbackSecret)
			if len(rec.DataKey) > 0 {
				t.Errorf("the record of ended job %s still holds its data key", id)
			}
		}
		for _, k := range all {
			if _, err := env.Open(k); err == nil {
				t.Errorf("the envelope of ended job %s opened with a key of the deployment", id)
			}
		}
		// Nor can anyone claim its key again, with the worker's token.
		c, _ := proofline.NewClaimant(env)
		r := ld.e.do("POST", proofline.ClaimPath(env.Kind, id), c.Body(), proofline.HeaderAuthToken, ld.cfg.ResolutionProofResultLambdaToken)
		if r.status == 200 {
			t.Errorf("the key of ended job %s was released again", id)
		}
	}
}
