package server

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/proofline/proofline"
	"github.com/proofline/proofline/proofing"
	"github.com/proofline/proofline/tenant"
)

// MountAPI mounts the JSON API for IdP back ends, behind bearer API keys.
func (s *Server) MountAPI(mux *http.ServeMux) {
	mux.Handle("POST /api/v1/document-capture", s.authed(s.createCapture))
	mux.Handle("POST /api/v1/proofing/document", s.authed(s.startDocument))
	mux.Handle("POST /api/v1/proofing/resolution", s.authed(s.startResolution))
	mux.Handle("POST /api/v1/proofing/address", s.authed(s.startAddress))
	mux.Handle("GET /api/v1/proofing/{result_id}", s.authed(s.getOutcome))
	mux.Handle("DELETE /api/v1/proofing/{result_id}", s.authed(s.deleteOutcome))
	if s.opts.Sessions != nil {
		mux.Handle("POST /api/v1/verification-sessions", s.authed(s.createSession))
		mux.Handle("GET /api/v1/verification-sessions/{id}", s.authed(s.getSession))
		mux.Handle("POST /api/v1/verification-sessions/{id}/cancel", s.authed(s.cancelSession))
	}
	mux.Handle("/api/v1/", s.authed(func(w http.ResponseWriter, _ *http.Request) {
		writeError(w, proofline.Errorf(proofline.ENOTFOUND, "no such endpoint"))
	}))
}

// authed admits a request with a valid API key and runs h under the key's
// tenant (tenant.With): everything h creates belongs to it, and it reads
// nothing of another tenant's.
func (s *Server) authed(h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		// Authenticate compares with every key, so timing does not reveal
		// which matched.
		c, valid := s.clients.Authenticate(strings.TrimSpace(key))
		if !ok || !valid {
			w.Header().Set("WWW-Authenticate", `Bearer realm="proofline"`)
			writeError(w, proofline.Errorf(proofline.EUNAUTHORIZED, "a valid API key is required"))
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		ctx := context.WithValue(tenant.With(r.Context(), c.Name), clientKey{}, c)
		h(w, r.WithContext(ctx))
	})
}

type clientKey struct{}

// clientOf is the API client of an authed request.
func clientOf(r *http.Request) *tenant.Client {
	c, _ := r.Context().Value(clientKey{}).(*tenant.Client)
	if c == nil {
		return &tenant.Client{}
	}
	return c
}

type startResponse struct {
	ResultID  string    `json:"result_id"`
	StatusURL string    `json:"status_url"`
	Deadline  time.Time `json:"deadline"`
}

func writeStarted(w http.ResponseWriter, st *proofing.Started) {
	w.Header().Set("Location", "/api/v1/proofing/"+st.ResultID)
	writeJSON(w, http.StatusAccepted, startResponse{
		ResultID: st.ResultID, StatusURL: "/api/v1/proofing/" + st.ResultID, Deadline: st.Deadline.UTC(),
	})
}

func (s *Server) startResolution(w http.ResponseWriter, r *http.Request) {
	var req proofing.ResolutionRequest
	if !s.decode(w, r, &req) {
		return
	}
	req.Notify = clientOf(r).JobWebhooks
	st, err := s.svc.StartResolution(r.Context(), req)
	if err != nil {
		writeError(w, err)
		return
	}
	writeStarted(w, st)
}

func (s *Server) startAddress(w http.ResponseWriter, r *http.Request) {
	var req proofing.AddressRequest
	if !s.decode(w, r, &req) {
		return
	}
	req.Notify = clientOf(r).JobWebhooks
	st, err := s.svc.StartAddress(r.Context(), req)
	if err != nil {
		writeError(w, err)
		return
	}
	writeStarted(w, st)
}

func (s *Server) startDocument(w http.ResponseWriter, r *http.Request) {
	var req proofing.DocumentRequest
	if !s.decode(w, r, &req) {
		return
	}
	req.Notify = clientOf(r).JobWebhooks
	st, err := s.svc.StartDocument(r.Context(), req)
	if err != nil {
		writeError(w, err)
		return
	}
	writeStarted(w, st)
}

func (s *Server) createCapture(w http.ResponseWriter, r *http.Request) {
	c, err := s.svc.NewCapture(r.Context())
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{
		"capture_id": c.ID, "uploads": c.Uploads, "expires_at": c.ExpiresAt.UTC(),
	})
}

