package app_test

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/proofline/proofline/app"
	"github.com/proofline/proofline/config"
	"github.com/proofline/proofline/internal/redistest"
	"github.com/proofline/proofline/internal/testlog"
	"github.com/proofline/proofline/seal"
)

var redisSrv *redistest.Server

func TestMain(m *testing.M) { os.Exit(redistest.Main(m, &redisSrv)) }

type env struct {
	t       *testing.T
	base    string
	apiKey  string
	app     *app.App
	logs    *testlog.Buffer
	dataDir string
	http    *http.Client
	// metrics is the URL of GET /metrics on the metrics listener (the
	// public base answers 404 there).
	metrics string
}

type opts struct {
	redis   bool
	timeout int // async_wait_timeout_seconds
	// http: the in-process workers claim and call back over loopback TCP
	// instead of handing the request to the server's handler in memory.
	http bool
}

// stores runs f once per result store driver, and for each once with the
// in-process workers' requests handed to the server's handler in memory
// (the default) and once over real HTTP: every scenario must hold both ways.
func stores(t *testing.T, f func(t *testing.T, o opts)) {
	for _, name := range []string{"memory", "redis", "memory-http", "redis-http"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f(t, opts{redis: strings.HasPrefix(name, "redis"), http: strings.HasSuffix(name, "-http")})
		})
	}
}

func start(t *testing.T, o opts) *env {
	t.Helper()
	cfg := config.Defaults()
	cfg.LogLevel = "debug"
	if o.timeout > 0 {
		cfg.AsyncWaitTimeoutSeconds = o.timeout
	}
	cfg.DataDir = t.TempDir()
	if o.redis {
		k, _ := seal.Generate("k1")
		cfg.RedisURL = redisSrv.URL()
		cfg.RecordKeys = seal.FormatKeys(k)
		cfg.AttemptHashKey = testHashKey
		cfg.SessionSecret = testHashKey
		cfg.APIKeys = []string{"test-api-key-0123456789abcdef"}
		cfg.AddressProofResultLambdaToken = "address-token-aaaaaaaaaaaa"
		cfg.DocumentProofResultLambdaToken = "document-token-bbbbbbbbbbb"
		cfg.ResolutionProofResultLambdaToken = "resolution-token-ccccccccc"
	}
	return serve(t, cfg, nil, func(ao *app.Options) { ao.WorkerHTTP = o.http })
}

// serve runs an App for cfg on a fresh loopback listener (or ln); with
// tune, the test adjusts the app.Options.
func serve(t *testing.T, cfg config.Config, ln net.Listener, tune ...func(*app.Options)) *env {
	t.Helper()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
	}
	logs := &testlog.Buffer{}
	logger := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	// Each deployment keeps its sessions and webhooks apart on the shared Redis.
	ao := app.Options{ListenAddr: ln.Addr().String(), Version: "test-ref", Logger: logger, RedisKeyPrefix: redistest.Prefix(t)}
	for _, f := range tune {
		f(&ao)
	}
	a, err := app.New(context.Background(), cfg, ao)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: a.Handler, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = a.Drain(ctx)
		_ = srv.Shutdown(ctx)
		_ = a.Close(ctx)
	})
	key := a.DevAPIKey
	if key == "" {
		key = cfg.APIKeys[0]
	}
	ms := httptest.NewServer(a.MetricsHandler())
	t.Cleanup(ms.Close)
	return &env{t: t, base: "http://" + ln.Addr().String(), apiKey: key, app: a, logs: logs, dataDir: cfg.DataDir, http: &http.Client{Timeout: 10 * time.Second}, metrics: ms.URL + "/metrics"}
}

type resp struct {
	status int
	header http.Header
	body   map[string]any
	raw    []byte
}

func (e *env) do(method, path string, body any, hdr ...string) resp {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, _ := json.Marshal(b)
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, e.base+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+e.apiKey)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i+1] == "" {
			req.Header.Del(hdr[i])
		} else {
			req.Header.Set(hdr[i], hdr[i+1])
		}
	}
	r, err := e.http.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer r.Body.Close()
	raw, _ := io.ReadAll(r.Body)
	out := resp{status: r.StatusCode, header: r.Header, raw: raw}
	_ = json.Unmarshal(raw, &out.body)
	return out
}

// waitOutcome polls until the status is no longer pending.
func (e *env) waitOutcome(id string, within time.Duration) map[string]any {
	e.t.Helper()
	begin := time.Now()
	end := begin.Add(within)
	var trail []string
	for time.Now().Before(end) {
		t0 := time.Now()
		r := e.do("GET", "/api/v1/proofing/"+id, nil)
		trail = append(trail, fmt.Sprintf("%v+%v:%d/%v", t0.Sub(begin).Round(time.Millisecond), time.Since(t0).Round(time.Millisecond), r.status, r.body["status"]))
		if r.status != 200 {
			e.t.Fatalf("status of %s: %d %s; polls %v", id, r.status, r.raw, trail[max(0, len(trail)-8):])
		}
		if r.body["status"] != "pending" {
			return r.body
		}
		time.Sleep(10 * time.Millisecond)
	}
	e.t.Fatalf("%s still pending after %v", id, within)
	return nil
}

