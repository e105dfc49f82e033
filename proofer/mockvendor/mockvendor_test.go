package mockvendor

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/proofline/proofline"
	"github.com/proofline/proofline/proofer"
)

func passingApplicant() proofline.Applicant {
	return proofline.Applicant{
		FirstName:           "Jane",
		LastName:            "Doe",
		DOB:                 "1980-01-02",
		SSN:                 "900-12-3456",
		Address1:            "1 Main St",
		City:                "Helena",
		State:               "MT",
		Zipcode:             "59601",
		Phone:               "+1 (202) 555-0100",
		StateIDNumber:       "123456789",
		StateIDJurisdiction: "ND",
		StateIDType:         "drivers_license",
	}
}

type outcome int

const (
	pass outcome = iota
	fail
	exception
	timedOut
)

func check(t *testing.T, vr *proofer.VendorResult, err error, want outcome, wantErrors map[string][]string, vendor, txID string) {
	t.Helper()
	switch want {
	case pass, fail:
		if err != nil {
			t.Fatalf("err = %v, want none", err)
		}
		if vr.Vendor != vendor || vr.TransactionID != txID {
			t.Errorf("vendor, transaction = %q, %q; want %q, %q", vr.Vendor, vr.TransactionID, vendor, txID)
		}
		if want == pass && !vr.Success() {
			t.Errorf("errors = %v, want success", vr.Errors)
		}
		if wantErrors == nil {
			wantErrors = map[string][]string{}
		}
		if !reflect.DeepEqual(vr.Errors, wantErrors) {
			t.Errorf("errors = %v, want %v", vr.Errors, wantErrors)
		}
	case exception, timedOut:
		if vr != nil {
			t.Errorf("result = %+v, want none", vr)
		}
		var ve *proofer.VendorError
		if !errors.As(err, &ve) {
			t.Fatalf("err = %v, want a *proofer.VendorError", err)
		}
		if ve.Vendor != vendor {
			t.Errorf("VendorError.Vendor = %q, want %q", ve.Vendor, vendor)
		}
		if got := errors.Is(err, proofer.ErrVendorTimeout); got != (want == timedOut) {
			t.Errorf("errors.Is(err, ErrVendorTimeout) = %v, want %v", got, want == timedOut)
		}
		if want == exception && ve.Message != MsgFailedToContact {
			t.Errorf("message = %q, want %q", ve.Message, MsgFailedToContact)
		}
	}
}

func TestNames(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ got, want string }{
		{(&Resolution{}).Name(), "ResolutionMock"},
		{(&StateID{}).Name(), "StateIdMock"},
		{(&Address{}).Name(), "AddressMock"},
		{(&Document{}).Name(), "DocAuthMock"},
	} {
		if c.got != c.want {
			t.Errorf("Name() = %q, want %q", c.got, c.want)
		}
	}
}

func TestResolution(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		edit   func(a *proofline.Applicant)
		want   outcome
		errors map[string][]string
	}{
		{"passes", func(*proofline.Applicant) {}, pass, nil},
		{"Bad first name", func(a *proofline.Applicant) { a.FirstName = "Bad" }, fail, map[string][]string{"first_name": {MsgUnverifiedFirstName}}},
		{"bad in any case", func(a *proofline.Applicant) { a.FirstName = "Mr badly" }, fail, map[string][]string{"first_name": {MsgUnverifiedFirstName}}},
		{"Time first name", func(a *proofline.Applicant) { a.FirstName = "Time" }, timedOut, nil},
		{"Fail first name", func(a *proofline.Applicant) { a.FirstName = "Fail" }, exception, nil},
		{"no-contact SSN", func(a *proofline.Applicant) { a.SSN = "000-00-0000" }, exception, nil},
		{"no-contact SSN digits", func(a *proofline.Applicant) { a.SSN = "000000000" }, exception, nil},
		{"SSN 6666", func(a *proofline.Applicant) { a.SSN = "900-66-6666" }, fail, map[string][]string{"ssn": {MsgUnverifiedSSN}}},
		{"SSN 6666 across dashes", func(a *proofline.Applicant) { a.SSN = "900-46-6660" }, fail, map[string][]string{"ssn": {MsgUnverifiedSSN}}},
		{"zip 00000", func(a *proofline.Applicant) { a.Zipcode = "00000" }, fail, map[string][]string{"zipcode": {MsgUnverifiedZipcode}}},
		{"zip 00000-1234", func(a *proofline.Applicant) { a.Zipcode = "00000-1234" }, fail, map[string][]string{"zipcode": {MsgUnverifiedZipcode}}},
		{"zip 10000 passes", func(a *proofline.Applicant) { a.Zipcode = "10000-0000" }, pass, nil},
		{"several together", func(a *proofline.Applicant) {
			a.FirstName, a.SSN, a.Zipcode = "Badger", "666-66-6666", "00000"
		}, fail, map[string][]string{
			"first_name": {MsgUnverifiedFirstName},
			"ssn":        {MsgUnverifiedSSN},
			"zipcode":    {MsgUnverifiedZipcode},
		}},
		{"Fail wins over Bad", func(a *proofline.Applicant) { a.FirstName = "Bad Fail" }, exception, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a := passingApplicant()
			tt.edit(&a)
			vr, err := (&Resolution{}).Resolve(context.Background(), &a)
			check(t, vr, err, tt.want, tt.errors, ResolutionName, ResolutionTransactionID)
		})
	}
}

