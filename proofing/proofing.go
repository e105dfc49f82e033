// Package proofing is proofline as a library: an identity provider written in
// Go starts proofing jobs, reads and forgets their outcomes, and receives the
// workers' callbacks through a Service. The JSON API, the pages and the
// `proofline serve` command are thin layers over it.
package proofing

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/netip"
	"regexp"
	"strings"
	"time"

	"github.com/proofline/proofline"
	"github.com/proofline/proofline/blobstore"
	"github.com/proofline/proofline/dispatch"
	"github.com/proofline/proofline/observe/tracing"
	"github.com/proofline/proofline/proofing/attempts"
	"github.com/proofline/proofline/resultstore"
	"github.com/proofline/proofline/tenant"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// Options configure a Service. Store, Dispatcher, CallbackTokens and
// CallbackBaseURL are required; Blobs is required for document jobs.
type Options struct {
	Store      *resultstore.Store
	Blobs      *blobstore.Store
	Dispatcher *dispatch.Dispatcher
	// CallbackTokens are the per-kind shared tokens workers present in
	// X-API-AUTH-TOKEN (the original *_proof_result_lambda_token settings).
	// A value may list several comma-separated tokens while one is rotated
	// out: any of them is accepted.
	CallbackTokens map[proofline.Kind]string
	// CallbackBaseURL is the origin workers reach this IdP at, e.g.
	// https://idp.example.gov; callbacks go to CallbackBaseURL + CallbackPath.
	CallbackBaseURL string
	// Timeout is how long a person waits for an outcome
	// (async_wait_timeout_seconds). Default 60 s.
	Timeout time.Duration
	// ClockSkew bounds the callback timestamp's distance from now. Default 2 min.
	ClockSkew time.Duration
	// WorkerVersion is the pinned worker build dispatched to; a callback from
	// another build is logged and counted, not refused.
	WorkerVersion string
	Logger        *slog.Logger
	Now           func() time.Time
	// Observer, when set, is told of every counted event (metrics).
	Observer Observer
	// TracerProvider traces starts and callbacks; nil means off.
	TracerProvider trace.TracerProvider
	// Attempts limits attempts per person and per client IP; nil: no limits.
	Attempts *attempts.Limiter
	// StateIDJurisdictions are the jurisdictions the state-ID (DMV) vendor
	// supports: a resolution bound to a document proofs the state ID
	// whenever the document's jurisdiction is one of them. nil: every
	// jurisdiction (the state-ID stage always runs after a document).
	StateIDJurisdictions []string
	// Captures records which tenant created each document capture, so a
	// document start names only its own tenant's capture (tenancy.go).
	// nil: captures are not tracked (a single-tenant library use).
	Captures *resultstore.Records
	// Notify, when set, is called after the result of an attempt started
	// with Attempt.Notify is stored (the proofing_job.completed webhook).
	// It must not block for long; its failure is its own to log.
	Notify func(ctx context.Context, o *proofline.Outcome)
}

// Observer is told of what the service counts. Reasons for a refused
// callback: token, signature, unknown, malformed, duplicate, late; for a
// refused claim: claim_token, claim_proof, claim_unknown, claim_malformed,
// claim_duplicate, claim_late. It must be
// fast and safe for concurrent use, and it never sees PII.
type Observer interface {
	JobStarted(kind proofline.Kind)
	CallbackRefused(kind proofline.Kind, reason string)
	// ResultStored reports a stored result: how long after the start, out of
	// how long a budget, and how it ended.
	ResultStored(kind proofline.Kind, sinceStart, budget time.Duration, r *proofline.Result)
	VersionMismatch(kind proofline.Kind)
}

// Service is the core of proofline. It is safe for concurrent use and holds no
// state of its own beyond counters: every record lives in the result store, so
// any number of Services sharing a store answer each other's polls and callbacks.
type Service struct {
	opts    Options
	tracer  trace.Tracer
	tokens  map[proofline.Kind][]string
	stats   Stats
	waiters waiters
	// claimKeys answers claims (the IdP's X25519 key pair, replaced every
	// few seconds).
	claimKeys *proofline.ClaimKeys
}

