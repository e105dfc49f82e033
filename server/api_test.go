package server_test

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/proofline/proofline"
	"github.com/proofline/proofline/proofing"
	"github.com/proofline/proofline/resultstore"
	"github.com/proofline/proofline/resultstore/storetest"
	"github.com/proofline/proofline/server"
	"github.com/proofline/proofline/tenant"
)

// api sends an authenticated JSON API request and returns the status and body.
func (f *fixture) api(method, path, ctype, body string) (int, http.Header, string) {
	f.t.Helper()
	return f.apiAs(apiKey, method, path, ctype, body)
}

// apiAs sends a JSON API request with key.
func (f *fixture) apiAs(key, method, path, ctype, body string) (int, http.Header, string) {
	f.t.Helper()
	req, _ := http.NewRequest(method, f.srv.URL+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+key)
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

// fieldErrors reads a 400 answer's {"errors": [...]}.
func fieldErrors(t *testing.T, body string) []proofline.FieldError {
	t.Helper()
	var v struct {
		Errors []proofline.FieldError `json:"errors"`
	}
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		t.Fatalf("not a validation answer: %s", body)
	}
	return v.Errors
}

// TestWrongTypedFieldIsNamedAsTheCallerWroteIt: a value of the wrong JSON
// type is a 400 naming the field as the request spells it: person_id and
// client_ip (which every start request shares), an applicant field by its
// own name, a top-level field as it is.
func TestWrongTypedFieldIsNamedAsTheCallerWroteIt(t *testing.T) {
	t.Parallel()
	f := setup(t, false)
	cases := []struct{ path, body, field string }{
		{"/api/v1/proofing/resolution", `{"person_id":1}`, "person_id"},
		{"/api/v1/proofing/resolution", `{"client_ip":["10.0.0.1"]}`, "client_ip"},
		{"/api/v1/proofing/address", `{"person_id":{"id":"u1"}}`, "person_id"},
		{"/api/v1/proofing/address", `{"client_ip":7}`, "client_ip"},
		{"/api/v1/proofing/document", `{"person_id":true}`, "person_id"},
		{"/api/v1/proofing/resolution", `{"applicant":{"dob":19800101}}`, "dob"},
		{"/api/v1/proofing/resolution", `{"should_proof_state_id":"yes"}`, "should_proof_state_id"},
		{"/api/v1/proofing/document", `{"capture_id":2}`, "capture_id"},
	}
	for _, c := range cases {
		status, _, body := f.api("POST", c.path, "application/json", c.body)
		if status != 400 {
			t.Errorf("%s %s: %d %s, want 400", c.path, c.body, status, body)
			continue
		}
		errs := fieldErrors(t, body)
		if len(errs) != 1 || errs[0].Field != c.field || errs[0].Message != "has the wrong type" {
			t.Errorf("%s %s: %s, want the field %q with the wrong type", c.path, c.body, body, c.field)
		}
	}
}

// TestRequestBodyLimit: a JSON API body of exactly MaxRequestBytes (64 KiB by
// default) is read; one byte more is a 413, before any validation.
func TestRequestBodyLimit(t *testing.T) {
	t.Parallel()
	f := setup(t, false)
	const limit = 64 << 10
	// {"person_id":"xxx…"}: a valid JSON object whose person_id is too long,
	// so a body that is read at all is a 400 naming person_id.
	body := func(n int) string {
		pre, post := `{"person_id":"`, `"}`
		return pre + strings.Repeat("x", n-len(pre)-len(post)) + post
	}
	status, _, b := f.api("POST", "/api/v1/proofing/address", "application/json", body(limit))
	if status != 400 || !strings.Contains(b, `"field":"person_id"`) {
		t.Errorf("body of exactly the limit: %d %s, want 400 naming person_id", status, b)
	}
	status, _, b = f.api("POST", "/api/v1/proofing/address", "application/json", body(limit+1))
	if status != 413 || !strings.Contains(b, `"code":"too_large"`) {
		t.Errorf("body one byte over the limit: %d %s, want 413", status, b)
	}
}

// TestRequestBodyMustBeOneJSONObject: the API reads application/json (with
// parameters) only, and exactly one JSON value.
func TestRequestBodyMustBeOneJSONObject(t *testing.T) {
	t.Parallel()
	f := setup(t, false)
	const ok = `{"applicant":{"phone":"7035550100"}}`
	cases := []struct {
		ctype, body string
		want        int
		field       string
	}{
		{"application/json; charset=utf-8", ok, 202, ""},
		{"text/plain", ok, 415, ""},
		{"", ok, 415, ""},
		{"application/json", ok + ` {}`, 400, "body"},
		{"application/json", `[1]`, 400, "body"},
		{"application/json", `{"applicant":`, 400, "body"},
	}
	for _, c := range cases {
		status, _, b := f.api("POST", "/api/v1/proofing/address", c.ctype, c.body)
		if status != c.want || (c.field != "" && !strings.Contains(b, `"field":"`+c.field+`"`)) {
			t.Errorf("%q %s: %d %s, want %d %s", c.ctype, c.body, status, b, c.want, c.field)
		}
	}
}

