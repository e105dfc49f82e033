package vendortest

import (
	"bytes"
	"crypto"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// Namespaces the AAMVA server checks (written out here, not shared with
// package aamva).
const (
	aNSSOAP = "http://www.w3.org/2003/05/soap-envelope"
	aNSWSA  = "http://www.w3.org/2005/08/addressing"
	aNSWSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
	aNSWSU  = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
	aNSDS   = "http://www.w3.org/2000/09/xmldsig#"
	aNSEC   = "http://www.w3.org/2001/10/xml-exc-c14n#"
	aNSWST  = "http://schemas.xmlsoap.org/ws/2005/02/trust"
	aNSWSC  = "http://schemas.xmlsoap.org/ws/2005/02/sc"
	aNSAuth = "http://aamva.org/authentication/3.1.0"
	aNSDLDV = "http://aamva.org/dldv/wsdl/2.1"
	aNSAA   = "http://aamva.org/niem/extensions/1.0"
	aNSNC   = "http://niem.gov/niem/niem-core/2.0"

	aActionAuth   = "http://aamva.org/authentication/3.1.0/IAuthenticationService/Authenticate"
	aActionVerify = "http://aamva.org/dldv/wsdl/2.1/IDLDVService21/VerifyDriverLicenseData"
)

// AAMVA paths on the test server.
const (
	AAMVAAuthPath         = "/Authentication/Authenticate.svc"
	AAMVAVerificationPath = "/dldv/2.1/online"
)

// Magic state ID numbers of the AAMVA scenarios (after the adapter strips
// non-word characters). An all-zero number fails the licence number.
const (
	AAMVAFault0001     = "FAULT0001"  // SOAP fault: MVA unavailable
	AAMVAFault0002     = "FAULT0002"  // SOAP fault: MVA system error
	AAMVAMVATimeout    = "MVATIMEOUT" // SOAP fault: 0047 MVA timeout and 0048 high traffic
	AAMVASlow          = "SLOW1234"   // answers only after the client gave up
	AAMVAHTTP500       = "HTTP500"    // HTTP 500, HTML reflecting the request
	AAMVAMalformed     = "MALFORMED"  // HTTP 200, not XML
	AAMVANoMatch       = "NOMATCH1"   // only DriverLicenseNumberMatchIndicator=false, others missing
	AAMVADOBMismatch   = "DOBFAIL1"   // the birth date does not match
	AAMVAUnnamespaced  = "PLAIN123"   // an un-namespaced success response
	AAMVAExpiredTokens = "REAUTH12"   // a fault telling the token is not valid (forces re-authentication)
	AAMVAAddressPart   = "ADDRPART1"  // the address only partly matches: city and ZIP5 do not
	AAMVAAddress2Fail  = "ADDR2FAIL1" // address line 2 (when sent) does not match; the rest does
)

var (
	keyOnce sync.Once
	key     *rsa.PrivateKey
	cert    *x509.Certificate
	keyErr  error
)

// AAMVAKeyPair returns a synthetic RSA key and its self-signed certificate
// (made once per test process).
func AAMVAKeyPair(t testing.TB) (*rsa.PrivateKey, *x509.Certificate) {
	keyOnce.Do(func() {
		key, keyErr = rsa.GenerateKey(rand.Reader, 2048)
		if keyErr != nil {
			return
		}
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(42), Subject: pkix.Name{CommonName: "proofline test AAMVA client"},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature,
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
		if err != nil {
			keyErr = err
			return
		}
		cert, keyErr = x509.ParseCertificate(der)
	})
	if keyErr != nil {
		t.Fatal(keyErr)
	}
	return key, cert
}

// AAMVA is an HTTPS server speaking the DLDV authentication and
// verification services. It verifies the RSA-SHA1 signature of the security
// token request and the HMAC-SHA1 signature of Authenticate with its own
// canonicalization and key derivation, and answers each failure with a SOAP
// fault so that a wrong signature fails the test.
type AAMVA struct {
	*httptest.Server
	AuthURL, VerificationURL string

	cert *x509.Certificate
	done chan struct{}

	mu                                sync.Mutex
	sessions                          map[string]*aamvaSession
	tokens                            map[string]bool
	securityTokens, authTokens, verif int
	signatureFailures                 []string
	authFailure                       string
	reqs                              []Recorded
	exchanges                         []Exchange
}

// Exchange is one answer the server gave.
type Exchange struct {
	Path     string
	Status   int
	Response []byte
}

// Exchanges returns the answers given so far (for seed corpora).
func (s *AAMVA) Exchanges() []Exchange {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Exchange(nil), s.exchanges...)
}

