package lexisnexis_test

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/proofline/proofline"
	"github.com/proofline/proofline/internal/vendortest"
	"github.com/proofline/proofline/proofer"
	"github.com/proofline/proofline/proofer/lexisnexis"
	"github.com/proofline/proofline/proofer/vendorhttp"
)

var update = flag.Bool("update", false, "rewrite golden files and seed corpora")

type fixture struct {
	srv *vendortest.LexisNexis
	iv  *lexisnexis.InstantVerify
	pf  *lexisnexis.PhoneFinder
}

type setupOpts struct {
	hmac      bool
	badSecret bool
	timeout   time.Duration
	environ   []string
	fixedIDs  bool
}

func setup(t *testing.T, o setupOpts) *fixture {
	t.Helper()
	srv := vendortest.NewLexisNexis(t, vendortest.LexisNexisOptions{HMAC: o.hmac})
	hc, err := vendorhttp.New(vendorhttp.Options{RootCAs: srv.CertPool(), Environ: o.environ})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(hc.Close)
	cfg := lexisnexis.Config{
		BaseURL: srv.URL, AccountID: vendortest.LNAccountID,
		Username: vendortest.LNUsername, Password: proofline.Secret(vendortest.LNPassword),
		HMACAuthEnabled: o.hmac, HMACKeyID: vendortest.LNHMACKeyID, HMACSecretKey: proofline.Secret(vendortest.LNHMACSecret),
		Timeout: o.timeout,
	}
	if o.badSecret {
		cfg.Password = proofline.Secret("wrong-password")
		cfg.HMACSecretKey = proofline.Secret("wrong-secret")
	}
	if o.timeout == 0 {
		cfg.Timeout = 10 * time.Second
	}
	if o.fixedIDs {
		cfg.Now = func() time.Time { return time.Now() }
		cfg.NewID = func() string { return "00000000-0000-4000-8000-000000000042" }
	}
	iv, err := lexisnexis.NewInstantVerify(cfg, hc)
	if err != nil {
		t.Fatal(err)
	}
	pf, err := lexisnexis.NewPhoneFinder(cfg, hc)
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{srv: srv, iv: iv, pf: pf}
}

// synthetic is a made-up applicant (no real person).
func synthetic(mut ...func(*proofline.Applicant)) *proofline.Applicant {
	a := &proofline.Applicant{
		FirstName: "Testy", MiddleName: "Q", LastName: "McTestface", DOB: "1984-02-09", SSN: "900-12-3456",
		Address1: "123 Example Ave", Address2: "Apt 4", City: "Springfield", State: "VA", Zipcode: "20190-1234",
		Phone: "+1 (202) 555-0142", StateIDNumber: "T1234567", StateIDJurisdiction: "VA", StateIDType: "drivers_license",
	}
	for _, m := range mut {
		m(a)
	}
	return a
}

func first(s string) func(*proofline.Applicant) {
	return func(a *proofline.Applicant) { a.FirstName = proofline.PII(s) }
}

// assertNoPII fails when s holds any of the applicant's values.
func assertNoPII(t *testing.T, s string, a *proofline.Applicant) {
	t.Helper()
	for _, v := range []proofline.PII{a.FirstName, a.LastName, a.SSN, a.Address1, a.City, a.Phone, a.DOB} {
		if v != "" && strings.Contains(s, v.Reveal()) {
			t.Errorf("error text %q contains applicant data", s)
		}
	}
	for _, d := range []string{"9001", "123456", "5550142", vendortest.LNPassword, vendortest.LNHMACSecret} {
		if strings.Contains(s, d) {
			t.Errorf("error text %q contains %q", s, d)
		}
	}
}

