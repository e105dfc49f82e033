package proofing_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/proofline/proofline"
	"github.com/proofline/proofline/proofing"

	"go.opentelemetry.io/otel/codes"
)

// Every refused claim answers its code and is counted under its reason
// (claim_*), for the kind it named; a refused claim's trace span carries the
// code as an error status.
func TestClaimRefusalsCodesAndCounters(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	st := h.startAddress(context.Background(), proofing.Attempt{})
	env := h.envelope(st.ResultID)
	c, _ := proofline.NewClaimant(env)
	claim := func(k proofline.Kind, id, token string, body []byte) error {
		_, err := h.svc.ClaimJob(context.Background(), proofing.Claim{Kind: k, ResultID: id, Token: token, Body: body})
		return err
	}
	other := h.startAddress(context.Background(), proofing.Attempt{})
	otherClaim, _ := proofline.NewClaimant(h.envelope(other.ResultID))

	wantCode(t, claim("passport", st.ResultID, tokens[proofline.KindAddress], c.Body()), proofline.ENOTFOUND)
	wantCode(t, claim(proofline.KindAddress, st.ResultID, tokens[proofline.KindResolution], c.Body()), proofline.EUNAUTHORIZED)
	if s := h.span("proofline.claim.receive"); s.Status.Code != codes.Error || s.Status.Description != proofline.EUNAUTHORIZED {
		t.Errorf("refused claim's span status %+v, want error %s", s.Status, proofline.EUNAUTHORIZED)
	}
	wantCode(t, claim(proofline.KindAddress, st.ResultID, tokens[proofline.KindAddress], []byte(`{"v":2}`)), proofline.EINVALID)
	wantCode(t, claim(proofline.KindAddress, proofline.NewResultID(), tokens[proofline.KindAddress], c.Body()), proofline.ENOTFOUND)
	// The address job claimed as a resolution job (with that kind's token).
	wantCode(t, claim(proofline.KindResolution, st.ResultID, tokens[proofline.KindResolution], c.Body()), proofline.ENOTFOUND)
	// Another job's claim body does not prove this job's claim token.
	wantCode(t, claim(proofline.KindAddress, st.ResultID, tokens[proofline.KindAddress], otherClaim.Body()), proofline.EUNAUTHORIZED)

	want := map[string]int{
		"address/claim_token": 1, "address/claim_malformed": 1, "address/claim_unknown": 1,
		"resolution/claim_unknown": 1, "address/claim_proof": 1,
	}
	if got := h.obs.refusals(); !equalCounts(got, want) {
		t.Errorf("observer refusals %v, want %v", got, want)
	}
	stats := h.svc.Stats()
	for key, n := range want {
		kind, reason, _ := strings.Cut(key, "/")
		if got := stats[proofline.Kind(kind)].Rejected[reason]; got != int64(n) {
			t.Errorf("Stats()[%s].Rejected[%s] = %d, want %d", kind, reason, got, n)
		}
	}
	// None of these refusals used the claim: the job is still claimed once.
	answer, err := h.svc.ClaimJob(context.Background(), proofing.Claim{Kind: proofline.KindAddress, ResultID: st.ResultID, Token: tokens[proofline.KindAddress], WorkerVersion: workerVersion, Body: c.Body()})
	if err != nil {
		t.Fatalf("the worker's own claim after the refusals: %v", err)
	}
	if _, err := c.Open(answer); err != nil {
		t.Fatalf("answer does not open: %v", err)
	}
	if s := h.span("proofline.claim.receive"); s.Status.Code != codes.Unset {
		t.Errorf("answered claim's span status %+v, want unset", s.Status)
	}
	if len(h.logs.Lines(t, "job claimed")) != 1 {
		t.Errorf("no \"job claimed\" log line: %s", h.logs)
	}
}

