package proofer_test

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/proofline/proofline"
	"github.com/proofline/proofline/internal/testclock"
	"github.com/proofline/proofline/internal/testlog"
	"github.com/proofline/proofline/proofer"
	"github.com/proofline/proofline/proofer/mockvendor"
)

// Canary values: personal data that must never reach an exception, a log
// line or fmt output.
const (
	canaryLast    = "Canarylastname"
	canaryAddress = "77 Canary Lane"
	canarySSN     = "900-12-3987"
	canaryDOB     = "1971-07-17"
	canaryDocName = "CANARYDOCNAME"
	canaryDocID   = "CANARY0042"
)

var canaries = []string{canaryLast, canaryAddress, canarySSN, "900123987", canaryDOB, canaryDocName, canaryDocID}

func applicant() proofline.Applicant {
	return proofline.Applicant{
		FirstName:           "Jane",
		LastName:            canaryLast,
		DOB:                 canaryDOB,
		SSN:                 canarySSN,
		Address1:            canaryAddress,
		City:                "Helena",
		State:               "MT",
		Zipcode:             "59601",
		Phone:               "2025550100",
		StateIDNumber:       "123456789",
		StateIDJurisdiction: "ND",
		StateIDType:         "drivers_license",
	}
}

// --- fixtures --------------------------------------------------------------

// memImages is an in-memory ImageSource.
type memImages struct {
	mu         sync.Mutex
	objs       map[string][]byte
	deleted    []string
	failDelete bool
}

var errNoObject = errors.New("no such object")

func (m *memImages) Read(ctx context.Context, key string, maxBytes int64) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	b, ok := m.objs[key]
	if !ok {
		return nil, errNoObject
	}
	if int64(len(b)) > maxBytes {
		return nil, errors.New("object too large")
	}
	return bytes.Clone(b), nil
}

func (m *memImages) Delete(_ context.Context, key string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.deleted = append(m.deleted, key)
	if m.failDelete {
		return errors.New("store unavailable")
	}
	delete(m.objs, key)
	return nil
}

func (m *memImages) put(key string, b []byte) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.objs[key] = b
}

func (m *memImages) deletedKeys() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := slices.Clone(m.deleted)
	slices.Sort(s)
	return s
}

// calls records which vendor methods were called, in order.
type calls struct {
	mu    sync.Mutex
	order []string
}

func (c *calls) add(stage string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.order = append(c.order, stage)
}

func (c *calls) get() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.order)
}

type countResolution struct {
	proofer.ResolutionVendor
	c *calls
}

func (v countResolution) Resolve(ctx context.Context, a *proofline.Applicant) (*proofer.VendorResult, error) {
	v.c.add(proofer.StageResolution)
	return v.ResolutionVendor.Resolve(ctx, a)
}

type countStateID struct {
	proofer.StateIDVendor
	c *calls
}

func (v countStateID) VerifyStateID(ctx context.Context, a *proofline.Applicant) (*proofer.VendorResult, error) {
	v.c.add(proofer.StageStateID)
	return v.StateIDVendor.VerifyStateID(ctx, a)
}

type countAddress struct {
	proofer.AddressVendor
	c *calls
}

func (v countAddress) VerifyPhone(ctx context.Context, a *proofline.Applicant) (*proofer.VendorResult, error) {
	v.c.add(proofer.StageAddress)
	return v.AddressVendor.VerifyPhone(ctx, a)
}

// countDocument also keeps what it was given.
type countDocument struct {
	proofer.DocumentVendor
	c    *calls
	mu   *sync.Mutex
	seen **proofer.DocumentImages
}

func (v countDocument) AuthenticateDocument(ctx context.Context, img *proofer.DocumentImages) (*proofer.VendorResult, error) {
	v.c.add(proofer.StageDocument)
	v.mu.Lock()
	*v.seen = img
	v.mu.Unlock()
	return v.DocumentVendor.AuthenticateDocument(ctx, img)
}

type fixture struct {
	p      *proofer.Proofer
	calls  *calls
	images *memImages
	logs   *testlog.Buffer

	key []byte

	seenMu sync.Mutex
	seen   *proofer.DocumentImages
}

