package proofer_test

import (
	"context"
	"crypto/x509"
	"strings"
	"testing"
	"time"

	"github.com/proofline/proofline"
	"github.com/proofline/proofline/internal/vendortest"
	"github.com/proofline/proofline/proofer"
	"github.com/proofline/proofline/proofer/aamva"
	"github.com/proofline/proofline/proofer/lexisnexis"
	"github.com/proofline/proofline/proofer/vendorhttp"
)

// realVendors is a proofer with the real InstantVerify and AAMVA adapters
// pointed at the vendor test servers.
func realVendors(t *testing.T) *proofer.Proofer {
	t.Helper()
	ln := vendortest.NewLexisNexis(t, vendortest.LexisNexisOptions{})
	key, cert := vendortest.AAMVAKeyPair(t)
	dmv := vendortest.NewAAMVA(t, cert)
	roots := x509.NewCertPool()
	roots.AddCert(ln.Certificate())
	roots.AddCert(dmv.Certificate())
	hc, err := vendorhttp.New(vendorhttp.Options{RootCAs: roots})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(hc.Close)
	iv, err := lexisnexis.NewInstantVerify(lexisnexis.Config{
		BaseURL: ln.URL, AccountID: vendortest.LNAccountID, Username: vendortest.LNUsername,
		Password: proofline.Secret(vendortest.LNPassword), Timeout: 10 * time.Second,
	}, hc)
	if err != nil {
		t.Fatal(err)
	}
	st, err := aamva.New(aamva.Config{
		AuthURL: dmv.AuthURL, VerificationURL: dmv.VerificationURL, PrivateKey: key, Certificate: cert,
		SupportedJurisdictions: []string{"VA"}, AuthTimeout: 10 * time.Second, VerificationTimeout: 10 * time.Second,
	}, hc)
	if err != nil {
		t.Fatal(err)
	}
	return &proofer.Proofer{Resolution: iv, StateID: st}
}

func stateIDApplicant(number, zip string) proofline.Applicant {
	return proofline.Applicant{
		FirstName: "Testy", LastName: "McTestface", DOB: "1984-02-09", SSN: "900-12-3456",
		Address1: "123 Example Ave", Address2: "Apt 4", City: "Springfield", State: "VA", Zipcode: proofline.PII(zip),
		StateIDNumber: proofline.PII(number), StateIDJurisdiction: "VA", StateIDType: "drivers_license",
	}
}

func resolve(t *testing.T, p *proofer.Proofer, a proofline.Applicant) *proofline.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return p.Proof(ctx, proofline.KindResolution, &proofline.Payload{Resolution: &proofline.ResolutionArgs{Applicant: a, ShouldProofStateID: true}})
}

// AAMVA fault 0047: an exception of the state-ID stage flagged mva_timeout,
// not a vendor timeout.
func TestMVATimeoutStage(t *testing.T) {
	t.Parallel()
	r := resolve(t, realVendors(t), stateIDApplicant(vendortest.AAMVAMVATimeout, "20190"))
	if r.Success || r.TimedOut || r.Exception == nil || !strings.Contains(*r.Exception, "ExceptionId: 0047") || len(r.Context.Stages) != 2 {
		t.Fatalf("result %+v", r)
	}
	st := r.Context.Stages[1]
	if st.Stage != proofer.StageStateID || !st.Exception || st.TimedOut || !st.MVATimeout {
		t.Errorf("state_id stage %+v", st)
	}
	if r.Context.Stages[0].MVATimeout {
		t.Errorf("resolution stage flagged: %+v", r.Context.Stages[0])
	}
}

// InstantVerify's "can pass with additional verification" with AAMVA's
// address as one attribute: a failed address is covered only when the DMV
// matched the whole address, not some of its parts.
func TestAddressCoveredOnlyByTheWholeAddress(t *testing.T) {
	t.Parallel()
	p := realVendors(t)
	// The zip code 00000 fails InstantVerify's address items.
	if r := resolve(t, p, stateIDApplicant("T1234567", vendortest.IVFailZip)); !r.Success || len(r.Errors) != 0 {
		t.Errorf("whole address matched: %+v", r)
	}
	r := resolve(t, p, stateIDApplicant(vendortest.AAMVAAddressPart, vendortest.IVFailZip))
	if r.Success || len(r.Errors["address1"]) == 0 || len(r.Context.Stages) != 2 || !r.Context.Stages[1].Success {
		t.Errorf("address partly matched: %+v", r)
	}
	// The DMV's partial address match does not fail a resolution that passed.
	if r := resolve(t, p, stateIDApplicant(vendortest.AAMVAAddressPart, "20190")); !r.Success {
		t.Errorf("partial DMV address with a passed resolution: %+v", r)
	}
}

// The IdP's person reference reaches the document vendor.
func TestDocumentPersonRefReachesTheVendor(t *testing.T) {
	t.Parallel()
	f := setup(t)
	pl := f.documentJob(t, []byte(janeYAML), false)
	pl.Document.PersonRef = "sp-app-1:7d9f4c2e-5b1a-4e8f-9c3d-2a6b8e0f1d47"
	f.p.Proof(context.Background(), proofline.KindDocument, pl)
	f.seenMu.Lock()
	defer f.seenMu.Unlock()
	if f.seen == nil || f.seen.PersonRef != pl.Document.PersonRef {
		t.Errorf("vendor saw %+v", f.seen)
	}
}
