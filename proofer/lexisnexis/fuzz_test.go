package lexisnexis_test

import (
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/proofline/proofline/internal/vendortest"
	"github.com/proofline/proofline/proofer/lexisnexis"
)

// TestSeedCorpus harvests the test server's fixtures into the seed corpus
// (run with -update).
func TestSeedCorpus(t *testing.T) {
	if !*update {
		t.Skip("run with -update to rewrite testdata/fuzz")
	}
	srv := vendortest.NewLexisNexis(t, vendortest.LexisNexisOptions{})
	h := http.Header{"Content-Type": {"application/json"}}
	req, _ := http.NewRequest("POST", "/", nil)
	req.SetBasicAuth(vendortest.LNUsername, vendortest.LNPassword)
	h.Set("Authorization", req.Header.Get("Authorization"))
	dir := filepath.Join("testdata", "fuzz", "FuzzEvaluate")
	body := func(first, ssn, zip, year, phone string) []byte {
		b, _ := json.Marshal(map[string]any{
			"Settings": map[string]any{"Reference": "ref-1"},
			"Person": map[string]any{
				"Name": map[string]any{"FirstName": first, "LastName": "Example"}, "SSN": map[string]any{"Number": ssn, "Type": "ssn9"},
				"DateOfBirth": map[string]any{"Year": year, "Month": "1", "Day": "2"},
				"Addresses":   []any{map[string]any{"Zip5": zip}}, "Phones": []any{map[string]any{"Number": phone}},
			},
		})
		return b
	}
	iv := srv.URL + "/restws/identity/v2/" + vendortest.LNAccountID + "/" + vendortest.LNInstantVerifyWorkflow + "/conversation"
	pf := srv.URL + "/restws/identity/v2/" + vendortest.LNAccountID + "/" + vendortest.LNPhoneFinderWorkflow + "/conversation"
	for name, b := range map[string][]byte{
		"iv_success":       body("Testy", "900123456", "20190", "1984", ""),
		"iv_ssn_failure":   body("Testy", "900666612", "20190", "1984", ""),
		"iv_dob_address":   body("Testy", "900123456", "00000", "1900", ""),
		"iv_not_found":     body("Nobody", "900123456", "20190", "1984", ""),
		"iv_error":         body("Error", "900123456", "20190", "1984", ""),
		"iv_invalid":       body("Weird", "900123456", "20190", "1984", ""),
		"iv_dl_item_fails": body("NoLicense", "900123456", "20190", "1984", ""),
	} {
		vendortest.WriteCorpusFile(t, dir, name, vendortest.Fetch(t, srv.Client(), iv, h, b))
	}
	for name, b := range map[string][]byte{
		"pf_success": body("Testy", "900123456", "", "1984", "2025550142"),
		"pf_failure": body("Testy", "900123456", "", "1984", vendortest.PFUnverifiedPhone),
		"pf_error":   body("Testy", "900123456", "", "1984", vendortest.PFErrorPhone),
	} {
		vendortest.WriteCorpusFile(t, dir, name, vendortest.Fetch(t, srv.Client(), pf, h, b))
	}
	vendortest.WriteCorpusFile(t, dir, "truncated", []byte(`{"Status":{"TransactionStatus":"passed"`))
	vendortest.WriteCorpusFile(t, dir, "numeric_ids", []byte(`{"Status":{"TransactionStatus":"failed","ConversationId":31000000000001,"TransactionReasonCode":{"Code":12}},"Products":[{"ProductType":"InstantVerify","ProductStatus":"fail","Items":[{"ItemName":"AddrDeliverable","ItemStatus":"fail"}]}]}`))
}

// FuzzEvaluate: parsing and evaluating any body never panics, and no error
// or message quotes it.
func FuzzEvaluate(f *testing.F) {
	f.Add([]byte(`{"Status":{"TransactionStatus":"passed","ConversationId":"1"}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := lexisnexis.ParseResponse(body)
		if err != nil {
			if len(body) > 8 && strings.Contains(err.Error(), string(body)) {
				t.Fatalf("error quotes the body")
			}
			return
		}
		v := lexisnexis.Evaluate(r)
		if v.Passed != (strings.ToLower(r.Status.TransactionStatus) == "passed") {
			t.Fatalf("passed %v for status %q", v.Passed, r.Status.TransactionStatus)
		}
		if v.Passed == (len(v.Errors) > 0) {
			t.Fatalf("passed %v with errors %v", v.Passed, v.Errors)
		}
		// Messages are fixed texts plus, at most, a plain vendor code.
		for field, msgs := range v.Errors {
			for _, m := range msgs {
				known := false
				for _, p := range []string{"Unverified ", "Verification failed", "Response error with code '", "Invalid status in response body: '"} {
					known = known || strings.HasPrefix(m, p)
				}
				if !known || len(m) > 200 || strings.ContainsAny(m, "\n\r\"<>{}") {
					t.Fatalf("%s message %q", field, m)
				}
			}
		}
		_ = v.String()
	})
}
