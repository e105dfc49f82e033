package proofline_test

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/proofline/proofline"
)

// A job is claimed at its callback URL plus "/claim", whether or not the
// callback URL ends in a slash.
func TestClaimURLs(t *testing.T) {
	t.Parallel()
	id := "3db26898-534c-4be2-9592-4ef9e0d3908e"
	if got := proofline.ClaimPath(proofline.KindDocument, id); got != "/api/proofing_results/document/"+id+"/claim" {
		t.Errorf("ClaimPath = %q", got)
	}
	for in, want := range map[string]string{
		"https://idp.example/api/proofing_results/address/" + id:        "https://idp.example/api/proofing_results/address/" + id + "/claim",
		"https://idp.example/api/proofing_results/address/" + id + "/":  "https://idp.example/api/proofing_results/address/" + id + "/claim",
		"https://idp.example/api/proofing_results/address/" + id + "//": "https://idp.example/api/proofing_results/address/" + id + "/claim",
	} {
		if got := proofline.ClaimURL(in); got != want {
			t.Errorf("ClaimURL(%q) = %q", in, got)
		}
	}
}

// A claim in progress prints as redacted: its private key never reaches a
// log line.
func TestClaimantPrintsRedacted(t *testing.T) {
	t.Parallel()
	env, _ := sealedJob(t)
	c, err := proofline.NewClaimant(env)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{fmt.Sprintf("%v", c), fmt.Sprintf("%+v", *c), fmt.Sprintf("%#v", *c), c.String(), c.GoString(), c.LogValue().String()} {
		if !strings.Contains(s, proofline.Redacted) || strings.Contains(s, env.ResultID) {
			t.Errorf("claimant printed as %q", s)
		}
	}
}

// An answer is made only for a 32-byte X25519 public key, even when the
// request was built without ParseClaimRequest.
func TestAnswerClaimRefusesMalformedKey(t *testing.T) {
	t.Parallel()
	env, keys := sealedJob(t)
	ks := proofline.NewClaimKeys(0, nil)
	for _, pub := range [][]byte{nil, bytes.Repeat([]byte{9}, 31), bytes.Repeat([]byte{9}, 33)} {
		req := &proofline.ClaimRequest{V: proofline.ClaimVersion, PublicKey: pub, Proof: make([]byte, 32)}
		if _, err := proofline.AnswerClaim(env.Kind, env.ResultID, req, keys.DataKey); proofline.ErrorCode(err) != proofline.EINVALID {
			t.Errorf("AnswerClaim for a %d-byte key: %v", len(pub), err)
		}
		if _, err := ks.Answer(env.Kind, env.ResultID, req, keys.DataKey); proofline.ErrorCode(err) != proofline.EINVALID {
			t.Errorf("ClaimKeys.Answer for a %d-byte key: %v", len(pub), err)
		}
	}
}
