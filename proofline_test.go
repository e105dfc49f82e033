package proofline_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/proofline/proofline"
)

const canary = "CANARYzq7"

func canaryApplicant() proofline.Applicant {
	return proofline.Applicant{
		FirstName: canary + "First", LastName: canary + "Last", DOB: "1970-01-01", SSN: "900-" + "12-" + "3456",
		Address1: canary + " Street", City: canary + "City", State: "VA", Zipcode: "22030", Phone: "7035550100",
	}
}

func header(kind proofline.Kind) proofline.Envelope {
	id := proofline.NewResultID()
	return proofline.Envelope{
		Kind: kind, ResultID: id, CallbackURL: "http://127.0.0.1:1" + proofline.CallbackPath(kind, id),
		Deadline: time.Now().Add(time.Minute).Truncate(time.Millisecond), TraceID: "t1", WorkerVersion: "abc",
	}
}

func TestEnvelopeSealsPayloadAndBindsHeader(t *testing.T) {
	t.Parallel()
	p := &proofline.Payload{Resolution: &proofline.ResolutionArgs{Applicant: canaryApplicant()}}
	env, keys, err := proofline.SealEnvelope(header(proofline.KindResolution), p)
	if err != nil {
		t.Fatal(err)
	}
	if len(keys.DataKey) != 32 || len(keys.ClaimToken) != 32 || len(keys.CallbackSecret) != 32 ||
		!bytes.Equal(keys.ClaimToken, env.ClaimToken) || !bytes.Equal(keys.CallbackSecret, p.CallbackSecret) {
		t.Fatal("per-job keys not made as documented")
	}
	wire, err := json.Marshal(env)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(wire, []byte(canary)) || bytes.Contains(wire, []byte("3456")) {
		t.Fatalf("envelope on the wire carries plaintext PII: %s", wire)
	}
	parsed, err := proofline.ParseEnvelope(wire)
	if err != nil {
		t.Fatal(err)
	}
	got, err := parsed.Open(keys.DataKey)
	if err != nil {
		t.Fatal(err)
	}
	if got.Resolution.Applicant.FirstName != canary+"First" || !bytes.Equal(got.CallbackSecret, keys.CallbackSecret) {
		t.Fatal("payload did not round-trip")
	}

	// Every header field is bound: a sealed payload moved under any other
	// header does not open.
	tamper := map[string]func(e *proofline.Envelope){
		"kind":           func(e *proofline.Envelope) { e.Kind = proofline.KindAddress },
		"result_id":      func(e *proofline.Envelope) { e.ResultID = proofline.NewResultID() },
		"callback_url":   func(e *proofline.Envelope) { e.CallbackURL = "http://evil.example/x" },
		"deadline":       func(e *proofline.Envelope) { e.Deadline = e.Deadline.Add(time.Hour) },
		"trace_id":       func(e *proofline.Envelope) { e.TraceID = "other" },
		"span_id":        func(e *proofline.Envelope) { e.SpanID = "0102030405060708" },
		"worker_version": func(e *proofline.Envelope) { e.WorkerVersion = "zzz" },
		"claim_token":    func(e *proofline.Envelope) { e.ClaimToken[0] ^= 1 },
		"sealed":         func(e *proofline.Envelope) { e.Sealed[len(e.Sealed)-1] ^= 1 },
	}
	for name, f := range tamper {
		e, _ := proofline.ParseEnvelope(wire)
		f(e)
		if _, err := e.Open(keys.DataKey); err == nil {
			t.Errorf("envelope with tampered %s opened", name)
		}
	}
	// Another job's data key, or a key ring, cannot open it.
	_, other, _ := proofline.SealEnvelope(header(proofline.KindResolution), &proofline.Payload{Resolution: &proofline.ResolutionArgs{}})
	for _, k := range [][]byte{other.DataKey, keys.ClaimToken, keys.CallbackSecret, nil, make([]byte, 32)} {
		if _, err := parsed.Open(k); err == nil {
			t.Error("envelope opened with a key other than its data key")
		}
	}
}

