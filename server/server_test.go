package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/proofline/proofline"
	"github.com/proofline/proofline/blobstore"
	"github.com/proofline/proofline/blobstore/localblob"
	"github.com/proofline/proofline/dispatch"
	"github.com/proofline/proofline/internal/redistest"
	"github.com/proofline/proofline/proofing"
	"github.com/proofline/proofline/resultstore"
	"github.com/proofline/proofline/resultstore/redisstore"
	"github.com/proofline/proofline/seal"
	"github.com/proofline/proofline/server"
	"github.com/proofline/proofline/tenant"
)

var redisSrv *redistest.Server

func TestMain(m *testing.M) { os.Exit(redistest.Main(m, &redisSrv)) }

// stores runs f against every result store driver.
func stores(t *testing.T, f func(t *testing.T, redis bool)) {
	for _, name := range []string{"memory", "redis"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f(t, name == "redis")
		})
	}
}

// captured is a dispatch driver that keeps envelopes, so the test can play
// the worker with the real per-job secret.
type captured struct {
	mu   sync.Mutex
	envs map[string]*proofline.Envelope
}

func (c *captured) Send(_ context.Context, e *proofline.Envelope) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.envs[e.ResultID] = e
	return nil
}
func (c *captured) Close(context.Context) error { return nil }

var tokens = map[proofline.Kind]string{
	proofline.KindAddress:    "address-token-0123456789",
	proofline.KindDocument:   "document-token-012345678",
	proofline.KindResolution: "resolution-token-0123456",
}

const apiKey = "api-key-0123456789abcdef"

type fixture struct {
	t    testing.TB
	srv  *httptest.Server
	svc  *proofing.Service
	ring *seal.KeyRing
	cap  *captured
	skew atomic.Int64 // nanoseconds added to the service clock
}

func setup(t testing.TB, redis bool) *fixture {
	t.Helper()
	return setupWith(t, redis, nil)
}

// setupWith is setup with the service's and the server's options changed
// by mut before they are used.
func setupWith(t testing.TB, redis bool, mut func(*proofing.Options, *server.Options)) *fixture {
	t.Helper()
	k, _ := seal.Generate("k1")
	ring, _ := seal.NewKeyRing(k)
	f := &fixture{t: t, ring: ring, cap: &captured{envs: map[string]*proofline.Envelope{}}}
	now := func() time.Time { return time.Now().Add(time.Duration(f.skew.Load())) }
	var driver resultstore.Driver = resultstore.NewMemory(resultstore.MemoryOptions{Now: now})
	if redis {
		d, err := redisstore.New(context.Background(), redisstore.Options{URL: redisSrv.URL(), KeyPrefix: redistest.Prefix(t)})
		if err != nil {
			t.Fatal(err)
		}
		driver = d
	}
	store := resultstore.New(driver, ring, resultstore.Options{Timeout: time.Minute, Now: now})
	t.Cleanup(func() { _ = store.Close() })
	f.srv = httptest.NewUnstartedServer(nil)
	base := "http://" + f.srv.Listener.Addr().String()
	local, err := localblob.New(localblob.Options{Dir: t.TempDir(), BaseURL: base, SigningKey: bytes.Repeat([]byte{4}, 32)})
	if err != nil {
		t.Fatal(err)
	}
	popts := proofing.Options{
		Store: store, Blobs: blobstore.New(local, blobstore.Options{}), Dispatcher: dispatch.New(f.cap, dispatch.Options{Now: now}),
		CallbackTokens: tokens, CallbackBaseURL: base,
		Timeout: time.Minute, WorkerVersion: "ref1", Now: now,
	}
	sopts := server.Options{APIKeys: []string{apiKey}, MaxCallbackBytes: 4096, Uploads: local.UploadHandler()}
	if mut != nil {
		mut(&popts, &sopts)
	}
	svc, err := proofing.New(popts)
	if err != nil {
		t.Fatal(err)
	}
	f.svc = svc
	f.srv.Config.Handler = server.New(svc, sopts).Handler()
	f.srv.Start()
	t.Cleanup(f.srv.Close)
	return f
}

// startAddress starts an address job, claims it over HTTP as a worker
// would, and returns its id and per-job callback secret.
func (f *fixture) startAddress() (string, []byte) {
	f.t.Helper()
	env := f.startUnclaimed()
	return env.ResultID, f.claimed(env)
}

