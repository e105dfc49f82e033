// Package aamva is the AAMVA DLDV (Driver's License Data Verification)
// adapter, the state-ID vendor "aamva:state_id". Each verification is SOAP
// 1.2 over HTTPS through the one outbound client (package vendorhttp):
//
//  1. a WS-Trust RST/SCT to the authentication service, signed (XML-DSig,
//     RSA-SHA1, exclusive c14n) over its Timestamp and To with the
//     configured X.509 key, carrying a client nonce;
//  2. Authenticate, signed with HMAC-SHA1 keyed by P_SHA1(client nonce,
//     server nonce) and referencing the security context token of step 1;
//     the returned token is cached for 28 minutes;
//  3. VerifyDriverLicenseData with that token; match indicators decide the
//     fields.
//
// SOAP faults are exceptions; ProgramException ids 0001 (DMV unavailable),
// 0002 (DMV system error) and 0047 (the state's DMV timed out: an MVA
// timeout, not a vendor timeout) are named in the message. A connection to
// AAMVA that fails (refused, reset, no such host) is a vendor timeout, as
// Login.gov maps it. The verified attributes name the address as one
// attribute, "address" (Login.gov's normalize_address_attributes).
package aamva

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/proofline/proofline"
	"github.com/proofline/proofline/proofer"
	"github.com/proofline/proofline/proofer/vendorhttp"
)

// Name is the vendor name.
const Name = "aamva:state_id"

// TokenTTL is how long an authentication token is reused.
const TokenTTL = 28 * time.Minute

// Config configures the adapter.
type Config struct {
	AuthURL, VerificationURL string
	// AuthTimeout bounds each authentication call, VerificationTimeout the
	// verification call (default 5 s each).
	AuthTimeout, VerificationTimeout time.Duration
	// CertEnabled sends every request to the CERT jurisdiction P6.
	CertEnabled bool
	PrivateKey  *rsa.PrivateKey
	Certificate *x509.Certificate
	// SupportedJurisdictions are the jurisdictions sent to AAMVA; others
	// fail state_id_jurisdiction without a call.
	SupportedJurisdictions []string

	// Now, NewID and Random make requests reproducible in tests; nil means
	// the clock, random UUIDs and crypto/rand.
	Now    func() time.Time
	NewID  func() string
	Random io.Reader
}

// AAMVA is the state-ID vendor. It is safe for concurrent use.
type AAMVA struct {
	cfg  Config
	http *vendorhttp.Client

	mu       sync.Mutex // held while a token is fetched: one fetch at a time
	token    string
	tokenExp time.Time
}

// CallBudget is the configured verification timeout (proofer.Budgeted); a
// cached token is the common case, so authentication is not counted.
func (v *AAMVA) CallBudget() time.Duration { return v.cfg.VerificationTimeout }

var _ proofer.StateIDVendor = (*AAMVA)(nil)

