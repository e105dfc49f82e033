package resultstore

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/proofline/proofline"
)

// DefaultTimeout is async_wait_timeout_seconds when Options leaves it zero.
const DefaultTimeout = 60 * time.Second

// recordVersion is the version of the sealed record this build writes and
// reads. Version 2 holds the per-job keys of envelope v2 (data key, claim
// token, callback secret) and the claim.
const recordVersion = 2

// maxTraceID bounds the trace id kept in a record.
const maxTraceID = 256

// AAD prefixes. The result id follows each, so a sealed value moved to
// another id (or the PII field moved into another record) does not open.
const (
	recordAAD = "proofline/record/v1\x00"
	piiAAD    = "proofline/pii/v1\x00"
)

// Options configures a Store. The zero value is ready to use.
type Options struct {
	// Timeout is async_wait_timeout_seconds: how long a done record stays
	// readable, and how long a pending record stays readable (as timed_out)
	// after its deadline. Default DefaultTimeout (60s).
	Timeout time.Duration
	// Now is the clock that decides timed_out and TTLs. Default time.Now.
	Now func() time.Time
}

// Store keeps proofing records in a Driver, sealed with a Sealer. It is the
// one type callers use, whatever the driver; it is safe for concurrent use.
//
// Every method returns a *proofline.Error: ENOTFOUND for a record that is
// absent, expired, deleted or whose id is malformed; ECONFLICT when the
// record already has an outcome; EINVALID for bad input; EUNAVAILABLE when
// the driver fails (wrapping its error); EINTERNAL when a stored value does
// not open or decode (wrong key, tampered, moved to another id).
type Store struct {
	d       Driver
	sealer  proofline.Sealer
	timeout time.Duration
	now     func() time.Time
	// recent: pending values this Store wrote (see LookupForUpdate).
	recent *recent
}

// New returns a Store over d that seals every value with s. The Store owns d:
// Store.Close closes it.
func New(d Driver, s proofline.Sealer, opts Options) *Store {
	if d == nil || s == nil {
		panic("resultstore: New needs a driver and a sealer")
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Store{d: d, sealer: s, timeout: opts.Timeout, now: opts.Now, recent: newRecent()}
}

// Timeout returns the configured timeout.
func (s *Store) Timeout() time.Duration { return s.timeout }

// Pending is what the IdP records when it starts an attempt.
type Pending struct {
	ResultID    string
	Kind        proofline.Kind
	RequestedAt time.Time
	Deadline    time.Time
	// DataKey, ClaimToken and CallbackSecret are the job's keys
	// (proofline.JobKeys). DataKey is removed from the record when the job
	// is claimed, and all three when it is done: once the record ends, no
	// copy of the envelope opens.
	DataKey        []byte
	ClaimToken     []byte
	CallbackSecret []byte
	TraceID        string
	// AttemptKeys are the hashed attempt-limit subjects this attempt holds
	// a slot for (package attempts), released when the result arrives.
	AttemptKeys []string
	// Tenant is the API client (tenant) the attempt belongs to; only it
	// may read or forget it. Empty for the attempts of the built-in demo.
	Tenant string
	// Notify asks for a proofing_job.completed webhook to the tenant when
	// the result is stored.
	Notify bool
}

// Record is one stored attempt as read by Lookup.
type Record struct {
	Pending
	// State is StatusPending or StatusDone, as stored; a pending record past
	// its deadline is still StatusPending here (Outcome reports timed_out).
	State proofline.Status
	// ClaimedAt is when a worker claimed the data key (zero: not claimed).
	// A claimed pending record no longer holds the data key.
	ClaimedAt time.Time
	// TimedOut is set on a pending record once a reader was told
	// timed_out (Outcome stores it before answering): the attempt has
	// ended, and no callback can make it done any more.
	TimedOut bool
	// CompletedAt and Result are set when State is StatusDone.
	CompletedAt time.Time
	Result      *proofline.Result

	raw  []byte  // the sealed value as read: Complete swaps it
	read Pending // the pending fields as read: Complete writes these
	// remembered: raw is the value this Store last wrote, not one just
	// read (LookupForUpdate); a failed swap reads the record once more.
	remembered bool
}

// record is the plaintext of a stored value, before sealing.
type record struct {
	V           int               `json:"v"`
	State       proofline.Status  `json:"state"`
	Kind        proofline.Kind    `json:"kind"`
	RequestedAt time.Time         `json:"requested_at"`
	Deadline    time.Time         `json:"deadline"`
	DataKey     []byte            `json:"data_key,omitempty"`
	ClaimToken  []byte            `json:"claim_token,omitempty"`
	Secret      []byte            `json:"callback_secret,omitempty"`
	ClaimedAt   time.Time         `json:"claimed_at,omitzero"`
	TimedOut    bool              `json:"timed_out,omitempty"`
	TraceID     string            `json:"trace_id,omitempty"`
	AttemptKeys []string          `json:"attempt_keys,omitempty"`
	Tenant      string            `json:"tenant,omitempty"`
	Notify      bool              `json:"notify,omitempty"`
	CompletedAt time.Time         `json:"completed_at,omitzero"`
	Result      *proofline.Result `json:"result,omitempty"` // PIIFromDoc always nil
	// PII is the sealed JSON of Result.PIIFromDoc, bound to the result id.
	PII []byte `json:"pii,omitempty"`
}

// CreatePending stores p as a pending record. It stays readable until
// p.Deadline plus the timeout, so a timed_out status can still be answered
// for one more timeout period. ECONFLICT if the id is already in use.
func (s *Store) CreatePending(ctx context.Context, p Pending) error {
	now := s.now()
	if err := validatePending(&p, now); err != nil {
		return err
	}
	ttl := p.Deadline.Sub(now) + s.timeout
	value, err := s.seal(&record{
		V:           recordVersion,
		State:       proofline.StatusPending,
		Kind:        p.Kind,
		RequestedAt: p.RequestedAt.UTC(),
		Deadline:    p.Deadline.UTC(),
		DataKey:     p.DataKey,
		ClaimToken:  p.ClaimToken,
		Secret:      p.CallbackSecret,
		TraceID:     p.TraceID,
		AttemptKeys: p.AttemptKeys,
		Tenant:      p.Tenant,
		Notify:      p.Notify,
	}, p.ResultID, nil)
	if err != nil {
		return err
	}
	err = s.d.Create(ctx, p.ResultID, value, ttl)
	s.remember(p.ResultID, value, &p, err)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrExists):
		return proofline.Errorf(proofline.ECONFLICT, "result id already in use")
	default:
		return unavailable(err)
	}
}