// setup builds a Proofer over the mock vendors, each wrapped to count calls,
// an in-memory image source and a JSON debug log. Every test checks that the
// log carries no canary.
func setup(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{calls: &calls{}, images: &memImages{objs: map[string][]byte{}}, logs: &testlog.Buffer{}}
	f.key = make([]byte, 32)
	_, _ = rand.Read(f.key)
	f.p = &proofer.Proofer{
		Resolution: countResolution{&mockvendor.Resolution{}, f.calls},
		StateID:    countStateID{&mockvendor.StateID{}, f.calls},
		Address:    countAddress{&mockvendor.Address{}, f.calls},
		Document:   countDocument{&mockvendor.Document{}, f.calls, &f.seenMu, &f.seen},
		Images:     f.images,
		Logger:     slog.New(slog.NewJSONHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	t.Cleanup(func() { assertNoCanary(t, "log", f.logs.String()) })
	return f
}

func assertNoCanary(t *testing.T, what, s string) {
	t.Helper()
	for _, c := range canaries {
		if strings.Contains(strings.ToLower(s), strings.ToLower(c)) {
			t.Errorf("%s contains PII %q: %s", what, c, s)
		}
	}
}

func resolutionJob(a proofline.Applicant, stateID, dobYearOnly bool) *proofline.Payload {
	return &proofline.Payload{Resolution: &proofline.ResolutionArgs{Applicant: a, ShouldProofStateID: stateID, DOBYearOnly: dobYearOnly}}
}

func addressJob(a proofline.Applicant) *proofline.Payload {
	return &proofline.Payload{Address: &proofline.AddressArgs{Applicant: a}}
}

func exception(r *proofline.Result) string {
	if r.Exception == nil {
		return ""
	}
	return *r.Exception
}

// checkShape asserts what every result must satisfy.
func checkShape(t *testing.T, r *proofline.Result) {
	t.Helper()
	if r == nil {
		t.Fatal("nil result")
	}
	if r.Errors == nil || r.Messages == nil || r.Context.Stages == nil {
		t.Errorf("result not normalized: %+v", r)
	}
	if r.Success && (r.Exception != nil || r.TimedOut || len(r.Errors) > 0) {
		t.Errorf("success with failures: %+v", r)
	}
	if r.TimedOut && r.Exception == nil {
		t.Error("timed out without an exception")
	}
	assertNoCanary(t, "exception", exception(r))
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var back proofline.Result
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
}

var (
	resPass    = proofline.Stage{Stage: "resolution", Vendor: "ResolutionMock", TransactionID: mockvendor.ResolutionTransactionID, Success: true}
	resFail    = proofline.Stage{Stage: "resolution", Vendor: "ResolutionMock", TransactionID: mockvendor.ResolutionTransactionID}
	resTimeout = proofline.Stage{Stage: "resolution", Vendor: "ResolutionMock", TimedOut: true, Exception: true}
	resExc     = proofline.Stage{Stage: "resolution", Vendor: "ResolutionMock", Exception: true}
	sidPass    = proofline.Stage{Stage: "state_id", Vendor: "StateIdMock", TransactionID: mockvendor.StateIDTransactionID, Success: true}
	sidFail    = proofline.Stage{Stage: "state_id", Vendor: "StateIdMock", TransactionID: mockvendor.StateIDTransactionID}
	sidTimeout = proofline.Stage{Stage: "state_id", Vendor: "StateIdMock", TimedOut: true, Exception: true}
	adrPass    = proofline.Stage{Stage: "address", Vendor: "AddressMock", TransactionID: mockvendor.AddressTransactionID, Success: true}
	adrFail    = proofline.Stage{Stage: "address", Vendor: "AddressMock", TransactionID: mockvendor.AddressTransactionID}
	adrTimeout = proofline.Stage{Stage: "address", Vendor: "AddressMock", TimedOut: true, Exception: true}
	adrExc     = proofline.Stage{Stage: "address", Vendor: "AddressMock", Exception: true}
	docPass    = proofline.Stage{Stage: "document", Vendor: "DocAuthMock", TransactionID: mockvendor.DocumentTransactionID, Success: true}
	docFail    = proofline.Stage{Stage: "document", Vendor: "DocAuthMock", TransactionID: mockvendor.DocumentTransactionID}
	docTimeout = proofline.Stage{Stage: "document", Vendor: "DocAuthMock", TimedOut: true, Exception: true}
)

type want struct {
	success   bool
	errors    map[string][]string
	exception string
	timedOut  bool
	stages    []proofline.Stage
}

func (w want) check(t *testing.T, r *proofline.Result) {
	t.Helper()
	checkShape(t, r)
	if r.Success != w.success {
		t.Errorf("Success = %v, want %v", r.Success, w.success)
	}
	we := w.errors
	if we == nil {
		we = map[string][]string{}
	}
	if !reflect.DeepEqual(r.Errors, we) {
		t.Errorf("Errors = %v, want %v", r.Errors, we)
	}
	if got := exception(r); got != w.exception {
		t.Errorf("Exception = %q, want %q", got, w.exception)
	}
	if r.TimedOut != w.timedOut {
		t.Errorf("TimedOut = %v, want %v", r.TimedOut, w.timedOut)
	}
	ws := w.stages
	if ws == nil {
		ws = []proofline.Stage{}
	}
	if !reflect.DeepEqual(r.Context.Stages, ws) {
		t.Errorf("Stages = %+v\nwant     %+v", r.Context.Stages, w.stages)
	}
	wantTx := ""
	if n := len(w.stages); n > 0 {
		wantTx = w.stages[n-1].TransactionID
	}
	if r.TransactionID != wantTx {
		t.Errorf("TransactionID = %q, want %q", r.TransactionID, wantTx)
	}
}

func stageNames(stages []proofline.Stage) []string {
	var s []string
	for _, st := range stages {
		s = append(s, st.Stage)
	}
	return s
}

// --- resolution ------------------------------------------------------------

func TestResolution(t *testing.T) {
	t.Parallel()
	const (
		noStateID = iota
		stateID
		dobYearOnly // with state ID
		dobYearOnlyNoStateID
	)
	tests := []struct {
		name string
		mode int
		edit func(a *proofline.Applicant)
		want want
	}{
		{"passes, state id not asked", noStateID, nil,
			want{success: true, stages: []proofline.Stage{resPass}}},
		{"passes with state id", stateID, nil,
			want{success: true, stages: []proofline.Stage{resPass, sidPass}}},
		{"Bad first name skips state id", stateID, func(a *proofline.Applicant) { a.FirstName = "Badly" },
			want{errors: map[string][]string{"first_name": {"Unverified first name."}}, stages: []proofline.Stage{resFail}}},
		{"Time is a vendor timeout", stateID, func(a *proofline.Applicant) { a.FirstName = "Time" },
			want{exception: proofer.MsgVendorTimeout, timedOut: true, stages: []proofline.Stage{resTimeout}}},
		{"Fail is an exception", stateID, func(a *proofline.Applicant) { a.FirstName = "Fail" },
			want{exception: "Failed to contact proofing vendor", stages: []proofline.Stage{resExc}}},
		{"SSN 000-00-0000 is an exception", noStateID, func(a *proofline.Applicant) { a.SSN = "000-00-0000" },
			want{exception: "Failed to contact proofing vendor", stages: []proofline.Stage{resExc}}},
		{"SSN 000000000 is an exception", noStateID, func(a *proofline.Applicant) { a.SSN = "000000000" },
			want{exception: "Failed to contact proofing vendor", stages: []proofline.Stage{resExc}}},
		{"SSN 6666", stateID, func(a *proofline.Applicant) { a.SSN = "900-66-6666" },
			want{errors: map[string][]string{"ssn": {"Unverified SSN."}}, stages: []proofline.Stage{resFail}}},
		{"zipcode 00000", noStateID, func(a *proofline.Applicant) { a.Zipcode = "00000" },
			want{errors: map[string][]string{"zipcode": {"Unverified ZIP code."}}, stages: []proofline.Stage{resFail}}},
		{"zipcode 00000-1234", noStateID, func(a *proofline.Applicant) { a.Zipcode = "00000-1234" },
			want{errors: map[string][]string{"zipcode": {"Unverified ZIP code."}}, stages: []proofline.Stage{resFail}}},
		{"several failures together", stateID, func(a *proofline.Applicant) {
			a.FirstName, a.SSN, a.Zipcode = "Bad", "900-66-6666", "00000"
		}, want{errors: map[string][]string{
			"first_name": {"Unverified first name."},
			"ssn":        {"Unverified SSN."},
			"zipcode":    {"Unverified ZIP code."},
		}, stages: []proofline.Stage{resFail}}},
		{"state id jurisdiction", stateID, func(a *proofline.Applicant) { a.StateIDJurisdiction = "XX" },
			want{errors: map[string][]string{"state_id_jurisdiction": {mockvendor.MsgUnverifiedJurisdiction}}, stages: []proofline.Stage{resPass, sidFail}}},
		{"state id all-zero number", stateID, func(a *proofline.Applicant) { a.StateIDNumber = "000000000" },
			want{errors: map[string][]string{"state_id_number": {mockvendor.MsgUnverifiedStateIDNumber}}, stages: []proofline.Stage{resPass, sidFail}}},
		{"state id type", stateID, func(a *proofline.Applicant) { a.StateIDType = "passport" },
			want{errors: map[string][]string{"state_id_type": {mockvendor.MsgUnverifiedStateIDType}}, stages: []proofline.Stage{resPass, sidFail}}},
		{"state id failure ignored when not asked", noStateID, func(a *proofline.Applicant) { a.StateIDType = "passport" },
			want{success: true, stages: []proofline.Stage{resPass}}},
		{"dob_year_only runs state id first", dobYearOnly, nil,
			want{success: true, stages: []proofline.Stage{sidPass, resPass}}},
		{"dob_year_only state id failure stops resolution", dobYearOnly, func(a *proofline.Applicant) {
			a.StateIDJurisdiction, a.FirstName = "AK", "Bad"
		}, want{errors: map[string][]string{"state_id_jurisdiction": {mockvendor.MsgUnverifiedJurisdiction}}, stages: []proofline.Stage{sidFail}}},
		{"dob_year_only resolution failure after state id", dobYearOnly, func(a *proofline.Applicant) { a.FirstName = "Bad" },
			want{errors: map[string][]string{"first_name": {"Unverified first name."}}, stages: []proofline.Stage{sidPass, resFail}}},
		{"dob_year_only without state id is resolution only", dobYearOnlyNoStateID, nil,
			want{success: true, stages: []proofline.Stage{resPass}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := setup(t)
			a := applicant()
			if tt.edit != nil {
				tt.edit(&a)
			}
			pl := resolutionJob(a, tt.mode == stateID || tt.mode == dobYearOnly, tt.mode == dobYearOnly || tt.mode == dobYearOnlyNoStateID)
			r := f.p.Proof(context.Background(), proofline.KindResolution, pl)
			tt.want.check(t, r)
			if got, want := f.calls.get(), stageNames(tt.want.stages); !slices.Equal(got, want) {
				t.Errorf("vendor calls = %v, want %v", got, want)
			}
			if r.Billed != nil || r.PIIFromDoc != nil || r.Result != "" || r.RawAlerts != nil {
				t.Errorf("document fields set on a resolution result: %+v", r)
			}
		})
	}
}

// --- address ---------------------------------------------------------------

func TestAddress(t *testing.T) {
	t.Parallel()
	tests := []struct {
		phone proofline.PII
		want  want
	}{
		{"2025550100", want{success: true, stages: []proofline.Stage{adrPass}}},
		{"7035555555", want{errors: map[string][]string{"phone": {"The phone number could not be verified."}}, stages: []proofline.Stage{adrFail}}},
		{"+1 (703) 555-5555", want{errors: map[string][]string{"phone": {"The phone number could not be verified."}}, stages: []proofline.Stage{adrFail}}},
		{"7035555999", want{exception: "Failed to contact proofing vendor", stages: []proofline.Stage{adrExc}}},
		{"1-703-555-5999", want{exception: "Failed to contact proofing vendor", stages: []proofline.Stage{adrExc}}},
		{"7035555888", want{exception: proofer.MsgVendorTimeout, timedOut: true, stages: []proofline.Stage{adrTimeout}}},
		{"(703) 555-5888", want{exception: proofer.MsgVendorTimeout, timedOut: true, stages: []proofline.Stage{adrTimeout}}},
	}
	for _, tt := range tests {
		t.Run(tt.phone.Reveal(), func(t *testing.T) {
			t.Parallel()
			f := setup(t)
			a := applicant()
			a.Phone = tt.phone
			r := f.p.Proof(context.Background(), proofline.KindAddress, addressJob(a))
			tt.want.check(t, r)
			if got := f.calls.get(); !slices.Equal(got, []string{"address"}) {
				t.Errorf("vendor calls = %v", got)
			}
		})
	}
}

// --- deadlines ---------------------------------------------------------------

func TestHangReturnsAfterDeadline(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		kind  proofline.Kind
		pl    func(a proofline.Applicant) *proofline.Payload
		stage proofline.Stage
	}{
		{"resolution", proofline.KindResolution, func(a proofline.Applicant) *proofline.Payload { return resolutionJob(a, true, false) }, resTimeout},
		{"address", proofline.KindAddress, addressJob, adrTimeout},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := setup(t)
			a := applicant()
			a.FirstName = "Hang"
			deadline := time.Now().Add(100 * time.Millisecond)
			ctx, cancel := context.WithDeadline(context.Background(), deadline)
			defer cancel()
			r := f.p.Proof(ctx, tt.kind, tt.pl(a))
			if time.Now().Before(deadline) {
				t.Fatal("Proof returned before the job deadline")
			}
			want{exception: proofer.MsgVendorTimeout, timedOut: true, stages: []proofline.Stage{tt.stage}}.check(t, r)
		})
	}
}