func TestEnvelopeRejectsMismatchedPayloadAndBadHeaders(t *testing.T) {
	t.Parallel()
	if _, _, err := proofline.SealEnvelope(header(proofline.KindDocument), &proofline.Payload{Address: &proofline.AddressArgs{}}); err == nil {
		t.Error("document envelope accepted an address payload")
	}
	if _, _, err := proofline.SealEnvelope(header(proofline.KindAddress), nil); err == nil {
		t.Error("envelope accepted without a payload")
	}
	h := header(proofline.KindAddress)
	h.ResultID = "../../etc/passwd"
	if _, _, err := proofline.SealEnvelope(h, &proofline.Payload{Address: &proofline.AddressArgs{}}); err == nil {
		t.Error("envelope accepted a malformed result id")
	}
	for _, in := range []string{``, `{}`, `[]`, `{"v":2,"kind":"address"}`, `{"v":1,"kind":"nope"}`, `null`,
		`{"v":1,"kind":"address","result_id":"3db26898-534c-4be2-9592-4ef9e0d3908e","callback_url":"x","deadline":"2030-01-01T00:00:00Z","sealed":"AQJrMQ=="}`,
		`{"v":2,"kind":"address","result_id":"3db26898-534c-4be2-9592-4ef9e0d3908e","callback_url":"x","deadline":"2030-01-01T00:00:00Z","claim_token":"AQ==","sealed":"AQJrMQ=="}`} {
		if _, err := proofline.ParseEnvelope([]byte(in)); err == nil {
			t.Errorf("ParseEnvelope(%q) accepted", in)
		}
	}
}

func TestPIIRedactsItselfEverywhere(t *testing.T) {
	t.Parallel()
	a := canaryApplicant()
	doc := proofline.DocumentPII{FirstName: canary, StateIDNumber: canary}
	p := proofline.Payload{Resolution: &proofline.ResolutionArgs{Applicant: a}, Document: &proofline.DocumentArgs{EncryptionKey: []byte(canary)}}
	values := []any{a, &a, a.FirstName, doc, &doc, p, &p, proofline.Secret(canary), struct{ A proofline.Applicant }{a}}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%d"} {
		for _, v := range values {
			if s := fmt.Sprintf(verb, v); strings.Contains(s, canary) || strings.Contains(s, "3456") {
				t.Errorf("fmt %s of %T leaked: %s", verb, v, s)
			}
		}
	}
	err := fmt.Errorf("wrapping %v and %s", a, a.SSN)
	if strings.Contains(err.Error(), canary) || strings.Contains(err.Error(), "3456") {
		t.Errorf("error text leaked: %s", err)
	}
	var buf bytes.Buffer
	for _, h := range []slog.Handler{slog.NewJSONHandler(&buf, nil), slog.NewTextHandler(&buf, nil)} {
		l := slog.New(h)
		l.Info("x", "applicant", a, "ptr", &a, "name", a.FirstName, "doc", doc, "payload", p, "secret", proofline.Secret(canary), slog.Any("group", []any{a.SSN}))
	}
	if strings.Contains(buf.String(), canary) || strings.Contains(buf.String(), "3456") {
		t.Errorf("slog leaked: %s", buf.String())
	}
	if !strings.Contains(buf.String(), proofline.Redacted) {
		t.Error("slog output lost the redaction marker")
	}
	// A Secret never marshals its value, even by accident.
	b, _ := json.Marshal(struct{ S proofline.Secret }{proofline.Secret(canary)})
	if strings.Contains(string(b), canary) {
		t.Errorf("json of Secret leaked: %s", b)
	}
	// Plain JSON masks PII wherever it sits; only MarshalRevealed writes it.
	for _, v := range []any{a, &p, struct{ R proofline.ResolutionArgs }{*p.Resolution}, []any{a.SSN}, map[string]any{"d": doc}} {
		b, err := json.Marshal(v)
		if err != nil || strings.Contains(string(b), canary) || strings.Contains(string(b), "3456") {
			t.Errorf("json of %T leaked or failed: %s %v", v, b, err)
		}
	}
	if a.FirstName.Reveal() != canary+"First" {
		t.Error("Reveal lost the value")
	}
}

