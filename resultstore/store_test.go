package resultstore_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/proofline/proofline"
	"github.com/proofline/proofline/resultstore"
	"github.com/proofline/proofline/resultstore/storetest"
)

// brokenDriver fails every call, as a backend that is down.
type brokenDriver struct{ err error }

func (b brokenDriver) Create(context.Context, string, []byte, time.Duration) error { return b.err }
func (b brokenDriver) Get(context.Context, string) ([]byte, error)                 { return nil, b.err }
func (b brokenDriver) Swap(context.Context, string, []byte, []byte, time.Duration) error {
	return b.err
}
func (b brokenDriver) Delete(context.Context, string) (bool, error) { return false, b.err }
func (b brokenDriver) Close() error                                 { return b.err }

func TestStoreDriverFailureIsUnavailable(t *testing.T) {
	t.Parallel()
	down := errors.New("connection refused")
	st := resultstore.New(brokenDriver{down}, storetest.NewRing(t, "k1"), resultstore.Options{})
	ctx := context.Background()
	p := storetest.NewPending(time.Now(), time.Minute)
	check := func(op string, err error) {
		t.Helper()
		storetest.WantCode(t, err, proofline.EUNAVAILABLE)
		if !errors.Is(err, down) {
			t.Errorf("%s: cause lost: %v", op, err)
		}
		if msg := proofline.ErrorMessage(err); strings.Contains(msg, "refused") {
			t.Errorf("%s: public message %q carries the cause", op, msg)
		}
	}
	check("CreatePending", st.CreatePending(ctx, p))
	_, err := st.Lookup(ctx, p.ResultID)
	check("Lookup", err)
	_, err = st.Outcome(ctx, p.ResultID)
	check("Outcome", err)
	check("Delete", st.Delete(ctx, p.ResultID))
	check("Close", st.Close())
}

func TestStoreErrorsCarryNoPII(t *testing.T) {
	t.Parallel()
	d := resultstore.NewMemory(resultstore.MemoryOptions{})
	st := resultstore.New(d, storetest.NewRing(t, "k1"), resultstore.Options{})
	t.Cleanup(func() { _ = st.Close() })
	ctx := context.Background()
	p := storetest.NewPending(time.Now(), time.Minute)
	if err := st.CreatePending(ctx, p); err != nil {
		t.Fatal(err)
	}
	rec, err := st.Lookup(ctx, p.ResultID)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Complete(ctx, rec, storetest.CanaryResult(), time.Now()); err != nil {
		t.Fatal(err)
	}
	// Every failure path that sees the record: conflicts and a wrong ring.
	errs := []error{
		st.Complete(ctx, rec, storetest.CanaryResult(), time.Now()),
		st.CreatePending(ctx, p),
	}
	_, err = resultstore.New(d, storetest.NewRing(t, "k1"), resultstore.Options{}).Outcome(ctx, p.ResultID)
	errs = append(errs, err)
	for _, err := range errs {
		if err == nil {
			t.Fatal("want an error")
		}
		storetest.AssertNoPlaintext(t, "error text", []byte(err.Error()))
	}
}
