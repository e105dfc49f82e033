// Package proofer runs the proofing of each job kind: it sequences vendor
// calls (resolution, then state ID; the other way round for dob_year_only),
// reads and decrypts document images, and turns what vendors said into the one
// proofline.Result shape. Vendor adapters implement the small interfaces here;
// the mock ones are in proofer/mockvendor, the real ones beside it.
package proofer

import (
	"context"
	"errors"
	"time"

	"github.com/proofline/proofline"
)

// VendorResult is what one vendor call found. Success means no field failed.
type VendorResult struct {
	// Vendor names the adapter, e.g. "ResolutionMock".
	Vendor        string
	TransactionID string
	// Errors maps an applicant field name (first_name, ssn, zipcode, phone,
	// state_id_number, ...) or a document side to messages. Empty on success.
	Errors   map[string][]string
	Messages []string

	// AdditionalVerification (resolution vendors): when the resolution
	// failed only on attributes a state-ID check can verify, those
	// attributes ("address", "dob", "state_id_number"). The failure is then
	// covered if the state-ID stage verifies every one of them
	// (InstantVerify's "can pass with additional verification").
	AdditionalVerification []string
	// VerifiedAttributes (state-ID vendors): the attributes the DMV
	// matched, in the same names.
	VerifiedAttributes []string

	// Document vendors only.
	Billed     bool
	DocResult  string // e.g. "Passed", "Failed", "Attention"
	Alerts     []proofline.Alert
	PIIFromDoc *proofline.DocumentPII
}

// Success reports whether no field failed.
func (r *VendorResult) Success() bool { return len(r.Errors) == 0 }

// ErrVendorTimeout classifies a vendor error as a vendor timeout. Vendors wrap
// it (or return context.DeadlineExceeded) when the vendor did not answer in time.
var ErrVendorTimeout = errors.New("vendor timed out")

// VendorError is an exception: the vendor could not be reached or answered
// something unusable. Message is shown in the result's exception field and
// must never contain PII, credentials or the vendor's response body.
type VendorError struct {
	Vendor  string
	Message string
	Timeout bool
	// MVATimeout (state-ID vendors): the state's DMV did not answer the
	// vendor in time (AAMVA fault 0047). The vendor itself answered, so it
	// is an exception, not a vendor timeout; the stage records it.
	MVATimeout bool
	Cause      error // for operators; never shown
}

func (e *VendorError) Error() string { return e.Vendor + ": " + e.Message }

// Unwrap is the cause and, for a timeout, ErrVendorTimeout.
func (e *VendorError) Unwrap() []error {
	var out []error
	if e.Timeout {
		out = append(out, ErrVendorTimeout)
	}
	if e.Cause != nil {
		out = append(out, e.Cause)
	}
	return out
}

// ResolutionVendor resolves name, date of birth, SSN and address.
type ResolutionVendor interface {
	Name() string
	Resolve(ctx context.Context, a *proofline.Applicant) (*VendorResult, error)
}

// StateIDVendor checks a state-issued ID (AAMVA-style).
type StateIDVendor interface {
	Name() string
	VerifyStateID(ctx context.Context, a *proofline.Applicant) (*VendorResult, error)
}

// AddressVendor checks phone ownership.
type AddressVendor interface {
	Name() string
	VerifyPhone(ctx context.Context, a *proofline.Applicant) (*VendorResult, error)
}

// DocumentImages are the decrypted images of one document job. The proofer
// zeroes them when AuthenticateDocument returns: a vendor must not keep them.
type DocumentImages struct {
	Front, Back, Selfie     []byte
	LivenessCheckingEnabled bool
	// PersonRef is the IdP's non-PII reference of the person
	// ("<uuid_prefix>:<uuid>"), sent to vendors that take one; "" for none.
	PersonRef string
}

// DocumentVendor authenticates an ID document from its images.
type DocumentVendor interface {
	Name() string
	AuthenticateDocument(ctx context.Context, img *DocumentImages) (*VendorResult, error)
}

// Budgeted is implemented by vendors whose call needs a known time (their
// configured timeout). The proofer skips the call, and reports a timeout,
// when less than that is left before the job's deadline: a call that cannot
// finish in time is not made (and not billed).
type Budgeted interface {
	CallBudget() time.Duration
}

// ImageSource is where document jobs read encrypted images from (a blobstore.Store).
type ImageSource interface {
	// Read returns the object under key, at most maxBytes long.
	Read(ctx context.Context, key string, maxBytes int64) ([]byte, error)
	// Delete removes the object under key.
	Delete(ctx context.Context, key string) error
}
