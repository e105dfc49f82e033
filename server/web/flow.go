package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/proofline/proofline"
	"github.com/proofline/proofline/blobstore"
	"github.com/proofline/proofline/proofing"
	"github.com/proofline/proofline/proofing/attempts"
	"github.com/proofline/proofline/proofing/verification"
	"github.com/proofline/proofline/tenant"
	"net/netip"
)

// location is where the person belongs now.
func (h *Handler) location(s *session) string {
	switch {
	case s.Pending != nil:
		return "/verify/wait"
	case s.Screen == screenTimeout:
		return "/verify/timeout"
	case s.Screen == screenError:
		return "/verify/error"
	case s.Screen == screenLimit:
		return "/verify/limit"
	case s.Screen == screenBusy:
		return "/verify/busy"
	case s.Step != stepDone && s.Step != stepStart && h.limited(s):
		return "/verify/limit"
	}
	switch s.Step {
	case stepDocument:
		return "/verify/document"
	case stepInfo:
		return "/verify/info"
	case stepPhone:
		return "/verify/phone"
	case stepDone:
		return "/verify/done"
	}
	return "/"
}

func (h *Handler) limited(s *session) bool {
	return s.failuresSince(h.opts.Now(), h.opts.AttemptWindow) >= h.opts.MaxAttempts
}

// at redirects the person to where they belong unless that is path.
func (h *Handler) at(q *request, path string) bool {
	if loc := h.location(q.s); loc != path {
		h.redirect(q, loc)
		return false
	}
	return true
}

// takeErrors returns the errors of the last attempt and clears them.
func takeErrors(s *session) map[string][]string {
	e := s.Errors
	s.Errors = nil
	return e
}

func (h *Handler) start(q *request) {
	h.render(q, http.StatusOK, "start", view{Title: q.T("start.title"), Data: map[string]any{
		"InProgress": q.s.Step != stepStart, "Continue": h.location(q.s),
	}})
}

// postStart starts over: the session is revoked and a new one begins. A
// hosted verification session starts its steps again (the person keeps
// working on it); otherwise the demo creates a verification session of its
// own.
func (h *Handler) postStart(q *request) {
	if q.s.Pending != nil {
		_ = h.svc.Forget(q.r.Context(), q.s.Pending.ResultID)
	}
	old := q.s
	var vs *verification.Session
	var err error
	if old.VS != "" && old.ReturnURL != "" {
		if vs, err = h.vs.Active(q.r.Context(), old.VS); err == nil {
			err = h.vs.Restart(q.r.Context(), old.VS)
		}
		if code := proofline.ErrorCode(err); code == proofline.EGONE || code == proofline.ENOTFOUND {
			h.ended(q)
			return
		}
	} else {
		vs, err = h.vs.StartDemo(q.r.Context(), nil)
	}
	if err != nil {
		h.serviceError(q, err)
		return
	}
	if !h.revoke(q) {
		return
	}
	s := bind(vs, old.ID)
	s.Liveness, s.Failures = q.r.PostForm.Get("liveness") == "on", old.Failures
	if s.Locale == "" {
		s.Locale = q.l.Code // the language the person has been reading
	}
	q.use(s)
	h.redirect(q, h.location(q.s))
}

// documentView is what the document page needs.
type documentView struct {
	Sides []sideView
	AAD   bool
	// MaxBytes is the largest photo the page encrypts and uploads (the
	// ciphertext adds 16 bytes); Limits says so in words.
	MaxBytes int64
	Limits   string
	// Accept is the file inputs' accept: images, and in the sandbox the
	// mock vendor's YAML too (Sandbox).
	Accept  string
	Sandbox bool
}

type sideView struct {
	Side, Label, Hint, PreviewAlt string
	// Capture is the camera a phone opens: "environment" (the back
	// camera) for the ID, "user" for the selfie.
	Capture string
	Errors  []string
}

// sides are the photos the session's document step asks for.
func (s *session) sides() []blobstore.Side {
	if s.Liveness {
		return []blobstore.Side{blobstore.SideFront, blobstore.SideBack, blobstore.SideSelfie}
	}
	return []blobstore.Side{blobstore.SideFront, blobstore.SideBack}
}

// document shows the capture form. It mints no capture: app.js asks for
// one (postCapture) when the person chooses the first photo.
func (h *Handler) document(q *request) {
	if !h.at(q, "/verify/document") {
		return
	}
	origins, err := h.uploadCSP(q.r.Context())
	if err != nil {
		h.serviceError(q, err)
		return
	}
	errs := h.translate(q, takeErrors(q.s))
	v := documentView{AAD: BindImageAAD, MaxBytes: h.opts.MaxImageBytes - 16, Accept: "image/*", Sandbox: h.opts.SandboxDocuments}
	v.Limits = q.T("document.limits", formatBytes(q.l, v.MaxBytes))
	if v.Sandbox {
		v.Accept = "image/*,.yaml,.yml"
	}
	var fields []string
	for _, side := range q.s.sides() {
		sd := string(side)
		sv := sideView{Side: sd, Label: q.T("document." + sd + "_label"), Hint: q.T("document." + sd + "_hint"),
			PreviewAlt: q.T("document." + sd + "_preview"), Capture: "environment", Errors: errs[sd]}
		if side == blobstore.SideSelfie {
			sv.Capture = "user"
		}
		v.Sides = append(v.Sides, sv)
		fields = append(fields, sd)
	}
	q.w.Header().Set("Content-Security-Policy", csp(origins, h.imgSrc, "blob:"))
	h.render(q, http.StatusOK, "document", view{Title: q.T("document.title"), Step: 1, Errors: errs, Fields: fields, Data: v})
}

