package proofing_test

import (
	"context"
	"crypto/rand"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/proofline/proofline"
	"github.com/proofline/proofline/dispatch"
	"github.com/proofline/proofline/proofing"
	"github.com/proofline/proofline/resultstore"

	"go.opentelemetry.io/otel/codes"
)

const addressOK = `{"address_result":{"success":true}}`

// Every refused callback answers its code and is counted under its reason
// for the kind it named; none of them stores anything.
func TestCallbackRefusalsCodesAndCounters(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	st := h.startAddress(context.Background(), proofing.Attempt{})
	good := h.result(st.ResultID, addressOK)

	bad := good
	bad.kind = "passport"
	wantCode(t, h.send(bad), proofline.ENOTFOUND)
	bad = good
	bad.token = tokens[proofline.KindDocument]
	wantCode(t, h.send(bad), proofline.EUNAUTHORIZED)
	if s := h.span("proofline.callback.receive"); s.Status.Code != codes.Error || s.Status.Description != proofline.EUNAUTHORIZED {
		t.Errorf("refused callback's span status %+v, want error %s", s.Status, proofline.EUNAUTHORIZED)
	}
	bad = good
	bad.id = proofline.NewResultID()
	wantCode(t, h.send(bad), proofline.ENOTFOUND)
	bad = good
	bad.kind, bad.token = proofline.KindResolution, tokens[proofline.KindResolution]
	wantCode(t, h.send(bad), proofline.ENOTFOUND)
	bad = good
	bad.secret = make([]byte, 32)
	_, _ = rand.Read(bad.secret)
	wantCode(t, h.send(bad), proofline.EUNAUTHORIZED)
	// A sealed body that is not a sealed callback at all.
	err := h.svc.ReceiveCallback(context.Background(), proofing.Callback{
		Kind: proofline.KindAddress, ResultID: st.ResultID, Token: tokens[proofline.KindAddress], Timestamp: "1",
		Method: http.MethodPost, Path: proofline.CallbackPath(proofline.KindAddress, st.ResultID), Body: []byte(`{}`),
	})
	wantCode(t, err, proofline.EUNAUTHORIZED) // the timestamp is checked first
	now := h.clk.Now()
	err = h.svc.ReceiveCallback(context.Background(), proofing.Callback{
		Kind: proofline.KindAddress, ResultID: st.ResultID, Token: tokens[proofline.KindAddress], Timestamp: strconv.FormatInt(now.Unix(), 10),
		Method: http.MethodPost, Path: proofline.CallbackPath(proofline.KindAddress, st.ResultID), Body: []byte(`{}`),
	})
	wantCode(t, err, proofline.EINVALID)
	// It opens, but what it holds is not an address result.
	bad = good
	bad.body = `{"address_result":{"success":"yes"}}`
	wantCode(t, h.send(bad), proofline.EINVALID)

	want := map[string]int{
		"address/token": 1, "address/unknown": 1, "resolution/unknown": 1, "address/signature": 2, "address/malformed": 2,
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
	if o, _ := h.svc.Outcome(context.Background(), st.ResultID); o.Status != proofline.StatusPending {
		t.Fatalf("after refused callbacks: %s, want pending", o.Status)
	}
	if err := h.send(good); err != nil {
		t.Fatalf("the worker's own callback after the refusals: %v", err)
	}
	if s := h.span("proofline.callback.receive"); s.Status.Code != codes.Unset {
		t.Errorf("stored callback's span status %+v, want unset", s.Status)
	}
	if s := h.svc.Stats()[proofline.KindAddress]; s.Completed != 1 || s.Started != 1 || s.Duplicate != 0 || s.Late != 0 {
		t.Errorf("stats %+v, want one started and completed", s)
	}
}

// A callback is stored strictly before the deadline: at the deadline it is
// late (410), counted, with how late in the log line; the job then reads
// timed_out.
func TestCallbackDeadlineIsExclusive(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	early := h.startAddress(context.Background(), proofing.Attempt{})
	late := h.startAddress(context.Background(), proofing.Attempt{})
	cbEarly, cbLate := h.result(early.ResultID, addressOK), h.result(late.ResultID, addressOK)
	h.clk.Advance(time.Minute - time.Nanosecond)
	cbEarly.ts, cbLate.ts = h.clk.Now(), h.clk.Now()
	if err := h.send(cbEarly); err != nil {
		t.Fatalf("callback a nanosecond before the deadline: %v", err)
	}
	h.clk.Advance(time.Nanosecond)
	wantCode(t, h.send(cbLate), proofline.EGONE)
	h.clk.Advance(3 * time.Second)
	wantCode(t, h.send(cbLate), proofline.EGONE)
	if s := h.svc.Stats()[proofline.KindAddress]; s.Late != 2 || s.Completed != 1 {
		t.Errorf("stats %+v, want 2 late and 1 completed", s)
	}
	if got := h.obs.refusals()["address/late"]; got != 2 {
		t.Errorf("observer late refusals %d, want 2", got)
	}
	lines := h.logs.Lines(t, "late callback refused")
	if len(lines) != 2 || lines[0]["after_deadline"] != float64(0) || lines[1]["after_deadline"] != float64(3*time.Second) {
		t.Errorf("late callback log lines %v", lines)
	}
	if o, _ := h.svc.Outcome(context.Background(), late.ResultID); o.Status != proofline.StatusTimedOut {
		t.Errorf("late job reads %s, want timed_out", o.Status)
	}
}

// Once a read told timed_out, a callback is late even on a server whose
// clock is still before the deadline.
func TestCallbackAfterTimedOutReadIsLate(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	st := h.startAddress(context.Background(), proofing.Attempt{})
	cb := h.result(st.ResultID, addressOK)
	h.clk.Advance(time.Minute)
	if o, _ := h.svc.Outcome(context.Background(), st.ResultID); o.Status != proofline.StatusTimedOut {
		t.Fatalf("read at the deadline: %s", o.Status)
	}
	h.clk.Advance(-time.Second)
	wantCode(t, h.send(cb), proofline.EGONE)
	if s := h.svc.Stats()[proofline.KindAddress]; s.Late != 1 {
		t.Errorf("late = %d, want 1", s.Late)
	}
}

// The callback timestamp may be off by the clock skew (default 2 minutes),
// not more.
func TestCallbackClockSkewDefault(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(_ *harness, o *proofing.Options) { o.ClockSkew = 0 })
	a := h.startAddress(context.Background(), proofing.Attempt{})
	b := h.startAddress(context.Background(), proofing.Attempt{})
	cbA, cbB := h.result(a.ResultID, addressOK), h.result(b.ResultID, addressOK)
	cbA.ts = h.clk.Now().Add(-3 * time.Minute)
	wantCode(t, h.send(cbA), proofline.EUNAUTHORIZED)
	cbB.ts = h.clk.Now().Add(-110 * time.Second)
	if err := h.send(cbB); err != nil {
		t.Fatalf("callback stamped 110 s ago: %v", err)
	}
}