func validatePending(p *Pending, now time.Time) error {
	invalid := func(field, msg string) error {
		return &proofline.Error{Code: proofline.EINVALID, Message: msg, Field: field}
	}
	switch {
	case !proofline.ValidResultID(p.ResultID):
		return invalid("result_id", "result id malformed")
	case !p.Kind.Valid():
		return invalid("kind", "unknown job kind")
	case p.RequestedAt.IsZero():
		return invalid("requested_at", "requested_at missing")
	case p.Deadline.IsZero():
		return invalid("deadline", "deadline missing")
	case !p.Deadline.After(now):
		return invalid("deadline", "deadline already passed")
	case len(p.DataKey) != proofline.KeySize:
		return invalid("data_key", "data key must be 32 bytes")
	case len(p.ClaimToken) != proofline.KeySize:
		return invalid("claim_token", "claim token must be 32 bytes")
	case len(p.CallbackSecret) != proofline.KeySize:
		return invalid("callback_secret", "callback secret must be 32 bytes")
	case len(p.TraceID) > maxTraceID:
		return invalid("trace_id", "trace id too long")
	case len(p.Tenant) > maxTraceID:
		return invalid("tenant", "tenant too long")
	}
	return nil
}

// Lookup reads the record of id. ENOTFOUND if it is absent, expired or
// deleted, or if id is not a well-formed result id (the driver is not asked).
func (s *Store) Lookup(ctx context.Context, id string) (*Record, error) {
	if !proofline.ValidResultID(id) {
		return nil, notFound()
	}
	raw, err := s.d.Get(ctx, id)
	switch {
	case errors.Is(err, ErrNotFound):
		return nil, notFound()
	case err != nil:
		return nil, unavailable(err)
	}
	return s.open(id, raw)
}

// Complete records r as the outcome of the pending record rec (as returned by
// Lookup). It happens once: ECONFLICT if rec is already done or another
// completion got there first, ENOTFOUND if the record expired or was deleted
// in between. The done record stays readable for the timeout. Deadline checks
// are the caller's job. rec is not modified; Lookup again to see the result.
func (s *Store) Complete(ctx context.Context, rec *Record, r *proofline.Result, completedAt time.Time) error {
	return s.complete(ctx, rec, r, completedAt, 0)
}

