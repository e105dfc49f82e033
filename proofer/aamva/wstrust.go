package aamva

import (
	"crypto"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"encoding/base64"
	"strings"
	"time"
)

// Namespaces and URIs of the WS-* messages.
const (
	nsSOAP  = "http://www.w3.org/2003/05/soap-envelope"
	nsWSA   = "http://www.w3.org/2005/08/addressing"
	nsWSSE  = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
	nsWSU   = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
	nsDS    = "http://www.w3.org/2000/09/xmldsig#"
	nsEC    = "http://www.w3.org/2001/10/xml-exc-c14n#"
	nsWST   = "http://schemas.xmlsoap.org/ws/2005/02/trust"
	nsWSC   = "http://schemas.xmlsoap.org/ws/2005/02/sc"
	nsWSP   = "http://schemas.xmlsoap.org/ws/2004/09/policy"
	nsAuth  = "http://aamva.org/authentication/3.1.0"
	nsDLDV  = "http://aamva.org/dldv/wsdl/2.1"
	nsAA    = "http://aamva.org/niem/extensions/1.0"
	nsNC    = "http://niem.gov/niem/niem-core/2.0"
	nsXSI   = "http://www.w3.org/2001/XMLSchema-instance"
	algC14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
	algRSA  = "http://www.w3.org/2000/09/xmldsig#rsa-sha1"
	algHMAC = "http://www.w3.org/2000/09/xmldsig#hmac-sha1"
	algSHA1 = "http://www.w3.org/2000/09/xmldsig#sha1"

	// ActionAuthenticate is the SOAPAction of both authentication steps.
	ActionAuthenticate = "http://aamva.org/authentication/3.1.0/IAuthenticationService/Authenticate"
	// ActionVerify is the SOAPAction of VerifyDriverLicenseData.
	ActionVerify = "http://aamva.org/dldv/wsdl/2.1/IDLDVService21/VerifyDriverLicenseData"

	actionRSTSCT  = "http://schemas.xmlsoap.org/ws/2005/02/trust/RST/SCT"
	anonymous     = "http://www.w3.org/2005/08/addressing/anonymous"
	valueX509     = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-x509-token-profile-1.0#X509v3"
	encBase64     = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-soap-message-security-1.0#Base64Binary"
	valueThumb    = "http://docs.oasis-open.org/wss/oasis-wss-soap-message-security-1.1#ThumbprintSHA1"
	valueSCT      = "http://schemas.xmlsoap.org/ws/2005/02/sc/sct"
	trustIssue    = "http://schemas.xmlsoap.org/ws/2005/02/trust/Issue"
	trustNonce    = "http://schemas.xmlsoap.org/ws/2005/02/trust/Nonce"
	trustPSHA1    = "http://schemas.xmlsoap.org/ws/2005/02/trust/CK/PSHA1"
	prefixesRef   = "wsse soap" // InclusiveNamespaces of each Reference transform
	prefixesSInfo = "soap"      // InclusiveNamespaces of SignedInfo's canonicalization
)

// envelopeOpen declares every namespace the authentication messages use on
// the Envelope, so the canonical form of each signed element is known: its
// visibly used prefixes plus the inclusive ones, declared on it in prefix order.
const envelopeOpen = `<soap:Envelope xmlns:soap="` + nsSOAP + `" xmlns:wsa="` + nsWSA + `" xmlns:wsse="` + nsWSSE + `" xmlns:wsu="` + nsWSU + `">`