func TestRevealedJSONRoundTrips(t *testing.T) {
	t.Parallel()
	doc := &proofline.DocumentPII{FirstName: canary, MiddleName: "M", LastName: "L", Address1: "A", City: "C", State: "MT",
		Zipcode: "59010", DOB: "1938-10-06", StateIDNumber: "111", StateIDJurisdiction: "ND", StateIDType: "drivers_license"}
	billed := true
	r := &proofline.Result{Success: true, TransactionID: "tx", Billed: &billed, Result: "Passed", PIIFromDoc: doc,
		RawAlerts: []proofline.Alert{{Name: "a", Result: "Passed"}}, Context: proofline.ResultContext{Stages: []proofline.Stage{{Stage: "document", Vendor: "DocAuthMock"}}}}
	r.Normalize()
	b, err := r.MarshalRevealed()
	if err != nil {
		t.Fatal(err)
	}
	var back proofline.Result
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if *back.PIIFromDoc != *doc || back.Result != "Passed" || !*back.Billed || back.Context.Stages[0].Vendor != "DocAuthMock" {
		t.Fatalf("revealed result did not round-trip: %s", b)
	}
	// Same shape as plain JSON, but for the PII values.
	plain, _ := json.Marshal(r)
	var m1, m2 map[string]any
	_ = json.Unmarshal(b, &m1)
	_ = json.Unmarshal(plain, &m2)
	if len(m1) != len(m2) || len(m1["pii_from_doc"].(map[string]any)) != len(m2["pii_from_doc"].(map[string]any)) {
		t.Fatalf("shapes differ:\n%s\n%s", b, plain)
	}
	if strings.Contains(string(plain), canary) {
		t.Fatal("plain JSON of a result leaked pii_from_doc")
	}
	d, _ := doc.MarshalRevealed()
	var dback proofline.DocumentPII
	if json.Unmarshal(d, &dback) != nil || dback != *doc {
		t.Fatalf("document PII did not round-trip: %s", d)
	}
}

func TestApplicantValidation(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	full := func() proofline.Applicant {
		return proofline.Applicant{FirstName: "Ann", LastName: "Lee", DOB: "1980-02-29", SSN: "123456789",
			Address1: "1 Main", City: "Reston", State: "va", Zipcode: "220301234", Phone: "+1 (703) 555-0100"}
	}
	a := full()
	var v proofline.ValidationError
	a.Validate(proofline.ApplicantRules{RequireIdentity: true, RequirePhone: true}, now, "", &v)
	if v.Err() != nil {
		t.Fatalf("valid applicant refused: %v", v.Fields)
	}
	if a.SSN != "123-45-6789" || a.State != "VA" || a.Zipcode != "22030-1234" || a.Phone != "7035550100" {
		t.Errorf("not normalized: ssn %q state %q zip %q phone %q", a.SSN.Reveal(), a.State.Reveal(), a.Zipcode.Reveal(), a.Phone.Reveal())
	}
	cases := []struct {
		field string
		mut   func(*proofline.Applicant)
	}{
		{"first_name", func(a *proofline.Applicant) { a.FirstName = "" }},
		{"dob", func(a *proofline.Applicant) { a.DOB = "02/29/1980" }},
		{"dob", func(a *proofline.Applicant) { a.DOB = "1981-02-29" }},
		{"dob", func(a *proofline.Applicant) { a.DOB = "2030-01-01" }},
		{"ssn", func(a *proofline.Applicant) { a.SSN = "12345678" }},
		{"ssn", func(a *proofline.Applicant) { a.SSN = "123-456-789" }},
		{"state", func(a *proofline.Applicant) { a.State = "Virginia" }},
		{"zipcode", func(a *proofline.Applicant) { a.Zipcode = "2203" }},
		{"zipcode", func(a *proofline.Applicant) { a.Zipcode = "22030-12" }},
		{"phone", func(a *proofline.Applicant) { a.Phone = "555-0100" }},
		{"phone", func(a *proofline.Applicant) { a.Phone = "703555010x" }},
		{"city", func(a *proofline.Applicant) { a.City = "a\nb" }},
	}
	for _, c := range cases {
		a := full()
		c.mut(&a)
		var v proofline.ValidationError
		a.Validate(proofline.ApplicantRules{RequireIdentity: true, RequirePhone: true}, now, "", &v)
		if len(v.Fields) != 1 || v.Fields[0].Field != c.field {
			t.Errorf("%s: got %+v", c.field, v.Fields)
		}
		if strings.Contains(v.Error(), string(a.DOB)) && c.field == "dob" {
			t.Errorf("validation error echoes the value: %s", v.Error())
		}
	}
	// state id fields only when asked
	a = full()
	v = proofline.ValidationError{}
	a.Validate(proofline.ApplicantRules{RequireIdentity: true, RequireStateID: true}, now, "", &v)
	if len(v.Fields) != 3 {
		t.Errorf("want 3 state id fields required, got %+v", v.Fields)
	}
}
func TestErrorsKeepCausePrivate(t *testing.T) {
	t.Parallel()
	err := fmt.Errorf("context: %w", proofline.WrapError(proofline.EUNAVAILABLE, "store unavailable", errors.New("dial tcp 10.0.0.1: secret detail")))
	if proofline.ErrorCode(err) != proofline.EUNAVAILABLE || proofline.ErrorMessage(err) != "store unavailable" {
		t.Errorf("code/message: %q %q", proofline.ErrorCode(err), proofline.ErrorMessage(err))
	}
	if proofline.ErrorMessage(errors.New("boom")) != "internal error" || proofline.ErrorCode(errors.New("boom")) != proofline.EINTERNAL {
		t.Error("uncoded error must render as internal error")
	}
}

