package lexisnexis

import (
	"bytes"
	"encoding/json"
	"errors"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Response is an RDP v2 conversation answer: what the adapters read of it.
// Anything else in the body (Information, ParameterDetails, PassThroughs,
// ItemInformationDetails) is never kept: it can reflect the applicant's PII.
type Response struct {
	Status   Status    `json:"Status"`
	Products []Product `json:"Products"`
}

// Status is the transaction status block.
type Status struct {
	TransactionStatus     string  `json:"TransactionStatus"`
	ConversationID        Text    `json:"ConversationId"`
	RequestID             Text    `json:"RequestId"`
	Reference             Text    `json:"Reference"`
	TransactionReasonCode *Reason `json:"TransactionReasonCode"`
}

// Product is one product's verdict.
type Product struct {
	ProductType      string  `json:"ProductType"`
	ExecutedStepName string  `json:"ExecutedStepName"`
	ProductStatus    string  `json:"ProductStatus"`
	ProductReason    *Reason `json:"ProductReason"`
	Items            []Item  `json:"Items"`
}

// Item is one check within a product.
type Item struct {
	ItemName   string  `json:"ItemName"`
	ItemStatus string  `json:"ItemStatus"`
	ItemReason *Reason `json:"ItemReason"`
}

// Reason is a code with its description.
type Reason struct {
	Code        Text   `json:"Code"`
	Description string `json:"Description"`
}

// Text is a JSON string or number read as text (vendors send ids as either).
type Text string

func (f *Text) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*f = Text(s)
		return nil
	}
	if string(b) == "null" {
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return errors.New("not a string or number")
	}
	*f = Text(n.String())
	return nil
}

// ParseResponse parses an RDP v2 response body. Its error never quotes the body.
func ParseResponse(body []byte) (*Response, error) {
	var r Response
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, errors.New("lexisnexis: response is not RDP JSON")
	}
	return &r, nil
}

// Attributes a failed InstantVerify item maps to.
const (
	AttrAddress       = "address"
	AttrSSN           = "ssn"
	AttrDead          = "dead"
	AttrDOB           = "dob"
	AttrStateIDNumber = "state_id_number"
	AttrUnknown       = "unknown"
)

// itemAttributes maps InstantVerify ItemNames to the attribute they check.
var itemAttributes = map[string]string{
	"Addr1Zip_StateMatch":        AttrAddress,
	"IdentityOccupancyVerified":  AttrAddress,
	"AddrDeliverable":            AttrAddress,
	"AddrNotHighRisk":            AttrAddress,
	"SsnFullNameMatch":           AttrSSN,
	"SSNSSAValid":                AttrSSN,
	"SsnDeathMatchVerification":  AttrDead,
	"LexIDDeathMatch":            AttrDead,
	"DOBFullVerified":            AttrDOB,
	"DOBYearVerified":            AttrDOB,
	"DriversLicense":             AttrStateIDNumber,
	"DriversLicenseVerification": AttrStateIDNumber,
}

// ItemAttribute is the attribute an InstantVerify item checks (AttrUnknown
// for names outside the mapping).
func ItemAttribute(itemName string) string {
	if a, ok := itemAttributes[itemName]; ok {
		return a
	}
	return AttrUnknown
}

// attributeFields is where each attribute's failure is reported: the
// applicant field name, with the message shown for it.
var attributeFields = map[string][2]string{
	AttrAddress:       {"address1", "Unverified address."},
	AttrSSN:           {"ssn", "Unverified SSN."},
	AttrDead:          {"ssn", "Unverified SSN."},
	AttrDOB:           {"dob", "Unverified date of birth."},
	AttrStateIDNumber: {"state_id_number", "Unverified state ID number."},
}

// BaseField is the errors key of a failure that names no applicant field.
const BaseField = "base"

// Verdict is what an InstantVerify response means.
type Verdict struct {
	// Passed is TransactionStatus == "passed", and nothing else.
	Passed        bool
	Status        string
	TransactionID string
	ReasonCode    string
	// Errors maps applicant fields (or BaseField) to messages; empty when Passed.
	Errors map[string][]string
	// FailedAttributes is the sorted, unique set of attributes of failed
	// items (AttrAddress, AttrDOB, ..., AttrUnknown); empty when Passed.
	FailedAttributes []string
	// CanPassWithAdditionalVerification: the failure may be covered by a
	// state-ID check that verifies every failed attribute (see Evaluate).
	CanPassWithAdditionalVerification bool
}

var (
	scoringFail = regexp.MustCompile(`(total|priority)\.scoring\.model\.verification\.fail`)
	safeCode    = regexp.MustCompile(`^[A-Za-z0-9_.:-]{1,100}$`)
)