// uploadCSP returns the origins of the blob store's upload URLs, which the
// document page's connect-src must allow before it has a capture. They are
// learned once by presigning a probe capture (signing only: nothing is
// stored, and its URLs are never handed out).
func (h *Handler) uploadCSP(ctx context.Context) ([]string, error) {
	h.uploadMu.Lock()
	defer h.uploadMu.Unlock()
	if h.uploadOrigins != nil {
		return h.uploadOrigins, nil
	}
	c, err := h.svc.NewCapture(ctx)
	if err != nil {
		return nil, err
	}
	origins := []string{}
	for _, up := range c.Uploads {
		if u, err := url.Parse(up.URL); err == nil && u.Host != "" && !slices.Contains(origins, u.Scheme+"://"+u.Host) {
			origins = append(origins, u.Scheme+"://"+u.Host)
		}
	}
	slices.Sort(origins)
	h.uploadOrigins = origins
	return origins, nil
}

// uploadView is one side's upload as postCapture answers it.
type uploadView struct {
	URL       string            `json:"url"`
	Method    string            `json:"method"`
	Fields    map[string]string `json:"fields,omitempty"`
	ObjectURL string            `json:"object_url"`
}

// postCapture creates the session's one live capture when the person starts
// uploading (app.js posts here when the first photo is chosen). It ends the
// session's previous capture, if any (its images are deleted, its upload
// slots released), then holds one upload slot per side for the session and
// for the client IP until the capture's images would be swept, and answers
// the upload URLs as JSON. Past a bound it answers 429 and sends the person
// to the busy page; off the document step, 409 with where to go.
func (h *Handler) postCapture(q *request) {
	if loc := h.location(q.s); loc != "/verify/document" {
		h.json(q, http.StatusConflict, map[string]any{"location": loc})
		return
	}
	ctx := q.r.Context()
	h.endCapture(q)
	c, err := h.svc.NewCapture(ctx)
	if err != nil {
		h.captureRefused(q, err)
		return
	}
	sides := q.s.sides()
	deadline := c.ExpiresAt.Add(h.opts.UploadHold)
	who := attempts.Subject{PersonID: "session:" + q.s.ID, ClientIP: clientIP(q.r, h.opts.ClientIPHeader)}
	var keys attempts.Keys
	for i, side := range sides {
		k, err := h.uploads.Reserve(ctx, who, blobstore.Key(c.ID, side), deadline)
		if err != nil {
			for _, prev := range sides[:i] {
				h.uploads.Finish(context.WithoutCancel(ctx), keys, blobstore.Key(c.ID, prev), false)
			}
			h.captureRefused(q, err)
			return
		}
		keys = k
	}
	q.s.CaptureID, q.s.CaptureSlots = c.ID, keys
	out := map[string]any{"capture_id": c.ID}
	ups := map[string]uploadView{}
	for _, side := range sides {
		up := c.Uploads[side]
		ups[string(side)] = uploadView{URL: up.URL, Method: up.Method, Fields: up.Fields, ObjectURL: up.ObjectURL}
	}
	out["uploads"] = ups
	h.log.LogAttrs(ctx, slog.LevelInfo, "web capture created", slog.String("capture_id", c.ID), slog.Int("sides", len(sides)))
	h.json(q, http.StatusOK, out)
}

// captureRefused answers a capture that could not be made: 429 and the
// busy page past an upload bound, the service error page otherwise.
func (h *Handler) captureRefused(q *request, err error) {
	if proofline.ErrorCode(err) == proofline.ELIMIT {
		h.log.LogAttrs(q.r.Context(), slog.LevelWarn, "web capture refused: upload bound")
		q.s.Screen = screenBusy
		h.json(q, http.StatusTooManyRequests, map[string]any{"location": "/verify/busy"})
		return
	}
	h.log.LogAttrs(q.r.Context(), slog.LevelWarn, "web: capture not created", slog.String("code", proofline.ErrorCode(err)))
	q.s.Screen = screenError
	h.json(q, http.StatusServiceUnavailable, map[string]any{"location": "/verify/error"})
}

// endCapture ends the session's live capture, if any: its images are
// deleted and its upload slots released.
func (h *Handler) endCapture(q *request) {
	id := q.s.CaptureID
	if id == "" {
		return
	}
	ctx := context.WithoutCancel(q.r.Context())
	h.svc.DiscardCapture(ctx, id)
	h.releaseCapture(q)
}

// releaseCapture releases the upload slots of the session's capture and
// forgets it (its images now belong to a job, or are gone).
func (h *Handler) releaseCapture(q *request) {
	ctx := context.WithoutCancel(q.r.Context())
	for _, side := range blobstore.Sides() {
		h.uploads.Finish(ctx, q.s.CaptureSlots, blobstore.Key(q.s.CaptureID, side), false)
	}
	q.s.CaptureID, q.s.CaptureSlots = "", nil
}

