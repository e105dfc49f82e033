package server_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
)

// FuzzStartRequests sends arbitrary bodies to every start endpoint: each
// answer is a 202 or a clean 4xx with a JSON error body, never a 5xx.
func FuzzStartRequests(f *testing.F) {
	fx := setup(f, false)
	h := fx.srv.Config.Handler
	paths := []string{"/api/v1/proofing/resolution", "/api/v1/proofing/address", "/api/v1/proofing/document"}
	f.Add([]byte(`{"applicant":{"first_name":"A","last_name":"B","dob":"1980-01-01","ssn":"123456789","address1":"1","city":"c","state":"VA","zipcode":"22030"}}`), uint8(0))
	f.Add([]byte(`{"applicant":{"phone":"7035550100"}}`), uint8(1))
	f.Add([]byte(`{"capture_id":"00000000000000000000000000000000","encryption_key":"AAAA","front_image_url":"http://x/uploads/a/front"}`), uint8(2))
	f.Add([]byte(`{"applicant":{"dob":1}}`), uint8(0))
	f.Add([]byte(`{"document_result_id":"AAAAAAAAAAAAAAAAAAAAAA","applicant":{"ssn":"123456789","first_name":"A"}}`), uint8(0))
	f.Add([]byte(`{"document_result_id":7}`), uint8(0))
	f.Add([]byte(`{"applicant":[]}`), uint8(1))
	f.Add([]byte(`{`), uint8(2))
	f.Fuzz(func(t *testing.T, body []byte, which uint8) {
		req := httptest.NewRequest(http.MethodPost, paths[int(which)%len(paths)], bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+apiKey)
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("%d for %q: %s", rec.Code, body, rec.Body.Bytes())
		}
		if rec.Code != http.StatusAccepted && rec.Code/100 != 4 {
			t.Fatalf("status %d", rec.Code)
		}
		var v map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil {
			t.Fatalf("answer is not JSON: %q", rec.Body.Bytes())
		}
	})
}
