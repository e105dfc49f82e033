// Package mockvendor holds the sandbox vendors: they implement the proofer
// vendor interfaces without calling anyone and answer according to magic
// input values, compatible with the original (login.gov) mock proofers so
// that existing sandbox test data keeps working.
//
// Resolution (ResolutionMock):
//   - a first name or address1 containing "Hang" waits until the job's
//     context is done (the job deadline), then times out: the person sees the
//     timeout screen (address1, because in the web flow the name is the ID's
//     and only the address and SSN are the person's to enter);
//   - a first name containing "Fail", or SSN 000-00-0000, is an exception
//     ("Failed to contact proofing vendor");
//   - a first name containing "Time" is a vendor timeout;
//   - a first name containing "Bad" fails first_name ("Unverified first name.");
//   - an SSN containing 6666 fails ssn ("Unverified SSN.");
//   - a ZIP code starting 00000 fails zipcode ("Unverified ZIP code.").
//
// The last three can fail together. "Bad", "Time" and "Fail" match in any
// case, as in the original mock (/Bad/i); "Hang" is case-sensitive so that
// first names such as Zhang or Chang never hang. SSNs, ZIP codes and phone
// numbers are compared on their digits only.
//
// State ID (StateIdMock): a jurisdiction outside SupportedJurisdictions(), an
// all-zero (or empty) state_id_number, or a state_id_type outside
// SupportedStateIDTypes() each fail under their own field name.
//
// Address (AddressMock): phone 7035555555 fails phone, 7035555999 is an
// exception, 7035555888 a vendor timeout (after dropping everything but digits
// and a leading country code 1); a first name containing "Hang" waits for the
// job deadline as above.
//
// Document (DocAuthMock): see Document.
//
// Every mock honours its context: when the context is already done it times
// out without doing anything, and its optional Latency is waited out in a way
// that stops when the context is done.
package mockvendor

import (
	"context"
	"strings"
	"time"

	"github.com/proofline/proofline"
	"github.com/proofline/proofline/proofer"
)

// Vendor names, as the original mocks named themselves.
const (
	ResolutionName = "ResolutionMock"
	StateIDName    = "StateIdMock"
	AddressName    = "AddressMock"
	DocumentName   = "DocAuthMock"
)

// Transaction IDs, the original mocks' fixed values.
const (
	ResolutionTransactionID = "resolution-mock-transaction-id-123"
	StateIDTransactionID    = "state-id-mock-transaction-id-456"
	AddressTransactionID    = "address-mock-transaction-id-123"
	DocumentTransactionID   = "doc-auth-mock-transaction-id-123"
)

// Magic values.
const (
	// HangMarker in a first name makes the resolution and address mocks wait
	// for the job deadline (the delivery-fault sandbox); in address1 it makes
	// the resolution mock wait.
	HangMarker = "Hang"
	// UnverifiedPhone fails the phone field.
	UnverifiedPhone = "7035555555"
	// FailedToContactPhone is a vendor exception.
	FailedToContactPhone = "7035555999"
	// TimeoutPhone is a vendor timeout.
	TimeoutPhone = "7035555888"
	// NoContactSSN is a vendor exception.
	NoContactSSN = "000-00-0000"
	// UnverifiedSSNMarker anywhere in the SSN's digits fails the ssn field.
	UnverifiedSSNMarker = "6666"
	// UnverifiableZipcode as the first five digits fails the zipcode field.
	UnverifiableZipcode = "00000"
)

// Failure messages, as applicant-facing as the original ones.
const (
	MsgUnverifiedFirstName     = "Unverified first name."
	MsgUnverifiedSSN           = "Unverified SSN."
	MsgUnverifiedZipcode       = "Unverified ZIP code."
	MsgUnverifiedPhone         = "The phone number could not be verified."
	MsgUnverifiedJurisdiction  = "The jurisdiction could not be verified."
	MsgUnverifiedStateIDNumber = "The state ID number could not be verified."
	MsgUnverifiedStateIDType   = "The state ID type could not be verified."
	// MsgFailedToContact is the exception message of the exception magic values.
	MsgFailedToContact = "Failed to contact proofing vendor"
)