// complete is Complete; tries counts the records read again after a
// conflict.
func (s *Store) complete(ctx context.Context, rec *Record, r *proofline.Result, completedAt time.Time, tries int) error {
	switch {
	case rec == nil || len(rec.raw) == 0:
		return proofline.Errorf(proofline.EINVALID, "record was not read from the store")
	case rec.State != proofline.StatusPending:
		return proofline.Errorf(proofline.ECONFLICT, "result already recorded")
	case rec.TimedOut:
		return proofline.Errorf(proofline.EGONE, "deadline passed")
	case r == nil:
		return &proofline.Error{Code: proofline.EINVALID, Message: "result missing", Field: "result"}
	}
	if completedAt.IsZero() {
		completedAt = s.now()
	}
	p := rec.read
	stored := *r
	stored.PIIFromDoc = nil
	next, err := s.seal(&record{
		V:           recordVersion,
		State:       proofline.StatusDone,
		Kind:        p.Kind,
		RequestedAt: p.RequestedAt.UTC(),
		Deadline:    p.Deadline.UTC(),
		ClaimedAt:   rec.ClaimedAt.UTC(),
		TraceID:     p.TraceID,
		AttemptKeys: p.AttemptKeys,
		Tenant:      p.Tenant,
		Notify:      p.Notify,
		CompletedAt: completedAt.UTC(),
		Result:      &stored,
	}, p.ResultID, r.PIIFromDoc)
	if err != nil {
		return err
	}
	err = s.d.Swap(ctx, p.ResultID, rec.raw, next, s.timeout)
	if err == nil {
		// Done here: nothing pending to remember, only whose it is.
		s.recent.putDone(p.ResultID, p.Tenant, s.now().Add(s.timeout), s.now())
	} else {
		s.recent.forget(p.ResultID) // changed elsewhere, gone, or unknown
	}
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrConflict):
		// Changed since rec was read, or since this Store wrote it: another
		// server's claim, another completion, a reader ending the attempt
		// as timed out. Judge on what is stored now (first outcome wins).
		// A store that cannot be read says so, and the worker retries: a
		// conflict is never taken for "already recorded" unread, which a
		// worker would take as delivered.
		if tries >= 3 {
			return unavailable(err)
		}
		fresh, lerr := s.Lookup(ctx, p.ResultID)
		if lerr != nil {
			return lerr
		}
		return s.complete(ctx, fresh, r, completedAt, tries+1)
	case errors.Is(err, ErrNotFound):
		return notFound()
	default:
		return unavailable(err)
	}
}

// Claim records that a worker claimed rec's data key (rec as returned by
// Lookup) and removes the key from the record: it is released once. ECONFLICT
// if rec is done, already claimed, or another claim or completion got there
// first; ENOTFOUND if the record expired or was deleted in between. Deadline
// checks are the caller's job. rec is not modified.
func (s *Store) Claim(ctx context.Context, rec *Record, at time.Time) error {
	switch {
	case rec == nil || len(rec.raw) == 0:
		return proofline.Errorf(proofline.EINVALID, "record was not read from the store")
	case rec.State != proofline.StatusPending || !rec.ClaimedAt.IsZero() || len(rec.read.DataKey) == 0:
		return proofline.Errorf(proofline.ECONFLICT, "job already claimed")
	}
	if at.IsZero() {
		at = s.now()
	}
	p := rec.read
	next, err := s.seal(&record{
		V:           recordVersion,
		State:       proofline.StatusPending,
		Kind:        p.Kind,
		RequestedAt: p.RequestedAt.UTC(),
		Deadline:    p.Deadline.UTC(),
		ClaimToken:  p.ClaimToken,
		Secret:      p.CallbackSecret,
		ClaimedAt:   at.UTC(),
		TraceID:     p.TraceID,
		AttemptKeys: p.AttemptKeys,
		Tenant:      p.Tenant,
		Notify:      p.Notify,
	}, p.ResultID, nil)
	if err != nil {
		return err
	}
	err = s.swap(ctx, rec, next, "job already claimed")
	if proofline.ErrorCode(err) == proofline.ECONFLICT && rec.remembered {
		// Changed elsewhere since this Store wrote it: judge the claim on
		// what is stored now, or say the store cannot be read (the worker
		// retries; a conflict unread is not a duplicate).
		fresh, lerr := s.Lookup(ctx, p.ResultID)
		if lerr != nil {
			return lerr
		}
		return s.Claim(ctx, fresh, at)
	}
	return err
}