func TestExpiredContextSkipsVendor(t *testing.T) {
	t.Parallel()
	skipped := func(st proofline.Stage) want {
		return want{exception: proofer.MsgDeadlinePassed, timedOut: true, stages: []proofline.Stage{st}}
	}
	tests := []struct {
		name string
		kind proofline.Kind
		pl   func(t *testing.T, f *fixture) *proofline.Payload
		want want
	}{
		{"resolution", proofline.KindResolution, func(*testing.T, *fixture) *proofline.Payload { return resolutionJob(applicant(), true, false) }, skipped(resTimeout)},
		{"dob_year_only", proofline.KindResolution, func(*testing.T, *fixture) *proofline.Payload { return resolutionJob(applicant(), true, true) }, skipped(sidTimeout)},
		{"address", proofline.KindAddress, func(*testing.T, *fixture) *proofline.Payload { return addressJob(applicant()) }, skipped(adrTimeout)},
		{"document", proofline.KindDocument, func(t *testing.T, f *fixture) *proofline.Payload { return f.documentJob(t, []byte("x"), false) }, skipped(docTimeout)},
	}
	clocks := map[string]func(t *testing.T) (context.Context, func() time.Time){
		// The context's deadline has passed.
		"ctx expired": func(t *testing.T) (context.Context, func() time.Time) {
			ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
			t.Cleanup(cancel)
			return ctx, nil
		},
		// The context is live, but the injected clock is past its deadline.
		"clock past deadline": func(t *testing.T) (context.Context, func() time.Time) {
			deadline := time.Now().Add(time.Hour)
			ctx, cancel := context.WithDeadline(context.Background(), deadline)
			t.Cleanup(cancel)
			return ctx, func() time.Time { return deadline.Add(time.Millisecond) }
		},
		// Cancelled (a shutdown) counts the same.
		"ctx cancelled": func(t *testing.T) (context.Context, func() time.Time) {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			return ctx, nil
		},
	}
	for clockName, clock := range clocks {
		for _, tt := range tests {
			t.Run(clockName+"/"+tt.name, func(t *testing.T) {
				t.Parallel()
				f := setup(t)
				ctx, now := clock(t)
				f.p.Now = now
				pl := tt.pl(t, f)
				r := f.p.Proof(ctx, tt.kind, pl)
				tt.want.check(t, r)
				if got := f.calls.get(); len(got) != 0 {
					t.Errorf("vendors called after the deadline: %v", got)
				}
				if tt.kind == proofline.KindDocument {
					f.assertImagesDeleted(t, pl.Document)
				}
			})
		}
	}
}

