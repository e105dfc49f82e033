// Package attemptstest is the conformance suite every attempts.Driver passes.
package attemptstest

import (
	"bytes"
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/proofline/proofline"
	"github.com/proofline/proofline/proofing/attempts"
)

// Run runs the suite; newDriver returns a fresh, empty driver (real clock).
func Run(t *testing.T, newDriver func(t *testing.T) attempts.Driver) {
	limiter := func(t *testing.T, person, ip int, window time.Duration) *attempts.Limiter {
		l, err := attempts.New(newDriver(t), attempts.Options{MaxPerPerson: person, MaxPerIP: ip, Window: window, HashKey: bytes.Repeat([]byte{7}, 32)})
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	ctx := context.Background()
	soon := func() time.Time { return time.Now().Add(time.Minute) }

	t.Run("limit counts in-flight and used attempts", func(t *testing.T) {
		t.Parallel()
		l := limiter(t, 3, 0, time.Hour)
		p := attempts.Subject{PersonID: "person-1"}
		var keys [3]attempts.Keys
		for i := range 3 {
			k, err := l.Reserve(ctx, p, proofline.NewResultID(), soon())
			if err != nil {
				t.Fatalf("attempt %d: %v", i+1, err)
			}
			keys[i] = k
		}
		if _, err := l.Reserve(ctx, p, proofline.NewResultID(), soon()); proofline.ErrorCode(err) != proofline.ELIMIT {
			t.Fatalf("4th attempt: %v", err)
		}
		// Another person is not affected.
		if _, err := l.Reserve(ctx, attempts.Subject{PersonID: "person-2"}, proofline.NewResultID(), soon()); err != nil {
			t.Fatalf("other person: %v", err)
		}
	})

	t.Run("timeouts and exceptions do not consume attempts", func(t *testing.T) {
		t.Parallel()
		l := limiter(t, 1, 0, time.Hour)
		p := attempts.Subject{PersonID: "p"}
		id := proofline.NewResultID()
		k, err := l.Reserve(ctx, p, id, soon())
		if err != nil {
			t.Fatal(err)
		}
		l.Finish(ctx, k, id, false) // a vendor exception: released, not counted
		id2 := proofline.NewResultID()
		if _, err := l.Reserve(ctx, p, id2, time.Now().Add(150*time.Millisecond)); err != nil {
			t.Fatalf("after an exception: %v", err)
		}
		// id2 times out: its slot frees at its deadline, with no callback.
		var last error
		for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
			if _, last = l.Reserve(ctx, p, proofline.NewResultID(), soon()); last == nil {
				return
			}
		}
		t.Fatalf("a timed-out attempt still counts: %v", last)
	})

	t.Run("a real outcome is used until the window ends", func(t *testing.T) {
		t.Parallel()
		l := limiter(t, 1, 0, 300*time.Millisecond)
		p := attempts.Subject{PersonID: "p"}
		id := proofline.NewResultID()
		k, _ := l.Reserve(ctx, p, id, soon())
		l.Finish(ctx, k, id, true)
		if _, err := l.Reserve(ctx, p, proofline.NewResultID(), soon()); proofline.ErrorCode(err) != proofline.ELIMIT {
			t.Fatalf("right after a used attempt: %v", err)
		}
		var last error
		for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
			if _, last = l.Reserve(ctx, p, proofline.NewResultID(), soon()); last == nil {
				return
			}
		}
		t.Fatalf("still limited after the window: %v", last)
	})

	t.Run("a refusal forgets no used attempt", func(t *testing.T) {
		t.Parallel()
		l := limiter(t, 1, 0, time.Hour)
		p := attempts.Subject{PersonID: "p"}
		id := proofline.NewResultID()
		k, err := l.Reserve(ctx, p, id, soon())
		if err != nil {
			t.Fatal(err)
		}
		l.Finish(ctx, k, id, true)
		// Asking again and again does not wear the used attempt away.
		for i := range 3 {
			if _, err := l.Reserve(ctx, p, proofline.NewResultID(), soon()); proofline.ErrorCode(err) != proofline.ELIMIT {
				t.Fatalf("attempt %d after the used one: %v, want ELIMIT", i+1, err)
			}
		}
	})

	t.Run("the driver answers each call", func(t *testing.T) {
		t.Parallel()
		// The Driver contract itself, as the Limiter relies on it: a slot
		// is taken below the maximum and refused at it, a release frees
		// it, a consumed attempt holds it, and no call reports an error.
		d := newDriver(t)
		const key = "person:0123456789abcdef"
		a, b, c := proofline.NewResultID(), proofline.NewResultID(), proofline.NewResultID()
		reserve := func(id string, want bool) {
			t.Helper()
			ok, err := d.Reserve(ctx, key, id, soon(), 1, time.Hour)
			if err != nil || ok != want {
				t.Fatalf("Reserve = %v, %v; want %v, nil", ok, err, want)
			}
		}
		reserve(a, true)
		reserve(b, false)
		if err := d.Finish(ctx, key, a, false, time.Hour); err != nil {
			t.Fatalf("Finish (released): %v", err)
		}
		reserve(b, true)
		if err := d.Finish(ctx, key, b, true, time.Hour); err != nil {
			t.Fatalf("Finish (consumed): %v", err)
		}
		reserve(c, false)
	})

	t.Run("a refused subject leaks no slot of the other", func(t *testing.T) {
		t.Parallel()
		l := limiter(t, 2, 1, time.Hour)
		if _, err := l.Reserve(ctx, attempts.Subject{PersonID: "a", ClientIP: "192.0.2.7"}, proofline.NewResultID(), soon()); err != nil {
			t.Fatal(err)
		}
		// The IP is full: refused, and person b's slot is given back.
		if _, err := l.Reserve(ctx, attempts.Subject{PersonID: "b", ClientIP: "192.0.2.7"}, proofline.NewResultID(), soon()); proofline.ErrorCode(err) != proofline.ELIMIT {
			t.Fatalf("full ip: %v", err)
		}
		for i := range 2 {
			if _, err := l.Reserve(ctx, attempts.Subject{PersonID: "b"}, proofline.NewResultID(), soon()); err != nil {
				t.Fatalf("person b attempt %d after the refusal: %v", i+1, err)
			}
		}
	})

	t.Run("parallel starts cannot pass the limit", func(t *testing.T) {
		t.Parallel()
		l := limiter(t, 5, 0, time.Hour)
		var ok atomic.Int64
		var wg sync.WaitGroup
		for range 50 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := l.Reserve(ctx, attempts.Subject{PersonID: "burst"}, proofline.NewResultID(), soon()); err == nil {
					ok.Add(1)
				}
			}()
		}
		wg.Wait()
		if ok.Load() != 5 {
			t.Fatalf("%d of 50 parallel starts passed a limit of 5", ok.Load())
		}
	})

	t.Run("subjects are stored hashed", func(t *testing.T) {
		t.Parallel()
		l := limiter(t, 5, 5, time.Hour)
		k, err := l.Reserve(ctx, attempts.Subject{PersonID: "person-canary-77", ClientIP: "198.51.100.77"}, proofline.NewResultID(), soon())
		if err != nil || len(k) != 2 {
			t.Fatalf("%v %v", k, err)
		}
		for _, key := range k {
			if bytes.Contains([]byte(key), []byte("canary")) || bytes.Contains([]byte(key), []byte("198.51")) {
				t.Fatalf("key %q holds the subject", key)
			}
		}
	})
}