// endTimedOut ends a pending record past its deadline as timed out, by
// compare-and-swap, before a reader is told so: from then on no callback
// can make it done (Complete answers EGONE), so the one outcome readers saw
// stays the only one. It also removes the data key (the job can no longer be
// claimed), so a copy of the envelope stops opening now rather than when
// the record expires. ECONFLICT when the record changed since rec was read
// (a callback may have landed: read it again).
func (s *Store) endTimedOut(ctx context.Context, rec *Record) error {
	p := rec.read
	next, err := s.seal(&record{
		V:           recordVersion,
		State:       proofline.StatusPending,
		Kind:        p.Kind,
		RequestedAt: p.RequestedAt.UTC(),
		Deadline:    p.Deadline.UTC(),
		ClaimToken:  p.ClaimToken,
		Secret:      p.CallbackSecret,
		ClaimedAt:   rec.ClaimedAt.UTC(),
		TimedOut:    true,
		TraceID:     p.TraceID,
		AttemptKeys: p.AttemptKeys,
		Tenant:      p.Tenant,
		Notify:      p.Notify,
	}, p.ResultID, nil)
	if err != nil {
		return err
	}
	return s.swap(ctx, rec, next, "record changed")
}

// swap replaces rec's stored value with next, keeping the pending record's
// expiry (its deadline plus the timeout).
func (s *Store) swap(ctx context.Context, rec *Record, next []byte, conflict string) error {
	ttl := rec.read.Deadline.Add(s.timeout).Sub(s.now())
	if ttl <= 0 {
		return notFound()
	}
	err := s.d.Swap(ctx, rec.read.ResultID, rec.raw, next, ttl)
	s.remember(rec.read.ResultID, next, &rec.read, err)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrConflict):
		return proofline.Errorf(proofline.ECONFLICT, "%s", conflict)
	case errors.Is(err, ErrNotFound):
		return notFound()
	default:
		return unavailable(err)
	}
}

// Outcome reads id as a poller sees it: done with its result, timed_out when
// still pending at or after the deadline, pending otherwise. A pending
// record past its deadline is ended as timed out in the store before the
// answer says so, so no callback stored afterwards can change the outcome a
// reader saw; if a callback stored a result first, the answer is that
// result.
func (s *Store) Outcome(ctx context.Context, id string) (*proofline.Outcome, error) {
	for attempt := 0; ; attempt++ {
		rec, err := s.Lookup(ctx, id)
		if err != nil {
			return nil, err
		}
		o := &proofline.Outcome{
			ResultID:    rec.ResultID,
			Kind:        rec.Kind,
			Tenant:      rec.Tenant,
			Status:      rec.State,
			RequestedAt: rec.RequestedAt,
			Deadline:    rec.Deadline,
		}
		switch {
		case rec.State == proofline.StatusDone:
			o.CompletedAt = rec.CompletedAt
			o.Result = rec.Result
		case rec.TimedOut:
			o.Status = proofline.StatusTimedOut
		case !s.now().Before(rec.Deadline):
			err := s.endTimedOut(ctx, rec)
			if proofline.ErrorCode(err) == proofline.ECONFLICT {
				if attempt < 3 {
					continue // changed since read: a callback or another reader
				}
				return nil, proofline.WrapError(proofline.EUNAVAILABLE, "result store busy", err)
			}
			if err != nil {
				return nil, err
			}
			o.Status = proofline.StatusTimedOut
		}
		return o, nil
	}
}

// Delete forgets id at once (the IdP took the result). ENOTFOUND if it was
// not there.
func (s *Store) Delete(ctx context.Context, id string) error {
	if !proofline.ValidResultID(id) {
		return notFound()
	}
	s.recent.forget(id)
	ok, err := s.d.Delete(ctx, id)
	switch {
	case err != nil:
		return unavailable(err)
	case !ok:
		return notFound()
	}
	return nil
}

// Close closes the driver.
func (s *Store) Close() error {
	if err := s.d.Close(); err != nil {
		return unavailable(err)
	}
	return nil
}

