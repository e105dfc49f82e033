package trueid

import (
	"encoding/json"
	"errors"
	"regexp"
	"slices"
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

	alerts []Alert
}

// ParseResponse parses a TrueID body. Its error never quotes the body. An
// alert whose name cannot be read (an "Alert_..._AlertName" key that is not
// Alert_<1 or 2 digits>_AlertName, or has no name) is an error: the answer
// is unusable, as it is for Login.gov, rather than an alert quietly skipped.
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
			if _, ok := g[d.Name]; !ok {
				g[d.Name] = []string{} // present, even without a value
			}
			for _, v := range d.Values {
				g[d.Name] = append(g[d.Name], string(v.Value))
			}
		}
		alerts, err := parseAlerts(r.TrueID["AUTHENTICATION_RESULT"])
		if err != nil {
			return nil, err
		}
		r.alerts = alerts
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

var alertNameKey = regexp.MustCompile(`^Alert_(\d{1,2})_AlertName$`)

// errAlertName is the parse error of an unreadable alert name.
var errAlertName = errors.New("trueid: an alert name cannot be read")

// parseAlerts groups AUTHENTICATION_RESULT's Alert_<n>_ fields, in n order.
// Every alert is named by an Alert_<n>_AlertName key; its result is
// Alert_<n>_AuthenticationResult ("Passed" passes, anything else, missing
// included, fails).
func parseAlerts(g map[string][]string) ([]Alert, error) {
	byNum := map[string]*Alert{} // by the number as written ("1" and "01" are two alerts)
	for key, vals := range g {
		if !strings.HasPrefix(key, "Alert_") || !strings.HasSuffix(key, "_AlertName") {
			continue
		}
		m := alertNameKey.FindStringSubmatch(key)
		if m == nil || len(vals) == 0 || strings.TrimSpace(vals[0]) == "" {
			return nil, errAlertName
		}
		a := &Alert{Name: strings.TrimSpace(vals[0])}
		if res := g["Alert_"+m[1]+"_AuthenticationResult"]; len(res) > 0 {
			a.Result = strings.TrimSpace(res[0])
		}
		if e, ok := alertErrors[a.Name]; ok {
			a.Side = e[0]
		}
		byNum[m[1]] = a
	}
	nums := make([]string, 0, len(byNum))
	for n := range byNum {
		nums = append(nums, n)
	}
	slices.SortFunc(nums, func(a, b string) int {
		x, _ := strconv.Atoi(a)
		y, _ := strconv.Atoi(b)
		if x != y {
			return x - y
		}
		return strings.Compare(a, b)
	})
	out := make([]Alert, 0, len(nums))
	for _, n := range nums {
		out = append(out, *byNum[n])
	}
	return out, nil
}

// Alerts are the TrueID alerts, in Alert_<n>_ order.
func (r *Response) Alerts() []Alert { return slices.Clone(r.alerts) }

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
		return "identification_card"
	case class == "Drivers License":
		return "drivers_license"
	}
	return ""
}

// expectedTypes are the document types proofline asks TrueID for (Login.gov's
// supported state-ID types): a passport or an unrecognised class is not one.
var expectedTypes = []string{"drivers_license", "state_id_card", "identification_card"}

// idTypeOK: a supported class, country and issuer type (Login.gov's
// id_type_supported?: a missing or "Unknown" class is not unsupported) and,
// when TrueID named a type, one we asked for.
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
	rt := r.receivedType()
	return rt == "" || slices.Contains(expectedTypes, rt)
}

// expectedTypeReceived: TrueID recognised the document as a type we asked
// for (Login.gov's expected_document_type_received?). A missing, empty or
// "Unknown" class is not.
func (r *Response) expectedTypeReceived() bool {
	return slices.Contains(expectedTypes, r.receivedType())
}

// imageMetricError judges the image metrics as Login.gov does: DPI on every
// side first (a side without a resolution is 0 DPI), then sharpness on every
// side, then glare; the first check that fails a side gives the code and
// every side it failed. Sharpness and glare are judged only where reported.
func (t *TrueID) imageMetricError(r *Response) (string, []string) {
	g := r.TrueID["IMAGE_METRICS_RESULT"]
	type side struct {
		name string
		i    int
	}
	var sides []side
	for i, s := range g["Side"] {
		s = strings.ToLower(strings.TrimSpace(s))
		if (s == FieldFront || s == FieldBack) && !slices.ContainsFunc(sides, func(x side) bool { return x.name == s }) {
			sides = append(sides, side{s, i})
		}
	}
	metric := func(name string, i int) (int, bool) {
		v := g[name]
		if i >= len(v) {
			return 0, false
		}
		return leadingInt(v[i]), true
	}
	var failed []string
	for _, s := range sides {
		h, _ := metric("HorizontalResolution", s.i)
		v, _ := metric("VerticalResolution", s.i)
		if h < t.cfg.DPIThreshold || v < t.cfg.DPIThreshold {
			failed = append(failed, s.name)
		}
	}
	if len(failed) > 0 {
		return ErrDPILow, failed
	}
	for _, check := range []struct {
		metric, code string
		threshold    int
	}{
		{"SharpnessMetric", ErrSharpLow, t.cfg.SharpnessThreshold},
		{"GlareMetric", ErrGlareLow, t.cfg.GlareThreshold},
	} {
		for _, s := range sides {
			if n, ok := metric(check.metric, s.i); ok && n < check.threshold {
				failed = append(failed, s.name)
			}
		}
		if len(failed) > 0 {
			return check.code, failed
		}
	}
	return "", nil
}

