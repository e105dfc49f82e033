package aamva

import (
	"context"
	"errors"
	"net"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/proofline/proofline"
	"github.com/proofline/proofline/internal/vendortest"
	"github.com/proofline/proofline/proofer"
)

// Login.gov's normalize_address_attributes: the address group is address1,
// address2, city, state and zipcode; all five leave the verified set, and
// "address" joins it when address1, city, state and zipcode all matched.
func TestVerifiedAddressIsOneAttribute(t *testing.T) {
	t.Parallel()
	f := setup(t, 0)
	for _, c := range []struct {
		name     string
		number   string
		address2 proofline.PII
		want     []string
	}{
		{"all five matched", "T1234567", "Apt 4", []string{"address", "dob", "document_type_received", "first_name", "last_name", "middle_name", "state_id_number"}},
		{"no second line", "T1234567", "", []string{"address", "dob", "document_type_received", "first_name", "last_name", "middle_name", "state_id_number"}},
		{"second line not matched", vendortest.AAMVAAddress2Fail, "Apt 4", []string{"address", "dob", "document_type_received", "first_name", "last_name", "middle_name", "state_id_number"}},
		{"city and ZIP not matched", vendortest.AAMVAAddressPart, "Apt 4", []string{"dob", "document_type_received", "first_name", "last_name", "middle_name", "state_id_number"}},
	} {
		a := synthetic(c.number)
		a.Address2 = c.address2
		vr, err := f.v.VerifyStateID(context.Background(), a)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if !vr.Success() || !reflect.DeepEqual(vr.VerifiedAttributes, c.want) {
			t.Errorf("%s: success %v verified %v, want %v", c.name, vr.Success(), vr.VerifiedAttributes, c.want)
		}
	}
}

// Fault 0047 (the state's DMV did not answer AAMVA in time) is an exception
// that keeps its ExceptionId, flagged as an MVA timeout; it is not a vendor
// timeout: AAMVA itself answered.
func TestMVATimeoutIsAnExceptionNotAVendorTimeout(t *testing.T) {
	t.Parallel()
	f := setup(t, 0)
	_, err := f.v.VerifyStateID(context.Background(), synthetic(vendortest.AAMVAMVATimeout))
	var ve *proofer.VendorError
	if !errors.As(err, &ve) {
		t.Fatalf("%v", err)
	}
	if ve.Timeout || errors.Is(err, proofer.ErrVendorTimeout) || !ve.MVATimeout || !strings.Contains(ve.Message, "ExceptionId: 0047") {
		t.Errorf("0047: message %q timeout %v mva_timeout %v", ve.Message, ve.Timeout, ve.MVATimeout)
	}
	// Another fault is not an MVA timeout.
	_, err = f.v.VerifyStateID(context.Background(), synthetic(vendortest.AAMVAFault0001))
	if !errors.As(err, &ve) || ve.Timeout || ve.MVATimeout {
		t.Errorf("0001: %v", err)
	}
}

// A connection to AAMVA that fails (refused, reset, no such host) is a
// vendor timeout, as Login.gov maps Faraday's ConnectionFailed; a TLS
// failure is not.
func TestConnectionFailureIsAVendorTimeout(t *testing.T) {
	t.Parallel()
	// refused: a port that was just closed.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := "https://" + ln.Addr().String() + "/dldv/2.1/online"
	ln.Close()
	// reset: a listener that accepts and resets the connection.
	rl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rl.Close() })
	go func() {
		for {
			c, err := rl.Accept()
			if err != nil {
				return
			}
			_ = c.(*net.TCPConn).SetLinger(0)
			c.Close()
		}
	}()
	reset := "https://" + rl.Addr().String() + "/dldv/2.1/online"
	// TLS: a server whose certificate is not trusted.
	untrusted := httptest.NewTLSServer(nil)
	t.Cleanup(untrusted.Close)

	for _, c := range []struct {
		name, url string
		timeout   bool
	}{
		{"refused", refused, true},
		{"reset", reset, true},
		{"no such host", "https://aamva-verification.invalid/dldv/2.1/online", true},
		{"untrusted certificate", untrusted.URL + "/dldv/2.1/online", false},
	} {
		for _, step := range []string{"authentication", "verification"} {
			f := setup(t, 5*time.Second)
			cfg := f.v.cfg
			if step == "authentication" {
				cfg.AuthURL = c.url
			} else {
				// A token first, from the working service.
				if _, err := f.v.VerifyStateID(context.Background(), synthetic("T1")); err != nil {
					t.Fatal(err)
				}
				cfg.VerificationURL = c.url
			}
			v, err := New(cfg, f.hc)
			if err != nil {
				t.Fatal(err)
			}
			if step == "verification" {
				v.token, v.tokenExp = f.v.token, f.v.tokenExp
			}
			_, err = v.VerifyStateID(context.Background(), synthetic("T1"))
			var ve *proofer.VendorError
			if !errors.As(err, &ve) || ve.Timeout != c.timeout || errors.Is(err, proofer.ErrVendorTimeout) != c.timeout {
				t.Errorf("%s (%s): %v", c.name, step, err)
			}
			if c.name == "no such host" {
				var dns *net.DNSError
				if !errors.As(err, &dns) {
					t.Errorf("no such host (%s): not a DNS failure: %v", step, err)
				}
			}
			if err != nil && strings.Contains(err.Error(), "127.0.0.1") || err != nil && strings.Contains(err.Error(), ".invalid") {
				t.Errorf("%s (%s): the error names the URL: %v", c.name, step, err)
			}
		}
	}
}