// seal encodes rec, seals the document PII (if any) into rec.PII and seals
// the whole record, each bound to id.
func (s *Store) seal(rec *record, id string, pii *proofline.DocumentPII) ([]byte, error) {
	if pii != nil {
		plain, err := pii.MarshalRevealed()
		if err != nil {
			return nil, proofline.WrapError(proofline.EINTERNAL, "encode record", err)
		}
		rec.PII, err = s.sealer.Seal(plain, aad(piiAAD, id))
		clear(plain)
		if err != nil {
			return nil, proofline.WrapError(proofline.EINTERNAL, "seal record", err)
		}
	}
	plain, err := json.Marshal(rec)
	if err != nil {
		return nil, proofline.WrapError(proofline.EINTERNAL, "encode record", err)
	}
	sealed, err := s.sealer.Seal(plain, aad(recordAAD, id))
	clear(plain)
	if err != nil {
		return nil, proofline.WrapError(proofline.EINTERNAL, "seal record", err)
	}
	return sealed, nil
}

// open is the inverse of seal. Any failure is EINTERNAL: the value was
// written by something other than this build with this key ring for this id.
func (s *Store) open(id string, raw []byte) (*Record, error) {
	plain, err := s.sealer.Open(raw, aad(recordAAD, id))
	if err != nil {
		return nil, proofline.WrapError(proofline.EINTERNAL, "stored record does not open", err)
	}
	var rec record
	err = json.Unmarshal(plain, &rec)
	clear(plain)
	if err != nil {
		return nil, proofline.WrapError(proofline.EINTERNAL, "stored record malformed", nil)
	}
	if err := rec.check(); err != nil {
		return nil, err
	}
	p := Pending{
		ResultID:    id,
		Kind:        rec.Kind,
		RequestedAt: rec.RequestedAt,
		Deadline:    rec.Deadline,
		TraceID:     rec.TraceID,
		AttemptKeys: rec.AttemptKeys,
		Tenant:      rec.Tenant,
		Notify:      rec.Notify,
	}
	out := &Record{Pending: p, State: rec.State, ClaimedAt: rec.ClaimedAt, TimedOut: rec.TimedOut, raw: raw}
	out.read = p
	out.read.DataKey, out.read.ClaimToken, out.read.CallbackSecret = rec.DataKey, rec.ClaimToken, rec.Secret
	out.DataKey = bytes.Clone(rec.DataKey)
	out.ClaimToken = bytes.Clone(rec.ClaimToken)
	out.CallbackSecret = bytes.Clone(rec.Secret)
	if rec.State == proofline.StatusDone {
		out.CompletedAt = rec.CompletedAt
		out.Result = rec.Result
		if len(rec.PII) > 0 {
			pii, err := s.openPII(id, rec.PII)
			if err != nil {
				return nil, err
			}
			out.Result.PIIFromDoc = pii
		}
	}
	return out, nil
}

func (s *Store) openPII(id string, sealed []byte) (*proofline.DocumentPII, error) {
	plain, err := s.sealer.Open(sealed, aad(piiAAD, id))
	if err != nil {
		return nil, proofline.WrapError(proofline.EINTERNAL, "stored document PII does not open", err)
	}
	var pii proofline.DocumentPII
	err = json.Unmarshal(plain, &pii)
	clear(plain)
	if err != nil {
		return nil, proofline.WrapError(proofline.EINTERNAL, "stored document PII malformed", nil)
	}
	return &pii, nil
}

func (r *record) check() error {
	bad := func(what string) error {
		return proofline.Errorf(proofline.EINTERNAL, "stored record malformed: %s", what)
	}
	switch {
	case r.V != recordVersion:
		return bad("version")
	case !r.Kind.Valid():
		return bad("kind")
	case r.State == proofline.StatusPending:
		if r.Result != nil || len(r.PII) > 0 {
			return bad("pending record with a result")
		}
	case r.State == proofline.StatusDone:
		if r.Result == nil {
			return bad("done record without a result")
		}
		if len(r.DataKey)+len(r.ClaimToken)+len(r.Secret) > 0 {
			return bad("done record with job keys")
		}
		if r.TimedOut {
			return bad("done record that timed out")
		}
	default:
		return bad("state")
	}
	return nil
}

func aad(prefix, id string) []byte {
	b := make([]byte, 0, len(prefix)+len(id))
	return append(append(b, prefix...), id...)
}

func notFound() error { return proofline.Errorf(proofline.ENOTFOUND, "result not found") }

func unavailable(cause error) error {
	return proofline.WrapError(proofline.EUNAVAILABLE, "result store unavailable", cause)
}