func (e *env) start(kind string, body any) string {
	e.t.Helper()
	r := e.do("POST", "/api/v1/proofing/"+kind, body)
	if r.status != 202 {
		e.t.Fatalf("start %s: %d %s", kind, r.status, r.raw)
	}
	id, _ := r.body["result_id"].(string)
	if r.body["status_url"] != "/api/v1/proofing/"+id || r.body["deadline"] == nil {
		e.t.Fatalf("start response %s", r.raw)
	}
	return id
}

func (e *env) proof(kind string, body any) map[string]any {
	e.t.Helper()
	// Within half the job's 60 s: on a machine busy with other builds a job
	// through the trust tests' rewriting hop took more than 10 s.
	out := e.waitOutcome(e.start(kind, body), 30*time.Second)
	if out["status"] != "done" {
		e.t.Fatalf("outcome %v", out)
	}
	return out["result"].(map[string]any)
}

func applicant(mut ...func(map[string]any)) map[string]any {
	a := map[string]any{
		"first_name": "Jane", "last_name": "Doe", "dob": "1980-06-15", "ssn": "123-45-6789",
		"address1": "1 Main St", "city": "Reston", "state": "VA", "zipcode": "20190",
		"state_id_number": "D1234567", "state_id_jurisdiction": "VA", "state_id_type": "drivers_license",
		"phone": "7035550100",
	}
	for _, m := range mut {
		m(a)
	}
	return a
}

func set(k, v string) func(map[string]any) { return func(a map[string]any) { a[k] = v } }

func stageNames(r map[string]any) []string {
	var out []string
	for _, s := range r["context"].(map[string]any)["stages"].([]any) {
		out = append(out, s.(map[string]any)["stage"].(string))
	}
	return out
}

func errorsOf(r map[string]any) map[string]any { return r["errors"].(map[string]any) }

func TestResolutionMockVendorMagicValues(t *testing.T) {
	stores(t, func(t *testing.T, o opts) {
		e := start(t, o)
		cases := []struct {
			name      string
			applicant map[string]any
			stateID   bool
			yearOnly  bool
			success   bool
			field     string // expected errors key
			exception bool
			timedOut  bool
			stages    string
		}{
			{name: "pass", applicant: applicant(), success: true, stages: "resolution"},
			{name: "pass with state id", applicant: applicant(), stateID: true, success: true, stages: "resolution,state_id"},
			{name: "dob year only runs state id first", applicant: applicant(), stateID: true, yearOnly: true, success: true, stages: "state_id,resolution"},
			{name: "Bad first name", applicant: applicant(set("first_name", "Bad")), field: "first_name", stages: "resolution"},
			{name: "state id skipped after failure", applicant: applicant(set("first_name", "Bad")), stateID: true, field: "first_name", stages: "resolution"},
			{name: "Time", applicant: applicant(set("first_name", "Time")), timedOut: true, exception: true, stages: "resolution"},
			{name: "Fail", applicant: applicant(set("first_name", "Fail")), exception: true, stages: "resolution"},
			{name: "SSN 000-00-0000", applicant: applicant(set("ssn", "000-00-0000")), exception: true, stages: "resolution"},
			{name: "SSN 6666", applicant: applicant(set("ssn", "123-66-6678")), field: "ssn", stages: "resolution"},
			{name: "zipcode 00000", applicant: applicant(set("zipcode", "00000")), field: "zipcode", stages: "resolution"},
			{name: "unsupported jurisdiction", applicant: applicant(set("state_id_jurisdiction", "GU")), stateID: true, field: "state_id_jurisdiction", stages: "resolution,state_id"},
			{name: "all-zero state id", applicant: applicant(set("state_id_number", "0000000")), stateID: true, field: "state_id_number", stages: "resolution,state_id"},
			{name: "unknown state id type", applicant: applicant(set("state_id_type", "passport")), stateID: true, field: "state_id_type", stages: "resolution,state_id"},
			{name: "state id failure stops dob-year-only", applicant: applicant(set("state_id_type", "passport")), stateID: true, yearOnly: true, field: "state_id_type", stages: "state_id"},
		}
		for _, c := range cases {
			r := e.proof("resolution", map[string]any{"applicant": c.applicant, "should_proof_state_id": c.stateID, "dob_year_only": c.yearOnly})
			if r["success"] != c.success {
				t.Errorf("%s: success %v, want %v (%v)", c.name, r["success"], c.success, r)
			}
			if c.field != "" {
				msgs, _ := errorsOf(r)[c.field].([]any)
				if len(msgs) == 0 || msgs[0].(string) == "" {
					t.Errorf("%s: errors %v lack %s", c.name, r["errors"], c.field)
				}
			}
			if (r["exception"] != nil) != c.exception || r["timed_out"] != c.timedOut {
				t.Errorf("%s: exception %v timed_out %v", c.name, r["exception"], r["timed_out"])
			}
			if got := strings.Join(stageNames(r), ","); got != c.stages {
				t.Errorf("%s: stages %s, want %s", c.name, got, c.stages)
			}
			for _, k := range []string{"success", "errors", "messages", "exception", "timed_out", "transaction_id", "context"} {
				if _, ok := r[k]; !ok {
					t.Errorf("%s: result lacks %s", c.name, k)
				}
			}
		}
		if msgs := errorsOf(e.proof("resolution", map[string]any{"applicant": applicant(set("ssn", "666-66-6666"))}))["ssn"].([]any); msgs[0] != "Unverified SSN." {
			t.Errorf("ssn message %v", msgs)
		}
	})
}

