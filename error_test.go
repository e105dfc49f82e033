package proofline_test

import (
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/proofline/proofline"
)

// An error's text is "code: message", with ": cause" only when there is a
// cause; the cause stays reachable through errors.Is/As for operators but
// never becomes the public message, and an internal error shows none.
func TestErrorTextAndCause(t *testing.T) {
	t.Parallel()
	plain := proofline.Errorf(proofline.ENOTFOUND, "no result %s", "here")
	if got := plain.Error(); got != "not_found: no result here" {
		t.Errorf("Error() = %q", got)
	}
	if errors.Unwrap(plain) != nil {
		t.Error("an error without a cause unwraps to something")
	}
	wrapped := proofline.WrapError(proofline.EUNAVAILABLE, "store unavailable", io.ErrUnexpectedEOF)
	if got := wrapped.Error(); got != "unavailable: store unavailable: unexpected EOF" {
		t.Errorf("Error() = %q", got)
	}
	if !errors.Is(wrapped, io.ErrUnexpectedEOF) {
		t.Error("the cause is not reachable with errors.Is")
	}
	if got := proofline.ErrorMessage(wrapped); got != "store unavailable" {
		t.Errorf("public message %q", got)
	}
	internal := proofline.Errorf(proofline.EINTERNAL, "redis AUTH failed for user admin")
	if got := proofline.ErrorMessage(internal); got != "internal error" {
		t.Errorf("an internal error's message reached the caller: %q", got)
	}
}

// A validation error reads as its first field failure and how many more
// there are; it is an error only when some field failed.
func TestValidationErrorText(t *testing.T) {
	t.Parallel()
	var v proofline.ValidationError
	if v.Err() != nil {
		t.Error("an empty validation error is an error")
	}
	if got := v.Error(); got != "invalid: no fields" {
		t.Errorf("Error() of none = %q", got)
	}
	v.Add("applicant.ssn", "must be 9 digits, with or without dashes")
	err := v.Err()
	if err == nil || err.Error() != "invalid: applicant.ssn: must be 9 digits, with or without dashes" {
		t.Errorf("Err() of one = %v", err)
	}
	v.Add("applicant.dob", "is required")
	if got := v.Error(); got != "invalid: applicant.ssn: must be 9 digits, with or without dashes (and 1 more)" {
		t.Errorf("Error() of two = %q", got)
	}
	v.Add("applicant.zipcode", "must be 5 or 9 digits")
	if got := v.Error(); !strings.HasSuffix(got, " (and 2 more)") {
		t.Errorf("Error() of three = %q", got)
	}
	var ve *proofline.ValidationError
	if !errors.As(v.Err(), &ve) || len(ve.Fields) != 3 {
		t.Error("Err() does not return the validation error itself")
	}
	b, _ := json.Marshal(ve.Fields[1])
	if string(b) != `{"field":"applicant.dob","message":"is required"}` {
		t.Errorf("field error JSON %s", b)
	}
}
