// Package storetest is the conformance suite of resultstore: every Driver
// runs the same scenarios, directly (RunDriverTests) and under a
// resultstore.Store (RunStoreTests), plus the same benchmarks
// (RunBenchmarks).
//
// A driver package wires it like this:
//
//	h := storetest.Harness{
//		NewDriver: func(t *testing.T, now func() time.Time) resultstore.Driver { ... },
//		WallClock: true, // if the driver ignores now and expires by real time
//	}
//	func TestDriver(t *testing.T) { storetest.RunDriverTests(t, h) }
//	func TestStore(t *testing.T)  { storetest.RunStoreTests(t, h) }
//
// Expiry is tested with the injected clock when the driver honours it (the
// memory driver: exact boundaries, no waiting), and with short real TTLs
// (50-300 ms) and polling when it does not (Redis). Tests never sleep a fixed
// time to wait for something a poll can observe.
package storetest

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/proofline/proofline"
	"github.com/proofline/proofline/internal/testclock"
	"github.com/proofline/proofline/resultstore"
	"github.com/proofline/proofline/seal"
)

// Harness describes the driver under test.
type Harness struct {
	// NewDriver returns a fresh driver that shares no ids with any other
	// driver it returned (use a fresh key prefix). Unless WallClock is set,
	// the driver must decide expiry with now. The suite closes the driver.
	NewDriver func(t *testing.T, now func() time.Time) resultstore.Driver
	// WallClock is true when the driver ignores now and expires entries by
	// real time (Redis). Expiry tests then use short real TTLs and poll.
	WallClock bool
}

// waitLimit bounds every poll loop: far beyond any TTL the suite uses, so
// only a broken driver reaches it.
const waitLimit = 10 * time.Second

// env is one test's fixtures: a fresh driver, its clock and a key ring.
type env struct {
	t    *testing.T
	d    resultstore.Driver
	clk  *testclock.Clock // nil when the driver runs on the wall clock
	ring *seal.KeyRing
	ctx  context.Context
}

