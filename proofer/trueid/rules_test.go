package trueid_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/proofline/proofline"
	"github.com/proofline/proofline/proofer"
	"github.com/proofline/proofline/proofer/trueid"
	"github.com/proofline/proofline/proofer/vendorhttp"
)

// These tests read a realistic TrueID answer (testdata/responses/dl_passed.json:
// every group TrueID returns, twenty alerts with regions, both image sides,
// the full IDAUTH_FIELD_DATA, a TrueID_Decision product; synthetic person)
// and change one thing at a time, the way the vendor's answers differ.

type param struct {
	Group  string           `json:"Group"`
	Name   string           `json:"Name"`
	Values []map[string]any `json:"Values"`
}

type answer struct {
	raw    map[string]any
	params []param
}

func loadAnswer(t *testing.T) *answer {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "responses", "dl_passed.json"))
	if err != nil {
		t.Fatal(err)
	}
	a := &answer{}
	if err := json.Unmarshal(b, &a.raw); err != nil {
		t.Fatal(err)
	}
	pb, _ := json.Marshal(a.raw["Products"].([]any)[0].(map[string]any)["ParameterDetails"])
	if err := json.Unmarshal(pb, &a.params); err != nil {
		t.Fatal(err)
	}
	return a
}

// set replaces (or adds) group/name with values.
func (a *answer) set(group, name string, values ...string) *answer {
	vs := make([]map[string]any, 0, len(values))
	for _, v := range values {
		vs = append(vs, map[string]any{"Value": v})
	}
	for i := range a.params {
		if a.params[i].Group == group && a.params[i].Name == name {
			a.params[i].Values = vs
			return a
		}
	}
	a.params = append(a.params, param{Group: group, Name: name, Values: vs})
	return a
}

// setRaw replaces (or adds) group/name with raw Values entries.
func (a *answer) setRaw(group, name string, values []map[string]any) *answer {
	a.del(group, name)
	a.params = append(a.params, param{Group: group, Name: name, Values: values})
	return a
}

func (a *answer) del(group, name string) *answer {
	out := a.params[:0]
	for _, p := range a.params {
		if !(p.Group == group && p.Name == name) {
			out = append(out, p)
		}
	}
	a.params = out
	return a
}

// alert sets the result of the alert named name (it must exist).
func (a *answer) alert(t *testing.T, name, result string) *answer {
	t.Helper()
	for _, p := range a.params {
		if p.Group == "AUTHENTICATION_RESULT" && strings.HasSuffix(p.Name, "_AlertName") && len(p.Values) == 1 && p.Values[0]["Value"] == name {
			return a.set("AUTHENTICATION_RESULT", strings.TrimSuffix(p.Name, "AlertName")+"AuthenticationResult", result)
		}
	}
	t.Fatalf("no alert %q in the fixture", name)
	return a
}

