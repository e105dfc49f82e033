package resultstore

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/proofline/proofline"
)

// Records keeps sealed JSON documents of one purpose (verification sessions,
// browser sessions, capture owners, ...) in a Driver of their own, with the
// same guarantees as proofing records: each value is sealed before it reaches
// the driver, bound to its purpose and id (a value moved to another id or
// purpose does not open), has its own TTL, and is replaced only by a
// compare-and-swap on the value read.
//
// Every method returns a *proofline.Error: ENOTFOUND (absent, expired,
// deleted, or a malformed id the driver is never asked about), ECONFLICT,
// EUNAVAILABLE (the driver failed), EINTERNAL (a value does not open).
type Records struct {
	d      Driver
	sealer proofline.Sealer
	aad    string
	own    bool
}

// Version is a value as read by Get: Replace swaps it only if the stored
// value is still this one.
type Version struct{ raw []byte }

// NewRecords returns Records over d, sealing with s under purpose (a short
// fixed word, part of every value's additional data). Records owns d: Close
// closes it.
func NewRecords(d Driver, s proofline.Sealer, purpose string) *Records {
	if d == nil || s == nil || purpose == "" {
		panic("resultstore: NewRecords needs a driver, a sealer and a purpose")
	}
	return &Records{d: d, sealer: s, aad: "proofline/" + purpose + "/v1\x00", own: true}
}

// ValidRecordID reports whether id can name a record: 1 to 128 of
// A-Z a-z 0-9 _ - (safe in any driver's key space).
func ValidRecordID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// Create stores v under id for ttl. ECONFLICT if id is in use.
func (r *Records) Create(ctx context.Context, id string, v any, ttl time.Duration) error {
	if !ValidRecordID(id) {
		return proofline.Errorf(proofline.EINVALID, "record id malformed")
	}
	value, err := r.seal(id, v)
	if err != nil {
		return err
	}
	switch err := r.d.Create(ctx, id, value, ttl); {
	case err == nil:
		return nil
	case errors.Is(err, ErrExists):
		return proofline.Errorf(proofline.ECONFLICT, "record id already in use")
	default:
		return unavailable(err)
	}
}

// Get opens the record under id into v and returns the version read.
func (r *Records) Get(ctx context.Context, id string, v any) (Version, error) {
	if !ValidRecordID(id) {
		return Version{}, proofline.Errorf(proofline.ENOTFOUND, "record not found")
	}
	raw, err := r.d.Get(ctx, id)
	switch {
	case errors.Is(err, ErrNotFound):
		return Version{}, proofline.Errorf(proofline.ENOTFOUND, "record not found")
	case err != nil:
		return Version{}, unavailable(err)
	}
	plain, err := r.sealer.Open(raw, aad(r.aad, id))
	if err != nil {
		return Version{}, proofline.WrapError(proofline.EINTERNAL, "stored record does not open", err)
	}
	err = json.Unmarshal(plain, v)
	clear(plain)
	if err != nil {
		return Version{}, proofline.Errorf(proofline.EINTERNAL, "stored record malformed")
	}
	return Version{raw: raw}, nil
}

// Replace stores v under id for ttl if the stored value is still old (as
// read by Get). ECONFLICT if it changed, ENOTFOUND if it is gone.
func (r *Records) Replace(ctx context.Context, id string, old Version, v any, ttl time.Duration) error {
	if len(old.raw) == 0 {
		return proofline.Errorf(proofline.EINVALID, "record was not read from the store")
	}
	value, err := r.seal(id, v)
	if err != nil {
		return err
	}
	switch err := r.d.Swap(ctx, id, old.raw, value, ttl); {
	case err == nil:
		return nil
	case errors.Is(err, ErrConflict):
		return proofline.Errorf(proofline.ECONFLICT, "record changed")
	case errors.Is(err, ErrNotFound):
		return proofline.Errorf(proofline.ENOTFOUND, "record not found")
	default:
		return unavailable(err)
	}
}

// Delete removes id. ENOTFOUND if it was not there.
func (r *Records) Delete(ctx context.Context, id string) error {
	if !ValidRecordID(id) {
		return proofline.Errorf(proofline.ENOTFOUND, "record not found")
	}
	ok, err := r.d.Delete(ctx, id)
	switch {
	case err != nil:
		return unavailable(err)
	case !ok:
		return proofline.Errorf(proofline.ENOTFOUND, "record not found")
	}
	return nil
}

// Close closes the driver.
func (r *Records) Close() error {
	if err := r.d.Close(); err != nil {
		return unavailable(err)
	}
	return nil
}

func (r *Records) seal(id string, v any) ([]byte, error) {
	plain, err := json.Marshal(v)
	if err != nil {
		return nil, proofline.WrapError(proofline.EINTERNAL, "encode record", err)
	}
	sealed, err := r.sealer.Seal(plain, aad(r.aad, id))
	clear(plain)
	if err != nil {
		return nil, proofline.WrapError(proofline.EINTERNAL, "seal record", err)
	}
	return sealed, nil
}