// A second callback for a stored result is a conflict, counted as a
// duplicate, and changes nothing.
func TestCallbackDuplicate(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	st := h.startAddress(context.Background(), proofing.Attempt{})
	cb := h.result(st.ResultID, addressOK)
	if err := h.send(cb); err != nil {
		t.Fatal(err)
	}
	cb.body = `{"address_result":{"success":false}}`
	wantCode(t, h.send(cb), proofline.ECONFLICT)
	if s := h.svc.Stats()[proofline.KindAddress]; s.Duplicate != 1 || s.Completed != 1 {
		t.Errorf("stats %+v, want 1 duplicate, 1 completed", s)
	}
	if got := h.obs.refusals()["address/duplicate"]; got != 1 {
		t.Errorf("observer duplicates %d, want 1", got)
	}
	if len(h.logs.Lines(t, "duplicate callback refused")) != 1 {
		t.Errorf("no log line for the duplicate: %s", h.logs)
	}
	if o, _ := h.svc.Outcome(context.Background(), st.ResultID); !o.Result.Success {
		t.Error("the duplicate replaced the stored result")
	}
}

// twoServers are two Services over one store, each with its own clock.
func twoServers(t *testing.T) (a, b *harness) {
	a = newHarness(t, nil)
	b = newHarness(t, func(b *harness, o *proofing.Options) {
		o.Store = resultstore.New(a.drv, a.ring, resultstore.Options{Timeout: time.Minute, Now: b.clk.Now})
		o.Dispatcher = dispatch.New(a.out, dispatch.Options{Now: b.clk.Now})
	})
	b.out = a.out
	return a, b
}

