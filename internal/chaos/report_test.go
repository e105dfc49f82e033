package chaos_test

import (
	"math/rand/v2"
	"testing"

	"github.com/proofline/proofline/internal/chaos"
)

// TestFlat: a steady series with noise and a warm-up passes; one that grows
// with the work done (a leak), however noisy, does not.
func TestFlat(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(1, 2))
	var steady, leak, slowLeak []float64
	for i := range 120 {
		base := 200.0
		if i < 10 { // warm-up: the pools fill
			base = 50 + 15*float64(i)
		}
		noise := r.Float64()*40 - 20
		steady = append(steady, base+noise)
		leak = append(leak, base+noise+3*float64(i))           // e.g. one goroutine per 30 jobs
		slowLeak = append(slowLeak, base+noise+1.5*float64(i)) // +180 over the run
	}
	if ok, from, to := chaos.Flat(steady, 0.25, 20); !ok {
		t.Errorf("a steady series is not flat: %.0f → %.0f", from, to)
	}
	for name, s := range map[string][]float64{"leak": leak, "slow leak": slowLeak} {
		if ok, from, to := chaos.Flat(s, 0.25, 20); ok {
			t.Errorf("%s: flat (%.0f → %.0f)", name, from, to)
		}
	}
	if ok, _, _ := chaos.Flat(steady[:7], 0.25, 20); ok {
		t.Error("7 samples called flat")
	}
}
