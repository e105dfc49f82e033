// Package resultstore keeps proofing records: a pending record from the start
// of an attempt until its outcome, and the done record with the result. Every
// value is sealed before it reaches a driver, so drivers hold ciphertext only.
//
// Store is the concrete type every caller uses; it wraps a small Driver
// (memory here, Redis in resultstore/redisstore). The pending→done transition is a
// compare-and-swap on the sealed pending value, so it happens once.
package resultstore

import (
	"context"
	"errors"
	"time"
)

// Driver errors. Drivers return exactly these (possibly wrapped) for the
// conditions they name; any other error means the backend failed.
var (
	ErrNotFound = errors.New("resultstore: not found")
	ErrExists   = errors.New("resultstore: already exists")
	ErrConflict = errors.New("resultstore: value changed")
)

// Driver stores opaque values (already sealed) under result ids, each with its
// own time to live. Implementations must be safe for concurrent use.
type Driver interface {
	// Create stores value under id for ttl. ErrExists if id is present.
	Create(ctx context.Context, id string, value []byte, ttl time.Duration) error
	// Get returns the value under id. ErrNotFound if absent or expired.
	Get(ctx context.Context, id string) ([]byte, error)
	// Swap atomically replaces the value under id with next and resets its
	// TTL to ttl, only if the current value equals old byte for byte.
	// ErrNotFound if absent or expired; ErrConflict if the value differs.
	// In a networked driver it is one round trip.
	Swap(ctx context.Context, id string, old, next []byte, ttl time.Duration) error
	// Delete removes id and reports whether it was present.
	Delete(ctx context.Context, id string) (bool, error)
	// Close releases the driver's resources.
	Close() error
}