// TestAPIKeyIsRequired: every /api/v1 route, known or not, answers 401 with
// a Bearer challenge without a valid "Bearer <key>"; an authenticated answer
// is never cached.
func TestAPIKeyIsRequired(t *testing.T) {
	t.Parallel()
	f := setup(t, false)
	for _, auth := range []string{"", apiKey, "Basic " + apiKey, "Bearer wrong-key-0123456789abcd", "Bearer "} {
		for _, path := range []string{"/api/v1/proofing/x", "/api/v1/nothing-here"} {
			req, _ := http.NewRequest("GET", f.srv.URL+path, nil)
			if auth != "" {
				req.Header.Set("Authorization", auth)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 401 || resp.Header.Get("WWW-Authenticate") != `Bearer realm="proofline"` || !strings.Contains(string(b), `"code":"unauthorized"`) {
				t.Errorf("%s with Authorization %q: %d %v %s, want 401 with a Bearer challenge", path, auth, resp.StatusCode, resp.Header, b)
			}
		}
	}
	status, h, b := f.api("GET", "/api/v1/nothing-here", "", "")
	if status != 404 || h.Get("Cache-Control") != "no-store" || h.Get("WWW-Authenticate") != "" || !strings.Contains(b, `"code":"not_found"`) {
		t.Errorf("unknown endpoint with a key: %d %v %s, want an uncached 404", status, h, b)
	}
}

// TestOutcomeLifecycle: a started job is pending at its status_url; once its
// callback lands the result is answered in full, at once even with a wait;
// DELETE forgets it (204), after which it is 404.
func TestOutcomeLifecycle(t *testing.T) {
	t.Parallel()
	f := setup(t, false)
	status, h, b := f.api("POST", "/api/v1/proofing/address", "application/json", `{"applicant":{"phone":"7035550100"}}`)
	var st struct {
		ResultID  string    `json:"result_id"`
		StatusURL string    `json:"status_url"`
		Deadline  time.Time `json:"deadline"`
	}
	if status != 202 || json.Unmarshal([]byte(b), &st) != nil || st.ResultID == "" {
		t.Fatalf("start: %d %s", status, b)
	}
	if st.StatusURL != "/api/v1/proofing/"+st.ResultID || h.Get("Location") != st.StatusURL {
		t.Errorf("status_url %q, Location %q", st.StatusURL, h.Get("Location"))
	}
	if d := time.Until(st.Deadline); d < 50*time.Second || d > 61*time.Second || st.Deadline.Location() != time.UTC {
		t.Errorf("deadline %v: want a minute from now, in UTC", st.Deadline)
	}
	for _, q := range []string{"", "?wait=0"} {
		if status, _, b := f.api("GET", st.StatusURL+q, "", ""); status != 200 || b != `{"status":"pending"}`+"\n" {
			t.Errorf("pending%s: %d %s", q, status, b)
		}
	}

	if code := f.post(cb{id: st.ResultID, token: tokens[proofline.KindAddress], secret: f.claimed(f.envelope(st.ResultID))}); code != 204 {
		t.Fatalf("callback: %d", code)
	}
	start := time.Now()
	status, _, b = f.api("GET", st.StatusURL+"?wait=60", "", "")
	if status != 200 || !strings.Contains(b, `"status":"done"`) || !strings.Contains(b, `"transaction_id":"t"`) {
		t.Errorf("done: %d %s, want the result", status, b)
	}
	if time.Since(start) > 5*time.Second {
		t.Errorf("a wait on a done job took %v: it answers at once", time.Since(start))
	}
	if status, _, b := f.api("DELETE", st.StatusURL, "", ""); status != 204 || b != "" {
		t.Errorf("delete: %d %q, want 204", status, b)
	}
	if status, _, b := f.api("GET", st.StatusURL, "", ""); status != 404 || !strings.Contains(b, `"code":"not_found"`) {
		t.Errorf("after delete: %d %s, want 404", status, b)
	}
}

// TestWaitIsWholeSecondsFromZeroToSixty: ?wait outside 0..60 is a 400 naming
// wait, before the record is read.
func TestWaitIsWholeSecondsFromZeroToSixty(t *testing.T) {
	t.Parallel()
	f := setup(t, false)
	for _, q := range []string{"-1", "61", "1.5", "abc"} {
		status, _, b := f.api("GET", "/api/v1/proofing/"+proofline.NewResultID()+"?wait="+q, "", "")
		if status != 400 || !strings.Contains(b, `"field":"wait"`) {
			t.Errorf("wait=%s: %d %s, want 400 naming wait", q, status, b)
		}
	}
	// In range, an unknown id is read (and is 404).
	for _, q := range []string{"0", "60"} {
		if status, _, b := f.api("GET", "/api/v1/proofing/"+proofline.NewResultID()+"?wait="+q, "", ""); status != 404 {
			t.Errorf("wait=%s on an unknown id: %d %s, want 404", q, status, b)
		}
	}
}

// TestDocumentCaptureCreated: POST /api/v1/document-capture answers 201 with
// the capture id, its upload URLs and when they expire.
func TestDocumentCaptureCreated(t *testing.T) {
	t.Parallel()
	f := setup(t, false)
	status, _, b := f.api("POST", "/api/v1/document-capture", "", "")
	var c struct {
		CaptureID string         `json:"capture_id"`
		Uploads   map[string]any `json:"uploads"`
		ExpiresAt time.Time      `json:"expires_at"`
	}
	if status != 201 || json.Unmarshal([]byte(b), &c) != nil || c.CaptureID == "" || len(c.Uploads) == 0 || !c.ExpiresAt.After(time.Now()) {
		t.Fatalf("capture: %d %s", status, b)
	}
}

// envelope is the envelope the job id was dispatched with.
func (f *fixture) envelope(id string) *proofline.Envelope {
	f.t.Helper()
	f.cap.mu.Lock()
	defer f.cap.mu.Unlock()
	env := f.cap.envs[id]
	if env == nil {
		f.t.Fatalf("job %s was not dispatched", id)
	}
	return env
}

// cutReadDriver fails a read made under a deadline the way the Redis
// client does when the deadline cuts the read short: at the deadline, with
// a network timeout ("i/o timeout") that does not wrap
// context.DeadlineExceeded. Reads without a deadline pass through.
type cutReadDriver struct{ resultstore.Driver }

func (d cutReadDriver) Get(ctx context.Context, id string) ([]byte, error) {
	if _, ok := ctx.Deadline(); ok {
		<-ctx.Done()
		return nil, &net.OpError{Op: "read", Net: "tcp", Err: os.ErrDeadlineExceeded}
	}
	return d.Driver.Get(ctx, id)
}

// A long poll whose end cuts a store read short with a plain network
// timeout (not an error that says "deadline") still answers 200 pending:
// the wait ran out, the store is not down. The job is one another server
// started, so this server reads it from the store.
func TestWaitCutShortByANetworkTimeoutAnswersPending(t *testing.T) {
	t.Parallel()
	inner := resultstore.NewMemory(resultstore.MemoryOptions{})
	ring := storetest.NewRing(t, "k1")
	here := resultstore.New(cutReadDriver{inner}, ring, resultstore.Options{Timeout: time.Minute})
	t.Cleanup(func() { _ = here.Close() })
	f := setupWith(t, false, func(p *proofing.Options, _ *server.Options) { p.Store = here })
	other := resultstore.New(inner, ring, resultstore.Options{Timeout: time.Minute})
	p := storetest.NewPending(time.Now(), time.Minute)
	p.Tenant = tenant.KeyClient(apiKey).Name
	if err := other.CreatePending(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	status, _, b := f.api("GET", "/api/v1/proofing/"+p.ResultID+"?wait=1", "", "")
	if status != 200 || b != `{"status":"pending"}`+"\n" {
		t.Errorf("%d %s, want 200 pending", status, b)
	}
}

// TestWaitThatRunsOutAnswersPending: a wait that ends before the job does
// (wait=0 at once, wait=1 after a second) answers 200 pending with either
// store, also when the wait's end cuts a store read short.
func TestWaitThatRunsOutAnswersPending(t *testing.T) {
	stores(t, func(t *testing.T, redis bool) {
		f := setup(t, redis)
		id := f.startUnclaimed().ResultID
		for _, q := range []string{"?wait=0", "?wait=1"} {
			start := time.Now()
			status, _, b := f.api("GET", "/api/v1/proofing/"+id+q, "", "")
			if status != 200 || b != `{"status":"pending"}`+"\n" {
				t.Errorf("%s: %d %s, want 200 pending", q, status, b)
			}
			if q == "?wait=1" && time.Since(start) < time.Second {
				t.Errorf("%s answered after %v", q, time.Since(start))
			}
		}
	})
}
