package proofer

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/proofline/proofline"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"slices"
)

// DefaultMaxImageBytes is the default limit on one encrypted image (10 MiB).
const DefaultMaxImageBytes int64 = 10 << 20

// imageDeleteTimeout bounds the deletion of a job's images. Deletion runs
// even when the job's context is done, so it gets its own budget.
const imageDeleteTimeout = 10 * time.Second

// Stage names, as they appear in Result.Context.Stages.
const (
	StageResolution = "resolution"
	StageStateID    = "state_id"
	StageAddress    = "address"
	StageDocument   = "document"
)

// Exception messages. They name what went wrong, never a value, a key or a
// vendor's response.
const (
	MsgVendorTimeout   = "vendor timed out"
	MsgDeadlinePassed  = "job deadline passed before the vendor call"
	MsgVendorError     = "vendor error"
	MsgVendorNoResult  = "vendor returned no result"
	MsgBadPayload      = "job payload does not match job kind"
	MsgInvalidKey      = "document encryption key is invalid"
	MsgNotConfigured   = "vendor not configured"
	msgImageUnreadable = "%s image could not be read"
	msgImageUndecrypt  = "%s image could not be decrypted"
)

// Document failures the proofer adds after the vendor passed a document, under
// fieldGeneral ("general", the document as a whole).
const (
	// MsgIDExpired: the ID's state_id_expiration is before today.
	MsgIDExpired = "Your ID has expired"
	// msgIdentityUnread names the identity fields the vendor could not read.
	msgIdentityUnread = "We could not read your %s from your ID. Take new photos of your ID, or use another ID."
	fieldGeneral      = "general"
)

// Proofer runs one job's vendor calls and turns whatever happened into a
// proofline.Result. The zero value of the optional fields is usable; the
// vendors of the kinds it proofs (and Images for documents) must be set.
type Proofer struct {
	Resolution ResolutionVendor
	StateID    StateIDVendor
	Address    AddressVendor
	Document   DocumentVendor
	// Images is where document jobs read encrypted images from; every image
	// of a document job is deleted from it when the job ends.
	Images ImageSource
	// MaxImageBytes limits one encrypted image; 0 means DefaultMaxImageBytes.
	MaxImageBytes int64
	// VendorTimeout, when positive, bounds each vendor call inside the job
	// deadline; 0 (the default) leaves only the job deadline.
	VendorTimeout time.Duration
	// Now is the clock the job deadline is checked against; nil means time.Now.
	Now func() time.Time
	// Logger receives one Debug line per job (kind, stages, durations,
	// outcome; never PII) and warnings about images that could not be
	// deleted; nil discards.
	Logger *slog.Logger
	// Observer, when set, is told of every vendor call (metrics).
	Observer Observer
	// Tracer, when set, traces every vendor call as a span.
	Tracer trace.Tracer
}

// job is one Proof call in progress.
type job struct {
	res    proofline.Result
	timing []stageTiming
}

type stageTiming struct {
	stage, vendor, outcome string
	took                   time.Duration
}

// Proof runs the job of kind with payload pl. It never fails: a vendor
// failure, a vendor timeout, an expired deadline or a bad payload are all part
// of the returned (normalized) result. docs/architecture.md describes the sequencing.
//
//   - resolution: the resolution stage, then the state_id stage when
//     should_proof_state_id and the first passed; with dob_year_only (and
//     should_proof_state_id) state_id runs first and resolution only if it passed.
//     Resolution is sent the residential address, state_id the address on
//     the ID when the applicant carries one (identity_doc_*).
//   - address: one address stage.
//   - document: images read by key, decrypted (AES-256-GCM, the job's key and
//     each image's 12-byte IV, no additional data), one document stage; every
//     image is deleted afterwards whatever happened. A document the vendor
//     passed still fails when pii_from_doc lacks a name, date of birth or
//     state-ID field, or the ID expired before today (checkDocument).
//
// Before each vendor call the job deadline is checked; a call that can no
// longer be made is skipped and reported as a timed-out stage.
func (p *Proofer) Proof(ctx context.Context, kind proofline.Kind, pl *proofline.Payload) *proofline.Result {
	start := p.now()
	j := &job{}
	switch {
	case pl == nil:
		j.exception(MsgBadPayload)
	case kind == proofline.KindResolution && pl.Resolution != nil:
		p.proofResolution(ctx, j, pl.Resolution)
	case kind == proofline.KindAddress && pl.Address != nil:
		p.proofAddress(ctx, j, pl.Address)
	case kind == proofline.KindDocument && pl.Document != nil:
		p.proofDocument(ctx, j, pl.Document)
	default:
		j.exception(MsgBadPayload)
	}
	res := &j.res
	res.Normalize()
	p.logJob(ctx, kind, j, p.now().Sub(start))
	return res
}

