package config

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"math"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Vendor selector values.
const (
	VendorMock          = "mock"
	VendorInstantVerify = "instant_verify"
	VendorLexisNexis    = "lexis_nexis"
)

// Vendors selects and configures the real vendor adapters
// (docs/vendors.md). Keys keep the original (login.gov) names. The embedded
// default selects the mock vendors for every kind.
type Vendors struct {
	// IDVResolutionDefaultVendor is the resolution vendor: "mock" (default)
	// or "instant_verify" (LexisNexis InstantVerify).
	IDVResolutionDefaultVendor string `key:"idv_resolution_default_vendor"`
	// IDVAddressPrimaryVendor is the phone (address) vendor: "mock" (default)
	// or "lexis_nexis" (LexisNexis PhoneFinder).
	IDVAddressPrimaryVendor string `key:"idv_address_primary_vendor"`
	// DocAuthVendorDefault is the document vendor: "mock" (default) or
	// "lexis_nexis" (LexisNexis TrueID).
	DocAuthVendorDefault string `key:"doc_auth_vendor_default"`
	// ProoferMockFallback makes the state-ID stage use the mock instead of
	// AAMVA DLDV. Default true.
	ProoferMockFallback bool `key:"proofer_mock_fallback"`

	// LexisNexisBaseURL is the https origin of the RDP service.
	LexisNexisBaseURL string `key:"lexisnexis_base_url"`
	// LexisNexisAccountID is the RDP account of InstantVerify and PhoneFinder.
	LexisNexisAccountID string `key:"lexisnexis_account_id"`
	// LexisNexisUsername and LexisNexisPassword authenticate with HTTP Basic
	// when HMAC auth is off.
	LexisNexisUsername string `key:"lexisnexis_username" secret:"true"`
	LexisNexisPassword string `key:"lexisnexis_password" secret:"true"`
	// LexisNexisHMACAuthEnabled signs requests with the HMAC-SHA256
	// Authorization header instead of HTTP Basic (also for TrueID). Default false.
	LexisNexisHMACAuthEnabled bool `key:"lexisnexis_hmac_auth_enabled"`
	// LexisNexisHMACKeyID and LexisNexisHMACSecretKey are the HMAC
	// credentials of InstantVerify and PhoneFinder when
	// LexisNexisHMACAuthEnabled is true.
	LexisNexisHMACKeyID     string `key:"lexisnexis_hmac_key_id" secret:"true"`
	LexisNexisHMACSecretKey string `key:"lexisnexis_hmac_secret_key" secret:"true"`
	// LexisNexisRequestMode is sent as Settings.Mode. Default "testing".
	LexisNexisRequestMode string `key:"lexisnexis_request_mode"`
	// LexisNexisInstantVerifyWorkflow is the InstantVerify workflow. Default "gsa2.chk32.test.wf".
	LexisNexisInstantVerifyWorkflow string `key:"lexisnexis_instant_verify_workflow"`
	// LexisNexisInstantVerifyTimeout bounds one InstantVerify call, in seconds. Default 1.0.
	LexisNexisInstantVerifyTimeout float64 `key:"lexisnexis_instant_verify_timeout"`
	// LexisNexisPhoneFinderWorkflow is the PhoneFinder workflow. Default "customers.gsa2.phonefinder.workflow".
	LexisNexisPhoneFinderWorkflow string `key:"lexisnexis_phone_finder_workflow"`
	// LexisNexisPhoneFinderTimeout bounds one PhoneFinder call, in seconds. Default 1.0.
	LexisNexisPhoneFinderTimeout float64 `key:"lexisnexis_phone_finder_timeout"`

	// TrueID (document authentication) account and credentials: username
	// and password for HTTP Basic, or the HMAC key id and secret key when
	// LexisNexisHMACAuthEnabled is true.
	LexisNexisTrueIDAccountID     string `key:"lexisnexis_trueid_account_id"`
	LexisNexisTrueIDUsername      string `key:"lexisnexis_trueid_username" secret:"true"`
	LexisNexisTrueIDPassword      string `key:"lexisnexis_trueid_password" secret:"true"`
	LexisNexisTrueIDHMACKeyID     string `key:"lexisnexis_trueid_hmac_key_id" secret:"true"`
	LexisNexisTrueIDHMACSecretKey string `key:"lexisnexis_trueid_hmac_secret_key" secret:"true"`
	// The four TrueID workflows: with or without a selfie (liveness), images
	// cropped by the vendor (cropping) or already cropped (nocropping).
	LexisNexisTrueIDLivenessCroppingWorkflow     string `key:"lexisnexis_trueid_liveness_cropping_workflow"`
	LexisNexisTrueIDLivenessNocroppingWorkflow   string `key:"lexisnexis_trueid_liveness_nocropping_workflow"`
	LexisNexisTrueIDNolivenessCroppingWorkflow   string `key:"lexisnexis_trueid_noliveness_cropping_workflow"`
	LexisNexisTrueIDNolivenessNocroppingWorkflow string `key:"lexisnexis_trueid_noliveness_nocropping_workflow"`
	// LexisNexisTrueIDTimeout bounds one TrueID call, in seconds. Default 60.
	LexisNexisTrueIDTimeout float64 `key:"lexisnexis_trueid_timeout"`
	// Image-quality thresholds of document results: DPI (default 290),
	// sharpness (40) and glare (40); below them an image fails.
	DocAuthErrorDPIThreshold       int `key:"doc_auth_error_dpi_threshold"`
	DocAuthErrorSharpnessThreshold int `key:"doc_auth_error_sharpness_threshold"`
	DocAuthErrorGlareThreshold     int `key:"doc_auth_error_glare_threshold"`
	// DocAuthSupportedCountryCodes are the issuing countries accepted.
	// Default US, GU, VI, AS, MP, PR and their three-letter forms.
	DocAuthSupportedCountryCodes []string `key:"doc_auth_supported_country_codes"`

	// AAMVA DLDV (the state-ID stage when proofer_mock_fallback is false).
	// AAMVAAuthURL is the authentication service. Default the CERT endpoint.
	AAMVAAuthURL string `key:"aamva_auth_url"`
	// AAMVAVerificationURL is the DLDV service. Default the CERT endpoint.
	AAMVAVerificationURL string `key:"aamva_verification_url"`
	// AAMVAAuthRequestTimeout and AAMVAVerificationRequestTimeout bound one
	// call, in seconds. Default 5 each.
	AAMVAAuthRequestTimeout         float64 `key:"aamva_auth_request_timeout"`
	AAMVAVerificationRequestTimeout float64 `key:"aamva_verification_request_timeout"`
	// AAMVACertEnabled sends every request to the CERT test jurisdiction P6. Default true.
	AAMVACertEnabled bool `key:"aamva_cert_enabled"`
	// AAMVAPrivateKey is base64 of the RSA signing key (DER, PKCS#1 or
	// PKCS#8; a PEM block is accepted too).
	AAMVAPrivateKey string `key:"aamva_private_key" secret:"true"`
	// AAMVAPublicKey is base64 of the X.509 certificate of that key (DER or PEM).
	AAMVAPublicKey string `key:"aamva_public_key"`
	// AAMVASupportedJurisdictions are the jurisdictions sent to AAMVA
	// (comma-separated, or the original JSON list); others fail
	// state_id_jurisdiction. Default the DLDV participants.
	AAMVASupportedJurisdictions []string `key:"aamva_supported_jurisdictions"`

	// VendorTLSCAFile is a PEM file of extra certificate authorities trusted
	// for vendor and proxy TLS, on top of the system roots. Default none.
	VendorTLSCAFile string `key:"vendor_tls_ca_file"`
}

