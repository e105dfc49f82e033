package proofline_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/proofline/proofline"
)

// A result always has the same JSON shape: Normalize turns missing errors,
// messages and stages into empty ones and keeps whatever is already there.
func TestResultNormalizeKeepsContent(t *testing.T) {
	t.Parallel()
	var empty proofline.Result
	empty.Normalize()
	b, _ := json.Marshal(&empty)
	for _, want := range []string{`"errors":{}`, `"messages":[]`, `"stages":[]`, `"exception":null`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("normalized empty result lacks %s: %s", want, b)
		}
	}

	r := proofline.Result{Messages: []string{"vendor note"}, Context: proofline.ResultContext{Stages: []proofline.Stage{{Stage: "resolution", Vendor: "ResolutionMock"}}}}
	r.AddError("ssn", "Unverified SSN")
	r.AddError("ssn", "SSN deceased")
	r.AddError("dob", "Unverified DOB")
	r.Normalize()
	if !slices.Equal(r.Errors["ssn"], []string{"Unverified SSN", "SSN deceased"}) || len(r.Errors["dob"]) != 1 || len(r.Errors) != 2 {
		t.Errorf("errors lost or merged: %v", r.Errors)
	}
	if !slices.Equal(r.Messages, []string{"vendor note"}) || len(r.Context.Stages) != 1 || r.Context.Stages[0].Vendor != "ResolutionMock" {
		t.Errorf("normalize dropped content: %+v", r)
	}
}

// An exception fails the result, whatever it said before.
func TestResultSetException(t *testing.T) {
	t.Parallel()
	r := proofline.Result{Success: true}
	r.SetException("vendor unreachable")
	if r.Success || r.Exception == nil || *r.Exception != "vendor unreachable" {
		t.Errorf("after SetException: success %v exception %v", r.Success, r.Exception)
	}
}

// Job kinds are exactly the three wire names; the callback body's field is
// "<kind>_result".
func TestParseKind(t *testing.T) {
	t.Parallel()
	for _, k := range proofline.Kinds {
		got, err := proofline.ParseKind(string(k))
		if err != nil || got != k {
			t.Errorf("ParseKind(%q) = %q, %v", k, got, err)
		}
	}
	for _, s := range []string{"", "Document", "documents", "address ", "state_id", "../document"} {
		if k, err := proofline.ParseKind(s); proofline.ErrorCode(err) != proofline.EINVALID || k != "" {
			t.Errorf("ParseKind(%q) = %q, %v", s, k, err)
		}
	}
	if got := proofline.KindResolution.ResultField(); got != "resolution_result" {
		t.Errorf("ResultField = %q", got)
	}
}

// PII reports whether it holds a value; a Secret reveals exactly its bytes
// and nothing else prints them.
func TestPIIIsZeroAndSecretReveal(t *testing.T) {
	t.Parallel()
	if !proofline.PII("").IsZero() || proofline.PII(" ").IsZero() || proofline.PII("x").IsZero() {
		t.Error("IsZero wrong")
	}
	s := proofline.Secret(canary)
	if string(s.Reveal()) != canary || s.String() != proofline.Redacted || s.GoString() != proofline.Redacted {
		t.Errorf("secret: reveal %q string %q gostring %q", s.Reveal(), s.String(), s.GoString())
	}
	if p := proofline.PII(canary); p.String() != proofline.Redacted || p.GoString() != proofline.Redacted {
		t.Error("PII String/GoString leaked")
	}
	a := canaryApplicant()
	d := proofline.DocumentPII{FirstName: canary}
	for _, s := range []string{a.GoString(), d.GoString()} {
		if strings.Contains(s, canary) || !strings.Contains(s, proofline.Redacted) {
			t.Errorf("GoString leaked: %s", s)
		}
	}
}
