package lexisnexis

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/proofline/proofline"
	"github.com/proofline/proofline/proofer"
	"github.com/proofline/proofline/proofer/vendorhttp"
)

// InstantVerify is the resolution vendor "lexisnexis:instant_verify".
type InstantVerify struct{ c *client }

// CallBudget is the configured InstantVerify timeout (proofer.Budgeted).
func (iv *InstantVerify) CallBudget() time.Duration { return iv.c.cfg.Timeout }

var _ proofer.ResolutionVendor = (*InstantVerify)(nil)

// NewInstantVerify builds the adapter; cfg.Workflow defaults to
// DefaultInstantVerifyWorkflow.
func NewInstantVerify(cfg Config, hc *vendorhttp.Client) (*InstantVerify, error) {
	if cfg.Workflow == "" {
		cfg.Workflow = DefaultInstantVerifyWorkflow
	}
	c, err := newClient(cfg, hc, InstantVerifyName, "lexis_nexis_instant_verify")
	if err != nil {
		return nil, err
	}
	return &InstantVerify{c: c}, nil
}

// Name returns "lexisnexis:instant_verify".
func (*InstantVerify) Name() string { return InstantVerifyName }

type personName struct {
	FirstName string `json:"FirstName"`
	LastName  string `json:"LastName"`
}

type ssn struct {
	Number string `json:"Number"`
	Type   string `json:"Type"`
}

type dateOfBirth struct {
	Year  string `json:"Year"`
	Month string `json:"Month"`
	Day   string `json:"Day"`
}

type address struct {
	StreetAddress1 string `json:"StreetAddress1"`
	StreetAddress2 string `json:"StreetAddress2"`
	City           string `json:"City"`
	State          string `json:"State"`
	Zip5           string `json:"Zip5"`
	Country        string `json:"Country"`
	Context        string `json:"Context"`
}

type ivRequest struct {
	Settings settings `json:"Settings"`
	Person   struct {
		Name        personName  `json:"Name"`
		SSN         ssn         `json:"SSN"`
		DateOfBirth dateOfBirth `json:"DateOfBirth"`
		Addresses   []address   `json:"Addresses"`
	} `json:"Person"`
}

// RequestBody is the RDP v2 InstantVerify body for a: names, SSN as "ssn9"
// digits, date parts as unpadded strings, the first five digits of the ZIP
// code as Zip5.
func (iv *InstantVerify) RequestBody(a *proofline.Applicant) []byte {
	var r ivRequest
	r.Settings = iv.c.settings()
	r.Person.Name = personName{FirstName: a.FirstName.Reveal(), LastName: a.LastName.Reveal()}
	r.Person.SSN = ssn{Number: digits(a.SSN.Reveal()), Type: "ssn9"}
	r.Person.DateOfBirth = dobParts(a.DOB.Reveal())
	r.Person.Addresses = []address{{
		StreetAddress1: a.Address1.Reveal(),
		StreetAddress2: a.Address2.Reveal(),
		City:           a.City.Reveal(),
		State:          a.State.Reveal(),
		Zip5:           zip5(a.Zipcode.Reveal()),
		Country:        "US",
		Context:        "primary",
	}}
	return marshal(&r)
}

// Resolve checks name, SSN, date of birth and address.
func (iv *InstantVerify) Resolve(ctx context.Context, a *proofline.Applicant) (*proofer.VendorResult, error) {
	if a == nil {
		a = &proofline.Applicant{}
	}
	resp, err := iv.c.post(ctx, iv.RequestBody(a))
	if err != nil {
		return nil, err
	}
	v := Evaluate(resp)
	out := &proofer.VendorResult{Vendor: InstantVerifyName, TransactionID: v.TransactionID, Errors: map[string][]string{}}
	if !v.Passed {
		out.Errors = v.Errors
		if v.CoverableByStateID() {
			out.AdditionalVerification = append([]string(nil), v.FailedAttributes...)
		}
	}
	return out, nil
}

// dobParts splits a date of birth (YYYY-MM-DD, YYYYMMDD or MM/DD/YYYY) into
// unpadded year, month and day strings; an unreadable date gives empty parts.
func dobParts(s string) dateOfBirth {
	s = strings.TrimSpace(s)
	for _, layout := range []string{"2006-01-02", "20060102", "01/02/2006"} {
		if t, err := time.Parse(layout, s); err == nil {
			return dateOfBirth{Year: strconv.Itoa(t.Year()), Month: strconv.Itoa(int(t.Month())), Day: strconv.Itoa(t.Day())}
		}
	}
	return dateOfBirth{}
}

func digits(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return r
		}
		return -1
	}, s)
}

func zip5(s string) string {
	d := digits(s)
	if len(d) > 5 {
		d = d[:5]
	}
	return d
}
