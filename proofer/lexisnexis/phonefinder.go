package lexisnexis

import (
	"context"
	"strings"
	"time"

	"github.com/proofline/proofline"
	"github.com/proofline/proofline/proofer"
	"github.com/proofline/proofline/proofer/vendorhttp"
)

// MsgUnverifiedPhone is the phone failure message (the mock's).
const MsgUnverifiedPhone = "The phone number could not be verified."

// PhoneFinder is the address (phone ownership) vendor "lexisnexis:phone_finder", RDP v2.
type PhoneFinder struct{ c *client }

// CallBudget is the configured PhoneFinder timeout (proofer.Budgeted).
func (pf *PhoneFinder) CallBudget() time.Duration { return pf.c.cfg.Timeout }

var _ proofer.AddressVendor = (*PhoneFinder)(nil)

// NewPhoneFinder builds the adapter; cfg.Workflow defaults to
// DefaultPhoneFinderWorkflow.
func NewPhoneFinder(cfg Config, hc *vendorhttp.Client) (*PhoneFinder, error) {
	if cfg.Workflow == "" {
		cfg.Workflow = DefaultPhoneFinderWorkflow
	}
	c, err := newClient(cfg, hc, PhoneFinderName, "lexis_nexis_phone_finder")
	if err != nil {
		return nil, err
	}
	return &PhoneFinder{c: c}, nil
}

// Name returns "lexisnexis:phone_finder".
func (*PhoneFinder) Name() string { return PhoneFinderName }

type phone struct {
	Number string `json:"Number"`
}

type pfRequest struct {
	Settings settings `json:"Settings"`
	Person   struct {
		Name        personName  `json:"Name"`
		SSN         ssn         `json:"SSN"`
		DateOfBirth dateOfBirth `json:"DateOfBirth"`
		Phones      []phone     `json:"Phones"`
	} `json:"Person"`
}

// RequestBody is the RDP v2 PhoneFinder body for a. The phone is sent as its
// ten digits (a leading country code 1 dropped).
func (pf *PhoneFinder) RequestBody(a *proofline.Applicant) []byte {
	var r pfRequest
	r.Settings = pf.c.settings()
	r.Person.Name = personName{FirstName: a.FirstName.Reveal(), LastName: a.LastName.Reveal()}
	r.Person.SSN = ssn{Number: digits(a.SSN.Reveal()), Type: "ssn9"}
	r.Person.DateOfBirth = dobParts(a.DOB.Reveal())
	p := digits(a.Phone.Reveal())
	if len(p) == 11 && strings.HasPrefix(p, "1") {
		p = p[1:]
	}
	r.Person.Phones = []phone{{Number: p}}
	return marshal(&r)
}

// VerifyPhone checks that the phone belongs to the applicant: passed is
// success; failed fails phone and names BaseField ("Verification failed
// with code: '<code>'", as Evaluate does for items without a mapping, which
// PhoneFinder's all are); error fails BaseField ("Response error with code
// '<code>'"); any other status fails BaseField as invalid.
func (pf *PhoneFinder) VerifyPhone(ctx context.Context, a *proofline.Applicant) (*proofer.VendorResult, error) {
	if a == nil {
		a = &proofline.Applicant{}
	}
	resp, err := pf.c.post(ctx, pf.RequestBody(a))
	if err != nil {
		return nil, err
	}
	v := Evaluate(resp)
	out := &proofer.VendorResult{Vendor: PhoneFinderName, TransactionID: v.TransactionID, Errors: map[string][]string{}}
	switch {
	case v.Passed:
	case strings.EqualFold(v.Status, "failed"):
		// PhoneFinder's items have no applicant field: the failure is
		// the phone's, and base names the vendor's code as well.
		out.Errors["phone"] = []string{MsgUnverifiedPhone}
		if b := v.Errors[BaseField]; len(b) > 0 {
			out.Errors[BaseField] = b
		}
	default:
		out.Errors = v.Errors
	}
	return out, nil
}
