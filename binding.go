package proofline

import (
	"strings"
	"time"
)

// The document binds the identity (ARCHITECTURE invariant 8): after a
// document job, the names, date of birth and state-ID fields that are proofed
// are the document's. A document result can bind an identity only when it
// carries them, and only while the ID has not expired.

// IdentityFields are the pii_from_doc fields a document must carry to bind
// an identity, each with the words a person reads for it.
var IdentityFields = []struct{ Field, Words string }{
	{"first_name", "first name"},
	{"last_name", "last name"},
	{"dob", "date of birth"},
	{"state_id_number", "ID number"},
	{"state_id_jurisdiction", "issuing state"},
	{"state_id_type", "ID type"},
}

// MissingIdentity returns the IdentityFields d lacks, in order: empty, dob
// not a real past date (YYYY-MM-DD) as of now, or state_id_jurisdiction not a
// two-letter code. A nil d lacks them all.
func (d *DocumentPII) MissingIdentity(now time.Time) []string {
	var out []string
	for _, f := range IdentityFields {
		if d == nil {
			out = append(out, f.Field)
			continue
		}
		v := map[string]PII{
			"first_name": d.FirstName, "last_name": d.LastName, "dob": d.DOB, "state_id_number": d.StateIDNumber,
			"state_id_jurisdiction": d.StateIDJurisdiction, "state_id_type": d.StateIDType,
		}[f.Field]
		switch tv := trimmed(v); {
		case tv == "",
			f.Field == "dob" && !ValidDOB(tv, now),
			f.Field == "state_id_jurisdiction" && !validState(strings.ToUpper(tv)):
			out = append(out, f.Field)
		}
	}
	return out
}

// ExpiredBefore reports whether the ID expired before the day of now (in
// UTC): its state_id_expiration, a YYYY-MM-DD date, is earlier. An ID that
// expires today is still valid; an absent or unreadable expiration date is
// not taken as expired.
func (d *DocumentPII) ExpiredBefore(now time.Time) bool {
	if d == nil {
		return false
	}
	exp, err := time.Parse(time.DateOnly, trimmed(d.StateIDExpiration))
	if err != nil {
		return false
	}
	y, m, day := now.UTC().Date()
	return exp.Before(time.Date(y, m, day, 0, 0, 0, 0, time.UTC))
}

func trimmed(p PII) string { return strings.TrimSpace(string(p)) }