func stamp(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

// timestamp renders wsu:Timestamp: decls is "" inside the document and the
// namespace declarations of its canonical form otherwise.
func timestamp(decls, id string, created, expires time.Time) string {
	return `<wsu:Timestamp` + decls + ` wsu:Id="` + escAttr(id) + `"><wsu:Created>` + stamp(created) + `</wsu:Created><wsu:Expires>` + stamp(expires) + `</wsu:Expires></wsu:Timestamp>`
}

// to renders wsa:To (signed in the security token request).
func to(decls, id, url string) string {
	return `<wsa:To` + decls + ` wsu:Id="` + escAttr(id) + `">` + escText(url) + `</wsa:To>`
}

// Canonical namespace declarations of the signed elements (exclusive c14n
// with InclusiveNamespaces "wsse soap"): sorted by prefix.
const (
	declsTimestamp = ` xmlns:soap="` + nsSOAP + `" xmlns:wsse="` + nsWSSE + `" xmlns:wsu="` + nsWSU + `"`
	declsTo        = ` xmlns:soap="` + nsSOAP + `" xmlns:wsa="` + nsWSA + `" xmlns:wsse="` + nsWSSE + `" xmlns:wsu="` + nsWSU + `"`
	// SignedInfo: ds (used) and soap (inclusive), sorted.
	declsSignedInfo = ` xmlns:ds="` + nsDS + `" xmlns:soap="` + nsSOAP + `"`
)

type reference struct {
	id, canonical string
}

// signedInfo renders ds:SignedInfo; decls as for timestamp.
func signedInfo(decls, sigAlg string, refs []reference) string {
	var b strings.Builder
	b.WriteString(`<ds:SignedInfo` + decls + `><ds:CanonicalizationMethod Algorithm="` + algC14N + `"><ec:InclusiveNamespaces xmlns:ec="` + nsEC + `" PrefixList="` + prefixesSInfo + `"></ec:InclusiveNamespaces></ds:CanonicalizationMethod>`)
	b.WriteString(`<ds:SignatureMethod Algorithm="` + sigAlg + `"></ds:SignatureMethod>`)
	for _, r := range refs {
		sum := sha1.Sum([]byte(r.canonical))
		b.WriteString(`<ds:Reference URI="#` + escAttr(r.id) + `"><ds:Transforms><ds:Transform Algorithm="` + algC14N + `"><ec:InclusiveNamespaces xmlns:ec="` + nsEC + `" PrefixList="` + prefixesRef + `"></ec:InclusiveNamespaces></ds:Transform></ds:Transforms>`)
		b.WriteString(`<ds:DigestMethod Algorithm="` + algSHA1 + `"></ds:DigestMethod><ds:DigestValue>` + base64.StdEncoding.EncodeToString(sum[:]) + `</ds:DigestValue></ds:Reference>`)
	}
	b.WriteString(`</ds:SignedInfo>`)
	return b.String()
}

// securityTokenRequest is step 1: a WS-Trust RST/SCT signed with the X.509
// key (RSA-SHA1) over the Timestamp and the To element, with the client
// entropy (nonce) in the body.
func securityTokenRequest(key *rsa.PrivateKey, cert *x509.Certificate, authURL string, now time.Time, newID func() string, clientNonce []byte) ([]byte, error) {
	toID, tsID, bstID := "_"+newID(), "_"+newID(), "X509-"+newID()
	created, expires := now, now.Add(300*time.Second)
	refs := []reference{
		{tsID, timestamp(declsTimestamp, tsID, created, expires)},
		{toID, to(declsTo, toID, authURL)},
	}
	si := signedInfo("", algRSA, refs)
	siCanon := signedInfo(declsSignedInfo, algRSA, refs)
	digest := sha1.Sum([]byte(siCanon))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA1, digest[:])
	if err != nil {
		return nil, err
	}
	thumb := sha1.Sum(cert.Raw)
	var b strings.Builder
	b.WriteString(envelopeOpen + `<soap:Header>`)
	b.WriteString(`<wsa:Action soap:mustUnderstand="1">` + actionRSTSCT + `</wsa:Action>`)
	b.WriteString(`<wsa:MessageID>urn:uuid:` + escText(newID()) + `</wsa:MessageID>`)
	b.WriteString(`<wsa:ReplyTo><wsa:Address>` + anonymous + `</wsa:Address></wsa:ReplyTo>`)
	b.WriteString(to("", toID, authURL))
	b.WriteString(`<wsse:Security soap:mustUnderstand="1">`)
	b.WriteString(timestamp("", tsID, created, expires))
	b.WriteString(`<wsse:BinarySecurityToken EncodingType="` + encBase64 + `" ValueType="` + valueX509 + `" wsu:Id="` + escAttr(bstID) + `">` + base64.StdEncoding.EncodeToString(cert.Raw) + `</wsse:BinarySecurityToken>`)
	b.WriteString(`<ds:Signature xmlns:ds="` + nsDS + `">` + si)
	b.WriteString(`<ds:SignatureValue>` + base64.StdEncoding.EncodeToString(sig) + `</ds:SignatureValue>`)
	b.WriteString(`<ds:KeyInfo><wsse:SecurityTokenReference><wsse:KeyIdentifier EncodingType="` + encBase64 + `" ValueType="` + valueThumb + `">` + base64.StdEncoding.EncodeToString(thumb[:]) + `</wsse:KeyIdentifier></wsse:SecurityTokenReference></ds:KeyInfo></ds:Signature>`)
	b.WriteString(`</wsse:Security></soap:Header><soap:Body>`)
	b.WriteString(`<wst:RequestSecurityToken xmlns:wst="` + nsWST + `"><wst:RequestType>` + trustIssue + `</wst:RequestType>`)
	b.WriteString(`<wsp:AppliesTo xmlns:wsp="` + nsWSP + `"><wsa:EndpointReference><wsa:Address>` + escText(authURL) + `</wsa:Address></wsa:EndpointReference></wsp:AppliesTo>`)
	b.WriteString(`<wst:Lifetime><wsu:Created>` + stamp(created) + `</wsu:Created><wsu:Expires>` + stamp(expires) + `</wsu:Expires></wst:Lifetime>`)
	b.WriteString(`<wst:TokenType>` + valueSCT + `</wst:TokenType><wst:KeySize>256</wst:KeySize>`)
	b.WriteString(`<wst:Entropy><wst:BinarySecret Type="` + trustNonce + `">` + base64.StdEncoding.EncodeToString(clientNonce) + `</wst:BinarySecret></wst:Entropy>`)
	b.WriteString(`<wst:ComputedKeyAlgorithm>` + trustPSHA1 + `</wst:ComputedKeyAlgorithm><wst:Renewing></wst:Renewing></wst:RequestSecurityToken>`)
	b.WriteString(`</soap:Body></soap:Envelope>`)
	return []byte(b.String()), nil
}

