package proofing

import (
	"testing"

	"github.com/proofline/proofline"
)

// FuzzDecodeCallbackBody: any body either decodes to a normalized result of
// the right kind or is refused with EINVALID; nothing panics.
func FuzzDecodeCallbackBody(f *testing.F) {
	f.Add([]byte(`{"address_result":{"success":true,"errors":{},"messages":[],"exception":null,"timed_out":false,"transaction_id":"t","context":{"stages":[]}}}`), 2)
	f.Add([]byte(`{"document_result":{"success":false,"pii_from_doc":{"first_name":"A"},"billed":true,"raw_alerts":[{"name":"x","result":"Failed"}]}}`), 0)
	f.Add([]byte(`{"resolution_result":{"success":true,"errors":{"ssn":["Unverified SSN."]}}}`), 1)
	f.Add([]byte(`{"address_result":null}`), 2)
	f.Add([]byte(`[]`), 0)
	f.Fuzz(func(t *testing.T, body []byte, k int) {
		kind := proofline.Kinds[(k%3+3)%3]
		r, err := decodeCallbackBody(kind, body)
		if err != nil {
			if proofline.ErrorCode(err) != proofline.EINVALID {
				t.Fatalf("refusal with code %s", proofline.ErrorCode(err))
			}
			return
		}
		if r.Errors == nil || r.Messages == nil || r.Context.Stages == nil {
			t.Fatal("accepted result not normalized")
		}
		if kind != proofline.KindDocument && r.PIIFromDoc != nil {
			t.Fatal("pii_from_doc accepted on a non-document result")
		}
	})
}
