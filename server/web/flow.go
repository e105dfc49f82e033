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
	"strings"
	"time"

	"github.com/proofline/proofline"
	"github.com/proofline/proofline/blobstore"
	"github.com/proofline/proofline/proofing"
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
	h.render(q, http.StatusOK, "start", view{Title: "Verify your identity", Data: map[string]any{
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
	q.use(s)
	h.redirect(q, h.location(q.s))
}

// documentView is what the document page needs.
type documentView struct {
	CaptureID string
	Sides     []sideView
	AAD       bool
}

type sideView struct {
	Side, Label, Hint string
	// The upload: URL and Method; Fields (JSON) for a POST form (S3);
	// ObjectURL is what the form submits as the image's URL.
	URL, Method, Fields, ObjectURL string
}

func (h *Handler) document(q *request) {
	if !h.at(q, "/verify/document") {
		return
	}
	c, err := h.svc.NewCapture(q.r.Context())
	if err != nil {
		h.serviceError(q, err)
		return
	}
	q.s.CaptureID = c.ID
	v := documentView{CaptureID: c.ID, AAD: BindImageAAD}
	sides := []sideView{
		{Side: "front", Label: "Front of your ID", Hint: "A photo of the front of your driver's license or state ID."},
		{Side: "back", Label: "Back of your ID", Hint: "A photo of the back, with the barcode."},
	}
	if q.s.Liveness {
		sides = append(sides, sideView{Side: "selfie", Label: "A photo of your face", Hint: "Take it in good light, facing the camera."})
	}
	var origins []string
	for i := range sides {
		up := c.Uploads[blobstore.Side(sides[i].Side)]
		sides[i].URL, sides[i].Method, sides[i].ObjectURL = up.URL, up.Method, up.ObjectURL
		if len(up.Fields) > 0 {
			b, err := json.Marshal(up.Fields)
			if err != nil {
				h.serviceError(q, err)
				return
			}
			sides[i].Fields = string(b)
		}
		if u, err := url.Parse(up.URL); err == nil && u.Host != "" {
			origins = append(origins, u.Scheme+"://"+u.Host)
		}
	}
	v.Sides = sides
	q.w.Header().Set("Content-Security-Policy", csp(origins...))
	h.render(q, http.StatusOK, "document", view{Title: "Add photos of your ID", Step: 1, Errors: takeErrors(q.s), Data: v})
}

func (h *Handler) postDocument(q *request) {
	if !h.at(q, "/verify/document") || !h.active(q) {
		return
	}
	f := q.r.PostForm
	if q.s.CaptureID == "" || f.Get("capture_id") != q.s.CaptureID {
		q.s.Errors = map[string][]string{"general": {"This page has expired. Add your photos again."}}
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
	q.s.CaptureID = ""
	h.started(q, st)
}

// documentFieldErrors maps the validation errors of a document start to the
// page's fields (front, back, selfie, general).
func documentFieldErrors(v *proofline.ValidationError) map[string][]string {
	out := map[string][]string{}
	for _, f := range v.Fields {
		field := "general"
		for _, side := range []string{"front", "back", "selfie"} {
			if strings.HasPrefix(f.Field, side+"_") {
				field = side
			}
		}
		msg := "This photo was not uploaded. Choose it again."
		if field == "general" {
			msg = "Your photos could not be sent. Add them again."
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
	Message                    string
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
		v := waitView{
			StatusURL: "/verify/status/" + p.ResultID, Next: "/verify/wait",
			PollMS: h.opts.PollInterval.Milliseconds(), Message: waitMessage(p.Kind),
		}
		if !h.opts.DisablePush {
			v.EventsURL = "/verify/events/" + p.ResultID
		}
		h.render(q, http.StatusOK, "wait", view{Title: "We are checking", Refresh: int(h.opts.PollInterval / time.Second), Step: stepNumber(p.Kind), Data: v})
		return
	}
	if h.apply(q, o) {
		h.redirect(q, h.location(q.s))
	}
}

func waitMessage(k proofline.Kind) string {
	switch k {
	case proofline.KindDocument:
		return "We are checking your ID."
	case proofline.KindResolution:
		return "We are checking your information."
	}
	return "We are checking your phone number."
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
		q.s.Errors = map[string][]string{}
		for field, msgs := range r.Errors {
			q.s.Errors[field] = append([]string(nil), msgs...)
		}
		if len(q.s.Errors) == 0 {
			q.s.Errors["general"] = []string{"We could not verify this. Check it and try again."}
		}
	}
	return true
}

// bound returns the session's pending attempt when the path's result_id is
// bound to it; anything else is 404.
func (h *Handler) bound(w http.ResponseWriter, r *http.Request) (*pending, context.Context, bool) {
	s, err := h.ss.load(r)
	if err != nil {
		h.unavailable(w, r, err)
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
// state and type are the document's (fromID), shown but not editable.
var infoFields = []struct{ Name, Label, Auto, Hint string }{
	{"address1", "Address", "address-line1", ""},
	{"address2", "Address line 2 (optional)", "address-line2", ""},
	{"city", "City", "address-level2", ""},
	{"state", "State", "address-level1", "Two letters, like VA"},
	{"zipcode", "ZIP code", "postal-code", ""},
	{"ssn", "Social Security number", "off", "9 digits, like 123-45-6789"},
}

// fromID are the facts the document binds, as the information page shows
// them. A POST that carries any of them with another value is refused.
var fromID = []struct{ Name, Label string }{
	{"first_name", "First name"},
	{"middle_name", "Middle name"},
	{"last_name", "Last name"},
	{"dob", "Date of birth"},
	{"state_id_number", "ID number"},
	{"state_id_jurisdiction", "Issued by"},
	{"state_id_type", "ID type"},
}

// Messages of the information step.
const (
	// msgNotYourID: a POST carried a name, date of birth or ID field that
	// differs from the ID.
	msgNotYourID = "What you sent does not match your ID. Your name, date of birth and ID number come from your ID and cannot be changed here; to use another ID, start over."
	// msgDocumentUnusable: the document result cannot bind an identity.
	msgDocumentUnusable = "We could not read your name, date of birth and ID number from your ID. Add photos of your ID again."
)

// idTypes are the words for state_id_type values.
var idTypes = map[string]string{
	"drivers_license": "Driver's license", "drivers_permit": "Driver's permit",
	"state_id_card": "State ID card", "identification_card": "Identification card",
}

type fieldView struct {
	Name, Label, Auto, Hint, Value string
	Errors                         []string
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

// general collects errors that belong to no field of the form.
func general(errs map[string][]string, fields ...string) []string {
	var out []string
	for k, msgs := range errs {
		known := false
		for _, f := range fields {
			known = known || f == k
		}
		if !known {
			out = append(out, msgs...)
		}
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
var identityFields = []struct{ Name, Label, Auto, Hint string }{
	{"first_name", "First name", "given-name", ""},
	{"middle_name", "Middle name (optional)", "additional-name", ""},
	{"last_name", "Last name", "family-name", ""},
	{"dob", "Date of birth", "bday", "Like 1985-03-04"},
}

// formFields are the information form's fields of session s.
func formFields(s *session) []struct{ Name, Label, Auto, Hint string } {
	if s.Doc != nil {
		return infoFields
	}
	return append(append([]struct{ Name, Label, Auto, Hint string }{}, identityFields...), infoFields...)
}

// renderInfo shows the ID's facts from the session's Doc and the form with
// p's address and SSN.
func (h *Handler) renderInfo(q *request, status int, p *person, errs map[string][]string) {
	doc := q.s.Doc
	var v infoView
	for _, f := range fromID {
		if doc == nil {
			break
		}
		val := doc.get(f.Name)
		if f.Name == "state_id_type" && idTypes[val] != "" {
			val = idTypes[val]
		}
		if val == "" && f.Name == "middle_name" {
			continue
		}
		v.FromID = append(v.FromID, fieldView{Name: f.Name, Label: f.Label, Value: val})
	}
	var names []string
	for _, f := range formFields(q.s) {
		val := p.get(f.Name)
		if f.Name == "ssn" {
			val = "" // the SSN never goes back into a page: the person enters it again
		}
		v.Fields = append(v.Fields, fieldView{Name: f.Name, Label: f.Label, Auto: f.Auto, Hint: f.Hint, Value: val, Errors: errs[f.Name]})
		names = append(names, f.Name)
	}
	h.render(q, status, "info", view{Title: "Verify your information", Step: 2, Errors: map[string][]string{"general": general(errs, names...)}, Data: v})
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
	for _, n := range formFields(q.s) {
		p.set(n.Name, f.Get(n.Name))
	}
	a := p.applicant()
	req := proofing.ResolutionRequest{Attempt: h.attempt(q), Applicant: a}
	if q.s.Doc != nil {
		// Whatever the POST says about the ID's facts goes to the service,
		// which refuses it unless it is what the ID says.
		for _, b := range fromID {
			if v := f.Get(b.Name); v != "" {
				*applicantField(&req.Applicant, b.Name) = proofline.PII(v)
			}
		}
		req.Document = q.s.Doc.documentPII()
	}
	st, err := h.svc.StartResolution(q.r.Context(), req)
	if err != nil {
		var v *proofline.ValidationError
		if errors.As(err, &v) {
			h.renderInfo(q, http.StatusBadRequest, p, infoErrors(v))
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

// infoErrors are the information form's errors of a refused start: a field
// that differs from the ID, or a document that cannot bind, is one general
// message; the others stay on their fields.
func infoErrors(v *proofline.ValidationError) map[string][]string {
	out := map[string][]string{}
	for _, f := range v.Fields {
		switch {
		case f.Message == proofing.MsgDoesNotMatch:
			if !slices.Contains(out["general"], msgNotYourID) {
				out["general"] = append(out["general"], msgNotYourID)
			}
		case applicantField(&proofline.Applicant{}, f.Field) != nil || f.Field == proofing.FieldDocument:
			if !slices.Contains(out["general"], msgDocumentUnusable) {
				out["general"] = append(out["general"], msgDocumentUnusable)
			}
		default:
			out[f.Field] = append(out[f.Field], fieldMessage(f))
		}
	}
	return out
}

func fieldErrors(v *proofline.ValidationError) map[string][]string {
	out := map[string][]string{}
	for _, f := range v.Fields {
		out[f.Field] = append(out[f.Field], fieldMessage(f))
	}
	return out
}

// fieldMessage turns a validation message into a sentence for the form.
func fieldMessage(f proofline.FieldError) string {
	m := f.Message
	if m == "is required" {
		return "This field is required."
	}
	return "This " + strings.ReplaceAll(f.Field, "_", " ") + " " + m + "."
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

func (h *Handler) renderPhone(q *request, status int, val string, errs map[string][]string) {
	f := fieldView{Name: "phone", Label: "Phone number", Auto: "tel", Hint: "A US number you own, like 703-555-1212", Value: val, Errors: errs["phone"]}
	h.render(q, status, "phone", view{Title: "Verify your phone number", Step: 3, Errors: map[string][]string{"general": general(errs, "phone")}, Data: f})
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
		{"Name", maskWords(strings.Join(nonEmpty(p.FirstName, p.MiddleName, p.LastName), " "))},
		{"Date of birth", maskDOB(p.DOB)},
		{"Address", maskWords(strings.Join(nonEmpty(p.Address1, p.Address2, p.City, p.State), ", "))},
		{"ZIP code", maskKeep(p.Zipcode, 3, 0)},
		{"Social Security number", maskSSN(p.SSN)},
		{"Phone", maskPhone(p.Phone)},
	}
	h.render(q, http.StatusOK, "done", view{Title: "You have been verified", Step: 4, Data: rows})
}

func (h *Handler) screen(name string) func(*request) {
	return func(q *request) {
		if !h.at(q, "/verify/"+name) {
			return
		}
		title := "We could not reach the service"
		if name == screenTimeout {
			title = "This is taking too long"
		}
		h.render(q, http.StatusOK, name, view{Title: title})
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
	until := time.Time{}
	if len(q.s.Failures) > 0 {
		until = time.Unix(q.s.Failures[0], 0).Add(h.opts.AttemptWindow)
	}
	h.render(q, http.StatusTooManyRequests, "limit", view{Title: "Too many attempts", Data: map[string]any{
		"Max": h.opts.MaxAttempts, "Hours": int(h.opts.AttemptWindow / time.Hour), "Until": until.UTC().Format("15:04 MST, January 2"),
	}})
}

// postRetry leaves the timeout or error screen for the step's form; the
// next submission is a new attempt with a new result_id.
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
