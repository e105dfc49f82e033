package aamva

import (
	"bytes"
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"flag"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	rsaRand "crypto/rand"

	"github.com/proofline/proofline"
	"github.com/proofline/proofline/internal/vendortest"
	"github.com/proofline/proofline/proofer"
	"github.com/proofline/proofline/proofer/vendorhttp"
)

var update = flag.Bool("update", false, "rewrite golden files and seed corpora")

type fixture struct {
	srv *vendortest.AAMVA
	v   *AAMVA
	hc  *vendorhttp.Client
}

func setup(t *testing.T, timeout time.Duration, environ ...string) *fixture {
	t.Helper()
	key, cert := vendortest.AAMVAKeyPair(t)
	srv := vendortest.NewAAMVA(t, cert)
	hc, err := vendorhttp.New(vendorhttp.Options{RootCAs: srv.CertPool(), Environ: environ})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(hc.Close)
	if timeout == 0 {
		timeout = 10 * time.Second
	}
	v, err := New(Config{
		AuthURL: srv.AuthURL, VerificationURL: srv.VerificationURL,
		AuthTimeout: timeout, VerificationTimeout: timeout,
		PrivateKey: key, Certificate: cert, SupportedJurisdictions: []string{"VA", "md", "SC"},
	}, hc)
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{srv: srv, v: v, hc: hc}
}

func synthetic(number string) *proofline.Applicant {
	return &proofline.Applicant{
		FirstName: "Testy", MiddleName: "Q", LastName: "McTestface", DOB: "1984-02-09", SSN: "900-12-3456",
		Address1: "123 Example Ave", Address2: "Apt 4", City: "Springfield", State: "va", Zipcode: "20190-1234",
		StateIDNumber: proofline.PII(number), StateIDJurisdiction: "VA", StateIDType: "drivers_license",
	}
}

func TestVerifyPassesAndCachesTheToken(t *testing.T) {
	t.Parallel()
	f := setup(t, 0)
	for range 2 {
		vr, err := f.v.VerifyStateID(context.Background(), synthetic("T-123-456"))
		if err != nil {
			t.Fatalf("%v; server refused: %v", err, f.srv.SignatureFailures())
		}
		if !vr.Success() || vr.Vendor != Name || vr.TransactionID == "" || strings.ContainsAny(vr.TransactionID, " \n") {
			t.Fatalf("result %+v", vr)
		}
	}
	if st, at, n := f.srv.Counts(); st != 1 || at != 1 || n != 2 {
		t.Errorf("security tokens %d, auth tokens %d, verifications %d; want 1, 1, 2", st, at, n)
	}
	if fails := f.srv.SignatureFailures(); len(fails) != 0 {
		t.Errorf("signature failures %v", fails)
	}
	// The request as sent: normalised number, P6 only with cert_enabled, five-digit ZIP.
	rs := f.srv.Requests()
	last := string(rs[len(rs)-1].Body)
	for _, want := range []string{">T123456</nc:IdentificationID>", "<aa:MessageDestinationId>VA<", "<nc:LocationPostalCode>20190<", "<aa:PersonBirthDate>1984-02-09<", "<aa:DocumentCategoryCode>1<"} {
		if !strings.Contains(last, want) {
			t.Errorf("verification request lacks %s", want)
		}
	}
	if vr, err := f.v.VerifyStateID(context.Background(), synthetic(vendortest.AAMVAUnnamespaced)); err != nil || !vr.Success() {
		t.Errorf("un-namespaced: %+v %v", vr, err)
	}
}

func TestFieldFailures(t *testing.T) {
	t.Parallel()
	f := setup(t, 0)
	for _, c := range []struct {
		a    *proofline.Applicant
		want map[string][]string
	}{
		{synthetic(vendortest.AAMVANoMatch), map[string][]string{"state_id_number": {MsgUnverified}, "dob": {MsgMissing}, "last_name": {MsgMissing}, "first_name": {MsgMissing}}},
		{synthetic("0000000"), map[string][]string{"state_id_number": {MsgUnverified}, "dob": {MsgMissing}, "last_name": {MsgMissing}, "first_name": {MsgMissing}}},
		{synthetic(vendortest.AAMVADOBMismatch), map[string][]string{"dob": {MsgUnverified}}},
	} {
		vr, err := f.v.VerifyStateID(context.Background(), c.a)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(vr.Errors, c.want) {
			t.Errorf("%s: errors %v, want %v", c.a.StateIDNumber.Reveal(), vr.Errors, c.want)
		}
	}
	// Unsupported jurisdiction and type fail without a call.
	a := synthetic("T1")
	a.StateIDJurisdiction, a.StateIDType = "ZZ", "passport"
	vr, err := f.v.VerifyStateID(context.Background(), a)
	if err != nil || !reflect.DeepEqual(vr.Errors, map[string][]string{"state_id_jurisdiction": {MsgUnsupportedJurisdiction}, "state_id_type": {MsgUnsupportedType}}) {
		t.Errorf("unsupported: %+v %v", vr, err)
	}
	if len(f.srv.Requests()) != 5 { // 2 auth + 3 verifications
		t.Errorf("%d requests", len(f.srv.Requests()))
	}
}