func TestStateID(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		edit   func(a *proofline.Applicant)
		want   outcome
		errors map[string][]string
	}{
		{"passes", func(*proofline.Applicant) {}, pass, nil},
		{"lower-case jurisdiction and type", func(a *proofline.Applicant) {
			a.StateIDJurisdiction, a.StateIDType = "wy", " State_ID_Card "
		}, pass, nil},
		{"permit", func(a *proofline.Applicant) { a.StateIDType = "drivers_permit" }, pass, nil},
		{"unsupported jurisdiction", func(a *proofline.Applicant) { a.StateIDJurisdiction = "AK" }, fail,
			map[string][]string{"state_id_jurisdiction": {MsgUnverifiedJurisdiction}}},
		{"unknown jurisdiction", func(a *proofline.Applicant) { a.StateIDJurisdiction = "XX" }, fail,
			map[string][]string{"state_id_jurisdiction": {MsgUnverifiedJurisdiction}}},
		{"all-zero number", func(a *proofline.Applicant) { a.StateIDNumber = "00000000" }, fail,
			map[string][]string{"state_id_number": {MsgUnverifiedStateIDNumber}}},
		{"empty number", func(a *proofline.Applicant) { a.StateIDNumber = "" }, fail,
			map[string][]string{"state_id_number": {MsgUnverifiedStateIDNumber}}},
		{"number with zeros passes", func(a *proofline.Applicant) { a.StateIDNumber = "000000001" }, pass, nil},
		// TrueID reads "Identification Card" as identification_card, and
		// AAMVA verifies it: the mock DMV must too, or real TrueID with the
		// mock DMV fails every ID card.
		{"identification card passes", func(a *proofline.Applicant) { a.StateIDType = "identification_card" }, pass, nil},
		{"unknown type", func(a *proofline.Applicant) { a.StateIDType = "passport" }, fail,
			map[string][]string{"state_id_type": {MsgUnverifiedStateIDType}}},
		{"all three", func(a *proofline.Applicant) {
			a.StateIDJurisdiction, a.StateIDNumber, a.StateIDType = "PR", "0", ""
		}, fail, map[string][]string{
			"state_id_jurisdiction": {MsgUnverifiedJurisdiction},
			"state_id_number":       {MsgUnverifiedStateIDNumber},
			"state_id_type":         {MsgUnverifiedStateIDType},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a := passingApplicant()
			tt.edit(&a)
			vr, err := (&StateID{}).VerifyStateID(context.Background(), &a)
			check(t, vr, err, tt.want, tt.errors, StateIDName, StateIDTransactionID)
		})
	}
}

func TestSupportedListsAreCopies(t *testing.T) {
	t.Parallel()
	j := SupportedJurisdictions()
	if len(j) != 44 {
		t.Errorf("%d jurisdictions, want 44", len(j))
	}
	j[0] = "XX"
	if SupportedJurisdictions()[0] != "AL" {
		t.Error("SupportedJurisdictions shares its backing array")
	}
	s := SupportedStateIDTypes()
	s[0] = "x"
	if SupportedStateIDTypes()[0] != "drivers_license" {
		t.Error("SupportedStateIDTypes shares its backing array")
	}
}

