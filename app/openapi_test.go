package app_test

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/proofline/proofline/config"
	"github.com/proofline/proofline/internal/openapitest"
	"github.com/proofline/proofline/internal/redistest"
	"github.com/proofline/proofline/seal"
)

// The OpenAPI contract (docs/openapi.yaml) against the running server, over
// real HTTP, with the memory and the Redis store. Every request and answer
// passes through a validating proxy: the test client's, the workers' claims
// and callbacks (base_url is the proxy), and the image uploads. Each must
// match the document, and together they must show every documented
// (operation, status) but the few listed in contractUnprovoked, and every
// documented webhook (openapi_sessions_test.go).

// Callback tokens and API key of the contract servers.
const (
	contractKey             = "contract-api-key-0123456789"
	contractAddressToken    = "address-token-contract-aaaa"
	contractDocumentToken   = "document-token-contract-bbb"
	contractResolutionToken = "resolution-token-contract-c"
)

// contractUnprovoked are the documented answers no test can make the
// server give, with the reason.
var contractUnprovoked = map[string]string{
	"createCapture 500":   "uncoded errors only",
	"startDocument 500":   "uncoded errors only",
	"startResolution 500": "uncoded errors only",
	"startAddress 500":    "uncoded errors only",
	"getOutcome 500":      "uncoded errors only",
	"forgetOutcome 500":   "uncoded errors only",
	"claimJob 500":        "uncoded errors only",
	"deliverResult 500":   "uncoded errors only",
	"uploadImage 500":     "a failing disk",
	"createCapture 503":   "only when the image store (S3) fails; the local store does not",

	"createVerificationSession 500":   "uncoded errors only",
	"getVerificationSession 500":      "uncoded errors only",
	"cancelVerificationSession 500":   "uncoded errors only",
	"openVerificationSessionLink 500": "a page template that fails to render",
}

func TestOpenAPIContract(t *testing.T) {
	doc := openapitest.Load(t)
	var cov openapitest.Coverage
	t.Run("stores", func(t *testing.T) {
		for _, name := range []string{"memory", "redis"} {
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				redis := name == "redis"
				t.Run("flows", func(t *testing.T) { contractFlows(t, doc, &cov, redis) })
				t.Run("limits", func(t *testing.T) { contractLimits(t, doc, &cov, redis) })
			})
		}
	})
	if !t.Failed() {
		cov.Check(t, doc, contractUnprovoked)
	}
}

// contractConfig is a server configuration with known tokens and key.
func contractConfig(t *testing.T, redisURL string, timeout int) config.Config {
	cfg := config.Defaults()
	cfg.DataDir = t.TempDir()
	cfg.AsyncWaitTimeoutSeconds = timeout
	cfg.APIKeys = []string{contractKey}
	cfg.AddressProofResultLambdaToken = contractAddressToken
	cfg.DocumentProofResultLambdaToken = contractDocumentToken
	cfg.ResolutionProofResultLambdaToken = contractResolutionToken
	cfg.DocAuthMaxImageBytes = 64 << 10
	if redisURL != "" {
		k, _ := seal.Generate("k1")
		cfg.RedisURL = redisURL
		cfg.RecordKeys = seal.FormatKeys(k)
		cfg.AttemptHashKey = testHashKey
		cfg.SessionSecret = testHashKey
	}
	return cfg
}

// serveBehindProxy starts a server for cfg with the validating proxy in
// front of it as its base_url; the env's requests go through the proxy.
func serveBehindProxy(t *testing.T, doc *openapitest.Doc, cfg config.Config) (*env, *openapitest.Proxy) {
	ln, base := openapitest.Listen(t)
	cfg.BaseURL = base
	e := serve(t, cfg, nil)
	p := doc.NewProxy(t, e.base, ln)
	e.base = p.URL
	return e, p
}

// invalid marks a request sent against the contract on purpose.
var invalid = []string{openapitest.ExpectInvalid, "1"}

func with(hdr []string, more ...string) []string { return append(append([]string{}, hdr...), more...) }

