package proofline_test

import (
	"slices"
	"testing"
	"time"

	"github.com/proofline/proofline"
)

func TestDocumentIdentityRules(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 1, 23, 30, 0, 0, time.UTC)
	full := func() *proofline.DocumentPII {
		return &proofline.DocumentPII{FirstName: "ANN", LastName: "LEE", DOB: "1980-01-02", StateIDNumber: "X1",
			StateIDJurisdiction: "va", StateIDType: "drivers_license"}
	}
	for _, c := range []struct {
		name string
		mut  func(*proofline.DocumentPII)
		want []string
	}{
		{"complete", func(*proofline.DocumentPII) {}, nil},
		{"blank names", func(d *proofline.DocumentPII) { d.FirstName, d.LastName = " ", "" }, []string{"first_name", "last_name"}},
		{"dob not a date", func(d *proofline.DocumentPII) { d.DOB = "02/01/1980" }, []string{"dob"}},
		{"dob tomorrow", func(d *proofline.DocumentPII) { d.DOB = "2026-12-02" }, []string{"dob"}},
		{"jurisdiction a name", func(d *proofline.DocumentPII) { d.StateIDJurisdiction = "Virginia" }, []string{"state_id_jurisdiction"}},
		{"no number or type", func(d *proofline.DocumentPII) { d.StateIDNumber, d.StateIDType = "", "" }, []string{"state_id_number", "state_id_type"}},
	} {
		d := full()
		c.mut(d)
		if got := d.MissingIdentity(now); !slices.Equal(got, c.want) {
			t.Errorf("%s: missing %v, want %v", c.name, got, c.want)
		}
	}
	if got := (*proofline.DocumentPII)(nil).MissingIdentity(now); len(got) != len(proofline.IdentityFields) {
		t.Errorf("nil document lacks %v", got)
	}
	if (*proofline.DocumentPII)(nil).ExpiredBefore(now) {
		t.Error("a result without document PII counts as an expired ID")
	}
	for exp, want := range map[string]bool{
		"2026-11-30": true, "1999-01-01": true, "2026-12-01": false, " 2026-12-01 ": false, "2027-01-01": false,
		"": false, "someday": false, "11/30/2026": false,
	} {
		d := full()
		d.StateIDExpiration = proofline.PII(exp)
		if got := d.ExpiredBefore(now); got != want {
			t.Errorf("expiration %q on %s: expired %v, want %v", exp, now.Format(time.DateOnly), got, want)
		}
	}
	// "Today" is the UTC date: at 23:30 in UTC-5 it is already the next day in UTC.
	d := full()
	d.StateIDExpiration = "2026-12-01"
	if !d.ExpiredBefore(time.Date(2026, 12, 1, 23, 30, 0, 0, time.FixedZone("EST", -5*3600))) {
		t.Error("an ID that expired on the UTC day before counts as valid")
	}
}