func TestAddressMockVendorMagicValues(t *testing.T) {
	stores(t, func(t *testing.T, o opts) {
		e := start(t, o)
		ok := e.proof("address", map[string]any{"applicant": map[string]any{"phone": "(703) 555-0100"}})
		if ok["success"] != true || stageNames(ok)[0] != "address" {
			t.Errorf("plain phone: %v", ok)
		}
		bad := e.proof("address", map[string]any{"applicant": map[string]any{"phone": "7035555555"}})
		if bad["success"] != false || errorsOf(bad)["phone"] == nil {
			t.Errorf("7035555555: %v", bad)
		}
		exc := e.proof("address", map[string]any{"applicant": map[string]any{"phone": "+1 703 555 5999"}})
		if exc["exception"] == nil || exc["timed_out"] != false {
			t.Errorf("7035555999: %v", exc)
		}
		to := e.proof("address", map[string]any{"applicant": map[string]any{"phone": "703.555.5888"}})
		if to["timed_out"] != true || to["success"] != false {
			t.Errorf("7035555888: %v", to)
		}
	})
}

func TestHangReachesTimeoutThenRetrySucceeds(t *testing.T) {
	stores(t, func(t *testing.T, o opts) {
		o.timeout = 2 // the timed_out window is one more timeout: wide enough for a loaded CI machine
		e := start(t, o)
		id := e.start("resolution", map[string]any{"applicant": applicant(set("first_name", "Hangman"))})
		if r := e.do("GET", "/api/v1/proofing/"+id, nil); r.body["status"] != "pending" {
			t.Fatalf("right after start: %s", r.raw)
		}
		out := e.waitOutcome(id, 5*time.Second)
		if out["status"] != "timed_out" || out["result"] != nil {
			t.Fatalf("Hang: %v", out)
		}
		// Still answered as timed_out (for at least one more timeout period).
		if r := e.do("GET", "/api/v1/proofing/"+id, nil); r.body["status"] != "timed_out" {
			t.Fatalf("re-read: %s", r.raw)
		}
		// Try again: a new attempt with a new result_id.
		r := e.proof("resolution", map[string]any{"applicant": applicant()})
		if r["success"] != true {
			t.Fatalf("retry: %v", r)
		}
	})
}

// capture creates a document capture and uploads the encrypted images.
func (e *env) capture(front, back []byte, selfie ...[]byte) (map[string]any, []byte) {
	e.t.Helper()
	r := e.do("POST", "/api/v1/document-capture", nil)
	if r.status != 201 {
		e.t.Fatalf("capture: %d %s", r.status, r.raw)
	}
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	req := map[string]any{"capture_id": r.body["capture_id"], "encryption_key": base64.StdEncoding.EncodeToString(key)}
	uploads := r.body["uploads"].(map[string]any)
	images := map[string][]byte{"front": front, "back": back}
	if len(selfie) > 0 {
		images["selfie"] = selfie[0]
	}
	for side, img := range images {
		up := uploads[side].(map[string]any)
		iv := make([]byte, 12)
		_, _ = rand.Read(iv)
		block, _ := aes.NewCipher(key)
		gcm, _ := cipher.NewGCM(block)
		ct := gcm.Seal(nil, iv, img, nil)
		put, _ := http.NewRequest(up["method"].(string), up["url"].(string), bytes.NewReader(ct))
		for k, v := range up["headers"].(map[string]any) {
			put.Header.Set(k, v.(string))
		}
		pr, err := e.http.Do(put)
		if err != nil {
			e.t.Fatal(err)
		}
		pr.Body.Close()
		if pr.StatusCode/100 != 2 {
			e.t.Fatalf("upload %s: %d", side, pr.StatusCode)
		}
		req[side+"_image_url"] = up["url"]
		req[side+"_image_iv"] = base64.StdEncoding.EncodeToString(iv)
	}
	return req, key
}

func countFiles(t *testing.T, dir string) int {
	n := 0
	_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			n++
		}
		return nil
	})
	return n
}

