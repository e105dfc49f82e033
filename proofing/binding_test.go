package proofing_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/proofline/proofline"
	"github.com/proofline/proofline/proofing"
	"github.com/proofline/proofline/tenant"
)

// The document binds the identity (ARCHITECTURE invariant 8): a resolution
// bound to a document proofs the document's names, date of birth and
// state-ID fields, never what the request puts in their place.

// idDoc is what a document vendor read off a Virginia driver's license
// (valid until 2035; the harness clock is in May 2031).
func idDoc() *proofline.DocumentPII {
	return &proofline.DocumentPII{
		FirstName: "Jane", MiddleName: "Quinn", LastName: "Doe", DOB: "1980-02-03",
		StateIDNumber: "D1234567", StateIDJurisdiction: "VA", StateIDType: "drivers_license",
		Address1: "1 Main St", Address2: "Apt 2", City: "Richmond", State: "VA", Zipcode: "23220",
		NameSuffix: "JR", Sex: "F", Height: "65", StateIDIssued: "2025-01-01", StateIDExpiration: "2035-01-01",
	}
}

// resolution starts a resolution bound to doc (the web flow's sealed
// document) with applicant a and returns what the worker is sent.
func (h *harness) resolution(ctx context.Context, r proofing.ResolutionRequest) (*proofline.ResolutionArgs, error) {
	h.t.Helper()
	if r.Applicant.SSN == "" {
		r.Applicant.SSN = "900-12-3456"
	}
	st, err := h.svc.StartResolution(ctx, r)
	if err != nil {
		return nil, err
	}
	return h.payload(st.ResultID).Resolution, nil
}

// documentResult stores a document result (through a document job and its
// callback) and returns its id.
func (h *harness) documentResult(ctx context.Context, success bool, pii *proofline.DocumentPII) string {
	h.t.Helper()
	c := capture(h.t, h, ctx)
	st, err := h.svc.StartDocument(ctx, docRequest(c))
	if err != nil {
		h.t.Fatal(err)
	}
	res := map[string]any{"success": success}
	if pii != nil {
		res["pii_from_doc"] = json.RawMessage(mustRevealed(h.t, pii))
	}
	body, _ := json.Marshal(map[string]any{"document_result": res})
	if err := h.send(h.result(st.ResultID, string(body))); err != nil {
		h.t.Fatal(err)
	}
	return st.ResultID
}