func TestInstantVerifyScenarios(t *testing.T) {
	t.Parallel()
	for _, auth := range []string{"basic", "hmac"} {
		t.Run(auth, func(t *testing.T) {
			t.Parallel()
			f := setup(t, setupOpts{hmac: auth == "hmac"})
			cases := []struct {
				name   string
				a      *proofline.Applicant
				errors map[string][]string
			}{
				{"pass", synthetic(), map[string][]string{}},
				{"ssn", synthetic(func(a *proofline.Applicant) { a.SSN = "900-66-6612" }), map[string][]string{"ssn": {"Unverified SSN."}}},
				{"address", synthetic(func(a *proofline.Applicant) { a.Zipcode = "00000-1111" }), map[string][]string{"address1": {"Unverified address."}}},
				{"dob", synthetic(func(a *proofline.Applicant) { a.DOB = "1900-01-05" }), map[string][]string{"dob": {"Unverified date of birth."}}},
				{"deceased", synthetic(func(a *proofline.Applicant) { a.LastName = "McDead" }), map[string][]string{"ssn": {"Unverified SSN."}}},
				{"dob and address", synthetic(func(a *proofline.Applicant) { a.DOB = "1900-01-05"; a.Zipcode = "00000" }),
					map[string][]string{"dob": {"Unverified date of birth."}, "address1": {"Unverified address."}}},
				{"drivers licence item fails but passed", synthetic(first("NoLicense")), map[string][]string{}},
				{"identity not found", synthetic(first("Nobody")), map[string][]string{"base": {"Verification failed with code: 'total.scoring.model.verification.fail'"}}},
				// A failed item without a mapping still names base, beside the mapped field errors.
				{"unmapped item", synthetic(first("Synthia")), map[string][]string{"base": {"Verification failed with code: 'total.scoring.model.verification.fail'"}}},
				{"unmapped item and address", synthetic(first("Synthia"), func(a *proofline.Applicant) { a.Zipcode = "00000" }),
					map[string][]string{"base": {"Verification failed with code: 'total.scoring.model.verification.fail'"}, "address1": {"Unverified address."}}},
				{"error status", synthetic(first("Error")), map[string][]string{"base": {"Response error with code 'invalid_transaction_initiate'"}}},
				{"invalid status", synthetic(first("Weird")), map[string][]string{"base": {"Invalid status in response body: 'pending'"}}},
			}
			for _, c := range cases {
				vr, err := f.iv.Resolve(context.Background(), c.a)
				if err != nil {
					t.Fatalf("%s: %v", c.name, err)
				}
				if vr.Vendor != lexisnexis.InstantVerifyName || vr.TransactionID != "31000000000001" {
					t.Errorf("%s: vendor %q transaction %q", c.name, vr.Vendor, vr.TransactionID)
				}
				if !reflect.DeepEqual(vr.Errors, c.errors) {
					t.Errorf("%s: errors %v, want %v", c.name, vr.Errors, c.errors)
				}
				if vr.Success() != (len(c.errors) == 0) {
					t.Errorf("%s: success %v", c.name, vr.Success())
				}
			}
			for _, r := range f.srv.Requests() {
				if !r.AuthOK || r.Product != "instant_verify" {
					t.Errorf("request %s %s auth %v", r.Product, r.Path, r.AuthOK)
				}
			}
		})
	}
}

func TestInstantVerifyExceptions(t *testing.T) {
	t.Parallel()
	f := setup(t, setupOpts{timeout: 2 * time.Second}) // the slow cases wait this long; shorter flakes under -race on a loaded machine
	for _, c := range []struct {
		name    string
		a       *proofline.Applicant
		timeout bool
		msg     string
	}{
		{"non-2xx", synthetic(first("Fail")), false, "Unexpected status code '500' (text/html)"},
		{"malformed", synthetic(first("Malformed")), false, "malformed vendor response (status 200, application/json)"},
		{"slow past the timeout", synthetic(first("Time")), true, vendorhttp.MsgTimeout},
	} {
		vr, err := f.iv.Resolve(context.Background(), c.a)
		var ve *proofer.VendorError
		if vr != nil || !errors.As(err, &ve) {
			t.Fatalf("%s: %v %v", c.name, vr, err)
		}
		if ve.Timeout != c.timeout || errors.Is(err, proofer.ErrVendorTimeout) != c.timeout {
			t.Errorf("%s: timeout %v", c.name, ve.Timeout)
		}
		if ve.Message != c.msg || ve.Vendor != lexisnexis.InstantVerifyName {
			t.Errorf("%s: message %q", c.name, ve.Message)
		}
		assertNoPII(t, err.Error(), c.a)
	}
}

func TestWrongCredentialsAreRefusedByTheServer(t *testing.T) {
	t.Parallel()
	for _, hmac := range []bool{false, true} {
		f := setup(t, setupOpts{hmac: hmac, badSecret: true})
		_, err := f.iv.Resolve(context.Background(), synthetic())
		var ve *proofer.VendorError
		if !errors.As(err, &ve) || ve.Message != "Unexpected status code '401' (application/json)" {
			t.Fatalf("hmac=%v: %v", hmac, err)
		}
		if rs := f.srv.Requests(); len(rs) != 1 || rs[0].AuthOK {
			t.Errorf("hmac=%v: server saw %+v", hmac, rs)
		}
		assertNoPII(t, err.Error(), synthetic())
	}
}

