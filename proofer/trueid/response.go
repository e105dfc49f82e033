package trueid

import (
	"encoding/json"
	"errors"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/proofline/proofline"
	"github.com/proofline/proofline/proofer"
	"github.com/proofline/proofline/proofer/lexisnexis"
)

type rawResponse struct {
	Status struct {
		TransactionStatus     string             `json:"TransactionStatus"`
		ConversationID        lexisnexis.Text    `json:"ConversationId"`
		TransactionReasonCode *lexisnexis.Reason `json:"TransactionReasonCode"`
	} `json:"Status"`
	Products []struct {
		ProductType      string `json:"ProductType"`
		ParameterDetails []struct {
			Group  string `json:"Group"`
			Name   string `json:"Name"`
			Values []struct {
				Value lexisnexis.Text `json:"Value"`
			} `json:"Values"`
		} `json:"ParameterDetails"`
	} `json:"Products"`
}

// Response is a parsed TrueID answer.
type Response struct {
	TransactionStatus string
	TransactionID     string
	ReasonCode        string
	// TrueID is the TrueID product's parameters, Group → Name → values (nil
	// when the answer has no TrueID product).
	TrueID map[string]map[string][]string
}

// ParseResponse parses a TrueID body. Its error never quotes the body.
func ParseResponse(body []byte) (*Response, error) {
	var raw rawResponse
	if err := json.Unmarshal(body, &raw); err != nil {
		return nil, errors.New("trueid: response is not TrueID JSON")
	}
	r := &Response{TransactionStatus: raw.Status.TransactionStatus, TransactionID: strings.TrimSpace(string(raw.Status.ConversationID))}
	if rc := raw.Status.TransactionReasonCode; rc != nil {
		r.ReasonCode = string(rc.Code)
	}
	for _, p := range raw.Products {
		if p.ProductType != "TrueID" {
			continue
		}
		r.TrueID = map[string]map[string][]string{}
		for _, d := range p.ParameterDetails {
			g := r.TrueID[d.Group]
			if g == nil {
				g = map[string][]string{}
				r.TrueID[d.Group] = g
			}
			for _, v := range d.Values {
				g[d.Name] = append(g[d.Name], string(v.Value))
			}
		}
		break
	}
	return r, nil
}

// get is the first value of group/name, "" if absent.
func (r *Response) get(group, name string) string {
	if v := r.TrueID[group][name]; len(v) > 0 {
		return strings.TrimSpace(v[0])
	}
	return ""
}

var codeRE = regexp.MustCompile(`^[A-Za-z0-9_.:-]{1,100}$`)

func safeCode(s string) string {
	if codeRE.MatchString(s) {
		return s
	}
	if s == "" {
		return "no code"
	}
	return "unprintable code"
}

// Error codes.
const (
	ErrDocTypeCheck       = "doc_type_check"
	ErrDPILow             = "dpi_low"
	ErrSharpLow           = "sharp_low"
	ErrGlareLow           = "glare_low"
	ErrGeneral            = "general_error"
	ErrMultipleFront      = "multiple_front_id_failures"
	ErrMultipleBack       = "multiple_back_id_failures"
	ErrSelfieNotLive      = "selfie_not_live_or_poor_quality"
	ErrSelfieFailure      = "selfie_failure"
	FieldGeneral          = "general"
	FieldFront, FieldBack = "front", "back"
	FieldSelfie           = "selfie"
	sideID                = "id"
)

// alertErrors maps alert names to their side and error code.
var alertErrors = map[string][2]string{
	"1D Control Number Valid":         {"back", "ref_control_number_check"},
	"2D Barcode Content":              {"back", "barcode_content_check"},
	"2D Barcode Read":                 {"back", "barcode_read_check"},
	"Birth Date Crosscheck":           {sideID, "birth_date_checks"},
	"Birth Date Valid":                {sideID, "birth_date_checks"},
	"Control Number Crosscheck":       {"back", "control_number_check"},
	"Document Classification":         {sideID, "id_not_recognized"},
	"Document Crosscheck Aggregation": {sideID, "doc_crosscheck"},
	"Document Expired":                {sideID, "doc_expired_check"},
	"Document Number Crosscheck":      {sideID, "doc_number_checks"},
	"Expiration Date Crosscheck":      {sideID, "expiration_checks"},
	"Expiration Date Valid":           {sideID, "expiration_checks"},
	"Full Name Crosscheck":            {sideID, "full_name_check"},
	"Issue Date Crosscheck":           {sideID, "issue_date_checks"},
	"Issue Date Valid":                {sideID, "issue_date_checks"},
	"Layout Valid":                    {sideID, "id_not_verified"},
	"Near-Infrared Response":          {sideID, "id_not_verified"},
	"Physical Document Presence":      {sideID, "id_not_verified"},
	"Visible Pattern":                 {sideID, "id_not_verified"},
	"Photo Printing":                  {"front", "visible_photo_check"},
	"Visible Photo Characteristics":   {"front", "visible_photo_check"},
	"Sex Crosscheck":                  {sideID, "sex_check"},
	"Visible Color Response":          {sideID, "visible_color_check"},
}

