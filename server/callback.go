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

// MountCallbacks mounts the worker callback receiver:
// POST /api/proofing_results/{document|resolution|address}/{result_id}.
func (s *Server) MountCallbacks(mux *http.ServeMux) {
	mux.HandleFunc("POST /api/proofing_results/{kind}/{result_id}", s.callback)
}

// callback checks, in order: kind (404), per-kind token (401), content type
// (415), body size (413), then the service: unknown id (404), per-job secret
// and signature (401), already done (409), deadline (410), body shape (400).
func (s *Server) callback(w http.ResponseWriter, r *http.Request) {
	kind := proofline.Kind(r.PathValue("kind"))
	if !kind.Valid() {
		writeError(w, proofline.Errorf(proofline.ENOTFOUND, "unknown job kind"))
		return
	}
	// The token is checked again, with the rest, by the service; checking it
	// here first keeps unauthenticated callers from making us read bodies.
	if !s.svc.CallbackTokenValid(kind, r.Header.Get(proofline.HeaderAuthToken)) {
		writeError(w, proofline.Errorf(proofline.EUNAUTHORIZED, "invalid auth token"))
		return
	}
	if !isJSON(r.Header.Get("Content-Type")) {
		writeError(w, proofline.Errorf(proofline.EUNSUPPORTED, "Content-Type must be application/json"))
		return
	}
	if r.ContentLength > s.opts.MaxCallbackBytes {
		writeError(w, proofline.Errorf(proofline.ETOOLARGE, "callback body too large"))
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.opts.MaxCallbackBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeError(w, proofline.Errorf(proofline.ETOOLARGE, "callback body too large"))
		} else {
			writeError(w, proofline.Errorf(proofline.EINVALID, "could not read body"))
		}
		return
	}
	// The worker's traceparent joins this span to the attempt's trace.
	ctx := tracing.Propagator.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
	err = s.svc.ReceiveCallback(ctx, proofing.Callback{
		Kind: kind, ResultID: r.PathValue("result_id"),
		Token: r.Header.Get(proofline.HeaderAuthToken),
		Proof: proofline.CallbackProof{
			Secret:    r.Header.Get(proofline.HeaderJobSecret),
			Timestamp: r.Header.Get(proofline.HeaderTimestamp),
			Signature: r.Header.Get(proofline.HeaderSignature),
		},
		WorkerVersion: r.Header.Get(proofline.HeaderWorkerVersion),
		Method:        r.Method, Path: r.URL.EscapedPath(), Body: body,
	})
	if err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
