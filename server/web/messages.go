package web

import (
	"math"
	"slices"
	"strings"

	"github.com/proofline/proofline"
)

// The messages people read about what went wrong come from vendors (the
// result's errors, in English or as codes) and from validation. They are
// mapped here to catalogue keys, so each is shown in the person's language;
// the session keeps keys, never a vendor's text.

// validationKeys are the keys of proofline's validation messages.
var validationKeys = map[string]string{
	"is too long or has control characters":      "errors.too_long",
	"must be a past date in the form YYYY-MM-DD": "errors.dob_format",
	"must be 9 digits, with or without dashes":   "errors.ssn_format",
	"must be a two-letter state code":            "errors.state_format",
	"must be 5 or 9 digits":                      "errors.zipcode_format",
	"must be a 10-digit phone number":            "errors.phone_format",
}

// requiredFields have a "required" message of their own (errors.required_{field}).
var requiredFields = []string{"first_name", "last_name", "dob", "address1", "city", "state", "zipcode", "ssn", "phone"}

// validationKey is the key of one validation error of a form field.
func validationKey(f proofline.FieldError) string {
	if f.Message == "is required" {
		if slices.Contains(requiredFields, f.Field) {
			return "errors.required_" + f.Field
		}
		return "errors.required"
	}
	if k, ok := validationKeys[f.Message]; ok {
		return k
	}
	return "errors.invalid"
}

// vendorMessageKeys are the keys of the failure messages vendors put in a
// result's errors: the mock's and the real adapters' English sentences, and
// TrueID's error codes.
var vendorMessageKeys = map[string]string{
	// Resolution (LexisNexis InstantVerify and the mock).
	"Unverified first name.":      "vendor.unverified_first_name",
	"Unverified SSN.":             "vendor.unverified_ssn",
	"Unverified ZIP code.":        "vendor.unverified_zipcode",
	"Unverified address.":         "vendor.unverified_address",
	"Unverified date of birth.":   "vendor.unverified_dob",
	"Unverified state ID number.": "vendor.unverified_state_id_number",
	// State ID (AAMVA and the mock).
	"The state ID number could not be verified.": "vendor.unverified_state_id_number",
	"The jurisdiction could not be verified.":    "vendor.unverified_jurisdiction",
	"The state ID type could not be verified.":   "vendor.unverified_state_id_type",
	// Phone (LexisNexis PhoneFinder and the mock).
	"The phone number could not be verified.": "vendor.unverified_phone",
	// Document: the mock, the proofer's checks, TrueID's codes.
	"The document could not be verified.": "document.err_generic",
	"Your ID has expired":                 "document.err_expired_id",
	"general_error":                       "document.err_generic",
	"multiple_front_id_failures":          "document.err_generic",
	"multiple_back_id_failures":           "document.err_generic",
	"doc_type_check":                      "document.err_not_recognized",
	"id_not_recognized":                   "document.err_not_recognized",
	"id_not_verified":                     "document.err_not_genuine",
	"dpi_low":                             "document.err_dpi",
	"sharp_low":                           "document.err_blurry",
	"glare_low":                           "document.err_glare",
	"barcode_content_check":               "document.err_barcode",
	"barcode_read_check":                  "document.err_barcode",
	"ref_control_number_check":            "document.err_mismatch",
	"control_number_check":                "document.err_mismatch",
	"doc_crosscheck":                      "document.err_mismatch",
	"doc_number_checks":                   "document.err_mismatch",
	"full_name_check":                     "document.err_mismatch",
	"issue_date_checks":                   "document.err_mismatch",
	"birth_date_checks":                   "document.err_mismatch",
	"sex_check":                           "document.err_mismatch",
	"doc_expired_check":                   "document.err_expired_id",
	"expiration_checks":                   "document.err_expired_id",
	"visible_photo_check":                 "document.err_photo_on_id",
	"visible_color_check":                 "document.err_color",
	"selfie_not_live_or_poor_quality":     "document.err_selfie",
	"selfie_failure":                      "document.err_selfie",
}

// vendorFieldKeys are the keys of an unknown failure message on a field
// (AAMVA says only "UNVERIFIED" or "MISSING").
var vendorFieldKeys = map[string]string{
	"first_name": "vendor.unverified_first_name", "last_name": "vendor.unverified_name", "middle_name": "vendor.unverified_name",
	"dob": "vendor.unverified_dob", "ssn": "vendor.unverified_ssn", "address1": "vendor.unverified_address",
	"address2": "vendor.unverified_address", "city": "vendor.unverified_address", "state": "vendor.unverified_address",
	"zipcode": "vendor.unverified_zipcode", "phone": "vendor.unverified_phone",
	"state_id_number": "vendor.unverified_state_id_number", "state_id_jurisdiction": "vendor.unverified_jurisdiction",
	"state_id_type": "vendor.unverified_state_id_type",
}

// vendorKey is the key of one failure message a vendor gave for field of a
// kind's result.
func vendorKey(kind proofline.Kind, field, msg string) string {
	if k, ok := vendorMessageKeys[strings.TrimSpace(msg)]; ok {
		return k
	}
	if kind == proofline.KindDocument {
		// The proofer names the identity fields it could not read.
		if strings.HasPrefix(msg, "We could not read your ") {
			return msgDocumentUnusable
		}
		if field == "selfie" {
			return "document.err_selfie"
		}
		return "document.err_generic"
	}
	if k, ok := vendorFieldKeys[field]; ok {
		return k
	}
	if kind == proofline.KindAddress {
		return "vendor.unverified_phone"
	}
	return "vendor.unverified_generic"
}

// vendorErrors are the session's errors (keys by field) of a failed result.
func vendorErrors(kind proofline.Kind, errs map[string][]string) map[string][]string {
	out := map[string][]string{}
	for field, msgs := range errs {
		for _, m := range msgs {
			k := vendorKey(kind, field, m)
			if !slices.Contains(out[field], k) {
				out[field] = append(out[field], k)
			}
		}
		if len(msgs) == 0 {
			out[field] = []string{vendorKey(kind, field, "")}
		}
	}
	if len(out) == 0 {
		k := "vendor.unverified_generic"
		if kind == proofline.KindDocument {
			k = "document.err_generic"
		}
		out["general"] = []string{k}
	}
	return out
}

// formatBytes says n bytes in words: "10 MB", "64 KB" (units.mb, units.kb),
// with at most one decimal.
func formatBytes(l *lang, n int64) string {
	if n >= 1<<20 {
		return l.T("units.mb", math.Round(float64(n)/(1<<20)*10)/10)
	}
	return l.T("units.kb", math.Round(float64(n)/(1<<10)*10)/10)
}