// Alert is one TrueID alert.
type Alert struct {
	Name, Result, Side string
}

var alertKey = regexp.MustCompile(`^Alert_(\d+)_(AlertName|AuthenticationResult)$`)

// Alerts groups AUTHENTICATION_RESULT's Alert_<n>_ fields, in n order.
func (r *Response) Alerts() []Alert {
	byN := map[int]*Alert{}
	for name, vals := range r.TrueID["AUTHENTICATION_RESULT"] {
		m := alertKey.FindStringSubmatch(name)
		if m == nil || len(vals) == 0 {
			continue
		}
		n, err := strconv.Atoi(m[1])
		if err != nil || n > 1000 {
			continue
		}
		a := byN[n]
		if a == nil {
			a = &Alert{}
			byN[n] = a
		}
		if m[2] == "AlertName" {
			a.Name = strings.TrimSpace(vals[0])
		} else {
			a.Result = strings.TrimSpace(vals[0])
		}
	}
	ns := make([]int, 0, len(byN))
	for n := range byN {
		ns = append(ns, n)
	}
	sort.Ints(ns)
	out := make([]Alert, 0, len(ns))
	for _, n := range ns {
		a := *byN[n]
		if a.Name == "" {
			continue
		}
		if e, ok := alertErrors[a.Name]; ok {
			a.Side = e[0]
		}
		out = append(out, a)
	}
	return out
}

var supportedClasses = []string{"Drivers License", "Identification Card", "Passport", "PassportCard", "Passport Card", "Unknown"}

// receivedType is the document type TrueID saw.
func (r *Response) receivedType() string {
	issue := r.get("AUTHENTICATION_RESULT", "DocIssueType")
	class := r.get("AUTHENTICATION_RESULT", "DocClassName")
	switch {
	case issue == "Passport Card" || class == "Passport Card" || class == "PassportCard":
		return "passport_card"
	case class == "Passport":
		return "passport"
	case class == "Identification Card":
		return "state_id_card"
	case class == "Drivers License":
		return "drivers_license"
	}
	return ""
}

// idTypeOK: supported class, country and issuer type, and the type we asked
// for (a driver's licence or state ID card; passports are not requested).
func (t *TrueID) idTypeOK(r *Response) bool {
	class := r.get("AUTHENTICATION_RESULT", "DocClassName")
	if class != "" && !slices.Contains(supportedClasses, class) {
		return false
	}
	if cc := r.get("IDAUTH_FIELD_DATA", "Fields_CountryCode"); cc != "" && !slices.Contains(t.cfg.SupportedCountryCodes, strings.ToUpper(cc)) {
		return false
	}
	switch r.get("AUTHENTICATION_RESULT", "DocIssuerType") {
	case "", "StateProvince", "Country", "Unknown":
	default:
		return false
	}
	switch r.receivedType() {
	case "", "drivers_license", "state_id_card":
		return true
	}
	return false
}

// imageMetricError is the first image-quality failure per side, in the
// original order (DPI, sharpness, glare), or "".
func (t *TrueID) imageMetricErrors(r *Response) map[string]string {
	g := r.TrueID["IMAGE_METRICS_RESULT"]
	out := map[string]string{}
	sides := g["Side"]
	num := func(name string, i int) (int, bool) {
		v := g[name]
		if i >= len(v) {
			return 0, false
		}
		n, err := strconv.Atoi(strings.TrimSpace(v[i]))
		return n, err == nil
	}
	for i, side := range sides {
		side = strings.ToLower(strings.TrimSpace(side))
		if side != FieldFront && side != FieldBack {
			continue
		}
		h, okH := num("HorizontalResolution", i)
		v, okV := num("VerticalResolution", i)
		if (okH && h < t.cfg.DPIThreshold) || (okV && v < t.cfg.DPIThreshold) {
			out[side] = ErrDPILow
			continue
		}
		if s, ok := num("SharpnessMetric", i); ok && s < t.cfg.SharpnessThreshold {
			out[side] = ErrSharpLow
			continue
		}
		if gl, ok := num("GlareMetric", i); ok && gl < t.cfg.GlareThreshold {
			out[side] = ErrGlareLow
		}
	}
	return out
}

