package app_test

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/proofline/proofline"
	"github.com/proofline/proofline/config"
	"github.com/proofline/proofline/seal"
)

// susanDoc is the sandbox back image of an ID: the mock document vendor
// reads this person off it.
const susanDoc = "document:\n  first_name: Susan\n  middle_name: Q\n  last_name: Smith\n  address1: 1 Main St\n  city: Great Falls\n  state: MT\n  zipcode: '59010'\n  dob: '1985-03-04'\n  state_id_number: '123456789'\n  state_id_jurisdiction: MT\n  state_id_type: drivers_license\n"

// startConfigured is start with the config changed by mut.
func startConfigured(t *testing.T, o opts, mut func(*config.Config)) *env {
	t.Helper()
	cfg := config.Defaults()
	cfg.LogLevel = "debug"
	cfg.DataDir = t.TempDir()
	if o.timeout > 0 {
		cfg.AsyncWaitTimeoutSeconds = o.timeout
	}
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
	if mut != nil {
		mut(&cfg)
	}
	return serve(t, cfg, nil)
}

// document proofs an ID whose back image is back and returns the result id
// of the done document result (not deleted).
func (e *env) document(back string) string {
	e.t.Helper()
	req, _ := e.capture([]byte("front image bytes"), []byte(back))
	id := e.start("document", req)
	if out := e.waitOutcome(id, 10*time.Second); out["status"] != "done" {
		e.t.Fatalf("document: %v", out)
	}
	return id
}

// bound is a resolution request bound to the document result doc that names
// only what the person gives: the SSN (the address is the ID's when omitted).
func bound(doc string, muts ...func(map[string]any)) map[string]any {
	a := map[string]any{"ssn": "123-45-6789"}
	for _, m := range muts {
		m(a)
	}
	return map[string]any{"document_result_id": doc, "applicant": a}
}

// fieldError is the message of the 400 validation error on field, or "".
func fieldError(r resp, field string) string {
	errs, _ := r.body["errors"].([]any)
	for _, e := range errs {
		if m, _ := e.(map[string]any); m["field"] == field {
			s, _ := m["message"].(string)
			return s
		}
	}
	return ""
}

// TestResolutionBoundToDocument: with document_result_id the names, date of
// birth and state-ID fields proofed are the document's. Another person's
// values are refused field by field (and do not use the document up); the
// person may give another address; the DMV stage runs; the document binds one
// resolution only.
func TestResolutionBoundToDocument(t *testing.T) {
	stores(t, func(t *testing.T, o opts) {
		e := start(t, o)
		doc := e.document(susanDoc)

		// Attack: the ID says Susan Smith; the request proofs Jane Doe.
		other := applicant()
		delete(other, "phone")
		r := e.do("POST", "/api/v1/proofing/resolution", map[string]any{"document_result_id": doc, "applicant": other})
		if r.status != 400 {
			if r.status == 202 {
				res := e.waitOutcome(r.body["result_id"].(string), 10*time.Second)
				t.Fatalf("another person's identity was proofed against Susan's ID: %d, outcome %v", r.status, res)
			}
			t.Fatalf("another person: %d %s", r.status, r.raw)
		}
		for _, f := range []string{"first_name", "last_name", "dob", "state_id_number", "state_id_jurisdiction"} {
			if got := fieldError(r, f); got != "does not match the document" {
				t.Errorf("another person: %s error %q (%s)", f, got, r.raw)
			}
		}
		// Each bound field alone.
		for field, v := range map[string]string{
			"first_name": "Jane", "middle_name": "X", "last_name": "Doe", "dob": "1970-01-01",
			"state_id_number": "D1234567", "state_id_jurisdiction": "VA", "state_id_type": "state_id_card",
		} {
			r := e.do("POST", "/api/v1/proofing/resolution", bound(doc, set(field, v)))
			if r.status != 400 || fieldError(r, field) != "does not match the document" {
				t.Errorf("%s differing from the document: %d %s", field, r.status, r.raw)
			}
		}

		// The same values (in any case) are accepted; omitted ones come from
		// the document; the person's residential address is their own.
		res := e.proof("resolution", bound(doc, set("first_name", "SUSAN"), set("dob", "1985-03-04"),
			set("address1", "9 Elm St"), set("city", "Reston"), set("state", "VA"), set("zipcode", "20190")))
		if res["success"] != true || strings.Join(stageNames(res), ",") != "resolution,state_id" {
			t.Fatalf("bound resolution: %v", res)
		}

		// Used up: the document binds one resolution only.
		r = e.do("POST", "/api/v1/proofing/resolution", bound(doc))
		if r.status != 400 || fieldError(r, "document_result_id") == "" {
			t.Fatalf("second resolution on one document: %d %s", r.status, r.raw)
		}
		// And the document result is gone for its owner too.
		if r := e.do("GET", "/api/v1/proofing/"+doc, nil); r.status != 404 {
			t.Errorf("consumed document result still readable: %d", r.status)
		}
	})
}