func TestDocumentFlow(t *testing.T) {
	stores(t, func(t *testing.T, o opts) {
		e := start(t, o)
		yamlBack := []byte("document:\n  first_name: Susan\n  last_name: Smith\n  dob: '1985-03-04'\n  state: MT\n  zipcode: '59010'\n  state_id_number: '123456789'\n  state_id_jurisdiction: MT\n  state_id_type: drivers_license\n")
		req, _ := e.capture([]byte("front image bytes"), yamlBack)
		if n := countFiles(t, e.dataDir); n != 2 {
			t.Fatalf("%d uploaded files, want 2", n)
		}
		r := e.proof("document", req)
		if r["success"] != true {
			t.Fatalf("document: %v", r)
		}
		pii := r["pii_from_doc"].(map[string]any)
		if pii["first_name"] != "Susan" || pii["state_id_jurisdiction"] != "MT" || pii["dob"] != "1985-03-04" {
			t.Errorf("pii_from_doc %v", pii)
		}
		if stageNames(r)[0] != "document" {
			t.Errorf("stages %v", stageNames(r))
		}
		// One outcome log line per job, with the timing of every step. The
		// worker writes it once the callback has answered, which can be
		// just after the outcome is readable: wait for it.
		var delivered string
		for end := time.Now().Add(5 * time.Second); delivered == "" && time.Now().Before(end); time.Sleep(5 * time.Millisecond) {
			for _, l := range strings.Split(e.logs.String(), "\n") {
				if strings.Contains(l, `"msg":"job delivered"`) && strings.Contains(l, `"kind":"document"`) {
					delivered = l
				}
			}
		}
		for _, step := range []string{"download_front", "decrypt_front", "download_back", "decrypt_back", `"step":"document"`, `"vendor":"DocAuthMock"`, `"callback":`} {
			if !strings.Contains(delivered, step) {
				t.Errorf("outcome log line lacks %s: %s", step, delivered)
			}
		}
		if n := countFiles(t, e.dataDir); n != 0 {
			t.Errorf("%d image files left after proofing, want 0", n)
		}

		// Liveness: the selfie is uploaded, proofed and deleted too; without it the start is refused.
		req, _ = e.capture([]byte("front"), []byte("back"), []byte("selfie"))
		req["liveness_checking_enabled"] = true
		if r = e.proof("document", req); r["success"] != true {
			t.Errorf("with selfie: %v", r)
		}
		if n := countFiles(t, e.dataDir); n != 0 {
			t.Errorf("%d image files left after a liveness job", n)
		}
		req, _ = e.capture([]byte("front"), []byte("back"))
		req["liveness_checking_enabled"] = true
		if r := e.do("POST", "/api/v1/proofing/document", req); r.status != 400 || !strings.Contains(string(r.raw), `"field":"selfie_image_url"`) {
			t.Errorf("liveness without selfie: %d %s", r.status, r.raw)
		}

		req, _ = e.capture([]byte("front"), []byte("friendly_error: The image was too blurry.\n"))
		r = e.proof("document", req)
		if r["success"] != false || len(errorsOf(r)) == 0 {
			t.Errorf("friendly_error: %v", r)
		}

		req, _ = e.capture([]byte("front"), []byte("not yaml at all \x00\x01"))
		if r = e.proof("document", req); r["success"] != true || r["pii_from_doc"] == nil {
			t.Errorf("default document: %v", r)
		}

		// Wrong key: the worker cannot decrypt; an exception names the side.
		req, _ = e.capture([]byte("front"), []byte("back"))
		other := make([]byte, 32)
		req["encryption_key"] = base64.StdEncoding.EncodeToString(other)
		if r = e.proof("document", req); r["exception"] == nil || r["success"] != false {
			t.Errorf("wrong key: %v", r)
		}
	})
}

func TestDocumentStartRefusesForeignImages(t *testing.T) {
	t.Parallel()
	e := start(t, opts{})
	req, _ := e.capture([]byte("f"), []byte("b"))
	other, _ := e.capture([]byte("f"), []byte("b"))
	cases := map[string]func(m map[string]any){
		"front_image_url": func(m map[string]any) { m["front_image_url"] = "http://169.254.169.254/latest/meta-data/" },
		"selfie_image_url": func(m map[string]any) {
			m["liveness_checking_enabled"] = true
			m["selfie_image_iv"] = "AAAAAAAAAAAAAAAA"
			m["selfie_image_url"] = "http://127.0.0.1:1/uploads/" + fmt.Sprint(m["capture_id"]) + "/selfie"
		},
		"back_image_url": func(m map[string]any) { m["back_image_url"] = other["back_image_url"] },
		"front_image_iv": func(m map[string]any) { m["front_image_iv"] = "AAAA" },
		"encryption_key": func(m map[string]any) { m["encryption_key"] = "short" },
		"capture_id":     func(m map[string]any) { m["capture_id"] = "../../etc" },
	}
	for field, mut := range cases {
		m := map[string]any{}
		for k, v := range req {
			m[k] = v
		}
		mut(m)
		r := e.do("POST", "/api/v1/proofing/document", m)
		if r.status != 400 || !strings.Contains(string(r.raw), `"field":"`+field+`"`) {
			t.Errorf("%s: %d %s", field, r.status, r.raw)
		}
	}
	// the back URL swapped to the front slot of the same capture
	m := map[string]any{}
	for k, v := range req {
		m[k] = v
	}
	m["front_image_url"], m["back_image_url"] = req["back_image_url"], req["front_image_url"]
	if r := e.do("POST", "/api/v1/proofing/document", m); r.status != 400 {
		t.Errorf("swapped sides accepted: %d", r.status)
	}
}

