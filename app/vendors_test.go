package app_test

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/proofline/proofline/app"
	"github.com/proofline/proofline/config"
	"github.com/proofline/proofline/internal/testlog"
	"github.com/proofline/proofline/internal/vendortest"
)

// realVendors are the vendor test servers an app with real adapters talks to.
type realVendors struct {
	ln    *vendortest.LexisNexis
	aamva *vendortest.AAMVA
}

// vendorConfig selects every real adapter, pointed at the test servers.
func vendorConfig(t *testing.T) (config.Config, *realVendors) {
	t.Helper()
	key, cert := vendortest.AAMVAKeyPair(t)
	rv := &realVendors{
		ln:    vendortest.NewLexisNexis(t, vendortest.LexisNexisOptions{HMAC: true}),
		aamva: vendortest.NewAAMVA(t, cert),
	}
	// Both servers use httptest's certificate; trust it through the config.
	caFile := filepath.Join(t.TempDir(), "vendor-ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: rv.ln.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := config.Defaults()
	cfg.VendorTLSCAFile = caFile
	cfg.IDVResolutionDefaultVendor = config.VendorInstantVerify
	cfg.IDVAddressPrimaryVendor = config.VendorLexisNexis
	cfg.ProoferMockFallback = false
	cfg.DocAuthVendorDefault = config.VendorLexisNexis
	cfg.LexisNexisTrueIDAccountID = vendortest.LNTrueIDAccountID
	cfg.LexisNexisTrueIDHMACKeyID = vendortest.LNHMACKeyID
	cfg.LexisNexisTrueIDHMACSecretKey = vendortest.LNHMACSecret
	cfg.LexisNexisTrueIDLivenessCroppingWorkflow = "test.trueid.liveness.cropping.wf"
	cfg.LexisNexisTrueIDLivenessNocroppingWorkflow = "test.trueid.liveness.nocropping.wf"
	cfg.LexisNexisTrueIDNolivenessCroppingWorkflow = "test.trueid.noliveness.cropping.wf"
	cfg.LexisNexisTrueIDNolivenessNocroppingWorkflow = "test.trueid.noliveness.nocropping.wf"
	cfg.LexisNexisTrueIDTimeout = 1
	cfg.LexisNexisBaseURL = rv.ln.URL
	cfg.LexisNexisAccountID = vendortest.LNAccountID
	cfg.LexisNexisHMACAuthEnabled = true
	cfg.LexisNexisHMACKeyID = vendortest.LNHMACKeyID
	cfg.LexisNexisHMACSecretKey = vendortest.LNHMACSecret
	cfg.LexisNexisInstantVerifyTimeout = 1
	cfg.LexisNexisPhoneFinderTimeout = 1
	cfg.AAMVAAuthURL = rv.aamva.AuthURL
	cfg.AAMVAVerificationURL = rv.aamva.VerificationURL
	cfg.AAMVAAuthRequestTimeout = 5
	cfg.AAMVAVerificationRequestTimeout = 1
	cfg.AAMVACertEnabled = false
	der, err := x509MarshalPKCS1(key)
	if err != nil {
		t.Fatal(err)
	}
	cfg.AAMVAPrivateKey = base64.StdEncoding.EncodeToString(der)
	cfg.AAMVAPublicKey = base64.StdEncoding.EncodeToString(cert.Raw)
	return cfg, rv
}

// startWith runs an app with cfg, as start does for the defaults.
func startWith(t *testing.T, cfg config.Config) *env {
	t.Helper()
	cfg.DataDir = t.TempDir()
	cfg.LogLevel = "debug"
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	logs := &testlog.Buffer{}
	logger := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	a, err := app.New(context.Background(), cfg, app.Options{ListenAddr: ln.Addr().String(), Version: "test-ref", Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: a.Handler, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = a.Drain(ctx)
		_ = srv.Shutdown(ctx)
		_ = a.Close(ctx)
	})
	return &env{t: t, base: a.BaseURL, apiKey: a.DevAPIKey, app: a, logs: logs, dataDir: cfg.DataDir, http: &http.Client{Timeout: 20 * time.Second}}
}

// shape is a result's keys plus the keys every stage has: what must not
// differ between mock and real vendors.
func shape(r map[string]any) []string {
	var keys []string
	for k := range r {
		keys = append(keys, k)
	}
	for _, s := range r["context"].(map[string]any)["stages"].([]any) {
		for _, k := range []string{"stage", "vendor", "transaction_id", "success"} {
			if _, ok := s.(map[string]any)[k]; !ok {
				keys = append(keys, "stage without "+k)
			}
		}
	}
	sort.Strings(keys)
	return keys
}

func stages(r map[string]any) [][2]string {
	var out [][2]string
	for _, s := range r["context"].(map[string]any)["stages"].([]any) {
		m := s.(map[string]any)
		out = append(out, [2]string{m["stage"].(string), m["vendor"].(string)})
	}
	return out
}

func TestRealVendorsEndToEnd(t *testing.T) {
	t.Parallel()
	cfg, rv := vendorConfig(t)
	e := startWith(t, cfg)
	mock := start(t, opts{})
	resolution := func(a map[string]any) map[string]any {
		return e.proof("resolution", map[string]any{"applicant": a, "should_proof_state_id": true})
	}
	ivStage := [2]string{"resolution", "lexisnexis:instant_verify"}
	stStage := [2]string{"state_id", "aamva:state_id"}

	// Success: both stages, with vendor transaction ids.
	ok := resolution(applicant())
	if ok["success"] != true || ok["exception"] != nil || ok["timed_out"] != false || len(errorsOf(ok)) != 0 {
		t.Fatalf("success: %v", ok)
	}
	if got := stages(ok); !reflect.DeepEqual(got, [][2]string{ivStage, stStage}) {
		t.Errorf("stages %v", got)
	}
	if ok["transaction_id"] == "" {
		t.Errorf("no transaction id: %v", ok)
	}
	mockOK := mock.proof("resolution", map[string]any{"applicant": applicant(), "should_proof_state_id": true})
	if a, b := shape(ok), shape(mockOK); !reflect.DeepEqual(a, b) {
		t.Errorf("shape with real vendors %v, with mocks %v", a, b)
	}

	for _, c := range []struct {
		name      string
		a         map[string]any
		errors    map[string]any
		exception any
		timedOut  bool
		stages    [][2]string
	}{
		{"ssn", applicant(set("ssn", "900-66-6612")), map[string]any{"ssn": []any{"Unverified SSN."}}, nil, false, [][2]string{ivStage}},
		// InstantVerify fails the address but may pass with additional
		// verification; the DMV does not verify it, so the failure stands.
		{"address not covered", applicant(set("zipcode", "00000"), set("state_id_number", vendortest.AAMVANoMatch)),
			map[string]any{"address1": []any{"Unverified address."}, "state_id_number": []any{"UNVERIFIED"}, "dob": []any{"MISSING"}, "first_name": []any{"MISSING"}, "last_name": []any{"MISSING"}}, nil, false, [][2]string{ivStage, stStage}},
		{"resolution exception", applicant(set("first_name", "Failing")), map[string]any{}, "Unexpected status code '500' (text/html)", false, [][2]string{ivStage}},
		{"resolution timeout", applicant(set("first_name", "Timex")), map[string]any{}, "vendor timed out", true, [][2]string{ivStage}},
		{"resolution malformed", applicant(set("first_name", "Malformed")), map[string]any{}, "malformed vendor response (status 200, application/json)", false, [][2]string{ivStage}},
		{"state id number", applicant(set("state_id_number", vendortest.AAMVANoMatch)),
			map[string]any{"state_id_number": []any{"UNVERIFIED"}, "dob": []any{"MISSING"}, "first_name": []any{"MISSING"}, "last_name": []any{"MISSING"}}, nil, false, [][2]string{ivStage, stStage}},
		{"state id jurisdiction", applicant(set("state_id_jurisdiction", "PR")), map[string]any{"state_id_jurisdiction": []any{"The jurisdiction could not be verified."}}, nil, false, [][2]string{ivStage, stStage}},
		{"DMV unavailable", applicant(set("state_id_number", vendortest.AAMVAFault0001)), map[string]any{}, "DMV unavailable (ExceptionId: 0001)", false, [][2]string{ivStage, stStage}},
		// Fault 0047: the state's DMV timed out; AAMVA answered, so an exception.
		{"DMV timeout", applicant(set("state_id_number", vendortest.AAMVAMVATimeout)), map[string]any{}, "DMV timed out (ExceptionId: 0047 ; ExceptionId: 0048)", false, [][2]string{ivStage, stStage}},
	} {
		r := resolution(c.a)
		if r["success"] != false || !reflect.DeepEqual(errorsOf(r), c.errors) || r["exception"] != c.exception || r["timed_out"] != c.timedOut {
			t.Errorf("%s: %v", c.name, r)
		}
		if got := stages(r); !reflect.DeepEqual(got, c.stages) {
			t.Errorf("%s: stages %v", c.name, got)
		}
		if a, b := shape(r), shape(mockOK); !reflect.DeepEqual(a, b) {
			t.Errorf("%s: shape %v, mocks %v", c.name, a, b)
		}
	}

	// The same address failure passes when the DMV verifies the address:
	// InstantVerify's "can pass with additional verification".
	covered := resolution(applicant(set("zipcode", "00000")))
	if covered["success"] != true || len(errorsOf(covered)) != 0 || !reflect.DeepEqual(stages(covered), [][2]string{ivStage, stStage}) {
		t.Errorf("address covered by the state ID check: %v", covered)
	}

	// Address: PhoneFinder.
	pfStage := [2]string{"address", "lexisnexis:phone_finder"}
	addr := func(phone string) map[string]any {
		return e.proof("address", map[string]any{"applicant": applicant(set("phone", phone))})
	}
	if r := addr("7035550100"); r["success"] != true || !reflect.DeepEqual(stages(r), [][2]string{pfStage}) {
		t.Errorf("address success: %v", r)
	}
	if r := addr(vendortest.PFUnverifiedPhone); r["success"] != false || !reflect.DeepEqual(errorsOf(r), map[string]any{"phone": []any{"The phone number could not be verified."}, "base": []any{"Verification failed with code: 'phone_finder_fail'"}}) {
		t.Errorf("address unverified: %v", r)
	}
	if r := addr(vendortest.PFStatus500Phone); r["exception"] != "Unexpected status code '500' (text/html)" || r["timed_out"] != false {
		t.Errorf("address exception: %v", r)
	}
	if r := addr(vendortest.PFTimeoutPhone); r["exception"] != "vendor timed out" || r["timed_out"] != true {
		t.Errorf("address timeout: %v", r)
	}

	// Document: TrueID.
	tiStage := [][2]string{{"document", "lexisnexis:trueid"}}
	doc := func(scenario string, selfie bool) map[string]any {
		var req map[string]any
		if selfie {
			req, _ = e.capture(vendortest.TrueIDImage(scenario), []byte("back"), []byte("selfie"))
			req["liveness_checking_enabled"] = true
		} else {
			req, _ = e.capture(vendortest.TrueIDImage(scenario), []byte("back"))
		}
		return e.proof("document", req)
	}
	r := doc(vendortest.TIPass, false)
	pii, _ := r["pii_from_doc"].(map[string]any)
	if r["success"] != true || r["billed"] != true || r["result"] != "Passed" || !reflect.DeepEqual(stages(r), tiStage) || pii["first_name"] != "TESTY" || pii["dob"] != "1984-02-09" {
		t.Errorf("document success: %v", r)
	}
	mockReq, _ := mock.capture([]byte("front"), []byte("back"))
	// raw_alerts is omitted when empty: the mock passes without alerts.
	if a, b := withoutKey(shape(r), "raw_alerts"), shape(mock.proof("document", mockReq)); !reflect.DeepEqual(a, b) {
		t.Errorf("document shape %v, mocks %v", a, b)
	}
	if r := doc(vendortest.TIGlare, false); r["success"] != false || !reflect.DeepEqual(errorsOf(r), map[string]any{"back": []any{"glare_low"}, "general": []any{"glare_low"}}) {
		t.Errorf("document glare: %v", r)
	}
	if r := doc(vendortest.TINotLive, true); r["success"] != false || !reflect.DeepEqual(errorsOf(r), map[string]any{"general": []any{"selfie_not_live_or_poor_quality"}, "selfie": []any{"selfie_not_live_or_poor_quality"}}) {
		t.Errorf("document selfie: %v", r)
	}
	// TrueID "passed" without naming the document class: not a success.
	if r := doc(vendortest.TIUnknownClass, false); r["success"] != false || !reflect.DeepEqual(errorsOf(r), map[string]any{"general": []any{"general_error"}, "front": []any{"general_error"}, "back": []any{"general_error"}}) {
		t.Errorf("document of unknown class: %v", r)
	}
	// The IdP's person_ref is TrueID's request Reference; one that is not a
	// plain reference is refused.
	req, _ := e.capture(vendortest.TrueIDImage(vendortest.TIIDCard), []byte("back"))
	req["person_ref"] = "Jane Doe <jane@example.org>"
	if r := e.do("POST", "/api/v1/proofing/document", req); r.status != 400 || !strings.Contains(string(r.raw), `"field":"person_ref"`) || strings.Contains(string(r.raw), "Jane") {
		t.Errorf("bad person_ref: %d %s", r.status, r.raw)
	}
	// A refused start deletes its capture's images: the retry is a new capture.
	req, _ = e.capture(vendortest.TrueIDImage(vendortest.TIIDCard), []byte("back"))
	req["person_ref"] = "sp-app-1:7d9f4c2e-5b1a-4e8f-9c3d-2a6b8e0f1d47"
	if r := e.proof("document", req); r["success"] != true || r["pii_from_doc"].(map[string]any)["state_id_type"] != "identification_card" {
		t.Errorf("identification card: %v", r)
	}
	var sent struct{ Settings struct{ Reference string } }
	rs := rv.ln.Requests()
	if err := json.Unmarshal(rs[len(rs)-1].Body, &sent); err != nil || sent.Settings.Reference != req["person_ref"] {
		t.Errorf("TrueID Reference %q, want the person_ref", sent.Settings.Reference)
	}
	if r := doc(vendortest.TISlow, false); r["timed_out"] != true || r["exception"] != "vendor timed out" {
		t.Errorf("document timeout: %v", r)
	}
	if n := countFiles(t, e.dataDir); n != 0 {
		t.Errorf("%d images left", n)
	}

	// The servers verified every signature; AAMVA reused its token except
	// after each of the two DMV faults (a fault drops it).
	for _, r := range rv.ln.Requests() {
		if !r.AuthOK {
			t.Errorf("LexisNexis refused a signature on %s", r.Path)
		}
	}
	if f := rv.aamva.SignatureFailures(); len(f) != 0 {
		t.Errorf("AAMVA refused signatures: %v", f)
	}
	if st, at, n := rv.aamva.Counts(); st != at || st < 1 || st > 3 || n < 2 {
		t.Errorf("AAMVA authenticated %d/%d times for %d verifications", st, at, n)
	}
}

func TestVendorSelectionNeedsCredentials(t *testing.T) {
	t.Parallel()
	cfg, _ := vendorConfig(t)
	cfg.LexisNexisHMACSecretKey = ""
	if err := cfg.Validate(); err == nil || err.(*config.Error).Key != "lexisnexis_hmac_secret_key" {
		t.Errorf("missing secret: %v", err)
	}
	cfg, _ = vendorConfig(t)
	cfg.AAMVAPrivateKey = "bm90IGEga2V5"
	if err := cfg.Validate(); err == nil || err.(*config.Error).Key != "aamva_private_key" {
		t.Errorf("bad key: %v", err)
	}
	cfg = config.Defaults()
	cfg.IDVResolutionDefaultVendor = "socure_kyc"
	if err := cfg.Validate(); err == nil || err.(*config.Error).Key != "idv_resolution_default_vendor" {
		t.Errorf("unknown vendor: %v", err)
	}
}

func TestVendorChecks(t *testing.T) {
	t.Parallel()
	cfg, _ := vendorConfig(t)
	proxy := vendortest.NewProxy(t)
	checks := app.CheckVendors(context.Background(), cfg, []string{"https_proxy=" + proxy.URL})
	var lines []string
	for _, c := range checks {
		if !c.OK || c.Mock {
			t.Errorf("check %+v", c)
		}
		lines = append(lines, c.Stage+" "+c.Vendor)
	}
	if want := []string{"resolution instant_verify", "state_id aamva", "address lexis_nexis", "document lexis_nexis"}; !reflect.DeepEqual(lines, want) {
		t.Errorf("checks %v", lines)
	}
	if proxy.TotalConnects() < 2 { // one tunnel per vendor host
		t.Errorf("%d CONNECTs through the proxy", proxy.TotalConnects())
	}
	// An unreachable vendor fails its line and names no credential.
	cfg.LexisNexisBaseURL = "https://127.0.0.1:1"
	for _, c := range app.CheckVendors(context.Background(), cfg, nil) {
		if c.Stage == "resolution" && (c.OK || c.String() == "" || containsAny(c.String(), vendortest.LNHMACSecret, vendortest.LNHMACKeyID)) {
			t.Errorf("unreachable: %s", c)
		}
	}
	if got := (app.VendorCheck{Stage: "document", Vendor: "mock", Mock: true, OK: true}).String(); got != "document mock" {
		t.Errorf("mock line %q", got)
	}
	if got := (app.VendorCheck{Stage: "address", Vendor: "lexis_nexis", OK: true, Took: 123 * time.Millisecond}).String(); got != "address lexis_nexis ok 123ms" {
		t.Errorf("mock line %q", got)
	}
}

func containsAny(s string, subs ...string) bool {
	for _, sub := range subs {
		if sub != "" && strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

func x509MarshalPKCS1(k any) ([]byte, error) { return x509.MarshalPKCS8PrivateKey(k) }

func withoutKey(keys []string, k string) []string {
	var out []string
	for _, v := range keys {
		if v != k {
			out = append(out, v)
		}
	}
	return out
}