// advancingResolution moves the clock past the deadline while it runs.
type advancingResolution struct {
	proofer.ResolutionVendor
	clock *testclock.Clock
	to    time.Time
}

func (v advancingResolution) Resolve(ctx context.Context, a *proofline.Applicant) (*proofer.VendorResult, error) {
	r, err := v.ResolutionVendor.Resolve(ctx, a)
	v.clock.Set(v.to)
	return r, err
}

func TestDeadlineCheckedBeforeEachStage(t *testing.T) {
	t.Parallel()
	f := setup(t)
	start := time.Now()
	deadline := start.Add(time.Hour)
	clock := testclock.New(start)
	f.p.Now = clock.Now
	f.p.Resolution = advancingResolution{f.p.Resolution, clock, deadline}
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	r := f.p.Proof(ctx, proofline.KindResolution, resolutionJob(applicant(), true, false))
	want{exception: proofer.MsgDeadlinePassed, timedOut: true, stages: []proofline.Stage{resPass, sidTimeout}}.check(t, r)
	if got := f.calls.get(); !slices.Equal(got, []string{"resolution"}) {
		t.Errorf("vendor calls = %v, want only resolution", got)
	}
}

func TestVendorTimeoutBoundsEachCall(t *testing.T) {
	t.Parallel()
	f := setup(t)
	f.p.VendorTimeout = 20 * time.Millisecond
	f.p.Address = &mockvendor.Address{Latency: time.Hour}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	r := f.p.Proof(ctx, proofline.KindAddress, addressJob(applicant()))
	want{exception: proofer.MsgVendorTimeout, timedOut: true, stages: []proofline.Stage{adrTimeout}}.check(t, r)
}

