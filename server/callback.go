package server

import (
	"errors"
	"io"
	"net/http"

	"github.com/proofline/proofline"
	"github.com/proofline/proofline/observe/tracing"
	"github.com/proofline/proofline/proofing"

	"go.opentelemetry.io/otel/propagation"
)

// maxClaimBytes bounds a claim body (a claim is about 130 bytes).
const maxClaimBytes = 4 << 10

// MountCallbacks mounts the worker endpoints: the callback receiver
// POST /api/proofing_results/{document|resolution|address}/{result_id} and
// the claim of a job's data key, POST …/{result_id}/claim.
func (s *Server) MountCallbacks(mux *http.ServeMux) {
	mux.HandleFunc("POST /api/proofing_results/{kind}/{result_id}", s.callback)
	mux.HandleFunc("POST /api/proofing_results/{kind}/{result_id}/claim", s.claim)
}

// callback checks, in order: kind (404), per-kind token (401), content type
// (415), body size (413), then the service: unknown id (404), already done
// (409), timestamp and sealed body (401; 400 when it is not a sealed body),
// deadline (410), result shape (400).
func (s *Server) callback(w http.ResponseWriter, r *http.Request) {
	kind, body, ok := s.workerRequest(w, r, s.opts.MaxCallbackBytes)
	if !ok {
		return
	}
	// The worker's traceparent joins this span to the attempt's trace.
	ctx := tracing.Propagator.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
	err := s.svc.ReceiveCallback(ctx, proofing.Callback{
		Kind: kind, ResultID: r.PathValue("result_id"),
		Token:         r.Header.Get(proofline.HeaderAuthToken),
		Timestamp:     r.Header.Get(proofline.HeaderTimestamp),
		WorkerVersion: r.Header.Get(proofline.HeaderWorkerVersion),
		Method:        r.Method, Path: r.URL.EscapedPath(), Body: body,
	})
	if err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// claim answers a worker's claim of a job's data key: 200 with the key
// wrapped to the worker's ephemeral key, once per job. Checks, in order: kind
// (404), per-kind token (401), content type (415), body size (413), then the
// service: malformed claim (400), unknown id (404), already done (409), claim
// proof (401), already claimed (409), deadline (410).
func (s *Server) claim(w http.ResponseWriter, r *http.Request) {
	kind, body, ok := s.workerRequest(w, r, maxClaimBytes)
	if !ok {
		return
	}
	ctx := tracing.Propagator.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
	answer, err := s.svc.ClaimJob(ctx, proofing.Claim{
		Kind: kind, ResultID: r.PathValue("result_id"),
		Token:         r.Header.Get(proofline.HeaderAuthToken),
		WorkerVersion: r.Header.Get(proofline.HeaderWorkerVersion),
		Body:          body,
	})
	if err != nil {
		writeError(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(answer)
}

// workerRequest checks what every worker request shares: kind (404),
// per-kind token (401), content type (415) and body size (413), and reads
// the body. On false the answer is written.
func (s *Server) workerRequest(w http.ResponseWriter, r *http.Request, limit int64) (proofline.Kind, []byte, bool) {
	kind := proofline.Kind(r.PathValue("kind"))
	if !kind.Valid() {
		writeError(w, proofline.Errorf(proofline.ENOTFOUND, "unknown job kind"))
		return "", nil, false
	}
	// The token is checked again, with the rest, by the service; checking it
	// here first keeps unauthenticated callers from making us read bodies.
	if !s.svc.CallbackTokenValid(kind, r.Header.Get(proofline.HeaderAuthToken)) {
		writeError(w, proofline.Errorf(proofline.EUNAUTHORIZED, "invalid auth token"))
		return "", nil, false
	}
	if !isJSON(r.Header.Get("Content-Type")) {
		writeError(w, proofline.Errorf(proofline.EUNSUPPORTED, "Content-Type must be application/json"))
		return "", nil, false
	}
	if r.ContentLength > limit {
		writeError(w, proofline.Errorf(proofline.ETOOLARGE, "body too large"))
		return "", nil, false
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeError(w, proofline.Errorf(proofline.ETOOLARGE, "body too large"))
		} else {
			writeError(w, proofline.Errorf(proofline.EINVALID, "could not read body"))
		}
		return "", nil, false
	}
	return kind, body, true
}