// addAlert appends a new alert (Alert_<n>_ after the last one).
func (a *answer) addAlert(name, result string) *answer {
	n := 1
	for _, p := range a.params {
		if strings.HasPrefix(p.Name, "Alert_") && strings.HasSuffix(p.Name, "_AlertName") {
			n++
		}
	}
	prefix := "Alert_" + itoa(n) + "_"
	return a.set("AUTHENTICATION_RESULT", prefix+"AlertName", name).set("AUTHENTICATION_RESULT", prefix+"AuthenticationResult", result)
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

// failed marks the transaction failed with a DocAuthResult.
func (a *answer) failed(docResult string) *answer {
	st := a.raw["Status"].(map[string]any)
	st["TransactionStatus"] = "failed"
	st["TransactionReasonCode"] = map[string]any{"Code": "failed_true_id", "Description": "Failed: TrueID document authentication"}
	a.raw["Products"].([]any)[0].(map[string]any)["ProductStatus"] = "fail"
	return a.set("AUTHENTICATION_RESULT", "DocAuthResult", docResult)
}

func (a *answer) body(t *testing.T) []byte {
	t.Helper()
	a.raw["Products"].([]any)[0].(map[string]any)["ParameterDetails"] = a.params
	b, err := json.Marshal(a.raw)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func evaluator(t *testing.T) *trueid.TrueID {
	t.Helper()
	hc, err := vendorhttp.New(vendorhttp.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(hc.Close)
	ti, err := trueid.New(trueid.Config{BaseURL: "https://trueid.example.test", AccountID: "a", Username: "u", Password: proofline.Secret("p"), Workflows: workflows}, hc)
	if err != nil {
		t.Fatal(err)
	}
	return ti
}

func evaluate(t *testing.T, a *answer, live bool) *proofer.VendorResult {
	t.Helper()
	r, err := trueid.ParseResponse(a.body(t))
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	return evaluator(t).Evaluate(r, live)
}

// idErr is an error of the whole ID: general, front and back.
func idErr(code string) map[string][]string {
	return map[string][]string{"general": {code}, "front": {code}, "back": {code}}
}

func TestRealisticAnswerPasses(t *testing.T) {
	t.Parallel()
	vr := evaluate(t, loadAnswer(t), false)
	if !vr.Success() || vr.DocResult != "Passed" || !vr.Billed || vr.TransactionID != "70000000000042" || len(vr.Alerts) != 20 {
		t.Fatalf("errors %v result %q billed %v alerts %d", vr.Errors, vr.DocResult, vr.Billed, len(vr.Alerts))
	}
}

// A passing answer that does not say which document it read is not a
// success: Login.gov requires the received type to be one it asked for.
func TestPassingAnswerNeedsARecognisedDocumentClass(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name string
		mut  func(a *answer)
		want map[string][]string
	}{
		{"class Unknown", func(a *answer) { a.set("AUTHENTICATION_RESULT", "DocClassName", "Unknown") }, idErr("general_error")},
		{"class empty", func(a *answer) { a.set("AUTHENTICATION_RESULT", "DocClassName", "") }, idErr("general_error")},
		{"class missing", func(a *answer) { a.del("AUTHENTICATION_RESULT", "DocClassName") }, idErr("general_error")},
		{"class without a value", func(a *answer) { a.setRaw("AUTHENTICATION_RESULT", "DocClassName", []map[string]any{{}}) }, idErr("general_error")},
		{"class without values", func(a *answer) { a.setRaw("AUTHENTICATION_RESULT", "DocClassName", []map[string]any{}) }, idErr("general_error")},
		{"class a number", func(a *answer) { a.setRaw("AUTHENTICATION_RESULT", "DocClassName", []map[string]any{{"Value": 3}}) }, idErr("doc_type_check")},
		{"class not a document type", func(a *answer) { a.set("AUTHENTICATION_RESULT", "DocClassName", "Non-Document-Type") }, idErr("doc_type_check")},
		{"a passport", func(a *answer) {
			a.set("AUTHENTICATION_RESULT", "DocClassName", "Passport").set("AUTHENTICATION_RESULT", "DocIssueType", "Passport - STAR")
		}, idErr("doc_type_check")},
		{"a passport card", func(a *answer) { a.set("AUTHENTICATION_RESULT", "DocIssueType", "Passport Card") }, idErr("doc_type_check")},
		{"issued by a library", func(a *answer) {
			a.set("AUTHENTICATION_RESULT", "DocClassName", "Identification Card").set("AUTHENTICATION_RESULT", "DocIssuerType", "Library")
		}, idErr("doc_type_check")},
		{"issued in an unsupported country", func(a *answer) { a.set("IDAUTH_FIELD_DATA", "Fields_CountryCode", "CAN") }, idErr("doc_type_check")},
	} {
		a := loadAnswer(t)
		c.mut(a)
		vr := evaluate(t, a, false)
		if vr.Success() || !reflect.DeepEqual(vr.Errors, c.want) {
			t.Errorf("%s: success %v errors %v, want %v", c.name, vr.Success(), vr.Errors, c.want)
		}
	}
}

func TestIdentificationCardIsIdentificationCard(t *testing.T) {
	t.Parallel()
	a := loadAnswer(t)
	a.set("AUTHENTICATION_RESULT", "DocClassName", "Identification Card").set("AUTHENTICATION_RESULT", "DocIssueType", "Identification Card - STAR")
	vr := evaluate(t, a, false)
	if !vr.Success() {
		t.Fatalf("identification card refused: %v", vr.Errors)
	}
	if got := vr.PIIFromDoc.StateIDType.Reveal(); got != "identification_card" {
		t.Errorf("state_id_type %q, want identification_card", got)
	}
	if got := evaluate(t, loadAnswer(t), false).PIIFromDoc.StateIDType.Reveal(); got != "drivers_license" {
		t.Errorf("drivers licence read as %q", got)
	}
}

// An alert whose name cannot be read (the shape of Login.gov's malformed
// fixture: "Alert__AlertName" with an empty value) makes the answer unusable:
// an exception, not an alert quietly skipped.
func TestUnreadableAlertNameIsAnException(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name string
		mut  func(a *answer)
	}{
		{"no alert number, no value", func(a *answer) {
			a.setRaw("AUTHENTICATION_RESULT", "Alert__AlertName", []map[string]any{{}})
		}},
		{"three-digit alert number", func(a *answer) { a.set("AUTHENTICATION_RESULT", "Alert_123_AlertName", "Visible Pattern") }},
		{"empty name", func(a *answer) { a.set("AUTHENTICATION_RESULT", "Alert_4_AlertName", "") }},
		{"no values", func(a *answer) { a.setRaw("AUTHENTICATION_RESULT", "Alert_5_AlertName", []map[string]any{}) }},
	} {
		a := loadAnswer(t)
		c.mut(a)
		if r, err := trueid.ParseResponse(a.body(t)); err == nil {
			t.Errorf("%s: parsed (%d alerts)", c.name, len(r.Alerts()))
		}
	}
}

// A failed alert of the whole ID (side "id") flags the front and the back.
func TestFailedDocumentFlagsFrontAndBack(t *testing.T) {
	t.Parallel()
	a := loadAnswer(t).failed("Failed").alert(t, "Document Expired", "Failed")
	if vr := evaluate(t, a, false); !reflect.DeepEqual(vr.Errors, idErr("doc_expired_check")) {
		t.Errorf("errors %v", vr.Errors)
	}
	// A front-only alert flags the front only.
	a = loadAnswer(t).failed("Failed").alert(t, "Photo Printing", "Failed")
	if vr := evaluate(t, a, false); !reflect.DeepEqual(vr.Errors, map[string][]string{"general": {"visible_photo_check"}, "front": {"visible_photo_check"}}) {
		t.Errorf("front alert: errors %v", vr.Errors)
	}
}

// Failed alerts are counted one by one, even when two share a code.
func TestFailedAlertsCountedPerAlert(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name   string
		alerts []string
		want   map[string][]string
	}{
		{"two front alerts, one code", []string{"Photo Printing", "Visible Photo Characteristics"},
			map[string][]string{"general": {"multiple_front_id_failures"}, "front": {"multiple_front_id_failures"}}},
		{"two id alerts, one code", []string{"Birth Date Crosscheck", "Birth Date Valid"}, idErr("general_error")},
		{"two back alerts", []string{"2D Barcode Read", "2D Barcode Content"},
			map[string][]string{"general": {"multiple_back_id_failures"}, "back": {"multiple_back_id_failures"}}},
		{"front and back", []string{"Photo Printing", "Control Number Crosscheck"}, idErr("general_error")},
		{"one back alert", []string{"1D Control Number Valid"}, map[string][]string{"general": {"ref_control_number_check"}, "back": {"ref_control_number_check"}}},
	} {
		a := loadAnswer(t).failed("Failed")
		for _, n := range c.alerts {
			a.alert(t, n, "Failed")
		}
		if vr := evaluate(t, a, false); !reflect.DeepEqual(vr.Errors, c.want) {
			t.Errorf("%s: errors %v, want %v", c.name, vr.Errors, c.want)
		}
	}
	// An alert the table does not know is not counted: alone, the error is
	// general; beside one known alert, the known one is the error.
	a := loadAnswer(t).failed("Failed").addAlert("Document Tampering Detection", "Failed")
	if vr := evaluate(t, a, false); !reflect.DeepEqual(vr.Errors, idErr("general_error")) {
		t.Errorf("unknown alert: errors %v", vr.Errors)
	}
	a = loadAnswer(t).failed("Failed").addAlert("Document Tampering Detection", "Failed").alert(t, "Sex Crosscheck", "Caution")
	if vr := evaluate(t, a, false); !reflect.DeepEqual(vr.Errors, idErr("sex_check")) {
		t.Errorf("unknown and known alert: errors %v", vr.Errors)
	}
	// Alerts do not count when DocAuthResult is Passed.
	a = loadAnswer(t).failed("Passed").alert(t, "Document Expired", "Failed")
	if vr := evaluate(t, a, false); !reflect.DeepEqual(vr.Errors, idErr("general_error")) {
		t.Errorf("DocAuthResult Passed: errors %v", vr.Errors)
	}
}