func (p *Proofer) proofResolution(ctx context.Context, j *job, args *proofline.ResolutionArgs) {
	a := &args.Applicant
	// What each vendor answered, passed or not, for the additional
	// verification rule below.
	var resolved, verified *VendorResult
	resolution := func() bool {
		if p.Resolution == nil {
			j.exception(MsgNotConfigured)
			return false
		}
		return p.runStage(ctx, j, StageResolution, p.Resolution, func(ctx context.Context) (*VendorResult, error) {
			vr, err := p.Resolution.Resolve(ctx, a)
			resolved = vr
			return vr, err
		}) != nil
	}
	stateID := func() bool {
		if p.StateID == nil {
			j.exception(MsgNotConfigured)
			return false
		}
		sa := stateIDApplicant(a)
		return p.runStage(ctx, j, StageStateID, p.StateID, func(ctx context.Context) (*VendorResult, error) {
			vr, err := p.StateID.VerifyStateID(ctx, sa)
			verified = vr
			return vr, err
		}) != nil
	}
	// coverable: the resolution failed, but only on attributes the state-ID
	// check may verify instead.
	coverable := func() bool {
		return args.ShouldProofStateID && j.res.Exception == nil && resolved != nil && len(resolved.AdditionalVerification) > 0
	}
	ok := true
	switch {
	case args.ShouldProofStateID && args.DOBYearOnly:
		ok = stateID()
		if ok {
			ok = resolution() || coverable()
		}
	case args.ShouldProofStateID:
		ok = resolution()
		if ok || coverable() {
			ok = stateID()
		}
	default:
		ok = resolution()
	}
	if ok && resolved != nil && !resolved.Success() {
		// The resolution failed: it passes only with additional
		// verification, when the state-ID stage verified every attribute
		// it could not.
		ok = verified != nil && covers(verified.VerifiedAttributes, resolved.AdditionalVerification)
		if ok {
			for field := range resolved.Errors {
				delete(j.res.Errors, field)
			}
			j.res.Messages = append(j.res.Messages, "Resolution passed with additional verification by the state ID check.")
		}
	}
	j.res.Success = ok && j.res.Exception == nil && len(j.res.Errors) == 0
}

// stateIDApplicant is the applicant the state-ID (DMV) check is sent: with
// the address printed on the ID when the applicant carries one
// (identity_doc_*), as Login.gov's dual-address rule does; resolution keeps
// the residential address.
func stateIDApplicant(a *proofline.Applicant) *proofline.Applicant {
	if a.IdentityDocAddress1 == "" {
		return a
	}
	sa := *a
	sa.Address1, sa.Address2, sa.City = a.IdentityDocAddress1, a.IdentityDocAddress2, a.IdentityDocCity
	sa.State, sa.Zipcode = a.IdentityDocAddressState, a.IdentityDocZipcode
	return &sa
}

// covers reports whether verified holds every attribute of needed.
func covers(verified, needed []string) bool {
	for _, a := range needed {
		if !slices.Contains(verified, a) {
			return false
		}
	}
	return len(needed) > 0
}

func (p *Proofer) proofAddress(ctx context.Context, j *job, args *proofline.AddressArgs) {
	if p.Address == nil {
		j.exception(MsgNotConfigured)
		return
	}
	a := &args.Applicant
	ok := p.runStage(ctx, j, StageAddress, p.Address, func(ctx context.Context) (*VendorResult, error) {
		return p.Address.VerifyPhone(ctx, a)
	}) != nil
	j.res.Success = ok && j.res.Exception == nil
}

type docImage struct {
	side string
	ref  proofline.ImageRef
}