// Evaluate turns a parsed answer with a TrueID product into a result.
func (t *TrueID) Evaluate(r *Response, live bool) *proofer.VendorResult {
	out := &proofer.VendorResult{Vendor: Name, TransactionID: r.TransactionID, Errors: map[string][]string{}}
	docResult := r.get("AUTHENTICATION_RESULT", "DocAuthResult")
	out.DocResult = docResult
	out.Billed = docResult != ""
	alerts := r.Alerts()
	for _, a := range alerts {
		side := a.Side
		if side == sideID {
			side = ""
		}
		out.Alerts = append(out.Alerts, proofline.Alert{Name: a.Name, Result: a.Result, Side: side})
	}
	if _, ok := r.TrueID["IDAUTH_FIELD_DATA"]; ok {
		out.PIIFromDoc = t.pii(r)
	}
	passed := strings.EqualFold(r.TransactionStatus, "passed")
	typeOK := t.idTypeOK(r)
	faceOK := !live || r.get("PORTRAIT_MATCH_RESULT", "FaceMatchResult") == "Pass"
	if passed && typeOK && faceOK {
		return out
	}
	add := func(field, code string) {
		if !slices.Contains(out.Errors[field], code) {
			out.Errors[field] = append(out.Errors[field], code)
		}
	}
	// 1. document type.
	if !typeOK {
		add(FieldGeneral, ErrDocTypeCheck)
		return out
	}
	if _, ok := r.TrueID["AUTHENTICATION_RESULT"]; !ok {
		add(FieldGeneral, ErrGeneral)
		return out
	}
	// 2. image metrics.
	if m := t.imageMetricErrors(r); len(m) > 0 {
		for _, side := range []string{FieldFront, FieldBack} {
			if code, ok := m[side]; ok {
				add(side, code)
				add(FieldGeneral, code)
			}
		}
		return out
	}
	// 3. failed alerts, only when the transaction did not pass.
	if !passed {
		type known struct{ side, code string }
		var errs []known
		for _, a := range alerts {
			if a.Result == "Passed" {
				continue
			}
			if e, ok := alertErrors[a.Name]; ok && !slices.Contains(errs, known{e[0], e[1]}) {
				errs = append(errs, known{e[0], e[1]})
			}
		}
		switch {
		case len(errs) == 1:
			add(FieldGeneral, errs[0].code)
			if errs[0].side != sideID {
				add(errs[0].side, errs[0].code)
			}
			return out
		case len(errs) > 1:
			allFront, allBack := true, true
			for _, e := range errs {
				allFront = allFront && e.side == FieldFront
				allBack = allBack && e.side == FieldBack
			}
			switch {
			case allFront:
				add(FieldFront, ErrMultipleFront)
				add(FieldGeneral, ErrMultipleFront)
			case allBack:
				add(FieldBack, ErrMultipleBack)
				add(FieldGeneral, ErrMultipleBack)
			default:
				add(FieldGeneral, ErrGeneral)
			}
			return out
		}
	}
	// 4. selfie.
	if !faceOK {
		msg := r.get("PORTRAIT_MATCH_RESULT", "FaceErrorMessage")
		if strings.Contains(msg, "NotLive") || strings.Contains(msg, "PoorQuality") {
			add(FieldSelfie, ErrSelfieNotLive)
		} else {
			add(FieldSelfie, ErrSelfieFailure)
		}
		return out
	}
	add(FieldGeneral, ErrGeneral)
	return out
}

// pii reads pii_from_doc from IDAUTH_FIELD_DATA.
func (t *TrueID) pii(r *Response) *proofline.DocumentPII {
	f := func(name string) string { return r.get("IDAUTH_FIELD_DATA", name) }
	first := f("Fields_FirstName")
	if first == "" {
		first = f("Fields_GivenName")
	}
	zip := f("Fields_PostalCode")
	if !zipRE.MatchString(zip) && len(zip) > 5 {
		zip = zip[:5]
	}
	return &proofline.DocumentPII{
		FirstName:           proofline.PII(first),
		MiddleName:          proofline.PII(f("Fields_MiddleName")),
		LastName:            proofline.PII(f("Fields_Surname")),
		Address1:            proofline.PII(f("Fields_AddressLine1")),
		City:                proofline.PII(f("Fields_City")),
		State:               proofline.PII(f("Fields_State")),
		Zipcode:             proofline.PII(zip),
		DOB:                 proofline.PII(date(f("Fields_DOB_Year"), f("Fields_DOB_Month"), f("Fields_DOB_Day"))),
		StateIDNumber:       proofline.PII(f("Fields_DocumentNumber")),
		StateIDJurisdiction: proofline.PII(f("Fields_IssuingStateCode")),
		StateIDType:         proofline.PII(r.receivedType()),
	}
}

var zipRE = regexp.MustCompile(`^\d{5}(-\d{4})?$`)

// date is YYYY-MM-DD, or "" when the parts are not a real date.
func date(y, m, d string) string {
	yi, e1 := strconv.Atoi(y)
	mi, e2 := strconv.Atoi(m)
	di, e3 := strconv.Atoi(d)
	if e1 != nil || e2 != nil || e3 != nil || yi < 1000 || yi > 9999 {
		return ""
	}
	t := time.Date(yi, time.Month(mi), di, 0, 0, 0, 0, time.UTC)
	if t.Year() != yi || int(t.Month()) != mi || t.Day() != di {
		return ""
	}
	return t.Format("2006-01-02")
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic("trueid: marshal: " + err.Error())
	}
	return b
}