// Original endpoint defaults (the AAMVA CERT environment).
const (
	DefaultAAMVAAuthURL         = "https://authentication-cert.aamva.org/Authentication/Authenticate.svc"
	DefaultAAMVAVerificationURL = "https://verificationservices-cert.aamva.org:18449/dldv/2.1/online"
)

func (v *Vendors) setDefaults() {
	v.IDVResolutionDefaultVendor = VendorMock
	v.IDVAddressPrimaryVendor = VendorMock
	v.DocAuthVendorDefault = VendorMock
	v.ProoferMockFallback = true
	v.LexisNexisRequestMode = "testing"
	v.LexisNexisInstantVerifyWorkflow = "gsa2.chk32.test.wf"
	v.LexisNexisInstantVerifyTimeout = 1.0
	v.LexisNexisPhoneFinderWorkflow = "customers.gsa2.phonefinder.workflow"
	v.LexisNexisPhoneFinderTimeout = 1.0
	v.LexisNexisTrueIDTimeout = 60
	v.DocAuthErrorDPIThreshold = 290
	v.DocAuthErrorSharpnessThreshold = 40
	v.DocAuthErrorGlareThreshold = 40
	v.DocAuthSupportedCountryCodes = []string{"US", "GU", "VI", "AS", "MP", "PR", "USA", "GUM", "VIR", "ASM", "MNP", "PRI"}
	v.AAMVAAuthURL = DefaultAAMVAAuthURL
	v.AAMVAVerificationURL = DefaultAAMVAVerificationURL
	v.AAMVAAuthRequestTimeout = 5
	v.AAMVAVerificationRequestTimeout = 5
	v.AAMVACertEnabled = true
	v.AAMVASupportedJurisdictions = []string{
		"AL", "AR", "AZ", "CO", "CT", "DC", "DE", "FL", "GA", "HI", "IA", "ID", "IL",
		"IN", "KS", "KY", "MA", "MD", "ME", "MI", "MO", "MS", "MT", "NC", "ND", "NE",
		"NJ", "NM", "NV", "OH", "OR", "PA", "RI", "SC", "SD", "TN", "TX", "UT", "VA",
		"VT", "WA", "WI", "WV", "WY",
	}
}

