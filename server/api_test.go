package server_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/proofline/proofline"
)

// api sends an authenticated JSON API request and returns the status and body.
func (f *fixture) api(method, path, ctype, body string) (int, http.Header, string) {
	f.t.Helper()
	req, _ := http.NewRequest(method, f.srv.URL+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+apiKey)
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