func TestExceptions(t *testing.T) {
	t.Parallel()
	f := setup(t, 2*time.Second) // the slow case waits this out; less times out TLS on a loaded machine
	for _, c := range []struct {
		number, msg string
		timeout     bool
	}{
		{vendortest.AAMVAFault0001, "DMV unavailable (ExceptionId: 0001)", false},
		{vendortest.AAMVAFault0002, "DMV system error (ExceptionId: 0002)", false},
		{vendortest.AAMVAMVATimeout, "DMV timed out (ExceptionId: 0047 ; ExceptionId: 0048)", false}, // an MVA timeout: see TestMVATimeoutIsAnExceptionNotAVendorTimeout
		{vendortest.AAMVAHTTP500, "Unexpected status code '500' (text/html)", false},
		{vendortest.AAMVAMalformed, "malformed vendor response (status 200, application/soap+xml)", false},
		{vendortest.AAMVASlow, vendorhttp.MsgTimeout, true},
		{vendortest.AAMVAExpiredTokens, "SOAP fault (ExceptionId: 0016)", false},
	} {
		a := synthetic(c.number)
		vr, err := f.v.VerifyStateID(context.Background(), a)
		var ve *proofer.VendorError
		if vr != nil || !errors.As(err, &ve) {
			t.Fatalf("%s: %+v %v", c.number, vr, err)
		}
		if ve.Message != c.msg || ve.Timeout != c.timeout || errors.Is(err, proofer.ErrVendorTimeout) != c.timeout {
			t.Errorf("%s: %q timeout %v", c.number, ve.Message, ve.Timeout)
		}
		for _, pii := range []string{"Testy", "McTestface", "Example", "1984", c.number} {
			if strings.Contains(err.Error(), pii) {
				t.Errorf("%s: error %q holds %q", c.number, err, pii)
			}
		}
	}
	// Faults dropped the cached token: authentication ran again.
	if st, _, _ := f.srv.Counts(); st < 2 {
		t.Errorf("security tokens %d: a fault should drop the cached token", st)
	}
}

func TestAuthenticationFailures(t *testing.T) {
	t.Parallel()
	f := setup(t, 0)
	f.srv.FailAuth("fault")
	_, err := f.v.VerifyStateID(context.Background(), synthetic("T1"))
	var ve *proofer.VendorError
	if !errors.As(err, &ve) || ve.Message != "AAMVA authentication failed: DMV unavailable (ExceptionId: 0001)" {
		t.Errorf("fault: %v", err)
	}
	f.srv.FailAuth("status")
	_, err = f.v.VerifyStateID(context.Background(), synthetic("T1"))
	if !errors.As(err, &ve) || ve.Message != "AAMVA authentication failed: Unexpected status code '503' (text/html)" {
		t.Errorf("status: %v", err)
	}
	f.srv.FailAuth("")
	if _, err := f.v.VerifyStateID(context.Background(), synthetic("T1")); err != nil {
		t.Errorf("after recovery: %v", err)
	}
}