func (p *Proofer) proofDocument(ctx context.Context, j *job, args *proofline.DocumentArgs) {
	images := []docImage{{"front", args.Front}, {"back", args.Back}}
	if args.Selfie != nil {
		images = append(images, docImage{"selfie", *args.Selfie})
	}
	defer p.deleteImages(ctx, images)
	if p.Document == nil || p.Images == nil {
		j.exception(MsgNotConfigured)
		return
	}
	vendor := p.Document.Name()
	if p.skipExpired(ctx, j, StageDocument, vendor, budgetOf(p.Document)) {
		return
	}
	if len(args.EncryptionKey) != 32 {
		j.exception(MsgInvalidKey)
		return
	}
	block, err := aes.NewCipher(args.EncryptionKey)
	if err != nil {
		j.exception(MsgInvalidKey)
		return
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		j.exception(MsgInvalidKey)
		return
	}
	plain := make(map[string][]byte, len(images))
	defer func() {
		for _, b := range plain {
			clear(b)
		}
	}()
	for _, im := range images {
		b, msg := p.readImage(ctx, aead, im, args.AADBinding)
		if msg != "" {
			if !p.skipExpired(ctx, j, StageDocument, vendor, 0) {
				j.exception(msg)
			}
			return
		}
		plain[im.side] = b
	}
	di := &DocumentImages{
		Front:                   plain["front"],
		Back:                    plain["back"],
		Selfie:                  plain["selfie"],
		LivenessCheckingEnabled: args.LivenessCheckingEnabled,
		PersonRef:               args.PersonRef,
	}
	vr := p.runStage(ctx, j, StageDocument, p.Document, func(ctx context.Context) (*VendorResult, error) {
		return p.Document.AuthenticateDocument(ctx, di)
	})
	j.res.Success = vr != nil && j.res.Exception == nil
	if j.res.Success {
		p.checkDocument(j, vr.PIIFromDoc)
	}
}

// checkDocument fails a document the vendor passed when it cannot bind an
// identity (invariant 8): pii_from_doc lacks a name, date of birth or
// state-ID field, or the ID expired before today. It holds for every
// document vendor, since it reads only what the vendor answered.
func (p *Proofer) checkDocument(j *job, pii *proofline.DocumentPII) {
	now := p.now()
	if missing := pii.MissingIdentity(now); len(missing) > 0 {
		var words []string
		for _, f := range proofline.IdentityFields {
			if slices.Contains(missing, f.Field) {
				words = append(words, f.Words)
			}
		}
		j.res.AddError(fieldGeneral, fmt.Sprintf(msgIdentityUnread, strings.Join(words, ", ")))
		j.res.Success = false
		return
	}
	if pii.ExpiredBefore(now) {
		j.res.AddError(fieldGeneral, MsgIDExpired)
		j.res.Success = false
	}
}

// readImage reads and decrypts one image; on failure it returns a safe
// exception message naming the side.
func (p *Proofer) readImage(ctx context.Context, aead cipher.AEAD, im docImage, bindAAD bool) ([]byte, string) {
	if im.ref.Key == "" {
		return nil, fmt.Sprintf(msgImageUnreadable, im.side)
	}
	limit := p.MaxImageBytes
	if limit <= 0 {
		limit = DefaultMaxImageBytes
	}
	t0 := p.now()
	ct, err := p.Images.Read(ctx, im.ref.Key, limit)
	if err != nil || int64(len(ct)) > limit {
		record(ctx, Step{Name: "download_" + im.side, Outcome: "failed", Took: p.now().Sub(t0)})
		return nil, fmt.Sprintf(msgImageUnreadable, im.side)
	}
	t1 := p.now()
	record(ctx, Step{Name: "download_" + im.side, Outcome: "ok", Took: t1.Sub(t0)})
	if len(im.ref.IV) != aead.NonceSize() || len(ct) < aead.Overhead() {
		record(ctx, Step{Name: "decrypt_" + im.side, Outcome: "failed"})
		return nil, fmt.Sprintf(msgImageUndecrypt, im.side)
	}
	// Into a new buffer: the store may hand out a slice it still holds.
	var aad []byte
	if bindAAD {
		aad = []byte(im.ref.Key) // "{capture_id}/{side}"
	}
	pt, err := aead.Open(nil, im.ref.IV, ct, aad)
	outcome := "ok"
	if err != nil {
		outcome = "failed"
	}
	record(ctx, Step{Name: "decrypt_" + im.side, Outcome: outcome, Took: p.now().Sub(t1)})
	if err != nil {
		return nil, fmt.Sprintf(msgImageUndecrypt, im.side)
	}
	return pt, ""
}