// A callback landing on the server that started the job, after another
// server stored its result (or told a reader timed_out), is judged on what
// is stored: a duplicate, or late.
func TestCallbackJudgedOnStoredStateAcrossServers(t *testing.T) {
	t.Parallel()
	a, b := twoServers(t)
	done := a.startAddress(context.Background(), proofing.Attempt{})
	cb := a.result(done.ResultID, addressOK)
	if err := b.send(cb); err != nil {
		t.Fatalf("callback on the other server: %v", err)
	}
	wantCode(t, a.send(cb), proofline.ECONFLICT)
	if s := a.svc.Stats()[proofline.KindAddress]; s.Duplicate != 1 || s.Completed != 0 {
		t.Errorf("stats of the starting server %+v, want 1 duplicate", s)
	}

	ended := a.startAddress(context.Background(), proofing.Attempt{})
	cb = a.result(ended.ResultID, addressOK)
	b.clk.Advance(time.Minute) // b's clock is at the deadline, a's is not
	if o, _ := b.svc.Outcome(context.Background(), ended.ResultID); o.Status != proofline.StatusTimedOut {
		t.Fatalf("read on the other server: %s", o.Status)
	}
	wantCode(t, a.send(cb), proofline.EGONE)
	if s := a.svc.Stats()[proofline.KindAddress]; s.Late != 1 {
		t.Errorf("late = %d, want 1", s.Late)
	}
	if len(a.logs.Lines(t, "late callback refused: the attempt ended as timed out meanwhile")) != 1 {
		t.Errorf("no log line for the callback that lost to a timed_out read: %s", a.logs)
	}
}

// A callback from another worker build is stored, counted as a version
// mismatch and logged (the build it reported sanitized); one from the
// pinned build is not.
func TestCallbackVersionMismatchCounted(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	a := h.startAddress(context.Background(), proofing.Attempt{})
	b := h.startAddress(context.Background(), proofing.Attempt{})
	cbA, cbB := h.result(a.ResultID, addressOK), h.result(b.ResultID, addressOK)
	if err := h.send(cbA); err != nil {
		t.Fatal(err)
	}
	if s := h.svc.Stats()[proofline.KindAddress]; s.VersionMismatch != 0 {
		t.Fatalf("a callback from the pinned build counted as a mismatch")
	}
	cbB.version = "rogue\x1bbuild"
	if err := h.send(cbB); err != nil {
		t.Fatal(err)
	}
	if s := h.svc.Stats()[proofline.KindAddress]; s.VersionMismatch != 1 {
		t.Errorf("VersionMismatch = %d, want 1", s.VersionMismatch)
	}
	h.obs.mu.Lock()
	n := h.obs.mismatch[proofline.KindAddress]
	h.obs.mu.Unlock()
	if n != 1 {
		t.Errorf("observer mismatches %d, want 1", n)
	}
	lines := h.logs.Lines(t, "callback from another worker build")
	if len(lines) != 1 || lines[0]["got"] != "rogue?build" || lines[0]["want"] != workerVersion {
		t.Errorf("log lines %v", lines)
	}
}

// A worker build string is logged as printable ASCII, at most 64
// characters.
func TestCallbackWorkerVersionSanitizedInLog(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	cases := []struct{ got, logged string }{
		{strings.Repeat("a", 64), strings.Repeat("a", 64)},
		{strings.Repeat("b", 64) + "c", strings.Repeat("b", 64)},
		{"x\x1f ~\x7f\u00e9", "x? ~??"}, // 0x1f, DEL and é are not printable ASCII; space and ~ are
	}
	for i, c := range cases {
		st := h.startAddress(context.Background(), proofing.Attempt{})
		cb := h.result(st.ResultID, addressOK)
		cb.version = c.got
		if err := h.send(cb); err != nil {
			t.Fatal(err)
		}
		lines := h.logs.Lines(t, "callback from another worker build")
		if len(lines) != i+1 || lines[i]["got"] != c.logged {
			t.Errorf("worker version %q logged as %v, want %q", c.got, lines[len(lines)-1]["got"], c.logged)
		}
	}
}