// --- misbehaving vendors and bad input -----------------------------------------

type leakyVendor struct{ mode string }

func (leakyVendor) Name() string { return "Leaky" }

func (v leakyVendor) Resolve(_ context.Context, a *proofline.Applicant) (*proofer.VendorResult, error) {
	switch v.mode {
	case "error":
		return nil, fmt.Errorf("lookup of %s %s failed", a.LastName.Reveal(), a.SSN.Reveal())
	case "vendor error":
		return nil, &proofer.VendorError{Vendor: "Leaky", Message: "bad\r\nanswer", Cause: errors.New(a.SSN.Reveal())}
	case "deadline":
		return nil, fmt.Errorf("dial %s: %w", a.Address1.Reveal(), context.DeadlineExceeded)
	case "panic":
		panic("ssn " + a.SSN.Reveal())
	case "nil":
		return nil, nil
	case "empty messages":
		return &proofer.VendorResult{TransactionID: "t1", Errors: map[string][]string{"dob": nil}, Messages: []string{"checked"}}, nil
	}
	return nil, nil
}

func TestMisbehavingVendor(t *testing.T) {
	t.Parallel()
	leaky := func(tx string, exc, timedOut bool) []proofline.Stage {
		return []proofline.Stage{{Stage: "resolution", Vendor: "Leaky", TransactionID: tx, Exception: exc, TimedOut: timedOut}}
	}
	tests := []struct {
		mode string
		want want
	}{
		{"error", want{exception: proofer.MsgVendorError, stages: leaky("", true, false)}},
		{"vendor error", want{exception: "badanswer", stages: leaky("", true, false)}},
		{"deadline", want{exception: proofer.MsgVendorTimeout, timedOut: true, stages: leaky("", true, true)}},
		{"panic", want{exception: proofer.MsgVendorError, stages: leaky("", true, false)}},
		{"nil", want{exception: proofer.MsgVendorNoResult, stages: leaky("", true, false)}},
		{"empty messages", want{errors: map[string][]string{"dob": {}}, stages: leaky("t1", false, false)}},
	}
	for _, tt := range tests {
		t.Run(tt.mode, func(t *testing.T) {
			t.Parallel()
			f := setup(t)
			f.p.Resolution = leakyVendor{tt.mode}
			r := f.p.Proof(context.Background(), proofline.KindResolution, resolutionJob(applicant(), true, false))
			tt.want.check(t, r)
		})
	}
}

func TestBadPayload(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		kind proofline.Kind
		pl   *proofline.Payload
	}{
		{"nil payload", proofline.KindResolution, nil},
		{"empty payload", proofline.KindAddress, &proofline.Payload{}},
		{"kind mismatch", proofline.KindDocument, resolutionJob(applicant(), false, false)},
		{"unknown kind", proofline.Kind("other"), addressJob(applicant())},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := setup(t)
			r := f.p.Proof(context.Background(), tt.kind, tt.pl)
			want{exception: proofer.MsgBadPayload}.check(t, r)
			if got := f.calls.get(); len(got) != 0 {
				t.Errorf("vendor calls = %v", got)
			}
		})
	}
}

