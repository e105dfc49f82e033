package attempts_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/proofline/proofline"
	"github.com/proofline/proofline/internal/testclock"
	"github.com/proofline/proofline/proofing/attempts"
)

func hashKey(n int) []byte { return bytes.Repeat([]byte{7}, n) }

// The subject hash key must be at least 32 bytes: 31 is refused, 32 is
// enough.
func TestHashKeyAtLeast32Bytes(t *testing.T) {
	t.Parallel()
	if _, err := attempts.New(attempts.NewMemory(nil), attempts.Options{MaxPerPerson: 1, HashKey: hashKey(31)}); err == nil {
		t.Fatal("a 31-byte hash key was accepted")
	}
	if _, err := attempts.New(attempts.NewMemory(nil), attempts.Options{MaxPerPerson: 1, HashKey: hashKey(32)}); err != nil {
		t.Fatalf("a 32-byte hash key: %v", err)
	}
}

// Without a window, a used attempt counts for 6 hours (idv_attempt_window_in_hours'
// default): refused until then, allowed from then on.
func TestUsedAttemptCountsSixHoursByDefault(t *testing.T) {
	t.Parallel()
	clk := testclock.New(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC))
	l, err := attempts.New(attempts.NewMemory(clk.Now), attempts.Options{MaxPerPerson: 1, HashKey: hashKey(32)})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	p := attempts.Subject{PersonID: "p"}
	deadline := func() time.Time { return clk.Now().Add(time.Minute) }
	id := proofline.NewResultID()
	k, err := l.Reserve(ctx, p, id, deadline())
	if err != nil {
		t.Fatal(err)
	}
	l.Finish(ctx, k, id, true)
	clk.Advance(6*time.Hour - time.Nanosecond)
	if _, err := l.Reserve(ctx, p, proofline.NewResultID(), deadline()); proofline.ErrorCode(err) != proofline.ELIMIT {
		t.Fatalf("just before 6 hours: %v, want ELIMIT", err)
	}
	clk.Advance(time.Nanosecond)
	if _, err := l.Reserve(ctx, p, proofline.NewResultID(), deadline()); err != nil {
		t.Fatalf("at 6 hours: %v, want the attempt allowed", err)
	}
}

// A maximum of 0 turns that limit off: the subject is neither counted nor
// refused, and only the other limit's key is held.
func TestZeroMaximumTurnsThatLimitOff(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := attempts.Subject{PersonID: "p", ClientIP: "192.0.2.1"}
	for _, tc := range []struct {
		name          string
		person, ip    int
		otherSubjects func(i int) attempts.Subject
	}{
		// Person limit off, IP limit 1: the same person from other IPs
		// is never refused.
		{"person", 0, 1, func(i int) attempts.Subject {
			return attempts.Subject{PersonID: "p", ClientIP: "192.0.2." + string(rune('2'+i))}
		}},
		// IP limit off, person limit 1: other people from the same IP
		// are never refused.
		{"ip", 1, 0, func(i int) attempts.Subject {
			return attempts.Subject{PersonID: "q" + string(rune('a'+i)), ClientIP: "192.0.2.1"}
		}},
	} {
		l, err := attempts.New(attempts.NewMemory(nil), attempts.Options{MaxPerPerson: tc.person, MaxPerIP: tc.ip, HashKey: hashKey(32)})
		if err != nil {
			t.Fatal(err)
		}
		k, err := l.Reserve(ctx, s, proofline.NewResultID(), time.Now().Add(time.Minute))
		if err != nil {
			t.Fatalf("%s limit off: first attempt: %v", tc.name, err)
		}
		if len(k) != 1 {
			t.Fatalf("%s limit off: %d keys held, want 1 (the other limit's)", tc.name, len(k))
		}
		for i := range 3 {
			if _, err := l.Reserve(ctx, tc.otherSubjects(i), proofline.NewResultID(), time.Now().Add(time.Minute)); err != nil {
				t.Fatalf("%s limit off: attempt %d: %v", tc.name, i+2, err)
			}
		}
	}
}
