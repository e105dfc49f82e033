package trueid_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/proofline/proofline"
	"github.com/proofline/proofline/internal/vendortest"
	"github.com/proofline/proofline/proofer"
	"github.com/proofline/proofline/proofer/trueid"
	"github.com/proofline/proofline/proofer/vendorhttp"
)

var update = flag.Bool("update", false, "rewrite golden files and seed corpora")

// Workflows as the test server tells liveness apart.
var workflows = trueid.Workflows{
	LivenessCropping: "test.trueid.liveness.cropping.wf", LivenessNoCropping: "test.trueid.liveness.nocropping.wf",
	NoLivenessCropping: "test.trueid.noliveness.cropping.wf", NoLivenessNoCropping: "test.trueid.noliveness.nocropping.wf",
}

func setup(t *testing.T, hmac bool, timeout time.Duration, environ ...string) (*vendortest.LexisNexis, *trueid.TrueID) {
	t.Helper()
	srv := vendortest.NewLexisNexis(t, vendortest.LexisNexisOptions{HMAC: hmac})
	hc, err := vendorhttp.New(vendorhttp.Options{RootCAs: srv.CertPool(), Environ: environ})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(hc.Close)
	if timeout == 0 {
		timeout = 10 * time.Second
	}
	ti, err := trueid.New(trueid.Config{
		BaseURL: srv.URL, AccountID: vendortest.LNTrueIDAccountID,
		Username: vendortest.LNUsername, Password: proofline.Secret(vendortest.LNPassword),
		HMACAuthEnabled: hmac, HMACKeyID: vendortest.LNHMACKeyID, HMACSecretKey: proofline.Secret(vendortest.LNHMACSecret),
		Workflows: workflows, Timeout: timeout,
		NewID: func() string { return "00000000-0000-4000-8000-000000000042" },
	}, hc)
	if err != nil {
		t.Fatal(err)
	}
	return srv, ti
}

func images(scenario string, selfie bool) *proofer.DocumentImages {
	img := &proofer.DocumentImages{Front: vendortest.TrueIDImage(scenario), Back: []byte("synthetic back image")}
	if selfie {
		img.Selfie, img.LivenessCheckingEnabled = []byte("synthetic selfie"), true
	}
	return img
}

func TestScenarios(t *testing.T) {
	t.Parallel()
	for _, hmac := range []bool{false, true} {
		srv, ti := setup(t, hmac, 0)
		for _, c := range []struct {
			scenario string
			selfie   bool
			errors   map[string][]string
			result   string
		}{
			{vendortest.TIPass, false, map[string][]string{}, "Passed"},
			{vendortest.TIPass, true, map[string][]string{}, "Passed"},
			{vendortest.TIIDCard, false, map[string][]string{}, "Passed"},
			{vendortest.TIGlare, false, map[string][]string{"back": {"glare_low"}, "general": {"glare_low"}}, "Failed"},
			{vendortest.TIDPI, false, map[string][]string{"front": {"dpi_low"}, "general": {"dpi_low"}}, "Failed"},
			{vendortest.TIExpired, false, idErr("doc_expired_check"), "Failed"},
			{vendortest.TIPhoto, false, map[string][]string{"front": {"multiple_front_id_failures"}, "general": {"multiple_front_id_failures"}}, "Failed"},
			{vendortest.TIManyBack, false, map[string][]string{"back": {"multiple_back_id_failures"}, "general": {"multiple_back_id_failures"}}, "Failed"},
			{vendortest.TIManyMixed, false, idErr("general_error"), "Attention"},
			{vendortest.TIPassport, false, idErr("doc_type_check"), "Passed"},
			{vendortest.TIUnknownClass, false, idErr("general_error"), "Passed"},
			{vendortest.TINoClass, false, idErr("general_error"), "Passed"},
			{vendortest.TINotLive, true, map[string][]string{"general": {"selfie_not_live_or_poor_quality"}, "selfie": {"selfie_not_live_or_poor_quality"}}, "Passed"},
			{vendortest.TIFaceFail, true, map[string][]string{"general": {"selfie_failure"}, "selfie": {"selfie_failure"}}, "Passed"},
		} {
			vr, err := ti.AuthenticateDocument(context.Background(), images(c.scenario, c.selfie))
			if err != nil {
				t.Fatalf("%s: %v", c.scenario, err)
			}
			if !reflect.DeepEqual(vr.Errors, c.errors) || vr.DocResult != c.result || !vr.Billed || vr.Vendor != trueid.Name || vr.TransactionID != "70000000000001" {
				t.Errorf("%s (selfie %v): errors %v result %q billed %v", c.scenario, c.selfie, vr.Errors, vr.DocResult, vr.Billed)
			}
			pii := vr.PIIFromDoc
			if pii == nil || pii.FirstName != "TESTY" || pii.DOB != "1984-02-09" || pii.Zipcode != "20190" || pii.StateIDNumber != "T1234567" || pii.StateIDJurisdiction != "VA" ||
				pii.Address2 != "UNIT 5" || pii.Height != "64" || pii.Sex != "female" || pii.StateIDIssued != "2022-02-09" || pii.StateIDExpiration != "2030-02-09" || pii.IssuingCountryCode != "USA" {
				t.Errorf("%s: pii %#v", c.scenario, pii)
			}
			wantType := "drivers_license"
			switch c.scenario {
			case vendortest.TIIDCard:
				wantType = "identification_card"
			case vendortest.TIUnknownClass, vendortest.TINoClass:
				wantType = ""
			case vendortest.TIPassport:
				wantType = "passport"
			}
			if pii != nil && pii.StateIDType.Reveal() != wantType {
				t.Errorf("%s: state_id_type %q, want %q", c.scenario, pii.StateIDType.Reveal(), wantType)
			}
			if len(vr.Alerts) < 4 {
				t.Errorf("%s: alerts %v", c.scenario, vr.Alerts)
			}
		}
		for _, r := range srv.Requests() {
			if !r.AuthOK {
				t.Errorf("hmac=%v: server refused %s", hmac, r.Path)
			}
		}
	}
}

