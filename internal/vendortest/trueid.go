package vendortest

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
)

// TrueID scenarios: a front image whose bytes start with "scenario:<name>"
// selects one; any other image passes.
const (
	TIPass          = "pass"
	TIGlare         = "glare"         // back glare below the threshold
	TIDPI           = "dpi"           // front at 250 DPI
	TIExpired       = "expired"       // failed: Document Expired (the whole ID)
	TIPhoto         = "photo"         // failed: both front photo alerts (one code, two alerts)
	TIManyBack      = "many-back"     // failed: two back alerts with different codes
	TIManyMixed     = "many-mixed"    // failed: alerts on several sides
	TIPassport      = "passport"      // passed, but a passport was not asked for
	TIUnknownClass  = "unknown-class" // passed, but DocClassName is "Unknown"
	TINoClass       = "no-class"      // passed, but without DocClassName
	TIIDCard        = "id-card"       // passed: an "Identification Card"
	TIBadAlert      = "bad-alert"     // passed, with an alert name that cannot be read
	TINotLive       = "not-live"      // liveness: face match fails, NotLive
	TIFaceFail      = "face-fail"     // liveness: face match fails otherwise
	TICommunication = "communication" // error, no TrueID product
	TIStatus500     = "status500"
	TISlow          = "slow"
	TIMalformed     = "malformed"
)

// TrueIDImage is an image that selects scenario.
func TrueIDImage(scenario string) []byte { return []byte("scenario:" + scenario + "\n") }

type tiRequest struct {
	Type     string
	Settings struct{ Mode, Locale, Venue, Reference string }
	Document struct {
		Front, Back, Selfie, DocumentType string
		// ImageCroppingMode is a JSON integer: 0 (none) or 3 (always).
		ImageCroppingMode *int
	}
}

func pd(group, name string, values ...string) map[string]any {
	vs := make([]any, 0, len(values))
	for _, v := range values {
		vs = append(vs, map[string]any{"Value": v})
	}
	return map[string]any{"Group": group, "Name": name, "Values": vs}
}

