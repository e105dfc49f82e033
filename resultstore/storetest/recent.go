package storetest

import (
	"bytes"
	"testing"
	"time"

	"github.com/proofline/proofline"
)

// runRememberedTests: a Store skips reading back what it wrote itself
// (LookupForUpdate, PendingHere), and that never changes an outcome when
// another Store over the same driver (another server) changed the record.
func runRememberedTests(t *testing.T, h Harness) {
	t.Run("LookupForUpdateSeesOwnWrites", func(t *testing.T) {
		t.Parallel()
		e := h.setup(t)
		st := e.store(0, nil)
		p := NewPending(e.now(), time.Minute)
		must(t, st.CreatePending(e.ctx, p))
		if o, ok := st.PendingHere(p.ResultID); !ok || o.Status != proofline.StatusPending || o.Kind != p.Kind || !o.Deadline.Equal(p.Deadline) {
			t.Fatalf("PendingHere after create: %+v %v", o, ok)
		}
		rec, err := st.LookupForUpdate(e.ctx, p.ResultID)
		must(t, err)
		if !bytes.Equal(rec.DataKey, p.DataKey) || !bytes.Equal(rec.ClaimToken, p.ClaimToken) || rec.State != proofline.StatusPending {
			t.Fatal("remembered record is not the one written")
		}
		must(t, st.Claim(e.ctx, rec, e.now()))
		claimed, err := st.LookupForUpdate(e.ctx, p.ResultID)
		must(t, err)
		if claimed.ClaimedAt.IsZero() || len(claimed.DataKey) != 0 {
			t.Fatal("after the claim, LookupForUpdate still shows the data key")
		}
		WantCode(t, st.Claim(e.ctx, claimed, e.now()), proofline.ECONFLICT)
		must(t, st.Complete(e.ctx, claimed, &proofline.Result{TransactionID: "t"}, e.now()))
		if _, ok := st.PendingHere(p.ResultID); ok {
			t.Fatal("PendingHere after the result")
		}
		o, err := st.Outcome(e.ctx, p.ResultID)
		must(t, err)
		if o.Status != proofline.StatusDone || o.Result.TransactionID != "t" {
			t.Fatalf("outcome %+v", o)
		}
		q := NewPending(e.now(), time.Minute)
		must(t, st.CreatePending(e.ctx, q))
		must(t, st.Delete(e.ctx, q.ResultID))
		if _, ok := st.PendingHere(q.ResultID); ok {
			t.Fatal("PendingHere after delete")
		}
		WantCode(t, func() error { _, err := st.LookupForUpdate(e.ctx, q.ResultID); return err }(), proofline.ENOTFOUND)
	})

	t.Run("RememberedRecordChangedElsewhere", func(t *testing.T) {
		t.Parallel()
		e := h.setup(t)
		a, b := e.store(0, nil), e.store(0, nil) // two servers, one backend
		p := NewPending(e.now(), time.Minute)
		must(t, a.CreatePending(e.ctx, p))
		if _, ok := b.PendingHere(p.ResultID); ok {
			t.Fatal("PendingHere on a server that did not write the record")
		}
		// The claim lands on b: a's remembered value is now stale.
		rb, err := b.LookupForUpdate(e.ctx, p.ResultID)
		must(t, err)
		must(t, b.Claim(e.ctx, rb, e.now()))
		// The callback lands on a: the result is stored, not refused as a
		// duplicate (which a worker would take as delivered).
		ra, err := a.LookupForUpdate(e.ctx, p.ResultID)
		must(t, err)
		must(t, a.Complete(e.ctx, ra, &proofline.Result{TransactionID: "via-a"}, e.now()))
		o, err := b.Outcome(e.ctx, p.ResultID)
		must(t, err)
		if o.Status != proofline.StatusDone || o.Result.TransactionID != "via-a" {
			t.Fatalf("outcome %+v", o)
		}
		// A second callback anywhere is a duplicate.
		rb, err = b.Lookup(e.ctx, p.ResultID)
		must(t, err)
		WantCode(t, b.Complete(e.ctx, rb, &proofline.Result{TransactionID: "again"}, e.now()), proofline.ECONFLICT)

		// Claimed on b, then a second claim on a (a redelivered envelope):
		// refused, the key is released once.
		c := NewPending(e.now(), time.Minute)
		must(t, a.CreatePending(e.ctx, c))
		rc, err := b.Lookup(e.ctx, c.ResultID)
		must(t, err)
		must(t, b.Claim(e.ctx, rc, e.now()))
		rc, err = a.LookupForUpdate(e.ctx, c.ResultID)
		must(t, err)
		WantCode(t, a.Claim(e.ctx, rc, e.now()), proofline.ECONFLICT)

		// Deleted on b: a's remembered record completes as not found.
		q := NewPending(e.now(), time.Minute)
		must(t, a.CreatePending(e.ctx, q))
		must(t, b.Delete(e.ctx, q.ResultID))
		rq, err := a.LookupForUpdate(e.ctx, q.ResultID)
		must(t, err)
		WantCode(t, a.Complete(e.ctx, rq, &proofline.Result{}, e.now()), proofline.ENOTFOUND)

		// Completed on b while a still remembers it pending: a's claim
		// and completion are refused.
		r := NewPending(e.now(), time.Minute)
		must(t, a.CreatePending(e.ctx, r))
		rr, err := b.Lookup(e.ctx, r.ResultID)
		must(t, err)
		must(t, b.Complete(e.ctx, rr, &proofline.Result{TransactionID: "b"}, e.now()))
		ra2, err := a.LookupForUpdate(e.ctx, r.ResultID)
		must(t, err)
		WantCode(t, a.Claim(e.ctx, ra2, e.now()), proofline.ECONFLICT)
		ra2, err = a.LookupForUpdate(e.ctx, r.ResultID)
		must(t, err)
		WantCode(t, a.Complete(e.ctx, ra2, &proofline.Result{TransactionID: "a"}, e.now()), proofline.ECONFLICT)
		o, err = a.Outcome(e.ctx, r.ResultID)
		must(t, err)
		if o.Result.TransactionID != "b" {
			t.Fatalf("result overwritten: %q", o.Result.TransactionID)
		}
	})

	t.Run("RememberedRecordLapsesAtDeadline", func(t *testing.T) {
		t.Parallel()
		e := h.setup(t)
		if e.clk == nil {
			t.Skip("needs the test clock")
		}
		st := e.store(0, nil)
		p := NewPending(e.now(), time.Minute)
		must(t, st.CreatePending(e.ctx, p))
		e.clk.Advance(time.Minute)
		if _, ok := st.PendingHere(p.ResultID); ok {
			t.Fatal("PendingHere past the deadline (the person must see timed_out)")
		}
	})
}
