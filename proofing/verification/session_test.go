package verification_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/proofline/proofline"
	"github.com/proofline/proofline/internal/testclock"
	"github.com/proofline/proofline/internal/testlog"
	"github.com/proofline/proofline/proofing/verification"
	"github.com/proofline/proofline/resultstore"
	"github.com/proofline/proofline/resultstore/storetest"
	"github.com/proofline/proofline/seal"
	"github.com/proofline/proofline/tenant"
	"github.com/proofline/proofline/webhook"
	"github.com/proofline/proofline/webhook/webhooktest"
)

// The hosted harness: sessions over a memory store whose operations can
// fail, tenants with and without webhooks and PII, the webhook sender's
// outbox recorded, every clock the same manual one.

var errDown = errors.New("backend down")

// flaky is a record driver whose reads fail (get) or whose writes always
// find the value changed (conflict) or fail (swap).
type flaky struct {
	resultstore.Driver
	mu   sync.Mutex
	fail map[string]error
}

func (d *flaky) set(op string, err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.fail[op] = err
}

func (d *flaky) err(op string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.fail[op]
}

func (d *flaky) Get(ctx context.Context, id string) ([]byte, error) {
	if err := d.err("get"); err != nil {
		return nil, err
	}
	return d.Driver.Get(ctx, id)
}

func (d *flaky) Swap(ctx context.Context, id string, old, next []byte, ttl time.Duration) error {
	if err := d.err("swap"); err != nil {
		return err
	}
	return d.Driver.Swap(ctx, id, old, next, ttl)
}

func (d *flaky) Create(ctx context.Context, id string, v []byte, ttl time.Duration) error {
	if err := d.err("create"); err != nil {
		return err
	}
	return d.Driver.Create(ctx, id, v, ttl)
}

// outbox records what the sender queues: webhook ids and timers' due times.
type outbox struct {
	webhook.Driver
	mu    sync.Mutex
	puts  map[string][]time.Time // id → due of each Put
	fail  error
	onPut func() // once, after the next Put
}

func (o *outbox) Put(ctx context.Context, id string, v []byte, due time.Time, ttl time.Duration) error {
	o.mu.Lock()
	fail, then := o.fail, o.onPut
	if fail == nil {
		o.puts[id] = append(o.puts[id], due)
		o.onPut = nil
	}
	o.mu.Unlock()
	if fail != nil {
		return fail
	}
	if then != nil {
		defer then()
	}
	return o.Driver.Put(ctx, id, v, due, ttl)
}

func (o *outbox) setFail(err error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.fail = err
}

// queued returns how many times the webhook of sess's status st was queued.
func (o *outbox) queued(sessID string, st verification.Status) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.puts[webhook.MessageID(sessID, string(st))])
}

// timer returns the due times the expiry timer of sessID was put at.
func (o *outbox) timer(sessID string) []time.Time {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]time.Time(nil), o.puts["timer_"+verification.TimerExpiry+"_"+sessID]...)
}

type hosted struct {
	t        *testing.T
	svc      *verification.Service
	clk      *testclock.Clock
	drv      *flaky
	out      *outbox
	sender   *webhook.Sender
	receiver *webhooktest.Receiver
	logs     *testlog.Buffer
	recs     *resultstore.Records
	reg      *tenant.Registry
}