func TestVendorNotConfigured(t *testing.T) {
	t.Parallel()
	p := &proofer.Proofer{}
	for _, c := range []struct {
		kind proofline.Kind
		pl   *proofline.Payload
	}{
		{proofline.KindResolution, resolutionJob(applicant(), true, false)},
		{proofline.KindAddress, addressJob(applicant())},
		{proofline.KindDocument, &proofline.Payload{Document: &proofline.DocumentArgs{}}},
	} {
		r := p.Proof(context.Background(), c.kind, c.pl)
		want{exception: proofer.MsgNotConfigured}.check(t, r)
	}
	// State ID asked but no state ID vendor: the resolution stage runs, then
	// the job is an exception.
	p = &proofer.Proofer{Resolution: &mockvendor.Resolution{}}
	r := p.Proof(context.Background(), proofline.KindResolution, resolutionJob(applicant(), true, false))
	want{exception: proofer.MsgNotConfigured, stages: []proofline.Stage{resPass}}.check(t, r)
}

// --- document --------------------------------------------------------------

func encrypt(t *testing.T, key, iv, plain []byte) []byte {
	t.Helper()
	block, err := aes.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		t.Fatal(err)
	}
	return aead.Seal(nil, iv, plain, nil)
}

func newIV() []byte {
	iv := make([]byte, 12)
	_, _ = rand.Read(iv)
	return iv
}

// documentJob stores the encrypted front ("FRONT"), back (back) and, when
// selfie, selfie ("SELFIE") images under fresh keys and returns the job.
func (f *fixture) documentJob(t *testing.T, back []byte, selfie bool) *proofline.Payload {
	t.Helper()
	id := proofline.NewResultID()
	args := &proofline.DocumentArgs{EncryptionKey: f.key, LivenessCheckingEnabled: selfie}
	put := func(side string, plain []byte) proofline.ImageRef {
		ref := proofline.ImageRef{Key: id + "/" + side, IV: newIV()}
		f.images.put(ref.Key, encrypt(t, f.key, ref.IV, plain))
		return ref
	}
	args.Front = put("front", []byte("FRONT"))
	args.Back = put("back", back)
	if selfie {
		s := put("selfie", []byte("SELFIE"))
		args.Selfie = &s
	}
	return &proofline.Payload{Document: args}
}

func (f *fixture) assertImagesDeleted(t *testing.T, args *proofline.DocumentArgs) {
	t.Helper()
	want := []string{args.Front.Key, args.Back.Key}
	if args.Selfie != nil {
		want = append(want, args.Selfie.Key)
	}
	slices.Sort(want)
	if got := f.images.deletedKeys(); !slices.Equal(got, want) {
		t.Errorf("deleted %v, want %v", got, want)
	}
	f.images.mu.Lock()
	defer f.images.mu.Unlock()
	if !f.images.failDelete && len(f.images.objs) != 0 {
		t.Errorf("%d images left in the store", len(f.images.objs))
	}
}

const janeYAML = `document:
  first_name: ` + canaryDocName + `
  middle_name: Q
  last_name: DOE
  address1: 1 MAIN ST
  city: HELENA
  state: MT
  zipcode: 01234
  dob: 1980-01-02
  state_id_number: ` + canaryDocID + `
  state_id_jurisdiction: ND
  state_id_type: drivers_license
`