func TestAddress(t *testing.T) {
	t.Parallel()
	unverified := map[string][]string{"phone": {MsgUnverifiedPhone}}
	tests := []struct {
		phone  proofline.PII
		want   outcome
		errors map[string][]string
	}{
		{"2025550100", pass, nil},
		{"7035555555", fail, unverified},
		{"(703) 555-5555", fail, unverified},
		{"+1 703-555-5555", fail, unverified},
		{"17035555555", fail, unverified},
		{"7035555999", exception, nil},
		{"+1 (703) 555-5999", exception, nil},
		{"7035555888", timedOut, nil},
		{"703.555.5888", timedOut, nil},
		{"", pass, nil},
	}
	for _, tt := range tests {
		t.Run(tt.phone.Reveal(), func(t *testing.T) {
			t.Parallel()
			a := passingApplicant()
			a.Phone = tt.phone
			vr, err := (&Address{}).VerifyPhone(context.Background(), &a)
			check(t, vr, err, tt.want, tt.errors, AddressName, AddressTransactionID)
		})
	}
}

func TestHangWaitsForDeadline(t *testing.T) {
	t.Parallel()
	for _, v := range []struct {
		name string
		call func(ctx context.Context, a *proofline.Applicant) (*proofer.VendorResult, error)
	}{
		{ResolutionName, (&Resolution{}).Resolve},
		{AddressName, (&Address{}).VerifyPhone},
	} {
		t.Run(v.name, func(t *testing.T) {
			t.Parallel()
			a := passingApplicant()
			a.FirstName = "Hangman"
			ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
			defer cancel()
			vr, err := v.call(ctx, &a)
			if ctx.Err() == nil {
				t.Fatal("returned before the deadline")
			}
			check(t, vr, err, timedOut, nil, v.name, "")
		})
	}
}

// TestHangInAddress: in the web flow the name is the ID's, so the person
// reaches the delivery-fault sandbox through the address they enter.
func TestHangInAddress(t *testing.T) {
	t.Parallel()
	a := passingApplicant()
	a.Address1 = "1 Hang St"
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	vr, err := (&Resolution{}).Resolve(ctx, &a)
	if ctx.Err() == nil {
		t.Fatal("returned before the deadline")
	}
	check(t, vr, err, timedOut, nil, ResolutionName, "")
}

func TestHangIsCaseSensitive(t *testing.T) {
	t.Parallel()
	a := passingApplicant()
	a.FirstName = "Zhang"
	vr, err := (&Resolution{}).Resolve(context.Background(), &a)
	check(t, vr, err, pass, nil, ResolutionName, ResolutionTransactionID)
}

// allCalls makes one call to each mock.
func allCalls(m time.Duration) map[string]func(ctx context.Context) (*proofer.VendorResult, error) {
	a := passingApplicant()
	return map[string]func(ctx context.Context) (*proofer.VendorResult, error){
		ResolutionName: func(ctx context.Context) (*proofer.VendorResult, error) {
			return (&Resolution{Latency: m}).Resolve(ctx, &a)
		},
		StateIDName: func(ctx context.Context) (*proofer.VendorResult, error) {
			return (&StateID{Latency: m}).VerifyStateID(ctx, &a)
		},
		AddressName: func(ctx context.Context) (*proofer.VendorResult, error) {
			return (&Address{Latency: m}).VerifyPhone(ctx, &a)
		},
		DocumentName: func(ctx context.Context) (*proofer.VendorResult, error) {
			return (&Document{Latency: m}).AuthenticateDocument(ctx, &proofer.DocumentImages{Back: []byte("x")})
		},
	}
}

func TestContextDoneTimesOut(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for name, call := range allCalls(0) {
		vr, err := call(ctx)
		check(t, vr, err, timedOut, nil, name, "")
	}
}

func TestLatency(t *testing.T) {
	t.Parallel()
	// A latency longer than the deadline ends at the deadline.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	for name, call := range allCalls(time.Hour) {
		vr, err := call(ctx)
		check(t, vr, err, timedOut, nil, name, "")
	}
	// A short latency is waited out, then the mock answers.
	for name, call := range allCalls(time.Millisecond) {
		vr, err := call(context.Background())
		if err != nil || vr == nil || vr.Vendor != name {
			t.Errorf("%s: %v, %v", name, vr, err)
		}
	}
}