func mustRevealed(t *testing.T, d *proofline.DocumentPII) []byte {
	t.Helper()
	b, err := json.Marshal(map[string]string{
		"first_name": string(d.FirstName), "middle_name": string(d.MiddleName), "last_name": string(d.LastName),
		"dob": string(d.DOB), "state_id_number": string(d.StateIDNumber), "state_id_jurisdiction": string(d.StateIDJurisdiction),
		"state_id_type": string(d.StateIDType), "address1": string(d.Address1), "address2": string(d.Address2),
		"city": string(d.City), "state": string(d.State), "zipcode": string(d.Zipcode), "name_suffix": string(d.NameSuffix),
		"sex": string(d.Sex), "height": string(d.Height), "state_id_issued": string(d.StateIDIssued),
		"state_id_expiration": string(d.StateIDExpiration),
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// With no residential address the person lives at the ID's; every bound
// field is the document's, whatever case or spacing the request gave the
// same value in; the state-ID stage runs.
func TestBindingProofsTheDocument(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	args, err := h.resolution(context.Background(), proofing.ResolutionRequest{
		Document:  idDoc(),
		Applicant: proofline.Applicant{FirstName: "  jane ", LastName: "DOE"},
	})
	if err != nil {
		t.Fatal(err)
	}
	a := args.Applicant
	want := proofline.Applicant{
		FirstName: "Jane", MiddleName: "Quinn", LastName: "Doe", DOB: "1980-02-03", SSN: "900-12-3456",
		Address1: "1 Main St", Address2: "Apt 2", City: "Richmond", State: "VA", Zipcode: "23220",
		StateIDNumber: "D1234567", StateIDJurisdiction: "VA", StateIDType: "drivers_license",
		NameSuffix: "JR", Sex: "F", Height: "65", StateIDIssued: "2025-01-01", StateIDExpiration: "2035-01-01",
		IdentityDocAddress1: "1 Main St", IdentityDocAddress2: "Apt 2", IdentityDocCity: "Richmond",
		IdentityDocAddressState: "VA", IdentityDocZipcode: "23220",
	}
	if a != want {
		got, _ := a.MarshalRevealed()
		exp, _ := want.MarshalRevealed()
		t.Errorf("proofed applicant\n%s\nwant\n%s", got, exp)
	}
	if !args.ShouldProofStateID {
		t.Error("state-ID stage not run after a document")
	}
}

// A residential address given is proofed as given; the ID's address still
// goes to the state-ID check. Part of an address is not completed from the
// ID's.
func TestBindingKeepsResidentialAddress(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	home := proofline.Applicant{Address1: "9 Elm Rd", City: "Arlington", State: "VA", Zipcode: "22201"}
	args, err := h.resolution(context.Background(), proofing.ResolutionRequest{Document: idDoc(), Applicant: home})
	if err != nil {
		t.Fatal(err)
	}
	a := args.Applicant
	if a.Address1 != "9 Elm Rd" || a.Address2 != "" || a.City != "Arlington" || a.Zipcode != "22201" || a.IdentityDocAddress1 != "1 Main St" || a.IdentityDocCity != "Richmond" {
		t.Errorf("addresses: residential %s, %s; on the ID %s, %s", a.Address1, a.City, a.IdentityDocAddress1, a.IdentityDocCity)
	}
	for field, part := range map[string]proofline.Applicant{
		"address1": {Address2: "Unit 5"}, "city": {Zipcode: "22201"}, "zipcode": {State: "VA"},
		"state": {City: "Arlington"},
	} {
		_, err := h.resolution(context.Background(), proofing.ResolutionRequest{Document: idDoc(), Applicant: part})
		if got := fieldErrors(t, err)[field]; got != "is required" {
			t.Errorf("address part %s given: %s error %q, want is required", part.Address2+part.City+part.Zipcode+part.State, field, got)
		}
	}
}

// Each bound field the request gives differently from the document is
// refused by name, and nothing starts.
func TestBindingRefusesOtherValues(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	set := map[string]func(a *proofline.Applicant){
		"first_name":                 func(a *proofline.Applicant) { a.FirstName = "John" },
		"middle_name":                func(a *proofline.Applicant) { a.MiddleName = "Q" },
		"last_name":                  func(a *proofline.Applicant) { a.LastName = "Roe" },
		"dob":                        func(a *proofline.Applicant) { a.DOB = "1980-02-04" },
		"state_id_number":            func(a *proofline.Applicant) { a.StateIDNumber = "D7654321" },
		"state_id_jurisdiction":      func(a *proofline.Applicant) { a.StateIDJurisdiction = "MD" },
		"state_id_type":              func(a *proofline.Applicant) { a.StateIDType = "passport" },
		"name_suffix":                func(a *proofline.Applicant) { a.NameSuffix = "SR" },
		"sex":                        func(a *proofline.Applicant) { a.Sex = "M" },
		"height":                     func(a *proofline.Applicant) { a.Height = "70" },
		"state_id_issued":            func(a *proofline.Applicant) { a.StateIDIssued = "2024-01-01" },
		"state_id_expiration":        func(a *proofline.Applicant) { a.StateIDExpiration = "2036-01-01" },
		"identity_doc_address1":      func(a *proofline.Applicant) { a.IdentityDocAddress1 = "2 Main St" },
		"identity_doc_address2":      func(a *proofline.Applicant) { a.IdentityDocAddress2 = "Apt 3" },
		"identity_doc_city":          func(a *proofline.Applicant) { a.IdentityDocCity = "Norfolk" },
		"identity_doc_address_state": func(a *proofline.Applicant) { a.IdentityDocAddressState = "MD" },
		"identity_doc_zipcode":       func(a *proofline.Applicant) { a.IdentityDocZipcode = "23221" },
	}
	for field, mod := range set {
		var a proofline.Applicant
		mod(&a)
		_, err := h.resolution(context.Background(), proofing.ResolutionRequest{Document: idDoc(), Applicant: a})
		if got := fieldErrors(t, err); got[field] != proofing.MsgDoesNotMatch || len(got) != 1 {
			t.Errorf("%s differs: %v, want only %s: %s", field, got, field, proofing.MsgDoesNotMatch)
		}
	}
	if s := h.svc.Stats()[proofline.KindResolution]; s.Started != 0 {
		t.Errorf("started %d", s.Started)
	}
}

// A document that lacks a bound field, or an ID that expired before today,
// binds nothing; an ID that expires today still binds.
func TestBindingNeedsACompleteUnexpiredID(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	for name, c := range map[string]struct {
		mod func(d *proofline.DocumentPII)
		msg string
	}{
		"no last name":      {func(d *proofline.DocumentPII) { d.LastName = " " }, "does not carry the name, date of birth and state-ID fields"},
		"future dob":        {func(d *proofline.DocumentPII) { d.DOB = "2032-01-01" }, "does not carry the name, date of birth and state-ID fields"},
		"expired yesterday": {func(d *proofline.DocumentPII) { d.StateIDExpiration = "2031-05-05" }, "is an expired ID"},
	} {
		d := idDoc()
		c.mod(d)
		_, err := h.resolution(context.Background(), proofing.ResolutionRequest{Document: d})
		if got := fieldErrors(t, err); got[proofing.FieldDocument] != c.msg {
			t.Errorf("%s: %v, want document: %s", name, got, c.msg)
		}
	}
	d := idDoc()
	d.StateIDExpiration = "2031-05-06"
	if _, err := h.resolution(context.Background(), proofing.ResolutionRequest{Document: d}); err != nil {
		t.Errorf("an ID expiring today: %v", err)
	}
}

// With StateIDJurisdictions the state-ID stage runs after a document only
// for those jurisdictions (listed in any case and spacing); otherwise it
// runs as the request asked.
func TestBindingStateIDJurisdictions(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(_ *harness, o *proofing.Options) { o.StateIDJurisdictions = []string{" md", "va "} })
	d := idDoc()
	d.StateIDJurisdiction = "va"
	args, err := h.resolution(context.Background(), proofing.ResolutionRequest{Document: d})
	if err != nil || !args.ShouldProofStateID {
		t.Fatalf("supported jurisdiction: %+v %v", args, err)
	}
	d = idDoc()
	d.StateIDJurisdiction = "TX"
	args, err = h.resolution(context.Background(), proofing.ResolutionRequest{Document: d})
	if err != nil || args.ShouldProofStateID {
		t.Fatalf("unsupported jurisdiction: state-ID stage %v, %v", args.ShouldProofStateID, err)
	}
	args, err = h.resolution(context.Background(), proofing.ResolutionRequest{Document: d, ShouldProofStateID: true})
	if err != nil || !args.ShouldProofStateID {
		t.Fatalf("unsupported jurisdiction, asked for: state-ID stage %v, %v", args.ShouldProofStateID, err)
	}
}

// A document_result_id binds only a done, successful document result of
// the caller's tenant, once: each other case is named without the value.
func TestBindingDocumentResultID(t *testing.T) {
	t.Parallel()
	h, _ := docHarness(t)
	a := tenant.With(context.Background(), "idp-a")
	b := tenant.With(context.Background(), "idp-b")
	ok := h.documentResult(a, true, idDoc())
	failed := h.documentResult(a, false, idDoc())
	noPII := h.documentResult(a, true, nil)
	pending, err := h.svc.StartDocument(a, docRequest(capture(t, h, a)))
	if err != nil {
		t.Fatal(err)
	}
	address := h.startAddress(a, proofing.Attempt{})
	bind := func(ctx context.Context, id string) error {
		_, err := h.resolution(ctx, proofing.ResolutionRequest{DocumentResultID: id})
		return err
	}
	for name, c := range map[string]struct {
		ctx context.Context
		id  string
		msg string
	}{
		"unknown":        {a, proofline.NewResultID(), "is not a stored document result (unknown, deleted, already used or expired)"},
		"another tenant": {b, ok, "is not a stored document result (unknown, deleted, already used or expired)"},
		"address job":    {a, address.ResultID, "is not a document result"},
		"pending":        {a, pending.ResultID, "is not done"},
		"failed":         {a, failed, "is not a successful document result"},
		"no pii":         {a, noPII, "does not carry the name, date of birth and state-ID fields"},
	} {
		if got := fieldErrors(t, bind(c.ctx, c.id)); got[proofing.FieldDocumentResultID] != c.msg {
			t.Errorf("%s: %v, want document_result_id: %s", name, got, c.msg)
		}
	}
	// A resolution refused for its own fields leaves the document unused.
	_, err = h.resolution(a, proofing.ResolutionRequest{DocumentResultID: ok, Applicant: proofline.Applicant{FirstName: "John"}})
	if got := fieldErrors(t, err); got["first_name"] != proofing.MsgDoesNotMatch {
		t.Fatalf("mismatched first name: %v", got)
	}
	// The stored document wins over a document the caller passes.
	other := idDoc()
	other.FirstName = "Janet"
	args, err := h.resolution(a, proofing.ResolutionRequest{DocumentResultID: ok, Document: other})
	if err != nil || args.Applicant.FirstName != "Jane" {
		t.Fatalf("bound to the stored document: %v", err)
	}
	if len(h.logs.Lines(t, "document result bound")) != 1 {
		t.Errorf("no log line for the binding: %s", h.logs)
	}
	// Bound once: the result is gone.
	if got := fieldErrors(t, bind(a, ok)); got[proofing.FieldDocumentResultID] != "is not a stored document result (unknown, deleted, already used or expired)" {
		t.Errorf("second use: %v", got)
	}
	_, err = h.svc.Outcome(a, ok)
	wantCode(t, err, proofline.ENOTFOUND)
}

// A store that cannot read or delete the bound document refuses the start
// as unavailable; a document another start consumed meanwhile is named as
// no longer stored.
func TestBindingDocumentResultIDStoreFailures(t *testing.T) {
	t.Parallel()
	h, _ := docHarness(t)
	id := h.documentResult(context.Background(), true, idDoc())
	start := func() error {
		_, err := h.svc.StartResolution(context.Background(), proofing.ResolutionRequest{DocumentResultID: id, Applicant: proofline.Applicant{SSN: "900-12-3456"}})
		return err
	}
	h.drv.setFail("get", errDown)
	wantCode(t, start(), proofline.EUNAVAILABLE)
	h.drv.setFail("get", nil)
	h.drv.setFail("delete", errDown)
	wantCode(t, start(), proofline.EUNAVAILABLE)
	h.drv.setFail("delete", nil)
	h.drv.mu.Lock()
	h.drv.missing = true
	h.drv.mu.Unlock()
	if got := fieldErrors(t, start()); got[proofing.FieldDocumentResultID] != "is not a stored document result (unknown, deleted, already used or expired)" {
		t.Errorf("consumed meanwhile: %v", got)
	}
	if s := h.svc.Stats()[proofline.KindResolution]; s.Started != 0 {
		t.Errorf("started %d", s.Started)
	}
}

// A successful document result that carries no pii_from_doc binds nothing:
// the start is refused on document_result_id, not run on the identity the
// request asserts (and the document is not used up).
func TestBindingDocumentResultWithoutPIIRefused(t *testing.T) {
	t.Parallel()
	h, _ := docHarness(t)
	id := h.documentResult(context.Background(), true, nil)
	_, err := h.resolution(context.Background(), proofing.ResolutionRequest{DocumentResultID: id, Applicant: proofline.Applicant{
		FirstName: "Mallory", LastName: "Roe", DOB: "1970-01-01", Address1: "1 Main St", City: "Richmond", State: "VA", Zipcode: "23220",
	}})
	if got := fieldErrors(t, err); got[proofing.FieldDocumentResultID] != "does not carry the name, date of birth and state-ID fields" || len(got) != 1 {
		t.Fatalf("a document result without PII: %v, want only document_result_id refused", got)
	}
	if o, err := h.svc.Outcome(context.Background(), id); err != nil || o.Status != proofline.StatusDone {
		t.Errorf("the refused binding used the document result up: %+v %v", o, err)
	}
}
