package proofer_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/proofline/proofline"
	"github.com/proofline/proofline/proofer"
)

type budgetedAddress struct {
	calls  atomic.Int64
	budget time.Duration
}

func (b *budgetedAddress) Name() string              { return "BudgetedAddress" }
func (b *budgetedAddress) CallBudget() time.Duration { return b.budget }
func (b *budgetedAddress) VerifyPhone(context.Context, *proofline.Applicant) (*proofer.VendorResult, error) {
	b.calls.Add(1)
	return &proofer.VendorResult{Vendor: "BudgetedAddress"}, nil
}

// Invariant 5: a vendor call that cannot finish before the job's deadline
// (less than the vendor's configured timeout left) is not made.
func TestVendorCallSkippedWhenItCannotFinishInTime(t *testing.T) {
	t.Parallel()
	v := &budgetedAddress{budget: time.Second}
	p := &proofer.Proofer{Address: v}
	pl := &proofline.Payload{Address: &proofline.AddressArgs{}}

	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	r := p.Proof(ctx, proofline.KindAddress, pl)
	cancel()
	if v.calls.Load() != 0 {
		t.Fatal("the vendor was called with less time left than its timeout")
	}
	if !r.TimedOut || r.Success || len(r.Context.Stages) != 1 || !r.Context.Stages[0].TimedOut {
		t.Fatalf("skipped call not reported as a timeout: %+v", r)
	}

	ctx, cancel = context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if r := p.Proof(ctx, proofline.KindAddress, pl); !r.Success || v.calls.Load() != 1 {
		t.Fatalf("with time left: success %v, calls %d", r.Success, v.calls.Load())
	}
}