// worker sends a worker request (no API key) with token and content type.
func (e *env) worker(path, token, contentType string, body any, hdr ...string) resp {
	e.t.Helper()
	return e.do("POST", path, body, with([]string{"Authorization", "", "X-API-AUTH-TOKEN", token, "Content-Type", contentType}, hdr...)...)
}

func b64(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.StdEncoding.EncodeToString(b)
}

// contractCapture creates a capture and uploads front and back encrypted
// with aad_binding, through the proxy; it returns the start request.
func (e *env) contractCapture(back []byte) map[string]any {
	e.t.Helper()
	r := e.do("POST", "/api/v1/document-capture", nil)
	if r.status != 201 {
		e.t.Fatalf("capture: %d %s", r.status, r.raw)
	}
	capID := r.body["capture_id"].(string)
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	block, _ := aes.NewCipher(key)
	gcm, _ := cipher.NewGCM(block)
	req := map[string]any{"capture_id": capID, "encryption_key": base64.StdEncoding.EncodeToString(key), "aad_binding": true, "person_ref": "sp-1:0f0e0d0c"}
	uploads := r.body["uploads"].(map[string]any)
	for side, img := range map[string][]byte{"front": []byte("front image"), "back": back} {
		iv := make([]byte, 12)
		_, _ = rand.Read(iv)
		up := uploads[side].(map[string]any)
		if st := e.upload(up["url"].(string), "application/octet-stream", gcm.Seal(nil, iv, img, []byte(capID+"/"+side))); st != 204 {
			e.t.Fatalf("upload %s: %d", side, st)
		}
		req[side+"_image_url"] = up["object_url"]
		req[side+"_image_iv"] = base64.StdEncoding.EncodeToString(iv)
	}
	return req
}

func (e *env) upload(url, contentType string, body []byte, hdr ...string) int {
	e.t.Helper()
	req, _ := http.NewRequest("PUT", url, bytes.NewReader(body))
	req.Header.Set("Content-Type", contentType)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	r, err := e.http.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, r.Body)
	r.Body.Close()
	return r.StatusCode
}

// wait long-polls an attempt until it is no longer pending.
func (e *env) wait(id string) map[string]any {
	e.t.Helper()
	for end := time.Now().Add(20 * time.Second); time.Now().Before(end); {
		r := e.do("GET", "/api/v1/proofing/"+id+"?wait=5", nil)
		if r.status != 200 {
			e.t.Fatalf("wait %s: %d %s", id, r.status, r.raw)
		}
		if r.body["status"] != "pending" {
			return r.body
		}
	}
	e.t.Fatalf("%s still pending", id)
	return nil
}

func want(t *testing.T, what string, r resp, status int) {
	t.Helper()
	if r.status != status {
		t.Errorf("%s: %d %s, want %d", what, r.status, r.raw, status)
	}
}

const contractDocumentYAML = `document:
  first_name: Susan
  middle_name: Q
  last_name: Smith
  address1: 1 Elm St
  address2: Apt 2
  city: Billings
  state: MT
  zipcode: '59010'
  dob: '1985-03-04'
  state_id_number: '123456789'
  state_id_jurisdiction: MT
  state_id_type: drivers_license
  state_id_expiration: '2099-01-31'
  state_id_issued: '2019-05-06'
  name_suffix: JR
  sex: F
  height: '506'
  issuing_country_code: USA
`

