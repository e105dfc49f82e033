package proofing_test

import (
	"context"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/proofline/proofline"
	"github.com/proofline/proofline/proofing"
	"github.com/proofline/proofline/proofing/attempts"
	"github.com/proofline/proofline/tenant"

	"go.opentelemetry.io/otel/codes"
)

// New refuses a Service without its store, dispatcher, callback origin or a
// callback token per kind, and one kind's token accepted for another.
func TestNewRefusesIncompleteOptions(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	base := h.opts
	cases := map[string]func(o *proofing.Options){
		"no store":         func(o *proofing.Options) { o.Store = nil },
		"no dispatcher":    func(o *proofing.Options) { o.Dispatcher = nil },
		"no callback url":  func(o *proofing.Options) { o.CallbackBaseURL = "" },
		"no address token": func(o *proofing.Options) { o.CallbackTokens = withToken(proofline.KindAddress, " , ") },
		"shared token": func(o *proofing.Options) {
			o.CallbackTokens = withToken(proofline.KindAddress, "rotating-out-01234567,"+tokens[proofline.KindDocument])
		},
	}
	for name, mod := range cases {
		o := base
		mod(&o)
		if _, err := proofing.New(o); err == nil {
			t.Errorf("%s: New succeeded", name)
		}
	}
	// One token listed twice for its own kind is not a clash.
	o := base
	o.CallbackTokens = withToken(proofline.KindAddress, tokens[proofline.KindAddress]+","+tokens[proofline.KindAddress])
	if _, err := proofing.New(o); err != nil {
		t.Errorf("a token listed twice for one kind: %v", err)
	}
}

func withToken(k proofline.Kind, v string) map[proofline.Kind]string {
	out := map[proofline.Kind]string{}
	for kind, t := range tokens {
		out[kind] = t
	}
	out[k] = v
	return out
}

// While a token is rotated out, every listed token is accepted (spaces and
// empty entries ignored); nothing else is, not even an empty token.
func TestCallbackTokensRotate(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(_ *harness, o *proofing.Options) {
		o.CallbackTokens = withToken(proofline.KindAddress, " old-address-token-0123 , ,"+tokens[proofline.KindAddress]+",")
	})
	for _, tok := range []string{"old-address-token-0123", tokens[proofline.KindAddress]} {
		if !h.svc.CallbackTokenValid(proofline.KindAddress, tok) {
			t.Errorf("token %q refused", tok)
		}
	}
	for _, tok := range []string{"", " old-address-token-0123 ", "old-address-token-012"} {
		if h.svc.CallbackTokenValid(proofline.KindAddress, tok) {
			t.Errorf("token %q accepted", tok)
		}
	}
}

// A Service left without a timeout gives a person 60 s; the callback URL
// in the envelope has no doubled slash.
func TestStartDefaultsAndEnvelope(t *testing.T) {
	t.Parallel()
	for _, timeout := range []time.Duration{0, -time.Second} {
		h := newHarness(t, func(_ *harness, o *proofing.Options) {
			o.Timeout = timeout
			o.CallbackBaseURL = "https://idp.example.gov/"
			o.TracerProvider = nil
		})
		if h.svc.Timeout() != 60*time.Second {
			t.Errorf("Timeout() = %v with %v, want 60s", h.svc.Timeout(), timeout)
		}
		st := h.startAddress(context.Background(), proofing.Attempt{})
		if !st.Deadline.Equal(t0.Add(60*time.Second)) || st.Kind != proofline.KindAddress {
			t.Errorf("started %+v, want a deadline 60 s from now", st)
		}
		env := h.envelope(st.ResultID)
		if want := "https://idp.example.gov" + proofline.CallbackPath(proofline.KindAddress, st.ResultID); env.CallbackURL != want {
			t.Errorf("callback url %q, want %q", env.CallbackURL, want)
		}
		// Untraced: a random trace id of its own, no span.
		if _, err := hex.DecodeString(env.TraceID); err != nil || len(env.TraceID) != 32 || env.SpanID != "" {
			t.Errorf("untraced envelope trace %q span %q", env.TraceID, env.SpanID)
		}
	}
}

