package vendortest

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// LexisNexis test server defaults.
const (
	LNAccountID             = "test-account-1234"
	LNTrueIDAccountID       = "test-trueid-5678"
	LNUsername              = "test-user"
	LNPassword              = "test-password-not-real"
	LNHMACKeyID             = "test-key-id"
	LNHMACSecret            = "test-hmac-secret-not-real"
	LNInstantVerifyWorkflow = "gsa2.chk32.test.wf"
	LNPhoneFinderWorkflow   = "customers.gsa2.phonefinder.workflow"
)

// Magic values the LexisNexis server answers to (resolution, by applicant).
const (
	// A first name containing one of these selects a scenario.
	IVTimeFirstName      = "Time"      // the server answers only after the client gave up
	IVFailFirstName      = "Fail"      // HTTP 500 with an HTML body reflecting the input
	IVMalformedFirstName = "Malformed" // HTTP 200 with a truncated JSON body
	IVErrorFirstName     = "Error"     // TransactionStatus error (invalid_transaction_initiate)
	IVUnknownFirstName   = "Nobody"    // failed, identity not found: only unmapped items fail
	IVInvalidFirstName   = "Weird"     // TransactionStatus "pending": not a known status
	IVDLFailFirstName    = "NoLicense" // passed overall although the DriversLicense item failed
	IVUnmappedFirstName  = "Synth"     // an unmapped item (SynthIDCheck) fails too (combines with the markers below)
	// These fail their items and can combine.
	IVFailSSNMarker  = "6666"  // SSN items fail
	IVFailZip        = "00000" // address items fail
	IVFailDOBYear    = "1900"  // DOB items fail
	IVDeceasedSuffix = "Dead"  // a last name ending so fails the death-match items
)

// Magic phone numbers of the PhoneFinder scenarios.
const (
	PFUnverifiedPhone = "7035555555"
	PFStatus500Phone  = "7035555999"
	PFTimeoutPhone    = "7035555888"
	PFMalformedPhone  = "7035555777"
	PFErrorPhone      = "7035555666"
)

// LexisNexisOptions configure the server; zero values take the LN* defaults.
type LexisNexisOptions struct {
	AccountID, TrueIDAccountID string
	Username, Password         string
	// HMAC, when true, requires the HMAC Authorization header (key
	// HMACKeyID, secret HMACSecret) instead of HTTP Basic.
	HMAC                  bool
	HMACKeyID, HMACSecret string
	InstantVerifyWorkflow string
	PhoneFinderWorkflow   string
}

// Recorded is one request a test server received.
type Recorded struct {
	Product string // "instant_verify", "phone_finder", "trueid", ...
	Method  string
	Path    string
	Header  http.Header
	Body    []byte
	// AuthOK is whether the request's authentication verified.
	AuthOK bool
}

// LexisNexis is an HTTPS server speaking RDP v2 (InstantVerify,
// PhoneFinder) and TrueID v3 with synthetic fixtures.
type LexisNexis struct {
	*httptest.Server
	Opts LexisNexisOptions

	mu   sync.Mutex
	reqs []Recorded
	done chan struct{}
}

// NewLexisNexis starts the server; it is closed when the test ends.
func NewLexisNexis(t testing.TB, o LexisNexisOptions) *LexisNexis {
	def := func(s *string, d string) {
		if *s == "" {
			*s = d
		}
	}
	def(&o.AccountID, LNAccountID)
	def(&o.TrueIDAccountID, LNTrueIDAccountID)
	def(&o.Username, LNUsername)
	def(&o.Password, LNPassword)
	def(&o.HMACKeyID, LNHMACKeyID)
	def(&o.HMACSecret, LNHMACSecret)
	def(&o.InstantVerifyWorkflow, LNInstantVerifyWorkflow)
	def(&o.PhoneFinderWorkflow, LNPhoneFinderWorkflow)
	s := &LexisNexis{Opts: o, done: make(chan struct{})}
	s.Server = httptest.NewTLSServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Server.Close)
	t.Cleanup(func() { close(s.done) }) // runs first: releases slow handlers
	return s
}