// The optional facts Login.gov sends when known, in its order and forms:
// name suffix, height (feet and two-digit inches), weight, eye colour, sex
// (1 male, 2 female), issue and expiration dates.
func TestOptionalFactsSent(t *testing.T) {
	t.Parallel()
	f := setup(t, 0)
	a := synthetic("T1234567")
	a.NameSuffix, a.Height, a.Weight, a.EyeColor, a.Sex = "III", "70", "180", "bro", "male"
	a.StateIDIssued, a.StateIDExpiration = "2023-03-14", "03/14/2031"
	vr, err := f.v.VerifyStateID(context.Background(), a)
	if err != nil {
		t.Fatal(err)
	}
	rs := f.srv.Requests()
	body := string(rs[len(rs)-1].Body)
	for _, want := range []string{
		"<nc:PersonMiddleName>Q</nc:PersonMiddleName><nc:PersonNameSuffixText>III</nc:PersonNameSuffixText></nc:PersonName>",
		"</aa:Address><aa:PersonHeightMeasure>510</aa:PersonHeightMeasure><aa:PersonWeightMeasure>180</aa:PersonWeightMeasure>" +
			"<aa:PersonEyeColorCode>BRO</aa:PersonEyeColorCode><aa:PersonSexCode>1</aa:PersonSexCode>" +
			"<aa:DriverLicenseIssueDate>2023-03-14</aa:DriverLicenseIssueDate><aa:DriverLicenseExpirationDate>2031-03-14</aa:DriverLicenseExpirationDate>" +
			"<aa:DocumentCategoryCode>1</aa:DocumentCategoryCode>",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("request lacks %s", want)
		}
	}
	for _, attr := range []string{"name_suffix", "height", "weight", "eye_color", "sex", "state_id_issued", "state_id_expiration"} {
		if !slices.Contains(vr.VerifiedAttributes, attr) {
			t.Errorf("%s not verified: %v", attr, vr.VerifiedAttributes)
		}
	}
	// Values with no DLDV form are left out, not sent wrong.
	a = synthetic("T1234567")
	a.Sex, a.Height, a.Weight, a.EyeColor, a.StateIDIssued = "x", "tall", "heavy", "brownish", "yesterday"
	if _, err := f.v.VerifyStateID(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	rs = f.srv.Requests()
	body = string(rs[len(rs)-1].Body)
	for _, el := range []string{"PersonSexCode", "PersonHeightMeasure", "PersonWeightMeasure", "PersonEyeColorCode", "DriverLicenseIssueDate", "PersonNameSuffixText"} {
		if strings.Contains(body, el) {
			t.Errorf("request holds %s", el)
		}
	}
}

// An identification card (TrueID's "Identification Card") is checked with
// the DMV; as Login.gov does, no DocumentCategoryCode is sent for it.
func TestIdentificationCardChecked(t *testing.T) {
	t.Parallel()
	f := setup(t, 0)
	a := synthetic("T1234567")
	a.StateIDType = "identification_card"
	vr, err := f.v.VerifyStateID(context.Background(), a)
	if err != nil || !vr.Success() {
		t.Fatalf("%+v %v", vr, err)
	}
	rs := f.srv.Requests()
	if body := string(rs[len(rs)-1].Body); strings.Contains(body, "DocumentCategoryCode") {
		t.Errorf("a category was sent for an identification card")
	}
}