// A start is counted, logged and traced: the envelope carries the pinned
// worker build and the start's own trace and span, which the job's log line
// names too.
func TestStartCountedLoggedTraced(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	st := h.startAddress(context.Background(), proofing.Attempt{})
	env := h.envelope(st.ResultID)
	span := h.span("proofline.start")
	if env.TraceID != span.SpanContext.TraceID().String() || env.SpanID != span.SpanContext.SpanID().String() {
		t.Errorf("envelope trace %s/%s, want the start span's %s/%s", env.TraceID, env.SpanID, span.SpanContext.TraceID(), span.SpanContext.SpanID())
	}
	if span.Status.Code != codes.Unset {
		t.Errorf("start span status %+v", span.Status)
	}
	if env.WorkerVersion != workerVersion || !env.Deadline.Equal(st.Deadline) {
		t.Errorf("envelope worker %q deadline %v", env.WorkerVersion, env.Deadline)
	}
	if s := h.svc.Stats()[proofline.KindAddress]; s.Started != 1 {
		t.Errorf("started = %d", s.Started)
	}
	h.obs.mu.Lock()
	n := h.obs.started[proofline.KindAddress]
	h.obs.mu.Unlock()
	if n != 1 {
		t.Errorf("observer starts %d, want 1", n)
	}
	lines := h.logs.Lines(t, "job started")
	if len(lines) != 1 || lines[0]["result_id"] != st.ResultID || lines[0]["trace_id"] != env.TraceID || lines[0]["kind"] != "address" {
		t.Errorf("start log lines %v", lines)
	}
	if o, err := h.svc.Outcome(context.Background(), st.ResultID); err != nil || o.Status != proofline.StatusPending || !o.Deadline.Equal(st.Deadline) {
		t.Errorf("outcome after start %+v %v", o, err)
	}
}

// An address start needs a valid phone; a person id is at most 256 bytes
// without control characters, a client IP an IP address.
func TestStartValidatesAttempt(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	start := func(who proofing.Attempt, phone string) error {
		_, err := h.svc.StartAddress(context.Background(), proofing.AddressRequest{Attempt: who, Applicant: proofline.Applicant{Phone: proofline.PII(phone)}})
		return err
	}
	if err := start(proofing.Attempt{PersonID: strings.Repeat("p", 256), ClientIP: "2001:db8::1"}, "7035550100"); err != nil {
		t.Errorf("256-byte person id: %v", err)
	}
	for _, c := range []struct {
		who   proofing.Attempt
		phone string
		field string
	}{
		{proofing.Attempt{PersonID: strings.Repeat("p", 257)}, "7035550100", "person_id"},
		{proofing.Attempt{PersonID: "user\n1"}, "7035550100", "person_id"},
		{proofing.Attempt{PersonID: "user\x001"}, "7035550100", "person_id"},
		{proofing.Attempt{ClientIP: "192.0.2"}, "7035550100", "client_ip"},
		{proofing.Attempt{}, "", "phone"},
	} {
		err := start(c.who, c.phone)
		if _, ok := fieldErrors(t, err)[c.field]; !ok {
			t.Errorf("%+v phone %q: %v, want an error on %s", c.who, c.phone, err, c.field)
		}
	}
	if got := h.svc.Stats()[proofline.KindAddress].Started; got != 1 {
		t.Errorf("started = %d, want only the valid start", got)
	}
	if s := h.span("proofline.start"); s.Status.Code != codes.Unset {
		// A start refused by validation never reaches the traced start.
		t.Errorf("last start span %+v", s.Status)
	}
}

// limited is a harness whose attempt limiter allows one attempt per person
// and two per client IP.
func limited(t *testing.T) *harness {
	return newHarness(t, func(h *harness, o *proofing.Options) {
		l, err := attempts.New(attempts.NewMemory(h.clk.Now), attempts.Options{MaxPerPerson: 1, MaxPerIP: 2, HashKey: make([]byte, 32)})
		if err != nil {
			t.Fatal(err)
		}
		o.Attempts = l
	})
}

// The attempt limit counts a person per tenant, never an attempt without a
// person id, and an IPv4-mapped IPv6 address as its IPv4 address; a refused
// start is logged and its span says why.
func TestStartAttemptLimits(t *testing.T) {
	t.Parallel()
	h := limited(t)
	a := tenant.With(context.Background(), "idp-a")
	b := tenant.With(context.Background(), "idp-b")
	h.startAddress(a, proofing.Attempt{PersonID: "user-1"})
	_, err := h.svc.StartAddress(a, proofing.AddressRequest{Attempt: proofing.Attempt{PersonID: "user-1"}, Applicant: proofline.Applicant{Phone: "7035550100"}})
	wantCode(t, err, proofline.ELIMIT)
	if s := h.span("proofline.start"); s.Status.Code != codes.Error || s.Status.Description != proofline.ELIMIT {
		t.Errorf("refused start span %+v", s.Status)
	}
	lines := h.logs.Lines(t, "attempt refused: limit reached")
	if len(lines) != 1 || lines[0]["kind"] != "address" {
		t.Errorf("limit log lines %v", lines)
	}
	h.startAddress(b, proofing.Attempt{PersonID: "user-1"}) // another tenant's user-1
	h.startAddress(a, proofing.Attempt{})
	h.startAddress(a, proofing.Attempt{}) // no person id: no person limit

	h.startAddress(a, proofing.Attempt{ClientIP: "192.0.2.7"})
	h.startAddress(a, proofing.Attempt{ClientIP: "192.0.2.7"})
	_, err = h.svc.StartAddress(a, proofing.AddressRequest{Attempt: proofing.Attempt{ClientIP: "::ffff:192.0.2.7"}, Applicant: proofline.Applicant{Phone: "7035550100"}})
	wantCode(t, err, proofline.ELIMIT)
}