// Tenants: "idp" (webhooks, no PII), "pii" (webhooks and PII), "quiet"
// (no webhooks).
func newHosted(t *testing.T, mod func(*verification.Options)) *hosted {
	t.Helper()
	h := &hosted{t: t, clk: testclock.New(time.Date(2031, 1, 2, 3, 4, 5, 0, time.UTC)), logs: &testlog.Buffer{}}
	h.receiver = webhooktest.NewReceiver(t)
	secret := [][]byte{bytes.Repeat([]byte{7}, 32)}
	reg, err := tenant.New([]tenant.Client{
		{Name: "idp", Keys: []string{"idp-key-0123456789abcdef"}, ReturnOrigins: []string{"https://idp.example.gov"}, WebhookURL: h.receiver.URL, WebhookSecrets: secret},
		{Name: "pii", Keys: []string{"pii-key-0123456789abcdef"}, ReturnOrigins: []string{"https://idp.example.gov"}, WebhookURL: h.receiver.URL, WebhookSecrets: secret, IncludePII: true},
		{Name: "quiet", Keys: []string{"quiet-key-0123456789abcd"}, ReturnOrigins: []string{"https://idp.example.gov"}},
	}, "https://proofline.example.gov")
	if err != nil {
		t.Fatal(err)
	}
	h.reg = reg
	h.drv = &flaky{Driver: resultstore.NewMemory(resultstore.MemoryOptions{Now: h.clk.Now, SweepInterval: -1}), fail: map[string]error{}}
	h.recs = resultstore.NewRecords(h.drv, storetest.NewRing(t, "s1"), "verification-session")
	t.Cleanup(func() { _ = h.recs.Close() })
	k, _ := seal.Generate("w1")
	ring, _ := seal.NewKeyRing(k)
	h.out = &outbox{Driver: webhook.NewMemory(), puts: map[string][]time.Time{}}
	h.sender, err = webhook.New(webhook.Options{Outbox: h.out, Sealer: ring, Clients: reg, Now: h.clk.Now, Poll: 5 * time.Millisecond, Logger: slog.New(slog.NewJSONHandler(h.logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	opts := verification.Options{
		Records: h.recs, Clients: reg, BaseURL: "https://proofline.example.gov/", Now: h.clk.Now,
		LinkTTL: 10 * time.Minute, Lifetime: time.Hour, Retention: time.Hour, Webhooks: h.sender,
		Logger: slog.New(slog.NewJSONHandler(h.logs, nil)),
	}
	if mod != nil {
		mod(&opts)
	}
	h.svc, err = verification.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// start runs the webhook sender (timers and deliveries) until the test ends.
func (h *hosted) start() {
	h.sender.Start()
	h.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = h.sender.Stop(ctx)
	})
}

func as(name string) context.Context { return tenant.With(context.Background(), name) }

// open creates a session of tenant with steps and opens its link.
func (h *hosted) open(tenantName string, steps ...verification.Step) *verification.Session {
	h.t.Helper()
	sess, token := create(h.t, h.svc, as(tenantName), steps...)
	if _, err := h.svc.Redeem(context.Background(), sess.ID, token); err != nil {
		h.t.Fatal(err)
	}
	return sess
}

// eventually polls cond for up to 10 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(10 * time.Second); !cond(); {
		if time.Now().After(end) {
			t.Fatalf("not within 10 s: %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// New needs records, clients and an http(s) origin; zero durations take
// their defaults (a link lasts an hour, so does the person's session, and
// an ended session is readable for a day).
func TestNewOptionsAndDefaults(t *testing.T) {
	t.Parallel()
	h := newHosted(t, nil)
	for name, o := range map[string]verification.Options{
		"no records": {Clients: h.reg, BaseURL: "https://p.example"},
		"no clients": {Records: h.recs, BaseURL: "https://p.example"},
		"ftp":        {Records: h.recs, Clients: h.reg, BaseURL: "ftp://p.example"},
		"no host":    {Records: h.recs, Clients: h.reg, BaseURL: "https://"},
		"bad url":    {Records: h.recs, Clients: h.reg, BaseURL: "http://[::1"},
	} {
		if _, err := verification.New(o); err == nil {
			t.Errorf("%s: New succeeded", name)
		}
	}
	d := newHosted(t, func(o *verification.Options) {
		o.BaseURL, o.LinkTTL, o.Lifetime, o.Retention = "http://127.0.0.1:8080", 0, 0, 0
	})
	if d.svc.Lifetime() != time.Hour {
		t.Errorf("Lifetime() = %v", d.svc.Lifetime())
	}
	c, err := d.svc.Create(as("idp"), verification.CreateRequest{PersonID: "u", ReturnURL: "https://idp.example.gov/back"})
	if err != nil {
		t.Fatal(err)
	}
	if want := "http://127.0.0.1:8080/verify/session/" + c.Session.ID + "?token="; !strings.HasPrefix(c.URL, want) {
		t.Errorf("link %s, want it under %s", c.URL, want)
	}
	if !c.Session.ExpiresAt.Equal(d.clk.Now().Add(time.Hour)) {
		t.Errorf("link expires %v, want an hour from now", c.Session.ExpiresAt)
	}
	token := mustToken(t, c.URL)
	if s, err := d.svc.Redeem(context.Background(), c.Session.ID, token); err != nil || !s.ExpiresAt.Equal(d.clk.Now().Add(time.Hour)) {
		t.Fatalf("redeem: %+v %v", s, err)
	}
	if _, err := d.svc.Cancel(as("idp"), c.Session.ID); err != nil {
		t.Fatal(err)
	}
	d.clk.Advance(24*time.Hour - time.Second)
	if s, err := d.svc.Get(as("idp"), c.Session.ID); err != nil || s.Status != verification.StatusCanceled {
		t.Fatalf("a canceled session a day later less a second: %+v %v", s, err)
	}
	d.clk.Advance(time.Second)
	_, err = d.svc.Get(as("idp"), c.Session.ID)
	wantCode(t, err, proofline.ENOTFOUND)
}

func mustToken(t *testing.T, link string) string {
	t.Helper()
	u, err := url.Parse(link)
	if err != nil {
		t.Fatal(err)
	}
	return u.Query().Get("token")
}

// A session request is checked field by field at its bounds, and only an
// API client creates sessions.
func TestCreateValidation(t *testing.T) {
	t.Parallel()
	h := newHosted(t, nil)
	valid := func() verification.CreateRequest {
		return verification.CreateRequest{PersonID: "user 1", ReturnURL: "https://idp.example.gov/back", Locale: "fr-CA"}
	}
	meta := func(n, valueLen int) map[string]string {
		m := map[string]string{}
		for i := range n {
			m[strings.Repeat("k", i+1)] = strings.Repeat("v", valueLen)
		}
		return m
	}
	ok := []func(r *verification.CreateRequest){
		func(r *verification.CreateRequest) { r.PersonID = strings.Repeat("p", 256) },
		func(r *verification.CreateRequest) { r.Locale = "en" },
		func(r *verification.CreateRequest) { r.Locale = "" },
		func(r *verification.CreateRequest) { r.Metadata = meta(20, 500) },
		func(r *verification.CreateRequest) {
			r.Metadata = map[string]string{strings.Repeat("k", 40): "~ space ok"}
		},
	}
	for i, mod := range ok {
		r := valid()
		mod(&r)
		if _, err := h.svc.Create(as("idp"), r); err != nil {
			t.Errorf("valid request %d: %v", i, err)
		}
	}
	bad := map[string]struct {
		mod   func(r *verification.CreateRequest)
		field string
	}{
		"no person":        {func(r *verification.CreateRequest) { r.PersonID = "" }, "person_id"},
		"long person":      {func(r *verification.CreateRequest) { r.PersonID = strings.Repeat("p", 257) }, "person_id"},
		"person newline":   {func(r *verification.CreateRequest) { r.PersonID = "user\n1" }, "person_id"},
		"person DEL":       {func(r *verification.CreateRequest) { r.PersonID = "user\x7f1" }, "person_id"},
		"person unit sep":  {func(r *verification.CreateRequest) { r.PersonID = "user\x1f1" }, "person_id"},
		"no return url":    {func(r *verification.CreateRequest) { r.ReturnURL = "" }, "return_url"},
		"foreign return":   {func(r *verification.CreateRequest) { r.ReturnURL = "https://evil.example/back" }, "return_url"},
		"no steps":         {func(r *verification.CreateRequest) { r.Steps = []verification.Step{} }, "steps"},
		"twice":            {func(r *verification.CreateRequest) { r.Steps = []verification.Step{"phone", "phone"} }, "steps"},
		"unknown step":     {func(r *verification.CreateRequest) { r.Steps = []verification.Step{"phone", "selfie"} }, "steps"},
		"locale":           {func(r *verification.CreateRequest) { r.Locale = "e" }, "locale"},
		"locale shape":     {func(r *verification.CreateRequest) { r.Locale = "en_US" }, "locale"},
		"21 keys":          {func(r *verification.CreateRequest) { r.Metadata = meta(21, 1) }, "metadata"},
		"long value":       {func(r *verification.CreateRequest) { r.Metadata = meta(1, 501) }, "metadata"},
		"long key":         {func(r *verification.CreateRequest) { r.Metadata = map[string]string{strings.Repeat("k", 41): "v"} }, "metadata"},
		"key shape":        {func(r *verification.CreateRequest) { r.Metadata = map[string]string{"a b": "v"} }, "metadata"},
		"control in value": {func(r *verification.CreateRequest) { r.Metadata = map[string]string{"k": "a\nb"} }, "metadata"},
	}
	for name, c := range bad {
		r := valid()
		c.mod(&r)
		_, err := h.svc.Create(as("idp"), r)
		var v *proofline.ValidationError
		if !errors.As(err, &v) || len(v.Fields) != 1 || v.Fields[0].Field != c.field {
			t.Errorf("%s: %v, want one error on %s", name, err, c.field)
		}
	}
	_, err := h.svc.Create(as("nobody"), valid())
	wantCode(t, err, proofline.EUNAUTHORIZED)
}

// The link of a canceled session is used up; a demo session has no link.
func TestRedeemCanceledAndDemo(t *testing.T) {
	t.Parallel()
	h := newHosted(t, nil)
	sess, token := create(t, h.svc, as("idp"))
	if _, err := h.svc.Cancel(as("idp"), sess.ID); err != nil {
		t.Fatal(err)
	}
	_, err := h.svc.Redeem(context.Background(), sess.ID, token)
	wantCode(t, err, proofline.EGONE)
	demo, err := h.svc.StartDemo(context.Background(), []verification.Step{verification.StepPhone})
	if err != nil {
		t.Fatal(err)
	}
	_, err = h.svc.Redeem(context.Background(), demo.ID, "")
	wantCode(t, err, proofline.ENOTFOUND)
	_, err = h.svc.StartDemo(context.Background(), []verification.Step{})
	var v *proofline.ValidationError
	if !errors.As(err, &v) {
		t.Errorf("demo without steps: %v", err)
	}
}

// The pages move a session on while it is active only: created or in
// progress, before its expiry.
func TestActiveRestartOnlyWhileActive(t *testing.T) {
	t.Parallel()
	h := newHosted(t, nil)
	created, _ := create(t, h.svc, as("idp"))
	open := h.open("idp")
	for _, id := range []string{created.ID, open.ID} {
		if _, err := h.svc.Active(context.Background(), id); err != nil {
			t.Errorf("active session: %v", err)
		}
		if err := h.svc.Restart(context.Background(), id); err != nil {
			t.Errorf("restart of an active session: %v", err)
		}
	}
	failed := h.open("idp")
	if _, err := h.svc.Fail(context.Background(), failed.ID, verification.StepPhone, verification.FailureAttemptLimit); err != nil {
		t.Fatal(err)
	}
	_, err := h.svc.Active(context.Background(), failed.ID)
	wantCode(t, err, proofline.EGONE)
	wantCode(t, h.svc.Restart(context.Background(), failed.ID), proofline.EGONE)
	_, err = h.svc.Active(context.Background(), "vs_00000000000000000000000000000000")
	wantCode(t, err, proofline.ENOTFOUND)
	h.clk.Advance(10 * time.Minute) // the unused link's expiry
	_, err = h.svc.Active(context.Background(), created.ID)
	wantCode(t, err, proofline.EGONE)
	if _, err := h.svc.Active(context.Background(), open.ID); err != nil {
		t.Errorf("the opened session before its lifetime ends: %v", err)
	}
}

// A failed session names its step and reason, ends now, and queues its
// webhook once; it cannot fail twice.
func TestFailEndsAndNotifies(t *testing.T) {
	t.Parallel()
	h := newHosted(t, nil)
	sess := h.open("idp")
	h.clk.Advance(time.Minute)
	got, err := h.svc.Fail(context.Background(), sess.ID, verification.StepInformation, verification.FailureAttemptLimit)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != verification.StatusFailed || got.FailedStep != verification.StepInformation || got.FailureReason != verification.FailureAttemptLimit || !got.EndedAt.Equal(h.clk.Now()) {
		t.Errorf("failed session %+v", *got)
	}
	if n := h.out.queued(sess.ID, verification.StatusFailed); n != 1 {
		t.Errorf("failed webhook queued %d times, want 1", n)
	}
	if len(h.logs.Lines(t, "verification session failed")) != 1 {
		t.Error("no log line for the failure")
	}
	_, err = h.svc.Fail(context.Background(), sess.ID, verification.StepPhone, verification.FailureAttemptLimit)
	wantCode(t, err, proofline.EGONE)
	if s, _ := h.svc.Get(as("idp"), sess.ID); s.FailedStep != verification.StepInformation {
		t.Errorf("a second failure changed the session: %+v", *s)
	}
}

// A verified session's webhook is queued once, when its last step
// succeeds; a client without a webhook endpoint gets none, and the demo
// none.
func TestVerifiedWebhookQueuedOnce(t *testing.T) {
	t.Parallel()
	h := newHosted(t, nil)
	ok := verification.StepOutcome{ResultID: "r1", Result: &proofline.Result{Success: true}}
	sess := h.open("idp", verification.StepDocument, verification.StepPhone)
	if _, err := h.svc.StepDone(context.Background(), sess.ID, verification.StepDocument, ok); err != nil {
		t.Fatal(err)
	}
	if n := h.out.queued(sess.ID, verification.StatusVerified); n != 0 {
		t.Fatalf("verified webhook queued before every step: %d", n)
	}
	s, err := h.svc.StepDone(context.Background(), sess.ID, verification.StepPhone, ok)
	if err != nil || s.Status != verification.StatusVerified {
		t.Fatalf("last step: %+v %v", s, err)
	}
	if n := h.out.queued(sess.ID, verification.StatusVerified); n != 1 {
		t.Errorf("verified webhook queued %d times, want 1", n)
	}
	if len(h.logs.Lines(t, "verification session verified")) != 1 {
		t.Error("no log line for the verification")
	}
	quiet := h.open("quiet", verification.StepPhone)
	if _, err := h.svc.StepDone(context.Background(), quiet.ID, verification.StepPhone, ok); err != nil {
		t.Fatal(err)
	}
	if n := h.out.queued(quiet.ID, verification.StatusVerified); n != 0 {
		t.Errorf("a client without webhooks got one queued")
	}
	if n := len(h.out.timer(quiet.ID)); n != 0 {
		t.Errorf("a client without webhooks got %d expiry timers", n)
	}
	demo, _ := h.svc.StartDemo(context.Background(), []verification.Step{verification.StepPhone})
	if s, err := h.svc.StepDone(context.Background(), demo.ID, verification.StepPhone, ok); err != nil || s.Status != verification.StatusVerified {
		t.Fatalf("demo: %+v %v", s, err)
	}
	if n := h.out.queued(demo.ID, verification.StatusVerified); n != 0 {
		t.Errorf("the demo queued a webhook")
	}
}

// What a step proofed is kept for the session's reader: the result (and
// the applicant for a client with include_pii), shown once verified; the
// demo keeps none.
func TestStepResultsAndView(t *testing.T) {
	t.Parallel()
	h := newHosted(t, nil)
	doc := &proofline.Result{Success: true, Result: "Passed", PIIFromDoc: &proofline.DocumentPII{FirstName: "Jane", LastName: "Doe"}}
	app := &proofline.Applicant{FirstName: "Jane", Phone: "7035550100"}
	for _, name := range []string{"pii", "idp"} {
		sess := h.open(name, verification.StepDocument, verification.StepPhone)
		if _, err := h.svc.StepDone(context.Background(), sess.ID, verification.StepDocument, verification.StepOutcome{ResultID: "r-doc", Result: doc}); err != nil {
			t.Fatal(err)
		}
		s, _ := h.svc.Get(as(name), sess.ID)
		v, err := h.svc.View(s)
		if err != nil || v.Results != nil || v.StartedAt == nil || !v.StartedAt.Equal(s.StartedAt) || v.EndedAt != nil {
			t.Fatalf("%s: view in progress %+v %v", name, v, err)
		}
		h.clk.Advance(time.Second)
		if _, err := h.svc.StepDone(context.Background(), sess.ID, verification.StepPhone, verification.StepOutcome{ResultID: "r-phone", Applicant: app}); err != nil {
			t.Fatal(err)
		}
		s, _ = h.svc.Get(as(name), sess.ID)
		v, err = h.svc.View(s)
		if err != nil {
			t.Fatal(err)
		}
		if v.Status != verification.StatusVerified || v.EndedAt == nil || !v.EndedAt.Equal(h.clk.Now()) {
			t.Errorf("%s: verified view %+v", name, v)
		}
		d, p := v.Results[verification.StepDocument], v.Results[verification.StepPhone]
		if d == nil || p == nil || d.ResultID != "r-doc" || p.ResultID != "r-phone" || !p.CompletedAt.Equal(h.clk.Now()) {
			t.Fatalf("%s: step views %+v %+v", name, d, p)
		}
		var res map[string]any
		if err := json.Unmarshal(d.Result, &res); err != nil || res["result"] != "Passed" {
			t.Fatalf("%s: document result %s %v", name, d.Result, err)
		}
		if name == "pii" {
			if pii, _ := res["pii_from_doc"].(map[string]any); pii["first_name"] != "Jane" {
				t.Errorf("pii: pii_from_doc %v, want it in clear", res["pii_from_doc"])
			}
			var a map[string]any
			if err := json.Unmarshal(p.Applicant, &a); err != nil || a["phone"] != "7035550100" {
				t.Errorf("pii: applicant %s", p.Applicant)
			}
		} else if _, ok := res["pii_from_doc"]; ok || p.Applicant != nil || strings.Contains(string(d.Result)+string(p.Result), "Jane") {
			t.Errorf("idp (no PII): document %s phone %s applicant %s", d.Result, p.Result, p.Applicant)
		}
		if len(p.Result) != 0 && string(p.Result) != "null" {
			t.Errorf("%s: a step without a result shows %s", name, p.Result)
		}
	}
	demo, _ := h.svc.StartDemo(context.Background(), []verification.Step{verification.StepDocument, verification.StepPhone})
	if _, err := h.svc.StepDone(context.Background(), demo.ID, verification.StepDocument, verification.StepOutcome{ResultID: "r", Result: doc}); err != nil {
		t.Fatal(err)
	}
	s, err := h.svc.Active(context.Background(), demo.ID)
	if err != nil {
		t.Fatal(err)
	}
	if r := s.Results[verification.StepDocument]; r == nil || r.ResultID != "r" || r.Result != nil || r.Applicant != nil {
		t.Errorf("demo step result %+v, want its id only", r)
	}
}

// An ended session returns the browser to its return_url with the session
// id; the demo returns nowhere.
func TestReturnTo(t *testing.T) {
	t.Parallel()
	s := &verification.Session{ID: "vs_1", ReturnURL: "https://idp.example.gov/back?state=abc"}
	got, _ := url.Parse(s.ReturnTo())
	if got.Host != "idp.example.gov" || got.Query().Get("state") != "abc" || got.Query().Get("verification_session_id") != "vs_1" {
		t.Errorf("ReturnTo %s", s.ReturnTo())
	}
	for _, u := range []string{"", "http://[::1"} {
		if r := (&verification.Session{ID: "vs_1", ReturnURL: u}).ReturnTo(); r != "" {
			t.Errorf("ReturnTo of %q = %q", u, r)
		}
	}
}

// A session's expiry timer follows its expiry: set when it is created,
// moved when the link is opened; when it fires at the expiry of a session
// still active, the session ends as expired and its webhook is delivered.
func TestExpiryTimerEndsAndDelivers(t *testing.T) {
	t.Parallel()
	h := newHosted(t, nil)
	unused, _ := create(t, h.svc, as("idp"))
	sess, token := create(t, h.svc, as("idp"))
	if got := h.out.timer(sess.ID); len(got) != 1 || !got[0].Equal(sess.ExpiresAt) {
		t.Fatalf("expiry timer at %v, want %v", got, sess.ExpiresAt)
	}
	opened, err := h.svc.Redeem(context.Background(), sess.ID, token)
	if err != nil {
		t.Fatal(err)
	}
	if got := h.out.timer(sess.ID); len(got) != 2 || !got[1].Equal(opened.ExpiresAt) {
		t.Fatalf("expiry timer after the link %v, want moved to %v", got, opened.ExpiresAt)
	}
	h.start()
	h.clk.Advance(10 * time.Minute)
	reqs := h.receiver.WaitFor(t, 10*time.Second, "expired webhook", func(r []webhooktest.Request) bool { return len(r) >= 1 })
	var body struct {
		Type string
		Data verification.View
	}
	if err := json.Unmarshal(reqs[0].Body, &body); err != nil {
		t.Fatal(err)
	}
	if body.Type != webhook.EventSessionExpired || body.Data.ID != unused.ID || body.Data.Status != verification.StatusExpired ||
		body.Data.EndedAt == nil || !body.Data.EndedAt.Equal(unused.ExpiresAt) {
		t.Fatalf("webhook %s", reqs[0].Body)
	}
	// Stored as expired: the link is gone, the pages are told it ended.
	if _, err := h.svc.Active(context.Background(), unused.ID); proofline.ErrorCode(err) != proofline.EGONE {
		t.Errorf("expired session active: %v", err)
	}
	eventually(t, "the expiry logged", func() bool { return len(h.logs.Lines(t, "verification session expired")) == 1 })
	if s, _ := h.svc.Get(as("idp"), sess.ID); s.Status != verification.StatusInProgress {
		t.Errorf("the opened session at the link's expiry: %s", s.Status)
	}
	if n := len(h.receiver.Requests()); n != 1 {
		t.Errorf("%d webhooks, want only the unused session's", n)
	}
}

// A timer that fires before the session's expiry (its move was lost) runs
// again at the expiry; a webhook that could not be queued when the session
// ended is queued by the timer.
func TestExpiryTimerEarlyAndRetriesWebhook(t *testing.T) {
	t.Parallel()
	h := newHosted(t, nil)
	sess, token := create(t, h.svc, as("idp"))
	if n := len(h.logs.Lines(t, "verification session expiry not scheduled")); n != 0 {
		t.Fatalf("a scheduled timer logged as not scheduled")
	}
	h.out.setFail(errDown)
	if _, err := h.svc.Redeem(context.Background(), sess.ID, token); err != nil {
		t.Fatal(err)
	}
	if len(h.logs.Lines(t, "verification session expiry not scheduled")) != 1 {
		t.Error("no log line for the timer not moved")
	}
	if _, err := h.svc.Fail(context.Background(), sess.ID, verification.StepPhone, verification.FailureAttemptLimit); err != nil {
		t.Fatal(err)
	}
	if len(h.logs.Lines(t, "verification session webhook not queued; the expiry check retries")) != 1 {
		t.Error("no log line for the webhook not queued")
	}
	h.out.setFail(nil)

	early, token2 := create(t, h.svc, as("idp"))
	h.out.setFail(errDown)
	early2, err := h.svc.Redeem(context.Background(), early.ID, token2)
	h.out.setFail(nil)
	if err != nil {
		t.Fatal(err)
	}
	h.start()
	h.clk.Advance(10 * time.Minute) // both timers are still at the links' expiry
	h.receiver.WaitFor(t, 10*time.Second, "failed webhook", func(r []webhooktest.Request) bool {
		for _, q := range r {
			if strings.Contains(string(q.Body), webhook.EventSessionFailed) && strings.Contains(string(q.Body), sess.ID) {
				return true
			}
		}
		return false
	})
	eventually(t, "the early timer put again at the session's expiry", func() bool {
		got := h.out.timer(early.ID)
		return len(got) >= 2 && got[len(got)-1].Equal(early2.ExpiresAt)
	})
	if s, _ := h.svc.Get(as("idp"), early.ID); s.Status != verification.StatusInProgress {
		t.Errorf("session after its early timer: %s", s.Status)
	}
}

// Once its webhook is queued a session is marked so, and the expiry timer
// does not queue it again; a mark that cannot be stored is logged (the
// timer then queues the same webhook again, under the same id).
func TestNotifiedOnce(t *testing.T) {
	t.Parallel()
	h := newHosted(t, nil)
	gone := h.open("idp")
	if _, err := h.svc.Cancel(as("idp"), gone.ID); err != nil {
		t.Fatal(err)
	}
	sess := h.open("idp")
	unmarked := h.open("idp")
	// Ended sessions stay for the hour of retention: these two past their
	// expiry, the one canceled now not (its timer then finds nothing to do).
	h.clk.Advance(30 * time.Minute)
	if _, err := h.svc.Cancel(as("idp"), sess.ID); err != nil {
		t.Fatal(err)
	}
	if n := h.out.queued(sess.ID, verification.StatusCanceled); n != 1 {
		t.Fatalf("canceled webhook queued %d times", n)
	}
	if n := len(h.logs.Lines(t, "verification session webhook queued but not marked")); n != 0 {
		t.Fatalf("a marked session logged as not marked")
	}
	h.out.mu.Lock()
	h.out.onPut = func() { h.drv.set("swap", errDown) } // the store fails once the webhook is queued
	h.out.mu.Unlock()
	if _, err := h.svc.Cancel(as("idp"), unmarked.ID); err != nil {
		t.Fatal(err)
	}
	h.drv.set("swap", nil)
	if n := len(h.logs.Lines(t, "verification session webhook queued but not marked")); n != 1 {
		t.Errorf("%d log lines for the mark not stored, want 1", n)
	}
	h.start()
	h.clk.Advance(30 * time.Minute) // the timers fire at the sessions' expiry
	eventually(t, "the timers done and the webhooks delivered", func() bool {
		h.out.mu.Lock()
		defer h.out.mu.Unlock()
		return h.out.Driver.(*webhook.Memory).Len() == 0
	})
	if n := h.out.queued(sess.ID, verification.StatusCanceled); n != 1 {
		t.Errorf("canceled webhook queued %d times, want once", n)
	}
	if n := h.out.queued(unmarked.ID, verification.StatusCanceled); n != 2 {
		t.Errorf("unmarked canceled webhook queued %d times, want again by the timer", n)
	}
	if n := len(h.out.timer(gone.ID)); n != 2 {
		t.Errorf("the timer of a session gone was put %d times, want only when created and opened", n)
	}
}

// A session prints and logs as its id (and status) only, never its PII.
func TestSessionRedacted(t *testing.T) {
	t.Parallel()
	s := &verification.Session{ID: "vs_1", PersonID: "user-secret", Status: verification.StatusVerified, Metadata: map[string]string{"k": "meta-secret"},
		Results: map[verification.Step]*verification.StepResult{verification.StepPhone: {Applicant: json.RawMessage(`{"phone":"7035550100"}`)}}}
	var b bytes.Buffer
	slog.New(slog.NewJSONHandler(&b, nil)).Info("x", slog.Any("session", s))
	for _, out := range []string{s.String(), fmt.Sprintf("%v %+v %#v %s %q", s, s, s, s, s), b.String()} {
		if !strings.Contains(out, "vs_1") || strings.Contains(out, "secret") || strings.Contains(out, "7035550100") {
			t.Errorf("session printed as %s", out)
		}
	}
}

// A session that cannot be written (always changed underneath, or the
// store down) is refused as unavailable, not as not found.
func TestUpdateBusyOrDown(t *testing.T) {
	t.Parallel()
	h := newHosted(t, nil)
	sess := h.open("idp")
	h.drv.set("swap", resultstore.ErrConflict)
	_, err := h.svc.Cancel(as("idp"), sess.ID)
	wantCode(t, err, proofline.EUNAVAILABLE)
	h.drv.set("swap", errDown)
	_, err = h.svc.Cancel(as("idp"), sess.ID)
	wantCode(t, err, proofline.EUNAVAILABLE)
	h.drv.set("swap", nil)
	h.drv.set("get", errDown)
	_, err = h.svc.Cancel(as("idp"), sess.ID)
	wantCode(t, err, proofline.EUNAVAILABLE)
	_, err = h.svc.Get(as("idp"), sess.ID)
	wantCode(t, err, proofline.EUNAVAILABLE)
	h.drv.set("get", nil)
	h.drv.set("create", errDown)
	_, err = h.svc.Create(as("idp"), verification.CreateRequest{PersonID: "u", ReturnURL: "https://idp.example.gov/back"})
	wantCode(t, err, proofline.EUNAVAILABLE)
	_, err = h.svc.StartDemo(context.Background(), nil)
	wantCode(t, err, proofline.EUNAVAILABLE)
	h.drv.set("create", nil)
	if s, err := h.svc.Get(as("idp"), sess.ID); err != nil || s.Status != verification.StatusInProgress {
		t.Errorf("after the failures: %+v %v", s, err)
	}
}

// A tenant's session stays readable for Retention after its expiry; the
// demo's, which nobody reads, for a minute.
func TestRetention(t *testing.T) {
	t.Parallel()
	h := newHosted(t, nil)
	sess, _ := create(t, h.svc, as("idp"))
	demo, _ := h.svc.StartDemo(context.Background(), nil)
	h.clk.Advance(10*time.Minute + 59*time.Minute)
	if s, err := h.svc.Get(as("idp"), sess.ID); err != nil || s.Status != verification.StatusExpired {
		t.Errorf("59 min after the link's expiry: %+v %v", s, err)
	}
	_, err := h.svc.Active(context.Background(), demo.ID)
	wantCode(t, err, proofline.ENOTFOUND) // its hour and a minute are over
	h.clk.Advance(time.Minute)
	_, err = h.svc.Get(as("idp"), sess.ID)
	wantCode(t, err, proofline.ENOTFOUND)

	d2, _ := h.svc.StartDemo(context.Background(), nil)
	h.clk.Advance(time.Hour + 59*time.Second)
	_, err = h.svc.Active(context.Background(), d2.ID)
	wantCode(t, err, proofline.EGONE)
	h.clk.Advance(time.Second)
	_, err = h.svc.Active(context.Background(), d2.ID)
	wantCode(t, err, proofline.ENOTFOUND)
}
