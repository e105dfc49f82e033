package proofline_test

import (
	"strings"
	"testing"
	"time"

	"github.com/proofline/proofline"
)

// An SSN is 9 digits, bare or dashed exactly as 3-2-4: a separator other
// than a dash, a dash out of place, or anything but a digit is refused.
func TestNormalizeSSN(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"123456789": "123456789", "123-45-6789": "123456789", " 123-45-6789 ": "123456789",
		"000000000": "000000000", "999-99-9999": "999999999",
	} {
		if got, ok := proofline.NormalizeSSN(in); !ok || got != want {
			t.Errorf("NormalizeSSN(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
	for _, in := range []string{
		"", "12345678", "1234567890",
		"123 45-6789", "123.45-6789", "123-45 6789", "123-45.6789", // only dashes separate
		"1234-5-6789", "12-345-6789", "123-456-789", // dashes out of place
		"12345678a", "a23456789", "12345678/", "12345678:", // '/' and ':' sit either side of the digits
		"123-45-678a", "12a-45-6789", "123-4a-6789",
	} {
		if got, ok := proofline.NormalizeSSN(in); ok {
			t.Errorf("NormalizeSSN(%q) accepted as %q", in, got)
		}
	}
}

// A zipcode is 5 digits, 9 digits, or 5+4 with a dash; the canonical form
// has the dash.
func TestNormalizeZipcode(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"22030": "22030", " 22030 ": "22030", "220301234": "22030-1234", "22030-1234": "22030-1234",
		"00000": "00000", "99999-9999": "99999-9999",
	} {
		if got, ok := proofline.NormalizeZipcode(in); !ok || got != want {
			t.Errorf("NormalizeZipcode(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
	for _, in := range []string{
		"", "2203", "220301", "2203012345", "22030-12", "22030-12345", "22030 1234", "2203-01234",
		"2203a", "22030123a", "2203a-1234", "22030-123a", "a2030-1234", "-----",
	} {
		if got, ok := proofline.NormalizeZipcode(in); ok {
			t.Errorf("NormalizeZipcode(%q) accepted as %q", in, got)
		}
	}
}

// A phone number is 10 US digits once punctuation and a leading 1 (or +1)
// are removed.
func TestNormalizePhone(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{"(909) 555-0199": "9095550199", "+1 800 000 0000": "8000000000"} { // every digit, 0 to 9
		if got, ok := proofline.NormalizePhone(in); !ok || got != want {
			t.Errorf("NormalizePhone(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
	for _, in := range []string{"7035550100", "703-555-0100", "(703) 555.0100", "+1 703 555 0100", "1-703-555-0100", "17035550100"} {
		if got, ok := proofline.NormalizePhone(in); !ok || got != "7035550100" {
			t.Errorf("NormalizePhone(%q) = %q, %v", in, got, ok)
		}
	}
	for _, in := range []string{"", "555-0100", "27035550100", "+44 20 7946 0958", "703555010x", "703/555/0100", "703:555:0100", "1 1 703 555 0100"} {
		if got, ok := proofline.NormalizePhone(in); ok {
			t.Errorf("NormalizePhone(%q) accepted as %q", in, got)
		}
	}
}

// A date of birth is a real calendar date from 1900-01-01 up to and
// including today.
func TestValidDOB(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 15, 12, 0, 0, 0, time.UTC)
	for in, want := range map[string]bool{
		"1900-01-01": true, "1899-12-31": false,
		"2026-03-15": true, "2026-03-16": false, // born today, born tomorrow
		"2000-02-29": true, "1900-02-29": false, // 1900 was not a leap year
		"1980-2-29": false, "1980-02-29T00:00:00Z": false, "19800229": false, "": false,
	} {
		if got := proofline.ValidDOB(in, now); got != want {
			t.Errorf("ValidDOB(%q) = %v, want %v", in, got, want)
		}
	}
}

// The state codes at both ends of the alphabet are accepted (and
// upper-cased); anything but two letters is refused, for the residential
// state and the state ID's jurisdiction alike.
func TestApplicantStateCodes(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	rules := proofline.ApplicantRules{RequireIdentity: true, RequireStateID: true}
	validate := func(state string) (proofline.Applicant, []proofline.FieldError) {
		a := proofline.Applicant{FirstName: "Ann", LastName: "Lee", DOB: "1980-02-29", SSN: "123456789",
			Address1: "1 Main", City: "Phoenix", State: proofline.PII(state), Zipcode: "85001",
			StateIDNumber: "D1234567", StateIDJurisdiction: proofline.PII(state), StateIDType: "drivers_license"}
		var v proofline.ValidationError
		a.Validate(rules, now, "applicant.", &v)
		return a, v.Fields
	}
	for in, want := range map[string]string{"AZ": "AZ", "az": "AZ", "AK": "AK", "WY": "WY", "Za": "ZA", " ny ": "NY"} {
		a, errs := validate(in)
		if len(errs) != 0 || string(a.State) != want || string(a.StateIDJurisdiction) != want {
			t.Errorf("state %q: got %q/%q, errors %+v", in, a.State.Reveal(), a.StateIDJurisdiction.Reveal(), errs)
		}
	}
	for _, in := range []string{"V", "VAA", "V1", "1A", "@A", "A[", "[Z", "Z@", "V-"} { // '@' and '[' sit either side of A-Z
		_, errs := validate(in)
		if len(errs) != 2 || errs[0].Field != "applicant.state" || errs[1].Field != "applicant.state_id_jurisdiction" {
			t.Errorf("state %q: got errors %+v", in, errs)
		}
	}
}

// Any applicant field holds at most 256 bytes; a longer one is refused
// (before it reaches a vendor), and so is one with a NUL or a line break.
func TestApplicantFieldLengthLimit(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	validate := func(address1 string) []proofline.FieldError {
		a := proofline.Applicant{FirstName: "Ann", LastName: "Lee", DOB: "1980-02-29", SSN: "123456789",
			Address1: proofline.PII(address1), City: "Reston", State: "VA", Zipcode: "22030"}
		var v proofline.ValidationError
		a.Validate(proofline.ApplicantRules{RequireIdentity: true}, now, "", &v)
		return v.Fields
	}
	if errs := validate(strings.Repeat("a", 256)); len(errs) != 0 {
		t.Errorf("a 256-byte field was refused: %+v", errs)
	}
	for _, bad := range []string{strings.Repeat("a", 257), "1 Main\x00", "1 Main\rSt", "1 Main\nSt"} {
		if errs := validate(bad); len(errs) != 1 || errs[0].Field != "address1" {
			t.Errorf("address1 of %d bytes: got errors %+v", len(bad), errs)
		}
	}
}