// CertPool trusts the server's certificate.
func (s *LexisNexis) CertPool() *x509.CertPool { return certPool(s.Server) }

// Requests returns what the server received so far.
func (s *LexisNexis) Requests() []Recorded {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Recorded(nil), s.reqs...)
}

func certPool(srv *httptest.Server) *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(srv.Certificate())
	return p
}

func (s *LexisNexis) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodHead || r.Method == http.MethodGet {
		w.WriteHeader(http.StatusNotFound) // reachability checks
		return
	}
	body, _ := io.ReadAll(io.LimitReader(r.Body, 64<<20))
	rec := Recorded{Method: r.Method, Path: r.URL.Path, Header: r.Header.Clone(), Body: body}
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	switch {
	case len(parts) == 6 && parts[0] == "restws" && parts[1] == "identity" && parts[2] == "v2" && parts[3] == s.Opts.AccountID && parts[5] == "conversation":
		switch parts[4] {
		case s.Opts.InstantVerifyWorkflow:
			rec.Product = "instant_verify"
		case s.Opts.PhoneFinderWorkflow:
			rec.Product = "phone_finder"
		}
	case len(parts) == 8 && parts[0] == "restws" && parts[2] == "v3" && parts[3] == "accounts" && parts[4] == s.Opts.TrueIDAccountID && parts[5] == "workflows" && parts[7] == "conversations":
		rec.Product = "trueid"
	}
	rec.AuthOK = s.verifyAuth(r, body)
	s.mu.Lock()
	s.reqs = append(s.reqs, rec)
	s.mu.Unlock()
	if rec.Product == "" {
		http.Error(w, "no such workflow", http.StatusNotFound)
		return
	}
	if !rec.AuthOK {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte(`{"status":{"code":401,"message":"authentication failed"}}`))
		return
	}
	switch rec.Product {
	case "instant_verify":
		s.instantVerify(w, r, body)
	case "phone_finder":
		s.phoneFinder(w, r, body)
	case "trueid":
		s.trueID(w, r, body)
	}
}

// verifyAuth checks HTTP Basic, or the RDP HMAC header: bodyHash =
// b64(HMAC-SHA256(secret, body)), signature = b64(HMAC-SHA256(secret,
// ts\nnonce\nhost\npath\nbodyHash)), timestamp within five minutes.
func (s *LexisNexis) verifyAuth(r *http.Request, body []byte) bool {
	auth := r.Header.Get("Authorization")
	if !s.Opts.HMAC {
		u, p, ok := r.BasicAuth()
		return ok && subtle.ConstantTimeCompare([]byte(u), []byte(s.Opts.Username)) == 1 &&
			subtle.ConstantTimeCompare([]byte(p), []byte(s.Opts.Password)) == 1
	}
	rest, ok := strings.CutPrefix(auth, "HMAC-SHA256 ")
	if !ok {
		return false
	}
	f := map[string]string{}
	for _, kv := range strings.Split(rest, ", ") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return false
		}
		f[k] = v
	}
	if len(f) != 5 || f["keyid"] != s.Opts.HMACKeyID || f["nonce"] == "" {
		return false
	}
	ms, err := strconv.ParseInt(f["ts"], 10, 64)
	if err != nil || time.Since(time.UnixMilli(ms)).Abs() > 5*time.Minute {
		return false
	}
	sum := func(msg string) string {
		m := hmac.New(sha256.New, []byte(s.Opts.HMACSecret))
		m.Write([]byte(msg))
		return base64.StdEncoding.EncodeToString(m.Sum(nil))
	}
	bodyHash := sum(string(body))
	if !hmac.Equal([]byte(bodyHash), []byte(f["bodyHash"])) {
		return false
	}
	want := sum(f["ts"] + "\n" + f["nonce"] + "\n" + r.Host + "\n" + r.URL.Path + "\n" + bodyHash)
	return hmac.Equal([]byte(want), []byte(f["signature"]))
}

// slow answers only after the client gave up (or the test ended).
func (s *LexisNexis) slow(w http.ResponseWriter, r *http.Request) {
	select {
	case <-r.Context().Done():
	case <-s.done:
	case <-time.After(30 * time.Second):
	}
	w.WriteHeader(http.StatusGatewayTimeout)
}