// supportedJurisdictions are the jurisdictions the state ID mock accepts:
// the AAMVA DLDV (Driver's License Data Verification) participating
// jurisdictions. Anything else fails state_id_jurisdiction, as a real
// AAMVA-style check cannot verify a licence from a state that does not take part.
var supportedJurisdictions = []string{
	"AL", "AR", "AZ", "CO", "CT", "DC", "DE", "FL", "GA", "HI", "IA", "ID", "IL",
	"IN", "KS", "KY", "MA", "MD", "ME", "MI", "MO", "MS", "MT", "NC", "ND", "NE",
	"NJ", "NM", "NV", "OH", "OR", "PA", "RI", "SC", "SD", "TN", "TX", "UT", "VA",
	"VT", "WA", "WI", "WV", "WY",
}

// supportedStateIDTypes are the state ID types the state ID mock accepts.
var supportedStateIDTypes = []string{"drivers_license", "drivers_permit", "state_id_card", "identification_card"}

// SupportedJurisdictions returns (a copy of) the jurisdictions the state ID
// mock accepts: the AAMVA DLDV participating jurisdictions.
func SupportedJurisdictions() []string { return append([]string(nil), supportedJurisdictions...) }

// SupportedStateIDTypes returns (a copy of) the state ID types the state ID
// mock accepts.
func SupportedStateIDTypes() []string { return append([]string(nil), supportedStateIDTypes...) }

// Resolution is the sandbox resolution vendor ("ResolutionMock").
type Resolution struct {
	// Latency is waited before answering (stopping early when the context is
	// done); 0, the default, answers at once. For load tests.
	Latency time.Duration
}

var _ proofer.ResolutionVendor = (*Resolution)(nil)

// Name returns "ResolutionMock".
func (*Resolution) Name() string { return ResolutionName }

// Resolve answers according to the resolution magic values.
func (m *Resolution) Resolve(ctx context.Context, a *proofline.Applicant) (*proofer.VendorResult, error) {
	if err := begin(ctx, ResolutionName, m.Latency); err != nil {
		return nil, err
	}
	if a == nil {
		a = &proofline.Applicant{}
	}
	first := a.FirstName.Reveal()
	if strings.Contains(first, HangMarker) || strings.Contains(a.Address1.Reveal(), HangMarker) {
		return nil, hang(ctx, ResolutionName)
	}
	ssn := digits(a.SSN.Reveal())
	if containsFold(first, "Fail") || ssn == digits(NoContactSSN) {
		return nil, &proofer.VendorError{Vendor: ResolutionName, Message: MsgFailedToContact}
	}
	if containsFold(first, "Time") {
		return nil, timeout(ResolutionName, nil)
	}
	r := newResult(ResolutionName, ResolutionTransactionID)
	if containsFold(first, "Bad") {
		r.Errors["first_name"] = []string{MsgUnverifiedFirstName}
	}
	if strings.Contains(ssn, UnverifiedSSNMarker) {
		r.Errors["ssn"] = []string{MsgUnverifiedSSN}
	}
	if zip := digits(a.Zipcode.Reveal()); len(zip) >= 5 && zip[:5] == UnverifiableZipcode {
		r.Errors["zipcode"] = []string{MsgUnverifiedZipcode}
	}
	return r, nil
}

// StateID is the sandbox state ID vendor ("StateIdMock").
type StateID struct {
	// Latency is waited before answering; see Resolution.Latency.
	Latency time.Duration
}

var _ proofer.StateIDVendor = (*StateID)(nil)

// Name returns "StateIdMock".
func (*StateID) Name() string { return StateIDName }