// deleteImages deletes every image of a document job, with its own budget
// so that it happens even after the job's deadline.
func (p *Proofer) deleteImages(ctx context.Context, images []docImage) {
	if p.Images == nil {
		return
	}
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), imageDeleteTimeout)
	defer cancel()
	seen := map[string]bool{}
	for _, im := range images {
		key := im.ref.Key
		if key == "" || seen[key] {
			continue
		}
		seen[key] = true
		if err := p.Images.Delete(dctx, key); err != nil {
			// The error text of a store may carry URLs or paths; log its type only.
			p.logger().LogAttrs(ctx, slog.LevelWarn, "image delete failed",
				slog.String("key", logSafe(key)), slog.String("side", im.side),
				slog.String("error_type", fmt.Sprintf("%T", err)))
		}
	}
}

// runStage makes one vendor call as one stage and folds it into the result.
// It returns the vendor's result when the stage passed, nil otherwise.
func (p *Proofer) runStage(ctx context.Context, j *job, stage string, v interface{ Name() string }, call func(context.Context) (*VendorResult, error)) *VendorResult {
	vendor := v.Name()
	if p.skipExpired(ctx, j, stage, vendor, budgetOf(v)) {
		return nil
	}
	cctx := ctx
	if p.VendorTimeout > 0 {
		var cancel context.CancelFunc
		cctx, cancel = context.WithTimeout(ctx, p.VendorTimeout)
		defer cancel()
	}
	var span trace.Span
	if p.Tracer != nil {
		cctx, span = p.Tracer.Start(cctx, "proofline.vendor."+stage, trace.WithSpanKind(trace.SpanKindClient),
			trace.WithAttributes(attribute.String("proofline.vendor", vendor)))
	}
	t0 := p.now()
	vr, err := safeCall(cctx, call)
	took := p.now().Sub(t0)

	st := proofline.Stage{Stage: stage, Vendor: vendor}
	if vr != nil {
		st.TransactionID = vr.TransactionID
	}
	var outcome string
	switch {
	case err != nil && (errors.Is(err, ErrVendorTimeout) || errors.Is(err, context.DeadlineExceeded) || cctx.Err() != nil):
		st.TimedOut, st.Exception = true, true
		j.res.TimedOut = true
		j.exception(MsgVendorTimeout)
		outcome = "timeout"
	case err != nil:
		st.Exception = true
		var ve *VendorError
		st.MVATimeout = errors.As(err, &ve) && ve.MVATimeout
		j.exception(exceptionMessage(err))
		outcome = "exception"
	case vr == nil:
		st.Exception = true
		j.exception(MsgVendorNoResult)
		outcome = "exception"
	default:
		st.Success = vr.Success() && vr.DocResult != "Failed"
		j.merge(vr)
		outcome = "failed"
		if st.Success {
			outcome = "passed"
		}
	}
	j.addStage(st, outcome, took)
	if span != nil {
		span.SetAttributes(attribute.String("proofline.outcome", outcome))
		if outcome == "exception" || outcome == "timeout" {
			span.SetStatus(codes.Error, outcome)
		}
		span.End()
	}
	record(ctx, Step{Name: stage, Vendor: vendor, Outcome: outcome, Took: took})
	if p.Observer != nil {
		p.Observer.VendorCall(stage, vendor, outcome, took)
	}
	if st.Success {
		return vr
	}
	return nil
}

// skipExpired records a timed-out stage without calling the vendor when the
// job's context is done, or less than budget (the vendor's call time) is left
// before its deadline: a call that cannot finish in time is not made.
func (p *Proofer) skipExpired(ctx context.Context, j *job, stage, vendor string, budget time.Duration) bool {
	expired := ctx.Err() != nil
	if dl, ok := ctx.Deadline(); ok && dl.Sub(p.now()) < max(budget, time.Nanosecond) {
		expired = true
	}
	if !expired {
		return false
	}
	j.res.TimedOut = true
	j.exception(MsgDeadlinePassed)
	j.addStage(proofline.Stage{Stage: stage, Vendor: vendor, TimedOut: true, Exception: true}, "skipped_deadline", 0)
	record(ctx, Step{Name: stage, Vendor: vendor, Outcome: "skipped_deadline"})
	if p.Observer != nil {
		p.Observer.VendorCall(stage, vendor, "skipped_deadline", 0)
	}
	return true
}