// TestResolutionBoundToDocumentStages: the DMV stage runs after a document
// whenever its jurisdiction is one the state-ID vendor supports, in the
// original order (dob_year_only: state ID first), and not otherwise; the
// residential address is the one resolution sees.
func TestResolutionBoundToDocumentStages(t *testing.T) {
	stores(t, func(t *testing.T, o opts) {
		e := start(t, o)
		cases := []struct {
			name     string
			doc      string
			req      func(map[string]any)
			yearOnly bool
			success  bool
			stages   string
			field    string
		}{
			{name: "supported jurisdiction", doc: susanDoc, success: true, stages: "resolution,state_id"},
			{name: "dob_year_only", doc: susanDoc, yearOnly: true, success: true, stages: "state_id,resolution"},
			{name: "the DMV fails the ID number", doc: strings.Replace(susanDoc, "'123456789'", "'000000000'", 1), stages: "resolution,state_id", field: "state_id_number"},
			{name: "unsupported jurisdiction", doc: strings.Replace(susanDoc, "jurisdiction: MT", "jurisdiction: GU", 1), success: true, stages: "resolution"},
			{name: "residential address to resolution", doc: susanDoc, req: func(a map[string]any) {
				a["address1"], a["city"], a["state"], a["zipcode"] = "9 Elm St", "Reston", "VA", "00000"
			}, stages: "resolution", field: "zipcode"},
		}
		for _, c := range cases {
			body := bound(e.document(c.doc))
			if c.req != nil {
				c.req(body["applicant"].(map[string]any))
			}
			body["dob_year_only"] = c.yearOnly
			res := e.proof("resolution", body)
			if res["success"] != c.success || strings.Join(stageNames(res), ",") != c.stages {
				t.Errorf("%s: success %v stages %v, want %v %s (%v)", c.name, res["success"], stageNames(res), c.success, c.stages, res)
			}
			if c.field != "" && errorsOf(res)[c.field] == nil {
				t.Errorf("%s: errors %v lack %s", c.name, res["errors"], c.field)
			}
		}
	})
}

// TestDocumentResultIDMustBeUsable: the document result must exist, be a
// document, be done and successful, and not deleted or expired; anything else
// is 400 on document_result_id. Concurrent starts on one document: exactly
// one binds it.
func TestDocumentResultIDMustBeUsable(t *testing.T) {
	stores(t, func(t *testing.T, o opts) {
		e := start(t, o)
		refused := func(name, id string) {
			t.Helper()
			r := e.do("POST", "/api/v1/proofing/resolution", bound(id))
			if r.status != 400 || fieldError(r, "document_result_id") == "" {
				t.Errorf("%s: %d %s", name, r.status, r.raw)
			}
		}
		refused("unknown", proofline.NewResultID())
		refused("malformed", "../not-an-id")
		refused("failed document", e.document("friendly_error: The image was too blurry.\n"))
		refused("document without a date of birth", e.document(strings.Replace(susanDoc, "  dob: '1985-03-04'\n", "", 1)))
		res := e.start("resolution", map[string]any{"applicant": applicant()})
		e.waitOutcome(res, 10*time.Second)
		refused("a resolution result", res)
		deleted := e.document(susanDoc)
		if r := e.do("DELETE", "/api/v1/proofing/"+deleted, nil); r.status != 204 {
			t.Fatalf("delete: %d", r.status)
		}
		refused("deleted", deleted)

		doc := e.document(susanDoc)
		const n = 8
		var wg sync.WaitGroup
		codes := make([]int, n)
		for i := range n {
			wg.Go(func() {
				codes[i] = e.do("POST", "/api/v1/proofing/resolution", bound(doc)).status
			})
		}
		wg.Wait()
		accepted := 0
		for _, c := range codes {
			switch c {
			case 202:
				accepted++
			case 400:
			default:
				t.Errorf("concurrent bind answered %d", c)
			}
		}
		if accepted != 1 {
			t.Errorf("%d of %d concurrent resolutions bound one document (%v), want exactly 1", accepted, n, codes)
		}
	})
}

// TestDocumentResultIDPendingOrExpired: a document still pending, or whose
// done record has expired, binds nothing.
func TestDocumentResultIDPendingOrExpired(t *testing.T) {
	stores(t, func(t *testing.T, o opts) {
		t.Run("pending", func(t *testing.T) {
			e := startConfigured(t, o, func(c *config.Config) { c.MockVendorLatencyMs = 3000 })
			req, _ := e.capture([]byte("front"), []byte(susanDoc))
			id := e.start("document", req)
			r := e.do("POST", "/api/v1/proofing/resolution", bound(id))
			if r.status != 400 || fieldError(r, "document_result_id") == "" {
				t.Errorf("pending document: %d %s", r.status, r.raw)
			}
		})
		t.Run("expired", func(t *testing.T) {
			o.timeout = 2 // a done record lives one timeout
			e := start(t, o)
			id := e.document(susanDoc)
			end := time.Now().Add(15 * time.Second)
			for e.do("GET", "/api/v1/proofing/"+id, nil).status != 404 {
				if time.Now().After(end) {
					t.Fatal("the done document record never expired")
				}
				time.Sleep(50 * time.Millisecond)
			}
			r := e.do("POST", "/api/v1/proofing/resolution", bound(id))
			if r.status != 400 || fieldError(r, "document_result_id") == "" {
				t.Errorf("expired document: %d %s", r.status, r.raw)
			}
		})
	})
}