func TestAPIStatusCodes(t *testing.T) {
	stores(t, func(t *testing.T, o opts) {
		e := start(t, o)
		good := map[string]any{"applicant": applicant()}
		if r := e.do("POST", "/api/v1/proofing/resolution", good, "Authorization", ""); r.status != 401 {
			t.Errorf("no key: %d", r.status)
		}
		if r := e.do("POST", "/api/v1/proofing/resolution", good, "Authorization", "Bearer wrong-key-0123456789"); r.status != 401 {
			t.Errorf("wrong key: %d", r.status)
		}
		if r := e.do("GET", "/api/v1/proofing/"+"3db26898-534c-4be2-9592-4ef9e0d3908e", nil, "Authorization", "Basic x"); r.status != 401 {
			t.Errorf("status without key: %d", r.status)
		}
		r := e.do("POST", "/api/v1/proofing/resolution", map[string]any{"applicant": applicant(set("dob", "06/15/1980"), set("ssn", "12-345"), set("state", "Virginia"), set("zipcode", "123"), set("first_name", ""))})
		if r.status != 400 {
			t.Fatalf("invalid applicant: %d %s", r.status, r.raw)
		}
		fields := map[string]bool{}
		for _, fe := range r.body["errors"].([]any) {
			m := fe.(map[string]any)
			fields[m["field"].(string)] = true
			if m["message"] == "" {
				t.Errorf("empty message for %v", m["field"])
			}
		}
		for _, f := range []string{"dob", "ssn", "state", "zipcode", "first_name"} {
			if !fields[f] {
				t.Errorf("400 does not name %s: %s", f, r.raw)
			}
		}
		if strings.Contains(string(r.raw), "06/15/1980") {
			t.Error("validation error echoes a value")
		}
		r = e.do("POST", "/api/v1/proofing/address", map[string]any{"applicant": map[string]any{"phone": "555-0100"}})
		if r.status != 400 || !strings.Contains(string(r.raw), `"field":"phone"`) {
			t.Errorf("bad phone: %d %s", r.status, r.raw)
		}
		if r := e.do("POST", "/api/v1/proofing/resolution", map[string]any{"applicant": applicant(), "should_proof_state_id": true, "x": 1}); r.status != 202 {
			t.Errorf("extra field: %d", r.status)
		}
		if r := e.do("POST", "/api/v1/proofing/resolution", `{"applicant": `); r.status != 400 {
			t.Errorf("malformed json: %d", r.status)
		}
		if r := e.do("POST", "/api/v1/proofing/resolution", `{"applicant": {"dob": 19800615}}`); r.status != 400 || !strings.Contains(string(r.raw), `"field":"dob"`) {
			t.Errorf("wrong type: %d %s", r.status, r.raw)
		}
		if r := e.do("POST", "/api/v1/proofing/resolution", good, "Content-Type", "text/plain"); r.status != 415 {
			t.Errorf("wrong content type: %d", r.status)
		}
		if r := e.do("POST", "/api/v1/proofing/resolution", `{"applicant":{"first_name":"`+strings.Repeat("a", 100<<10)+`"}}`); r.status != 413 {
			t.Errorf("oversized: %d", r.status)
		}
		for _, id := range []string{"3db26898-534c-4be2-9592-4ef9e0d3908e", "not-an-id", "..%2f..%2fetc"} {
			if r := e.do("GET", "/api/v1/proofing/"+id, nil); r.status != 404 {
				t.Errorf("GET %s: %d", id, r.status)
			}
		}
		id := e.start("address", map[string]any{"applicant": map[string]any{"phone": "7035550100"}})
		if out := e.waitOutcome(id, 5*time.Second); out["status"] != "done" {
			t.Fatalf("address: %v", out)
		}
		if r := e.do("DELETE", "/api/v1/proofing/"+id, nil); r.status != 204 {
			t.Errorf("DELETE: %d", r.status)
		}
		if r := e.do("GET", "/api/v1/proofing/"+id, nil); r.status != 404 {
			t.Errorf("GET after DELETE: %d", r.status)
		}
		if r := e.do("DELETE", "/api/v1/proofing/"+id, nil); r.status != 404 {
			t.Errorf("second DELETE: %d", r.status)
		}
		if r := e.do("GET", "/api/v1/nothing-here", nil); r.status != 404 {
			t.Errorf("unknown endpoint: %d", r.status)
		}
	})
}