func TestDocument(t *testing.T) {
	t.Parallel()
	jane := &proofline.DocumentPII{
		FirstName: canaryDocName, MiddleName: "Q", LastName: "DOE", Address1: "1 MAIN ST", City: "HELENA",
		State: "MT", Zipcode: "01234", DOB: "1980-01-02", StateIDNumber: canaryDocID,
		StateIDJurisdiction: "ND", StateIDType: "drivers_license",
	}
	garbage := make([]byte, 4096)
	_, _ = rand.Read(garbage)
	tests := []struct {
		name       string
		back       []byte
		selfie     bool
		want       want
		wantResult string
		wantPII    *proofline.DocumentPII
		wantAlerts []proofline.Alert
	}{
		{"yaml document", []byte(janeYAML), false, want{success: true, stages: []proofline.Stage{docPass}}, "Passed", jane, nil},
		{"yaml document with selfie", []byte(janeYAML), true, want{success: true, stages: []proofline.Stage{docPass}}, "Passed", jane, nil},
		{"friendly_error", []byte("friendly_error: Your ID has expired.\n"),
			false, want{errors: map[string][]string{"general": {"Your ID has expired."}}, stages: []proofline.Stage{docFail}}, "Failed", nil, nil},
		{"failed_alerts", []byte("failed_alerts:\n  - name: 2D Barcode Read\n    result: Failed\n"),
			false, want{errors: map[string][]string{"general": {mockvendor.MsgDocumentFailed}}, stages: []proofline.Stage{docFail}}, "Failed", nil,
			[]proofline.Alert{{Name: "2D Barcode Read", Result: "Failed"}}},
		{"garbage gets default pii", garbage, false, want{success: true, stages: []proofline.Stage{docPass}}, "Passed", mockvendor.DefaultPII(), nil},
		{"yaml without keys gets default pii", []byte("hello: world\n"), false, want{success: true, stages: []proofline.Stage{docPass}}, "Passed", mockvendor.DefaultPII(), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := setup(t)
			pl := f.documentJob(t, tt.back, tt.selfie)
			r := f.p.Proof(context.Background(), proofline.KindDocument, pl)
			tt.want.check(t, r)
			if r.Billed == nil || !*r.Billed {
				t.Errorf("Billed = %v, want true", r.Billed)
			}
			if r.Result != tt.wantResult {
				t.Errorf("Result = %q, want %q", r.Result, tt.wantResult)
			}
			if !reflect.DeepEqual(r.PIIFromDoc, tt.wantPII) {
				t.Error("PIIFromDoc differs")
			}
			if !reflect.DeepEqual(r.RawAlerts, tt.wantAlerts) && !(len(r.RawAlerts) == 0 && len(tt.wantAlerts) == 0) {
				t.Errorf("RawAlerts = %+v, want %+v", r.RawAlerts, tt.wantAlerts)
			}
			f.assertImagesDeleted(t, pl.Document)

			// The vendor saw the decrypted images, which were zeroed afterwards.
			f.seenMu.Lock()
			seen := f.seen
			f.seenMu.Unlock()
			if seen == nil {
				t.Fatal("vendor not called")
			}
			if seen.LivenessCheckingEnabled != tt.selfie || (seen.Selfie != nil) != tt.selfie {
				t.Errorf("liveness %v, selfie %d bytes; want %v", seen.LivenessCheckingEnabled, len(seen.Selfie), tt.selfie)
			}
			for _, b := range [][]byte{seen.Front, seen.Back, seen.Selfie} {
				if len(bytes.Trim(b, "\x00")) != 0 {
					t.Error("decrypted image not zeroed after the vendor call")
				}
			}
		})
	}
}

func TestDocumentImageFailures(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		edit      func(f *fixture, d *proofline.DocumentArgs)
		exception string
	}{
		{"wrong front IV", func(_ *fixture, d *proofline.DocumentArgs) { d.Front.IV = newIV() }, "front image could not be decrypted"},
		{"wrong back IV", func(_ *fixture, d *proofline.DocumentArgs) { d.Back.IV = newIV() }, "back image could not be decrypted"},
		{"wrong selfie IV", func(_ *fixture, d *proofline.DocumentArgs) { d.Selfie.IV = newIV() }, "selfie image could not be decrypted"},
		{"short IV", func(_ *fixture, d *proofline.DocumentArgs) { d.Back.IV = d.Back.IV[:8] }, "back image could not be decrypted"},
		{"wrong key", func(_ *fixture, d *proofline.DocumentArgs) {
			d.EncryptionKey = make([]byte, 32)
		}, "front image could not be decrypted"},
		{"tampered back", func(f *fixture, d *proofline.DocumentArgs) {
			f.images.mu.Lock()
			f.images.objs[d.Back.Key][0] ^= 1
			f.images.mu.Unlock()
		}, "back image could not be decrypted"},
		{"short ciphertext", func(f *fixture, d *proofline.DocumentArgs) { f.images.put(d.Front.Key, []byte("short")) }, "front image could not be decrypted"},
		{"key too short", func(_ *fixture, d *proofline.DocumentArgs) { d.EncryptionKey = d.EncryptionKey[:16] }, proofer.MsgInvalidKey},
		{"no key", func(_ *fixture, d *proofline.DocumentArgs) { d.EncryptionKey = nil }, proofer.MsgInvalidKey},
		{"missing back", func(f *fixture, d *proofline.DocumentArgs) {
			f.images.mu.Lock()
			delete(f.images.objs, d.Back.Key)
			f.images.mu.Unlock()
		}, "back image could not be read"},
		{"empty front key", func(_ *fixture, d *proofline.DocumentArgs) { d.Front.Key = "" }, "front image could not be read"},
		{"too large", func(f *fixture, _ *proofline.DocumentArgs) { f.p.MaxImageBytes = 10 }, "front image could not be read"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := setup(t)
			pl := f.documentJob(t, []byte(janeYAML), true)
			key := bytes.Clone(pl.Document.EncryptionKey)
			tt.edit(f, pl.Document)
			r := f.p.Proof(context.Background(), proofline.KindDocument, pl)
			want{exception: tt.exception}.check(t, r)
			if r.PIIFromDoc != nil || r.Billed != nil {
				t.Errorf("document fields set without a vendor call: %+v", r)
			}
			if got := f.calls.get(); len(got) != 0 {
				t.Errorf("vendor calls = %v", got)
			}
			for _, enc := range []string{hex.EncodeToString(key), base64.StdEncoding.EncodeToString(key), string(key)} {
				if strings.Contains(exception(r), enc) || strings.Contains(f.logs.String(), enc) {
					t.Error("the key leaked")
				}
			}
			if tt.name != "empty front key" {
				f.assertImagesDeleted(t, pl.Document)
			} else if got, want := f.images.deletedKeys(), []string{pl.Document.Back.Key, pl.Document.Selfie.Key}; !slices.Equal(got, want) {
				t.Errorf("deleted %v, want %v", got, want)
			}
		})
	}
}