func TestDocument(t *testing.T) {
	t.Parallel()
	jane := &proofline.DocumentPII{
		FirstName: "JANE", MiddleName: "Q", LastName: "DOE", Address1: "1 MAIN ST", City: "HELENA",
		State: "MT", Zipcode: "01234", DOB: "1980-01-02", StateIDNumber: "0123456789",
		StateIDJurisdiction: "ND", StateIDType: "drivers_license",
	}
	janeYAML := `document:
  first_name: JANE
  middle_name: Q
  last_name: DOE
  address1: 1 MAIN ST
  city: HELENA
  state: MT
  zipcode: 01234
  dob: 1980-01-02
  state_id_number: 0123456789
  state_id_jurisdiction: ND
  state_id_type: drivers_license
`
	jpeg := append([]byte{0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, 'J', 'F', 'I', 'F', 0}, bytes.Repeat([]byte{0x80}, 100)...)

	tests := []struct {
		name       string
		back       []byte
		wantResult string
		wantErrors map[string][]string
		wantPII    *proofline.DocumentPII
		wantAlerts []proofline.Alert
	}{
		{"document", []byte(janeYAML), DocResultPassed, nil, jane, nil},
		{"partial document", []byte("document:\n  first_name: ANN\n  dob: ~\n  city: [a, b]\n"), DocResultPassed, nil,
			&proofline.DocumentPII{FirstName: "ANN"}, nil},
		{"friendly_error", []byte("friendly_error: Your ID has expired.\n"), DocResultFailed,
			map[string][]string{"general": {"Your ID has expired."}}, nil, nil},
		{"friendly_error with document", []byte(janeYAML + "friendly_error: Try again.\n"), DocResultFailed,
			map[string][]string{"general": {"Try again."}}, jane, nil},
		{"empty friendly_error", []byte("friendly_error:\n"), DocResultFailed,
			map[string][]string{"general": {MsgDocumentFailed}}, nil, nil},
		{"friendly_error control characters", []byte("friendly_error: \"bad\\r\\nline\"\n"), DocResultFailed,
			map[string][]string{"general": {"badline"}}, nil, nil},
		{"failed_alerts", []byte("failed_alerts:\n  - name: 2D Barcode Read\n    result: Attention\n  - name: Visible Pattern\n    side: front\n  - result: Failed\n  - just a string\n"),
			DocResultFailed, map[string][]string{"general": {MsgDocumentFailed}}, nil,
			[]proofline.Alert{{Name: "2D Barcode Read", Result: "Attention"}, {Name: "Visible Pattern", Result: "Failed", Side: "front"}}},
		{"empty failed_alerts passes", []byte("failed_alerts: []\n"), DocResultPassed, nil, DefaultPII(), nil},
		{"alias", []byte("x: &n JO\ndocument:\n  first_name: *n\n"), DocResultPassed, nil, &proofline.DocumentPII{FirstName: "JO"}, nil},
		{"optional ID facts", []byte("document:\n  first_name: ANN\n  address2: APT 2\n  name_suffix: JR\n  sex: F\n  height: '506'\n  state_id_issued: 2019-05-06\n  state_id_expiration: 2020-01-31\n  issuing_country_code: USA\n"),
			DocResultPassed, nil, &proofline.DocumentPII{FirstName: "ANN", Address2: "APT 2", NameSuffix: "JR", Sex: "F", Height: "506",
				StateIDIssued: "2019-05-06", StateIDExpiration: "2020-01-31", IssuingCountryCode: "USA"}, nil},
		{"not a mapping", []byte("just some text"), DocResultPassed, nil, DefaultPII(), nil},
		{"mapping without keys", []byte("foo: bar\n"), DocResultPassed, nil, DefaultPII(), nil},
		{"document not a mapping", []byte("document: yes\n"), DocResultPassed, nil, DefaultPII(), nil},
		{"invalid YAML", []byte("document: [\n"), DocResultPassed, nil, DefaultPII(), nil},
		{"jpeg", jpeg, DocResultPassed, nil, DefaultPII(), nil},
		{"empty", nil, DocResultPassed, nil, DefaultPII(), nil},
		{"too large", append([]byte("friendly_error: big\n#"), bytes.Repeat([]byte("a"), MaxYAMLBytes)...), DocResultPassed, nil, DefaultPII(), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			vr, err := (&Document{}).AuthenticateDocument(context.Background(), &proofer.DocumentImages{Front: []byte("front"), Back: tt.back})
			if err != nil {
				t.Fatal(err)
			}
			if vr.Vendor != DocumentName || vr.TransactionID != DocumentTransactionID || !vr.Billed {
				t.Errorf("vendor, transaction, billed = %q, %q, %v", vr.Vendor, vr.TransactionID, vr.Billed)
			}
			if vr.DocResult != tt.wantResult {
				t.Errorf("DocResult = %q, want %q", vr.DocResult, tt.wantResult)
			}
			want := tt.wantErrors
			if want == nil {
				want = map[string][]string{}
			}
			if !reflect.DeepEqual(vr.Errors, want) {
				t.Errorf("Errors = %v, want %v", vr.Errors, want)
			}
			if !reflect.DeepEqual(vr.PIIFromDoc, tt.wantPII) {
				t.Errorf("PIIFromDoc = %s, want %s", revealDoc(vr.PIIFromDoc), revealDoc(tt.wantPII))
			}
			if !reflect.DeepEqual(vr.Alerts, tt.wantAlerts) {
				t.Errorf("Alerts = %+v, want %+v", vr.Alerts, tt.wantAlerts)
			}
		})
	}
}