// json saves the session and writes v as JSON with status.
func (h *Handler) json(q *request, status int, v any) {
	if err := h.ss.save(q.r.Context(), q.w, q.s); err != nil {
		h.saveFailed(q, err)
		return
	}
	b, err := json.Marshal(v)
	if err != nil {
		h.fail(q, err)
		return
	}
	q.w.Header().Set("Content-Type", "application/json")
	q.w.WriteHeader(status)
	_, _ = q.w.Write(append(b, '\n'))
}

func (h *Handler) postDocument(q *request) {
	if !h.at(q, "/verify/document") || !h.active(q) {
		return
	}
	f := q.r.PostForm
	if q.s.CaptureID == "" || f.Get("capture_id") != q.s.CaptureID {
		q.s.Errors = map[string][]string{"general": {"document.err_expired_page"}}
		h.redirect(q, "/verify/document")
		return
	}
	req := proofing.DocumentRequest{
		CaptureID: q.s.CaptureID, EncryptionKey: f.Get("encryption_key"),
		FrontImageURL: f.Get("front_image_url"), FrontImageIV: f.Get("front_image_iv"),
		BackImageURL: f.Get("back_image_url"), BackImageIV: f.Get("back_image_iv"),
		LivenessCheckingEnabled: q.s.Liveness, AADBinding: BindImageAAD,
	}
	if q.s.Liveness {
		req.SelfieImageURL, req.SelfieImageIV = f.Get("selfie_image_url"), f.Get("selfie_image_iv")
	}
	req.Attempt = h.attempt(q)
	st, err := h.svc.StartDocument(q.r.Context(), req)
	// Started or refused, the capture is over: a started job owns its
	// images, and a refused start deleted them.
	h.releaseCapture(q)
	if err != nil {
		var v *proofline.ValidationError
		if errors.As(err, &v) {
			q.s.Errors = documentFieldErrors(v)
			h.redirect(q, "/verify/document")
			return
		}
		h.serviceError(q, err)
		return
	}
	h.started(q, st)
}

// documentFieldErrors maps the validation errors of a document start to the
// page's fields (front, back, selfie, general), as message keys.
func documentFieldErrors(v *proofline.ValidationError) map[string][]string {
	out := map[string][]string{}
	for _, f := range v.Fields {
		field := "general"
		for _, side := range []string{"front", "back", "selfie"} {
			if strings.HasPrefix(f.Field, side+"_") {
				field = side
			}
		}
		msg := "document.err_not_uploaded"
		if field == "general" {
			msg = "document.err_not_sent"
		}
		if len(out[field]) == 0 {
			out[field] = append(out[field], msg)
		}
	}
	return out
}

// started records the attempt in the session and sends the person to wait.
func (h *Handler) started(q *request, st *proofing.Started) {
	q.s.Pending = &pending{Kind: st.Kind, ResultID: st.ResultID, Deadline: st.Deadline}
	q.s.Errors = nil
	h.log.LogAttrs(q.r.Context(), slog.LevelInfo, "web attempt started",
		slog.String("kind", string(st.Kind)), slog.String("result_id", st.ResultID))
	h.redirect(q, "/verify/wait")
}

// serviceError shows "we could not reach the service" for an error starting
// an attempt (queue full, store down); it does not count as an attempt.
func (h *Handler) serviceError(q *request, err error) {
	if proofline.ErrorCode(err) == proofline.ELIMIT {
		h.limitReached(q)
		return
	}
	h.log.LogAttrs(q.r.Context(), slog.LevelWarn, "web: service error", slog.String("code", proofline.ErrorCode(err)))
	q.s.Screen = screenError
	h.redirect(q, "/verify/error")
}

// attempt names this person for the service's shared attempt limits: the
// verification session's person_id (a new cookie is the same person) and the
// client address.
func (h *Handler) attempt(q *request) proofing.Attempt {
	return proofing.Attempt{PersonID: q.s.PersonID, ClientIP: clientIP(q.r, h.opts.ClientIPHeader)}
}

// clientIP is the right-most address of header (the one our own load
// balancer added; entries left of it are the client's word) or the
// connection's remote address.
func clientIP(r *http.Request, header string) string {
	if header != "" {
		if v := r.Header.Values(header); len(v) > 0 {
			parts := strings.Split(v[len(v)-1], ",")
			if ip, err := netip.ParseAddr(strings.TrimSpace(parts[len(parts)-1])); err == nil {
				return ip.Unmap().String()
			}
		}
	}
	if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
		return ap.Addr().Unmap().String()
	}
	return ""
}

// waitView is what the waiting page needs.
type waitView struct {
	EventsURL, StatusURL, Next string
	PollMS                     int64
	// Message is what is being waited for; Checks what is being checked.
	Message string
	Checks  []string
	// The time budget: all of it and what is left (app.js counts down
	// from LeftMS), in milliseconds and in words.
	LeftMS, BudgetMS int64
	BudgetS, WaitedS int64
	Left, Budget     string
}