// claimed claims env's job over HTTP as a worker would and returns its
// per-job callback secret.
func (f *fixture) claimed(env *proofline.Envelope) []byte {
	f.t.Helper()
	c, err := proofline.NewClaimant(env)
	if err != nil {
		f.t.Fatal(err)
	}
	status, answer := f.claim(env.Kind, env.ResultID, tokens[env.Kind], "application/json", c.Body())
	if status != 200 {
		f.t.Fatalf("claim: %d %s", status, answer)
	}
	dataKey, err := c.Open(answer)
	if err != nil {
		f.t.Fatal(err)
	}
	p, err := env.Open(dataKey)
	if err != nil {
		f.t.Fatal(err)
	}
	return p.CallbackSecret
}

// startUnclaimed starts an address job and returns its envelope.
// keyCtx is the API key's tenant: jobs started under it are the key's.
var keyCtx = tenant.With(context.Background(), tenant.KeyClient(apiKey).Name)

func (f *fixture) startUnclaimed() *proofline.Envelope {
	f.t.Helper()
	st, err := f.svc.StartAddress(keyCtx, proofing.AddressRequest{Applicant: proofline.Applicant{Phone: "7035550100"}})
	if err != nil {
		f.t.Fatal(err)
	}
	f.cap.mu.Lock()
	defer f.cap.mu.Unlock()
	return f.cap.envs[st.ResultID]
}

