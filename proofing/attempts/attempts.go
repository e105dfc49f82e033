// Package attempts limits proofing attempts per person and per client IP
// within a window, like the original idv_max_attempts, without counting what
// is not the person's fault: vendor timeouts, vendor exceptions and attempts
// that time out never consume an attempt (the caller decides what does; the
// proofing service counts vendor failures).
//
// Each start reserves an in-flight slot for each subject (person, IP) until
// the job's deadline. A start is refused when a subject's used attempts plus
// its in-flight slots reach the maximum, so a burst of parallel starts cannot
// get past the limit. When a result is stored, the slot is released and, when
// the outcome counts, one attempt is used for the window. A slot whose job
// times out simply expires at its deadline.
//
// Subjects are stored only as keyed hashes (HMAC-SHA256): no IP address or
// person id reaches the store. Limiter is the concrete type; a Driver keeps
// the counters (memory here, Redis in attempts/redisattempts).
package attempts

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"time"

	"github.com/proofline/proofline"
)

// Driver keeps per-subject counters. Keys are opaque hashed subject keys.
// Implementations must be safe for concurrent use and make each call atomic.
type Driver interface {
	// Reserve adds the in-flight slot id (until deadline) to key when the
	// used count plus the live in-flight slots is below max, and reports
	// whether it did.
	Reserve(ctx context.Context, key, id string, deadline time.Time, max int, window time.Duration) (bool, error)
	// Finish removes the slot id from key and, when consume is set, counts
	// one used attempt that expires after window.
	Finish(ctx context.Context, key, id string, consume bool, window time.Duration) error
	// Close releases the driver's resources.
	Close() error
}

// Subject is who is attempting. Either field may be empty.
type Subject struct {
	// PersonID is the IdP's opaque id of the person (or the browser
	// session). It is hashed before it is stored.
	PersonID string
	// ClientIP is the person's IP address. It is hashed before it is stored.
	ClientIP string
}

// Options configure a Limiter. A maximum of 0 turns that limit off.
type Options struct {
	MaxPerPerson int
	MaxPerIP     int
	// Window is how long a used attempt counts. Default 6 hours.
	Window time.Duration
	// HashKey keys the subject hashes; at least 32 bytes. Share it between
	// instances so they count together.
	HashKey []byte
}

// Limiter reserves and finishes attempts.
type Limiter struct {
	d    Driver
	opts Options
}

// New returns a Limiter over d.
func New(d Driver, opts Options) (*Limiter, error) {
	if len(opts.HashKey) < 32 {
		return nil, errors.New("attempts: HashKey must be at least 32 bytes")
	}
	if opts.Window <= 0 {
		opts.Window = 6 * time.Hour
	}
	return &Limiter{d: d, opts: opts}, nil
}

// Keys are the hashed subject keys of one reservation; the caller keeps them
// (sealed, in the pending record) to finish the attempt later.
type Keys []string

func (l *Limiter) key(kind, v string) string {
	m := hmac.New(sha256.New, l.opts.HashKey)
	m.Write([]byte(kind))
	m.Write([]byte{0})
	m.Write([]byte(v))
	return kind + ":" + hex.EncodeToString(m.Sum(nil)[:16])
}

// Reserve takes an in-flight slot for attempt id (until deadline) for each
// subject that has a limit, or takes none and answers ELIMIT when any subject
// is at its maximum.
func (l *Limiter) Reserve(ctx context.Context, s Subject, id string, deadline time.Time) (Keys, error) {
	type rule struct {
		key string
		max int
	}
	var rules []rule
	if s.PersonID != "" && l.opts.MaxPerPerson > 0 {
		rules = append(rules, rule{l.key("person", s.PersonID), l.opts.MaxPerPerson})
	}
	if s.ClientIP != "" && l.opts.MaxPerIP > 0 {
		rules = append(rules, rule{l.key("ip", s.ClientIP), l.opts.MaxPerIP})
	}
	var taken Keys
	for _, r := range rules {
		ok, err := l.d.Reserve(ctx, r.key, id, deadline, r.max, l.opts.Window)
		if err != nil || !ok {
			l.Finish(context.WithoutCancel(ctx), taken, id, false)
			if err != nil {
				return nil, proofline.WrapError(proofline.EUNAVAILABLE, "attempt counter unavailable, try again", err)
			}
			return nil, proofline.Errorf(proofline.ELIMIT, "too many attempts; try again later")
		}
		taken = append(taken, r.key)
	}
	return taken, nil
}

// Finish releases attempt id's slots; consume counts it as a used attempt
// (a real outcome, not a timeout or a vendor exception). Errors are dropped:
// a slot that is not released expires at its deadline anyway.
func (l *Limiter) Finish(ctx context.Context, keys Keys, id string, consume bool) {
	for _, k := range keys {
		_ = l.d.Finish(ctx, k, id, consume, l.opts.Window)
	}
}

// Close closes the driver.
func (l *Limiter) Close() error { return l.d.Close() }