func (h *Handler) wait(q *request) {
	p := q.s.Pending
	if p == nil {
		h.redirect(q, h.location(q.s))
		return
	}
	o, err := h.svc.Outcome(q.r.Context(), p.ResultID)
	if err != nil && proofline.ErrorCode(err) != proofline.ENOTFOUND {
		h.serviceError(q, err)
		return
	}
	if err == nil && o.Status == proofline.StatusPending {
		budget := h.opts.WaitBudget
		left := min(max(p.Deadline.Sub(h.opts.Now()), 0), budget)
		v := waitView{
			StatusURL: "/verify/status/" + p.ResultID, Next: "/verify/wait",
			PollMS: h.opts.PollInterval.Milliseconds(), Message: q.T(waitMessage(p.Kind)), Checks: waitChecks(q, p.Kind),
			LeftMS: left.Milliseconds(), BudgetMS: budget.Milliseconds(),
			BudgetS: int64(budget / time.Second), WaitedS: int64((budget - left) / time.Second),
		}
		v.Left = q.T("wait.left", int64((left+time.Second-1)/time.Second))
		v.Budget = q.T("wait.budget", v.BudgetS)
		if !h.opts.DisablePush {
			v.EventsURL = "/verify/events/" + p.ResultID
		}
		h.render(q, http.StatusOK, "wait", view{Title: q.T("wait.title"), Refresh: int(h.opts.PollInterval / time.Second), Step: stepNumber(p.Kind), Data: v})
		return
	}
	if h.apply(q, o) {
		h.redirect(q, h.location(q.s))
	}
}

func waitMessage(k proofline.Kind) string {
	switch k {
	case proofline.KindDocument:
		return "wait.message_document"
	case proofline.KindResolution:
		return "wait.message_resolution"
	}
	return "wait.message_address"
}

// waitChecks say what the vendors check for an attempt of kind k.
func waitChecks(q *request, k proofline.Kind) []string {
	var keys []string
	switch k {
	case proofline.KindDocument:
		keys = []string{"wait.check_genuine", "wait.check_read"}
		if q.s.Liveness {
			keys = append(keys, "wait.check_selfie")
		}
	case proofline.KindResolution:
		keys = []string{"wait.check_records", "wait.check_dmv"}
	default:
		keys = []string{"wait.check_phone"}
	}
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = q.T(k)
	}
	return out
}

func stepNumber(k proofline.Kind) int {
	switch k {
	case proofline.KindDocument:
		return 1
	case proofline.KindResolution:
		return 2
	}
	return 3
}

// stepBar is the step bar's position of the session's step.
func stepBar(s *session) int {
	switch s.Step {
	case stepDocument:
		return 1
	case stepInfo:
		return 2
	case stepPhone:
		return 3
	case stepDone:
		return 4
	}
	return 0
}

// apply moves the flow on from the outcome of the pending attempt (nil: the
// record is gone, which reads as a timeout) and forgets the attempt. A
// success is recorded in the verification session; false when that answered
// the request (the session ended, or could not be written).
func (h *Handler) apply(q *request, o *proofline.Outcome) bool {
	p := q.s.Pending
	q.s.Pending = nil
	ctx := q.r.Context()
	_ = h.svc.Forget(context.WithoutCancel(ctx), p.ResultID)
	outcome := "timed_out"
	defer func() {
		h.log.LogAttrs(ctx, slog.LevelInfo, "web attempt finished",
			slog.String("kind", string(p.Kind)), slog.String("result_id", p.ResultID), slog.String("outcome", outcome))
	}()
	if o == nil || o.Status != proofline.StatusDone || o.Result == nil {
		q.s.Screen = screenTimeout
		return true
	}
	r := o.Result
	switch {
	case r.TimedOut:
		q.s.Screen = screenTimeout
		outcome = "vendor_timed_out"
	case r.Exception != nil:
		q.s.Screen = screenError
		outcome = "exception"
	case r.Success:
		outcome = "success"
		switch p.Kind {
		case proofline.KindDocument:
			// The worker's proofer already fails a document that cannot
			// bind an identity; this holds even for one that did not.
			if now := h.opts.Now(); len(r.PIIFromDoc.MissingIdentity(now)) > 0 || r.PIIFromDoc.ExpiredBefore(now) {
				outcome = "failure"
				q.s.Failures = append(q.s.Failures, now.Unix())
				q.s.Errors = map[string][]string{"general": {msgDocumentUnusable}}
				return true
			}
			q.s.Doc = personOfDoc(r.PIIFromDoc)
			q.s.Person = nil
		}
		if !h.succeeded(q, p, r) {
			return false
		}
		q.s.Step = q.s.next(q.s.Step)
	default:
		outcome = "failure"
		q.s.Failures = append(q.s.Failures, h.opts.Now().Unix())
		q.s.Errors = vendorErrors(p.Kind, r.Errors)
	}
	return true
}

// bound returns the session's pending attempt when the path's result_id is
// bound to it; anything else is 404.
func (h *Handler) bound(w http.ResponseWriter, r *http.Request) (*pending, context.Context, bool) {
	s, err := h.ss.load(r)
	if err != nil {
		h.unavailable(w, r, h.langOf(r, nil), err)
		return nil, nil, false
	}
	id := r.PathValue("result_id")
	if s.Pending == nil || !proofline.TokenEqual(id, s.Pending.ResultID) {
		http.NotFound(w, r)
		return nil, nil, false
	}
	return s.Pending, tenant.With(r.Context(), s.Tenant), true
}