// UsesAAMVA reports whether the state-ID stage calls AAMVA.
func (v *Vendors) UsesAAMVA() bool { return !v.ProoferMockFallback }

// AllMock reports whether every kind uses a mock vendor.
func (v *Vendors) AllMock() bool {
	return v.IDVResolutionDefaultVendor == VendorMock && v.IDVAddressPrimaryVendor == VendorMock &&
		v.DocAuthVendorDefault == VendorMock && v.ProoferMockFallback
}

// Seconds turns a timeout key's value into a duration.
func Seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

// Jurisdictions is aamva_supported_jurisdictions normalised: upper case,
// JSON brackets and quotes dropped (the original key held a JSON list).
func (v *Vendors) Jurisdictions() []string {
	var out []string
	for _, j := range v.AAMVASupportedJurisdictions {
		j = strings.ToUpper(strings.Trim(strings.TrimSpace(j), `[]"' `))
		if j != "" && !slices.Contains(out, j) {
			out = append(out, j)
		}
	}
	return out
}

func (v *Vendors) validate(c *Config) error {
	oneOf := func(key, val string, allowed ...string) error {
		if !slices.Contains(allowed, val) {
			return &Error{Key: key, Msg: "must be " + strings.Join(allowed, " or ")}
		}
		return nil
	}
	timeout := func(key string, s, max float64) error {
		if math.IsNaN(s) || s <= 0 || s > max {
			return &Error{Key: key, Msg: "must be a number of seconds above 0 and at most " + trimFloat(max)}
		}
		return nil
	}
	required := func(key, val string) error {
		if strings.TrimSpace(val) == "" {
			return &Error{Key: key, Msg: "is required when a LexisNexis or AAMVA vendor is selected"}
		}
		return nil
	}
	checks := []error{
		oneOf("idv_resolution_default_vendor", v.IDVResolutionDefaultVendor, VendorMock, VendorInstantVerify),
		oneOf("idv_address_primary_vendor", v.IDVAddressPrimaryVendor, VendorMock, VendorLexisNexis),
		oneOf("doc_auth_vendor_default", v.DocAuthVendorDefault, VendorMock, VendorLexisNexis),
		timeout("lexisnexis_instant_verify_timeout", v.LexisNexisInstantVerifyTimeout, 120),
		timeout("lexisnexis_phone_finder_timeout", v.LexisNexisPhoneFinderTimeout, 120),
		timeout("lexisnexis_trueid_timeout", v.LexisNexisTrueIDTimeout, 600),
		timeout("aamva_auth_request_timeout", v.AAMVAAuthRequestTimeout, 120),
		timeout("aamva_verification_request_timeout", v.AAMVAVerificationRequestTimeout, 120),
	}
	rdp := v.IDVResolutionDefaultVendor == VendorInstantVerify || v.IDVAddressPrimaryVendor == VendorLexisNexis
	trueID := v.DocAuthVendorDefault == VendorLexisNexis
	if rdp || trueID {
		checks = append(checks, httpsURL("lexisnexis_base_url", v.LexisNexisBaseURL, true))
	}
	if rdp {
		checks = append(checks, required("lexisnexis_account_id", v.LexisNexisAccountID))
		if v.LexisNexisHMACAuthEnabled {
			checks = append(checks, required("lexisnexis_hmac_key_id", v.LexisNexisHMACKeyID), required("lexisnexis_hmac_secret_key", v.LexisNexisHMACSecretKey))
		} else {
			checks = append(checks, required("lexisnexis_username", v.LexisNexisUsername), required("lexisnexis_password", v.LexisNexisPassword))
		}
		if v.IDVResolutionDefaultVendor == VendorInstantVerify {
			checks = append(checks, pathSegment("lexisnexis_instant_verify_workflow", v.LexisNexisInstantVerifyWorkflow))
		}
		if v.IDVAddressPrimaryVendor == VendorLexisNexis {
			checks = append(checks, pathSegment("lexisnexis_phone_finder_workflow", v.LexisNexisPhoneFinderWorkflow))
		}
		checks = append(checks, pathSegment("lexisnexis_account_id", v.LexisNexisAccountID))
	}
	if trueID {
		checks = append(checks, required("lexisnexis_trueid_account_id", v.LexisNexisTrueIDAccountID), pathSegment("lexisnexis_trueid_account_id", v.LexisNexisTrueIDAccountID))
		if v.LexisNexisHMACAuthEnabled {
			checks = append(checks, required("lexisnexis_trueid_hmac_key_id", v.LexisNexisTrueIDHMACKeyID), required("lexisnexis_trueid_hmac_secret_key", v.LexisNexisTrueIDHMACSecretKey))
		} else {
			checks = append(checks, required("lexisnexis_trueid_username", v.LexisNexisTrueIDUsername), required("lexisnexis_trueid_password", v.LexisNexisTrueIDPassword))
		}
		for _, kv := range [][2]string{
			{"lexisnexis_trueid_liveness_cropping_workflow", v.LexisNexisTrueIDLivenessCroppingWorkflow},
			{"lexisnexis_trueid_liveness_nocropping_workflow", v.LexisNexisTrueIDLivenessNocroppingWorkflow},
			{"lexisnexis_trueid_noliveness_cropping_workflow", v.LexisNexisTrueIDNolivenessCroppingWorkflow},
			{"lexisnexis_trueid_noliveness_nocropping_workflow", v.LexisNexisTrueIDNolivenessNocroppingWorkflow},
		} {
			checks = append(checks, required(kv[0], kv[1]), pathSegment(kv[0], kv[1]))
		}
		for _, kv := range []struct {
			key string
			v   int
		}{
			{"doc_auth_error_dpi_threshold", v.DocAuthErrorDPIThreshold},
			{"doc_auth_error_sharpness_threshold", v.DocAuthErrorSharpnessThreshold},
			{"doc_auth_error_glare_threshold", v.DocAuthErrorGlareThreshold},
		} {
			if kv.v < 0 || kv.v > 10000 {
				checks = append(checks, &Error{Key: kv.key, Msg: "must be from 0 to 10000"})
			}
		}
	}
	if v.UsesAAMVA() {
		checks = append(checks,
			httpsURL("aamva_auth_url", v.AAMVAAuthURL, false),
			httpsURL("aamva_verification_url", v.AAMVAVerificationURL, false),
			required("aamva_private_key", v.AAMVAPrivateKey),
			required("aamva_public_key", v.AAMVAPublicKey),
		)
		if v.AAMVAPrivateKey != "" {
			if _, err := ParseRSAKey(v.AAMVAPrivateKey); err != nil {
				checks = append(checks, &Error{Key: "aamva_private_key", Msg: "must be base64 of an RSA private key"})
			}
		}
		if v.AAMVAPublicKey != "" {
			if _, err := ParseCertificate(v.AAMVAPublicKey); err != nil {
				checks = append(checks, &Error{Key: "aamva_public_key", Msg: "must be base64 of an X.509 certificate"})
			}
		}
		if len(v.Jurisdictions()) == 0 {
			checks = append(checks, &Error{Key: "aamva_supported_jurisdictions", Msg: "must list at least one jurisdiction"})
		}
		for _, j := range v.Jurisdictions() {
			if len(j) != 2 {
				checks = append(checks, &Error{Key: "aamva_supported_jurisdictions", Msg: "must be two-letter codes"})
				break
			}
		}
	}
	if v.VendorTLSCAFile != "" {
		if _, err := v.CertPool(); err != nil {
			checks = append(checks, &Error{Key: "vendor_tls_ca_file", Msg: "must name a readable PEM file of certificates"})
		}
	}
	for _, err := range checks {
		if err != nil {
			return err
		}
	}
	return nil
}