// Image metrics: DPI on every side first, then sharpness, then glare; a
// side without a resolution is 0 DPI.
func TestImageMetricsOrder(t *testing.T) {
	t.Parallel()
	const im = "IMAGE_METRICS_RESULT"
	for _, c := range []struct {
		name string
		mut  func(a *answer)
		want map[string][]string
	}{
		{"glare on the front, DPI on the back", func(a *answer) {
			a.set(im, "GlareMetric", "12", "96").set(im, "HorizontalResolution", "603", "250")
		}, map[string][]string{"general": {"dpi_low"}, "back": {"dpi_low"}}},
		{"sharpness on the front, glare on the back", func(a *answer) {
			a.set(im, "SharpnessMetric", "20", "59").set(im, "GlareMetric", "100", "10")
		}, map[string][]string{"general": {"sharp_low"}, "front": {"sharp_low"}}},
		{"glare on the back", func(a *answer) { a.set(im, "GlareMetric", "100", "10") }, map[string][]string{"general": {"glare_low"}, "back": {"glare_low"}}},
		{"vertical DPI low on both sides", func(a *answer) { a.set(im, "VerticalResolution", "200", "289") }, idErr("dpi_low")},
		{"no resolution for the back", func(a *answer) {
			a.set(im, "HorizontalResolution", "603").set(im, "VerticalResolution", "603")
		}, map[string][]string{"general": {"dpi_low"}, "back": {"dpi_low"}}},
		{"no resolution at all", func(a *answer) { a.del(im, "HorizontalResolution").del(im, "VerticalResolution") }, idErr("dpi_low")},
		{"no sharpness or glare: not judged", func(a *answer) { a.del(im, "SharpnessMetric").del(im, "GlareMetric") }, idErr("doc_expired_check")},
	} {
		a := loadAnswer(t).failed("Failed").alert(t, "Document Expired", "Failed")
		c.mut(a)
		if vr := evaluate(t, a, false); !reflect.DeepEqual(vr.Errors, c.want) {
			t.Errorf("%s: errors %v, want %v", c.name, vr.Errors, c.want)
		}
	}
}