type outcomeResponse struct {
	Status proofline.Status `json:"status"`
	// Result is the result with pii_from_doc in clear: this response goes
	// only to an API-key holder, over TLS in production.
	Result json.RawMessage `json:"result,omitempty"`
}

// getOutcome answers the status of an attempt. With ?wait=N (seconds, at most
// 60) it long-polls: it answers as soon as the attempt is no longer pending,
// or after N seconds with the pending status. The result is pushed the moment
// a callback lands on this instance.
func (s *Server) getOutcome(w http.ResponseWriter, r *http.Request) {
	var (
		o   *proofline.Outcome
		err error
	)
	id := r.PathValue("result_id")
	if q := r.URL.Query().Get("wait"); q != "" {
		secs, perr := strconv.Atoi(q)
		if perr != nil || secs < 0 || secs > 60 {
			writeValidation(w, []proofline.FieldError{{Field: "wait", Message: "must be whole seconds from 0 to 60"}})
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), time.Duration(secs)*time.Second)
		o, err = s.svc.WaitOutcome(ctx, id, time.Second)
		// A read the wait's end cut short can fail a moment before ctx
		// says it is done (the Redis client gives up on the deadline).
		ranOut := ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded)
		cancel()
		switch {
		case errors.Is(err, context.DeadlineExceeded) && o != nil:
			err = nil // waited the whole time: still pending
		case err != nil && ranOut && r.Context().Err() == nil:
			// The wait ran out during a store read, which it cut short
			// (Redis): read the state as it is now.
			o, err = s.svc.Outcome(r.Context(), id)
		}
	} else {
		o, err = s.svc.Outcome(r.Context(), id)
	}
	if err != nil {
		writeError(w, err)
		return
	}
	resp := outcomeResponse{Status: o.Status}
	if o.Status == proofline.StatusDone && o.Result != nil {
		if resp.Result, err = o.Result.MarshalRevealed(); err != nil {
			writeError(w, err)
			return
		}
	}
	writeJSON(w, http.StatusOK, resp)
}

func (s *Server) deleteOutcome(w http.ResponseWriter, r *http.Request) {
	if err := s.svc.Forget(r.Context(), r.PathValue("result_id")); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// decode reads a JSON request body into v, answering 415, 413 or 400 itself.
func (s *Server) decode(w http.ResponseWriter, r *http.Request, v any) bool {
	if !isJSON(r.Header.Get("Content-Type")) {
		writeError(w, proofline.Errorf(proofline.EUNSUPPORTED, "Content-Type must be application/json"))
		return false
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, s.opts.MaxRequestBytes))
	err := dec.Decode(v)
	if err == nil {
		if _, extra := dec.Token(); extra != io.EOF {
			err = errors.New("trailing data")
		}
	}
	if err == nil {
		return true
	}
	var tooBig *http.MaxBytesError
	var typeErr *json.UnmarshalTypeError
	switch {
	case errors.As(err, &tooBig):
		writeError(w, proofline.Errorf(proofline.ETOOLARGE, "request body too large"))
	case errors.As(err, &typeErr) && typeErr.Field != "":
		writeValidation(w, []proofline.FieldError{{Field: fieldName(typeErr.Field), Message: "has the wrong type"}})
	default:
		writeValidation(w, []proofline.FieldError{{Field: "body", Message: "must be a JSON object"}})
	}
	return false
}

// fieldName maps a JSON path like "applicant.dob" to the field name errors
// use: applicant fields are named as the applicant field is (dob). An
// embedded struct's fields (proofing.Attempt's person_id, client_ip) come
// with the struct's Go name in front ("Attempt.person_id"), which no request
// spells: it is dropped. The API's JSON names are snake_case, so a leading
// segment that starts with a capital letter is such a Go name.
func fieldName(path string) string {
	for {
		head, rest, ok := strings.Cut(path, ".")
		if first, _ := utf8.DecodeRuneInString(head); !ok || !unicode.IsUpper(first) {
			break
		}
		path = rest
	}
	if f, ok := strings.CutPrefix(path, "applicant."); ok {
		return f
	}
	return path
}

func isJSON(ct string) bool {
	mt, _, err := mime.ParseMediaType(ct)
	return err == nil && mt == "application/json"
}