// VerifyStateID fails each of state_id_jurisdiction, state_id_number and
// state_id_type that is unsupported. Jurisdiction and type are compared
// without regard to case or surrounding space. An empty number counts as all
// zeros, as in the original mock (/\A0*\z/).
func (m *StateID) VerifyStateID(ctx context.Context, a *proofline.Applicant) (*proofer.VendorResult, error) {
	if err := begin(ctx, StateIDName, m.Latency); err != nil {
		return nil, err
	}
	if a == nil {
		a = &proofline.Applicant{}
	}
	r := newResult(StateIDName, StateIDTransactionID)
	if !oneOf(strings.ToUpper(strings.TrimSpace(a.StateIDJurisdiction.Reveal())), supportedJurisdictions) {
		r.Errors["state_id_jurisdiction"] = []string{MsgUnverifiedJurisdiction}
	}
	if strings.Trim(strings.TrimSpace(a.StateIDNumber.Reveal()), "0") == "" {
		r.Errors["state_id_number"] = []string{MsgUnverifiedStateIDNumber}
	}
	if !oneOf(strings.ToLower(strings.TrimSpace(a.StateIDType.Reveal())), supportedStateIDTypes) {
		r.Errors["state_id_type"] = []string{MsgUnverifiedStateIDType}
	}
	return r, nil
}

// Address is the sandbox phone-ownership vendor ("AddressMock").
type Address struct {
	// Latency is waited before answering; see Resolution.Latency.
	Latency time.Duration
}

var _ proofer.AddressVendor = (*Address)(nil)

// Name returns "AddressMock".
func (*Address) Name() string { return AddressName }

// VerifyPhone answers according to the address magic values.
func (m *Address) VerifyPhone(ctx context.Context, a *proofline.Applicant) (*proofer.VendorResult, error) {
	if err := begin(ctx, AddressName, m.Latency); err != nil {
		return nil, err
	}
	if a == nil {
		a = &proofline.Applicant{}
	}
	if strings.Contains(a.FirstName.Reveal(), HangMarker) {
		return nil, hang(ctx, AddressName)
	}
	// As the original: digits only, then drop a leading country code 1.
	phone := strings.TrimPrefix(digits(a.Phone.Reveal()), "1")
	switch phone {
	case FailedToContactPhone:
		return nil, &proofer.VendorError{Vendor: AddressName, Message: MsgFailedToContact}
	case TimeoutPhone:
		return nil, timeout(AddressName, nil)
	}
	r := newResult(AddressName, AddressTransactionID)
	if phone == UnverifiedPhone {
		r.Errors["phone"] = []string{MsgUnverifiedPhone}
	}
	return r, nil
}

func newResult(vendor, txID string) *proofer.VendorResult {
	return &proofer.VendorResult{Vendor: vendor, TransactionID: txID, Errors: map[string][]string{}}
}

// begin is every mock call's prologue: time out at once when ctx is done,
// else wait out the latency unless ctx ends first.
func begin(ctx context.Context, vendor string, latency time.Duration) error {
	if err := ctx.Err(); err != nil {
		return timeout(vendor, err)
	}
	if latency <= 0 {
		return nil
	}
	t := time.NewTimer(latency)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return timeout(vendor, ctx.Err())
	case <-t.C:
		return nil
	}
}

// hang waits until ctx is done (the job deadline), then times out.
func hang(ctx context.Context, vendor string) error {
	<-ctx.Done()
	return timeout(vendor, ctx.Err())
}

func timeout(vendor string, cause error) error {
	return &proofer.VendorError{Vendor: vendor, Message: "mock vendor timed out", Timeout: true, Cause: cause}
}

func digits(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return r
		}
		return -1
	}, s)
}

func containsFold(s, sub string) bool {
	return strings.Contains(strings.ToLower(s), strings.ToLower(sub))
}

func oneOf(s string, list []string) bool {
	for _, v := range list {
		if s == v {
			return true
		}
	}
	return false
}
