package proofing

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"strings"

	"github.com/proofline/proofline"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// Callback is one worker callback as received over HTTP.
type Callback struct {
	Kind     proofline.Kind
	ResultID string
	// Token is the X-API-AUTH-TOKEN header.
	Token string
	// Timestamp is the X-Proofline-Timestamp header (Unix seconds), bound
	// into the sealed body.
	Timestamp string
	// WorkerVersion is the build the worker reports.
	WorkerVersion string
	Method, Path  string
	Body          []byte
}

// ReceiveCallback authenticates a worker's callback, opens its sealed body
// with the job's callback secret and stores the result once. Errors carry the
// codes the HTTP layer maps: EUNAUTHORIZED (token, timestamp, or a body that
// does not open with the job's secret: rewritten, forged, moved), ENOTFOUND,
// ECONFLICT (already done), EGONE (after the deadline), EINVALID (malformed
// body), EUNAVAILABLE.
func (s *Service) ReceiveCallback(ctx context.Context, c Callback) (err error) {
	ctx, span := s.tracer.Start(ctx, "proofline.callback.receive", trace.WithAttributes(
		attribute.String("proofline.kind", string(c.Kind)), attribute.String("proofline.result_id", sanitize(c.ResultID))))
	defer func() {
		if err != nil {
			span.SetStatus(codes.Error, proofline.ErrorCode(err))
		}
		span.End()
	}()
	if !c.Kind.Valid() {
		return proofline.Errorf(proofline.ENOTFOUND, "unknown job kind")
	}
	if !s.tokenOK(c.Kind, c.Token) {
		s.stats.rejected(c.Kind, "token")
		return proofline.Errorf(proofline.EUNAUTHORIZED, "invalid auth token")
	}
	rec, err := s.opts.Store.LookupForUpdate(ctx, c.ResultID)
	if err != nil {
		if proofline.ErrorCode(err) == proofline.ENOTFOUND {
			s.stats.rejected(c.Kind, "unknown")
		}
		return err
	}
	if rec.Kind != c.Kind {
		s.stats.rejected(c.Kind, "unknown")
		return proofline.Errorf(proofline.ENOTFOUND, "result not found")
	}
	now := s.opts.Now()
	log := s.opts.Logger.With(slog.String("kind", string(c.Kind)), slog.String("result_id", c.ResultID), slog.String("trace_id", rec.TraceID))
	if rec.State == proofline.StatusDone {
		// The done record no longer holds the callback secret: nothing can
		// be opened, and nothing is written.
		s.stats.duplicate(c.Kind)
		log.LogAttrs(ctx, slog.LevelWarn, "duplicate callback refused")
		return proofline.Errorf(proofline.ECONFLICT, "result already received")
	}
	plain, err := proofline.OpenCallback(rec.CallbackSecret, c.Kind, c.ResultID, c.Method, c.Path, c.Timestamp, now, s.opts.ClockSkew, c.Body)
	if err != nil {
		if proofline.ErrorCode(err) == proofline.EINVALID {
			s.stats.rejected(c.Kind, "malformed")
		} else {
			s.stats.rejected(c.Kind, "signature")
		}
		return err
	}
	defer clear(plain)
	if !now.Before(rec.Deadline) || rec.TimedOut {
		s.stats.late(c.Kind)
		log.LogAttrs(ctx, slog.LevelWarn, "late callback refused", slog.Duration("after_deadline", now.Sub(rec.Deadline)))
		return proofline.Errorf(proofline.EGONE, "deadline passed")
	}
	result, err := decodeCallbackBody(c.Kind, plain)
	if err != nil {
		s.stats.rejected(c.Kind, "malformed")
		return err
	}
	if c.WorkerVersion != s.opts.WorkerVersion {
		s.stats.versionMismatch(c.Kind)
		log.LogAttrs(ctx, slog.LevelWarn, "callback from another worker build",
			slog.String("want", s.opts.WorkerVersion), slog.String("got", sanitize(c.WorkerVersion)))
	}
	if err := s.opts.Store.Complete(ctx, rec, result, now); err != nil {
		switch proofline.ErrorCode(err) {
		case proofline.ECONFLICT:
			s.stats.duplicate(c.Kind)
		case proofline.EGONE:
			// A reader was told timed_out while this callback was in
			// flight: that stays the outcome.
			s.stats.late(c.Kind)
			log.LogAttrs(ctx, slog.LevelWarn, "late callback refused: the attempt ended as timed out meanwhile")
		}
		return err
	}
	if s.opts.Attempts != nil && len(rec.AttemptKeys) > 0 {
		// A failure (the vendor said no) uses an attempt; a success ends the
		// flow, and a vendor timeout or exception is not the person's doing.
		s.opts.Attempts.Finish(ctx, rec.AttemptKeys, c.ResultID, !result.Success && result.Exception == nil && !result.TimedOut)
	}
	done := &proofline.Outcome{
		ResultID: c.ResultID, Kind: rec.Kind, Tenant: rec.Tenant, Status: proofline.StatusDone,
		RequestedAt: rec.RequestedAt, Deadline: rec.Deadline, CompletedAt: now, Result: result,
	}
	s.waiters.wake(done)
	if rec.Notify && s.opts.Notify != nil {
		s.opts.Notify(ctx, done)
	}
	s.stats.completed(c.Kind, now.Sub(rec.RequestedAt), rec.Deadline.Sub(rec.RequestedAt), result)
	log.LogAttrs(ctx, slog.LevelInfo, "result received",
		slog.Bool("success", result.Success), slog.Bool("vendor_timed_out", result.TimedOut),
		slog.Bool("exception", result.Exception != nil), slog.Duration("since_start", now.Sub(rec.RequestedAt)))
	return nil
}