// budgetOf is the call time a vendor declares (Budgeted), or 0.
func budgetOf(v any) time.Duration {
	if b, ok := v.(Budgeted); ok {
		return b.CallBudget()
	}
	return 0
}

// safeCall makes the call, turning a vendor panic into an error (its value is
// dropped: it may hold PII).
func safeCall(ctx context.Context, call func(context.Context) (*VendorResult, error)) (vr *VendorResult, err error) {
	defer func() {
		if recover() != nil {
			vr, err = nil, errVendorPanic
		}
	}()
	return call(ctx)
}

var errVendorPanic = errors.New("vendor panicked")

// exceptionMessage is the result's exception for a vendor error: a
// VendorError's Message (safe by contract, cleaned of control characters),
// anything else a fixed message, since its text may hold anything.
func exceptionMessage(err error) string {
	var ve *VendorError
	if errors.As(err, &ve) {
		if m := logSafe(ve.Message); m != "" {
			return m
		}
	}
	return MsgVendorError
}

func (j *job) exception(msg string) {
	if j.res.Exception == nil {
		j.res.SetException(msg)
	}
	j.res.Success = false
}

func (j *job) merge(vr *VendorResult) {
	for field, msgs := range vr.Errors {
		for _, m := range msgs {
			j.res.AddError(field, m)
		}
		if len(msgs) == 0 && j.res.Errors[field] == nil {
			// A failed field without a message still shows as failed.
			if j.res.Errors == nil {
				j.res.Errors = map[string][]string{}
			}
			j.res.Errors[field] = []string{}
		}
	}
	j.res.Messages = append(j.res.Messages, vr.Messages...)
	if vr.Billed || vr.DocResult != "" || vr.PIIFromDoc != nil || len(vr.Alerts) > 0 {
		billed := vr.Billed
		j.res.Billed = &billed
		j.res.Result = vr.DocResult
		j.res.RawAlerts = append([]proofline.Alert(nil), vr.Alerts...)
		j.res.PIIFromDoc = vr.PIIFromDoc
	}
}

func (j *job) addStage(st proofline.Stage, outcome string, took time.Duration) {
	j.res.Context.Stages = append(j.res.Context.Stages, st)
	j.res.TransactionID = st.TransactionID
	j.timing = append(j.timing, stageTiming{stage: st.Stage, vendor: st.Vendor, outcome: outcome, took: took})
}

func (p *Proofer) logJob(ctx context.Context, kind proofline.Kind, j *job, took time.Duration) {
	log := p.logger()
	if !log.Enabled(ctx, slog.LevelDebug) {
		return
	}
	stages := make([]any, 0, len(j.timing))
	for i, t := range j.timing {
		stages = append(stages, slog.Group(fmt.Sprint(i),
			slog.String("stage", t.stage), slog.String("vendor", logSafe(t.vendor)),
			slog.String("outcome", t.outcome), slog.Duration("took", t.took)))
	}
	log.LogAttrs(ctx, slog.LevelDebug, "proofing job done",
		slog.String("kind", logSafe(string(kind))),
		slog.Bool("success", j.res.Success),
		slog.Bool("timed_out", j.res.TimedOut),
		slog.Bool("exception", j.res.Exception != nil),
		slog.Int("error_fields", len(j.res.Errors)),
		slog.Group("stages", stages...),
		slog.Duration("took", took))
}

func (p *Proofer) now() time.Time {
	if p.Now != nil {
		return p.Now()
	}
	return time.Now()
}

func (p *Proofer) logger() *slog.Logger {
	if p.Logger != nil {
		return p.Logger
	}
	return slog.New(slog.DiscardHandler)
}

// logSafe drops control characters (CR, LF, ...) and caps the length of a
// string bound for a log line or an exception message.
func logSafe(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, s)
	if len(s) > 200 {
		s = strings.ToValidUTF8(s[:200], "")
	}
	return s
}