// New checks opts and returns a Service.
func New(opts Options) (*Service, error) {
	switch {
	case opts.Store == nil:
		return nil, errors.New("proofing: Store is required")
	case opts.Dispatcher == nil:
		return nil, errors.New("proofing: Dispatcher is required")
	case opts.CallbackBaseURL == "":
		return nil, errors.New("proofing: CallbackBaseURL is required")
	}
	tokens := map[proofline.Kind][]string{}
	seen := map[string]proofline.Kind{}
	for _, k := range proofline.Kinds {
		for _, t := range strings.Split(opts.CallbackTokens[k], ",") {
			if t = strings.TrimSpace(t); t == "" {
				continue
			}
			if other, dup := seen[t]; dup && other != k {
				return nil, errors.New("proofing: the " + string(k) + " and " + string(other) + " callback tokens must differ")
			}
			seen[t] = k
			tokens[k] = append(tokens[k], t)
		}
		if len(tokens[k]) == 0 {
			return nil, errors.New("proofing: a callback token is required for " + string(k))
		}
	}
	opts.CallbackBaseURL = strings.TrimRight(opts.CallbackBaseURL, "/")
	if opts.Timeout <= 0 {
		opts.Timeout = 60 * time.Second
	}
	if opts.ClockSkew <= 0 {
		opts.ClockSkew = 2 * time.Minute
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if js := opts.StateIDJurisdictions; js != nil {
		opts.StateIDJurisdictions = make([]string, 0, len(js))
		for _, j := range js {
			opts.StateIDJurisdictions = append(opts.StateIDJurisdictions, strings.ToUpper(strings.TrimSpace(j)))
		}
	}
	svc := &Service{opts: opts, tokens: tokens, tracer: tracing.Tracer(opts.TracerProvider), claimKeys: proofline.NewClaimKeys(0, opts.Now)}
	svc.stats.obs = opts.Observer
	return svc, nil
}

// Timeout is how long a person waits for an outcome.
func (s *Service) Timeout() time.Duration { return s.opts.Timeout }

// Started is the answer to a job start.
type Started struct {
	ResultID string
	Kind     proofline.Kind
	Deadline time.Time
}

// Attempt names who is attempting, for the attempt limits (idv_max_attempts
// per person, idv_max_attempts_per_ip per client IP). Both are optional and
// both are stored only as keyed hashes.
type Attempt struct {
	// PersonID is the IdP's opaque id of the person (not PII: a user uuid).
	PersonID string `json:"person_id,omitempty"`
	// ClientIP is the person's IP address as the IdP saw it.
	ClientIP string `json:"client_ip,omitempty"`
	// Notify asks for Options.Notify when the result is stored (set by the
	// JSON API for clients with job webhooks; never from a request body).
	Notify bool `json:"-"`
}

func (a *Attempt) validate(v *proofline.ValidationError) {
	if len(a.PersonID) > 256 || strings.ContainsAny(a.PersonID, "\x00\r\n") {
		v.Add("person_id", "must be at most 256 characters without control characters")
	}
	if a.ClientIP != "" {
		ip, err := netip.ParseAddr(a.ClientIP)
		if err != nil {
			v.Add("client_ip", "must be an IPv4 or IPv6 address")
		} else {
			a.ClientIP = ip.Unmap().String()
		}
	}
}

// ResolutionRequest starts a resolution job.
type ResolutionRequest struct {
	Attempt
	Applicant          proofline.Applicant `json:"applicant"`
	ShouldProofStateID bool                `json:"should_proof_state_id"`
	DOBYearOnly        bool                `json:"dob_year_only"`
	// DocumentResultID binds the applicant to a done, successful document
	// result (see bindDocument); starting the resolution consumes it.
	DocumentResultID string `json:"document_result_id,omitempty"`
	// Document binds the applicant to document PII the caller keeps sealed
	// itself (the web flow's sealed session), as DocumentResultID does
	// (which wins when both are set); its errors name the field "document".
	// It never comes from a request body.
	Document *proofline.DocumentPII `json:"-"`
}

// AddressRequest starts an address (phone) job.
type AddressRequest struct {
	Attempt
	Applicant proofline.Applicant `json:"applicant"`
}

// DocumentRequest starts a document job from images already uploaded through
// a capture's presigned URLs.
type DocumentRequest struct {
	Attempt
	CaptureID               string `json:"capture_id"`
	EncryptionKey           string `json:"encryption_key"`
	FrontImageURL           string `json:"front_image_url"`
	FrontImageIV            string `json:"front_image_iv"`
	BackImageURL            string `json:"back_image_url"`
	BackImageIV             string `json:"back_image_iv"`
	SelfieImageURL          string `json:"selfie_image_url,omitempty"`
	SelfieImageIV           string `json:"selfie_image_iv,omitempty"`
	LivenessCheckingEnabled bool   `json:"liveness_checking_enabled"`
	// AADBinding says each image was encrypted with "{capture_id}/{side}"
	// as AES-GCM additional data (recommended; without it the original
	// design's format, no additional data, is read).
	AADBinding bool `json:"aad_binding,omitempty"`
	// PersonRef is the IdP's reference of the person, "<uuid_prefix>:<uuid>"
	// (its service provider id and user uuid; not PII): at most 128 of
	// A-Z a-z 0-9 : _ -. The document vendor gets it as its request
	// reference (TrueID's Settings.Reference); without it a random one.
	PersonRef string `json:"person_ref,omitempty"`
}

// personRefRE is what a person_ref may hold.
var personRefRE = regexp.MustCompile(`^[A-Za-z0-9:_-]{0,128}$`)

// StartResolution validates r and starts a resolution job. Validation
// failures are a *proofline.ValidationError naming each bad field.
//
// With DocumentResultID (or Document) the names, date of birth and state-ID
// fields are the document's: a request value that differs is a field error
// "does not match the document", and the state-ID stage runs whenever the
// document's jurisdiction is one of StateIDJurisdictions. A DocumentResultID
// must name a done, successful document result that is still stored; it is
// deleted before the job starts, so it binds one resolution only.
func (s *Service) StartResolution(ctx context.Context, r ResolutionRequest) (*Started, error) {
	var v proofline.ValidationError
	if err := s.bindDocument(ctx, &r, &v); err != nil {
		return nil, err
	}
	r.Applicant.Validate(proofline.ApplicantRules{RequireIdentity: true, RequireStateID: r.ShouldProofStateID}, s.opts.Now(), "", &v)
	r.Attempt.validate(&v)
	if err := v.Err(); err != nil {
		return nil, err
	}
	if err := s.consumeDocument(ctx, r.DocumentResultID); err != nil {
		return nil, err
	}
	return s.start(ctx, proofline.KindResolution, r.Attempt, &proofline.Payload{Resolution: &proofline.ResolutionArgs{
		Applicant: r.Applicant, ShouldProofStateID: r.ShouldProofStateID, DOBYearOnly: r.DOBYearOnly,
	}})
}

// StartAddress validates r and starts an address (phone) job.
func (s *Service) StartAddress(ctx context.Context, r AddressRequest) (*Started, error) {
	var v proofline.ValidationError
	r.Applicant.Validate(proofline.ApplicantRules{RequirePhone: true}, s.opts.Now(), "", &v)
	r.Attempt.validate(&v)
	if err := v.Err(); err != nil {
		return nil, err
	}
	return s.start(ctx, proofline.KindAddress, r.Attempt, &proofline.Payload{Address: &proofline.AddressArgs{Applicant: r.Applicant}})
}

// NewCapture issues presigned upload URLs for one document capture.
func (s *Service) NewCapture(ctx context.Context) (*blobstore.Capture, error) {
	if s.opts.Blobs == nil {
		return nil, proofline.Errorf(proofline.EUNAVAILABLE, "document capture is not configured")
	}
	c, err := s.opts.Blobs.NewCapture(ctx)
	if err != nil {
		return nil, err
	}
	if err := s.recordCapture(ctx, c); err != nil {
		return nil, err
	}
	return c, nil
}

// StartDocument validates r and starts a document job. Image URLs must be
// the capture's own upload URLs; anything else is refused before any fetch.
// Two sides under the same IV are refused (one key encrypts them all).
// A refused start (invalid, attempt limit, no capacity, store or queue down)
// deletes the capture's images: no job will read them, and a retry is a
// new capture.
func (s *Service) StartDocument(ctx context.Context, r DocumentRequest) (_ *Started, err error) {
	if s.opts.Blobs == nil {
		return nil, proofline.Errorf(proofline.EUNAVAILABLE, "document proofing is not configured")
	}
	// Another tenant's capture (or an unknown one) is not found, and its
	// images are left alone.
	if err := s.ownCapture(ctx, r.CaptureID); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil && validCaptureID(r.CaptureID) {
			s.discardCapture(ctx, r.CaptureID)
		}
	}()
	var v proofline.ValidationError
	if !validCaptureID(r.CaptureID) {
		v.Add("capture_id", requiredOr(r.CaptureID, "is not a capture id"))
	}
	key, err := decodeB64(r.EncryptionKey)
	if err != nil || len(key) != 32 {
		v.Add("encryption_key", requiredOr(r.EncryptionKey, "must be a base64 AES-256 key (32 bytes)"))
	}
	args := &proofline.DocumentArgs{EncryptionKey: key, LivenessCheckingEnabled: r.LivenessCheckingEnabled, AADBinding: r.AADBinding}
	if !personRefRE.MatchString(r.PersonRef) {
		v.Add("person_ref", "must be at most 128 letters, digits, ':', '_' or '-'")
	} else {
		args.PersonRef = r.PersonRef
	}
	// One key encrypts every side: two sides under one IV would be an
	// AES-GCM nonce reuse. The later field is refused.
	seenIVs := map[string]string{} // decoded IV → field
	image := func(side blobstore.Side, rawURL, iv string, ref *proofline.ImageRef) {
		name := string(side) + "_image"
		if rawURL == "" {
			v.Add(name+"_url", "is required")
		} else if cid, gotSide, k, err := s.opts.Blobs.KeyFromURL(rawURL); err != nil {
			v.Add(name+"_url", "is not an upload URL issued by this service")
		} else if cid != r.CaptureID || gotSide != side {
			v.Add(name+"_url", "does not belong to this capture and side")
		} else {
			ref.Key = k
		}
		b, err := decodeB64(iv)
		if err != nil || len(b) != 12 {
			v.Add(name+"_iv", requiredOr(iv, "must be a base64 12-byte IV"))
		} else if first, dup := seenIVs[string(b)]; dup {
			v.Add(name+"_iv", "must differ from "+first)
		} else {
			seenIVs[string(b)] = name + "_iv"
		}
		ref.IV = b
	}
	image(blobstore.SideFront, r.FrontImageURL, r.FrontImageIV, &args.Front)
	image(blobstore.SideBack, r.BackImageURL, r.BackImageIV, &args.Back)
	if r.LivenessCheckingEnabled {
		args.Selfie = &proofline.ImageRef{}
		image(blobstore.SideSelfie, r.SelfieImageURL, r.SelfieImageIV, args.Selfie)
	}
	r.Attempt.validate(&v)
	if err := v.Err(); err != nil {
		return nil, err
	}
	return s.start(ctx, proofline.KindDocument, r.Attempt, &proofline.Payload{Document: args})
}