// decodeCallbackBody reads {"<kind>_result": {...}} strictly, in one pass:
// exactly that one key, an object of the result shape (no unknown fields)
// with a success field.
func decodeCallbackBody(kind proofline.Kind, body []byte) (*proofline.Result, error) {
	field := kind.ResultField()
	var outer struct {
		Document   *callbackResult `json:"document_result"`
		Resolution *callbackResult `json:"resolution_result"`
		Address    *callbackResult `json:"address_result"`
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&outer); err != nil {
		if strings.HasPrefix(err.Error(), "json: unknown field") || strings.Contains(err.Error(), "cannot unmarshal") {
			return nil, proofline.Errorf(proofline.EINVALID, "%s does not have the result shape", field)
		}
		return nil, proofline.Errorf(proofline.EINVALID, "body is not a JSON object")
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, proofline.Errorf(proofline.EINVALID, "body is not a JSON object")
	}
	all := map[proofline.Kind]*callbackResult{proofline.KindDocument: outer.Document, proofline.KindResolution: outer.Resolution, proofline.KindAddress: outer.Address}
	got := all[kind]
	for k, r := range all {
		if k != kind && r != nil {
			got = nil
		}
	}
	if got == nil {
		return nil, proofline.Errorf(proofline.EINVALID, "body must hold exactly %s", field)
	}
	if got.Success == nil {
		return nil, proofline.Errorf(proofline.EINVALID, "%s.success is required", field)
	}
	r := got.Result
	r.Success = *got.Success
	if kind != proofline.KindDocument && r.PIIFromDoc != nil {
		return nil, proofline.Errorf(proofline.EINVALID, "pii_from_doc is only for document results")
	}
	r.Normalize()
	return &r, nil
}

// callbackResult is a Result whose success must be present: its Success
// (depth 0) takes the "success" key from the embedded Result's, so one
// strict pass of the body's decoder fills both (unknown fields refused
// throughout).
type callbackResult struct {
	proofline.Result
	Success *bool `json:"success"`
}

func decodeB64(s string) ([]byte, error) {
	s = strings.TrimRight(strings.TrimSpace(s), "=")
	if b, err := base64.RawStdEncoding.DecodeString(s); err == nil {
		return b, nil
	}
	return base64.RawURLEncoding.DecodeString(s)
}

// sanitize bounds a caller-supplied string for a log line: printable ASCII
// only, at most 64 characters.
func sanitize(s string) string {
	if len(s) > 64 {
		s = s[:64]
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e {
			return '?'
		}
		return r
	}, s)
}

// CallbackTokenValid reports whether token is the callback token of kind,
// counting a refusal. The HTTP layer calls it before reading a body.
func (s *Service) CallbackTokenValid(kind proofline.Kind, token string) bool {
	if !kind.Valid() {
		return false
	}
	if !s.tokenOK(kind, token) {
		s.stats.rejected(kind, "token")
		return false
	}
	return true
}

// tokenOK compares token with every accepted token of kind, all of them, so
// timing does not tell which matched.
func (s *Service) tokenOK(kind proofline.Kind, token string) bool {
	ok := false
	for _, t := range s.tokens[kind] {
		if proofline.TokenEqual(token, t) {
			ok = true
		}
	}
	return ok
}
