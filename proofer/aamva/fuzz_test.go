package aamva

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/proofline/proofline/internal/vendortest"
)

// TestSeedCorpus harvests the test server's answers into the seed corpora
// (run with -update).
func TestSeedCorpus(t *testing.T) {
	if !*update {
		t.Skip("run with -update to rewrite testdata/fuzz")
	}
	f := setup(t, 0)
	for _, n := range []string{"T1", vendortest.AAMVANoMatch, vendortest.AAMVADOBMismatch, vendortest.AAMVAUnnamespaced, vendortest.AAMVAMVATimeout, vendortest.AAMVAFault0001} {
		_, _ = f.v.VerifyStateID(context.Background(), synthetic(n))
	}
	for i, ex := range f.srv.Exchanges() {
		target := "FuzzParseVerificationResponse"
		if ex.Path == vendortest.AAMVAAuthPath {
			target = "FuzzParseAuthResponses"
		}
		vendortest.WriteCorpusFile(t, filepath.Join("testdata", "fuzz", target), "server_"+string(rune('a'+i)), ex.Response)
	}
}

// FuzzParseVerificationResponse: any body parses or fails without panic,
// and nothing of it reaches a fault summary but plain exception ids.
func FuzzParseVerificationResponse(f *testing.F) {
	f.Add([]byte(`<Envelope><Body><PersonBirthDateMatchIndicator>true</PersonBirthDateMatchIndicator></Body></Envelope>`))
	f.Fuzz(func(t *testing.T, body []byte) {
		_, _ = ParseVerificationResponse(500, body)
		v, err := ParseVerificationResponse(200, body)
		if err != nil {
			if f, ok := err.(*Fault); ok {
				s := f.Summary()
				if strings.ContainsAny(s, "<>&\n") {
					t.Fatalf("summary %q", s)
				}
				_ = f.FullMessage()
			}
			return
		}
		errs := v.Errors()
		if v.Success() != (len(errs) == 0) {
			t.Fatalf("success %v with errors %v", v.Success(), errs)
		}
		for _, msgs := range errs {
			if len(msgs) != 1 || (msgs[0] != MsgUnverified && msgs[0] != MsgMissing) {
				t.Fatalf("messages %v", msgs)
			}
		}
		// The address is one attribute, verified only with its four parts.
		verified := v.VerifiedAttributes()
		whole := v.Results["address1"] && v.Results["city"] && v.Results["state"] && v.Results["zipcode"]
		if slices.ContainsFunc(verified, func(a string) bool { return slices.Contains(addressParts, a) }) || slices.Contains(verified, "address") != whole {
			t.Fatalf("verified %v for results %v", verified, v.Results)
		}
	})
}

// FuzzParseAuthResponses covers both authentication answers.
func FuzzParseAuthResponses(f *testing.F) {
	f.Add([]byte(`<Envelope><Body><Token>t</Token></Body></Envelope>`))
	f.Fuzz(func(t *testing.T, body []byte) {
		if s, err := parseSecurityTokenResponse(200, body); err == nil && (s.reference == "" || s.identifier == "" || s.serverNonce == "") {
			t.Fatalf("incomplete context accepted")
		}
		if tok, err := parseAuthenticationTokenResponse(200, body); err == nil && tok == "" {
			t.Fatalf("empty token accepted")
		}
	})
}