// CertPool is the system roots plus vendor_tls_ca_file, or nil (the system
// roots) when that is not set.
func (v *Vendors) CertPool() (*x509.CertPool, error) {
	if v.VendorTLSCAFile == "" {
		return nil, nil
	}
	pem, err := os.ReadFile(v.VendorTLSCAFile)
	if err != nil {
		return nil, err
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, &Error{Key: "vendor_tls_ca_file", Msg: "holds no PEM certificate"}
	}
	return pool, nil
}

func httpsURL(key, raw string, origin bool) error {
	u, err := url.Parse(raw)
	if raw == "" || err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" ||
		(origin && u.Path != "" && u.Path != "/") {
		what := "an https URL"
		if origin {
			what = "an https origin like https://rdp.example.com"
		}
		return &Error{Key: key, Msg: "must be " + what}
	}
	return nil
}

func pathSegment(key, v string) error {
	if strings.ContainsAny(v, "/?#% \t\r\n") {
		return &Error{Key: key, Msg: "must not contain /, ?, #, % or spaces"}
	}
	return nil
}

func trimFloat(f float64) string { return formatFloat(f) }

// decodeBlob reads base64 (any alphabet, padding optional) of DER or of PEM,
// or PEM itself.
func decodeBlob(s string) []byte {
	s = strings.TrimSpace(s)
	if b, _ := pem.Decode([]byte(s)); b != nil {
		return b.Bytes
	}
	clean := strings.Map(func(r rune) rune {
		if r == '\n' || r == '\r' || r == ' ' || r == '\t' {
			return -1
		}
		return r
	}, s)
	clean = strings.TrimRight(clean, "=")
	raw, err := base64.RawStdEncoding.DecodeString(clean)
	if err != nil {
		if raw, err = base64.RawURLEncoding.DecodeString(clean); err != nil {
			return nil
		}
	}
	if b, _ := pem.Decode(raw); b != nil {
		return b.Bytes
	}
	return raw
}

// ParseRSAKey reads aamva_private_key.
func ParseRSAKey(s string) (*rsa.PrivateKey, error) {
	der := decodeBlob(s)
	if k, err := x509.ParsePKCS1PrivateKey(der); err == nil {
		return k, nil
	}
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, err
	}
	rk, ok := k.(*rsa.PrivateKey)
	if !ok {
		return nil, &Error{Key: "aamva_private_key", Msg: "must be an RSA key"}
	}
	return rk, nil
}

// ParseCertificate reads aamva_public_key.
func ParseCertificate(s string) (*x509.Certificate, error) {
	return x509.ParseCertificate(decodeBlob(s))
}

func formatFloat(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }
