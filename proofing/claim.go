package proofing

import (
	"context"
	"log/slog"

	"github.com/proofline/proofline"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// Claim is one worker's claim of a job's data key as received over HTTP
// (POST /api/proofing_results/{kind}/{result_id}/claim).
type Claim struct {
	Kind     proofline.Kind
	ResultID string
	// Token is the X-API-AUTH-TOKEN header.
	Token string
	// WorkerVersion is the build the worker reports.
	WorkerVersion string
	// Body is the proofline.ClaimRequest JSON.
	Body []byte
}

// ClaimJob answers a worker's claim: the job's data key, wrapped to the
// worker's ephemeral X25519 key (the proofline.ClaimResponse JSON). It is
// answered once per job: the key is removed from the pending record by
// compare-and-swap, so a redelivered envelope (a Lambda retry, a queue
// redelivery) cannot be proofed a second time. Errors: ENOTFOUND (unknown
// kind or result), EUNAUTHORIZED (token or claim proof), EINVALID (malformed
// claim), ECONFLICT (already claimed or done), EGONE (deadline passed),
// EUNAVAILABLE.
func (s *Service) ClaimJob(ctx context.Context, c Claim) (_ []byte, err error) {
	ctx, span := s.tracer.Start(ctx, "proofline.claim.receive", trace.WithAttributes(
		attribute.String("proofline.kind", string(c.Kind)), attribute.String("proofline.result_id", sanitize(c.ResultID))))
	defer func() {
		if err != nil {
			span.SetStatus(codes.Error, proofline.ErrorCode(err))
		}
		span.End()
	}()
	if !c.Kind.Valid() {
		return nil, proofline.Errorf(proofline.ENOTFOUND, "unknown job kind")
	}
	if !s.tokenOK(c.Kind, c.Token) {
		s.stats.rejected(c.Kind, "claim_token")
		return nil, proofline.Errorf(proofline.EUNAUTHORIZED, "invalid auth token")
	}
	req, err := proofline.ParseClaimRequest(c.Body)
	if err != nil {
		s.stats.rejected(c.Kind, "claim_malformed")
		return nil, err
	}
	rec, err := s.opts.Store.LookupForUpdate(ctx, c.ResultID)
	if err == nil && (rec.TimedOut || !rec.ClaimedAt.IsZero() || len(rec.DataKey) == 0) {
		// What this server last wrote would refuse the claim: refuse it
		// on what is stored now (the record may be gone since: 404).
		rec, err = s.opts.Store.Fresh(ctx, rec)
	}
	if err != nil {
		if proofline.ErrorCode(err) == proofline.ENOTFOUND {
			s.stats.rejected(c.Kind, "claim_unknown")
		}
		return nil, err
	}
	if rec.Kind != c.Kind {
		s.stats.rejected(c.Kind, "claim_unknown")
		return nil, proofline.Errorf(proofline.ENOTFOUND, "result not found")
	}
	log := s.opts.Logger.With(slog.String("kind", string(c.Kind)), slog.String("result_id", c.ResultID), slog.String("trace_id", rec.TraceID))
	if rec.State == proofline.StatusDone {
		s.stats.rejected(c.Kind, "claim_duplicate")
		log.LogAttrs(ctx, slog.LevelWarn, "claim refused: job already done")
		return nil, proofline.Errorf(proofline.ECONFLICT, "job already done")
	}
	if err := req.Verify(c.Kind, c.ResultID, rec.ClaimToken); err != nil {
		s.stats.rejected(c.Kind, "claim_proof")
		return nil, err
	}
	// Past the deadline a claim is late whatever else happened to the job
	// (a read may already have dropped its key): 410, counted as late. A
	// job a read ended as timed out is late even if the clocks disagree.
	if rec.TimedOut && rec.ClaimedAt.IsZero() {
		s.stats.rejected(c.Kind, "claim_late")
		log.LogAttrs(ctx, slog.LevelWarn, "claim refused: the attempt ended as timed out")
		return nil, proofline.Errorf(proofline.EGONE, "deadline passed")
	}
	now := s.opts.Now()
	if !now.Before(rec.Deadline) {
		s.stats.rejected(c.Kind, "claim_late")
		log.LogAttrs(ctx, slog.LevelWarn, "claim refused: deadline passed", slog.Duration("after_deadline", now.Sub(rec.Deadline)))
		return nil, proofline.Errorf(proofline.EGONE, "deadline passed")
	}
	if !rec.ClaimedAt.IsZero() || len(rec.DataKey) == 0 {
		s.stats.rejected(c.Kind, "claim_duplicate")
		log.LogAttrs(ctx, slog.LevelWarn, "claim refused: job already claimed (a redelivered envelope)")
		return nil, proofline.Errorf(proofline.ECONFLICT, "job already claimed")
	}
	answer, err := s.claimKeys.Answer(c.Kind, c.ResultID, req, rec.DataKey)
	if err != nil {
		s.stats.rejected(c.Kind, "claim_malformed")
		return nil, err
	}
	// The answer goes out only once the key is gone from the record.
	if err := s.opts.Store.Claim(ctx, rec, now); err != nil {
		if proofline.ErrorCode(err) == proofline.ECONFLICT {
			s.stats.rejected(c.Kind, "claim_duplicate")
		}
		return nil, err
	}
	if c.WorkerVersion != s.opts.WorkerVersion {
		log.LogAttrs(ctx, slog.LevelDebug, "claim from another worker build",
			slog.String("want", s.opts.WorkerVersion), slog.String("got", sanitize(c.WorkerVersion)))
	}
	log.LogAttrs(ctx, slog.LevelDebug, "job claimed", slog.Duration("since_start", now.Sub(rec.RequestedAt)))
	return answer, nil
}