// DiscardCapture deletes every image of a capture that will not be
// submitted (the web flow replaced it, or the person started over). An id
// that is not a capture id, or a capture with no images, is a no-op.
func (s *Service) DiscardCapture(ctx context.Context, captureID string) {
	if s.opts.Blobs == nil || !validCaptureID(captureID) {
		return
	}
	s.discardCapture(ctx, captureID)
}

// discardCapture deletes every image of a capture whose start was refused.
// A failure is logged; the blob store's sweep (local) or the bucket's
// lifecycle rule (S3) removes what is left.
func (s *Service) discardCapture(ctx context.Context, captureID string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	for _, side := range blobstore.Sides() {
		if err := s.opts.Blobs.Delete(ctx, blobstore.Key(captureID, side)); err != nil {
			s.opts.Logger.LogAttrs(ctx, slog.LevelWarn, "refused capture: image not deleted",
				slog.String("capture_id", captureID), slog.String("side", string(side)), slog.String("code", proofline.ErrorCode(err)))
		}
	}
}

func (s *Service) start(ctx context.Context, kind proofline.Kind, who Attempt, p *proofline.Payload) (_ *Started, err error) {
	now := s.opts.Now()
	id := proofline.NewResultID()
	ctx, span := s.tracer.Start(ctx, "proofline.start", trace.WithAttributes(
		attribute.String("proofline.kind", string(kind)), attribute.String("proofline.result_id", id)))
	defer func() {
		if err != nil {
			span.SetStatus(codes.Error, proofline.ErrorCode(err))
		}
		span.End()
	}()
	deadline := now.Add(s.opts.Timeout)
	traceID, spanID := newTraceID(), ""
	if sc := span.SpanContext(); sc.IsValid() {
		traceID, spanID = sc.TraceID().String(), sc.SpanID().String()
	}
	// The payload is sealed under a fresh data key that lives only in the
	// pending record (sealed with the record ring) until a worker claims it.
	env, jobKeys, err := proofline.SealEnvelope(proofline.Envelope{
		Kind: kind, ResultID: id, CallbackURL: s.opts.CallbackBaseURL + proofline.CallbackPath(kind, id),
		Deadline: deadline, TraceID: traceID, SpanID: spanID, WorkerVersion: s.opts.WorkerVersion,
	}, p)
	if err != nil {
		return nil, err
	}
	var keys attempts.Keys
	owner := tenant.From(ctx)
	if s.opts.Attempts != nil {
		if keys, err = s.opts.Attempts.Reserve(ctx, attempts.Subject{PersonID: personSubject(owner, who.PersonID), ClientIP: who.ClientIP}, id, deadline); err != nil {
			if proofline.ErrorCode(err) == proofline.ELIMIT {
				s.opts.Logger.LogAttrs(ctx, slog.LevelWarn, "attempt refused: limit reached", slog.String("kind", string(kind)))
			}
			return nil, err
		}
	}
	release := func() { // nothing will answer this attempt
		if s.opts.Attempts != nil {
			s.opts.Attempts.Finish(context.WithoutCancel(ctx), keys, id, false)
		}
	}
	if err := s.opts.Store.CreatePending(ctx, resultstore.Pending{
		ResultID: id, Kind: kind, RequestedAt: now, Deadline: deadline,
		DataKey: jobKeys.DataKey, ClaimToken: jobKeys.ClaimToken, CallbackSecret: jobKeys.CallbackSecret,
		TraceID: traceID, AttemptKeys: keys, Tenant: owner, Notify: who.Notify && s.opts.Notify != nil,
	}); err != nil {
		release()
		return nil, err
	}
	if err := s.opts.Dispatcher.Dispatch(ctx, env); err != nil {
		// Forget it so it is not polled to a timeout, and give the attempt back.
		_ = s.opts.Store.Delete(context.WithoutCancel(ctx), id)
		release()
		return nil, err
	}
	s.stats.started(kind)
	s.opts.Logger.LogAttrs(ctx, slog.LevelInfo, "job started",
		slog.String("kind", string(kind)), slog.String("result_id", id), slog.String("trace_id", traceID))
	return &Started{ResultID: id, Kind: kind, Deadline: deadline}, nil
}