// authenticationTokenRequest is step 2: Authenticate, with the security
// context token from step 1 and an HMAC-SHA1 signature over the Timestamp
// keyed by P_SHA1(client nonce, server nonce).
func authenticationTokenRequest(sct *securityContext, authURL string, now time.Time, newID func() string) []byte {
	tsID := "_" + newID()
	created, expires := now, now.Add(300*time.Second)
	refs := []reference{{tsID, timestamp(declsTimestamp, tsID, created, expires)}}
	si := signedInfo("", algHMAC, refs)
	m := hmac.New(sha1.New, sct.key)
	m.Write([]byte(signedInfo(declsSignedInfo, algHMAC, refs)))
	var b strings.Builder
	b.WriteString(envelopeOpen + `<soap:Header>`)
	b.WriteString(`<wsa:Action soap:mustUnderstand="1">` + ActionAuthenticate + `</wsa:Action>`)
	b.WriteString(`<wsa:MessageID>urn:uuid:` + escText(newID()) + `</wsa:MessageID>`)
	b.WriteString(`<wsa:ReplyTo><wsa:Address>` + anonymous + `</wsa:Address></wsa:ReplyTo>`)
	b.WriteString(`<wsa:To soap:mustUnderstand="1">` + escText(authURL) + `</wsa:To>`)
	b.WriteString(`<wsse:Security soap:mustUnderstand="1">`)
	b.WriteString(timestamp("", tsID, created, expires))
	b.WriteString(`<c:SecurityContextToken xmlns:c="` + nsWSC + `" wsu:Id="` + escAttr(sct.reference) + `"><c:Identifier>` + escText(sct.identifier) + `</c:Identifier></c:SecurityContextToken>`)
	b.WriteString(`<ds:Signature xmlns:ds="` + nsDS + `">` + si)
	b.WriteString(`<ds:SignatureValue>` + base64.StdEncoding.EncodeToString(m.Sum(nil)) + `</ds:SignatureValue>`)
	b.WriteString(`<ds:KeyInfo><wsse:SecurityTokenReference><wsse:Reference URI="#` + escAttr(sct.reference) + `" ValueType="` + valueSCT + `"></wsse:Reference></wsse:SecurityTokenReference></ds:KeyInfo></ds:Signature>`)
	b.WriteString(`</wsse:Security></soap:Header><soap:Body><Authenticate xmlns="` + nsAuth + `"></Authenticate></soap:Body></soap:Envelope>`)
	return []byte(b.String())
}

// PSHA1 is the WS-Trust P_SHA1 key derivation (RFC 2246's P_hash with
// HMAC-SHA1): A(0) = seed, A(i) = HMAC(secret, A(i-1)), output
// HMAC(secret, A(1)+seed) || HMAC(secret, A(2)+seed) || ..., truncated to n bytes.
func PSHA1(secret, seed []byte, n int) []byte {
	out := make([]byte, 0, n+sha1.Size)
	a := seed
	for len(out) < n {
		m := hmac.New(sha1.New, secret)
		m.Write(a)
		a = m.Sum(nil)
		m = hmac.New(sha1.New, secret)
		m.Write(a)
		m.Write(seed)
		out = m.Sum(out)
	}
	return out[:n]
}

// securityContext is what step 1 established.
type securityContext struct {
	reference, identifier string
	key                   []byte
}