func TestHMACHeaderShape(t *testing.T) {
	t.Parallel()
	got := lexisnexis.Sign(lexisnexis.SignInput{
		KeyID: "kid", Secret: []byte("secret"), Time: time.UnixMilli(1700000000123), Nonce: "n-1",
		Host: "example.test", Path: "/restws/identity/v2/a/w/conversation", Body: []byte(`{}`),
	})
	// Computed independently with openssl:
	//   BH=$(printf '{}' | openssl dgst -sha256 -hmac secret -binary | base64)
	//   printf '1700000000123\nn-1\nexample.test\n/restws/identity/v2/a/w/conversation\n%s' "$BH" | openssl dgst -sha256 -hmac secret -binary | base64
	const want = "HMAC-SHA256 keyid=kid, ts=1700000000123, nonce=n-1, bodyHash=dzJZAsrKgS3CWXM6rNBGtzgXNyx3e42VtAJkdHRRbhM=, signature=x0OgYB1R3UsDw3bfqLpWkK4v0h9atbBGKQ87Q2hprdI="
	if got != want {
		t.Errorf("header %q\nwant %q", got, want)
	}
}

func TestPhoneFinderScenarios(t *testing.T) {
	t.Parallel()
	f := setup(t, setupOpts{hmac: true, timeout: 2 * time.Second}) // the slow cases wait this long; shorter flakes under -race on a loaded machine
	phone := func(p string) func(*proofline.Applicant) {
		return func(a *proofline.Applicant) { a.Phone = proofline.PII(p) }
	}
	for _, c := range []struct {
		name    string
		a       *proofline.Applicant
		errors  map[string][]string
		exc     string
		timeout bool
	}{
		{name: "pass", a: synthetic(), errors: map[string][]string{}},
		// The failed PhoneFinder item has no mapping: base is named beside phone.
		{name: "unverified", a: synthetic(phone("703-555-5555")), errors: map[string][]string{"phone": {lexisnexis.MsgUnverifiedPhone}, "base": {"Verification failed with code: 'phone_finder_fail'"}}},
		{name: "error status", a: synthetic(phone("7035555666")), errors: map[string][]string{"base": {"Response error with code 'invalid_transaction_initiate'"}}},
		{name: "non-2xx", a: synthetic(phone("+1 703 555 5999")), exc: "Unexpected status code '500' (text/html)"},
		{name: "malformed", a: synthetic(phone("7035555777")), exc: "malformed vendor response (status 200, application/json)"},
		{name: "slow", a: synthetic(phone("7035555888")), exc: vendorhttp.MsgTimeout, timeout: true},
	} {
		vr, err := f.pf.VerifyPhone(context.Background(), c.a)
		if c.exc != "" {
			var ve *proofer.VendorError
			if !errors.As(err, &ve) || ve.Message != c.exc || ve.Timeout != c.timeout {
				t.Errorf("%s: %v", c.name, err)
			} else {
				assertNoPII(t, err.Error(), c.a)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if vr.Vendor != lexisnexis.PhoneFinderName || vr.TransactionID == "" || !reflect.DeepEqual(vr.Errors, c.errors) {
			t.Errorf("%s: %+v", c.name, vr)
		}
	}
}

// TestGoldenRequestBodies checks the wire bodies byte for byte, as the test
// server received them.
func TestGoldenRequestBodies(t *testing.T) {
	t.Parallel()
	f := setup(t, setupOpts{fixedIDs: true})
	if _, err := f.iv.Resolve(context.Background(), synthetic()); err != nil {
		t.Fatal(err)
	}
	if _, err := f.pf.VerifyPhone(context.Background(), synthetic()); err != nil {
		t.Fatal(err)
	}
	rs := f.srv.Requests()
	if len(rs) != 2 {
		t.Fatalf("%d requests", len(rs))
	}
	golden(t, "instant_verify_request.json", rs[0].Body)
	golden(t, "phone_finder_request.json", rs[1].Body)
	for _, r := range rs {
		if r.Header.Get("Content-Type") != "application/json" {
			t.Errorf("content type %q", r.Header.Get("Content-Type"))
		}
	}
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs:\n got %s\nwant %s", name, got, want)
	}
}

func TestThroughForwardProxy(t *testing.T) {
	t.Parallel()
	proxy := vendortest.NewProxy(t)
	f := setup(t, setupOpts{environ: []string{"HTTPS_PROXY=" + proxy.URL}})
	host := strings.TrimPrefix(f.srv.URL, "https://")
	if _, err := f.iv.Resolve(context.Background(), synthetic()); err != nil {
		t.Fatal(err)
	}
	if n := proxy.Connects(host); n != 1 {
		t.Errorf("%d CONNECTs to %s, want 1", n, host)
	}

	// no_proxy sends it direct.
	proxy2 := vendortest.NewProxy(t)
	f2 := setup(t, setupOpts{environ: []string{"https_proxy=" + proxy2.URL, "no_proxy=example.org, 127.0.0.1"}})
	if _, err := f2.pf.VerifyPhone(context.Background(), synthetic()); err != nil {
		t.Fatal(err)
	}
	if n := proxy2.TotalConnects(); n != 0 {
		t.Errorf("no_proxy: %d CONNECTs", n)
	}
}

func TestVerdictAdditionalVerification(t *testing.T) {
	t.Parallel()
	resp := func(code, productStatus string, items ...lexisnexis.Item) *lexisnexis.Response {
		r := &lexisnexis.Response{}
		r.Status.TransactionStatus = "failed"
		r.Status.TransactionReasonCode = &lexisnexis.Reason{Code: lexisnexis.Text(code)}
		r.Products = []lexisnexis.Product{{ProductType: "InstantVerify", ProductStatus: productStatus, Items: items}}
		return r
	}
	fail := func(n string) lexisnexis.Item { return lexisnexis.Item{ItemName: n, ItemStatus: "fail"} }
	v := lexisnexis.Evaluate(resp("total.scoring.model.verification.fail", "fail", fail("AddrDeliverable"), fail("DOBFullVerified")))
	if !v.CanPassWithAdditionalVerification || !reflect.DeepEqual(v.FailedAttributes, []string{"address", "dob"}) {
		t.Errorf("verdict %v", v)
	}
	if !v.CoveredBy([]string{"address", "dob", "state_id_number"}) || v.CoveredBy([]string{"dob"}) {
		t.Errorf("covered")
	}
	if v := lexisnexis.Evaluate(resp("priority.scoring.model.verification.fail", "fail", fail("SSNSSAValid"))); !v.CanPassWithAdditionalVerification || v.CoveredBy([]string{"address", "dob", "state_id_number"}) {
		t.Errorf("ssn is not coverable: %v", v)
	}
	if v := lexisnexis.Evaluate(resp("other.code", "fail", fail("AddrDeliverable"))); v.CanPassWithAdditionalVerification {
		t.Errorf("other code: %v", v)
	}
	if v := lexisnexis.Evaluate(resp("total.scoring.model.verification.fail", "fail", fail("Mystery"))); v.CanPassWithAdditionalVerification {
		t.Errorf("nothing mapped: %v", v)
	}
	// An unmapped failed item beside a mapped one: both named, and a state-ID
	// check cannot cover it.
	v = lexisnexis.Evaluate(resp("total.scoring.model.verification.fail", "fail", fail("AddrDeliverable"), fail("Mystery")))
	if want := map[string][]string{"address1": {"Unverified address."}, "base": {"Verification failed with code: 'total.scoring.model.verification.fail'"}}; !reflect.DeepEqual(v.Errors, want) || v.CoverableByStateID() {
		t.Errorf("mapped and unmapped: errors %v coverable %v", v.Errors, v.CoverableByStateID())
	}
	r := resp("total.scoring.model.verification.fail", "fail", fail("AddrDeliverable"))
	r.Products = append(r.Products, lexisnexis.Product{ProductType: "Discovery", ProductStatus: "pass"})
	if v := lexisnexis.Evaluate(r); v.CanPassWithAdditionalVerification {
		t.Errorf("two products: %v", v)
	}
}

func TestConfigValidation(t *testing.T) {
	t.Parallel()
	hc, _ := vendorhttp.New(vendorhttp.Options{})
	good := lexisnexis.Config{BaseURL: "https://rdp.example.test", AccountID: "a", Username: "u", Password: proofline.Secret("p")}
	if _, err := lexisnexis.NewInstantVerify(good, hc); err != nil {
		t.Fatal(err)
	}
	for _, mut := range []func(*lexisnexis.Config){
		func(c *lexisnexis.Config) { c.BaseURL = "http://rdp.example.test" },
		func(c *lexisnexis.Config) { c.AccountID = "" },
		func(c *lexisnexis.Config) { c.Password = nil },
		func(c *lexisnexis.Config) { c.HMACAuthEnabled = true },
	} {
		c := good
		mut(&c)
		if _, err := lexisnexis.NewInstantVerify(c, hc); err == nil {
			t.Errorf("accepted %+v", c.BaseURL)
		}
	}
}