// A result the person caused (the vendor said no) uses their attempt; a
// success, a vendor exception or a vendor timeout gives it back.
func TestCallbackUsesAttemptOnlyOnFailure(t *testing.T) {
	t.Parallel()
	for body, used := range map[string]bool{
		`{"address_result":{"success":false}}`:                    true,
		`{"address_result":{"success":true}}`:                     false,
		`{"address_result":{"success":false,"exception":"down"}}`: false,
		`{"address_result":{"success":false,"timed_out":true}}`:   false,
	} {
		h := limited(t)
		st := h.startAddress(context.Background(), proofing.Attempt{PersonID: "user-1"})
		if err := h.send(h.result(st.ResultID, body)); err != nil {
			t.Fatal(err)
		}
		line := h.logs.Lines(t, "result received")[0]
		if line["exception"] != strings.Contains(body, "exception") || line["vendor_timed_out"] != strings.Contains(body, "timed_out") {
			t.Errorf("%s logged as %v", body, line)
		}
		_, err := h.svc.StartAddress(context.Background(), proofing.AddressRequest{Attempt: proofing.Attempt{PersonID: "user-1"}, Applicant: proofline.Applicant{Phone: "7035550100"}})
		if used {
			wantCode(t, err, proofline.ELIMIT)
		} else if err != nil {
			t.Errorf("after %s: %v, want the attempt given back", body, err)
		}
	}
}

// A start the store or the queue refuses gives the person's attempt back,
// and a job the queue refused is not left to be polled to a timeout.
func TestStartRefusedDownstreamGivesAttemptBack(t *testing.T) {
	t.Parallel()
	h := limited(t)
	who := proofing.Attempt{PersonID: "user-1"}
	req := proofing.AddressRequest{Attempt: who, Applicant: proofline.Applicant{Phone: "7035550100"}}

	h.drv.setFail("create", errDown)
	_, err := h.svc.StartAddress(context.Background(), req)
	wantCode(t, err, proofline.EUNAVAILABLE)
	h.drv.setFail("create", nil)

	h.out.mu.Lock()
	h.out.fail = errDown
	h.out.mu.Unlock()
	if _, err := h.svc.StartAddress(context.Background(), req); err == nil {
		t.Fatal("a start the queue refused succeeded")
	}
	h.out.mu.Lock()
	h.out.fail = nil
	refused := h.out.last.ResultID
	h.out.mu.Unlock()
	_, err = h.svc.Outcome(context.Background(), refused)
	wantCode(t, err, proofline.ENOTFOUND)
	if s := h.svc.Stats()[proofline.KindAddress]; s.Started != 0 {
		t.Errorf("started = %d after refused starts", s.Started)
	}
	h.startAddress(context.Background(), who)
}

// Outcome and Forget of another tenant's job answer not found, on the
// server that wrote it and on one that did not; the owner forgets it once.
func TestOutcomeAndForgetOnlyItsTenant(t *testing.T) {
	t.Parallel()
	a, b := twoServers(t)
	owner := tenant.With(context.Background(), "idp-a")
	other := tenant.With(context.Background(), "idp-b")
	st := a.startAddress(owner, proofing.Attempt{})
	for _, h := range []*harness{a, b} {
		_, err := h.svc.Outcome(other, st.ResultID)
		wantCode(t, err, proofline.ENOTFOUND)
		wantCode(t, h.svc.Forget(other, st.ResultID), proofline.ENOTFOUND)
	}
	if o, err := b.svc.Outcome(owner, st.ResultID); err != nil || o.Status != proofline.StatusPending {
		t.Fatalf("the owner's read: %+v %v", o, err)
	}
	if err := b.svc.Forget(owner, st.ResultID); err != nil {
		t.Fatalf("the owner's delete on the other server: %v", err)
	}
	wantCode(t, b.svc.Forget(owner, st.ResultID), proofline.ENOTFOUND)
	_, err := a.svc.Outcome(owner, st.ResultID)
	wantCode(t, err, proofline.ENOTFOUND)

	st = a.startAddress(owner, proofing.Attempt{})
	a.drv.setFail("get", errDown) // the store both servers share
	wantCode(t, b.svc.Forget(owner, st.ResultID), proofline.EUNAVAILABLE)
}

// A start refused by the store is traced as failed.
func TestStartStoreDownTraced(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	h.drv.setFail("create", errDown)
	_, err := h.svc.StartAddress(context.Background(), proofing.AddressRequest{Applicant: proofline.Applicant{Phone: "7035550100"}})
	wantCode(t, err, proofline.EUNAVAILABLE)
	if s := h.span("proofline.start"); s.Status.Code != codes.Error || s.Status.Description != proofline.EUNAVAILABLE {
		t.Errorf("start span %+v", s.Status)
	}
}