// TestServerRefusesBadSignatures proves the server's independent checks
// bite: a tampered signed element, a wrong key and a wrong HMAC key fail.
func TestServerRefusesBadSignatures(t *testing.T) {
	t.Parallel()
	key, cert := vendortest.AAMVAKeyPair(t)
	srv := vendortest.NewAAMVA(t, cert)
	post := func(body []byte) {
		req, _ := http.NewRequest("POST", srv.AuthURL, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/soap+xml;charset=UTF-8")
		req.Header.Set("SOAPAction", `"`+ActionAuthenticate+`"`)
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	n := 0
	id := func() string { n++; return "00000000-0000-4000-8000-00000000000" + string(rune('0'+n)) }
	nonce := bytes.Repeat([]byte{7}, 32)
	good, err := securityTokenRequest(key, cert, srv.AuthURL, time.Now(), id, nonce)
	if err != nil {
		t.Fatal(err)
	}
	post(good)
	if st, _, _ := srv.Counts(); st != 1 || len(srv.SignatureFailures()) != 0 {
		t.Fatalf("good request refused: %v", srv.SignatureFailures())
	}
	tampered := bytes.Replace(good, []byte(`">https://127.0.0.1`), []byte(`">https://127.0.0.2`), 1)
	if bytes.Equal(tampered, good) {
		t.Fatal("tamper did not apply")
	}
	post(tampered)
	other, _ := rsa.GenerateKey(randReader{}, 1024)
	if other != nil {
		wrongKey, _ := securityTokenRequest(other, cert, srv.AuthURL, time.Now(), id, nonce)
		post(wrongKey)
	}
	// Authenticate with an HMAC key not derived from the nonces.
	ex := srv.Exchanges()
	root, _ := parseXML(ex[0].Response)
	sct := root.find("SecurityContextToken")
	bad := authenticationTokenRequest(&securityContext{reference: sct.attr("Id"), identifier: sct.textOf("Identifier"), key: bytes.Repeat([]byte{1}, 32)}, srv.AuthURL, time.Now(), id)
	post(bad)
	fails := srv.SignatureFailures()
	want := []string{"digest of To differs", "RSA signature does not verify", "HMAC signature does not verify"}
	if other == nil {
		want = []string{"digest of To differs", "HMAC signature does not verify"}
	}
	if !reflect.DeepEqual(fails, want) {
		t.Errorf("failures %q, want %q", fails, want)
	}
}

type randReader struct{}

func (randReader) Read(p []byte) (int, error) { return rsaRand.Read(p) }

func TestPSHA1(t *testing.T) {
	t.Parallel()
	// RFC 2246-style P_SHA1: checked against an independent computation in
	// the test server (vendortest) through TestVerifyPassesAndCachesTheToken;
	// here its length and prefix property.
	a := PSHA1([]byte("secret"), []byte("seed"), 32)
	b := PSHA1([]byte("secret"), []byte("seed"), 64)
	if len(a) != 32 || !bytes.Equal(a, b[:32]) || bytes.Equal(b[:20], b[20:40]) {
		t.Errorf("P_SHA1 %x / %x", a, b)
	}
}

func readTestKey(t *testing.T) (*rsa.PrivateKey, *x509.Certificate) {
	t.Helper()
	kb, err := os.ReadFile("testdata/test_key.pem")
	if err != nil {
		t.Fatal(err)
	}
	cb, err := os.ReadFile("testdata/test_cert.pem")
	if err != nil {
		t.Fatal(err)
	}
	kp, _ := pem.Decode(kb)
	cp, _ := pem.Decode(cb)
	k, err := x509.ParsePKCS8PrivateKey(kp.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(cp.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return k.(*rsa.PrivateKey), c
}

// TestGoldenRequests checks the three request bodies byte for byte, with a
// fixed key, clock, ids and nonces (RSA PKCS#1 v1.5 signatures are deterministic).
func TestGoldenRequests(t *testing.T) {
	t.Parallel()
	key, cert := readTestKey(t)
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	n := 0
	id := func() string {
		n++
		return "00000000-0000-4000-8000-0000000000" + string(rune('0'+n/10)) + string(rune('0'+n%10))
	}
	const authURL = "https://authentication-cert.aamva.org/Authentication/Authenticate.svc"
	st, err := securityTokenRequest(key, cert, authURL, now, id, bytes.Repeat([]byte{0x42}, 32))
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "security_token_request.xml", st)
	ctxTok := &securityContext{reference: "uuid-synthetic-1", identifier: "urn:uuid:synthetic-identifier", key: PSHA1(bytes.Repeat([]byte{0x42}, 32), bytes.Repeat([]byte{0x24}, 32), 32)}
	golden(t, "authentication_token_request.xml", authenticationTokenRequest(ctxTok, authURL, now, id))
	hc, _ := vendorhttp.New(vendorhttp.Options{})
	v, err := New(Config{AuthURL: authURL, VerificationURL: "https://verificationservices-cert.aamva.org:18449/dldv/2.1/online",
		PrivateKey: key, Certificate: cert, CertEnabled: true, SupportedJurisdictions: []string{"VA"}, NewID: id}, hc)
	if err != nil {
		t.Fatal(err)
	}
	a := synthetic("T-123-456")
	a.FirstName = "Testy & <Co>"
	// Every optional fact Login.gov sends when known.
	a.NameSuffix, a.Sex, a.Height, a.Weight, a.EyeColor = "Jr", "female", "64", "130", "grn"
	a.StateIDIssued, a.StateIDExpiration = "2022-02-09", "20300209"
	golden(t, "verification_request.xml", v.VerificationRequest(a, "TOKEN-synthetic"))
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
	f := setup(t, 0, "https_proxy="+proxy.URL)
	if _, err := f.v.VerifyStateID(context.Background(), synthetic("T1")); err != nil {
		t.Fatal(err)
	}
	if n := proxy.Connects(strings.TrimPrefix(f.srv.URL, "https://")); n < 1 {
		t.Errorf("%d CONNECTs", n)
	}
}