// A stored result is counted with the time since the start, reported to the
// observer with the job's budget, and logged; the mean wait is over every
// stored result.
func TestCallbackStoredCountedAndTimed(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	if s := h.svc.Stats()[proofline.KindAddress]; s.MeanWait != 0 || s.Completed != 0 {
		t.Fatalf("fresh stats %+v", s)
	}
	a := h.startAddress(context.Background(), proofing.Attempt{})
	b := h.startAddress(context.Background(), proofing.Attempt{})
	cbA, cbB := h.result(a.ResultID, addressOK), h.result(b.ResultID, `{"address_result":{"success":false}}`)
	h.clk.Advance(10 * time.Second)
	cbA.ts = h.clk.Now()
	if err := h.send(cbA); err != nil {
		t.Fatal(err)
	}
	h.clk.Advance(20 * time.Second)
	cbB.ts = h.clk.Now()
	if err := h.send(cbB); err != nil {
		t.Fatal(err)
	}
	s := h.svc.Stats()[proofline.KindAddress]
	if s.Completed != 2 || s.MeanWait != 20*time.Second {
		t.Errorf("stats %+v, want 2 completed, mean wait 20s", s)
	}
	h.obs.mu.Lock()
	stored := h.obs.stored
	h.obs.mu.Unlock()
	want := []storedEvent{{proofline.KindAddress, 10 * time.Second, time.Minute, true}, {proofline.KindAddress, 30 * time.Second, time.Minute, false}}
	if len(stored) != 2 || stored[0] != want[0] || stored[1] != want[1] {
		t.Errorf("observer results %+v, want %+v", stored, want)
	}
	lines := h.logs.Lines(t, "result received")
	if len(lines) != 2 || lines[0]["success"] != true || lines[1]["success"] != false || lines[1]["since_start"] != float64(30*time.Second) {
		t.Errorf("result log lines %v", lines)
	}
	if o, _ := h.svc.Outcome(context.Background(), a.ResultID); !o.CompletedAt.Equal(t0.Add(10 * time.Second)) {
		t.Errorf("completed at %v", o.CompletedAt)
	}
}

// Options.Notify hears of a stored result only for an attempt started with
// Attempt.Notify.
func TestCallbackNotifiesOnlyWhenAsked(t *testing.T) {
	t.Parallel()
	var got []*proofline.Outcome
	h := newHarness(t, func(_ *harness, o *proofing.Options) {
		o.Notify = func(_ context.Context, out *proofline.Outcome) { got = append(got, out) }
	})
	quiet := h.startAddress(context.Background(), proofing.Attempt{})
	loud := h.startAddress(context.Background(), proofing.Attempt{Notify: true})
	for _, id := range []string{quiet.ResultID, loud.ResultID} {
		if err := h.send(h.result(id, addressOK)); err != nil {
			t.Fatal(err)
		}
	}
	if len(got) != 1 || got[0].ResultID != loud.ResultID || got[0].Status != proofline.StatusDone || !got[0].Result.Success {
		t.Fatalf("notified %+v, want only the attempt that asked", got)
	}
}

// CallbackTokenValid accepts the kind's token only, counting a wrong one;
// an unknown kind is refused without a count.
func TestCallbackTokenValid(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	if !h.svc.CallbackTokenValid(proofline.KindAddress, tokens[proofline.KindAddress]) {
		t.Error("the address token refused")
	}
	if h.svc.CallbackTokenValid(proofline.KindAddress, tokens[proofline.KindDocument]) {
		t.Error("the document token accepted for an address callback")
	}
	if h.svc.CallbackTokenValid("passport", tokens[proofline.KindAddress]) {
		t.Error("an unknown kind accepted")
	}
	if got := h.obs.refusals(); !equalCounts(got, map[string]int{"address/token": 1}) {
		t.Errorf("refusals %v, want one address/token", got)
	}
}
