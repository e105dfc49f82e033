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
	"github.com/proofline/proofline/observe/metrics"
	"github.com/proofline/proofline/resultstore"
	"github.com/proofline/proofline/resultstore/redisstore"
	"github.com/proofline/proofline/seal"
)

// rewriter is a TLS-terminating hop between workers and the IdP: it sees
// every request in clear, turns a failed result into a success, and re-signs
// with everything it saw.
type rewriter struct {
	mu   sync.Mutex
	seen [][]byte // every request and response body, as it passed
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
	u, _ := url.Parse(target)
	proxy := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(u)
			pr.Out.Host = pr.In.Host
			body, _ := io.ReadAll(pr.Out.Body)
			rw.saw(body)
			if strings.HasPrefix(pr.Out.URL.Path, "/api/proofing_results/") {
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
}

// workerConfig is the configuration README gives a queue or Lambda worker
// of the deployment whose servers run serverCfg.
func workerConfig(serverCfg config.Config) config.Config {
	return serverCfg
}

// candidateRings is every key ring an attacker can build from the secret
// values of cfg: each value (and each comma-separated part) read as a key
// list and as one base64 key.
func candidateRings(cfg config.Config) []*seal.KeyRing {
	var rings []*seal.KeyRing
	add := func(keys ...seal.Key) {
		if r, err := seal.NewKeyRing(keys...); err == nil {
			rings = append(rings, r)
		}
	}
	for _, s := range secretValues(cfg) {
		if keys, err := seal.ParseKeys(s); err == nil {
			add(keys...)
			for _, k := range keys {
				add(k)
			}
		}
		for _, part := range append(strings.Split(s, ","), s) {
			if m, err := config.DecodeKey(part); err == nil && len(m) >= seal.KeySize {
				add(seal.Key{ID: "x", Material: m[:seal.KeySize]})
			}
			if len(part) >= seal.KeySize {
				add(seal.Key{ID: "y", Material: []byte(part)[:seal.KeySize]})
			}
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
				out = append(out, f.Interface().([]string)...)
			}
		}
	}
	walk(reflect.ValueOf(cfg))
	return out
}

// TestWorkerConfigCannotReadOrWriteResults: a host holding only a worker's
// configuration can neither read a stored result nor write an outcome.
func TestWorkerConfigCannotReadOrWriteResults(t *testing.T) {
	srvCfg := redisServerConfig(t)
	e := serve(t, srvCfg, nil)
	done := e.start("resolution", map[string]any{"applicant": applicant(set("first_name", "Bad"))})
	e.waitOutcome(done, 10*time.Second)
	pending := e.start("resolution", map[string]any{"applicant": applicant(set("first_name", "Hangman"))})

	wcfg := workerConfig(srvCfg)
	var urls []string
	for _, u := range []string{wcfg.RedisURL, wcfg.QueueRedisURL} {
		if u != "" {
			urls = append(urls, u)
		}
	}
	rings := candidateRings(wcfg)
	for _, u := range urls {
		d, err := redisstore.New(context.Background(), redisstore.Options{URL: u})
		if err != nil {
			continue // cannot even reach the store: fine
		}
		for _, ring := range rings {
			st := resultstore.New(d, ring, resultstore.Options{})
			if o, err := st.Outcome(context.Background(), done); err == nil && o.Result != nil {
				t.Errorf("a worker's config read a stored result (success=%v)", o.Result.Success)
			}
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
	cfg.SealKeys = seal.FormatKeys(k)
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

func startLambdaDeployment(t *testing.T) *lambdaDeployment {
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
	ld := startLambdaDeployment(t)
	id := ld.e.start("resolution", map[string]any{"applicant": applicant(), "should_proof_state_id": true})
	env := ld.envelope(t, id)

	m := metrics.New()
	rt, err := app.NewWorker(context.Background(), workerConfig(ld.cfg), app.WorkerOptions{Version: "w", Metrics: m})
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
	_ = rt.Handle(context.Background(), env) // redelivered
	if n := vendorCalls(t, m); n != first {
		t.Errorf("a redelivered envelope called vendors %d more times", n-first)
	}
}

// TestEndedEnvelopeOpensWithNoKey: once its record ended (done, or deleted
// by the IdP), a copy of the envelope opens with no key the deployment holds.
func TestEndedEnvelopeOpensWithNoKey(t *testing.T) {
	ld := startLambdaDeployment(t)
	doneID := ld.e.start("resolution", map[string]any{"applicant": applicant()})
	deletedID := ld.e.start("resolution", map[string]any{"applicant": applicant()})
	rt, err := app.NewWorker(context.Background(), workerConfig(ld.cfg), app.WorkerOptions{Version: "w"})
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
	rings := candidateRings(ld.cfg)
	if len(rings) == 0 {
		t.Fatal("no keys found in the deployment's configuration")
	}
	for _, id := range []string{doneID, deletedID} {
		env := ld.envelope(t, id)
		for _, ring := range rings {
			if _, err := env.Open(ring); err == nil {
				t.Errorf("the envelope of ended job %s opened with a key of the deployment", id)
			}
		}
	}
}