// New builds the adapter.
func New(cfg Config, hc *vendorhttp.Client) (*AAMVA, error) {
	if hc == nil {
		return nil, errors.New("aamva: an HTTP client is required")
	}
	for _, u := range []string{cfg.AuthURL, cfg.VerificationURL} {
		p, err := url.Parse(u)
		if err != nil || p.Scheme != "https" || p.Host == "" {
			return nil, errors.New("aamva: the authentication and verification URLs must be https URLs")
		}
	}
	if cfg.PrivateKey == nil || cfg.Certificate == nil {
		return nil, errors.New("aamva: the private key and certificate are required")
	}
	pub, ok := cfg.Certificate.PublicKey.(*rsa.PublicKey)
	if !ok || !pub.Equal(&cfg.PrivateKey.PublicKey) {
		return nil, errors.New("aamva: the certificate is not the private key's")
	}
	if cfg.AuthTimeout <= 0 {
		cfg.AuthTimeout = 5 * time.Second
	}
	if cfg.VerificationTimeout <= 0 {
		cfg.VerificationTimeout = 5 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.NewID == nil {
		cfg.NewID = newUUID
	}
	if cfg.Random == nil {
		cfg.Random = rand.Reader
	}
	js := make([]string, 0, len(cfg.SupportedJurisdictions))
	for _, j := range cfg.SupportedJurisdictions {
		js = append(js, strings.ToUpper(strings.TrimSpace(j)))
	}
	cfg.SupportedJurisdictions = js
	return &AAMVA{cfg: cfg, http: hc}, nil
}

// Name returns "aamva:state_id".
func (*AAMVA) Name() string { return Name }

// Messages of field failures, as the original: a false indicator is
// UNVERIFIED, a missing one MISSING.
const (
	MsgUnverified              = "UNVERIFIED"
	MsgMissing                 = "MISSING"
	MsgUnsupportedJurisdiction = "The jurisdiction could not be verified."
	MsgUnsupportedType         = "The state ID type could not be verified."
)

// documentCategory maps each state_id_type checked with the DMV to its
// DocumentCategoryCode; an identification card (TrueID's "Identification
// Card") is checked without one, as Login.gov does.
var documentCategory = map[string]string{"drivers_license": "1", "drivers_permit": "2", "state_id_card": "3", "identification_card": ""}

// VerifyStateID checks the applicant's state ID with the DMV.
func (v *AAMVA) VerifyStateID(ctx context.Context, a *proofline.Applicant) (*proofer.VendorResult, error) {
	if a == nil {
		a = &proofline.Applicant{}
	}
	out := &proofer.VendorResult{Vendor: Name, Errors: map[string][]string{}}
	j := strings.ToUpper(strings.TrimSpace(a.StateIDJurisdiction.Reveal()))
	if !slices.Contains(v.cfg.SupportedJurisdictions, j) {
		out.Errors["state_id_jurisdiction"] = []string{MsgUnsupportedJurisdiction}
	}
	if _, ok := documentCategory[strings.ToLower(strings.TrimSpace(a.StateIDType.Reveal()))]; !ok {
		out.Errors["state_id_type"] = []string{MsgUnsupportedType}
	}
	if len(out.Errors) > 0 {
		return out, nil
	}
	token, err := v.authToken(ctx)
	if err != nil {
		return nil, err
	}
	body := v.VerificationRequest(a, token)
	resp, err := v.do(ctx, &vendorhttp.Request{
		Vendor: Name, Service: "aamva_verification", Method: http.MethodPost, URL: v.cfg.VerificationURL,
		Header: soapHeader(ActionVerify), Body: body, Timeout: v.cfg.VerificationTimeout,
	})
	if err != nil {
		return nil, err
	}
	vr, err := ParseVerificationResponse(resp.Status, resp.Body)
	if err != nil {
		var f *Fault
		if errors.As(err, &f) || !resp.OK() {
			v.dropToken(token) // the next call authenticates afresh
		}
		return nil, v.vendorError(err, resp)
	}
	out.TransactionID = vr.TransactionID
	out.Errors = vr.Errors()
	out.VerifiedAttributes = vr.VerifiedAttributes()
	return out, nil
}

// do makes one call; a connection that fails (refused, reset, no such
// host) is a vendor timeout, as Login.gov maps Faraday's ConnectionFailed
// for every AAMVA request.
func (v *AAMVA) do(ctx context.Context, r *vendorhttp.Request) (*vendorhttp.Response, error) {
	resp, err := v.http.Do(ctx, r)
	if err != nil && vendorhttp.ConnectionFailed(err) {
		return nil, &proofer.VendorError{Vendor: Name, Message: vendorhttp.MsgTransport, Timeout: true, Cause: err}
	}
	return resp, err
}

func soapHeader(action string) http.Header {
	h := http.Header{}
	h.Set("Content-Type", "application/soap+xml;charset=UTF-8")
	h.Set("SOAPAction", `"`+action+`"`)
	return h
}

// authToken returns the cached token or runs the two authentication steps.
func (v *AAMVA) authToken(ctx context.Context) (string, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	now := v.cfg.Now()
	if v.token != "" && now.Before(v.tokenExp) {
		return v.token, nil
	}
	clientNonce := make([]byte, 32)
	if _, err := io.ReadFull(v.cfg.Random, clientNonce); err != nil {
		return "", &proofer.VendorError{Vendor: Name, Message: "AAMVA authentication failed: no randomness"}
	}
	req, err := securityTokenRequest(v.cfg.PrivateKey, v.cfg.Certificate, v.cfg.AuthURL, now, v.cfg.NewID, clientNonce)
	if err != nil {
		return "", &proofer.VendorError{Vendor: Name, Message: "AAMVA authentication failed: cannot sign", Cause: err}
	}
	resp, err := v.do(ctx, &vendorhttp.Request{
		Vendor: Name, Service: "aamva_security_token", Method: http.MethodPost, URL: v.cfg.AuthURL,
		Header: soapHeader(ActionAuthenticate), Body: req, Timeout: v.cfg.AuthTimeout,
	})
	if err != nil {
		return "", err
	}
	sct, err := parseSecurityTokenResponse(resp.Status, resp.Body)
	if err != nil {
		return "", v.authError(err, resp)
	}
	serverNonce, err := base64.StdEncoding.DecodeString(sct.serverNonce)
	if err != nil || len(serverNonce) == 0 {
		return "", &proofer.VendorError{Vendor: Name, Message: "AAMVA authentication failed: bad server nonce"}
	}
	ctxTok := &securityContext{reference: sct.reference, identifier: sct.identifier, key: PSHA1(clientNonce, serverNonce, 32)}
	resp, err = v.do(ctx, &vendorhttp.Request{
		Vendor: Name, Service: "aamva_authentication_token", Method: http.MethodPost, URL: v.cfg.AuthURL,
		Header: soapHeader(ActionAuthenticate), Body: authenticationTokenRequest(ctxTok, v.cfg.AuthURL, v.cfg.Now(), v.cfg.NewID),
		Timeout: v.cfg.AuthTimeout,
	})
	if err != nil {
		return "", err
	}
	token, err := parseAuthenticationTokenResponse(resp.Status, resp.Body)
	if err != nil {
		return "", v.authError(err, resp)
	}
	v.token, v.tokenExp = token, now.Add(TokenTTL)
	return token, nil
}

func (v *AAMVA) dropToken(token string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.token == token {
		v.token = ""
	}
}

// authError is the exception of a failed authentication step.
func (v *AAMVA) authError(err error, resp *vendorhttp.Response) error {
	var f *Fault
	switch {
	case errors.As(err, &f):
		return &proofer.VendorError{Vendor: Name, Message: "AAMVA authentication failed: " + f.Summary(), MVATimeout: f.Has(ExceptionMVATimeout)}
	case !resp.OK():
		return &proofer.VendorError{Vendor: Name, Message: "AAMVA authentication failed: Unexpected status code '" + strconv.Itoa(resp.Status) + "' (" + resp.ContentTypeOrNone() + ")"}
	case errors.Is(err, errXML):
		return vendorhttp.MalformedError(Name, resp)
	}
	return &proofer.VendorError{Vendor: Name, Message: "AAMVA authentication failed: " + err.Error()}
}

// vendorError is the exception of a failed verification call.
func (v *AAMVA) vendorError(err error, resp *vendorhttp.Response) error {
	var f *Fault
	switch {
	case errors.As(err, &f):
		return &proofer.VendorError{Vendor: Name, Message: f.Summary(), MVATimeout: f.Has(ExceptionMVATimeout)}
	case !resp.OK():
		return vendorhttp.StatusError(Name, resp)
	}
	return vendorhttp.MalformedError(Name, resp)
}

var nonWord = regexp.MustCompile(`\W`)

// VerificationRequest is the VerifyDriverLicenseData envelope for a.
func (v *AAMVA) VerificationRequest(a *proofline.Applicant, token string) []byte {
	j := strings.ToUpper(strings.TrimSpace(a.StateIDJurisdiction.Reveal()))
	dest := j
	if v.cfg.CertEnabled {
		dest = "P6"
	}
	id := nonWord.ReplaceAllString(a.StateIDNumber.Reveal(), "")
	if j == "SC" && len(id) < 8 {
		id = strings.Repeat("0", 8-len(id)) + id
	}
	el := func(name, val string) string { return "<" + name + ">" + xmlText(val) + "</" + name + ">" }
	var b strings.Builder
	b.WriteString(`<soap:Envelope xmlns:soap="` + nsSOAP + `" xmlns:wsa="` + nsWSA + `" xmlns:dldv="` + nsDLDV + `" xmlns:aa="` + nsAA + `" xmlns:nc="` + nsNC + `" xmlns:xsi="` + nsXSI + `">`)
	b.WriteString(`<soap:Header><wsa:Action soap:mustUnderstand="1">` + ActionVerify + `</wsa:Action></soap:Header>`)
	b.WriteString(`<soap:Body><dldv:VerifyDriverLicenseData>` + el("dldv:token", token) + `<dldv:verifyDriverLicenseDataRequest>`)
	b.WriteString(`<aa:ControlData><aa:MessageAddress>` + el("aa:TransactionLocatorId", v.cfg.NewID()) + el("aa:MessageOriginatorId", "GSA") + el("aa:MessageDestinationId", dest) + `</aa:MessageAddress></aa:ControlData>`)
	b.WriteString(`<nc:DriverLicenseIdentification><nc:IdentificationID xsi:type="nc:PersonNameTextType">` + xmlText(id) + `</nc:IdentificationID></nc:DriverLicenseIdentification>`)
	b.WriteString(el("aa:PersonBirthDate", isoDate(a.DOB.Reveal())))
	opt := func(name, val string) {
		if val != "" {
			b.WriteString(el(name, val))
		}
	}
	b.WriteString(`<nc:PersonName>` + el("nc:PersonGivenName", a.FirstName.Reveal()) + el("nc:PersonSurName", a.LastName.Reveal()))
	opt("nc:PersonMiddleName", strings.TrimSpace(a.MiddleName.Reveal()))
	opt("nc:PersonNameSuffixText", strings.TrimSpace(a.NameSuffix.Reveal()))
	b.WriteString(`</nc:PersonName><aa:Address>` + el("nc:AddressDeliveryPointText", a.Address1.Reveal()))
	opt("nc:AddressDeliveryPointText", strings.TrimSpace(a.Address2.Reveal()))
	b.WriteString(el("nc:LocationCityName", a.City.Reveal()) + el("nc:LocationStateUsPostalServiceCode", strings.ToUpper(a.State.Reveal())) + el("nc:LocationPostalCode", zip5(a.Zipcode.Reveal())) + `</aa:Address>`)
	// The optional facts, when known and in a form DLDV takes, in
	// Login.gov's order.
	opt("aa:PersonHeightMeasure", heightCode(a.Height.Reveal()))
	opt("aa:PersonWeightMeasure", weightCode(a.Weight.Reveal()))
	opt("aa:PersonEyeColorCode", eyeColorCode(a.EyeColor.Reveal()))
	opt("aa:PersonSexCode", sexCode(a.Sex.Reveal()))
	opt("aa:DriverLicenseIssueDate", isoDate(a.StateIDIssued.Reveal()))
	opt("aa:DriverLicenseExpirationDate", isoDate(a.StateIDExpiration.Reveal()))
	opt("aa:DocumentCategoryCode", documentCategory[strings.ToLower(strings.TrimSpace(a.StateIDType.Reveal()))])
	b.WriteString(`</dldv:verifyDriverLicenseDataRequest></dldv:VerifyDriverLicenseData></soap:Body></soap:Envelope>`)
	return []byte(b.String())
}

var (
	digitsRE   = regexp.MustCompile(`^[0-9]{1,3}$`)
	eyeColorRE = regexp.MustCompile(`^[A-Za-z]{3}$`)
)

// heightCode is a height in whole inches (Login.gov's applicant height) as
// DLDV's PersonHeightMeasure: feet, then inches as two digits (70 → "510").
func heightCode(s string) string {
	s = strings.TrimSpace(s)
	if !digitsRE.MatchString(s) {
		return ""
	}
	n, _ := strconv.Atoi(s)
	if feet := n / 12; feet < 1 || feet > 9 {
		return ""
	}
	return fmt.Sprintf("%d%02d", n/12, n%12)
}

// weightCode is a weight in whole pounds.
func weightCode(s string) string {
	if s = strings.TrimSpace(s); digitsRE.MatchString(s) {
		return s
	}
	return ""
}

// eyeColorCode is a three-letter eye colour code (BRO, BLU, ...).
func eyeColorCode(s string) string {
	if s = strings.TrimSpace(s); eyeColorRE.MatchString(s) {
		return strings.ToUpper(s)
	}
	return ""
}

// sexCode is 1 for male, 2 for female; DLDV can verify no other value.
func sexCode(s string) string {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "male":
		return "1"
	case "female":
		return "2"
	}
	return ""
}

// xmlText escapes character data (including quotes and control characters).
func xmlText(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch r {
		case '&':
			b.WriteString("&amp;")
		case '<':
			b.WriteString("&lt;")
		case '>':
			b.WriteString("&gt;")
		case '"':
			b.WriteString("&quot;")
		case '\'':
			b.WriteString("&apos;")
		default:
			if !isXMLChar(r) {
				continue // unrepresentable in XML: dropped
			}
			if r < 0x20 {
				fmt.Fprintf(&b, "&#x%X;", r)
				continue
			}
			b.WriteRune(r)
		}
	}
	return b.String()
}

// isoDate reads YYYY-MM-DD, YYYYMMDD or MM/DD/YYYY and writes YYYY-MM-DD.
func isoDate(s string) string {
	s = strings.TrimSpace(s)
	for _, layout := range []string{"2006-01-02", "20060102", "01/02/2006"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.Format("2006-01-02")
		}
	}
	return ""
}

func zip5(s string) string {
	d := strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return r
		}
		return -1
	}, s)
	if len(d) > 5 {
		d = d[:5]
	}
	return d
}

func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