type recordingWriter struct {
	http.ResponseWriter
	status int
	buf    bytes.Buffer
}

func (w *recordingWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

func (w *recordingWriter) Write(b []byte) (int, error) {
	w.buf.Write(b)
	return w.ResponseWriter.Write(b)
}

type aamvaSession struct {
	reference                string
	clientNonce, serverNonce []byte
}

// NewAAMVA starts the server; it accepts signatures by clientCert only.
func NewAAMVA(t testing.TB, clientCert *x509.Certificate) *AAMVA {
	s := &AAMVA{cert: clientCert, done: make(chan struct{}), sessions: map[string]*aamvaSession{}, tokens: map[string]bool{}}
	mux := http.NewServeMux()
	mux.HandleFunc(AAMVAAuthPath, s.auth)
	mux.HandleFunc(AAMVAVerificationPath, s.verify)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNotFound) })
	s.Server = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rw := &recordingWriter{ResponseWriter: w, status: http.StatusOK}
		mux.ServeHTTP(rw, r)
		s.mu.Lock()
		s.exchanges = append(s.exchanges, Exchange{Path: r.URL.Path, Status: rw.status, Response: rw.buf.Bytes()})
		s.mu.Unlock()
	}))
	s.AuthURL = s.URL + AAMVAAuthPath
	s.VerificationURL = s.URL + AAMVAVerificationPath
	t.Cleanup(s.Server.Close)
	t.Cleanup(func() { close(s.done) })
	return s
}

// CertPool trusts the server's certificate.
func (s *AAMVA) CertPool() *x509.CertPool { return certPool(s.Server) }

// Counts reports how many security token, authentication and verification
// requests were answered successfully.
func (s *AAMVA) Counts() (securityTokens, authTokens, verifications int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.securityTokens, s.authTokens, s.verif
}

// SignatureFailures lists why signatures were refused.
func (s *AAMVA) SignatureFailures() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.signatureFailures...)
}

// Requests returns what the server received so far.
func (s *AAMVA) Requests() []Recorded {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Recorded(nil), s.reqs...)
}

// FailAuth makes the authentication service answer "fault" (a SOAP fault,
// ExceptionId 0001), "status" (HTTP 503, HTML) or "" (normally).
func (s *AAMVA) FailAuth(mode string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.authFailure = mode
}

func (s *AAMVA) refuse(w http.ResponseWriter, why string) {
	s.mu.Lock()
	s.signatureFailures = append(s.signatureFailures, why)
	s.mu.Unlock()
	soapFault(w, "The security token could not be authenticated or authorized", [][2]string{{"0101", "signature refused"}})
}

