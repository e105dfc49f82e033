package aamva

import (
	"errors"
	"regexp"
	"slices"
	"strings"
)

// ProgramException ids the original classifies.
const (
	ExceptionMVAUnavailable = "0001"
	ExceptionMVASystemError = "0002"
	ExceptionMVATimeout     = "0047"
)

// Fault is a SOAP 1.2 Fault. Only its ProgramException ids reach messages:
// reason and exception texts come from the vendor and are not shown.
type Fault struct {
	Reason     string
	Exceptions []ProgramException
}

// ProgramException is one AAMVA program exception.
type ProgramException struct {
	ID, Text, TypeCode, FatalIndicator, Actor string
}

func (f *Fault) Error() string { return "aamva: " + f.Summary() }

// Has reports whether the fault carries the program exception id.
func (f *Fault) Has(id string) bool {
	return slices.ContainsFunc(f.Exceptions, func(e ProgramException) bool { return e.ID == id })
}

var exceptionID = regexp.MustCompile(`^[0-9A-Za-z]{1,8}$`)

// Summary is the fault's safe description: the kind named by its first
// classified exception id, then every id.
func (f *Fault) Summary() string {
	kind := "SOAP fault"
	switch {
	case f.Has(ExceptionMVATimeout):
		kind = "DMV timed out"
	case f.Has(ExceptionMVAUnavailable):
		kind = "DMV unavailable"
	case f.Has(ExceptionMVASystemError):
		kind = "DMV system error"
	}
	var ids []string
	for _, e := range f.Exceptions {
		if exceptionID.MatchString(e.ID) {
			ids = append(ids, "ExceptionId: "+e.ID)
		} else {
			ids = append(ids, "ExceptionId: (unprintable)")
		}
	}
	if len(ids) == 0 {
		return kind
	}
	return kind + " (" + strings.Join(ids, " ; ") + ")"
}

// FullMessage renders the fault as the original did (reason, then each
// exception with its texts), for operators only: it carries vendor text.
func (f *Fault) FullMessage() string {
	reason := f.Reason
	if reason == "" {
		reason = "A SOAP error occurred"
	}
	var parts []string
	for _, e := range f.Exceptions {
		parts = append(parts, "ExceptionId: "+e.ID+", ExceptionText: "+e.Text+", ExceptionTypeCode: "+e.TypeCode+
			", ExceptionFatalIndicatorCode: "+e.FatalIndicator+", ExceptionActorText: "+e.Actor)
	}
	return reason + " - " + strings.Join(parts, " ; ")
}

// fault returns the document's SOAP Fault, or nil.
func fault(root *elem) *Fault {
	body := root.child("Body")
	f := body.child("Fault")
	if f == nil {
		return nil
	}
	out := &Fault{}
	if r := f.child("Reason"); r != nil {
		out.Reason = strings.TrimSpace(r.textOf("Text"))
	}
	for _, pe := range f.findAll("ProgramException") {
		out.Exceptions = append(out.Exceptions, ProgramException{
			ID: pe.textOf("ExceptionId"), Text: pe.textOf("ExceptionText"), TypeCode: pe.textOf("ExceptionTypeCode"),
			FatalIndicator: pe.textOf("ExceptionFatalIndicatorCode"), Actor: pe.textOf("ExceptionActorText"),
		})
	}
	return out
}

type sctResponse struct {
	reference, identifier, serverNonce string
}

// parseSecurityTokenResponse reads the RSTR of step 1.
func parseSecurityTokenResponse(status int, body []byte) (*sctResponse, error) {
	root, err := parseXML(body)
	if err != nil {
		return nil, err
	}
	if f := fault(root); f != nil {
		return nil, f
	}
	if status != 200 {
		return nil, errors.New("unexpected status")
	}
	rst := root.find("RequestedSecurityToken")
	sct := rst.child("SecurityContextToken")
	if sct == nil {
		return nil, errors.New("no security context token")
	}
	out := &sctResponse{reference: sct.attr("Id"), identifier: strings.TrimSpace(sct.textOf("Identifier")), serverNonce: root.textOf("BinarySecret")}
	if out.reference == "" || out.identifier == "" || out.serverNonce == "" {
		return nil, errors.New("incomplete security context token")
	}
	return out, nil
}

// parseAuthenticationTokenResponse reads the token of step 2.
func parseAuthenticationTokenResponse(status int, body []byte) (string, error) {
	root, err := parseXML(body)
	if err != nil {
		return "", err
	}
	if f := fault(root); f != nil {
		return "", f
	}
	if status != 200 {
		return "", errors.New("unexpected status")
	}
	tok := root.textOf("Token")
	if tok == "" {
		return "", errors.New("no token")
	}
	return tok, nil
}

