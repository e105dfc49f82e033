package proofing

import (
	"context"
	"log/slog"
	"slices"
	"strings"

	"github.com/proofline/proofline"
	"github.com/proofline/proofline/tenant"
)

// The document binds the identity (ARCHITECTURE invariant 8). A resolution
// started after a document proofs the document's names, date of birth and
// state-ID fields, never values a request (or a form) puts in their place;
// the person gives the SSN and may give another residential address.

// MsgDoesNotMatch is the field error of a request value that differs from the
// document the request is bound to.
const MsgDoesNotMatch = "does not match the document"

// Fields of the errors about the document itself: the request's
// document_result_id, or the Document a caller passed.
const (
	FieldDocumentResultID = "document_result_id"
	FieldDocument         = "document"
)

// Why a document result cannot bind a resolution (field errors on
// document_result_id; they never echo a value).
const (
	msgDocNotStored   = "is not a stored document result (unknown, deleted, already used or expired)"
	msgDocWrongKind   = "is not a document result"
	msgDocNotDone     = "is not done"
	msgDocNotSuccess  = "is not a successful document result"
	msgDocNoIdentity  = "does not carry the name, date of birth and state-ID fields"
	msgDocExpiredID   = "is an expired ID"
	identityDocPrefix = "identity_doc_"
)

// bindDocument binds r.Applicant to the document r names (DocumentResultID,
// read from the store) or carries (Document). Field errors go to v; the
// error returned is the store's (unavailable, internal).
func (s *Service) bindDocument(ctx context.Context, r *ResolutionRequest, v *proofline.ValidationError) error {
	doc, field := r.Document, FieldDocument
	if r.DocumentResultID != "" {
		field = FieldDocumentResultID
		d, msg, err := s.storedDocument(ctx, r.DocumentResultID)
		if err != nil {
			return err
		}
		if msg != "" {
			v.Add(field, msg)
			return nil
		}
		doc = d
	}
	if doc == nil {
		return nil
	}
	now := s.opts.Now()
	if len(doc.MissingIdentity(now)) > 0 {
		v.Add(field, msgDocNoIdentity)
		return nil
	}
	if doc.ExpiredBefore(now) {
		v.Add(field, msgDocExpiredID)
		return nil
	}
	a := &r.Applicant
	// With no residential address given, the person lives at the ID's.
	if a.Address1 == "" && a.Address2 == "" && a.City == "" && a.State == "" && a.Zipcode == "" {
		a.Address1, a.Address2, a.City, a.State, a.Zipcode = doc.Address1, doc.Address2, doc.City, doc.State, doc.Zipcode
	}
	for _, b := range []struct {
		field string
		p     *proofline.PII
		doc   proofline.PII
	}{
		{"first_name", &a.FirstName, doc.FirstName},
		{"middle_name", &a.MiddleName, doc.MiddleName},
		{"last_name", &a.LastName, doc.LastName},
		{"dob", &a.DOB, doc.DOB},
		{"state_id_number", &a.StateIDNumber, doc.StateIDNumber},
		{"state_id_jurisdiction", &a.StateIDJurisdiction, doc.StateIDJurisdiction},
		{"state_id_type", &a.StateIDType, doc.StateIDType},
		{"name_suffix", &a.NameSuffix, doc.NameSuffix},
		{"sex", &a.Sex, doc.Sex},
		{"height", &a.Height, doc.Height},
		{"state_id_issued", &a.StateIDIssued, doc.StateIDIssued},
		{"state_id_expiration", &a.StateIDExpiration, doc.StateIDExpiration},
		// The address on the ID, for the state-ID (DMV) check.
		{identityDocPrefix + "address1", &a.IdentityDocAddress1, doc.Address1},
		{identityDocPrefix + "address2", &a.IdentityDocAddress2, doc.Address2},
		{identityDocPrefix + "city", &a.IdentityDocCity, doc.City},
		{identityDocPrefix + "address_state", &a.IdentityDocAddressState, doc.State},
		{identityDocPrefix + "zipcode", &a.IdentityDocZipcode, doc.Zipcode},
	} {
		given, want := strings.TrimSpace(b.p.Reveal()), strings.TrimSpace(b.doc.Reveal())
		if given != "" && !strings.EqualFold(given, want) {
			v.Add(b.field, MsgDoesNotMatch)
			continue
		}
		*b.p = proofline.PII(want)
	}
	if s.stateIDSupported(doc.StateIDJurisdiction.Reveal()) {
		r.ShouldProofStateID = true
	}
	return nil
}

// storedDocument reads the document result id for binding: its pii_from_doc,
// or why it cannot bind (a field error message).
func (s *Service) storedDocument(ctx context.Context, id string) (*proofline.DocumentPII, string, error) {
	rec, err := s.opts.Store.Lookup(ctx, id)
	switch {
	case proofline.ErrorCode(err) == proofline.ENOTFOUND:
		return nil, msgDocNotStored, nil
	case err != nil:
		return nil, "", err
	case rec.Tenant != tenant.From(ctx):
		// Another tenant's result is not there, whatever it is.
		return nil, msgDocNotStored, nil
	case rec.Kind != proofline.KindDocument:
		return nil, msgDocWrongKind, nil
	case rec.State != proofline.StatusDone || rec.Result == nil:
		return nil, msgDocNotDone, nil
	case !rec.Result.Success:
		return nil, msgDocNotSuccess, nil
	case rec.Result.PIIFromDoc == nil:
		// Nothing to bind to: not an unbound start on the request's
		// own identity.
		return nil, msgDocNoIdentity, nil
	}
	return rec.Result.PIIFromDoc, "", nil
}

// consumeDocument deletes the bound document result (id "" binds none), so
// that it binds this resolution only: of concurrent starts on one document,
// the one whose delete removed it goes on, the others get a field error.
func (s *Service) consumeDocument(ctx context.Context, id string) error {
	if id == "" {
		return nil
	}
	err := s.opts.Store.Delete(ctx, id)
	switch {
	case proofline.ErrorCode(err) == proofline.ENOTFOUND:
		return &proofline.ValidationError{Fields: []proofline.FieldError{{Field: FieldDocumentResultID, Message: msgDocNotStored}}}
	case err != nil:
		return err
	}
	s.opts.Logger.LogAttrs(ctx, slog.LevelInfo, "document result bound", slog.String("document_result_id", id))
	return nil
}

// stateIDSupported reports whether the state-ID vendor supports jurisdiction.
func (s *Service) stateIDSupported(jurisdiction string) bool {
	if s.opts.StateIDJurisdictions == nil {
		return true
	}
	return slices.Contains(s.opts.StateIDJurisdictions, strings.ToUpper(strings.TrimSpace(jurisdiction)))
}
