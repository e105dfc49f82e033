package web

import (
	"net/url"
	"testing"
)

// TestDateOfTheThreeInputs: the date of birth typed in three inputs is a
// date the service reads (YYYY-MM-DD) only when the parts make a real date;
// otherwise the person is told what is wrong in the pattern's words, and
// the form gets back what they typed.
func TestDateOfTheThreeInputs(t *testing.T) {
	for _, c := range []struct {
		d, m, y   string
		want, key string
	}{
		{"4", "3", "1985", "1985-03-04", ""},
		{" 04 ", "03", "1985", "1985-03-04", ""},
		{"29", "2", "2000", "2000-02-29", ""},
		{"", "", "", "", ""}, // nothing: the service says it is required
		{"", "3", "1985", "1985-3-", "errors.date_missing_day"},
		{"4", "", "1985", "1985--4", "errors.date_missing_month"},
		{"4", "3", "", "-3-4", "errors.date_missing_year"},
		{"4", "3", "85", "85-3-4", "errors.date_year_digits"},
		{"29", "2", "2001", "2001-2-29", "errors.date_real"},
		{"31", "4", "1985", "1985-4-31", "errors.date_real"},
		{"4", "13", "1985", "1985-13-4", "errors.date_real"},
		{"0", "3", "1985", "1985-3-0", "errors.date_real"},
		{"4", "March", "1985", "1985-March-4", "errors.date_real"},
		{"-4", "3", "1985", "1985-3--4", "errors.date_real"},
	} {
		f := url.Values{"dob_day": {c.d}, "dob_month": {c.m}, "dob_year": {c.y}}
		got, key := dateOf(f, "dob")
		if got != c.want || key != c.key {
			t.Errorf("day %q month %q year %q: %q %q, want %q %q", c.d, c.m, c.y, got, key, c.want, c.key)
		}
	}
}