func soapFault(w http.ResponseWriter, reason string, exceptions [][2]string) {
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="utf-8"?><s:Envelope xmlns:s="` + aNSSOAP + `"><s:Body><s:Fault><s:Code><s:Value>s:Receiver</s:Value></s:Code>`)
	b.WriteString(`<s:Reason><s:Text xml:lang="en-US">` + c14nText(reason) + `</s:Text></s:Reason><s:Detail><ProgramExceptions xmlns="http://aamva.org/niem/extensions/1.0">`)
	for _, e := range exceptions {
		b.WriteString(`<ProgramException><ExceptionId>` + e[0] + `</ExceptionId><ExceptionText>` + c14nText(e[1]) + `</ExceptionText><ExceptionTypeCode>I</ExceptionTypeCode><ExceptionFatalIndicatorCode>true</ExceptionFatalIndicatorCode><ExceptionActorText>DLDV VSS</ExceptionActorText></ProgramException>`)
	}
	b.WriteString(`</ProgramExceptions></s:Detail></s:Fault></s:Body></s:Envelope>`)
	w.Header().Set("Content-Type", "application/soap+xml; charset=utf-8")
	w.WriteHeader(http.StatusInternalServerError)
	_, _ = io.WriteString(w, b.String())
}

func soapOK(w http.ResponseWriter, body string) {
	w.Header().Set("Content-Type", "application/soap+xml; charset=utf-8")
	_, _ = io.WriteString(w, `<s:Envelope xmlns:s="`+aNSSOAP+`" xmlns:a="`+aNSWSA+`"><s:Body>`+body+`</s:Body></s:Envelope>`)
}

func (s *AAMVA) record(r *http.Request, product string, body []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reqs = append(s.reqs, Recorded{Product: product, Method: r.Method, Path: r.URL.Path, Header: r.Header.Clone(), Body: body})
}

func checkSOAPHeaders(r *http.Request, action string) string {
	if !strings.HasPrefix(r.Header.Get("Content-Type"), "application/soap+xml") {
		return "content type"
	}
	if r.Header.Get("SOAPAction") != `"`+action+`"` {
		return "SOAPAction"
	}
	return ""
}

func (s *AAMVA) auth(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.WriteHeader(http.StatusMethodNotAllowed)
		return
	}
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	s.mu.Lock()
	failure := s.authFailure
	s.mu.Unlock()
	switch failure {
	case "fault":
		s.record(r, "aamva_auth", body)
		soapFault(w, "MVA unavailable", [][2]string{{"0001", "The MVA is unavailable"}})
		return
	case "status":
		s.record(r, "aamva_auth", body)
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = fmt.Fprintf(w, "<html>unavailable %s</html>", body)
		return
	}
	if why := checkSOAPHeaders(r, aActionAuth); why != "" {
		s.record(r, "aamva_auth", body)
		s.refuse(w, why)
		return
	}
	doc, err := parseRaw(body)
	if err != nil {
		s.record(r, "aamva_auth", body)
		s.refuse(w, "not XML: "+err.Error())
		return
	}
	if doc.first(aNSWST, "RequestSecurityToken") != nil {
		s.record(r, "aamva_security_token", body)
		s.securityToken(w, doc)
		return
	}
	s.record(r, "aamva_authentication_token", body)
	s.authenticate(w, doc)
}

// signedInfo checks the references of a ds:Signature and returns its
// canonical SignedInfo, signature value, signature method and the local
// names of the referenced elements.
func signedInfo(doc, sig *xnode) (canon string, value []byte, method string, signed []string, why string) {
	si := sig.first(aNSDS, "SignedInfo")
	if si == nil {
		return "", nil, "", nil, "no SignedInfo"
	}
	cm := si.first(aNSDS, "CanonicalizationMethod")
	if cm == nil || cm.attrValue("", "Algorithm") != aNSEC {
		return "", nil, "", nil, "canonicalization method"
	}
	var incl []string
	if in := cm.first(aNSEC, "InclusiveNamespaces"); in != nil {
		incl = strings.Fields(in.attrValue("", "PrefixList"))
	}
	sm := si.first(aNSDS, "SignatureMethod")
	if sm == nil {
		return "", nil, "", nil, "no signature method"
	}
	for _, ref := range si.all(aNSDS, "Reference") {
		uri := ref.attrValue("", "URI")
		target := doc.byID(aNSWSU, strings.TrimPrefix(uri, "#"))
		if !strings.HasPrefix(uri, "#") || target == nil {
			return "", nil, "", nil, "reference " + uri + " not found"
		}
		tr := ref.first(aNSDS, "Transform")
		if tr == nil || tr.attrValue("", "Algorithm") != aNSEC {
			return "", nil, "", nil, "transform"
		}
		var tincl []string
		if in := tr.first(aNSEC, "InclusiveNamespaces"); in != nil {
			tincl = strings.Fields(in.attrValue("", "PrefixList"))
		}
		dm := ref.first(aNSDS, "DigestMethod")
		if dm == nil || dm.attrValue("", "Algorithm") != "http://www.w3.org/2000/09/xmldsig#sha1" {
			return "", nil, "", nil, "digest method"
		}
		sum := sha1.Sum([]byte(excC14N(target, tincl)))
		dv := ref.first(aNSDS, "DigestValue")
		if dv == nil || dv.text() != base64.StdEncoding.EncodeToString(sum[:]) {
			return "", nil, "", nil, "digest of " + target.local + " differs"
		}
		signed = append(signed, target.local)
	}
	sv := sig.first(aNSDS, "SignatureValue")
	if sv == nil {
		return "", nil, "", nil, "no signature value"
	}
	value, err := base64.StdEncoding.DecodeString(strings.TrimSpace(sv.text()))
	if err != nil {
		return "", nil, "", nil, "signature value not base64"
	}
	return excC14N(si, incl), value, sm.attrValue("", "Algorithm"), signed, ""
}

func timestampValid(doc *xnode) bool {
	ts := doc.first(aNSWSU, "Timestamp")
	if ts == nil {
		return false
	}
	exp := ts.first(aNSWSU, "Expires")
	created := ts.first(aNSWSU, "Created")
	if exp == nil || created == nil {
		return false
	}
	e, err1 := time.Parse(time.RFC3339, exp.text())
	c, err2 := time.Parse(time.RFC3339, created.text())
	return err1 == nil && err2 == nil && time.Now().Before(e) && c.Before(time.Now().Add(5*time.Minute))
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func (s *AAMVA) securityToken(w http.ResponseWriter, doc *xnode) {
	sig := doc.first(aNSDS, "Signature")
	if sig == nil {
		s.refuse(w, "no signature")
		return
	}
	canon, value, method, signed, why := signedInfo(doc, sig)
	if why != "" {
		s.refuse(w, why)
		return
	}
	if method != "http://www.w3.org/2000/09/xmldsig#rsa-sha1" || !contains(signed, "Timestamp") || !contains(signed, "To") {
		s.refuse(w, fmt.Sprintf("method %s signs %v", method, signed))
		return
	}
	bst := doc.first(aNSWSSE, "BinarySecurityToken")
	if bst == nil {
		s.refuse(w, "no BinarySecurityToken")
		return
	}
	der, err := base64.StdEncoding.DecodeString(strings.TrimSpace(bst.text()))
	if err != nil {
		s.refuse(w, "BinarySecurityToken not base64")
		return
	}
	c, err := x509.ParseCertificate(der)
	if err != nil || !c.Equal(s.cert) {
		s.refuse(w, "unknown certificate")
		return
	}
	thumb := sha1.Sum(der)
	ki := sig.first(aNSWSSE, "KeyIdentifier")
	if ki == nil || ki.text() != base64.StdEncoding.EncodeToString(thumb[:]) {
		s.refuse(w, "thumbprint")
		return
	}
	digest := sha1.Sum([]byte(canon))
	if err := rsa.VerifyPKCS1v15(c.PublicKey.(*rsa.PublicKey), crypto.SHA1, digest[:], value); err != nil {
		s.refuse(w, "RSA signature does not verify")
		return
	}
	if !timestampValid(doc) {
		s.refuse(w, "timestamp")
		return
	}
	ent := doc.first(aNSWST, "Entropy")
	var clientNonce []byte
	if ent != nil {
		if bs := ent.first(aNSWST, "BinarySecret"); bs != nil {
			clientNonce, _ = base64.StdEncoding.DecodeString(bs.text())
		}
	}
	if len(clientNonce) != 32 {
		s.refuse(w, "client entropy")
		return
	}
	serverNonce := make([]byte, 32)
	_, _ = rand.Read(serverNonce)
	ref := "uuid-" + randomHex(8) + "-1"
	ident := "urn:uuid:" + randomHex(16)
	s.mu.Lock()
	s.sessions[ident] = &aamvaSession{reference: ref, clientNonce: clientNonce, serverNonce: serverNonce}
	s.securityTokens++
	s.mu.Unlock()
	soapOK(w, `<t:RequestSecurityTokenResponse xmlns:t="`+aNSWST+`" xmlns:u="`+aNSWSU+`"><t:TokenType>http://schemas.xmlsoap.org/ws/2005/02/sc/sct</t:TokenType>`+
		`<t:RequestedSecurityToken><c:SecurityContextToken u:Id="`+ref+`" xmlns:c="`+aNSWSC+`"><c:Identifier>`+ident+`</c:Identifier></c:SecurityContextToken></t:RequestedSecurityToken>`+
		`<t:RequestedProofToken><t:ComputedKey>http://schemas.xmlsoap.org/ws/2005/02/trust/CK/PSHA1</t:ComputedKey></t:RequestedProofToken>`+
		`<t:Entropy><t:BinarySecret u:Id="uuid-`+randomHex(4)+`" Type="http://schemas.xmlsoap.org/ws/2005/02/trust/Nonce">`+base64.StdEncoding.EncodeToString(serverNonce)+`</t:BinarySecret></t:Entropy>`+
		`<t:KeySize>256</t:KeySize></t:RequestSecurityTokenResponse>`)
}