func TestSelfieFailureSetsGeneral(t *testing.T) {
	t.Parallel()
	const pm = "PORTRAIT_MATCH_RESULT"
	live := func(result, msg string) *answer {
		return loadAnswer(t).set(pm, "FaceMatchResult", result).set(pm, "FaceMatchScore", "0").set(pm, "FaceStatusCode", "0").set(pm, "FaceErrorMessage", msg)
	}
	if vr := evaluate(t, live("Pass", "Successful. Liveness: Live"), true); !vr.Success() {
		t.Fatalf("live selfie refused: %v", vr.Errors)
	}
	for _, c := range []struct {
		msg, code string
	}{
		{"Liveness: NotLive", "selfie_not_live_or_poor_quality"},
		{"Liveness: PoorQuality", "selfie_not_live_or_poor_quality"},
		{"Successful. Liveness: Live", "selfie_failure"},
	} {
		a := live("Fail", c.msg)
		a.raw["Status"].(map[string]any)["TransactionStatus"] = "failed"
		vr := evaluate(t, a, true)
		if want := map[string][]string{"general": {c.code}, "selfie": {c.code}}; !reflect.DeepEqual(vr.Errors, want) {
			t.Errorf("%s: errors %v, want %v", c.msg, vr.Errors, want)
		}
	}
	// A failed selfie beside a failed document alert: one general error of the ID.
	a := live("Fail", "Liveness: NotLive").failed("Failed").alert(t, "Document Expired", "Failed")
	if vr := evaluate(t, a, true); !reflect.DeepEqual(vr.Errors, idErr("general_error")) {
		t.Errorf("selfie and document: errors %v", vr.Errors)
	}
}