func TestResultIDs(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for range 1000 {
		id := proofline.NewResultID()
		if !proofline.ValidResultID(id) || seen[id] {
			t.Fatalf("bad or repeated id %q", id)
		}
		seen[id] = true
	}
	for _, bad := range []string{"", "x", strings.Repeat("a", 36), "3DB26898-534C-4BE2-9592-4EF9E0D3908E", "3db26898-534c-4be2-9592-4ef9e0d3908/", "../3db26898-534c-4be2-9592-4ef9e0d39"} {
		if proofline.ValidResultID(bad) {
			t.Errorf("ValidResultID(%q) = true", bad)
		}
	}
}

func FuzzParseAndOpenEnvelope(f *testing.F) {
	env, keys, err := proofline.SealEnvelope(header(proofline.KindAddress), &proofline.Payload{Address: &proofline.AddressArgs{Applicant: canaryApplicant()}})
	if err != nil {
		f.Fatal(err)
	}
	good, _ := json.Marshal(env)
	f.Add(good)
	f.Add([]byte(`{"v":1,"kind":"address","result_id":"3db26898-534c-4be2-9592-4ef9e0d3908e","callback_url":"x","deadline":"2030-01-01T00:00:00Z","sealed":"AQJrMQ=="}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := proofline.ParseEnvelope(data)
		if err != nil {
			return
		}
		p, err := e.Open(keys.DataKey)
		if err == nil && p == nil {
			t.Fatal("opened to nothing")
		}
	})
}

// fillPII sets every PII field of the struct v points to a distinct value.
func fillPII(v any) {
	rv := reflect.ValueOf(v).Elem()
	for i := range rv.NumField() {
		if f := rv.Field(i); f.Type() == reflect.TypeFor[proofline.PII]() {
			f.SetString(canary + rv.Type().Field(i).Name)
		}
	}
}

// Every PII field, including ones added later, travels in revealed JSON: a
// field missing from the wire form would be silently dropped from sealed
// payloads and results.
func TestRevealedJSONCarriesEveryPIIField(t *testing.T) {
	t.Parallel()
	var doc proofline.DocumentPII
	fillPII(&doc)
	b, err := (&proofline.Result{PIIFromDoc: &doc}).MarshalRevealed()
	if err != nil {
		t.Fatal(err)
	}
	var back proofline.Result
	if err := json.Unmarshal(b, &back); err != nil || back.PIIFromDoc == nil || *back.PIIFromDoc != doc {
		t.Fatalf("document PII lost a field: %s", b)
	}
	for _, kind := range []proofline.Kind{proofline.KindResolution, proofline.KindAddress} {
		var a proofline.Applicant
		fillPII(&a)
		h := proofline.Envelope{Kind: kind, ResultID: proofline.NewResultID(), CallbackURL: "https://idp.example/cb", Deadline: time.Now().Add(time.Minute)}
		p := &proofline.Payload{}
		if kind == proofline.KindResolution {
			p.Resolution = &proofline.ResolutionArgs{Applicant: a}
		} else {
			p.Address = &proofline.AddressArgs{Applicant: a}
		}
		env, keys, err := proofline.SealEnvelope(h, p)
		if err != nil {
			t.Fatal(err)
		}
		got, err := env.Open(keys.DataKey)
		if err != nil {
			t.Fatal(err)
		}
		gotA := got.Address
		if kind == proofline.KindResolution {
			gotA = &proofline.AddressArgs{Applicant: got.Resolution.Applicant}
		}
		if gotA.Applicant != a {
			t.Errorf("%s payload lost an applicant field", kind)
		}
	}
}