// pSHA1 is WS-Trust's P_SHA1, written here independently of package aamva.
func pSHA1(secret, seed []byte, n int) []byte {
	var out []byte
	a := append([]byte(nil), seed...)
	for len(out) < n {
		h := hmac.New(sha1.New, secret)
		h.Write(a)
		a = h.Sum(nil)
		h2 := hmac.New(sha1.New, secret)
		h2.Write(append(append([]byte(nil), a...), seed...))
		out = append(out, h2.Sum(nil)...)
	}
	return out[:n]
}

func (s *AAMVA) authenticate(w http.ResponseWriter, doc *xnode) {
	if doc.first(aNSAuth, "Authenticate") == nil {
		s.refuse(w, "not Authenticate")
		return
	}
	sct := doc.first(aNSWSC, "SecurityContextToken")
	if sct == nil {
		s.refuse(w, "no SecurityContextToken")
		return
	}
	id := sct.first(aNSWSC, "Identifier")
	s.mu.Lock()
	var sess *aamvaSession
	if id != nil {
		sess = s.sessions[id.text()]
	}
	s.mu.Unlock()
	if sess == nil || sct.attrValue(aNSWSU, "Id") != sess.reference {
		s.refuse(w, "unknown security context")
		return
	}
	sig := doc.first(aNSDS, "Signature")
	if sig == nil {
		s.refuse(w, "no signature")
		return
	}
	canon, value, method, signed, why := signedInfo(doc, sig)
	if why != "" {
		s.refuse(w, why)
		return
	}
	if method != "http://www.w3.org/2000/09/xmldsig#hmac-sha1" || !contains(signed, "Timestamp") {
		s.refuse(w, fmt.Sprintf("method %s signs %v", method, signed))
		return
	}
	ref := sig.first(aNSWSSE, "Reference")
	if ref == nil || ref.attrValue("", "URI") != "#"+sess.reference {
		s.refuse(w, "key info does not reference the context token")
		return
	}
	m := hmac.New(sha1.New, pSHA1(sess.clientNonce, sess.serverNonce, 32))
	m.Write([]byte(canon))
	if !hmac.Equal(m.Sum(nil), value) {
		s.refuse(w, "HMAC signature does not verify")
		return
	}
	if !timestampValid(doc) {
		s.refuse(w, "timestamp")
		return
	}
	token := "TOKEN-" + randomHex(16)
	s.mu.Lock()
	s.tokens[token] = true
	s.authTokens++
	delete(s.sessions, id.text())
	s.mu.Unlock()
	soapOK(w, `<AuthenticateResponse xmlns="`+aNSAuth+`"><AuthenticateResult xmlns:b="http://schemas.datacontract.org/2004/07/Aamva.Authentication" xmlns:i="http://www.w3.org/2001/XMLSchema-instance"><b:Success>true</b:Success><b:Token>`+token+`</b:Token></AuthenticateResult></AuthenticateResponse>`)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// indicator names of a full match.
// matchIndicators are the indicators a verification answer may carry, in
// the order it carries them; each is sent when its input was (the first
// ones always are).
var matchIndicators = []string{
	"DriverLicenseNumberMatchIndicator", "DriverLicenseIssueDateMatchIndicator", "DriverLicenseExpirationDateMatchIndicator",
	"DocumentCategoryMatchIndicator", "PersonBirthDateMatchIndicator", "PersonHeightMatchIndicator", "PersonSexCodeMatchIndicator",
	"PersonWeightMatchIndicator", "PersonEyeColorMatchIndicator",
	"PersonLastNameExactMatchIndicator", "PersonLastNameFuzzyPrimaryMatchIndicator", "PersonFirstNameExactMatchIndicator",
	"PersonFirstNameFuzzyPrimaryMatchIndicator", "PersonMiddleNameExactMatchIndicator", "PersonNameSuffixMatchIndicator",
	"AddressLine1MatchIndicator", "AddressLine2MatchIndicator",
	"AddressCityMatchIndicator", "AddressStateCodeMatchIndicator", "AddressZIP5MatchIndicator",
}

// requestOrder is the order of the request's children (Login.gov's: the
// optional elements appended after the address, in this order).
var requestOrder = []struct{ ns, local string }{
	{aNSAA, "ControlData"}, {aNSNC, "DriverLicenseIdentification"}, {aNSAA, "PersonBirthDate"}, {aNSNC, "PersonName"}, {aNSAA, "Address"},
	{aNSAA, "PersonHeightMeasure"}, {aNSAA, "PersonWeightMeasure"}, {aNSAA, "PersonEyeColorCode"}, {aNSAA, "PersonSexCode"},
	{aNSAA, "DriverLicenseIssueDate"}, {aNSAA, "DriverLicenseExpirationDate"}, {aNSAA, "DocumentCategoryCode"},
}

// optionalInputs maps optional request elements to the indicator that
// answers them, and the form their value must have.
var optionalInputs = []struct {
	ns, local, indicator, pattern string
}{
	{aNSNC, "PersonMiddleName", "PersonMiddleNameExactMatchIndicator", `.+`},
	{aNSNC, "PersonNameSuffixText", "PersonNameSuffixMatchIndicator", `.+`},
	{aNSAA, "PersonHeightMeasure", "PersonHeightMatchIndicator", `^[1-9](0[0-9]|1[01])$`},
	{aNSAA, "PersonWeightMeasure", "PersonWeightMatchIndicator", `^[0-9]{1,3}$`},
	{aNSAA, "PersonEyeColorCode", "PersonEyeColorMatchIndicator", `^[A-Z]{3}$`},
	{aNSAA, "PersonSexCode", "PersonSexCodeMatchIndicator", `^[12]$`},
	{aNSAA, "DriverLicenseIssueDate", "DriverLicenseIssueDateMatchIndicator", `^\d{4}-\d{2}-\d{2}$`},
	{aNSAA, "DriverLicenseExpirationDate", "DriverLicenseExpirationDateMatchIndicator", `^\d{4}-\d{2}-\d{2}$`},
	{aNSAA, "DocumentCategoryCode", "DocumentCategoryMatchIndicator", `^[123]$`},
}

// checkRequest reports what is wrong with the verification request's
// structure ("" when nothing): its children out of order or unknown, the
// name or address parts out of order, an optional value in the wrong form.
func checkRequest(doc *xnode) string {
	req := doc.first(aNSDLDV, "verifyDriverLicenseDataRequest")
	if req == nil {
		return "no request"
	}
	next := 0
	for _, k := range req.kids {
		c, ok := k.(*xnode)
		if !ok {
			continue
		}
		i := next
		for i < len(requestOrder) && !(requestOrder[i].local == c.local && requestOrder[i].ns == c.uri()) {
			i++
		}
		if i == len(requestOrder) {
			return "element " + c.local + " out of order"
		}
		next = i + 1
	}
	order := func(parent *xnode, names ...string) string {
		if parent == nil {
			return ""
		}
		next := 0
		for _, k := range parent.kids {
			c, ok := k.(*xnode)
			if !ok {
				continue
			}
			i := next
			for i < len(names) && names[i] != c.local {
				i++
			}
			if i == len(names) {
				return "element " + c.local + " out of order"
			}
			next = i
			if c.local != "AddressDeliveryPointText" || i > 0 {
				next = i + 1
			}
		}
		return ""
	}
	if why := order(doc.first(aNSNC, "PersonName"), "PersonGivenName", "PersonSurName", "PersonMiddleName", "PersonNameSuffixText"); why != "" {
		return why
	}
	if why := order(doc.first(aNSAA, "Address"), "AddressDeliveryPointText", "LocationCityName", "LocationStateUsPostalServiceCode", "LocationPostalCode"); why != "" {
		return why
	}
	if n := len(doc.all(aNSNC, "AddressDeliveryPointText")); n > 2 {
		return "more than two address lines"
	}
	for _, o := range optionalInputs {
		if e := doc.first(o.ns, o.local); e != nil && !regexp.MustCompile(o.pattern).MatchString(e.text()) {
			return "bad " + o.local
		}
	}
	return ""
}

func (s *AAMVA) verify(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.WriteHeader(http.StatusMethodNotAllowed)
		return
	}
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	s.record(r, "aamva_verification", body)
	if why := checkSOAPHeaders(r, aActionVerify); why != "" {
		soapFault(w, "bad request", [][2]string{{"0100", why}})
		return
	}
	doc, err := parseRaw(body)
	if err != nil {
		soapFault(w, "bad request", [][2]string{{"0100", "not XML"}})
		return
	}
	tok := doc.first(aNSDLDV, "token")
	s.mu.Lock()
	valid := tok != nil && s.tokens[tok.text()]
	s.mu.Unlock()
	if !valid {
		soapFault(w, "The token is not valid", [][2]string{{"0016", "Invalid token"}})
		return
	}
	idEl := doc.first(aNSNC, "IdentificationID")
	txEl := doc.first(aNSAA, "TransactionLocatorId")
	if idEl == nil || txEl == nil || doc.first(aNSAA, "MessageDestinationId") == nil || doc.first(aNSAA, "PersonBirthDate") == nil {
		soapFault(w, "bad request", [][2]string{{"0100", "incomplete"}})
		return
	}
	id := strings.ToUpper(idEl.text())
	tx := txEl.text()
	switch {
	case id == AAMVAMVATimeout:
		soapFault(w, "MVA timeout", [][2]string{{"0047", "MVA did not respond within the time allocated"}, {"0048", "DLDV VSS is experiencing high traffic"}})
		return
	case id == AAMVAFault0001:
		soapFault(w, "MVA unavailable", [][2]string{{"0001", "The MVA is unavailable"}})
		return
	case id == AAMVAFault0002:
		soapFault(w, "MVA system error", [][2]string{{"0002", "The MVA had a system error"}})
		return
	case id == AAMVAExpiredTokens:
		s.mu.Lock()
		delete(s.tokens, tok.text())
		s.mu.Unlock()
		soapFault(w, "The token is not valid", [][2]string{{"0016", "Invalid token"}})
		return
	case id == AAMVASlow:
		select {
		case <-r.Context().Done():
		case <-s.done:
		case <-time.After(30 * time.Second):
		}
		return
	case id == AAMVAHTTP500:
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = fmt.Fprintf(w, "<html>error for %s</html>", body)
		return
	case id == AAMVAMalformed:
		w.Header().Set("Content-Type", "application/soap+xml")
		_, _ = fmt.Fprintf(w, "<s:Envelope><unclosed>%s", body)
		return
	}
	if why := checkRequest(doc); why != "" {
		soapFault(w, "bad request", [][2]string{{"0100", why}})
		return
	}
	s.mu.Lock()
	s.verif++
	s.mu.Unlock()
	values := map[string]string{}
	for _, n := range []string{
		"DriverLicenseNumberMatchIndicator", "PersonBirthDateMatchIndicator", "PersonLastNameExactMatchIndicator",
		"PersonLastNameFuzzyPrimaryMatchIndicator", "PersonFirstNameExactMatchIndicator", "PersonFirstNameFuzzyPrimaryMatchIndicator",
		"AddressLine1MatchIndicator", "AddressCityMatchIndicator", "AddressStateCodeMatchIndicator", "AddressZIP5MatchIndicator",
	} {
		values[n] = "true"
	}
	for _, o := range optionalInputs {
		if doc.first(o.ns, o.local) != nil {
			values[o.indicator] = "true"
		}
	}
	if len(doc.all(aNSNC, "AddressDeliveryPointText")) == 2 {
		values["AddressLine2MatchIndicator"] = "true"
	}
	switch {
	case id == AAMVANoMatch || strings.Trim(id, "0") == "":
		values = map[string]string{"DriverLicenseNumberMatchIndicator": "false"}
	case id == AAMVADOBMismatch:
		values["PersonBirthDateMatchIndicator"] = "false"
	case id == AAMVAAddressPart:
		values["AddressCityMatchIndicator"], values["AddressZIP5MatchIndicator"] = "false", "false"
	case id == AAMVAAddress2Fail:
		if _, ok := values["AddressLine2MatchIndicator"]; ok {
			values["AddressLine2MatchIndicator"] = "false"
		}
	}
	if id == AAMVAUnnamespaced {
		var b strings.Builder
		b.WriteString(`<VerifyDriverLicenseDataResponse><ControlData><TransactionLocatorId>` + c14nText(tx) + `</TransactionLocatorId></ControlData>`)
		for _, n := range matchIndicators {
			if v, ok := values[n]; ok {
				b.WriteString("<" + n + ">" + v + "</" + n + ">")
			}
		}
		b.WriteString(`</VerifyDriverLicenseDataResponse>`)
		w.Header().Set("Content-Type", "application/soap+xml; charset=utf-8")
		_, _ = io.WriteString(w, b.String())
		return
	}
	var b strings.Builder
	b.WriteString(`<VerifyDriverLicenseDataResponse xmlns="` + aNSDLDV + `"><VerifyDriverLicenseDataResult xmlns:a="` + aNSAA + `" xmlns:b="` + aNSNC + `">`)
	b.WriteString(`<a:ControlData><a:TransactionLocatorId>` + "\n  " + c14nText(tx) + "\n" + `</a:TransactionLocatorId></a:ControlData><a:DriverLicenseVerificationResults>`)
	for _, n := range matchIndicators {
		if v, ok := values[n]; ok {
			b.WriteString("<a:" + n + ">" + v + "</a:" + n + ">")
		}
	}
	b.WriteString(`</a:DriverLicenseVerificationResults></VerifyDriverLicenseDataResult></VerifyDriverLicenseDataResponse>`)
	soapOK(w, b.String())
}
