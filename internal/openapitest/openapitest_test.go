package openapitest

import (
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