// contractFlows runs every operation through its successes and the errors a
// client or a worker can cause.
func contractFlows(t *testing.T, doc *openapitest.Doc, cov *openapitest.Coverage, redis bool) {
	var redisURL string
	if redis {
		redisURL = redisSrv.URL()
	}
	// 15 s: the flows below must all run before the held attempts expire
	// (deadline + timeout), also under -race on a loaded machine.
	cfg := contractConfig(t, redisURL, 15)
	hooks := contractIDP(t, &cfg)
	e, p := serveBehindProxy(t, doc, cfg)
	// Only the workers' own requests are held or tapped.
	isAddress := func(r *http.Request) bool {
		return strings.HasPrefix(r.URL.Path, "/api/proofing_results/address/") && r.Header.Get("X-Proofline-Worker-Version") != ""
	}
	isClaim := func(r *http.Request) bool { return strings.HasSuffix(r.URL.Path, "/claim") }

	// Two address jobs that will not finish: A's claim and B's callback are
	// held (the worker sees a failing hop) and sent again after the deadline.
	holdClaim := p.HoldNext(func(r *http.Request) bool { return isAddress(r) && isClaim(r) })
	idA := e.start("address", map[string]any{"applicant": map[string]any{"phone": "7035550100"}})
	claimA := holdClaim.Wait(t, 10*time.Second)
	holdCallback := p.HoldNext(func(r *http.Request) bool { return isAddress(r) && !isClaim(r) })
	idB := e.start("address", map[string]any{"applicant": map[string]any{"phone": "7035550100"}})
	callbackB := holdCallback.Wait(t, 10*time.Second)
	// A stays pending: a plain read and a long poll that runs out.
	if r := e.do("GET", "/api/v1/proofing/"+idA, nil); r.status != 200 || r.body["status"] != "pending" {
		t.Errorf("pending: %d %s", r.status, r.raw)
	}
	if r := e.do("GET", "/api/v1/proofing/"+idA+"?wait=1", nil); r.status != 200 || r.body["status"] != "pending" {
		t.Errorf("long poll of a pending attempt: %d %s", r.status, r.raw)
	}

	// Document: capture, upload, start, done with every pii_from_doc field.
	req := e.contractCapture([]byte(contractDocumentYAML))
	docID := e.start("document", req)
	out := e.wait(docID)
	if pii, _ := out["result"].(map[string]any)["pii_from_doc"].(map[string]any); pii["issuing_country_code"] != "USA" {
		t.Errorf("document: %v", out)
	}
	// A resolution bound to it: only the SSN is given.
	out = e.wait(e.start("resolution", map[string]any{"document_result_id": docID, "applicant": map[string]any{"ssn": "123-45-6789"}}))
	if r := out["result"].(map[string]any); r["success"] != true || strings.Join(stageNames(r), ",") != "resolution,state_id" {
		t.Errorf("bound resolution: %v", out)
	}
	// A failing document with raw alerts.
	req = e.contractCapture([]byte("failed_alerts:\n  - name: Visible Pattern\n    side: front\n"))
	if r := e.wait(e.start("document", req))["result"].(map[string]any); r["success"] != false || r["raw_alerts"] == nil {
		t.Errorf("failing document: %v", r)
	}
	// Resolution with every applicant field, and a vendor timeout.
	full := applicant(set("middle_name", "Q"), set("address2", "Apt 2"), set("name_suffix", "JR"), set("sex", "F"),
		set("height", "506"), set("weight", "150"), set("eye_color", "BRO"), set("state_id_issued", "2019-05-06"),
		set("state_id_expiration", "2099-01-31"), set("identity_doc_address1", "2 Oak St"), set("identity_doc_address2", "Unit 3"),
		set("identity_doc_city", "Richmond"), set("identity_doc_address_state", "VA"), set("identity_doc_zipcode", "23219"))
	if r := e.wait(e.start("resolution", map[string]any{"applicant": full, "should_proof_state_id": true, "person_id": "person-full", "client_ip": "192.0.2.7"})); r["status"] != "done" {
		t.Errorf("full applicant: %v", r)
	}
	if r := e.wait(e.start("resolution", map[string]any{"applicant": applicant(set("first_name", "Time"))}))["result"].(map[string]any); r["timed_out"] != true {
		t.Errorf("vendor timeout: %v", r)
	}
	// Address with a vendor exception; then read, forget, forget again.
	tapClaim := p.TapNext(func(r *http.Request) bool { return isAddress(r) && isClaim(r) })
	tapCallback := p.TapNext(func(r *http.Request) bool { return isAddress(r) && !isClaim(r) })
	idC := e.start("address", map[string]any{"applicant": map[string]any{"phone": "7035555999"}})
	if r := e.wait(idC)["result"].(map[string]any); r["exception"] == nil {
		t.Errorf("vendor exception: %v", r)
	}
	// The worker's claim and callback once more: 409 each.
	if st := p.Send(t, tapClaim.Wait(t, time.Second)); st != 409 {
		t.Errorf("second claim: %d", st)
	}
	if st := p.Send(t, tapCallback.Wait(t, time.Second)); st != 409 {
		t.Errorf("second callback: %d", st)
	}
	want(t, "forget", e.do("DELETE", "/api/v1/proofing/"+idC, nil), 204)
	want(t, "forget again", e.do("DELETE", "/api/v1/proofing/"+idC, nil), 404)
	want(t, "read forgotten", e.do("GET", "/api/v1/proofing/"+idC, nil), 404)
	want(t, "read unknown", e.do("GET", "/api/v1/proofing/not-an-id", nil), 404)

	// API errors a client can cause.
	good := map[string]any{"applicant": applicant()}
	for path, body := range map[string]any{
		"/api/v1/proofing/resolution": good,
		"/api/v1/proofing/address":    map[string]any{"applicant": map[string]any{"phone": "7035550100"}},
		"/api/v1/proofing/document": map[string]any{"capture_id": strings.Repeat("0", 32), "encryption_key": b64(32),
			"front_image_url": "http://127.0.0.1/f", "front_image_iv": b64(12), "back_image_url": "http://127.0.0.1/b", "back_image_iv": b64(12)},
		"/api/v1/document-capture": nil,
	} {
		want(t, path+" without a key", e.do("POST", path, body, with(invalid, "Authorization", "")...), 401)
		want(t, path+" with a wrong key", e.do("POST", path, body, "Authorization", "Bearer wrong-key-0123456789"), 401)
	}
	want(t, "read without a key", e.do("GET", "/api/v1/proofing/"+idA, nil, with(invalid, "Authorization", "")...), 401)
	want(t, "forget with a wrong key", e.do("DELETE", "/api/v1/proofing/"+idA, nil, "Authorization", "Bearer wrong-key-0123456789"), 401)
	want(t, "long poll over 60 s", e.do("GET", "/api/v1/proofing/"+idA+"?wait=61", nil, invalid...), 400)
	big := strings.Repeat("a", 70<<10)
	for kind, body := range map[string]any{
		"resolution": map[string]any{"applicant": applicant(set("first_name", big))},
		"address":    map[string]any{"applicant": map[string]any{"phone": "7035550100", "city": big}},
		"document":   map[string]any{"capture_id": strings.Repeat("0", 32), "person_ref": big},
	} {
		path := "/api/v1/proofing/" + kind
		want(t, kind+" oversized", e.do("POST", path, body, invalid...), 413)
		want(t, kind+" as text", e.do("POST", path, good, with(invalid, "Content-Type", "text/plain")...), 415)
		want(t, kind+" not JSON", e.do("POST", path, `{"applicant": `, invalid...), 400)
	}
	// Against the document's patterns, and valid for the document but not for the server.
	r := e.do("POST", "/api/v1/proofing/resolution", map[string]any{"applicant": applicant(set("dob", "06/15/1980"), set("zipcode", "123"))}, invalid...)
	if r.status != 400 || !strings.Contains(string(r.raw), `"field":"dob"`) || !strings.Contains(string(r.raw), `"field":"zipcode"`) {
		t.Errorf("invalid applicant: %d %s", r.status, r.raw)
	}
	want(t, "future dob", e.do("POST", "/api/v1/proofing/resolution", map[string]any{"applicant": applicant(set("dob", "2999-01-01"))}), 400)
	want(t, "unknown document result", e.do("POST", "/api/v1/proofing/resolution", map[string]any{"document_result_id": idC, "applicant": map[string]any{"ssn": "123-45-6789"}}), 400)
	want(t, "bad phone", e.do("POST", "/api/v1/proofing/address", map[string]any{"applicant": map[string]any{"phone": "555-0100"}}), 400)
	req = e.contractCapture([]byte("back"))
	req["front_image_url"] = "http://169.254.169.254/latest/meta-data/"
	want(t, "foreign image", e.do("POST", "/api/v1/proofing/document", req), 400)

	// Uploads: a tampered signature, a wrong type, an empty body, too large.
	r = e.do("POST", "/api/v1/document-capture", nil)
	upURL := r.body["uploads"].(map[string]any)["front"].(map[string]any)["url"].(string)
	tampered := upURL[:len(upURL)-1] + map[bool]string{true: "1", false: "0"}[strings.HasSuffix(upURL, "0")]
	if st := e.upload(tampered, "application/octet-stream", []byte("x")); st != 403 {
		t.Errorf("tampered upload: %d", st)
	}
	if st := e.upload(upURL, "image/jpeg", []byte("x"), invalid...); st != 415 {
		t.Errorf("upload as jpeg: %d", st)
	}
	if st := e.upload(upURL, "application/octet-stream", nil, invalid...); st != 400 {
		t.Errorf("empty upload: %d", st)
	}
	if st := e.upload(upURL, "application/octet-stream", make([]byte, 64<<10+1)); st != 413 {
		t.Errorf("oversized upload: %d", st)
	}

	// Worker errors: on job A, still pending with its claim unanswered.
	claimPath := "/api/proofing_results/address/" + idA + "/claim"
	cbPath := "/api/proofing_results/address/" + idA
	claim := map[string]any{"v": 2, "public_key": b64(32), "proof": b64(32)}
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	sealed := map[string]any{"v": 2, "sealed": b64(64)}
	for _, c := range []struct {
		name string
		r    resp
		want int
	}{
		{"claim with another kind's token", e.worker(claimPath, contractResolutionToken, "application/json", claim), 401},
		{"claim with a wrong proof", e.worker(claimPath, contractAddressToken, "application/json", claim), 401},
		{"claim of an unknown kind", e.worker("/api/proofing_results/passport/"+idA+"/claim", contractAddressToken, "application/json", claim, invalid...), 404},
		{"claim of an unknown job", e.worker("/api/proofing_results/address/"+idC+"/claim", contractAddressToken, "application/json", claim), 404},
		{"claim as text", e.worker(claimPath, contractAddressToken, "text/plain", "x", invalid...), 415},
		{"claim oversized", e.worker(claimPath, contractAddressToken, "application/json", mustJSON(claim)+strings.Repeat(" ", 5<<10)), 413},
		{"claim of another version", e.worker(claimPath, contractAddressToken, "application/json", map[string]any{"v": 1, "public_key": b64(32), "proof": b64(32)}, invalid...), 400},
		{"callback without a token", e.worker(cbPath, "", "application/json", sealed, with(invalid, "X-Proofline-Timestamp", ts)...), 401},
		{"callback with a stale timestamp", e.worker(cbPath, contractAddressToken, "application/json", sealed, "X-Proofline-Timestamp", "1000000000"), 401},
		{"callback that does not open", e.worker(cbPath, contractAddressToken, "application/json", sealed, "X-Proofline-Timestamp", ts), 401},
		{"callback not sealed", e.worker(cbPath, contractAddressToken, "application/json", map[string]any{"address_result": map[string]any{"success": true}}, with(invalid, "X-Proofline-Timestamp", ts)...), 400},
		{"callback of an unknown job", e.worker("/api/proofing_results/address/"+idC, contractAddressToken, "application/json", sealed, "X-Proofline-Timestamp", ts), 404},
		{"callback as text", e.worker(cbPath, contractAddressToken, "text/plain", "x", with(invalid, "X-Proofline-Timestamp", ts)...), 415},
		{"callback oversized", e.worker(cbPath, contractAddressToken, "application/json", mustJSON(sealed)+strings.Repeat(" ", 1<<20), "X-Proofline-Timestamp", ts), 413},
	} {
		want(t, c.name, c.r, c.want)
	}

	// After the deadline: the held claim and callback are late (A is not
	// read first: reading a timed-out attempt shreds its data key, and a
	// claim then finds none, 409), and both attempts read timed_out.
	if out := e.wait(idB); out["status"] != "timed_out" {
		t.Errorf("B after its deadline: %v", out)
	}
	if st := p.Send(t, claimA); st != 410 {
		t.Errorf("late claim: %d", st)
	}
	if st := p.Send(t, callbackB); st != 410 {
		t.Errorf("late callback: %d", st)
	}
	if out := e.wait(idA); out["status"] != "timed_out" {
		t.Errorf("A after its deadline: %v", out)
	}

	contractSessions(t, e, p)
	contractWebhooks(t, doc, cov, hooks, "verification_session.verified", "verification_session.canceled", "proofing_job.completed")

	if n := p.Check(t); n < 50 {
		t.Errorf("only %d exchanges went through the proxy", n)
	}
	cov.Add(p)
}

