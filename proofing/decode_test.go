package proofing

import (
	"testing"

	"github.com/proofline/proofline"
)

// The callback body is decoded strictly, in one pass: exactly the kind's
// one key, the result shape and nothing else, success present.
func TestDecodeCallbackBodyIsStrict(t *testing.T) {
	t.Parallel()
	ok := map[string]proofline.Kind{
		`{"address_result":{"success":true}}`: proofline.KindAddress,
		`{"address_result":{"success":false,"errors":{"phone":["Unverified phone."]},"messages":[],"exception":null,"timed_out":false,"transaction_id":"t","context":{"stages":[{"stage":"address","vendor":"AddressMock","transaction_id":"t","success":false}]}}}`: proofline.KindAddress,
		`{"document_result":{"success":true,"billed":true,"result":"Passed","raw_alerts":[{"name":"x","result":"Passed"}],"pii_from_doc":{"first_name":"A"}}}`:                                                                                                       proofline.KindDocument,
	}
	for body, kind := range ok {
		r, err := decodeCallbackBody(kind, []byte(body))
		if err != nil {
			t.Errorf("%s: %v", body, err)
			continue
		}
		if r.Errors == nil || r.Messages == nil || r.Context.Stages == nil {
			t.Errorf("%s: not normalized", body)
		}
	}
	if r, _ := decodeCallbackBody(proofline.KindAddress, []byte(`{"address_result":{"success":true}}`)); r == nil || !r.Success {
		t.Error("success true not kept")
	}
	if r, _ := decodeCallbackBody(proofline.KindDocument, []byte(`{"document_result":{"success":true,"result":"Passed"}}`)); r == nil || r.Result != "Passed" {
		t.Error("the result's own \"result\" field not kept")
	}
	bad := []string{
		`{"address_result":{}}`,                                 // success missing
		`{"address_result":{"success":"yes"}}`,                  // wrong type
		`{"address_result":{"success":true,"bogus":1}}`,         // unknown field in the result
		`{"address_result":{"success":true,"context":{"x":1}}}`, // unknown field deeper
		`{"address_result":{"success":true},"other":1}`,         // unknown outer key
		`{"resolution_result":{"success":true}}`,                // another kind's key
		`{"address_result":{"success":true},"resolution_result":{"success":true}}`,
		`{"address_result":{"success":true,"pii_from_doc":{"first_name":"A"}}}`, // document PII on another kind
		`{"address_result":{"success":true}} {}`,                                // trailing data
		`{"address_result":null}`, `[]`, `null`, ``,
	}
	for _, body := range bad {
		if _, err := decodeCallbackBody(proofline.KindAddress, []byte(body)); proofline.ErrorCode(err) != proofline.EINVALID {
			t.Errorf("%s: %v, want EINVALID", body, err)
		}
	}
}