// leadingInt reads a metric as Ruby's String#to_i does: the leading
// integer, 0 when there is none.
func leadingInt(s string) int {
	s = strings.TrimLeft(s, " \t\n\r")
	neg := false
	if s != "" && (s[0] == '-' || s[0] == '+') {
		neg, s = s[0] == '-', s[1:]
	}
	n := 0
	for _, c := range []byte(s) {
		if c < '0' || c > '9' || n > 1<<30 {
			break
		}
		n = n*10 + int(c-'0')
	}
	if neg {
		return -n
	}
	return n
}

// Evaluate turns a parsed answer with a TrueID product into a result.
//
// Success is TransactionStatus "passed", a supported document of a type we
// asked for (a driver's licence, state ID card or identification card: an
// answer that names no class, or "Unknown", is not one) and, with liveness,
// FaceMatchResult "Pass". Otherwise the errors are Login.gov's, in its
// order, each as a code under "general" and under every side it concerns (a
// failure of the whole ID flags "front" and "back"):
//
//  1. an unsupported or unexpected document: doc_type_check;
//  2. image metrics (imageMetricError);
//  3. failed alerts (only when DocAuthResult is not "Passed"), counted one
//     by one, with the failed selfie counted as one more: one gives its own
//     code, several on one side multiple_front_id_failures,
//     multiple_back_id_failures or (the whole ID) general_error, several on
//     different sides general_error; none general_error. Alerts outside the
//     table are not counted.
func (t *TrueID) Evaluate(r *Response, live bool) *proofer.VendorResult {
	out := &proofer.VendorResult{Vendor: Name, TransactionID: r.TransactionID, Errors: map[string][]string{}}
	docResult := r.get("AUTHENTICATION_RESULT", "DocAuthResult")
	out.DocResult = docResult
	out.Billed = docResult != ""
	for _, a := range r.alerts {
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
	if passed && typeOK && r.expectedTypeReceived() && faceOK {
		return out
	}
	fail := func(code string, sides ...string) {
		out.Errors[FieldGeneral] = []string{code}
		for _, side := range sides {
			if side == sideID {
				out.Errors[FieldFront] = []string{code}
				out.Errors[FieldBack] = []string{code}
			} else {
				out.Errors[side] = []string{code}
			}
		}
	}
	// 1. document type.
	if !typeOK {
		fail(ErrDocTypeCheck, sideID)
		return out
	}
	if _, ok := r.TrueID["AUTHENTICATION_RESULT"]; !ok {
		fail(ErrGeneral) // TrueID gave no details
		return out
	}
	// 2. image metrics.
	if code, sides := t.imageMetricError(r); code != "" {
		fail(code, sides...)
		return out
	}
	// 3. failed alerts and the selfie, counted one by one.
	count := 0
	var code string
	var sides []string
	note := func(side, c string) {
		count++
		code = c
		if !slices.Contains(sides, side) {
			sides = append(sides, side)
		}
	}
	if docResult != "Passed" {
		for _, a := range r.alerts {
			if a.Result == "Passed" {
				continue
			}
			if e, ok := alertErrors[a.Name]; ok {
				note(e[0], e[1])
			}
		}
	}
	if !faceOK {
		msg := r.get("PORTRAIT_MATCH_RESULT", "FaceErrorMessage")
		if strings.Contains(msg, "NotLive") || strings.Contains(msg, "PoorQuality") {
			note(FieldSelfie, ErrSelfieNotLive)
		} else {
			note(FieldSelfie, ErrSelfieFailure)
		}
	}
	switch {
	case count == 1:
		fail(code, sides[0])
	case count > 1 && len(sides) == 1 && sides[0] == FieldFront:
		fail(ErrMultipleFront, FieldFront)
	case count > 1 && len(sides) == 1 && sides[0] == FieldBack:
		fail(ErrMultipleBack, FieldBack)
	default:
		fail(ErrGeneral, sideID)
	}
	return out
}

// pii reads pii_from_doc from IDAUTH_FIELD_DATA (sex from
// AUTHENTICATION_RESULT, as Login.gov does).
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
	// The expiration day is "Fields_xpirationDate_Day" (sic) in TrueID's
	// answers; the spelled-out name is read if it ever comes instead.
	expDay := f("Fields_xpirationDate_Day")
	if expDay == "" {
		expDay = f("Fields_ExpirationDate_Day")
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
		Address2:            proofline.PII(f("Fields_AddressLine2")),
		NameSuffix:          proofline.PII(f("Fields_NameSuffix")),
		Sex:                 proofline.PII(sex(r.get("AUTHENTICATION_RESULT", "Sex"))),
		Height:              proofline.PII(heightInches(f("Fields_Height"))),
		StateIDExpiration:   proofline.PII(date(f("Fields_ExpirationDate_Year"), f("Fields_ExpirationDate_Month"), expDay)),
		StateIDIssued:       proofline.PII(date(f("Fields_IssueDate_Year"), f("Fields_IssueDate_Month"), f("Fields_IssueDate_Day"))),
		IssuingCountryCode:  proofline.PII(f("Fields_CountryCode")),
	}
}

// sex is "male" or "female"; any other marking ("Non-Binary", "Not
// Specified", ...) is left out, since the DMV check can verify only those two.
func sex(s string) string {
	switch s {
	case "Male":
		return "male"
	case "Female":
		return "female"
	}
	return ""
}

var heightRE = regexp.MustCompile(`(\d)' ?(\d{1,2})"`)

// heightInches reads a printed height (5'08" or 5' 8") as whole inches.
func heightInches(s string) string {
	m := heightRE.FindStringSubmatch(s)
	if m == nil {
		return ""
	}
	feet, _ := strconv.Atoi(m[1])
	inches, _ := strconv.Atoi(m[2])
	return strconv.Itoa(feet*12 + inches)
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
