package verification_test

import (
	"context"
	"net/url"
	"testing"
	"time"

	"github.com/proofline/proofline"
	"github.com/proofline/proofline/internal/testclock"
	"github.com/proofline/proofline/proofing/verification"
	"github.com/proofline/proofline/resultstore"
	"github.com/proofline/proofline/resultstore/storetest"
	"github.com/proofline/proofline/tenant"
)

func setup(t *testing.T) (*verification.Service, *testclock.Clock, context.Context) {
	t.Helper()
	clk := testclock.New(time.Date(2031, 1, 2, 3, 4, 5, 0, time.UTC))
	d := resultstore.NewMemory(resultstore.MemoryOptions{Now: clk.Now, SweepInterval: -1})
	recs := resultstore.NewRecords(d, storetest.NewRing(t, "s1"), "verification-session")
	t.Cleanup(func() { _ = recs.Close() })
	reg, err := tenant.New([]tenant.Client{
		{Name: "idp", Keys: []string{"idp-key-0123456789abcdef"}, ReturnOrigins: []string{"https://idp.example.gov"}},
		{Name: "other", Keys: []string{"other-key-0123456789abcd"}},
	}, "https://proofline.example.gov")
	if err != nil {
		t.Fatal(err)
	}
	svc, err := verification.New(verification.Options{
		Records: recs, Clients: reg, BaseURL: "https://proofline.example.gov", Now: clk.Now,
		LinkTTL: 10 * time.Minute, Lifetime: time.Hour, Retention: time.Hour,
	})
	if err != nil {
		t.Fatal(err)
	}
	return svc, clk, tenant.With(context.Background(), "idp")
}

func create(t *testing.T, svc *verification.Service, ctx context.Context, steps ...verification.Step) (*verification.Session, string) {
	t.Helper()
	c, err := svc.Create(ctx, verification.CreateRequest{PersonID: "user-1", ReturnURL: "https://idp.example.gov/back", Steps: steps})
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(c.URL)
	return c.Session, u.Query().Get("token")
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if proofline.ErrorCode(err) != code {
		t.Fatalf("error %v, want %s", err, code)
	}
}

// TestLinkOnce: the link opens the session once, with its token only; the
// person then has Lifetime to finish.
func TestLinkOnce(t *testing.T) {
	t.Parallel()
	svc, clk, ctx := setup(t)
	sess, token := create(t, svc, ctx)
	_, err := svc.Redeem(context.Background(), sess.ID, token+"x")
	wantCode(t, err, proofline.ENOTFOUND)
	_, err = svc.Redeem(context.Background(), sess.ID, "")
	wantCode(t, err, proofline.ENOTFOUND)
	clk.Advance(9 * time.Minute)
	got, err := svc.Redeem(context.Background(), sess.ID, token)
	if err != nil || got.Status != verification.StatusInProgress || !got.ExpiresAt.Equal(clk.Now().Add(time.Hour)) {
		t.Fatalf("Redeem = %+v, %v", got, err)
	}
	_, err = svc.Redeem(context.Background(), sess.ID, token)
	wantCode(t, err, proofline.EGONE)
}

// TestExpiry: an unused link expires at expires_at; a session in progress
// expires Lifetime after its link was used; either reads expired at once.
func TestExpiry(t *testing.T) {
	t.Parallel()
	svc, clk, ctx := setup(t)
	unused, token := create(t, svc, ctx)
	used, token2 := create(t, svc, ctx)
	if _, err := svc.Redeem(context.Background(), used.ID, token2); err != nil {
		t.Fatal(err)
	}
	clk.Advance(10 * time.Minute)
	if s, err := svc.Get(ctx, unused.ID); err != nil || s.Status != verification.StatusExpired {
		t.Fatalf("unused at expires_at: %v %v", s, err)
	}
	_, err := svc.Redeem(context.Background(), unused.ID, token)
	wantCode(t, err, proofline.EGONE)
	if s, err := svc.Get(ctx, used.ID); err != nil || s.Status != verification.StatusInProgress {
		t.Fatalf("used: %v %v", s, err)
	}
	clk.Advance(50 * time.Minute)
	if s, _ := svc.Get(ctx, used.ID); s.Status != verification.StatusExpired {
		t.Fatalf("in progress past its lifetime: %s", s.Status)
	}
	_, err = svc.StepDone(context.Background(), used.ID, verification.StepDocument, verification.StepOutcome{ResultID: "r", Result: &proofline.Result{Success: true}})
	wantCode(t, err, proofline.EGONE)
}

// TestStepsToVerified: a session is verified when every one of its steps
// succeeded, and a restart forgets the steps done before it.
func TestStepsToVerified(t *testing.T) {
	t.Parallel()
	svc, _, ctx := setup(t)
	sess, token := create(t, svc, ctx, verification.StepPhone, verification.StepDocument)
	if len(sess.Steps) != 2 || sess.Steps[0] != verification.StepDocument {
		t.Fatalf("steps %v, want document then phone", sess.Steps)
	}
	if _, err := svc.Redeem(context.Background(), sess.ID, token); err != nil {
		t.Fatal(err)
	}
	ok := verification.StepOutcome{ResultID: "r1", Result: &proofline.Result{Success: true}}
	s, err := svc.StepDone(context.Background(), sess.ID, verification.StepDocument, ok)
	if err != nil || s.Status != verification.StatusInProgress {
		t.Fatalf("after the document: %v %v", s, err)
	}
	if err := svc.Restart(context.Background(), sess.ID); err != nil {
		t.Fatal(err)
	}
	if s, _ = svc.StepDone(context.Background(), sess.ID, verification.StepPhone, ok); s.Status != verification.StatusInProgress {
		t.Fatalf("verified without the document after a restart: %s", s.Status)
	}
	if s, _ = svc.StepDone(context.Background(), sess.ID, verification.StepDocument, ok); s.Status != verification.StatusVerified {
		t.Fatalf("every step done: %s", s.Status)
	}
	_, err = svc.Cancel(ctx, sess.ID)
	wantCode(t, err, proofline.ECONFLICT)
}

// TestOnlyItsTenant: another tenant, and the demo's tenant, find nothing.
func TestOnlyItsTenant(t *testing.T) {
	t.Parallel()
	svc, _, ctx := setup(t)
	sess, _ := create(t, svc, ctx)
	for _, other := range []context.Context{tenant.With(context.Background(), "other"), context.Background()} {
		_, err := svc.Get(other, sess.ID)
		wantCode(t, err, proofline.ENOTFOUND)
		_, err = svc.Cancel(other, sess.ID)
		wantCode(t, err, proofline.ENOTFOUND)
	}
	demo, err := svc.StartDemo(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = svc.Get(context.Background(), demo.ID)
	wantCode(t, err, proofline.ENOTFOUND)
	if s, err := svc.Get(ctx, sess.ID); err != nil || s.Status != verification.StatusCreated {
		t.Fatalf("its own tenant: %v %v", s, err)
	}
}
