package openapitest

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDocumentIsValidOpenAPI31: docs/openapi.yaml loads, validates as
// OpenAPI 3.1 (examples included), and every operation has an id and
// answers with X-Request-Id, as every proofline response carries it.
func TestDocumentIsValidOpenAPI31(t *testing.T) {
	d := Load(t)
	ops := d.Operations()
	if len(ops) < 9 {
		t.Errorf("%d operations: %v", len(ops), ops)
	}
	for path, item := range d.T.Paths.Map() {
		for method, op := range item.Operations() {
			if op.OperationID == "" || len(op.Tags) == 0 {
				t.Errorf("%s %s: no operationId or tag", method, path)
			}
			for code, r := range op.Responses.Map() {
				if r.Value == nil || r.Value.Headers["X-Request-Id"] == nil {
					t.Errorf("%s %s %s: no X-Request-Id header", method, path, code)
				}
			}
		}
	}
}

// TestBrokenDocumentsAreRefused: Load refuses a document of another
// version, one with a dangling reference, and one whose schema is not
// JSON Schema, so a broken edit fails the tests before any traffic.
func TestBrokenDocumentsAreRefused(t *testing.T) {
	d := Load(t)
	orig, err := os.ReadFile(d.Path)
	if err != nil {
		t.Fatal(err)
	}
	for name, edit := range map[string][2]string{
		"version 3.0":        {"openapi: 3.1.0", "openapi: 3.0.3"},
		"dangling reference": {`$ref: "#/components/schemas/Stage"}`, `$ref: "#/components/schemas/Stages"}`},
		"not a schema":       {"minItems: 1", "minItems: many"},
	} {
		if !strings.Contains(string(orig), edit[0]) {
			t.Fatalf("%s: %q not in the document", name, edit[0])
		}
		p := filepath.Join(t.TempDir(), "openapi.yaml")
		if err := os.WriteFile(p, []byte(strings.Replace(string(orig), edit[0], edit[1], 1)), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := LoadFile(p); err == nil {
			t.Errorf("%s: loaded", name)
		}
	}
}

// TestValidateWebhook: a webhook as proofline sends it validates against
// its entry under webhooks:, and one with a header missing, another
// event's type, a field too many or a status that does not match is
// refused.
func TestValidateWebhook(t *testing.T) {
	d := Load(t)
	if got := strings.Join(d.Webhooks(), ","); got != "proofing_job.completed,verification_session.canceled,"+
		"verification_session.expired,verification_session.failed,verification_session.verified" {
		t.Fatalf("webhooks %s", got)
	}
	h := http.Header{}
	h.Set("webhook-id", "msg_"+strings.Repeat("ab", 16))
	h.Set("webhook-timestamp", "1767225600")
	h.Set("webhook-signature", "v1,"+strings.Repeat("A", 43)+"= v1,"+strings.Repeat("B", 43)+"=")
	h.Set("Content-Type", "application/json")
	const body = `{"type":"verification_session.canceled","timestamp":"2026-01-01T00:00:00.123Z","data":{` +
		`"id":"vs_0123456789abcdef0123456789abcdef","status":"canceled","person_id":"p1","return_url":"https://idp.example/back",` +
		`"steps":["document","phone"],"created_at":"2026-01-01T00:00:00Z","expires_at":"2026-01-01T01:00:00Z","ended_at":"2026-01-01T00:00:00.1Z"}}`
	ctx := context.Background()
	if err := d.ValidateWebhook(ctx, "verification_session.canceled", h, []byte(body)); err != nil {
		t.Fatalf("a canceled webhook: %v", err)
	}
	noSig := h.Clone()
	noSig.Del("webhook-signature")
	for name, c := range map[string]struct {
		event string
		h     http.Header
		body  string
	}{
		"no signature":   {"verification_session.canceled", noSig, body},
		"another event":  {"verification_session.verified", h, body},
		"an extra field": {"verification_session.canceled", h, strings.Replace(body, `"person_id"`, `"token":"x","person_id"`, 1)},
		"results before verified": {"verification_session.canceled", h, strings.Replace(body, `"person_id"`,
			`"results":{"phone":{"result_id":"r","completed_at":"2026-01-01T00:00:00Z","result":{}}},"person_id"`, 1)},
		"unknown webhook": {"verification_session.started", h, body},
	} {
		if err := d.ValidateWebhook(ctx, c.event, c.h, []byte(c.body)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