// safe returns s when it is a plain vendor code, a placeholder otherwise, so
// that nothing the body reflected reaches a message.
func safe(s string) string {
	if safeCode.MatchString(s) {
		return s
	}
	if s == "" {
		return ""
	}
	return "(unprintable)"
}

// Evaluate reads an InstantVerify response:
//
//   - passed: success, no errors;
//   - failed: every item whose ItemStatus is not "pass" maps to an attribute
//     (ItemAttribute) and is reported under its applicant field (address →
//     address1, ssn and dead → ssn, dob, state_id_number); when a failed
//     item has no mapping, or none failed, BaseField also gets
//     "Verification failed with code: '<code>'" (a failure is never left
//     without a name);
//   - error: BaseField gets "Response error with code '<code>'" (a failed
//     result, not an exception);
//   - anything else: BaseField gets "Invalid status in response body: '<x>'".
//
// CanPassWithAdditionalVerification holds when the status is failed, the
// reason code is (total|priority).scoring.model.verification.fail, there is
// exactly one product, an InstantVerify one with ProductStatus fail, and at
// least one failed item maps to an attribute.
func Evaluate(r *Response) *Verdict {
	v := &Verdict{
		Status:        r.Status.TransactionStatus,
		TransactionID: strings.TrimSpace(string(r.Status.ConversationID)),
		Errors:        map[string][]string{},
	}
	if rc := r.Status.TransactionReasonCode; rc != nil {
		v.ReasonCode = string(rc.Code)
	}
	switch strings.ToLower(v.Status) {
	case "passed":
		v.Passed = true
		return v
	case "error":
		v.Errors[BaseField] = []string{"Response error with code '" + safe(v.ReasonCode) + "'"}
		return v
	case "failed":
	default:
		v.Errors[BaseField] = []string{"Invalid status in response body: '" + safe(v.Status) + "'"}
		return v
	}
	mapped, unmapped := false, false
	for _, p := range r.Products {
		for _, it := range p.Items {
			if strings.EqualFold(it.ItemStatus, "pass") {
				continue
			}
			attr := ItemAttribute(it.ItemName)
			if !slices.Contains(v.FailedAttributes, attr) {
				v.FailedAttributes = append(v.FailedAttributes, attr)
			}
			if f, ok := attributeFields[attr]; ok {
				mapped = true
				if !slices.Contains(v.Errors[f[0]], f[1]) {
					v.Errors[f[0]] = append(v.Errors[f[0]], f[1])
				}
			} else {
				unmapped = true
			}
		}
	}
	slices.Sort(v.FailedAttributes)
	if !mapped || unmapped {
		msg := "Verification failed"
		if v.ReasonCode != "" {
			msg += " with code: '" + safe(v.ReasonCode) + "'"
		}
		v.Errors[BaseField] = []string{msg}
	}
	v.CanPassWithAdditionalVerification = scoringFail.MatchString(v.ReasonCode) &&
		len(r.Products) == 1 && r.Products[0].ProductType == "InstantVerify" &&
		strings.EqualFold(r.Products[0].ProductStatus, "fail") && mapped
	return v
}

// StateIDCoverable are the attributes a state-ID (AAMVA) check can verify in
// place of InstantVerify.
var StateIDCoverable = []string{AttrAddress, AttrDOB, AttrStateIDNumber}

// CoveredBy reports whether every failed attribute of v is among verified
// (attributes a state-ID check verified), so that the failed resolution may
// pass with that additional verification.
func (v *Verdict) CoveredBy(verified []string) bool {
	if !v.CanPassWithAdditionalVerification {
		return false
	}
	for _, a := range v.FailedAttributes {
		if !slices.Contains(StateIDCoverable, a) || !slices.Contains(verified, a) {
			return false
		}
	}
	return true
}

// CoverableByStateID reports whether a state-ID check could cover this
// failure: it may pass with additional verification and every failed
// attribute is one a state-ID check verifies.
func (v *Verdict) CoverableByStateID() bool {
	if !v.CanPassWithAdditionalVerification || len(v.FailedAttributes) == 0 {
		return false
	}
	for _, a := range v.FailedAttributes {
		if !slices.Contains(StateIDCoverable, a) {
			return false
		}
	}
	return true
}

// String describes the verdict without PII (status, code, attributes).
func (v *Verdict) String() string {
	return "status=" + strconv.Quote(safe(v.Status)) + " code=" + strconv.Quote(safe(v.ReasonCode)) + " attributes=" + strings.Join(v.FailedAttributes, ",")
}