// Match indicators and the attribute each verifies.
var indicators = []struct{ name, attr string }{
	{"DriverLicenseNumberMatchIndicator", "state_id_number"},
	{"DriverLicenseIssueDateMatchIndicator", "state_id_issued"},
	{"DriverLicenseExpirationDateMatchIndicator", "state_id_expiration"},
	{"DocumentCategoryMatchIndicator", "document_type_received"},
	{"PersonBirthDateMatchIndicator", "dob"},
	{"PersonHeightMatchIndicator", "height"},
	{"PersonSexCodeMatchIndicator", "sex"},
	{"PersonWeightMatchIndicator", "weight"},
	{"PersonEyeColorMatchIndicator", "eye_color"},
	{"PersonLastNameExactMatchIndicator", "last_name"},
	{"PersonFirstNameExactMatchIndicator", "first_name"},
	{"PersonMiddleNameExactMatchIndicator", "middle_name"},
	{"PersonNameSuffixMatchIndicator", "name_suffix"},
	{"AddressLine1MatchIndicator", "address1"},
	{"AddressLine2MatchIndicator", "address2"},
	{"AddressCityMatchIndicator", "city"},
	{"AddressStateCodeMatchIndicator", "state"},
	{"AddressZIP5MatchIndicator", "zipcode"},
}

// requiredAttributes must all be verified for success (state_id_expiration
// may also be absent).
var requiredAttributes = []string{"state_id_number", "dob", "last_name", "first_name"}

// Verification is a parsed VerifyDriverLicenseData answer.
type Verification struct {
	TransactionID string
	// Results maps each attribute whose indicator was present to whether it matched.
	Results map[string]bool
}

// ParseVerificationResponse reads a verification answer: a SOAP Fault is a
// *Fault error, a non-200 status without one an error, unparseable XML errXML.
func ParseVerificationResponse(status int, body []byte) (*Verification, error) {
	root, err := parseXML(body)
	if err != nil {
		return nil, err
	}
	if f := fault(root); f != nil {
		return nil, f
	}
	if status != 200 {
		return nil, errors.New("unexpected status")
	}
	v := &Verification{Results: map[string]bool{}}
	for _, ind := range indicators {
		if e := root.find(ind.name); e != nil {
			v.Results[ind.attr] = strings.TrimSpace(e.Text()) == "true"
		}
	}
	v.TransactionID = root.textOf("TransactionLocatorId")
	if v.TransactionID == "" {
		v.TransactionID = root.textOf("TransactionLocatorID")
	}
	return v, nil
}

// Success: state_id_number, dob, last_name and first_name verified, and
// state_id_expiration absent or verified.
func (v *Verification) Success() bool {
	for _, a := range requiredAttributes {
		if !v.Results[a] {
			return false
		}
	}
	exp, ok := v.Results["state_id_expiration"]
	return !ok || exp
}

// Errors are the failed fields (empty on success): every required attribute
// that did not match (UNVERIFIED) or was absent (MISSING), and every other
// indicator that said false.
func (v *Verification) Errors() map[string][]string {
	out := map[string][]string{}
	if v.Success() {
		return out
	}
	for _, a := range requiredAttributes {
		if ok, present := v.Results[a]; !present {
			out[a] = []string{MsgMissing}
		} else if !ok {
			out[a] = []string{MsgUnverified}
		}
	}
	for attr, ok := range v.Results {
		if !ok && out[attr] == nil {
			out[attr] = []string{MsgUnverified}
		}
	}
	return out
}

// addressParts are the address attributes; requiredAddress those that must
// all match for the address to be verified (address2 is optional).
var (
	addressParts    = []string{"address1", "address2", "city", "state", "zipcode"}
	requiredAddress = []string{"address1", "city", "state", "zipcode"}
)

// VerifiedAttributes are the matched attributes, the address as one
// (Login.gov's normalize_address_attributes): address1, address2, city,
// state and zipcode never appear; "address" does when address1, city,
// state and zipcode all matched.
func (v *Verification) VerifiedAttributes() []string {
	var out []string
	for _, ind := range indicators {
		if v.Results[ind.attr] && !slices.Contains(addressParts, ind.attr) {
			out = append(out, ind.attr)
		}
	}
	all := true
	for _, a := range requiredAddress {
		all = all && v.Results[a]
	}
	if all {
		out = append(out, "address")
	}
	slices.Sort(out)
	return out
}