type rdpPerson struct {
	Name        struct{ FirstName, LastName string }
	SSN         struct{ Number, Type string }
	DateOfBirth struct{ Year, Month, Day string }
	Addresses   []struct {
		StreetAddress1, StreetAddress2, City, State, Zip5, Country, Context string
	}
	Phones []struct{ Number string }
}

type rdpRequest struct {
	Settings struct{ AccountNumber, Mode, Reference, Locale, Venue string }
	Person   rdpPerson
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json;charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// reflectPII is an HTML error page echoing the input, as a misbehaving
// gateway might: the adapter must never put it into an error.
func reflectPII(w http.ResponseWriter, body []byte) {
	w.Header().Set("Content-Type", "text/html")
	w.WriteHeader(http.StatusInternalServerError)
	_, _ = fmt.Fprintf(w, "<html><body>Internal error while processing %s</body></html>", body)
}

func malformed(w http.ResponseWriter, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = fmt.Fprintf(w, `{"Status":{"TransactionStatus":"passed","Echo":%q`, body)
}

func item(name string, pass bool, code string) map[string]any {
	it := map[string]any{"ItemName": name, "ItemStatus": "pass"}
	if !pass {
		it["ItemStatus"] = "fail"
		it["ItemReason"] = map[string]any{"Code": code, "Description": "synthetic " + code}
	}
	return it
}

func status(req *rdpRequest, txStatus, code string) map[string]any {
	st := map[string]any{
		"ConversationId":    "31000000000001",
		"RequestId":         "68000000-0000-4000-8000-000000000001",
		"TransactionStatus": txStatus,
		"Reference":         req.Settings.Reference,
		"ServerInfo":        "synthetic-rdp-01",
	}
	if code != "" {
		st["TransactionReasonCode"] = map[string]any{"Code": code}
	}
	return st
}

func (s *LexisNexis) instantVerify(w http.ResponseWriter, r *http.Request, body []byte) {
	var req rdpRequest
	if err := json.Unmarshal(body, &req); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]any{"status": map[string]any{"code": 400, "message": "bad json"}})
		return
	}
	p := req.Person
	first := p.Name.FirstName
	switch {
	case strings.Contains(first, IVTimeFirstName):
		s.slow(w, r)
		return
	case strings.Contains(first, IVFailFirstName) || p.SSN.Number == "000000000":
		reflectPII(w, body)
		return
	case strings.Contains(first, IVMalformedFirstName):
		malformed(w, body)
		return
	case strings.Contains(first, IVErrorFirstName):
		writeJSON(w, http.StatusOK, map[string]any{
			"Status": status(&req, "error", "invalid_transaction_initiate"),
			"Information": []any{map[string]any{
				"InformationType": "error-details", "Code": "invalid_transaction_initiate",
				"Description": "Could not initiate for " + first + " " + p.Name.LastName,
			}},
		})
		return
	case strings.Contains(first, IVInvalidFirstName):
		writeJSON(w, http.StatusOK, map[string]any{"Status": status(&req, "pending", "")})
		return
	}
	ssnFail := strings.Contains(p.SSN.Number, IVFailSSNMarker)
	addrFail := len(p.Addresses) > 0 && p.Addresses[0].Zip5 == IVFailZip
	dobFail := p.DateOfBirth.Year == IVFailDOBYear
	dead := strings.HasSuffix(p.Name.LastName, IVDeceasedSuffix)
	dlFail := strings.Contains(first, IVDLFailFirstName)
	unknown := strings.Contains(first, IVUnknownFirstName)
	items := []any{
		item("Addr1Zip_StateMatch", !unknown, "identity_not_found_fail"),
		item("SsnFullNameMatch", !ssnFail, "ssn_full_name_match_fail"),
		item("SsnDeathMatchVerification", !dead, "ssn_death_match_fail"),
		item("SSNSSAValid", !ssnFail, "ssn_ssa_valid_fail"),
		item("IdentityOccupancyVerified", !addrFail, "identity_occupancy_fail"),
		item("AddrDeliverable", !addrFail, "addr_deliverable_fail"),
		item("AddrNotHighRisk", true, ""),
		item("DOBFullVerified", !dobFail, "dob_full_verified_fail"),
		item("DOBYearVerified", !dobFail, "dob_year_verified_fail"),
		item("LexIDDeathMatch", !dead, "lexid_death_match_fail"),
		item("DriversLicense", !dlFail, "drivers_license_fail"),
		item("DriversLicenseVerification", true, ""),
	}
	unmapped := strings.Contains(first, IVUnmappedFirstName)
	if unmapped {
		items = append(items, item("SynthIDCheck", false, "synthetic_identity_fail"))
	}
	if unknown {
		items = []any{
			item("SynthIDCheck", false, "identity_not_found_fail"),
			item("IdentityVerified", false, "identity_not_found_fail"),
			map[string]any{"ItemName": "IdentityInformation", "ItemStatus": "fail",
				"ItemReason":             map[string]any{"Code": "identity_not_found_fail"},
				"ItemInformationDetails": []any{map[string]any{"Name": "InputName", "Value": first}}},
		}
	}
	failed := ssnFail || addrFail || dobFail || dead || unknown || unmapped
	txStatus, productStatus, code := "passed", "pass", ""
	if failed {
		txStatus, productStatus, code = "failed", "fail", "total.scoring.model.verification.fail"
		if dobFail && !addrFail && !ssnFail {
			code = "priority.scoring.model.verification.fail"
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"Status": status(&req, txStatus, code),
		"Products": []any{map[string]any{
			"ProductType":              "InstantVerify",
			"ExecutedStepName":         "Execute Instant Verify",
			"ProductConfigurationName": "gsa2.chk32.test.cfg",
			"ProductStatus":            productStatus,
			"Items":                    items,
		}},
	})
}

