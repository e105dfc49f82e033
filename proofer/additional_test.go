package proofer_test

import (
	"context"
	"testing"
	"time"

	"github.com/proofline/proofline"
	"github.com/proofline/proofline/proofer"
)

type fakeResolution struct{ vr proofer.VendorResult }

func (f fakeResolution) Name() string { return "FakeResolution" }
func (f fakeResolution) Resolve(context.Context, *proofline.Applicant) (*proofer.VendorResult, error) {
	v := f.vr
	return &v, nil
}

type fakeStateID struct{ vr proofer.VendorResult }

func (f fakeStateID) Name() string { return "FakeStateID" }
func (f fakeStateID) VerifyStateID(context.Context, *proofline.Applicant) (*proofer.VendorResult, error) {
	v := f.vr
	return &v, nil
}

// The InstantVerify rule: a resolution that failed only on attributes a
// state-ID check can verify passes when the state-ID stage verifies them all.
func TestResolutionPassesWithAdditionalVerification(t *testing.T) {
	t.Parallel()
	failedDOB := proofer.VendorResult{Vendor: "FakeResolution", Errors: map[string][]string{"dob": {"Unverified date of birth."}}, AdditionalVerification: []string{"dob"}}
	plainFail := proofer.VendorResult{Vendor: "FakeResolution", Errors: map[string][]string{"ssn": {"Unverified SSN."}}}
	verifiesDOB := proofer.VendorResult{Vendor: "FakeStateID", VerifiedAttributes: []string{"dob", "state_id_number"}}
	verifiesNumber := proofer.VendorResult{Vendor: "FakeStateID", VerifiedAttributes: []string{"state_id_number"}}
	cases := []struct {
		name          string
		res, sid      proofer.VendorResult
		stateID, year bool
		success       bool
		stages        int
		errorsLeft    []string
	}{
		{"covered", failedDOB, verifiesDOB, true, false, true, 2, nil},
		{"covered, dob year only", failedDOB, verifiesDOB, true, true, true, 2, nil},
		{"not covered", failedDOB, verifiesNumber, true, false, false, 2, []string{"dob"}},
		{"state id not asked", failedDOB, verifiesDOB, false, false, false, 1, []string{"dob"}},
		{"not coverable", plainFail, verifiesDOB, true, false, false, 1, []string{"ssn"}},
	}
	for _, c := range cases {
		p := &proofer.Proofer{Resolution: fakeResolution{c.res}, StateID: fakeStateID{c.sid}}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		r := p.Proof(ctx, proofline.KindResolution, &proofline.Payload{Resolution: &proofline.ResolutionArgs{ShouldProofStateID: c.stateID, DOBYearOnly: c.year}})
		cancel()
		if r.Success != c.success || len(r.Context.Stages) != c.stages {
			t.Errorf("%s: success %v stages %d; want %v %d (%+v)", c.name, r.Success, len(r.Context.Stages), c.success, c.stages, r.Errors)
		}
		for _, f := range c.errorsLeft {
			if len(r.Errors[f]) == 0 {
				t.Errorf("%s: errors lack %s", c.name, f)
			}
		}
		if c.success && len(r.Errors) != 0 {
			t.Errorf("%s: covered errors remain: %v", c.name, r.Errors)
		}
	}
}