// Outcome returns the state of an attempt: pending, done with its result, or
// timed_out. ENOTFOUND for an id that never existed, expired or was
// forgotten, or that belongs to another tenant than ctx's (tenant.From).
func (s *Service) Outcome(ctx context.Context, resultID string) (*proofline.Outcome, error) {
	o, err := s.opts.Store.Outcome(ctx, resultID)
	if err != nil {
		return nil, err
	}
	if o.Tenant != tenant.From(ctx) {
		return nil, proofline.Errorf(proofline.ENOTFOUND, "result not found")
	}
	return o, nil
}

// Forget deletes an attempt once the IdP has taken its result. ENOTFOUND as
// for Outcome: another tenant's attempt is neither read nor deleted.
func (s *Service) Forget(ctx context.Context, resultID string) error {
	// A record this server wrote needs no read to know whose it is.
	owner, ok := s.opts.Store.TenantHere(resultID)
	if !ok {
		rec, err := s.opts.Store.Lookup(ctx, resultID)
		if err != nil {
			return err
		}
		owner = rec.Tenant
	}
	if owner != tenant.From(ctx) {
		return proofline.Errorf(proofline.ENOTFOUND, "result not found")
	}
	return s.opts.Store.Delete(ctx, resultID)
}

func validCaptureID(id string) bool {
	if len(id) != 32 {
		return false
	}
	_, err := hex.DecodeString(id)
	return err == nil && strings.ToLower(id) == id
}

func requiredOr(value, msg string) string {
	if value == "" {
		return "is required"
	}
	return msg
}

func newTraceID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