func (s *LexisNexis) trueID(w http.ResponseWriter, r *http.Request, body []byte) {
	var req tiRequest
	if err := json.Unmarshal(body, &req); err != nil || req.Type != "Initiate" || req.Document.Front == "" || req.Document.DocumentType != "DriversLicense" ||
		req.Document.ImageCroppingMode == nil || (*req.Document.ImageCroppingMode != 0 && *req.Document.ImageCroppingMode != 3) {
		writeJSON(w, http.StatusBadRequest, map[string]any{"status": map[string]any{"code": 400, "message": "bad request"}})
		return
	}
	front, _ := base64.StdEncoding.DecodeString(req.Document.Front)
	scenario := TIPass
	if rest, ok := strings.CutPrefix(string(front), "scenario:"); ok {
		scenario, _, _ = strings.Cut(rest, "\n")
	}
	workflow := strings.Split(strings.Trim(r.URL.Path, "/"), "/")[6]
	liveness := strings.Contains(workflow, "liveness") && !strings.Contains(workflow, "noliveness")
	if liveness != (req.Document.Selfie != "") {
		writeJSON(w, http.StatusBadRequest, map[string]any{"status": map[string]any{"code": 400, "message": "selfie and workflow disagree"}})
		return
	}
	switch scenario {
	case TISlow:
		s.slow(w, r)
		return
	case TIStatus500:
		reflectPII(w, []byte("front image "+req.Document.Front[:min(16, len(req.Document.Front))]))
		return
	case TIMalformed:
		malformed(w, []byte(req.Settings.Reference))
		return
	case TICommunication:
		writeJSON(w, http.StatusOK, map[string]any{
			"Status":   map[string]any{"ConversationId": "70000000000001", "TransactionStatus": "error", "TransactionReasonCode": map[string]any{"Code": "communications_error"}, "Reference": req.Settings.Reference},
			"Products": []any{map[string]any{"ExecutedStepName": "True_ID_Step", "ProductStatus": "error"}},
		})
		return
	}
	status, docResult := "passed", "Passed"
	class, issueType := "Drivers License", "Driver's License - STAR"
	dpi := []string{"600", "600"}
	sharp := []string{"60", "60"}
	glare := []string{"100", "100"}
	alerts := [][2]string{{"Document Expired", "Passed"}, {"2D Barcode Read", "Passed"}, {"Visible Pattern", "Passed"}, {"Photo Printing", "Passed"}}
	face, faceMsg := "Pass", "Successful. Liveness: Live"
	switch scenario {
	case TIGlare:
		glare[1] = "20"
		status, docResult = "failed", "Failed"
	case TIDPI:
		dpi[0] = "250"
		status, docResult = "failed", "Failed"
	case TIExpired:
		alerts[0][1] = "Failed"
		status, docResult = "failed", "Failed"
	case TIPhoto:
		alerts = append(alerts, [2]string{"Visible Photo Characteristics", "Failed"})
		alerts[3][1] = "Failed"
		status, docResult = "failed", "Failed"
	case TIManyBack:
		alerts[1][1] = "Failed"
		alerts = append(alerts, [2]string{"Control Number Crosscheck", "Failed"})
		status, docResult = "failed", "Failed"
	case TIManyMixed:
		alerts[1][1], alerts[2][1] = "Attention", "Failed"
		alerts = append(alerts, [2]string{"Document Tampering Detection", "Failed"})
		status, docResult = "failed", "Attention"
	case TIPassport:
		class, issueType = "Passport", "Passport"
	case TIUnknownClass:
		class, issueType = "Unknown", "Unknown"
	case TINoClass:
		class = ""
	case TIIDCard:
		class, issueType = "Identification Card", "Identification Card - STAR"
	case TINotLive:
		face, faceMsg = "Fail", "Liveness: NotLive"
		status = "failed"
	case TIFaceFail:
		face, faceMsg = "Fail", "Successful. Liveness: Live"
		status = "failed"
	}
	params := []any{
		pd("AUTHENTICATION_RESULT", "DocAuthResult", docResult),
		pd("AUTHENTICATION_RESULT", "DocIssueType", issueType),
		pd("AUTHENTICATION_RESULT", "DocClass", strings.ReplaceAll(class, " ", "")),
		pd("AUTHENTICATION_RESULT", "DocIssuerType", "StateProvince"),
		pd("AUTHENTICATION_RESULT", "DocIssuerCode", "VA"),
		pd("AUTHENTICATION_RESULT", "Sex", "Female"),
		pd("AUTHENTICATION_RESULT", "FullName", "TESTY Q MCTESTFACE"),
		pd("IMAGE_METRICS_RESULT", "Side", "Front", "Back"),
		pd("IMAGE_METRICS_RESULT", "GlareMetric", glare...),
		pd("IMAGE_METRICS_RESULT", "SharpnessMetric", sharp...),
		pd("IMAGE_METRICS_RESULT", "HorizontalResolution", dpi...),
		pd("IMAGE_METRICS_RESULT", "VerticalResolution", dpi...),
		pd("IDAUTH_FIELD_DATA", "Fields_FirstName", "TESTY"),
		pd("IDAUTH_FIELD_DATA", "Fields_MiddleName", "Q"),
		pd("IDAUTH_FIELD_DATA", "Fields_Surname", "MCTESTFACE"),
		pd("IDAUTH_FIELD_DATA", "Fields_AddressLine1", "123 EXAMPLE AVE"),
		pd("IDAUTH_FIELD_DATA", "Fields_AddressLine2", "UNIT 5"),
		pd("IDAUTH_FIELD_DATA", "Fields_Height", "5'04\""),
		pd("IDAUTH_FIELD_DATA", "Fields_IssueDate_Year", "2022"),
		pd("IDAUTH_FIELD_DATA", "Fields_IssueDate_Month", "2"),
		pd("IDAUTH_FIELD_DATA", "Fields_IssueDate_Day", "9"),
		pd("IDAUTH_FIELD_DATA", "Fields_City", "SPRINGFIELD"),
		pd("IDAUTH_FIELD_DATA", "Fields_State", "VA"),
		pd("IDAUTH_FIELD_DATA", "Fields_PostalCode", "201901234"),
		pd("IDAUTH_FIELD_DATA", "Fields_DOB_Year", "1984"),
		pd("IDAUTH_FIELD_DATA", "Fields_DOB_Month", "2"),
		pd("IDAUTH_FIELD_DATA", "Fields_DOB_Day", "9"),
		pd("IDAUTH_FIELD_DATA", "Fields_DocumentNumber", "T1234567"),
		pd("IDAUTH_FIELD_DATA", "Fields_IssuingStateCode", "VA"),
		pd("IDAUTH_FIELD_DATA", "Fields_CountryCode", "USA"),
		pd("IDAUTH_FIELD_DATA", "Fields_ExpirationDate_Year", "2030"),
		pd("IDAUTH_FIELD_DATA", "Fields_ExpirationDate_Month", "2"),
		pd("IDAUTH_FIELD_DATA", "Fields_xpirationDate_Day", "9"),
	}
	if class != "" {
		params = append(params, pd("AUTHENTICATION_RESULT", "DocClassName", class))
	}
	if scenario == TIBadAlert {
		// Login.gov's malformed fixture: a name key without a number or a value.
		params = append(params, map[string]any{"Group": "AUTHENTICATION_RESULT", "Name": "Alert__AlertName", "Values": []any{map[string]any{}}})
	}
	for i, a := range alerts {
		n := "Alert_" + string(rune('1'+i)) + "_"
		params = append(params,
			pd("AUTHENTICATION_RESULT", n+"AlertName", a[0]),
			pd("AUTHENTICATION_RESULT", n+"AuthenticationResult", a[1]),
			pd("AUTHENTICATION_RESULT", n+"Disposition", "synthetic"),
		)
	}
	if liveness {
		params = append(params,
			pd("PORTRAIT_MATCH_RESULT", "FaceMatchResult", face),
			pd("PORTRAIT_MATCH_RESULT", "FaceMatchScore", "99"),
			pd("PORTRAIT_MATCH_RESULT", "FaceErrorMessage", faceMsg),
		)
	}
	code := "trueid_pass"
	if status != "passed" {
		code = "failed_true_id"
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"Status": map[string]any{"ConversationId": "70000000000001", "RequestId": "71000000", "TransactionStatus": status,
			"TransactionReasonCode": map[string]any{"Code": code}, "Reference": req.Settings.Reference, "ServerInfo": "synthetic"},
		"Products": []any{
			map[string]any{"ProductType": "TrueID", "ExecutedStepName": "True_ID_Step", "ProductStatus": "pass", "ParameterDetails": params},
			map[string]any{"ProductType": "TrueID_Decision", "ExecutedStepName": "True_ID_Decision", "ProductStatus": "pass"},
		},
	})
}