// TestLongPollThatRunsOutAnswersPending: a long poll that runs out while
// the attempt is still pending answers 200 pending, with the Redis store
// as with memory, for every wait from 0 up.
func TestLongPollThatRunsOutAnswersPending(t *testing.T) {
	stores(t, func(t *testing.T, o opts) {
		o.timeout = 8
		e := start(t, o)
		id := e.start("resolution", map[string]any{"applicant": applicant(set("first_name", "Hang"))})
		for _, wait := range []string{"0", "1", "0", "1"} {
			if r := e.do("GET", "/api/v1/proofing/"+id+"?wait="+wait, nil); r.status != 200 || r.body["status"] != "pending" {
				t.Errorf("wait=%s: %d %s, want 200 pending", wait, r.status, r.raw)
			}
		}
	})
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// contractLimits provokes 429 and 503: one attempt per person, one worker
// and one queued job; with Redis, then Redis down.
func contractLimits(t *testing.T, doc *openapitest.Doc, cov *openapitest.Coverage, redis bool) {
	var rs *redistest.Server
	var redisURL string
	if redis {
		var err error
		if rs, err = redistest.Start(); err != nil { // its own server: this test stops it
			t.Fatal(err)
		}
		t.Cleanup(rs.Stop)
		redisURL = rs.URL()
	}
	cfg := contractConfig(t, redisURL, 5)
	cfg.IDVMaxAttempts = 1
	cfg.WorkerConcurrency = 1
	cfg.WorkerQueueSize = 1
	cfg.VerificationSessionLinkTTLSeconds = 3
	hooks := contractIDP(t, &cfg)
	e, p := serveBehindProxy(t, doc, cfg)

	// A session whose link is never used expires; one of a person at the
	// attempt limit fails when the person tries a step.
	idp := e.as(contractIDPKey)
	expiring, expiringLink := idp.createSession(map[string]any{"person_id": "person-e", "return_url": e.base + "/back"})
	idp.wait(idp.start("address", map[string]any{"applicant": map[string]any{"phone": "7035555555"}, "person_id": "person-f"}))
	failing, link := idp.createSession(map[string]any{"person_id": "person-f", "return_url": e.base + "/back", "steps": []string{"phone"}})
	b := newBrowser(t, p.Target())
	if st := b.open(link); st != http.StatusSeeOther {
		t.Fatalf("open the link: %d", st)
	}
	b.phone("703-555-1212")
	b.backAt(e.base+"/back", failing)
	if v := idp.sessionStatus(failing, "failed"); v["failure_reason"] != "attempt_limit" || v["failed_step"] != "phone" {
		t.Errorf("failed session: %v", v)
	}

	hang := func(person string) map[string]any {
		return map[string]any{"applicant": applicant(set("first_name", "Hang")), "person_id": person}
	}
	id := e.start("resolution", hang("person-1"))
	doc1 := e.contractCapture([]byte("back"))
	doc1["person_id"] = "person-1"
	for kind, body := range map[string]any{
		"resolution": hang("person-1"),
		"address":    map[string]any{"applicant": map[string]any{"phone": "7035550100"}, "person_id": "person-1"},
		"document":   doc1,
	} {
		r := e.do("POST", "/api/v1/proofing/"+kind, body)
		if r.status != 429 || r.body["error"].(map[string]any)["code"] != "limit" {
			t.Errorf("%s at the attempt limit: %d %s", kind, r.status, r.raw)
		}
	}
	// Fill the worker and its queue with jobs that hang past the deadline.
	full := false
	for i := range 5 {
		if r := e.do("POST", "/api/v1/proofing/resolution", hang(fmt.Sprint("person-busy-", i))); r.status == 503 {
			full = true
			break
		}
	}
	if !full {
		t.Fatal("the queue never filled")
	}
	doc2 := e.contractCapture([]byte("back"))
	for kind, body := range map[string]any{
		"address":  map[string]any{"applicant": map[string]any{"phone": "7035550100"}, "person_id": "person-x"},
		"document": doc2,
	} {
		if r := e.do("POST", "/api/v1/proofing/"+kind, body); r.status != 503 || r.header.Get("Retry-After") == "" {
			t.Errorf("%s with the queue full: %d %s", kind, r.status, r.raw)
		}
	}
	for end := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if r := idp.do("GET", "/api/v1/verification-sessions/"+expiring, nil); r.body["status"] == "expired" || time.Now().After(end) {
			idp.sessionStatus(expiring, "expired")
			break
		}
	}
	if st := newBrowser(t, p.Target()).open(expiringLink); st != http.StatusGone {
		t.Errorf("an expired link: %d", st)
	}
	want(t, "cancel an expired session", idp.do("POST", "/api/v1/verification-sessions/"+expiring+"/cancel", nil), 409)
	contractWebhooks(t, doc, cov, hooks, "verification_session.failed", "verification_session.expired")
	if redis {
		_, unused := idp.createSession(map[string]any{"person_id": "person-d", "return_url": e.base + "/back"})
		rs.Down()
		want(t, "create a session with Redis down", idp.do("POST", "/api/v1/verification-sessions", map[string]any{"person_id": "p", "return_url": e.base + "/back"}), 503)
		want(t, "read a session with Redis down", idp.do("GET", "/api/v1/verification-sessions/"+failing, nil), 503)
		want(t, "cancel a session with Redis down", idp.do("POST", "/api/v1/verification-sessions/"+expiring+"/cancel", nil), 503)
		if st := newBrowser(t, p.Target()).open(unused); st != http.StatusServiceUnavailable {
			t.Errorf("open a link with Redis down: %d", st)
		}
		want(t, "read with Redis down", e.do("GET", "/api/v1/proofing/"+id, nil), 503)
		want(t, "forget with Redis down", e.do("DELETE", "/api/v1/proofing/"+id, nil), 503)
		want(t, "start with Redis down", e.do("POST", "/api/v1/proofing/resolution", hang("person-2")), 503)
		// A job this server did not write: it must read Redis to judge the
		// claim or callback (one it wrote it judges from the sealed value it
		// remembers, and answers a bad proof 401 without Redis).
		other := "5b1e7c9a-0d1f-4c2e-9a7b-3c4d5e6f7a8b"
		claim := map[string]any{"v": 2, "public_key": b64(32), "proof": b64(32)}
		want(t, "claim with Redis down", e.worker("/api/proofing_results/resolution/"+other+"/claim", contractResolutionToken, "application/json", claim), 503)
		want(t, "callback with Redis down", e.worker("/api/proofing_results/resolution/"+other, contractResolutionToken, "application/json",
			map[string]any{"v": 2, "sealed": b64(64)}, "X-Proofline-Timestamp", strconv.FormatInt(time.Now().Unix(), 10)), 503)
	}
	p.Check(t)
	cov.Add(p)
}