func (s *LexisNexis) phoneFinder(w http.ResponseWriter, r *http.Request, body []byte) {
	var req rdpRequest
	if err := json.Unmarshal(body, &req); err != nil || len(req.Person.Phones) != 1 {
		writeJSON(w, http.StatusBadRequest, map[string]any{"status": map[string]any{"code": 400, "message": "bad request"}})
		return
	}
	ph := req.Person.Phones[0].Number
	switch ph {
	case PFTimeoutPhone:
		s.slow(w, r)
		return
	case PFStatus500Phone:
		reflectPII(w, body)
		return
	case PFMalformedPhone:
		malformed(w, body)
		return
	case PFErrorPhone:
		writeJSON(w, http.StatusOK, map[string]any{"Status": status(&req, "error", "invalid_transaction_initiate")})
		return
	}
	pass := ph != PFUnverifiedPhone
	txStatus, productStatus, code := "passed", "pass", ""
	var reason any
	if !pass {
		txStatus, productStatus, code = "failed", "fail", "phone_finder_fail"
		reason = map[string]any{"Code": "phone_finder_fail", "Description": "Failed - Input phone number could not be verified to name"}
	}
	passThrough, _ := json.Marshal(map[string]any{"phone.finder": map[string]any{"PhoneNumber": ph, "Name": req.Person.Name.FirstName}})
	writeJSON(w, http.StatusOK, map[string]any{
		"Status": status(&req, txStatus, code),
		"Products": []any{
			map[string]any{"ProductType": "Discovery", "ExecutedStepName": "Discovery", "ProductStatus": "pass"},
			map[string]any{
				"ProductType": "PhoneFinder", "ExecutedStepName": "PhoneFinder Checks", "ProductStatus": productStatus,
				"ProductReason": reason,
				"Items": []any{
					item("WirelessServiceType", pass, "X.MEDIUM"),
					item("NoFirstSeenDate", true, ""),
					item("PhonePorted", true, ""),
				},
				"ParameterDetails": []any{map[string]any{"Name": "PhoneNumber", "Value": ph}, map[string]any{"Name": "FirstName", "Value": req.Person.Name.FirstName}},
			},
		},
		"PassThroughs": []any{map[string]any{"Type": "phone.finder", "Data": string(passThrough)}},
	})
}
