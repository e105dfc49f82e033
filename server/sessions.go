package server

import (
	"net/http"
	"time"

	"github.com/proofline/proofline/proofing/verification"
)

// createdSession is the answer to POST /api/v1/verification-sessions.
type createdSession struct {
	ID        string              `json:"id"`
	URL       string              `json:"url"`
	ExpiresAt time.Time           `json:"expires_at"`
	Status    verification.Status `json:"status"`
}

// createSession creates a verification session for the key's tenant: 201
// with its one-time url, 400 with field errors.
func (s *Server) createSession(w http.ResponseWriter, r *http.Request) {
	var req verification.CreateRequest
	if !s.decode(w, r, &req) {
		return
	}
	c, err := s.opts.Sessions.Create(r.Context(), req)
	if err != nil {
		writeError(w, err)
		return
	}
	w.Header().Set("Location", "/api/v1/verification-sessions/"+c.Session.ID)
	writeJSON(w, http.StatusCreated, createdSession{
		ID: c.Session.ID, URL: c.URL, ExpiresAt: c.Session.ExpiresAt.UTC(), Status: c.Session.Status,
	})
}

// getSession answers the key's tenant's session; 404 for any other.
func (s *Server) getSession(w http.ResponseWriter, r *http.Request) {
	sess, err := s.opts.Sessions.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		writeError(w, err)
		return
	}
	s.writeSession(w, sess)
}

// cancelSession cancels the key's tenant's session: 200 with it, 409 when it
// had ended, 404 for any other tenant's. The body, if any, is ignored.
func (s *Server) cancelSession(w http.ResponseWriter, r *http.Request) {
	sess, err := s.opts.Sessions.Cancel(r.Context(), r.PathValue("id"))
	if err != nil {
		writeError(w, err)
		return
	}
	s.writeSession(w, sess)
}

func (s *Server) writeSession(w http.ResponseWriter, sess *verification.Session) {
	v, err := s.opts.Sessions.View(sess)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}