func TestDefaultPII(t *testing.T) {
	t.Parallel()
	p := DefaultPII()
	got := []string{p.FirstName.Reveal(), p.LastName.Reveal(), p.Address1.Reveal(), p.City.Reveal(),
		p.State.Reveal(), p.Zipcode.Reveal(), p.DOB.Reveal(), p.StateIDNumber.Reveal(),
		p.StateIDJurisdiction.Reveal(), p.StateIDType.Reveal()}
	want := []string{"FAKEY", "MCFAKERSON", "1 FAKE RD", "GREAT FALLS", "MT", "59010", "1938-10-06",
		"1111111111111", "ND", "drivers_license"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("DefaultPII = %v, want %v", got, want)
	}
	// Each call is a fresh value.
	p.FirstName = "X"
	if DefaultPII().FirstName != "FAKEY" {
		t.Error("DefaultPII shares its value")
	}
}

func TestClip(t *testing.T) {
	t.Parallel()
	if got := clip("ééé", 3); got != "é" {
		t.Errorf("clip = %q", got)
	}
	if got := clip(" a\tb ", 10); got != "ab" {
		t.Errorf("clip = %q", got)
	}
}

func revealDoc(p *proofline.DocumentPII) string {
	if p == nil {
		return "<nil>"
	}
	return fmt.Sprint([]string{p.FirstName.Reveal(), p.MiddleName.Reveal(), p.LastName.Reveal(), p.Address1.Reveal(),
		p.City.Reveal(), p.State.Reveal(), p.Zipcode.Reveal(), p.DOB.Reveal(), p.StateIDNumber.Reveal(),
		p.StateIDJurisdiction.Reveal(), p.StateIDType.Reveal()})
}

// FuzzMockDocumentYAML feeds arbitrary back images to the sandbox YAML reader
// without the mock's recover, so that a parser panic fails the fuzz, and
// checks the answer built from what it read.
func FuzzMockDocumentYAML(f *testing.F) {
	for _, s := range []string{
		"document:\n  first_name: JANE\n",
		"friendly_error: nope\n",
		"failed_alerts:\n  - name: a\n    result: Failed\n",
		"a: &a [*a, *a]\ndocument: *a\n",
		"\xff\xd8\xff\xe0",
		"",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		sd := parseSandboxDoc(b)
		if sd != nil && len(sd.alerts) > maxAlerts {
			t.Fatalf("%d alerts", len(sd.alerts))
		}
		if sd != nil && len(sd.friendlyError) > maxFriendlyErrorBytes {
			t.Fatalf("friendly error of %d bytes", len(sd.friendlyError))
		}
		vr := documentResult(sd)
		if !vr.Billed || vr.Vendor != DocumentName {
			t.Fatalf("answer = %+v", vr)
		}
		switch vr.DocResult {
		case DocResultPassed:
			if vr.PIIFromDoc == nil || !vr.Success() {
				t.Fatal("a passed document without pii_from_doc or with errors")
			}
		case DocResultFailed:
			if vr.Success() {
				t.Fatal("a failed document without errors")
			}
		default:
			t.Fatalf("result %q", vr.DocResult)
		}
	})
}