// events pushes one "outcome" event (server-sent events) when the bound
// attempt is no longer pending, or at its deadline. The page then loads
// /verify/wait, which applies the outcome.
func (h *Handler) events(w http.ResponseWriter, r *http.Request) {
	if h.opts.DisablePush {
		http.NotFound(w, r)
		return
	}
	p, tctx, ok := h.bound(w, r)
	if !ok {
		return
	}
	rc := http.NewResponseController(w)
	end := p.Deadline.Add(2 * time.Second)
	// A page that connects after the deadline (it reconnected late, or a
	// laptop woke up) still gets its event: a write deadline already past
	// would close the connection before any byte.
	_ = rc.SetWriteDeadline(later(end, time.Now().Add(5*time.Second)).Add(5 * time.Second))
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	_, _ = fmt.Fprint(w, "retry: 1000\n: waiting\n\n")
	if rc.Flush() != nil {
		return
	}
	ctx, cancel := context.WithDeadline(tctx, end)
	defer cancel()
	_, err := h.svc.WaitOutcome(ctx, p.ResultID, h.opts.PollInterval)
	if r.Context().Err() != nil {
		return // the page went away
	}
	state := "ready"
	if err != nil && proofline.ErrorCode(err) != proofline.ENOTFOUND && !errors.Is(err, context.DeadlineExceeded) {
		state = "error"
	}
	_, _ = fmt.Fprintf(w, "event: outcome\ndata: {\"state\":%q}\n\n", state)
	_ = rc.Flush()
}