func TestPIIFromDocument(t *testing.T) {
	t.Parallel()
	vr := evaluate(t, loadAnswer(t), false)
	want := map[string]string{
		"first_name": "JOHN", "middle_name": "QUINCY", "last_name": "SAMPLEPERSON", "name_suffix": "III",
		"address1": "1000 TEST ST", "address2": "APT 2B", "city": "FAKETOWN", "state": "MT", "zipcode": "59010-1234",
		"dob": "1975-03-14", "sex": "male", "height": "70",
		"state_id_number": "S99988801", "state_id_jurisdiction": "MT", "state_id_type": "drivers_license",
		"state_id_expiration": "2031-03-14", "state_id_issued": "2023-03-14", "issuing_country_code": "USA",
	}
	if got := revealed(t, vr.PIIFromDoc); !reflect.DeepEqual(got, want) {
		t.Errorf("pii_from_doc\n got %v\nwant %v", got, want)
	}
	// Values the document may lack or print otherwise.
	a := loadAnswer(t).set("AUTHENTICATION_RESULT", "Sex", "Non-Binary").set("IDAUTH_FIELD_DATA", "Fields_Height", "5'07\"").
		del("IDAUTH_FIELD_DATA", "Fields_AddressLine2").del("IDAUTH_FIELD_DATA", "Fields_NameSuffix").
		set("IDAUTH_FIELD_DATA", "Fields_xpirationDate_Day", "31").set("IDAUTH_FIELD_DATA", "Fields_ExpirationDate_Month", "2").
		del("IDAUTH_FIELD_DATA", "Fields_IssueDate_Day").del("IDAUTH_FIELD_DATA", "Fields_CountryCode")
	got := revealed(t, evaluate(t, a, false).PIIFromDoc)
	for _, k := range []string{"sex", "address2", "name_suffix", "state_id_expiration", "state_id_issued", "issuing_country_code"} {
		if _, ok := got[k]; ok {
			t.Errorf("%s = %q, want none", k, got[k])
		}
	}
	if got["height"] != "67" {
		t.Errorf("height %q, want 67", got["height"])
	}
	a = loadAnswer(t).set("AUTHENTICATION_RESULT", "Sex", "Female").set("IDAUTH_FIELD_DATA", "Fields_Height", "tall")
	got = revealed(t, evaluate(t, a, false).PIIFromDoc)
	if got["sex"] != "female" || got["height"] != "" {
		t.Errorf("sex %q height %q", got["sex"], got["height"])
	}
}

// revealed is the document PII as its revealed JSON, without empty fields.
func revealed(t *testing.T, p *proofline.DocumentPII) map[string]string {
	t.Helper()
	if p == nil {
		t.Fatal("no pii_from_doc")
	}
	b, err := p.MarshalRevealed()
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]string
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for k, v := range m {
		if v == "" {
			delete(m, k)
		}
	}
	return m
}
