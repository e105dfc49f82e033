package proofing

import (
	"context"
	"time"

	"github.com/proofline/proofline"
	"github.com/proofline/proofline/blobstore"
	"github.com/proofline/proofline/tenant"
)

// Tenancy (ARCHITECTURE invariant 12). Every attempt, capture and
// verification session belongs to the tenant (API client) that created it,
// named by tenant.From(ctx): reads, deletes, document starts on a capture and
// document_result_id bindings of another tenant's record answer exactly as
// for a record that does not exist. Attempt limits count a person per
// tenant: one tenant's person_id is not another's.

// captureOwner is the stored record of who created a capture.
type captureOwner struct {
	Tenant string `json:"tenant"`
}

// captureGrace keeps a capture's owner record past its upload URLs' expiry,
// for a start sent just as the last upload finished.
const captureGrace = time.Minute

func (s *Service) recordCapture(ctx context.Context, c *blobstore.Capture) error {
	if s.opts.Captures == nil {
		return nil
	}
	ttl := c.ExpiresAt.Sub(s.opts.Now()) + captureGrace
	return s.opts.Captures.Create(ctx, c.ID, captureOwner{Tenant: tenant.From(ctx)}, max(ttl, captureGrace))
}

// ownCapture answers ENOTFOUND unless the capture id was issued to ctx's
// tenant (and its record has not expired). A malformed id is left to the
// start's validation.
func (s *Service) ownCapture(ctx context.Context, id string) error {
	if s.opts.Captures == nil || !validCaptureID(id) {
		return nil
	}
	var o captureOwner
	if _, err := s.opts.Captures.Get(ctx, id, &o); err != nil {
		if proofline.ErrorCode(err) == proofline.ENOTFOUND {
			return proofline.Errorf(proofline.ENOTFOUND, "capture not found")
		}
		return err
	}
	if o.Tenant != tenant.From(ctx) {
		return proofline.Errorf(proofline.ENOTFOUND, "capture not found")
	}
	return nil
}

// personSubject is the attempt-limit subject of a person of a tenant.
func personSubject(owner, personID string) string {
	if personID == "" {
		return ""
	}
	return owner + "\x00" + personID
}