// status answers the polling fallback: {"state":"pending"} or {"state":"ready"}.
func (h *Handler) status(w http.ResponseWriter, r *http.Request) {
	p, tctx, ok := h.bound(w, r)
	if !ok {
		return
	}
	state := "ready"
	if o, err := h.svc.Outcome(tctx, p.ResultID); err == nil && o.Status == proofline.StatusPending {
		state = "pending"
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = fmt.Fprintf(w, "{\"state\":%q}\n", state)
}

// infoFields are the fields of the information form, in order: the
// residential address and the SSN. Names, date of birth and the ID's number,
// state and type are the document's (fromID), shown but not editable. The
// label is the message label.{name}, the hint hint.{name} when Hint is set.
var infoFields = []fieldSpec{
	{Name: "address1", Auto: "address-line1"},
	{Name: "address2", Auto: "address-line2"},
	{Name: "city", Auto: "address-level2"},
	{Name: "state", Auto: "address-level1", Hint: true, Caps: true, NoSpell: true},
	{Name: "zipcode", Auto: "postal-code", Hint: true, InputMode: "numeric", NoSpell: true, Class: "short"},
	// Masked (type password) with a show checkbox; autocomplete off so that
	// no browser offers to keep it.
	{Name: "ssn", Auto: "off", Hint: true, InputMode: "numeric", Type: "password", NoSpell: true, Toggle: true, Class: "short"},
}

// phoneField is the phone form's one field: type tel brings up the phone
// keypad.
var phoneField = fieldSpec{Name: "phone", Auto: "tel", Hint: true, InputMode: "tel", Type: "tel", NoSpell: true, Class: "short"}

// fieldSpec is how a form field is shown.
type fieldSpec struct {
	Name, Auto, InputMode, Type, Class string
	Hint, Caps, NoSpell, Toggle        bool
	// Optional labels the field "(optional)" (common.optional_label).
	Optional bool
	// Date is a date of three numeric inputs in one fieldset (dateParts).
	Date bool
}

// fromID are the facts the document binds, as the information page shows
// them (labels label.{name}). A POST that carries any of them with another
// value is refused.
var fromID = []string{"first_name", "middle_name", "last_name", "dob", "state_id_number", "state_id_jurisdiction", "state_id_type"}

// Messages of the information step (keys).
const (
	// msgNotYourID: a POST carried a name, date of birth or ID field that
	// differs from the ID.
	msgNotYourID = "info.err_not_your_id"
	// msgDocumentUnusable: the document result cannot bind an identity.
	msgDocumentUnusable = "document.err_unusable"
)

// idTypes are the state_id_type values with words of their own
// (id_type.{value}).
var idTypes = []string{"drivers_license", "drivers_permit", "state_id_card", "identification_card"}

type fieldView struct {
	// Parts are a date's inputs (day, month, year in the language's
	// order); the field is then a fieldset whose legend is Label.
	Parts                          []datePart
	Name, Label, Auto, Hint, Value string
	InputMode, Type, Class         string
	Caps, NoSpell                  bool
	// Toggle is the label of the checkbox that shows a masked value.
	Toggle      string
	Errors      []string
	ErrorPrefix string
}

// fieldView is f as the page shows it, in the request's language.
func (q *request) fieldView(f fieldSpec, value string, errs []string) fieldView {
	v := fieldView{Name: f.Name, Label: q.T("label." + f.Name), Auto: f.Auto, Value: value, InputMode: f.InputMode,
		Type: f.Type, Class: f.Class, Caps: f.Caps, NoSpell: f.NoSpell, Errors: errs, ErrorPrefix: q.T("common.error_prefix")}
	if v.Type == "" {
		v.Type = "text"
	}
	if f.Optional {
		v.Label = q.T("common.optional_label", v.Label)
	}
	if f.Date {
		v.Parts = q.dateParts(f.Name, value)
	}
	if f.Hint {
		v.Hint = q.T("hint." + f.Name)
	}
	if f.Toggle {
		v.Toggle = q.T("show." + f.Name)
	}
	return v
}

// field is the person's field of a form name, or nil for another name.
func (p *person) field(name string) *string {
	return map[string]*string{
		"first_name": &p.FirstName, "middle_name": &p.MiddleName, "last_name": &p.LastName,
		"dob": &p.DOB, "address1": &p.Address1, "address2": &p.Address2, "city": &p.City,
		"state": &p.State, "zipcode": &p.Zipcode, "ssn": &p.SSN, "phone": &p.Phone,
		"state_id_number": &p.StateIDNumber, "state_id_jurisdiction": &p.StateIDJurisdiction,
		"state_id_type": &p.StateIDType,
	}[name]
}

func (p *person) get(name string) string {
	if f := p.field(name); f != nil {
		return *f
	}
	return ""
}

func (p *person) set(name, v string) {
	if f := p.field(name); f != nil {
		*f = v
	}
}

// general collects errors that belong to no field of the form, in a stable
// order.
func general(errs map[string][]string, fields ...string) []string {
	var keys []string
	for k := range errs {
		if !slices.Contains(fields, k) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	var out []string
	for _, k := range keys {
		for _, m := range errs[k] {
			if !slices.Contains(out, m) {
				out = append(out, m)
			}
		}
	}
	return out
}

// translate turns the message keys of errs into the request's language.
func (h *Handler) translate(q *request, errs map[string][]string) map[string][]string {
	out := make(map[string][]string, len(errs))
	for f, keys := range errs {
		for _, k := range keys {
			if m := q.T(k); !slices.Contains(out[f], m) {
				out[f] = append(out[f], m)
			}
		}
	}
	// A message the summary shows for a field is not repeated as general.
	if g := out["general"]; len(g) > 0 {
		var kept []string
		for _, m := range g {
			dup := false
			for f, msgs := range out {
				dup = dup || (f != "general" && slices.Contains(msgs, m))
			}
			if !dup {
				kept = append(kept, m)
			}
		}
		out["general"] = kept
	}
	return out
}

// infoView is what the information page needs.
type infoView struct {
	FromID []fieldView // read-only
	Fields []fieldView // the form
}

func (h *Handler) info(q *request) {
	if !h.at(q, "/verify/info") {
		return
	}
	if q.s.Doc == nil && q.s.has(verification.StepDocument) {
		h.redirect(q, "/")
		return
	}
	p := q.s.Person
	if p == nil {
		p = q.s.Doc
	}
	if p == nil {
		p = &person{}
	}
	h.renderInfo(q, http.StatusOK, p, takeErrors(q.s))
}

// identityFields are the information form's fields for a session without a
// document step: with no ID to read them from, the person gives the names
// and date of birth too.
var identityFields = []fieldSpec{
	{Name: "first_name", Auto: "given-name", NoSpell: true},
	{Name: "middle_name", Auto: "additional-name", NoSpell: true, Optional: true},
	{Name: "last_name", Auto: "family-name", NoSpell: true},
	{Name: "dob", Hint: true, Date: true},
}

// formFields are the information form's fields of session s.
func formFields(s *session) []fieldSpec {
	if s.Doc != nil {
		return infoFields
	}
	return append(append([]fieldSpec{}, identityFields...), infoFields...)
}

// renderInfo shows the ID's facts from the session's Doc and the form with
// p's address and SSN; errs are message keys by field.
func (h *Handler) renderInfo(q *request, status int, p *person, keys map[string][]string) {
	doc := q.s.Doc
	var v infoView
	for _, name := range fromID {
		if doc == nil {
			break
		}
		val := doc.get(name)
		if name == "state_id_type" && slices.Contains(idTypes, val) {
			val = q.T("id_type." + val)
		}
		if val == "" && name == "middle_name" {
			continue
		}
		v.FromID = append(v.FromID, fieldView{Name: name, Label: q.T("label." + name), Value: val})
	}
	var names []string
	fields := formFields(q.s)
	for _, f := range fields {
		names = append(names, f.Name)
	}
	errs := h.translate(q, keys)
	errs["general"] = general(errs, names...)
	for _, f := range fields {
		val := p.get(f.Name)
		if f.Name == "ssn" {
			val = "" // the SSN never goes back into a page: the person enters it again
		}
		v.Fields = append(v.Fields, q.fieldView(f, val, errs[f.Name]))
	}
	h.render(q, status, "info", view{Title: q.T("info.title"), Step: 2, Errors: errs, Fields: names, Data: v})
}

// postInfo starts the resolution of the ID's person (the session's Doc) at
// the address given, with the SSN given. The form has no input for the
// names, date of birth or ID fields; a POST that carries one with a value
// other than the ID's is refused (400, the form again, nothing started): the
// service binds the applicant to the document and names the field that
// differs. The state-ID (DMV) stage runs whenever the ID's jurisdiction is
// one the DMV vendor supports, and is sent the ID's address.
func (h *Handler) postInfo(q *request) {
	if !h.at(q, "/verify/info") {
		return
	}
	if q.s.Doc == nil && q.s.has(verification.StepDocument) {
		h.redirect(q, "/")
		return
	}
	if !h.active(q) {
		return
	}
	f := q.r.PostForm
	p := &person{}
	dateErrs := map[string]string{}
	for _, n := range formFields(q.s) {
		if n.Date {
			v, key := dateOf(f, n.Name)
			p.set(n.Name, v)
			if key != "" {
				dateErrs[n.Name] = key
			}
			continue
		}
		p.set(n.Name, f.Get(n.Name))
	}
	a := p.applicant()
	req := proofing.ResolutionRequest{Attempt: h.attempt(q), Applicant: a}
	if q.s.Doc != nil {
		// Whatever the POST says about the ID's facts goes to the service,
		// which refuses it unless it is what the ID says.
		for _, name := range fromID {
			if v := f.Get(name); v != "" {
				*applicantField(&req.Applicant, name) = proofline.PII(v)
			}
		}
		req.Document = q.s.Doc.documentPII()
	}
	st, err := h.svc.StartResolution(q.r.Context(), req)
	if err != nil {
		var v *proofline.ValidationError
		if errors.As(err, &v) {
			errs := infoErrors(v, q.s.Doc != nil)
			for name, key := range dateErrs {
				errs[name] = []string{key} // what is wrong with the parts, in the pattern's words
			}
			h.renderInfo(q, http.StatusBadRequest, p, errs)
			return
		}
		h.serviceError(q, err)
		return
	}
	// What was proofed: the ID's identity with the address and SSN given,
	// normalized as the service did (SSN with dashes, upper-case state, ...).
	bound := person{}
	if q.s.Doc != nil {
		bound = *q.s.Doc
	}
	for _, n := range formFields(q.s) {
		bound.set(n.Name, p.get(n.Name))
	}
	ba := bound.applicant()
	var v proofline.ValidationError
	ba.Validate(proofline.ApplicantRules{RequireIdentity: true}, h.opts.Now(), "", &v)
	q.s.Person = personOf(ba)
	h.started(q, st)
}

// applicantField is the applicant's field of one of the fromID names.
func applicantField(a *proofline.Applicant, name string) *proofline.PII {
	return map[string]*proofline.PII{
		"first_name": &a.FirstName, "middle_name": &a.MiddleName, "last_name": &a.LastName, "dob": &a.DOB,
		"state_id_number": &a.StateIDNumber, "state_id_jurisdiction": &a.StateIDJurisdiction, "state_id_type": &a.StateIDType,
	}[name]
}

// infoErrors are the information form's errors of a refused start (message
// keys): a field that differs from the ID, or a document that cannot bind,
// is one general message; the others stay on their fields. Without an ID
// (withID false) the names and date of birth are the form's own fields,
// and their errors stay on them.
func infoErrors(v *proofline.ValidationError, withID bool) map[string][]string {
	out := map[string][]string{}
	for _, f := range v.Fields {
		switch {
		case !withID && slices.ContainsFunc(identityFields, func(s fieldSpec) bool { return s.Name == f.Field }):
			out[f.Field] = append(out[f.Field], validationKey(f))
		case f.Message == proofing.MsgDoesNotMatch:
			if !slices.Contains(out["general"], msgNotYourID) {
				out["general"] = append(out["general"], msgNotYourID)
			}
		case applicantField(&proofline.Applicant{}, f.Field) != nil || f.Field == proofing.FieldDocument:
			if !slices.Contains(out["general"], msgDocumentUnusable) {
				out["general"] = append(out["general"], msgDocumentUnusable)
			}
		default:
			out[f.Field] = append(out[f.Field], validationKey(f))
		}
	}
	return out
}

func fieldErrors(v *proofline.ValidationError) map[string][]string {
	out := map[string][]string{}
	for _, f := range v.Fields {
		out[f.Field] = append(out[f.Field], validationKey(f))
	}
	return out
}

func (h *Handler) phone(q *request) {
	if !h.at(q, "/verify/phone") {
		return
	}
	val := ""
	if q.s.Person != nil {
		val = q.s.Person.Phone
	}
	h.renderPhone(q, http.StatusOK, val, takeErrors(q.s))
}

func (h *Handler) renderPhone(q *request, status int, val string, keys map[string][]string) {
	errs := h.translate(q, keys)
	errs["general"] = general(errs, "phone")
	f := q.fieldView(phoneField, val, errs["phone"])
	h.render(q, status, "phone", view{Title: q.T("phone.title"), Step: 3, Errors: errs, Fields: []string{"phone"}, Data: f})
}

func (h *Handler) postPhone(q *request) {
	if !h.at(q, "/verify/phone") || !h.active(q) {
		return
	}
	if q.s.Person == nil {
		// No information step: the phone is proofed for the ID's person
		// (or, with no document either, on its own).
		q.s.Person = &person{}
		if q.s.Doc != nil {
			d := *q.s.Doc
			q.s.Person = &d
		}
	}
	a := q.s.Person.applicant()
	a.Phone = proofline.PII(q.r.PostForm.Get("phone"))
	st, err := h.svc.StartAddress(q.r.Context(), proofing.AddressRequest{Attempt: h.attempt(q), Applicant: a})
	if err != nil {
		var v *proofline.ValidationError
		if errors.As(err, &v) {
			h.renderPhone(q, http.StatusBadRequest, a.Phone.Reveal(), fieldErrors(v))
			return
		}
		h.serviceError(q, err)
		return
	}
	if d, ok := proofline.NormalizePhone(a.Phone.Reveal()); ok {
		q.s.Person.Phone = d
	}
	h.started(q, st)
}

// done ends the flow: a hosted session goes back to the IdP's return_url;
// the demo shows what was checked, masked. Either way the browser session is
// revoked.
func (h *Handler) done(q *request) {
	if !h.at(q, "/verify/done") {
		return
	}
	if q.s.ReturnURL != "" {
		h.ended(q)
		return
	}
	p := q.s.Person
	if p == nil {
		p = &person{}
	}
	if !h.revoke(q) {
		return
	}
	rows := [][2]string{
		{q.T("label.name"), maskWords(strings.Join(nonEmpty(p.FirstName, p.MiddleName, p.LastName), " "))},
		{q.T("label.dob"), maskDOB(p.DOB)},
		{q.T("label.address"), maskWords(strings.Join(nonEmpty(p.Address1, p.Address2, p.City, p.State), ", "))},
		{q.T("label.zipcode"), maskKeep(p.Zipcode, 3, 0)},
		{q.T("label.ssn"), maskSSN(p.SSN)},
		{q.T("label.phone"), maskPhone(p.Phone)},
	}
	h.render(q, http.StatusOK, "done", view{Title: q.T("done.title"), Step: 4, Data: map[string]any{"Rows": rows}})
}

// screen serves the timeout, service-error and busy screens, with the step
// bar of the step they interrupt.
func (h *Handler) screen(name string) func(*request) {
	return func(q *request) {
		if !h.at(q, "/verify/"+name) {
			return
		}
		status := http.StatusOK
		if name == screenBusy {
			status = http.StatusTooManyRequests
		}
		h.render(q, status, name, view{Title: q.T(name + ".title"), Step: stepBar(q.s)})
	}
}

func (h *Handler) limit(q *request) {
	if !h.at(q, "/verify/limit") {
		return
	}
	if q.s.ReturnURL != "" {
		h.limitReached(q)
		return
	}
	until := h.opts.Now()
	if len(q.s.Failures) > 0 {
		until = time.Unix(q.s.Failures[0], 0).Add(h.opts.AttemptWindow)
	}
	until = until.UTC()
	h.render(q, http.StatusTooManyRequests, "limit", view{Title: q.T("limit.title"), Data: map[string]any{
		"Max": h.opts.MaxAttempts, "Time": until.Format("15:04"), "Day": until.Day(), "Month": q.T("month." + strconv.Itoa(int(until.Month()))),
	}})
}

// postRetry leaves the timeout, error or busy screen for the step's form;
// the next submission is a new attempt with a new result_id.
func (h *Handler) postRetry(q *request) {
	if q.s.Screen != "" && q.s.Pending == nil {
		q.s.Screen = ""
	}
	h.redirect(q, h.location(q.s))
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// datePart is one input of a date field.
type datePart struct {
	ID, Name, Label, Auto, Value, Class string
}

// dateParts are the inputs of date field name holding value (YYYY-MM-DD,
// or what the person typed, year-month-day), in the order of the
// language's date.order (d, m, y). The first input has the field's id, so
// the error summary's link reaches it.
func (q *request) dateParts(name, value string) []datePart {
	y, m, d := splitDate(value)
	parts := map[byte]datePart{
		'd': {Name: name + "_day", Label: q.T("label.date_day"), Auto: "bday-day", Value: d, Class: "w2"},
		'm': {Name: name + "_month", Label: q.T("label.date_month"), Auto: "bday-month", Value: m, Class: "w2"},
		'y': {Name: name + "_year", Label: q.T("label.date_year"), Auto: "bday-year", Value: y, Class: "w4"},
	}
	order := q.T("date.order")
	if len(order) != 3 || !strings.Contains(order, "d") || !strings.Contains(order, "m") || !strings.Contains(order, "y") {
		order = "dmy"
	}
	var out []datePart
	for i := range 3 {
		p := parts[order[i]]
		p.ID = name + "-" + strings.TrimPrefix(p.Name, name+"_")
		if i == 0 {
			p.ID = name
		}
		out = append(out, p)
	}
	return out
}

// splitDate splits year-month-day (either a date the service normalized or
// the parts as typed; a part may be empty).
func splitDate(v string) (y, m, d string) {
	parts := strings.SplitN(v, "-", 3)
	for len(parts) < 3 {
		parts = append(parts, "")
	}
	return parts[0], parts[1], parts[2]
}

// dateOf reads date field name from its three inputs: YYYY-MM-DD when they
// make a real date, else what was typed (year-month-day, which the service
// refuses) and the key of what is wrong, as the GOV.UK date pattern words
// it: nothing entered, a part missing, a year not of 4 numbers, not a real
// date. A date in the future is the service's to refuse.
func dateOf(f url.Values, name string) (string, string) {
	clean := func(s string) string { return strings.TrimSpace(s) }
	d, m, y := clean(f.Get(name+"_day")), clean(f.Get(name+"_month")), clean(f.Get(name+"_year"))
	raw := y + "-" + m + "-" + d
	switch {
	case d == "" && m == "" && y == "":
		return "", "" // the service says it is required
	case d == "":
		return raw, "errors.date_missing_day"
	case m == "":
		return raw, "errors.date_missing_month"
	case y == "":
		return raw, "errors.date_missing_year"
	}
	di, err1 := strconv.Atoi(d)
	mi, err2 := strconv.Atoi(m)
	yi, err3 := strconv.Atoi(y)
	switch {
	case err1 != nil || err2 != nil || err3 != nil || strings.ContainsAny(d+m+y, "+-"):
		return raw, "errors.date_real"
	case len(y) != 4:
		return raw, "errors.date_year_digits"
	}
	t := time.Date(yi, time.Month(mi), di, 0, 0, 0, 0, time.UTC)
	if mi < 1 || mi > 12 || di < 1 || t.Day() != di || t.Month() != time.Month(mi) {
		return raw, "errors.date_real"
	}
	return t.Format(time.DateOnly), ""
}
