package storetest

import (
	"bytes"
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/proofline/proofline"
	"github.com/proofline/proofline/resultstore"
)

// failingGets is a driver whose reads fail while fail is set (a connection
// reset on the way to the store); writes go through.
type failingGets struct {
	resultstore.Driver
	fail atomic.Bool
}

func (f *failingGets) Get(ctx context.Context, id string) ([]byte, error) {
	if f.fail.Load() {
		return nil, errors.New("read tcp 127.0.0.1:6379: connection reset by peer")
	}
	return f.Driver.Get(ctx, id)
}

// Close does not close the wrapped driver: the env does.
func (f *failingGets) Close() error { return nil }

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

		// Deleted on b after the claim on a: a refuses a second claim on
		// what is stored (gone), not on what it wrote (claimed).
		d := NewPending(e.now(), time.Minute)
		must(t, a.CreatePending(e.ctx, d))
		rd, err := a.LookupForUpdate(e.ctx, d.ResultID)
		must(t, err)
		must(t, a.Claim(e.ctx, rd, e.now()))
		must(t, b.Delete(e.ctx, d.ResultID))
		rd, err = a.LookupForUpdate(e.ctx, d.ResultID)
		must(t, err)
		if rd.ClaimedAt.IsZero() {
			t.Fatal("a does not remember its claim")
		}
		_, err = a.Fresh(e.ctx, rd)
		WantCode(t, err, proofline.ENOTFOUND)

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

	t.Run("RememberedRecordChangedElsewhereWhileTheStoreFails", func(t *testing.T) {
		t.Parallel()
		e := h.setup(t)
		fd := &failingGets{Driver: e.d}
		a := resultstore.New(fd, e.ring, resultstore.Options{Now: e.now}) // a server whose reads fail now
		b := e.store(0, nil)
		// a wrote the record, b took the claim; then a's link to the store
		// drops reads (a connection reset) while a callback lands on a. a
		// cannot tell what is stored: it must answer "unavailable" (the
		// worker retries), never "already recorded" (the worker stops, and
		// the vendor's answer is lost to a timeout).
		p := NewPending(e.now(), time.Minute)
		must(t, a.CreatePending(e.ctx, p))
		rb, err := b.LookupForUpdate(e.ctx, p.ResultID)
		must(t, err)
		must(t, b.Claim(e.ctx, rb, e.now()))
		ra, err := a.LookupForUpdate(e.ctx, p.ResultID) // remembered: no read
		must(t, err)
		fd.fail.Store(true)
		WantCode(t, a.Complete(e.ctx, ra, &proofline.Result{TransactionID: "via-a"}, e.now()), proofline.EUNAVAILABLE)
		fd.fail.Store(false)
		ra, err = a.LookupForUpdate(e.ctx, p.ResultID)
		must(t, err)
		must(t, a.Complete(e.ctx, ra, &proofline.Result{TransactionID: "via-a"}, e.now()))

		// The same for a claim: a remembers the record unclaimed, b took
		// the claim, a cannot read.
		c := NewPending(e.now(), time.Minute)
		must(t, a.CreatePending(e.ctx, c))
		rc, err := b.Lookup(e.ctx, c.ResultID)
		must(t, err)
		must(t, b.Claim(e.ctx, rc, e.now()))
		rc, err = a.LookupForUpdate(e.ctx, c.ResultID)
		must(t, err)
		fd.fail.Store(true)
		WantCode(t, a.Claim(e.ctx, rc, e.now()), proofline.EUNAVAILABLE)
		fd.fail.Store(false)

		// And for a record read (not remembered) that changed before the
		// callback's swap: b reads it, a claims and completes it, b's
		// completion conflicts and b cannot read.
		q := NewPending(e.now(), time.Minute)
		must(t, b.CreatePending(e.ctx, q))
		fb := &failingGets{Driver: e.d}
		b2 := resultstore.New(fb, e.ring, resultstore.Options{Now: e.now})
		rq, err := b2.Lookup(e.ctx, q.ResultID)
		must(t, err)
		rqa, err := a.Lookup(e.ctx, q.ResultID)
		must(t, err)
		must(t, a.Claim(e.ctx, rqa, e.now()))
		fb.fail.Store(true)
		WantCode(t, b2.Complete(e.ctx, rq, &proofline.Result{TransactionID: "b"}, e.now()), proofline.EUNAVAILABLE)
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

	t.Run("TenantHereOfWhatThisStoreWrote", func(t *testing.T) {
		t.Parallel()
		e := h.setup(t)
		a, b := e.store(0, nil), e.store(0, nil) // two servers, one backend
		p := NewPending(e.now(), time.Minute)
		p.Tenant = "idp-a"
		must(t, a.CreatePending(e.ctx, p))
		if tn, ok := a.TenantHere(p.ResultID); !ok || tn != "idp-a" {
			t.Fatalf("TenantHere after create: %q %v", tn, ok)
		}
		if _, ok := b.TenantHere(p.ResultID); ok {
			t.Fatal("TenantHere on a server that did not write the record")
		}
		rec, err := a.LookupForUpdate(e.ctx, p.ResultID)
		must(t, err)
		must(t, a.Claim(e.ctx, rec, e.now()))
		rec, err = a.LookupForUpdate(e.ctx, p.ResultID)
		must(t, err)
		must(t, a.Complete(e.ctx, rec, &proofline.Result{TransactionID: "t"}, e.now()))
		// Completed here: the tenant is still known, the record is no
		// longer taken for pending.
		if tn, ok := a.TenantHere(p.ResultID); !ok || tn != "idp-a" {
			t.Fatalf("TenantHere after the result: %q %v", tn, ok)
		}
		if _, ok := a.PendingHere(p.ResultID); ok {
			t.Fatal("PendingHere after the result")
		}
		done, err := a.LookupForUpdate(e.ctx, p.ResultID)
		must(t, err)
		WantCode(t, a.Claim(e.ctx, done, e.now()), proofline.ECONFLICT)
		// Deleted on b: a still knows whose it was, and its delete finds
		// nothing.
		must(t, b.Delete(e.ctx, p.ResultID))
		WantCode(t, a.Delete(e.ctx, p.ResultID), proofline.ENOTFOUND)
		if _, ok := a.TenantHere(p.ResultID); ok {
			t.Fatal("TenantHere after this Store's delete")
		}
		if e.clk == nil {
			return
		}
		// A done record is remembered until it expires, not longer.
		q := NewPending(e.now(), time.Minute)
		must(t, a.CreatePending(e.ctx, q))
		rq, err := a.LookupForUpdate(e.ctx, q.ResultID)
		must(t, err)
		must(t, a.Complete(e.ctx, rq, &proofline.Result{}, e.now()))
		e.clk.Advance(a.Timeout())
		if _, ok := a.TenantHere(q.ResultID); ok {
			t.Fatal("TenantHere after the record expired")
		}
	})
}