func equalCounts(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// A claim is answered strictly before the deadline: at the deadline it is
// late (410, claim_late), with how late in the log line.
func TestClaimDeadlineIsExclusive(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	early := h.startAddress(context.Background(), proofing.Attempt{})
	late := h.startAddress(context.Background(), proofing.Attempt{})
	h.clk.Advance(time.Minute - time.Nanosecond)
	if _, err := h.claim(early.ResultID); err != nil {
		t.Fatalf("claim a nanosecond before the deadline: %v", err)
	}
	h.clk.Advance(time.Nanosecond)
	_, err := h.claim(late.ResultID)
	wantCode(t, err, proofline.EGONE)
	if got := h.svc.Stats()[proofline.KindAddress].Rejected["claim_late"]; got != 1 {
		t.Errorf("claim_late = %d, want 1", got)
	}
	lines := h.logs.Lines(t, "claim refused: deadline passed")
	if len(lines) != 1 || lines[0]["after_deadline"] != float64(0) {
		t.Errorf("late claim log lines %v, want one with after_deadline 0", lines)
	}
	h.clk.Advance(time.Second)
	_, err = h.claim(late.ResultID)
	wantCode(t, err, proofline.EGONE)
	if lines := h.logs.Lines(t, "claim refused: deadline passed"); len(lines) != 2 || lines[1]["after_deadline"] != float64(time.Second) {
		t.Errorf("late claim log lines %v, want the second one a second after the deadline", lines)
	}
}

// A job a read already ended as timed out is not claimed, even by a server
// whose clock is still before the deadline.
func TestClaimAfterTimedOutReadIsLate(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	st := h.startAddress(context.Background(), proofing.Attempt{})
	h.clk.Advance(time.Minute)
	if o, err := h.svc.Outcome(context.Background(), st.ResultID); err != nil || o.Status != proofline.StatusTimedOut {
		t.Fatalf("read at the deadline: %+v %v", o, err)
	}
	h.clk.Advance(-2 * time.Second) // this server's clock is behind
	_, err := h.claim(st.ResultID)
	wantCode(t, err, proofline.EGONE)
	if got := h.svc.Stats()[proofline.KindAddress].Rejected["claim_late"]; got != 1 {
		t.Errorf("claim_late = %d, want 1", got)
	}
	if len(h.logs.Lines(t, "claim refused: the attempt ended as timed out")) != 1 {
		t.Errorf("no log line for the timed-out claim: %s", h.logs)
	}
}

// A claim is answered once: a second claim (a redelivered envelope) and a
// claim of a job already done are conflicts, counted as claim_duplicate.
func TestClaimOnceAndNotAfterDone(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	st := h.startAddress(context.Background(), proofing.Attempt{})
	cb := h.result(st.ResultID, `{"address_result":{"success":true}}`)
	_, err := h.claim(st.ResultID)
	wantCode(t, err, proofline.ECONFLICT)
	if len(h.logs.Lines(t, "claim refused: job already claimed (a redelivered envelope)")) != 1 {
		t.Errorf("no log line for the second claim: %s", h.logs)
	}
	if err := h.send(cb); err != nil {
		t.Fatal(err)
	}
	_, err = h.claim(st.ResultID)
	wantCode(t, err, proofline.ECONFLICT)
	if len(h.logs.Lines(t, "claim refused: job already done")) != 1 {
		t.Errorf("no log line for the claim after done: %s", h.logs)
	}
	if got := h.svc.Stats()[proofline.KindAddress].Rejected["claim_duplicate"]; got != 2 {
		t.Errorf("claim_duplicate = %d, want 2", got)
	}
}

// The server that started a job answers its first claim from what it wrote:
// no read of the store (one round trip less per job).
func TestClaimOnStartingServerReadsNothing(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	st := h.startAddress(context.Background(), proofing.Attempt{})
	before := h.drv.readCount()
	if _, err := h.claim(st.ResultID); err != nil {
		t.Fatal(err)
	}
	if n := h.drv.readCount() - before; n != 0 {
		t.Errorf("the first claim on the starting server read the store %d times, want 0", n)
	}
}

// A claim the store cannot record (down) is not answered, and is not
// counted as a refusal of the worker.
func TestClaimStoreDownNotAnswered(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	st := h.startAddress(context.Background(), proofing.Attempt{})
	h.drv.setFail("swap", errDown)
	answer, err := h.claim(st.ResultID)
	wantCode(t, err, proofline.EUNAVAILABLE)
	if answer != nil {
		t.Error("a claim answered though the key was not removed from the record")
	}
	if got := h.obs.refusals(); len(got) != 0 {
		t.Errorf("refusals %v, want none", got)
	}
}

// A claim from another worker build is answered, and the build it reported
// is logged sanitized.
func TestClaimFromAnotherBuildLogged(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	st := h.startAddress(context.Background(), proofing.Attempt{})
	env := h.envelope(st.ResultID)
	c, _ := proofline.NewClaimant(env)
	if _, err := h.svc.ClaimJob(context.Background(), proofing.Claim{Kind: env.Kind, ResultID: st.ResultID, Token: tokens[env.Kind], WorkerVersion: "old\nbuild", Body: c.Body()}); err != nil {
		t.Fatal(err)
	}
	lines := h.logs.Lines(t, "claim from another worker build")
	if len(lines) != 1 || lines[0]["got"] != "old?build" || lines[0]["want"] != workerVersion {
		t.Fatalf("log lines %v, want one with got old?build", lines)
	}
	st2 := h.startAddress(context.Background(), proofing.Attempt{})
	if _, err := h.claim(st2.ResultID); err != nil {
		t.Fatal(err)
	}
	if lines := h.logs.Lines(t, "claim from another worker build"); len(lines) != 1 {
		t.Errorf("a claim from the pinned build logged as another build: %v", lines)
	}
}

// A claim on the server that started a job is judged on what is stored
// when that server's memory of the job is stale: a job another server
// claimed is a duplicate, one another server forgot is not found.
func TestClaimJudgedOnStoredStateAcrossServers(t *testing.T) {
	t.Parallel()
	a, b := twoServers(t)
	st := a.startAddress(context.Background(), proofing.Attempt{})
	if _, err := b.claim(st.ResultID); err != nil {
		t.Fatalf("claim on the other server: %v", err)
	}
	_, err := a.claim(st.ResultID)
	wantCode(t, err, proofline.ECONFLICT)
	if got := a.svc.Stats()[proofline.KindAddress].Rejected["claim_duplicate"]; got != 1 {
		t.Errorf("claim_duplicate = %d, want 1", got)
	}

	gone := a.startAddress(context.Background(), proofing.Attempt{})
	if _, err := a.claim(gone.ResultID); err != nil {
		t.Fatal(err)
	}
	if err := b.svc.Forget(context.Background(), gone.ResultID); err != nil {
		t.Fatal(err)
	}
	_, err = a.claim(gone.ResultID) // a remembers it claimed
	wantCode(t, err, proofline.ENOTFOUND)
	if got := a.svc.Stats()[proofline.KindAddress].Rejected["claim_unknown"]; got != 1 {
		t.Errorf("claim_unknown = %d, want 1", got)
	}
}