func TestExceptions(t *testing.T) {
	t.Parallel()
	_, ti := setup(t, true, 2*time.Second) // the slow case waits this out; less times out TLS on a loaded machine
	for _, c := range []struct {
		scenario, msg string
		timeout       bool
	}{
		{vendortest.TIStatus500, "Unexpected status code '500' (text/html)", false},
		{vendortest.TIMalformed, "malformed vendor response (status 200, application/json)", false},
		{vendortest.TICommunication, "TrueID returned no result (communications_error)", false},
		{vendortest.TIBadAlert, "malformed vendor response (status 200, application/json)", false},
		{vendortest.TISlow, vendorhttp.MsgTimeout, true},
	} {
		_, err := ti.AuthenticateDocument(context.Background(), images(c.scenario, false))
		var ve *proofer.VendorError
		if !errors.As(err, &ve) || ve.Message != c.msg || ve.Timeout != c.timeout {
			t.Errorf("%s: %v", c.scenario, err)
		}
	}
}

func TestGoldenRequestBody(t *testing.T) {
	t.Parallel()
	srv, ti := setup(t, false, 0)
	if _, err := ti.AuthenticateDocument(context.Background(), images(vendortest.TIPass, true)); err != nil {
		t.Fatal(err)
	}
	rs := srv.Requests()
	if len(rs) != 1 || !strings.Contains(rs[0].Path, "/workflows/"+workflows.LivenessCropping+"/conversations") {
		t.Fatalf("requests %+v", rs)
	}
	path := filepath.Join("testdata", "trueid_request.json")
	if *update {
		_ = os.WriteFile(path, rs[0].Body, 0o644)
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(rs[0].Body, want) {
		t.Errorf("body differs:\n got %s\nwant %s", rs[0].Body, want)
	}
	// ImageCroppingMode is the JSON integer 3, not the string "3".
	var sent struct{ Document map[string]any }
	if err := json.Unmarshal(rs[0].Body, &sent); err != nil || sent.Document["ImageCroppingMode"] != float64(3) {
		t.Errorf("ImageCroppingMode %#v (%v)", sent.Document["ImageCroppingMode"], err)
	}
}

// The request Reference is the IdP's "<uuid_prefix>:<uuid>" when it gave
// one, a random UUID otherwise (or when the value is not a plain reference).
func TestReferenceIsThePersonRef(t *testing.T) {
	t.Parallel()
	srv, ti := setup(t, true, 0)
	for _, c := range []struct{ ref, want string }{
		{"sp-app-1:7d9f4c2e-5b1a-4e8f-9c3d-2a6b8e0f1d47", "sp-app-1:7d9f4c2e-5b1a-4e8f-9c3d-2a6b8e0f1d47"},
		{"", "00000000-0000-4000-8000-000000000042"},
		{"jane doe", "00000000-0000-4000-8000-000000000042"},
	} {
		img := images(vendortest.TIPass, false)
		img.PersonRef = c.ref
		if _, err := ti.AuthenticateDocument(context.Background(), img); err != nil {
			t.Fatal(err)
		}
		rs := srv.Requests()
		var sent struct{ Settings struct{ Reference string } }
		if err := json.Unmarshal(rs[len(rs)-1].Body, &sent); err != nil || sent.Settings.Reference != c.want {
			t.Errorf("person ref %q: Reference %q, want %q", c.ref, sent.Settings.Reference, c.want)
		}
	}
}

func TestThroughForwardProxy(t *testing.T) {
	t.Parallel()
	proxy := vendortest.NewProxy(t)
	srv, ti := setup(t, true, 0, "HTTPS_PROXY="+proxy.URL)
	if _, err := ti.AuthenticateDocument(context.Background(), images(vendortest.TIPass, false)); err != nil {
		t.Fatal(err)
	}
	if proxy.Connects(strings.TrimPrefix(srv.URL, "https://")) != 1 {
		t.Errorf("not through the proxy")
	}
}

// TestSeedCorpus harvests the server's answers (run with -update).
func TestSeedCorpus(t *testing.T) {
	if !*update {
		t.Skip("run with -update to rewrite testdata/fuzz")
	}
	srv, _ := setup(t, false, 0)
	h := http.Header{"Content-Type": {"application/json"}}
	req, _ := http.NewRequest("POST", "/", nil)
	req.SetBasicAuth(vendortest.LNUsername, vendortest.LNPassword)
	h.Set("Authorization", req.Header.Get("Authorization"))
	for _, sc := range []string{vendortest.TIPass, vendortest.TIGlare, vendortest.TIExpired, vendortest.TIManyMixed, vendortest.TIPassport, vendortest.TICommunication, vendortest.TINotLive, vendortest.TIUnknownClass, vendortest.TIIDCard, vendortest.TIBadAlert} {
		wf := workflows.NoLivenessCropping
		selfie := ""
		if sc == vendortest.TINotLive {
			wf, selfie = workflows.LivenessCropping, `,"Selfie":"c2VsZmll"`
		}
		body := []byte(`{"Type":"Initiate","Settings":{"Reference":"r"},"Document":{"Front":"` + b64(vendortest.TrueIDImage(sc)) + `","Back":"YmFjaw==","DocumentType":"DriversLicense","ImageCroppingMode":3` + selfie + `}}`)
		url := srv.URL + "/restws/identity/v3/accounts/" + vendortest.LNTrueIDAccountID + "/workflows/" + wf + "/conversations"
		vendortest.WriteCorpusFile(t, filepath.Join("testdata", "fuzz", "FuzzEvaluate"), sc, vendortest.Fetch(t, srv.Client(), url, h, body))
	}
}

// FuzzEvaluate: any body parses and evaluates without panic, and the
// outcome is coherent.
func FuzzEvaluate(f *testing.F) {
	f.Add([]byte(`{"Status":{"TransactionStatus":"passed"},"Products":[{"ProductType":"TrueID","ParameterDetails":[]}]}`))
	hc, _ := vendorhttp.New(vendorhttp.Options{})
	ti, err := trueid.New(trueid.Config{BaseURL: "https://x.test", AccountID: "a", Username: "u", Password: proofline.Secret("p"), Workflows: workflows}, hc)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := trueid.ParseResponse(body)
		if err != nil {
			return
		}
		if r.TrueID == nil {
			return
		}
		for _, live := range []bool{false, true} {
			vr := ti.Evaluate(r, live)
			for field, codes := range vr.Errors {
				if len(codes) == 0 || !map[string]bool{"general": true, "front": true, "back": true, "selfie": true}[field] {
					t.Fatalf("errors %v", vr.Errors)
				}
			}
			// Every failure names a general code; a success names a type we asked for.
			if len(vr.Errors) > 0 && len(vr.Errors["general"]) != 1 {
				t.Fatalf("errors without one general code: %v", vr.Errors)
			}
			if vr.Success() && (vr.PIIFromDoc == nil || !slices.Contains([]string{"drivers_license", "identification_card", "state_id_card"}, vr.PIIFromDoc.StateIDType.Reveal())) && r.TrueID["IDAUTH_FIELD_DATA"] != nil {
				t.Fatalf("success with state_id_type %v", vr.PIIFromDoc)
			}
			if vr.PIIFromDoc != nil && vr.PIIFromDoc.DOB != "" {
				if _, err := time.Parse("2006-01-02", vr.PIIFromDoc.DOB.Reveal()); err != nil {
					t.Fatalf("dob %q", vr.PIIFromDoc.DOB.Reveal())
				}
			}
		}
	})
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