func (h Harness) setup(t *testing.T) *env {
	t.Helper()
	e := &env{t: t, ctx: context.Background()}
	now := time.Now
	if !h.WallClock {
		e.clk = testclock.New(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC))
		now = e.clk.Now
	}
	e.d = h.NewDriver(t, now)
	t.Cleanup(func() {
		if err := e.d.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	e.ring = NewRing(t, "k1")
	return e
}

func (e *env) now() time.Time {
	if e.clk != nil {
		return e.clk.Now()
	}
	return time.Now()
}

// store returns a Store over the env's driver (the driver is closed by the
// env, not by the store). timeout 0 means the default.
func (e *env) store(timeout time.Duration, s proofline.Sealer) *resultstore.Store {
	if s == nil {
		s = e.ring
	}
	return resultstore.New(e.d, s, resultstore.Options{Timeout: timeout, Now: e.now})
}

// NewRing returns a key ring holding fresh keys with the given ids, the
// first current.
func NewRing(t testing.TB, ids ...string) *seal.KeyRing {
	t.Helper()
	keys := make([]seal.Key, len(ids))
	for i, id := range ids {
		k, err := seal.Generate(id)
		if err != nil {
			t.Fatal(err)
		}
		keys[i] = k
	}
	r, err := seal.NewKeyRing(keys...)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// NewPending returns a valid pending record starting at now with the given
// deadline, a fresh id and a trace id that carries a canary marker.
func NewPending(now time.Time, deadlineIn time.Duration) resultstore.Pending {
	return resultstore.Pending{
		ResultID:       proofline.NewResultID(),
		Kind:           proofline.KindDocument,
		RequestedAt:    now,
		Deadline:       now.Add(deadlineIn),
		DataKey:        bytes.Repeat([]byte{0xd1}, 32),
		ClaimToken:     bytes.Repeat([]byte{0xc1}, 32),
		CallbackSecret: bytes.Repeat([]byte{0x5e}, 32),
		TraceID:        markerTrace,
	}
}

// Canary markers: unlikely strings put into every field of a record, then
// looked for in what the backend holds.
const (
	markerTrace   = "CANARYTRACEID5150"
	markerMessage = "CANARYMESSAGE8832"
	markerTxn     = "CANARYTRANSACTION1206"
	markerErr     = "CANARYERRORTEXT4471"
	markerExc     = "CANARYEXCEPTION6610"
	markerVendor  = "CANARYVENDORNAME3029"
	markerAlert   = "CANARYALERTNAME9181"
	markerResult  = "CANARYRESULTFIELD4343"
)

// piiMarkers are the document PII of CanaryResult, each distinct.
var piiMarkers = []string{
	"CANARYFIRSTNAME2718", "CANARYMIDDLENAME1414", "CANARYLASTNAME3141",
	"CANARYADDRESSONE1732", "CANARYCITYNAME2236", "CANARYSTATEXX0577",
	"CANARYZIPCODE16180", "CANARYDOB19700101", "CANARYSTATEIDNUM6022",
	"CANARYJURISDICTION8314", "CANARYIDTYPE1123",
}

// CanaryMarkers lists every marker string CanaryResult and NewPending put
// into a record. None may appear in what a backend stores.
func CanaryMarkers() []string {
	return append([]string{markerTrace, markerMessage, markerTxn, markerErr, markerExc,
		markerVendor, markerAlert, markerResult}, piiMarkers...)
}

// CanaryResult returns a document result with a canary marker in every
// string field, including each field of PIIFromDoc.
func CanaryResult() *proofline.Result {
	billed := true
	exc := markerExc
	m := piiMarkers
	return &proofline.Result{
		Success:       false,
		Errors:        map[string][]string{"first_name": {markerErr}},
		Messages:      []string{markerMessage},
		Exception:     &exc,
		TimedOut:      false,
		TransactionID: markerTxn,
		Context: proofline.ResultContext{Stages: []proofline.Stage{
			{Stage: "document", Vendor: markerVendor, TransactionID: markerTxn, Success: true},
		}},
		Billed:    &billed,
		Result:    markerResult,
		RawAlerts: []proofline.Alert{{Name: markerAlert, Result: "Passed", Side: "front"}},
		PIIFromDoc: &proofline.DocumentPII{
			FirstName: proofline.PII(m[0]), MiddleName: proofline.PII(m[1]), LastName: proofline.PII(m[2]),
			Address1: proofline.PII(m[3]), City: proofline.PII(m[4]), State: proofline.PII(m[5]),
			Zipcode: proofline.PII(m[6]), DOB: proofline.PII(m[7]), StateIDNumber: proofline.PII(m[8]),
			StateIDJurisdiction: proofline.PII(m[9]), StateIDType: proofline.PII(m[10]),
		},
	}
}

// FindPlaintext returns the first of markers that b contains, as is or
// base64-encoded (standard or URL alphabet, at any alignment), or "".
func FindPlaintext(b []byte, markers []string) string {
	for _, m := range markers {
		if bytes.Contains(b, []byte(m)) {
			return m
		}
		for shift := 0; shift < 3; shift++ {
			enc := base64.StdEncoding.EncodeToString(append(make([]byte, shift), m...))
			// Keep only the characters that depend on the marker alone.
			from := (8*shift + 5) / 6
			to := 8 * (shift + len(m)) / 6
			core := enc[from:to]
			url := base64.URLEncoding.EncodeToString(append(make([]byte, shift), m...))[from:to]
			if bytes.Contains(b, []byte(core)) || bytes.Contains(b, []byte(url)) {
				return m
			}
		}
	}
	return ""
}

// AssertNoPlaintext fails t if b holds any canary marker.
func AssertNoPlaintext(t testing.TB, what string, b []byte) {
	t.Helper()
	if m := FindPlaintext(b, CanaryMarkers()); m != "" {
		t.Errorf("%s holds plaintext canary %q", what, m)
	}
}

// WantCode fails t unless err is a *proofline.Error with code.
func WantCode(t testing.TB, err error, code string) {
	t.Helper()
	var pe *proofline.Error
	switch {
	case err == nil:
		t.Fatalf("err = nil, want code %s", code)
	case !errors.As(err, &pe):
		t.Fatalf("err = %v (%T), want a *proofline.Error with code %s", err, err, code)
	case pe.Code != code:
		t.Fatalf("err = %v, want code %s", err, code)
	}
}

func wantErr(t testing.TB, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("err = %v, want %v", err, want)
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// poll calls f every few milliseconds until it returns true; it fails t if
// that takes longer than waitLimit.
func poll(t testing.TB, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", waitLimit, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// race runs f(i) for i in [0,n) in n goroutines released together and
// returns their errors.
func race(n int, f func(i int) error) []error {
	errs := make([]error, n)
	var start, done sync.WaitGroup
	start.Add(1)
	for i := range n {
		done.Add(1)
		go func() {
			defer done.Done()
			start.Wait()
			errs[i] = f(i)
		}()
	}
	start.Done()
	done.Wait()
	return errs
}

// id returns a fresh result id.
func id() string { return proofline.NewResultID() }

// RunDriverTests runs the driver conformance tests.
func RunDriverTests(t *testing.T, h Harness) {
	t.Run("CreateGetDelete", func(t *testing.T) {
		t.Parallel()
		e := h.setup(t)
		k, v := id(), []byte("value-1")
		must(t, e.d.Create(e.ctx, k, v, time.Minute))
		got, err := e.d.Get(e.ctx, k)
		must(t, err)
		if !bytes.Equal(got, v) {
			t.Fatalf("Get = %q, want %q", got, v)
		}
		ok, err := e.d.Delete(e.ctx, k)
		must(t, err)
		if !ok {
			t.Fatal("Delete of a present id reported absent")
		}
		_, err = e.d.Get(e.ctx, k)
		wantErr(t, err, resultstore.ErrNotFound)
		ok, err = e.d.Delete(e.ctx, k)
		must(t, err)
		if ok {
			t.Fatal("second Delete reported present")
		}
	})

	t.Run("GetAbsent", func(t *testing.T) {
		t.Parallel()
		e := h.setup(t)
		_, err := e.d.Get(e.ctx, id())
		wantErr(t, err, resultstore.ErrNotFound)
	})

	t.Run("CreateTwiceIsErrExists", func(t *testing.T) {
		t.Parallel()
		e := h.setup(t)
		k := id()
		must(t, e.d.Create(e.ctx, k, []byte("first"), time.Minute))
		wantErr(t, e.d.Create(e.ctx, k, []byte("second"), time.Minute), resultstore.ErrExists)
		got, err := e.d.Get(e.ctx, k)
		must(t, err)
		if string(got) != "first" {
			t.Fatalf("value after refused Create = %q, want %q", got, "first")
		}
	})

	t.Run("BinaryValuesAndIDs", func(t *testing.T) {
		t.Parallel()
		e := h.setup(t)
		v := make([]byte, 512)
		for i := range v {
			v[i] = byte(i)
		}
		for _, k := range []string{id(), "with space:and\x00nul", "ünïcode-ключ"} {
			must(t, e.d.Create(e.ctx, k, v, time.Minute))
			got, err := e.d.Get(e.ctx, k)
			must(t, err)
			if !bytes.Equal(got, v) {
				t.Fatalf("binary value did not round-trip under %q", k)
			}
		}
	})

	t.Run("ValuesAreCopied", func(t *testing.T) {
		t.Parallel()
		e := h.setup(t)
		k := id()
		v := []byte("original")
		must(t, e.d.Create(e.ctx, k, v, time.Minute))
		v[0] = 'X'
		got, err := e.d.Get(e.ctx, k)
		must(t, err)
		if string(got) != "original" {
			t.Fatalf("stored value changed with the caller's slice: %q", got)
		}
		got[0] = 'Y'
		again, err := e.d.Get(e.ctx, k)
		must(t, err)
		if string(again) != "original" {
			t.Fatalf("stored value changed with a returned slice: %q", again)
		}
		next := []byte("swapped")
		must(t, e.d.Swap(e.ctx, k, []byte("original"), next, time.Minute))
		next[0] = 'Z'
		again, err = e.d.Get(e.ctx, k)
		must(t, err)
		if string(again) != "swapped" {
			t.Fatalf("swapped value changed with the caller's slice: %q", again)
		}
	})

	t.Run("Swap", func(t *testing.T) {
		t.Parallel()
		e := h.setup(t)
		k := id()
		must(t, e.d.Create(e.ctx, k, []byte("v0"), time.Minute))
		must(t, e.d.Swap(e.ctx, k, []byte("v0"), []byte("v1"), time.Minute))
		got, err := e.d.Get(e.ctx, k)
		must(t, err)
		if string(got) != "v1" {
			t.Fatalf("Get after Swap = %q, want v1", got)
		}
		wantErr(t, e.d.Swap(e.ctx, k, []byte("v0"), []byte("v2"), time.Minute), resultstore.ErrConflict)
		got, _ = e.d.Get(e.ctx, k)
		if string(got) != "v1" {
			t.Fatalf("a refused Swap changed the value to %q", got)
		}
	})

	t.Run("SwapComparesBytes", func(t *testing.T) {
		t.Parallel()
		e := h.setup(t)
		k := id()
		cur := []byte("abc\x00def\xff")
		must(t, e.d.Create(e.ctx, k, cur, time.Minute))
		for _, old := range [][]byte{[]byte("abc\x00def\xfe"), []byte("abc\x00def"), []byte("abc"), []byte("abc\x00def\xff\x00"), {}} {
			wantErr(t, e.d.Swap(e.ctx, k, old, []byte("next"), time.Minute), resultstore.ErrConflict)
		}
		must(t, e.d.Swap(e.ctx, k, []byte("abc\x00def\xff"), []byte("next"), time.Minute))
	})

	t.Run("SwapAbsent", func(t *testing.T) {
		t.Parallel()
		e := h.setup(t)
		wantErr(t, e.d.Swap(e.ctx, id(), []byte("a"), []byte("b"), time.Minute), resultstore.ErrNotFound)
		k := id()
		must(t, e.d.Create(e.ctx, k, []byte("a"), time.Minute))
		_, err := e.d.Delete(e.ctx, k)
		must(t, err)
		wantErr(t, e.d.Swap(e.ctx, k, []byte("a"), []byte("b"), time.Minute), resultstore.ErrNotFound)
		_, err = e.d.Get(e.ctx, k)
		wantErr(t, err, resultstore.ErrNotFound) // Swap must not create
	})

	t.Run("SwapRace", func(t *testing.T) {
		t.Parallel()
		e := h.setup(t)
		k := id()
		must(t, e.d.Create(e.ctx, k, []byte("pending"), time.Minute))
		errs := race(50, func(i int) error {
			return e.d.Swap(e.ctx, k, []byte("pending"), fmt.Appendf(nil, "done-%d", i), time.Minute)
		})
		winner := -1
		for i, err := range errs {
			switch {
			case err == nil && winner >= 0:
				t.Fatalf("Swap succeeded twice (%d and %d)", winner, i)
			case err == nil:
				winner = i
			case !errors.Is(err, resultstore.ErrConflict):
				t.Fatalf("losing Swap: %v, want ErrConflict", err)
			}
		}
		if winner < 0 {
			t.Fatal("no Swap succeeded")
		}
		got, err := e.d.Get(e.ctx, k)
		must(t, err)
		if want := fmt.Sprintf("done-%d", winner); string(got) != want {
			t.Fatalf("value = %q, want the winner's %q", got, want)
		}
	})

	t.Run("ConcurrentDistinctIDs", func(t *testing.T) {
		t.Parallel()
		e := h.setup(t)
		errs := race(50, func(i int) error {
			k := id()
			v := fmt.Appendf(nil, "v%d", i)
			if err := e.d.Create(e.ctx, k, v, time.Minute); err != nil {
				return err
			}
			got, err := e.d.Get(e.ctx, k)
			if err != nil {
				return err
			}
			if !bytes.Equal(got, v) {
				return fmt.Errorf("got %q, want %q", got, v)
			}
			if ok, err := e.d.Delete(e.ctx, k); err != nil || !ok {
				return fmt.Errorf("Delete = %v, %v", ok, err)
			}
			return nil
		})
		for _, err := range errs {
			must(t, err)
		}
	})

	t.Run("Expiry", func(t *testing.T) {
		t.Parallel()
		e := h.setup(t)
		k := id()
		const ttl = 100 * time.Millisecond
		start := e.now()
		must(t, e.d.Create(e.ctx, k, []byte("v"), ttl))
		if e.clk != nil {
			e.clk.Advance(ttl - time.Nanosecond)
			if _, err := e.d.Get(e.ctx, k); err != nil {
				t.Fatalf("Get just before expiry: %v", err)
			}
			e.clk.Advance(time.Nanosecond)
		} else {
			waitGone(t, e, k, start.Add(ttl))
		}
		_, err := e.d.Get(e.ctx, k)
		wantErr(t, err, resultstore.ErrNotFound)
		wantErr(t, e.d.Swap(e.ctx, k, []byte("v"), []byte("w"), time.Minute), resultstore.ErrNotFound)
		if ok, err := e.d.Delete(e.ctx, k); err != nil || ok {
			t.Fatalf("Delete of an expired id = %v, %v; want false, nil", ok, err)
		}
		// An expired id is free again.
		must(t, e.d.Create(e.ctx, k, []byte("again"), time.Minute))
		got, err := e.d.Get(e.ctx, k)
		must(t, err)
		if string(got) != "again" {
			t.Fatalf("Get = %q, want again", got)
		}
	})

	t.Run("SwapResetsTTL", func(t *testing.T) {
		t.Parallel()
		e := h.setup(t)
		k := id()
		must(t, e.d.Create(e.ctx, k, []byte("v0"), time.Hour))
		const ttl = 100 * time.Millisecond
		start := e.now()
		must(t, e.d.Swap(e.ctx, k, []byte("v0"), []byte("v1"), ttl))
		if e.clk != nil {
			e.clk.Advance(ttl - time.Nanosecond)
			if _, err := e.d.Get(e.ctx, k); err != nil {
				t.Fatalf("Get just before the new expiry: %v", err)
			}
			e.clk.Advance(time.Nanosecond)
			_, err := e.d.Get(e.ctx, k)
			wantErr(t, err, resultstore.ErrNotFound)
		} else {
			waitGone(t, e, k, start.Add(ttl)) // long before the hour
		}
	})

	t.Run("SubMillisecondTTL", func(t *testing.T) {
		t.Parallel()
		e := h.setup(t)
		k := id()
		// Must be accepted (Redis rounds up to 1 ms), and expire.
		must(t, e.d.Create(e.ctx, k, []byte("v"), 500*time.Microsecond))
		if e.clk != nil {
			e.clk.Advance(time.Millisecond)
			_, err := e.d.Get(e.ctx, k)
			wantErr(t, err, resultstore.ErrNotFound)
		} else {
			poll(t, "a 0.5 ms entry to expire", func() bool {
				_, err := e.d.Get(e.ctx, k)
				return errors.Is(err, resultstore.ErrNotFound)
			})
		}
	})

	t.Run("CloseIdempotent", func(t *testing.T) {
		t.Parallel()
		e := h.setup(t)
		must(t, e.d.Close())
		must(t, e.d.Close()) // and once more in cleanup
	})
}

// waitGone polls id until the driver no longer has it and checks that it was
// there until notBefore (the earliest moment it may expire).
func waitGone(t *testing.T, e *env, k string, notBefore time.Time) {
	t.Helper()
	poll(t, "expiry", func() bool {
		_, err := e.d.Get(e.ctx, k)
		after := time.Now()
		switch {
		case err == nil:
			return false
		case !errors.Is(err, resultstore.ErrNotFound):
			t.Fatalf("Get: %v", err)
		case after.Before(notBefore):
			t.Fatalf("entry expired %s early", notBefore.Sub(after))
		}
		return true
	})
}

// RunStoreTests runs the Store conformance tests over drivers from h.
func RunStoreTests(t *testing.T, h Harness) {
	runRememberedTests(t, h)
	t.Run("TenantAndNotifyKept", func(t *testing.T) {
		t.Parallel()
		e := h.setup(t)
		st := e.store(0, nil)
		p := NewPending(e.now(), time.Minute)
		p.Tenant, p.Notify = "idp-prod", true
		must(t, st.CreatePending(e.ctx, p))
		rec, err := st.Lookup(e.ctx, p.ResultID)
		must(t, err)
		must(t, st.Claim(e.ctx, rec, e.now()))
		rec, err = st.Lookup(e.ctx, p.ResultID)
		must(t, err)
		must(t, st.Complete(e.ctx, rec, CanaryResult(), e.now()))
		rec, err = st.Lookup(e.ctx, p.ResultID)
		must(t, err)
		o, err := st.Outcome(e.ctx, p.ResultID)
		must(t, err)
		if rec.Tenant != "idp-prod" || !rec.Notify || o.Tenant != "idp-prod" {
			t.Fatalf("after claim and completion: tenant %q notify %v, outcome tenant %q", rec.Tenant, rec.Notify, o.Tenant)
		}
	})

	t.Run("PendingRoundTrip", func(t *testing.T) {
		t.Parallel()
		e := h.setup(t)
		st := e.store(0, nil)
		p := NewPending(e.now(), time.Minute)
		must(t, st.CreatePending(e.ctx, p))
		rec, err := st.Lookup(e.ctx, p.ResultID)
		must(t, err)
		if rec.State != proofline.StatusPending || rec.Result != nil {
			t.Fatalf("State = %s, Result = %v; want pending without result", rec.State, rec.Result)
		}
		checkPending(t, rec.Pending, p)
		if !bytes.Equal(rec.DataKey, p.DataKey) || !bytes.Equal(rec.ClaimToken, p.ClaimToken) || !bytes.Equal(rec.CallbackSecret, p.CallbackSecret) || !rec.ClaimedAt.IsZero() {
			t.Fatal("job keys did not round-trip")
		}
		o, err := st.Outcome(e.ctx, p.ResultID)
		must(t, err)
		if o.Status != proofline.StatusPending || o.ResultID != p.ResultID || o.Kind != p.Kind ||
			!o.Deadline.Equal(p.Deadline) || !o.RequestedAt.Equal(p.RequestedAt) || o.Result != nil {
			t.Fatalf("Outcome = %+v", o)
		}
	})

	t.Run("CreateTwiceConflicts", func(t *testing.T) {
		t.Parallel()
		e := h.setup(t)
		st := e.store(0, nil)
		p := NewPending(e.now(), time.Minute)
		must(t, st.CreatePending(e.ctx, p))
		WantCode(t, st.CreatePending(e.ctx, p), proofline.ECONFLICT)
	})

	t.Run("CreatePendingValidates", func(t *testing.T) {
		t.Parallel()
		e := h.setup(t)
		cd := &countingDriver{Driver: e.d}
		st := resultstore.New(cd, e.ring, resultstore.Options{Now: e.now})
		for field, mutate := range map[string]func(*resultstore.Pending){
			"result_id":       func(p *resultstore.Pending) { p.ResultID = "../../etc/passwd" },
			"kind":            func(p *resultstore.Pending) { p.Kind = "selfie" },
			"requested_at":    func(p *resultstore.Pending) { p.RequestedAt = time.Time{} },
			"deadline":        func(p *resultstore.Pending) { p.Deadline = p.RequestedAt.Add(-time.Second) },
			"data_key":        func(p *resultstore.Pending) { p.DataKey = []byte("short") },
			"claim_token":     func(p *resultstore.Pending) { p.ClaimToken = nil },
			"callback_secret": func(p *resultstore.Pending) { p.CallbackSecret = make([]byte, 31) },
		} {
			p := NewPending(e.now(), time.Minute)
			mutate(&p)
			err := st.CreatePending(e.ctx, p)
			WantCode(t, err, proofline.EINVALID)
			var pe *proofline.Error
			if errors.As(err, &pe); pe.Field != field {
				t.Errorf("Field = %q, want %q", pe.Field, field)
			}
		}
		if n := cd.calls.Load(); n != 0 {
			t.Fatalf("invalid input reached the driver %d times", n)
		}
	})

	t.Run("TraceIDAndTenantUpTo256Bytes", func(t *testing.T) {
		t.Parallel()
		e := h.setup(t)
		cd := &countingDriver{Driver: e.d}
		st := resultstore.New(cd, e.ring, resultstore.Options{Now: e.now})
		// 256 bytes of each is kept as given.
		p := NewPending(e.now(), time.Minute)
		p.TraceID = strings.Repeat("t", 256)
		p.Tenant = strings.Repeat("n", 256)
		must(t, st.CreatePending(e.ctx, p))
		rec, err := st.Lookup(e.ctx, p.ResultID)
		must(t, err)
		if rec.TraceID != p.TraceID || rec.Tenant != p.Tenant {
			t.Fatalf("trace id %d bytes, tenant %d bytes read back; want 256 each", len(rec.TraceID), len(rec.Tenant))
		}
		// One byte more is refused, naming the field, before the driver.
		before := cd.calls.Load()
		for field, mutate := range map[string]func(*resultstore.Pending){
			"trace_id": func(p *resultstore.Pending) { p.TraceID = strings.Repeat("t", 257) },
			"tenant":   func(p *resultstore.Pending) { p.Tenant = strings.Repeat("n", 257) },
		} {
			q := NewPending(e.now(), time.Minute)
			mutate(&q)
			err := st.CreatePending(e.ctx, q)
			WantCode(t, err, proofline.EINVALID)
			var pe *proofline.Error
			if errors.As(err, &pe); pe.Field != field {
				t.Errorf("Field = %q, want %q", pe.Field, field)
			}
		}
		if n := cd.calls.Load() - before; n != 0 {
			t.Fatalf("a refused record reached the driver %d times", n)
		}
	})

	t.Run("MalformedIDNeverReachesDriver", func(t *testing.T) {
		t.Parallel()
		e := h.setup(t)
		cd := &countingDriver{Driver: e.d}
		st := resultstore.New(cd, e.ring, resultstore.Options{Now: e.now})
		good := id()
		for _, bad := range []string{"", "*", "../" + good, good + "x", good[:35], "ABCDEF01-2345-4678-9abc-def012345678", good[:8] + "_" + good[9:]} {
			_, err := st.Lookup(e.ctx, bad)
			WantCode(t, err, proofline.ENOTFOUND)
			_, err = st.Outcome(e.ctx, bad)
			WantCode(t, err, proofline.ENOTFOUND)
			WantCode(t, st.Delete(e.ctx, bad), proofline.ENOTFOUND)
		}
		if n := cd.calls.Load(); n != 0 {
			t.Fatalf("malformed ids reached the driver %d times", n)
		}
	})

	t.Run("UnknownIDNotFound", func(t *testing.T) {
		t.Parallel()
		e := h.setup(t)
		st := e.store(0, nil)
		_, err := st.Lookup(e.ctx, id())
		WantCode(t, err, proofline.ENOTFOUND)
		_, err = st.Outcome(e.ctx, id())
		WantCode(t, err, proofline.ENOTFOUND)
		WantCode(t, st.Delete(e.ctx, id()), proofline.ENOTFOUND)
	})

	t.Run("CompleteRoundTrip", func(t *testing.T) {
		t.Parallel()
		e := h.setup(t)
		st := e.store(0, nil)
		p := NewPending(e.now(), time.Minute)
		must(t, st.CreatePending(e.ctx, p))
		rec, err := st.Lookup(e.ctx, p.ResultID)
		must(t, err)
		want := CanaryResult()
		completedAt := e.now().Add(1500 * time.Millisecond)
		must(t, st.Complete(e.ctx, rec, want, completedAt))
		if rec.State != proofline.StatusPending {
			t.Fatal("Complete modified the caller's record")
		}
		if want.PIIFromDoc == nil {
			t.Fatal("Complete modified the caller's result")
		}
		o, err := st.Outcome(e.ctx, p.ResultID)
		must(t, err)
		if o.Status != proofline.StatusDone || !o.CompletedAt.Equal(completedAt) {
			t.Fatalf("Outcome status %s completed %v; want done at %v", o.Status, o.CompletedAt, completedAt)
		}
		if !reflect.DeepEqual(o.Result, want) {
			got, _ := json.Marshal(o.Result)
			exp, _ := json.Marshal(want)
			t.Fatalf("result did not round-trip:\n got %s\nwant %s", got, exp)
		}
		done, err := st.Lookup(e.ctx, p.ResultID)
		must(t, err)
		if done.State != proofline.StatusDone {
			t.Fatalf("State = %s, want done", done.State)
		}
		checkPending(t, done.Pending, p)
	})

	t.Run("CompleteWithoutDocumentPII", func(t *testing.T) {
		t.Parallel()
		e := h.setup(t)
		st := e.store(0, nil)
		p := NewPending(e.now(), time.Minute)
		p.Kind = proofline.KindAddress
		must(t, st.CreatePending(e.ctx, p))
		rec, err := st.Lookup(e.ctx, p.ResultID)
		must(t, err)
		r := &proofline.Result{Success: true, Errors: map[string][]string{}, Messages: []string{}, TransactionID: "t-1"}
		must(t, st.Complete(e.ctx, rec, r, time.Time{}))
		o, err := st.Outcome(e.ctx, p.ResultID)
		must(t, err)
		if !reflect.DeepEqual(o.Result, r) || o.Kind != proofline.KindAddress || o.CompletedAt.IsZero() {
			t.Fatalf("Outcome = %+v, result %+v", o, o.Result)
		}
	})

	t.Run("CompleteOnce", func(t *testing.T) {
		t.Parallel()
		e := h.setup(t)
		st := e.store(0, nil)
		p := NewPending(e.now(), time.Minute)
		must(t, st.CreatePending(e.ctx, p))
		stale, err := st.Lookup(e.ctx, p.ResultID)
		must(t, err)
		must(t, st.Complete(e.ctx, stale, &proofline.Result{TransactionID: "first"}, e.now()))
		// The same pending record again: the swap sees a changed value.
		WantCode(t, st.Complete(e.ctx, stale, &proofline.Result{TransactionID: "second"}, e.now()), proofline.ECONFLICT)
		// The done record: refused before reaching the driver.
		done, err := st.Lookup(e.ctx, p.ResultID)
		must(t, err)
		WantCode(t, st.Complete(e.ctx, done, &proofline.Result{TransactionID: "third"}, e.now()), proofline.ECONFLICT)
		o, err := st.Outcome(e.ctx, p.ResultID)
		must(t, err)
		if o.Result.TransactionID != "first" {
			t.Fatalf("result overwritten: transaction %q", o.Result.TransactionID)
		}
	})

	t.Run("ClaimOnceRemovesDataKey", func(t *testing.T) {
		t.Parallel()
		e := h.setup(t)
		st := e.store(0, nil)
		p := NewPending(e.now(), time.Minute)
		must(t, st.CreatePending(e.ctx, p))
		rec, err := st.Lookup(e.ctx, p.ResultID)
		must(t, err)
		errs := race(8, func(int) error { return st.Claim(e.ctx, rec, e.now()) })
		checkOneWinner(t, errs)
		claimed, err := st.Lookup(e.ctx, p.ResultID)
		must(t, err)
		if claimed.State != proofline.StatusPending || claimed.ClaimedAt.IsZero() || len(claimed.DataKey) != 0 ||
			!bytes.Equal(claimed.ClaimToken, p.ClaimToken) || !bytes.Equal(claimed.CallbackSecret, p.CallbackSecret) {
			t.Fatalf("claimed record: state %s claimed %v data key %d bytes", claimed.State, claimed.ClaimedAt, len(claimed.DataKey))
		}
		raw, err := e.d.Get(e.ctx, p.ResultID)
		must(t, err)
		if plain, err := e.ring.Open(raw, []byte("proofline/record/v1\x00"+p.ResultID)); err != nil || bytes.Contains(plain, []byte(`"data_key"`)) {
			t.Fatalf("the stored value does not open, or still holds a data key (%v)", err)
		}
		// Claimed: refused again, before reaching the driver; still completes.
		WantCode(t, st.Claim(e.ctx, claimed, e.now()), proofline.ECONFLICT)
		must(t, st.Complete(e.ctx, claimed, &proofline.Result{TransactionID: "t"}, e.now()))
		done, err := st.Lookup(e.ctx, p.ResultID)
		must(t, err)
		if len(done.DataKey)+len(done.ClaimToken)+len(done.CallbackSecret) != 0 || done.ClaimedAt.IsZero() {
			t.Fatal("the done record holds job keys")
		}
		WantCode(t, st.Claim(e.ctx, done, e.now()), proofline.ECONFLICT)
		// A record completed without a claim holds no keys either.
		q := NewPending(e.now(), time.Minute)
		must(t, st.CreatePending(e.ctx, q))
		rq, err := st.Lookup(e.ctx, q.ResultID)
		must(t, err)
		must(t, st.Complete(e.ctx, rq, &proofline.Result{}, e.now()))
		WantCode(t, st.Claim(e.ctx, rq, e.now()), proofline.ECONFLICT)
		dq, err := st.Lookup(e.ctx, q.ResultID)
		must(t, err)
		if len(dq.DataKey)+len(dq.ClaimToken)+len(dq.CallbackSecret) != 0 {
			t.Fatal("the done record holds job keys")
		}
	})

	t.Run("TimedOutRecordDropsDataKey", func(t *testing.T) {
		t.Parallel()
		e := h.setup(t)
		st := e.store(0, nil)
		p := NewPending(e.now(), 300*time.Millisecond)
		must(t, st.CreatePending(e.ctx, p))
		if e.clk != nil {
			e.clk.Advance(time.Second)
		} else {
			time.Sleep(time.Until(p.Deadline) + 50*time.Millisecond)
		}
		o, err := st.Outcome(e.ctx, p.ResultID)
		must(t, err)
		if o.Status != proofline.StatusTimedOut {
			t.Fatalf("status %s", o.Status)
		}
		rec, err := st.Lookup(e.ctx, p.ResultID)
		must(t, err)
		if len(rec.DataKey) != 0 {
			t.Fatal("a timed-out record still holds its data key after a read")
		}
	})

	t.Run("CompleteValidates", func(t *testing.T) {
		t.Parallel()
		e := h.setup(t)
		st := e.store(0, nil)
		WantCode(t, st.Complete(e.ctx, nil, &proofline.Result{}, e.now()), proofline.EINVALID)
		p := NewPending(e.now(), time.Minute)
		WantCode(t, st.Complete(e.ctx, &resultstore.Record{Pending: p, State: proofline.StatusPending}, &proofline.Result{}, e.now()), proofline.EINVALID)
		must(t, st.CreatePending(e.ctx, p))
		rec, err := st.Lookup(e.ctx, p.ResultID)
		must(t, err)
		WantCode(t, st.Complete(e.ctx, rec, nil, e.now()), proofline.EINVALID)
	})

	t.Run("CompleteRace", func(t *testing.T) {
		t.Parallel()
		e := h.setup(t)
		st := e.store(0, nil)
		p := NewPending(e.now(), time.Minute)
		must(t, st.CreatePending(e.ctx, p))
		rec, err := st.Lookup(e.ctx, p.ResultID)
		must(t, err)
		errs := race(50, func(i int) error {
			return st.Complete(e.ctx, rec, &proofline.Result{TransactionID: fmt.Sprint(i)}, e.now())
		})
		winner := checkOneWinner(t, errs)
		o, err := st.Outcome(e.ctx, p.ResultID)
		must(t, err)
		if o.Status != proofline.StatusDone || o.Result.TransactionID != fmt.Sprint(winner) {
			t.Fatalf("Outcome %s transaction %q, want done by %d", o.Status, o.Result.TransactionID, winner)
		}
	})

	t.Run("LookupCompleteRace", func(t *testing.T) {
		t.Parallel()
		e := h.setup(t)
		st := e.store(0, nil)
		p := NewPending(e.now(), time.Minute)
		must(t, st.CreatePending(e.ctx, p))
		// Each goroutine is a separate callback: it reads, then completes.
		errs := race(50, func(i int) error {
			rec, err := st.Lookup(e.ctx, p.ResultID)
			if err != nil {
				return err
			}
			return st.Complete(e.ctx, rec, &proofline.Result{TransactionID: fmt.Sprint(i)}, e.now())
		})
		winner := checkOneWinner(t, errs)
		o, err := st.Outcome(e.ctx, p.ResultID)
		must(t, err)
		if o.Result.TransactionID != fmt.Sprint(winner) {
			t.Fatalf("transaction %q, want %d", o.Result.TransactionID, winner)
		}
	})

	t.Run("DriverHoldsCiphertextOnly", func(t *testing.T) {
		t.Parallel()
		e := h.setup(t)
		st := e.store(0, nil)
		p := NewPending(e.now(), time.Minute)
		must(t, st.CreatePending(e.ctx, p))
		raw, err := e.d.Get(e.ctx, p.ResultID)
		must(t, err)
		AssertNoPlaintext(t, "pending value", raw)
		rec, err := st.Lookup(e.ctx, p.ResultID)
		must(t, err)
		must(t, st.Complete(e.ctx, rec, CanaryResult(), e.now()))
		raw, err = e.d.Get(e.ctx, p.ResultID)
		must(t, err)
		AssertNoPlaintext(t, "done value", raw)
		if kid, err := seal.KeyID(raw); err != nil || kid != "k1" {
			t.Fatalf("done value is not sealed by k1: %q, %v", kid, err)
		}
		// Document PII is sealed on its own inside the record: the opened
		// record holds the result but not the PII.
		plain, err := e.ring.Open(raw, []byte("proofline/record/v1\x00"+p.ResultID))
		must(t, err)
		if m := FindPlaintext(plain, piiMarkers); m != "" {
			t.Fatalf("opened record holds document PII %q outside its sealed field", m)
		}
		if FindPlaintext(plain, []string{markerTxn}) == "" {
			t.Fatal("opened record does not hold the result")
		}
		var fields struct {
			PII []byte `json:"pii"`
		}
		must(t, json.Unmarshal(plain, &fields))
		if _, err := seal.KeyID(fields.PII); err != nil || len(fields.PII) == 0 {
			t.Fatalf("pii field is not a sealed value: %v", err)
		}
		if _, err := e.ring.Open(fields.PII, []byte("proofline/pii/v1\x00"+p.ResultID)); err != nil {
			t.Fatalf("pii field does not open with its own AAD: %v", err)
		}
	})

	t.Run("TimedOutThenGone", func(t *testing.T) {
		t.Parallel()
		e := h.setup(t)
		if e.clk != nil {
			const timeout = time.Minute
			st := e.store(timeout, nil)
			p := NewPending(e.now(), 30*time.Second)
			must(t, st.CreatePending(e.ctx, p))
			steps := []struct {
				to   time.Time
				want proofline.Status // "" = gone
			}{
				{p.Deadline.Add(-time.Nanosecond), proofline.StatusPending},
				{p.Deadline, proofline.StatusTimedOut},
				{p.Deadline.Add(timeout - time.Nanosecond), proofline.StatusTimedOut},
				{p.Deadline.Add(timeout), ""},
			}
			for _, s := range steps {
				e.clk.Advance(s.to.Sub(e.now()))
				o, err := st.Outcome(e.ctx, p.ResultID)
				if s.want == "" {
					WantCode(t, err, proofline.ENOTFOUND)
					continue
				}
				must(t, err)
				if o.Status != s.want {
					t.Fatalf("at deadline%+v: status %s, want %s", s.to.Sub(p.Deadline), o.Status, s.want)
				}
			}
			return
		}
		const timeout = 250 * time.Millisecond
		st := e.store(timeout, nil)
		p := NewPending(time.Now(), 250*time.Millisecond)
		must(t, st.CreatePending(e.ctx, p))
		gone := p.Deadline.Add(timeout)
		sawTimedOut := false
		poll(t, "pending → timed_out → gone", func() bool {
			before := time.Now()
			o, err := st.Outcome(e.ctx, p.ResultID)
			after := time.Now()
			if proofline.ErrorCode(err) == proofline.ENOTFOUND {
				if after.Before(gone) {
					t.Fatalf("record gone %s before deadline+timeout", gone.Sub(after))
				}
				return true
			}
			must(t, err)
			switch o.Status {
			case proofline.StatusPending:
				if !before.Before(p.Deadline) {
					t.Fatalf("pending %s after the deadline", before.Sub(p.Deadline))
				}
			case proofline.StatusTimedOut:
				if after.Before(p.Deadline) {
					t.Fatal("timed_out before the deadline")
				}
				sawTimedOut = true
			default:
				t.Fatalf("status %s", o.Status)
			}
			return false
		})
		if !sawTimedOut {
			t.Fatal("never saw timed_out between the deadline and expiry")
		}
	})

	t.Run("DoneTTL", func(t *testing.T) {
		t.Parallel()
		e := h.setup(t)
		if e.clk != nil {
			const timeout = time.Minute
			st := e.store(timeout, nil)
			p := NewPending(e.now(), 30*time.Second)
			must(t, st.CreatePending(e.ctx, p))
			e.clk.Advance(time.Second)
			rec, err := st.Lookup(e.ctx, p.ResultID)
			must(t, err)
			must(t, st.Complete(e.ctx, rec, &proofline.Result{Success: true}, e.now()))
			// The done record lives for the timeout from completion, not
			// until the pending record's expiry (deadline + timeout).
			e.clk.Advance(timeout - time.Nanosecond)
			o, err := st.Outcome(e.ctx, p.ResultID)
			must(t, err)
			if o.Status != proofline.StatusDone {
				t.Fatalf("status %s after the deadline, want done", o.Status)
			}
			e.clk.Advance(time.Nanosecond)
			_, err = st.Outcome(e.ctx, p.ResultID)
			WantCode(t, err, proofline.ENOTFOUND)
			return
		}
		const timeout = 200 * time.Millisecond
		st := e.store(timeout, nil)
		p := NewPending(time.Now(), time.Minute) // pending TTL: 1 min + timeout
		must(t, st.CreatePending(e.ctx, p))
		rec, err := st.Lookup(e.ctx, p.ResultID)
		must(t, err)
		start := time.Now()
		must(t, st.Complete(e.ctx, rec, &proofline.Result{Success: true}, start))
		poll(t, "done record to expire", func() bool {
			o, err := st.Outcome(e.ctx, p.ResultID)
			after := time.Now()
			if proofline.ErrorCode(err) == proofline.ENOTFOUND {
				if after.Before(start.Add(timeout)) {
					t.Fatalf("done record gone %s early", start.Add(timeout).Sub(after))
				}
				return true
			}
			must(t, err)
			if o.Status != proofline.StatusDone {
				t.Fatalf("status %s, want done", o.Status)
			}
			return false
		})
	})

	t.Run("DeleteThenNotFound", func(t *testing.T) {
		t.Parallel()
		e := h.setup(t)
		st := e.store(0, nil)
		p := NewPending(e.now(), time.Minute)
		must(t, st.CreatePending(e.ctx, p))
		rec, err := st.Lookup(e.ctx, p.ResultID)
		must(t, err)
		must(t, st.Delete(e.ctx, p.ResultID))
		_, err = st.Lookup(e.ctx, p.ResultID)
		WantCode(t, err, proofline.ENOTFOUND)
		_, err = st.Outcome(e.ctx, p.ResultID)
		WantCode(t, err, proofline.ENOTFOUND)
		WantCode(t, st.Delete(e.ctx, p.ResultID), proofline.ENOTFOUND)
		WantCode(t, st.Complete(e.ctx, rec, &proofline.Result{}, e.now()), proofline.ENOTFOUND)
	})

	t.Run("SealedValueBoundToID", func(t *testing.T) {
		t.Parallel()
		e := h.setup(t)
		st := e.store(0, nil)
		for _, complete := range []bool{false, true} {
			p := NewPending(e.now(), time.Minute)
			must(t, st.CreatePending(e.ctx, p))
			if complete {
				rec, err := st.Lookup(e.ctx, p.ResultID)
				must(t, err)
				must(t, st.Complete(e.ctx, rec, CanaryResult(), e.now()))
			}
			raw, err := e.d.Get(e.ctx, p.ResultID)
			must(t, err)
			other := id()
			must(t, e.d.Create(e.ctx, other, raw, time.Minute))
			_, err = st.Lookup(e.ctx, other)
			WantCode(t, err, proofline.EINTERNAL)
			wantErr(t, err, seal.ErrOpen)
			_, err = st.Outcome(e.ctx, other)
			WantCode(t, err, proofline.EINTERNAL)
		}
	})

	t.Run("CorruptValues", func(t *testing.T) {
		t.Parallel()
		e := h.setup(t)
		st := e.store(0, nil)
		sealFor := func(k string, plain string) []byte {
			b, err := e.ring.Seal([]byte(plain), []byte("proofline/record/v1\x00"+k))
			must(t, err)
			return b
		}
		cases := map[string]func(k string) []byte{
			"not sealed":     func(string) []byte { return []byte(`{"v":2,"state":"pending"}`) },
			"empty":          func(string) []byte { return []byte{} },
			"truncated":      func(k string) []byte { return sealFor(k, `{"v":2}`)[:20] },
			"bad json":       func(k string) []byte { return sealFor(k, `{"v":2,`) },
			"bad version":    func(k string) []byte { return sealFor(k, `{"v":1,"state":"pending","kind":"document"}`) },
			"bad state":      func(k string) []byte { return sealFor(k, `{"v":2,"state":"timed_out","kind":"document"}`) },
			"bad kind":       func(k string) []byte { return sealFor(k, `{"v":2,"state":"pending","kind":"selfie"}`) },
			"done no result": func(k string) []byte { return sealFor(k, `{"v":2,"state":"done","kind":"document"}`) },
			"done with job keys": func(k string) []byte {
				return sealFor(k, `{"v":2,"state":"done","kind":"document","result":{},"data_key":"0dHR0dHR0dHR0dHR0dHR0dHR0dHR0dHR0dHR0dHR0dE="}`)
			},
			// Each key alone: a done record keeps none of them (a check
			// that summed their lengths wrongly would miss one).
			"done with a claim token": func(k string) []byte {
				return sealFor(k, `{"v":2,"state":"done","kind":"document","result":{},"claim_token":"0dHR0dHR0dHR0dHR0dHR0dHR0dHR0dHR0dHR0dHR0dE="}`)
			},
			"done with a callback secret": func(k string) []byte {
				return sealFor(k, `{"v":2,"state":"done","kind":"document","result":{},"callback_secret":"0dHR0dHR0dHR0dHR0dHR0dHR0dHR0dHR0dHR0dHR0dE="}`)
			},
			"done and timed out": func(k string) []byte {
				return sealFor(k, `{"v":2,"state":"done","kind":"document","result":{},"timed_out":true}`)
			},
			"pii not sealed": func(k string) []byte {
				return sealFor(k, `{"v":2,"state":"done","kind":"document","result":{},"pii":"eyJmaXJzdF9uYW1lIjoieCJ9"}`)
			},
		}
		for name, value := range cases {
			k := id()
			v := value(k)
			if len(v) == 0 {
				v = []byte{0}
			}
			must(t, e.d.Create(e.ctx, k, v, time.Minute))
			_, err := st.Lookup(e.ctx, k)
			if err == nil || proofline.ErrorCode(err) != proofline.EINTERNAL { // ErrorCode(nil) is EINTERNAL
				t.Errorf("%s: Lookup err = %v, want EINTERNAL", name, err)
			}
		}
	})

	t.Run("KeyRotation", func(t *testing.T) {
		t.Parallel()
		e := h.setup(t)
		k1, err := seal.Generate("k1")
		must(t, err)
		k2, err := seal.Generate("k2")
		must(t, err)
		ring := func(keys ...seal.Key) *seal.KeyRing {
			r, err := seal.NewKeyRing(keys...)
			must(t, err)
			return r
		}
		old := e.store(0, ring(k1))
		pending := NewPending(e.now(), time.Minute)
		must(t, old.CreatePending(e.ctx, pending))
		done := NewPending(e.now(), time.Minute)
		must(t, old.CreatePending(e.ctx, done))
		rec, err := old.Lookup(e.ctx, done.ResultID)
		must(t, err)
		must(t, old.Complete(e.ctx, rec, CanaryResult(), e.now()))

		// k2 current, k1 retired but present: old records read and complete.
		rotated := e.store(0, ring(k2, k1))
		o, err := rotated.Outcome(e.ctx, done.ResultID)
		must(t, err)
		if o.Status != proofline.StatusDone || o.Result.PIIFromDoc == nil || o.Result.PIIFromDoc.FirstName != CanaryResult().PIIFromDoc.FirstName {
			t.Fatalf("done record under the retired key: %+v", o)
		}
		rec, err = rotated.Lookup(e.ctx, pending.ResultID)
		must(t, err)
		must(t, rotated.Complete(e.ctx, rec, CanaryResult(), e.now()))
		raw, err := e.d.Get(e.ctx, pending.ResultID)
		must(t, err)
		if kid, _ := seal.KeyID(raw); kid != "k2" {
			t.Fatalf("record rewritten with key %q, want the current k2", kid)
		}
		fresh := NewPending(e.now(), time.Minute)
		must(t, rotated.CreatePending(e.ctx, fresh))

		// k1 removed: its records fail cleanly, k2 records still read.
		k1Gone := e.store(0, ring(k2))
		_, err = k1Gone.Outcome(e.ctx, done.ResultID)
		WantCode(t, err, proofline.EINTERNAL)
		wantErr(t, err, seal.ErrUnknownKey)
		if _, err := k1Gone.Outcome(e.ctx, pending.ResultID); err != nil {
			t.Fatalf("record completed under k2: %v", err)
		}
		if _, err := k1Gone.Outcome(e.ctx, fresh.ResultID); err != nil {
			t.Fatalf("record created under k2: %v", err)
		}
		// And a ring that never held the key says so the same way.
		_, err = e.store(0, NewRing(t, "k1")).Outcome(e.ctx, fresh.ResultID)
		WantCode(t, err, proofline.EINTERNAL)
	})
}

func checkPending(t *testing.T, got, want resultstore.Pending) {
	t.Helper()
	if got.ResultID != want.ResultID || got.Kind != want.Kind || got.TraceID != want.TraceID ||
		!got.RequestedAt.Equal(want.RequestedAt) || !got.Deadline.Equal(want.Deadline) {
		t.Fatalf("pending fields did not round-trip:\n got %+v\nwant %+v", got, want)
	}
}

// checkOneWinner checks exactly one error is nil and the rest ECONFLICT, and
// returns the winner.
func checkOneWinner(t *testing.T, errs []error) int {
	t.Helper()
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			t.Fatalf("Complete succeeded twice (%d and %d)", winner, i)
		case err == nil:
			winner = i
		default:
			WantCode(t, err, proofline.ECONFLICT)
		}
	}
	if winner < 0 {
		t.Fatal("no Complete succeeded")
	}
	return winner
}

// countingDriver counts the calls that reach the driver.
type countingDriver struct {
	resultstore.Driver
	calls atomic.Int64
}

func (c *countingDriver) Create(ctx context.Context, id string, v []byte, ttl time.Duration) error {
	c.calls.Add(1)
	return c.Driver.Create(ctx, id, v, ttl)
}

func (c *countingDriver) Get(ctx context.Context, id string) ([]byte, error) {
	c.calls.Add(1)
	return c.Driver.Get(ctx, id)
}

func (c *countingDriver) Swap(ctx context.Context, id string, old, next []byte, ttl time.Duration) error {
	c.calls.Add(1)
	return c.Driver.Swap(ctx, id, old, next, ttl)
}

func (c *countingDriver) Delete(ctx context.Context, id string) (bool, error) {
	c.calls.Add(1)
	return c.Driver.Delete(ctx, id)
}

// Close does not close the wrapped driver: the env does.
func (c *countingDriver) Close() error { return nil }

// RunBenchmarks benchmarks a Store over drivers from newDriver, on the wall
// clock: put (CreatePending), get (Outcome), complete (Lookup + Complete, as
// a callback does), each serially and with b.RunParallel.
func RunBenchmarks(b *testing.B, newDriver func(b *testing.B) resultstore.Driver) {
	ring := NewRing(b, "k1")
	setup := func(b *testing.B) *resultstore.Store {
		st := resultstore.New(newDriver(b), ring, resultstore.Options{})
		b.Cleanup(func() { _ = st.Close() })
		return st
	}
	ctx := context.Background()
	created := func(b *testing.B, st *resultstore.Store, n int) []string {
		ids := make([]string, n)
		for i := range ids {
			p := NewPending(time.Now(), time.Minute)
			if err := st.CreatePending(ctx, p); err != nil {
				b.Fatal(err)
			}
			ids[i] = p.ResultID
		}
		return ids
	}
	pendings := func(n int) []resultstore.Pending {
		ps := make([]resultstore.Pending, n)
		for i := range ps {
			ps[i] = NewPending(time.Now(), time.Minute)
		}
		return ps
	}
	result := CanaryResult()

	for _, parallel := range []bool{false, true} {
		suffix := ""
		if parallel {
			suffix = "-parallel"
		}
		// run calls op(i) for i in [0, b.N), serially or spread over
		// RunParallel's goroutines.
		run := func(b *testing.B, op func(i int) error) {
			b.ReportAllocs()
			b.ResetTimer()
			if !parallel {
				for i := 0; i < b.N; i++ {
					if err := op(i); err != nil {
						b.Fatal(err)
					}
				}
				return
			}
			var next atomic.Int64
			// 32 goroutines per CPU (64 on a 2-core machine): as many
			// concurrent callers as a busy server has, so a networked
			// driver's pipelining shows.
			b.SetParallelism(32)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := op(int(next.Add(1) - 1)); err != nil {
						b.Error(err)
						return
					}
				}
			})
		}

		b.Run("put"+suffix, func(b *testing.B) {
			st := setup(b)
			ps := pendings(b.N)
			run(b, func(i int) error { return st.CreatePending(ctx, ps[i]) })
		})
		b.Run("get"+suffix, func(b *testing.B) {
			st := setup(b)
			ids := created(b, st, 1000)
			run(b, func(i int) error {
				_, err := st.Outcome(ctx, ids[i%len(ids)])
				return err
			})
		})
		b.Run("complete"+suffix, func(b *testing.B) {
			st := setup(b)
			ids := created(b, st, b.N)
			run(b, func(i int) error {
				rec, err := st.Lookup(ctx, ids[i])
				if err != nil {
					return err
				}
				return st.Complete(ctx, rec, result, time.Time{})
			})
		})
	}
}