// claim posts a claim body and returns the status and answer.
func (f *fixture) claim(kind proofline.Kind, id, token, ctype string, body []byte) (int, []byte) {
	f.t.Helper()
	req, _ := http.NewRequest("POST", f.srv.URL+proofline.ClaimPath(kind, id), bytes.NewReader(body))
	req.Header.Set("Content-Type", ctype)
	if token != "" {
		req.Header.Set(proofline.HeaderAuthToken, token)
	}
	req.Header.Set(proofline.HeaderWorkerVersion, "ref1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

type cb struct {
	kind    proofline.Kind
	id      string
	token   string
	secret  []byte // seals body; nil: body goes as it is
	body    string
	at      time.Time
	tsHdr   string // X-Proofline-Timestamp when not at's
	sealFor string // result id the body is sealed for, when not id
	flip    bool   // flip one bit of the sealed body
	ctype   string
	chunked bool
}

func (f *fixture) post(c cb) int {
	f.t.Helper()
	if c.kind == "" {
		c.kind = proofline.KindAddress
	}
	if c.body == "" {
		c.body = `{"address_result":{"success":true,"errors":{},"messages":[],"exception":null,"timed_out":false,"transaction_id":"t","context":{"stages":[]}}}`
	}
	if c.at.IsZero() {
		c.at = time.Now()
	}
	path := proofline.CallbackPath(c.kind, c.id)
	raw := []byte(c.body)
	if c.secret != nil {
		sid := c.id
		if c.sealFor != "" {
			sid = c.sealFor
		}
		sealed, err := proofline.SealCallback(c.secret, c.kind, sid, "POST", proofline.CallbackPath(c.kind, sid), c.at, raw)
		if err != nil {
			f.t.Fatal(err)
		}
		if c.flip {
			var sc proofline.SealedCallback
			_ = json.Unmarshal(sealed, &sc)
			sc.Sealed[len(sc.Sealed)-20] ^= 1
			sealed, _ = json.Marshal(sc)
		}
		raw = sealed
	}
	var body io.Reader = bytes.NewReader(raw)
	if c.chunked {
		body = io.MultiReader(bytes.NewReader(raw)) // unknown length: sent chunked
	}
	req, _ := http.NewRequest("POST", f.srv.URL+path, body)
	if c.ctype == "" {
		c.ctype = "application/json"
	}
	req.Header.Set("Content-Type", c.ctype)
	if c.token != "" {
		req.Header.Set(proofline.HeaderAuthToken, c.token)
	}
	ts := fmt.Sprint(c.at.Unix())
	if c.tsHdr != "" {
		ts = c.tsHdr
	}
	req.Header.Set(proofline.HeaderTimestamp, ts)
	req.Header.Set(proofline.HeaderWorkerVersion, "ref1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestCallbackStatusCodes(t *testing.T) {
	stores(t, func(t *testing.T, redis bool) { testCallbackStatusCodes(t, setup(t, redis)) })
}

func testCallbackStatusCodes(t *testing.T, f *fixture) {
	id, secret := f.startAddress()
	tok := tokens[proofline.KindAddress]
	other := bytes.Repeat([]byte{3}, 32)

	cases := []struct {
		name string
		cb   cb
		want int
	}{
		{"no token", cb{id: id, secret: secret}, 401},
		{"wrong token", cb{id: id, token: "nope", secret: secret}, 401},
		{"another kind's token", cb{id: id, token: tokens[proofline.KindResolution], secret: secret}, 401},
		{"another kind's token on its own path", cb{kind: proofline.KindResolution, id: id, token: tokens[proofline.KindResolution], secret: secret, body: `{"resolution_result":{"success":true}}`}, 404},
		{"token without job secret: plaintext result", cb{id: id, token: tok}, 400},
		{"wrong job secret", cb{id: id, token: tok, secret: other}, 401},
		{"sealed for another job", cb{id: id, token: tok, secret: secret, sealFor: proofline.NewResultID()}, 401},
		{"rewritten sealed body", cb{id: id, token: tok, secret: secret, flip: true}, 401},
		{"timestamp header changed", cb{id: id, token: tok, secret: secret, tsHdr: fmt.Sprint(time.Now().Unix() - 1)}, 401},
		{"missing timestamp", cb{id: id, token: tok, secret: secret, tsHdr: "none"}, 401},
		{"stale timestamp", cb{id: id, token: tok, secret: secret, at: time.Now().Add(-10 * time.Minute)}, 401},
		{"sealed body of another version", cb{id: id, token: tok, body: `{"v":1,"sealed":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}`}, 400},
		{"unknown result id", cb{id: proofline.NewResultID(), token: tok, secret: secret}, 404},
		{"malformed result id", cb{id: "..%2f..%2fetc", token: tok, secret: secret}, 404},
		{"unknown kind", cb{kind: "selfie", id: id, token: tok, secret: secret}, 404},
		{"wrong content type", cb{id: id, token: tok, secret: secret, ctype: "text/plain"}, 415},
		{"oversized", cb{id: id, token: tok, secret: secret, body: `{"address_result":{"success":true,"messages":["` + strings.Repeat("x", 5000) + `"]}}`}, 413},
		{"oversized chunked", cb{id: id, token: tok, secret: secret, chunked: true, body: `{"address_result":{"success":true,"messages":["` + strings.Repeat("x", 5000) + `"]}}`}, 413},
		{"malformed json", cb{id: id, token: tok, secret: secret, body: `{"address_result":`}, 400},
		{"wrong result field", cb{id: id, token: tok, secret: secret, body: `{"resolution_result":{"success":true}}`}, 400},
		{"missing success", cb{id: id, token: tok, secret: secret, body: `{"address_result":{"errors":{}}}`}, 400},
		{"unknown result field", cb{id: id, token: tok, secret: secret, body: `{"address_result":{"success":true,"x":1}}`}, 400},
		{"pii_from_doc on an address result", cb{id: id, token: tok, secret: secret, body: `{"address_result":{"success":true,"pii_from_doc":{"first_name":"x"}}}`}, 400},
	}
	for _, c := range cases {
		if got := f.post(c.cb); got != c.want {
			t.Errorf("%s: %d, want %d", c.name, got, c.want)
		}
	}
	// None of that stored anything.
	if o, _ := f.svc.Outcome(keyCtx, id); o.Status != proofline.StatusPending {
		t.Fatalf("a refused callback changed the record: %v", o.Status)
	}
	good := cb{id: id, token: tok, secret: secret}
	if got := f.post(good); got != 204 {
		t.Fatalf("valid callback: %d", got)
	}
	o, err := f.svc.Outcome(keyCtx, id)
	if err != nil || o.Status != proofline.StatusDone || !o.Result.Success || o.Result.TransactionID != "t" {
		t.Fatalf("outcome after 204: %+v %v", o, err)
	}
	if got := f.post(good); got != 409 {
		t.Errorf("replay of the valid callback: %d, want 409", got)
	}
	if got := f.post(cb{id: id, token: tok, secret: secret, body: `{"address_result":{"success":false}}`}); got != 409 {
		t.Errorf("second outcome: %d, want 409", got)
	}
	if o, _ := f.svc.Outcome(keyCtx, id); !o.Result.Success {
		t.Error("a later callback overwrote the result")
	}
	st := f.svc.Stats()[proofline.KindAddress]
	if st.Duplicate != 2 || st.Completed != 1 || st.Rejected["token"] < 2 || st.Rejected["signature"] < 5 {
		t.Errorf("stats %+v", st)
	}
}

func TestClaimStatusCodes(t *testing.T) {
	stores(t, func(t *testing.T, redis bool) { testClaimStatusCodes(t, setup(t, redis)) })
}

// testClaimStatusCodes: the data key is released once, to the holder of the
// per-kind token and the envelope's claim token, before the deadline.
func testClaimStatusCodes(t *testing.T, f *fixture) {
	env := f.startUnclaimed()
	other := f.startUnclaimed()
	tok := tokens[proofline.KindAddress]
	c, _ := proofline.NewClaimant(env)
	foreign, _ := proofline.NewClaimant(other) // proves another job's claim token
	cases := []struct {
		name        string
		kind        proofline.Kind
		id, token   string
		ctype, body string
		want        int
	}{
		{"no token", env.Kind, env.ResultID, "", "application/json", string(c.Body()), 401},
		{"another kind's token", env.Kind, env.ResultID, tokens[proofline.KindResolution], "application/json", string(c.Body()), 401},
		{"unknown kind", "selfie", env.ResultID, tok, "application/json", string(c.Body()), 404},
		{"wrong content type", env.Kind, env.ResultID, tok, "text/plain", string(c.Body()), 415},
		{"oversized", env.Kind, env.ResultID, tok, "application/json", `{"v":2,"x":"` + strings.Repeat("x", 5000) + `"}`, 413},
		{"malformed", env.Kind, env.ResultID, tok, "application/json", `{"v":2}`, 400},
		{"unknown result id", env.Kind, proofline.NewResultID(), tok, "application/json", string(c.Body()), 404},
		{"another job's claim token", env.Kind, env.ResultID, tok, "application/json", string(foreign.Body()), 401},
	}
	for _, tc := range cases {
		if got, body := f.claim(tc.kind, tc.id, tc.token, tc.ctype, []byte(tc.body)); got != tc.want {
			t.Errorf("%s: %d %s, want %d", tc.name, got, body, tc.want)
		}
	}
	status, answer := f.claim(env.Kind, env.ResultID, tok, "application/json", c.Body())
	if status != 200 {
		t.Fatalf("claim: %d %s", status, answer)
	}
	dataKey, err := c.Open(answer)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := env.Open(dataKey); err != nil {
		t.Fatal(err)
	}
	// Once: the same claim again, or another worker's, is 409.
	again, _ := proofline.NewClaimant(env)
	for _, body := range [][]byte{c.Body(), again.Body()} {
		if got, b := f.claim(env.Kind, env.ResultID, tok, "application/json", body); got != 409 {
			t.Errorf("second claim: %d %s, want 409", got, b)
		}
	}
	// After the deadline: 410, and no key.
	late := f.startUnclaimed()
	read := f.startUnclaimed()
	lc, _ := proofline.NewClaimant(late)
	f.skew.Store(int64(61 * time.Second))
	if got, b := f.claim(late.Kind, late.ResultID, tok, "application/json", lc.Body()); got != 410 {
		t.Errorf("late claim: %d %s, want 410", got, b)
	}
	// A late claim is 410 also once a read past the deadline has dropped
	// the job's key: the worker counts it as expired, not as a duplicate.
	if o, err := f.svc.Outcome(keyCtx, read.ResultID); err != nil || o.Status != proofline.StatusTimedOut {
		t.Fatalf("read past the deadline: %v %v", o, err)
	}
	rc, _ := proofline.NewClaimant(read)
	if got, b := f.claim(read.Kind, read.ResultID, tok, "application/json", rc.Body()); got != 410 {
		t.Errorf("late claim after a read: %d %s, want 410", got, b)
	}
	st := f.svc.Stats()[proofline.KindAddress]
	if st.Rejected["claim_duplicate"] != 2 || st.Rejected["claim_late"] != 2 || st.Rejected["claim_proof"] != 1 {
		t.Errorf("claim refusals not counted: %+v", st.Rejected)
	}
}

func TestLateCallbackIsGoneAndCounted(t *testing.T) {
	stores(t, func(t *testing.T, redis bool) { testLateCallback(t, setup(t, redis)) })
}

func testLateCallback(t *testing.T, f *fixture) {
	id, secret := f.startAddress()
	f.skew.Store(int64(61 * time.Second)) // the service's clock is now past the deadline
	at := time.Now().Add(61 * time.Second)
	if got := f.post(cb{id: id, token: tokens[proofline.KindAddress], secret: secret, at: at}); got != 410 {
		t.Fatalf("late callback: %d, want 410", got)
	}
	if st := f.svc.Stats()[proofline.KindAddress]; st.Late != 1 {
		t.Errorf("late not counted: %+v", st)
	}
	o, _ := f.svc.Outcome(keyCtx, id)
	if o.Status != proofline.StatusTimedOut {
		t.Errorf("status %s, want timed_out", o.Status)
	}
}

func TestConcurrentCallbacksStoreExactlyOneOutcome(t *testing.T) {
	stores(t, func(t *testing.T, redis bool) { testConcurrentCallbacks(t, setup(t, redis)) })
}

func testConcurrentCallbacks(t *testing.T, f *fixture) {
	id, secret := f.startAddress()
	var ok, conflict atomic.Int64
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			body := fmt.Sprintf(`{"address_result":{"success":true,"transaction_id":"t%d"}}`, i)
			switch f.post(cb{id: id, token: tokens[proofline.KindAddress], secret: secret, body: body}) {
			case 204:
				ok.Add(1)
			case 409:
				conflict.Add(1)
			}
		}()
	}
	wg.Wait()
	if ok.Load() != 1 || conflict.Load() != 19 {
		t.Fatalf("%d stored, %d conflicts; want 1 and 19", ok.Load(), conflict.Load())
	}
}

func TestAccessLogsNeverCarryQueryStrings(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	var mu sync.Mutex
	logger := newLogger(&buf, &mu)
	k, _ := seal.Generate("k1")
	ring, _ := seal.NewKeyRing(k)
	store := resultstore.New(resultstore.NewMemory(resultstore.MemoryOptions{}), ring, resultstore.Options{})
	svc, _ := proofing.New(proofing.Options{Store: store, Dispatcher: dispatch.New(&captured{envs: map[string]*proofline.Envelope{}}, dispatch.Options{}),
		CallbackTokens: tokens, CallbackBaseURL: "http://127.0.0.1"})
	srv := httptest.NewServer(server.New(svc, server.Options{APIKeys: []string{apiKey}, Logger: logger}).Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/uploads/abc/front?signature=SECRETSIG&expires=1")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	resp, _ = http.Get(srv.URL + "/api/v1/proofing/x?ssn=123456789")
	resp.Body.Close()
	mu.Lock()
	defer mu.Unlock()
	if strings.Contains(buf.String(), "SECRETSIG") || strings.Contains(buf.String(), "123456789") {
		t.Fatalf("access log carries a query string: %s", buf.String())
	}
	if !strings.Contains(buf.String(), `"status":401`) {
		t.Fatalf("no access log line: %s", buf.String())
	}
}

func TestStatusLongPollIsPushedTheResult(t *testing.T) {
	stores(t, func(t *testing.T, redis bool) {
		f := setup(t, redis)
		id, secret := f.startAddress()
		type answer struct {
			code int
			body string
		}
		got := make(chan answer, 1)
		go func() {
			req, _ := http.NewRequest("GET", f.srv.URL+"/api/v1/proofing/"+id+"?wait=30", nil)
			req.Header.Set("Authorization", "Bearer "+apiKey)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				got <- answer{}
				return
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			got <- answer{resp.StatusCode, string(b)}
		}()
		select {
		case a := <-got:
			t.Fatalf("long poll answered before any result: %d %s", a.code, a.body)
		case <-time.After(200 * time.Millisecond):
		}
		if code := f.post(cb{id: id, token: tokens[proofline.KindAddress], secret: secret}); code != 204 {
			t.Fatalf("callback %d", code)
		}
		select {
		case a := <-got:
			if a.code != 200 || !strings.Contains(a.body, `"status":"done"`) {
				t.Fatalf("long poll: %d %s", a.code, a.body)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("long poll not answered after the callback")
		}
		// wait=0 answers at once; a bad wait is a 400 naming the parameter.
		req, _ := http.NewRequest("GET", f.srv.URL+"/api/v1/proofing/"+id+"?wait=abc", nil)
		req.Header.Set("Authorization", "Bearer "+apiKey)
		resp, _ := http.DefaultClient.Do(req)
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 400 || !strings.Contains(string(b), `"field":"wait"`) {
			t.Fatalf("bad wait: %d %s", resp.StatusCode, b)
		}
	})
}
