package proofline

import (
	"strings"
	"time"
)

// Normalization and validation of applicant input. Messages name what is
// wrong, never the value.

// NormalizeSSN returns the 9 digits of an SSN given with or without dashes,
// or false.
func NormalizeSSN(s string) (string, bool) {
	s = strings.TrimSpace(s)
	switch len(s) {
	case 9:
		return s, allDigits(s)
	case 11:
		if s[3] != '-' || s[6] != '-' {
			return "", false
		}
		d := s[0:3] + s[4:6] + s[7:11]
		return d, allDigits(d)
	}
	return "", false
}

// NormalizePhone returns the 10 digits of a US phone number after removing
// spaces, dashes, dots, parentheses and a leading +1 or 1, or false.
func NormalizePhone(s string) (string, bool) {
	var b strings.Builder
	for _, c := range strings.TrimSpace(s) {
		switch {
		case c >= '0' && c <= '9':
			b.WriteRune(c)
		case c == ' ' || c == '-' || c == '.' || c == '(' || c == ')' || c == '+':
		default:
			return "", false
		}
	}
	d := b.String()
	if len(d) == 11 && d[0] == '1' {
		d = d[1:]
	}
	return d, len(d) == 10
}

// NormalizeZipcode accepts 5 digits, 9 digits, or 5+4 with a dash, and returns
// the canonical form (12345 or 12345-6789).
func NormalizeZipcode(s string) (string, bool) {
	s = strings.TrimSpace(s)
	switch {
	case len(s) == 5 && allDigits(s):
		return s, true
	case len(s) == 9 && allDigits(s):
		return s[:5] + "-" + s[5:], true
	case len(s) == 10 && s[5] == '-' && allDigits(s[:5]) && allDigits(s[6:]):
		return s, true
	}
	return "", false
}

// ValidDOB reports whether s is a real calendar date YYYY-MM-DD, not in the
// future relative to now and not before 1900.
func ValidDOB(s string, now time.Time) bool {
	if len(s) != 10 {
		return false
	}
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return false
	}
	return t.Year() >= 1900 && !t.After(now)
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func validState(s string) bool {
	if len(s) != 2 {
		return false
	}
	for i := 0; i < 2; i++ {
		if s[i] < 'A' || s[i] > 'Z' {
			return false
		}
	}
	return true
}

// maxFieldLen bounds any single applicant field.
const maxFieldLen = 256

// ApplicantRules says which applicant fields a job kind requires.
type ApplicantRules struct {
	RequireIdentity bool // names, dob, ssn, address
	RequireStateID  bool // state_id_number, state_id_jurisdiction, state_id_type
	RequirePhone    bool
}

// Validate normalizes a (trimming, upper-casing states, canonical SSN, phone
// and zipcode) and records every bad field under prefix+field name.
func (a *Applicant) Validate(rules ApplicantRules, now time.Time, prefix string, v *ValidationError) {
	trim := func(p *PII) { *p = PII(strings.TrimSpace(string(*p))) }
	for _, p := range []*PII{&a.FirstName, &a.MiddleName, &a.LastName, &a.DOB, &a.SSN, &a.Address1, &a.Address2, &a.City, &a.State, &a.Zipcode, &a.Phone, &a.StateIDNumber, &a.StateIDJurisdiction, &a.StateIDType} {
		trim(p)
	}
	fields := []struct {
		name     string
		p        *PII
		required bool
	}{
		{"first_name", &a.FirstName, rules.RequireIdentity},
		{"middle_name", &a.MiddleName, false},
		{"last_name", &a.LastName, rules.RequireIdentity},
		{"dob", &a.DOB, rules.RequireIdentity},
		{"ssn", &a.SSN, rules.RequireIdentity},
		{"address1", &a.Address1, rules.RequireIdentity},
		{"address2", &a.Address2, false},
		{"city", &a.City, rules.RequireIdentity},
		{"state", &a.State, rules.RequireIdentity},
		{"zipcode", &a.Zipcode, rules.RequireIdentity},
		{"phone", &a.Phone, rules.RequirePhone},
		{"state_id_number", &a.StateIDNumber, rules.RequireStateID},
		{"state_id_jurisdiction", &a.StateIDJurisdiction, rules.RequireStateID},
		{"state_id_type", &a.StateIDType, rules.RequireStateID},
	}
	for _, f := range fields {
		name := prefix + f.name
		s := string(*f.p)
		if s == "" {
			if f.required {
				v.Add(name, "is required")
			}
			continue
		}
		if len(s) > maxFieldLen || strings.ContainsAny(s, "\x00\r\n") {
			v.Add(name, "is too long or has control characters")
			continue
		}
		switch f.name {
		case "dob":
			if !ValidDOB(s, now) {
				v.Add(name, "must be a past date in the form YYYY-MM-DD")
			}
		case "ssn":
			if d, ok := NormalizeSSN(s); ok {
				*f.p = PII(d[:3] + "-" + d[3:5] + "-" + d[5:])
			} else {
				v.Add(name, "must be 9 digits, with or without dashes")
			}
		case "state", "state_id_jurisdiction":
			up := strings.ToUpper(s)
			if validState(up) {
				*f.p = PII(up)
			} else {
				v.Add(name, "must be a two-letter state code")
			}
		case "zipcode":
			if z, ok := NormalizeZipcode(s); ok {
				*f.p = PII(z)
			} else {
				v.Add(name, "must be 5 or 9 digits")
			}
		case "phone":
			if p, ok := NormalizePhone(s); ok {
				*f.p = PII(p)
			} else {
				v.Add(name, "must be a 10-digit phone number")
			}
		}
	}
}