func TestDocumentDeleteFailureIsLogged(t *testing.T) {
	t.Parallel()
	f := setup(t)
	f.images.failDelete = true
	pl := f.documentJob(t, []byte(janeYAML), false)
	r := f.p.Proof(context.Background(), proofline.KindDocument, pl)
	want{success: true, stages: []proofline.Stage{docPass}}.check(t, r)
	f.assertImagesDeleted(t, pl.Document)
	logs := f.logs.String()
	for _, key := range []string{pl.Document.Front.Key, pl.Document.Back.Key} {
		if !strings.Contains(logs, `"msg":"image delete failed"`) || !strings.Contains(logs, key) {
			t.Errorf("no delete failure logged for %s: %s", key, logs)
		}
	}
	if strings.Contains(logs, "store unavailable") {
		t.Error("store error text logged")
	}
}

func TestDocumentDeletedAfterDeadline(t *testing.T) {
	t.Parallel()
	f := setup(t)
	// The deadline passes while the vendor works; deletion still happens.
	f.p.Document = &mockvendor.Document{Latency: time.Hour}
	pl := f.documentJob(t, []byte(janeYAML), false)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	r := f.p.Proof(ctx, proofline.KindDocument, pl)
	want{exception: proofer.MsgVendorTimeout, timedOut: true, stages: []proofline.Stage{docTimeout}}.check(t, r)
	f.assertImagesDeleted(t, pl.Document)
}

// --- PII and logs ----------------------------------------------------------

func TestPIINeverPrinted(t *testing.T) {
	t.Parallel()
	f := setup(t)
	pl := f.documentJob(t, []byte(janeYAML), false)
	r := f.p.Proof(context.Background(), proofline.KindDocument, pl)
	if r.PIIFromDoc == nil || r.PIIFromDoc.FirstName.Reveal() != canaryDocName {
		t.Fatal("no pii_from_doc")
	}
	for _, v := range []any{r.PIIFromDoc, *r.PIIFromDoc, r, *r} {
		s := fmt.Sprintf("%v %+v %#v %s", v, v, v, v)
		assertNoCanary(t, "fmt output", s)
	}
	if s := fmt.Sprintf("%v %+v %#v", r.PIIFromDoc, r.PIIFromDoc, r.PIIFromDoc); !strings.Contains(s, proofline.Redacted) {
		t.Errorf("pii_from_doc printed as %q", s)
	}
}

func TestPIINeverInExceptionsOrLogs(t *testing.T) {
	t.Parallel()
	f := setup(t)
	f.p.Resolution = countResolution{leakyVendor{"error"}, f.calls}
	edits := []func(a *proofline.Applicant){
		func(*proofline.Applicant) {},
		func(a *proofline.Applicant) { a.FirstName = "Fail" },
		func(a *proofline.Applicant) { a.FirstName = "Time" },
		func(a *proofline.Applicant) { a.FirstName = "Bad"; a.SSN = "900-66-6666" },
		func(a *proofline.Applicant) { a.Phone = "7035555999" },
		func(a *proofline.Applicant) { a.Phone = "7035555888\r\nfake" },
	}
	for _, edit := range edits {
		a := applicant()
		edit(&a)
		for _, r := range []*proofline.Result{
			f.p.Proof(context.Background(), proofline.KindResolution, resolutionJob(a, true, true)),
			f.p.Proof(context.Background(), proofline.KindAddress, addressJob(a)),
		} {
			checkShape(t, r)
		}
	}
	// setup's cleanup checks the log; make sure there is one to check.
	if !strings.Contains(f.logs.String(), `"msg":"proofing job done"`) {
		t.Errorf("no job log line: %s", f.logs.String())
	}
}

func TestOneDebugLinePerJob(t *testing.T) {
	t.Parallel()
	f := setup(t)
	f.p.Proof(context.Background(), proofline.KindResolution, resolutionJob(applicant(), true, false))
	lines := strings.Split(strings.TrimSpace(f.logs.String()), "\n")
	if len(lines) != 1 {
		t.Fatalf("%d log lines, want 1: %s", len(lines), f.logs.String())
	}
	var line map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &line); err != nil {
		t.Fatal(err)
	}
	if line["level"] != "DEBUG" || line["kind"] != "resolution" || line["success"] != true {
		t.Errorf("log line = %v", line)
	}
	stages, _ := line["stages"].(map[string]any)
	s0, _ := stages["0"].(map[string]any)
	s1, _ := stages["1"].(map[string]any)
	if s0["vendor"] != "ResolutionMock" || s1["vendor"] != "StateIdMock" || s1["outcome"] != "passed" {
		t.Errorf("stages = %v", stages)
	}

	// Nothing at Info level.
	var buf testlog.Buffer
	f.p.Logger = slog.New(slog.NewTextHandler(&buf, nil))
	f.p.Proof(context.Background(), proofline.KindAddress, addressJob(applicant()))
	if buf.String() != "" {
		t.Errorf("logged at Info: %s", buf.String())
	}
}
