package web

import (
	"context"
	"log/slog"
	"net/http"
	"slices"

	"github.com/proofline/proofline"
	"github.com/proofline/proofline/proofing/verification"
)

// Every browser session works on one verification session: a hosted one an
// IdP created through the JSON API (the person arrives by its one-time link,
// GET /verify/session/{id}?token=…), or the demo's own, which the start page
// creates. The verification session names the tenant every service call
// runs under, the person (attempt limits count per person_id, never per
// cookie), the steps, and where the browser returns when it ends.

// enter opens a verification session's one-time link: the link is used up,
// any session this browser had is revoked, and a new one is bound to the
// verification session, at its first step.
func (h *Handler) enter(q *request) {
	vs, err := h.vs.Redeem(q.r.Context(), q.r.PathValue("id"), q.r.URL.Query().Get("token"))
	if err != nil {
		switch proofline.ErrorCode(err) {
		case proofline.ENOTFOUND:
			h.linkPage(q, http.StatusNotFound, msgLinkInvalid, "")
		case proofline.EGONE:
			h.linkPage(q, http.StatusGone, msgLinkUsed, "")
		default:
			h.log.LogAttrs(q.r.Context(), slog.LevelWarn, "web: link not opened", slog.String("code", proofline.ErrorCode(err)))
			h.linkPage(q, http.StatusServiceUnavailable, msgLinkUnavailable, "")
		}
		return
	}
	locale := q.l.Code // the language the person has been reading
	if !h.revoke(q) {
		return
	}
	s := bind(vs, q.s.ID)
	if s.Locale == "" {
		s.Locale = locale
	}
	q.use(s)
	h.log.LogAttrs(q.r.Context(), slog.LevelInfo, "web: verification session opened", slog.String("session_id", vs.ID))
	h.redirect(q, h.location(q.s))
}

// Messages of the link page (keys), and the page's title with each.
const (
	msgLinkInvalid     = "link.invalid"
	msgLinkUsed        = "link.used"
	msgLinkUnavailable = "link.unavailable"
	msgSessionEnded    = "link.ended"
)

var linkTitles = map[string]string{
	msgLinkInvalid:     "link.invalid_title",
	msgLinkUsed:        "link.used_title",
	msgLinkUnavailable: "link.unavailable_title",
	msgSessionEnded:    "link.ended_title",
}

// linkPage shows why a link or a session cannot go on, in the language the
// person has been reading. The session it renders with is a fresh,
// unstored one.
func (h *Handler) linkPage(q *request, status int, msg, back string) {
	q.use(h.ss.fresh())
	h.render(q, status, "link", view{Title: q.T(linkTitles[msg]), Data: map[string]string{"Message": q.T(msg), "Return": back}})
}

// bind is a new browser session working on vs, at its first step. old is
// the id of the session it replaces (never reused).
func bind(vs *verification.Session, old string) *session {
	id := randomSessionID()
	for id == old {
		id = randomSessionID()
	}
	s := &session{
		ID: id, VS: vs.ID, Tenant: vs.Tenant, PersonID: vs.PersonID, Steps: vs.Steps,
		ReturnURL: vs.ReturnTo(), Locale: vs.Locale, Exp: vs.ExpiresAt.Unix(),
	}
	s.Step = s.next("")
	return s
}

// has reports whether the session runs step (a session of an older build,
// with no steps, runs them all).
func (s *session) has(step verification.Step) bool {
	return len(s.Steps) == 0 || slices.Contains(s.Steps, step)
}

// next is the page step after the page step after (after "": the first).
func (s *session) next(after string) string {
	order := []struct {
		page string
		step verification.Step
	}{{stepDocument, verification.StepDocument}, {stepInfo, verification.StepInformation}, {stepPhone, verification.StepPhone}}
	past := after == ""
	for _, o := range order {
		if past && s.has(o.step) {
			return o.page
		}
		past = past || o.page == after
	}
	return stepDone
}

// stepOf is the verification step of a page step.
func stepOf(page string) verification.Step {
	switch page {
	case stepInfo:
		return verification.StepInformation
	case stepPhone:
		return verification.StepPhone
	}
	return verification.StepDocument
}

// revoke deletes the request's session from the store and gives the
// request a fresh, unstored one; false (and an error page) when the store
// cannot be reached.
func (h *Handler) revoke(q *request) bool {
	h.endCapture(q) // its images are deleted, its upload slots released
	if err := h.ss.revoke(q.r.Context(), q.s); err != nil {
		h.unavailable(q.w, q.r, q.l, err)
		return false
	}
	q.use(h.ss.fresh())
	return true
}

// active reports whether the session's verification session can still go
// on; when it cannot (canceled, expired, gone), the person is sent back.
func (h *Handler) active(q *request) bool {
	_, err := h.vs.Active(q.r.Context(), q.s.VS)
	switch code := proofline.ErrorCode(err); {
	case err == nil:
		return true
	case code == proofline.EGONE || code == proofline.ENOTFOUND:
		h.ended(q)
	default:
		h.serviceError(q, err)
	}
	return false
}

// ended ends the browser session of a verification session that has ended
// (verified, failed, canceled, expired): back to the IdP's return_url with
// verification_session_id, or, for the demo, the ended page.
func (h *Handler) ended(q *request) {
	back := q.s.ReturnURL
	if q.s.Pending != nil {
		_ = h.svc.Forget(context.WithoutCancel(q.r.Context()), q.s.Pending.ResultID)
	}
	if !h.revoke(q) {
		return
	}
	if back != "" {
		h.redirect(q, back)
		return
	}
	h.linkPage(q, http.StatusGone, msgSessionEnded, "")
}

// succeeded records a successful step in the verification session and moves
// the flow to the next step (or done). False when the verification session
// ended meanwhile (the person has been sent back) or could not be written
// (the error screen: the step is tried again).
func (h *Handler) succeeded(q *request, p *pending, r *proofline.Result) bool {
	o := verification.StepOutcome{ResultID: p.ResultID, Result: r}
	if p.Kind != proofline.KindDocument && q.s.Person != nil {
		a := q.s.Person.applicant()
		o.Applicant = &a
	}
	_, err := h.vs.StepDone(context.WithoutCancel(q.r.Context()), q.s.VS, verification.StepOf(p.Kind), o)
	switch code := proofline.ErrorCode(err); {
	case err == nil:
		return true
	case code == proofline.EGONE || code == proofline.ENOTFOUND:
		h.ended(q)
	default:
		h.log.LogAttrs(q.r.Context(), slog.LevelWarn, "web: step not recorded", slog.String("code", code))
		q.s.Screen = screenError
		h.redirect(q, "/verify/error")
	}
	return false
}

// limitReached ends a hosted verification session as failed (attempt limit)
// and sends the person back; the demo shows the limit page.
func (h *Handler) limitReached(q *request) {
	if q.s.ReturnURL == "" {
		q.s.Screen = screenLimit
		h.redirect(q, "/verify/limit")
		return
	}
	if _, err := h.vs.Fail(q.r.Context(), q.s.VS, stepOf(q.s.Step), verification.FailureAttemptLimit); err != nil &&
		proofline.ErrorCode(err) != proofline.EGONE && proofline.ErrorCode(err) != proofline.ENOTFOUND {
		h.log.LogAttrs(q.r.Context(), slog.LevelWarn, "web: failure not recorded", slog.String("code", proofline.ErrorCode(err)))
		q.s.Screen = screenError
		h.redirect(q, "/verify/error")
		return
	}
	h.ended(q)
}