func TestCallbackRefusesUnauthenticatedWorkers(t *testing.T) {
	stores(t, func(t *testing.T, o opts) {
		e := start(t, o)
		id := e.start("address", map[string]any{"applicant": map[string]any{"phone": "7035550100"}})
		e.waitOutcome(id, 5*time.Second)
		body := `{"address_result":{"success":true}}`
		post := func(kind, id string, hdr ...string) int {
			req, _ := http.NewRequest("POST", e.base+"/api/proofing_results/"+kind+"/"+id, strings.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			for i := 0; i+1 < len(hdr); i += 2 {
				req.Header.Set(hdr[i], hdr[i+1])
			}
			r, err := e.http.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			r.Body.Close()
			return r.StatusCode
		}
		if s := post("address", id); s != 401 {
			t.Errorf("no token: %d", s)
		}
		if s := post("address", id, "X-API-AUTH-TOKEN", "wrong"); s != 401 {
			t.Errorf("wrong token: %d", s)
		}
		if s := post("nosuchkind", id, "X-API-AUTH-TOKEN", "x"); s != 404 {
			t.Errorf("unknown kind: %d", s)
		}
		if o.redis {
			// Configured tokens: the right token on a done job is 409 (its
			// record holds no secret any more: nothing opens, nothing is
			// written; server/server_test.go refuses unsealed and forged
			// bodies on pending jobs), another kind's token is 401, and an
			// unknown id is 404.
			if s := post("address", id, "X-API-AUTH-TOKEN", "address-token-aaaaaaaaaaaa"); s != 409 {
				t.Errorf("token on a done job: %d", s)
			}

			if s := post("address", id, "X-API-AUTH-TOKEN", "resolution-token-ccccccccc"); s != 401 {
				t.Errorf("other kind's token: %d", s)
			}
			if s := post("address", "3db26898-534c-4be2-9592-4ef9e0d3908e", "X-API-AUTH-TOKEN", "address-token-aaaaaaaaaaaa"); s != 404 {
				t.Errorf("unknown result id: %d", s)
			}
		}
	})
}

// markerIndex is where marker m first stands in s, or -1. A marker of
// digits only (a zipcode, a phone number) counts only where no digit
// touches it: a duration such as 1222223 ns is not the zipcode 22222.
func markerIndex(s, m string) int {
	digits := strings.Trim(m, "0123456789") == ""
	for off := 0; ; {
		i := strings.Index(s[off:], m)
		if i < 0 {
			return -1
		}
		i += off
		end := i + len(m)
		isDigit := func(j int) bool { return j >= 0 && j < len(s) && s[j] >= '0' && s[j] <= '9' }
		if !digits || (!isDigit(i-1) && !isDigit(end)) {
			return i
		}
		off = i + 1
	}
}

// TestCanaryPIINeverAtRestOrInLogs runs every flow with marker PII, then
// searches the logs (all levels), every Redis value and the image directory.
func TestCanaryPIINeverAtRestOrInLogs(t *testing.T) {
	stores(t, func(t *testing.T, o opts) {
		e := start(t, o)
		const mark = "QXCANARY"
		markers := []string{mark, "987-65-4329", "987654329", "7035550142", "1961-07-04", "D7777777", "22222"}
		a := map[string]any{
			"first_name": mark + "First", "middle_name": mark + "Mid", "last_name": mark + "Last", "dob": "1961-07-04",
			"ssn": "987-65-4329", "address1": mark + " Road", "city": mark + "ville", "state": "VA", "zipcode": "22222",
			"state_id_number": "D7777777", "state_id_jurisdiction": "VA", "state_id_type": "drivers_license", "phone": "7035550142",
		}
		var ids []string
		for _, v := range []map[string]any{
			{"applicant": a, "should_proof_state_id": true},
			{"applicant": a, "should_proof_state_id": true, "dob_year_only": true},
		} {
			ids = append(ids, e.start("resolution", v))
		}
		ids = append(ids, e.start("address", map[string]any{"applicant": a}))
		failing := map[string]any{}
		for k, v := range a {
			failing[k] = v
		}
		failing["first_name"] = "Bad" + mark
		ids = append(ids, e.start("resolution", map[string]any{"applicant": failing}))
		req, _ := e.capture([]byte(mark+"front"), []byte("document:\n  first_name: "+mark+"Doc\n  last_name: "+mark+"DocLast\n  state_id_number: D7777777\n  dob: 1961-07-04\n"))
		ids = append(ids, e.start("document", req))
		// An invalid request carrying PII must not echo it either.
		_ = e.do("POST", "/api/v1/proofing/resolution", map[string]any{"applicant": map[string]any{"first_name": mark, "ssn": "987-65-432", "dob": mark}})

		var docPII map[string]any
		for _, id := range ids {
			out := e.waitOutcome(id, 10*time.Second)
			if out["status"] != "done" {
				t.Fatalf("%s: %v", id, out)
			}
			if p, ok := out["result"].(map[string]any)["pii_from_doc"].(map[string]any); ok {
				docPII = p
			}
		}
		// The owner does get the document PII back through the API.
		if docPII == nil || docPII["first_name"] != mark+"Doc" {
			t.Fatalf("pii_from_doc not returned to the IdP: %v", docPII)
		}
		logs := e.logs.String()
		if !strings.Contains(logs, "result received") {
			t.Fatal("no logs captured")
		}
		mr, err := e.http.Get(e.metrics)
		if err != nil {
			t.Fatal(err)
		}
		metricsText, _ := io.ReadAll(mr.Body)
		mr.Body.Close()
		for _, m := range append(markers, ids...) {
			if markerIndex(string(metricsText), m) >= 0 {
				t.Errorf("/metrics contains %q", m)
			}
		}
		for _, m := range markers {
			if i := markerIndex(logs, m); i >= 0 {
				t.Errorf("logs contain marker %q: …%s…", m, logs[max(0, i-200):min(len(logs), i+100)])
			}
		}
		if o.redis {
			dump, err := redisSrv.Dump(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			found := 0
			for _, id := range ids {
				for k, v := range dump {
					if strings.Contains(k, id) {
						found++
						for _, m := range markers {
							if bytes.Contains(v, []byte(m)) {
								t.Errorf("redis value of %s contains %q", k, m)
							}
						}
					}
				}
			}
			if found != len(ids) {
				t.Errorf("found %d of %d records in redis", found, len(ids))
			}
			for k := range dump {
				for _, m := range markers {
					if strings.Contains(k, m) {
						t.Errorf("redis key %q contains a marker", k)
					}
				}
			}
		}
		_ = filepath.WalkDir(e.dataDir, func(p string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				b, _ := os.ReadFile(p)
				if bytes.Contains(b, []byte(mark)) {
					t.Errorf("image file %s holds plaintext", p)
				}
			}
			return nil
		})
	})
}

func TestServesHealthAndHome(t *testing.T) {
	t.Parallel()
	e := start(t, opts{})
	for _, p := range []string{"/healthz", "/"} {
		r, err := e.http.Get(e.base + p)
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
		if r.StatusCode != 200 || r.Header.Get("X-Request-Id") == "" {
			t.Errorf("%s: %d", p, r.StatusCode)
		}
	}
	_ = fmt.Sprint()
}

// TestDocumentImagesBoundToCaptureAndSide: with aad_binding, each image is
// encrypted with "{capture_id}/{side}" as additional data; a ciphertext moved
// to the other side (or another capture) no longer decrypts.
func TestDocumentImagesBoundToCaptureAndSide(t *testing.T) {
	t.Parallel()
	e := start(t, opts{})
	upload := func(swap bool) map[string]any {
		r := e.do("POST", "/api/v1/document-capture", nil)
		capID := r.body["capture_id"].(string)
		key := make([]byte, 32)
		_, _ = rand.Read(key)
		block, _ := aes.NewCipher(key)
		gcm, _ := cipher.NewGCM(block)
		req := map[string]any{"capture_id": capID, "encryption_key": base64.StdEncoding.EncodeToString(key), "aad_binding": true}
		uploads := r.body["uploads"].(map[string]any)
		for _, side := range []string{"front", "back"} {
			iv := make([]byte, 12)
			_, _ = rand.Read(iv)
			ct := gcm.Seal(nil, iv, []byte(side+" image"), []byte(capID+"/"+side))
			target := side
			if swap {
				target = map[string]string{"front": "back", "back": "front"}[side]
			}
			up := uploads[target].(map[string]any)
			put, _ := http.NewRequest("PUT", up["url"].(string), bytes.NewReader(ct))
			put.Header.Set("Content-Type", "application/octet-stream")
			pr, err := e.http.Do(put)
			if err != nil || pr.StatusCode/100 != 2 {
				t.Fatalf("upload: %v %v", err, pr)
			}
			pr.Body.Close()
			req[target+"_image_url"] = up["url"]
			req[target+"_image_iv"] = base64.StdEncoding.EncodeToString(iv)
		}
		return req
	}
	if r := e.proof("document", upload(false)); r["success"] != true {
		t.Fatalf("bound images: %v", r)
	}
	r := e.proof("document", upload(true))
	if r["success"] != false || r["exception"] == nil || !strings.Contains(fmt.Sprint(r["exception"]), "decrypt") {
		t.Fatalf("swapped sides: %v", r)
	}
}

// TestDocumentStartRefusesRepeatedIVs: the images of one capture share one
// AES-GCM key, so two sides under the same IV are a nonce reuse (the XOR of
// the two images leaks, and GCM's authentication key can be recovered).
// The start is refused with 400 naming the later field, whatever base64
// form repeats the IV, and nothing is dispatched.
func TestDocumentStartRefusesRepeatedIVs(t *testing.T) {
	t.Parallel()
	e := start(t, opts{})
	urlSafe := func(std any) string { // the same 12 bytes, URL-safe and unpadded
		b, _ := base64.StdEncoding.DecodeString(std.(string))
		return base64.RawURLEncoding.EncodeToString(b)
	}
	for _, tc := range []struct {
		name, field, message string
		mut                  func(m map[string]any)
	}{
		{"back = front", "back_image_iv", "must differ from front_image_iv", func(m map[string]any) { m["back_image_iv"] = m["front_image_iv"] }},
		{"back = front, other encoding", "back_image_iv", "must differ from front_image_iv", func(m map[string]any) { m["back_image_iv"] = urlSafe(m["front_image_iv"]) }},
		{"selfie = front", "selfie_image_iv", "must differ from front_image_iv", func(m map[string]any) { m["selfie_image_iv"] = m["front_image_iv"] }},
		{"selfie = back", "selfie_image_iv", "must differ from back_image_iv", func(m map[string]any) { m["selfie_image_iv"] = m["back_image_iv"] }},
	} {
		req, _ := e.capture([]byte("front"), []byte("back"), []byte("selfie"))
		req["liveness_checking_enabled"] = true
		tc.mut(req)
		r := e.do("POST", "/api/v1/proofing/document", req)
		if r.status != 400 {
			t.Errorf("%s: %d %s, want 400", tc.name, r.status, r.raw)
			continue
		}
		errs, _ := r.body["errors"].([]any)
		if len(errs) != 1 || fmt.Sprint(errs[0]) != fmt.Sprint(map[string]any{"field": tc.field, "message": tc.message}) {
			t.Errorf("%s: errors %s, want one on %s: %q", tc.name, r.raw, tc.field, tc.message)
		}
	}
	// Distinct IVs are accepted.
	req, _ := e.capture([]byte("front"), []byte("back"), []byte("selfie"))
	req["liveness_checking_enabled"] = true
	if r := e.proof("document", req); r["success"] != true {
		t.Errorf("distinct IVs: %v", r)
	}
}

// TestRefusedDocumentStartDeletesItsImages: a document start refused after
// the upload (invalid request, attempt limit, no worker capacity) deletes
// that capture's images at once: nothing will ever read them.
func TestRefusedDocumentStartDeletesItsImages(t *testing.T) {
	t.Parallel()
	cfg := config.Defaults()
	cfg.DataDir = t.TempDir()
	cfg.AsyncWaitTimeoutSeconds = 3
	cfg.IDVMaxAttempts = 1
	cfg.WorkerConcurrency = 1
	cfg.WorkerQueueSize = 1
	e := serve(t, cfg, nil)
	images := func(captureID any) int { return countFiles(t, filepath.Join(e.dataDir, captureID.(string))) }

	// Refused as invalid (a repeated IV).
	req, _ := e.capture([]byte("front"), []byte("back"))
	req["back_image_iv"] = req["front_image_iv"]
	if r := e.do("POST", "/api/v1/proofing/document", req); r.status != 400 || images(req["capture_id"]) != 0 {
		t.Errorf("invalid start: %d, %d images left", r.status, images(req["capture_id"]))
	}
	// Refused at the attempt limit: the person's one attempt is in flight.
	hang := map[string]any{"applicant": applicant(set("first_name", "Hang")), "person_id": "person-1"}
	if r := e.do("POST", "/api/v1/proofing/resolution", hang); r.status != 202 {
		t.Fatalf("first attempt: %d %s", r.status, r.raw)
	}
	req, _ = e.capture([]byte("front"), []byte("back"))
	req["person_id"] = "person-1"
	if r := e.do("POST", "/api/v1/proofing/document", req); r.status != 429 || images(req["capture_id"]) != 0 {
		t.Errorf("limited start: %d, %d images left", r.status, images(req["capture_id"]))
	}
	// Refused for capacity: one worker busy with a Hang job, one job waiting.
	hang["person_id"] = "person-2"
	for i := range 5 {
		hang["person_id"] = fmt.Sprint("person-busy-", i)
		if r := e.do("POST", "/api/v1/proofing/resolution", hang); r.status == 503 {
			break
		}
	}
	req, _ = e.capture([]byte("front"), []byte("back"))
	if r := e.do("POST", "/api/v1/proofing/document", req); r.status != 503 || images(req["capture_id"]) != 0 {
		t.Errorf("start without capacity: %d, %d images left", r.status, images(req["capture_id"]))
	}
}

// The canary's own matcher: a leaked number is found, a longer number that
// happens to contain it is not.
func TestMarkerIndex(t *testing.T) {
	t.Parallel()
	for s, want := range map[string]bool{
		`{"zipcode":"22222"}`: true, `zip 22222`: true, `22222`: true, `"took_ns":1222223`: false,
		`QXCANARYFirst`: true, `nothing`: false,
	} {
		m := "22222"
		if strings.HasPrefix(s, "QX") || s == "nothing" {
			m = "QXCANARY"
		}
		if got := markerIndex(s, m) >= 0; got != want {
			t.Errorf("markerIndex(%q, %q) found %v, want %v", s, m, got, want)
		}
	}
}
