package proofline

import (
	"crypto/ecdh"
	"crypto/rand"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultClaimKeyLifetime is how long the IdP answers claims with one X25519
// key pair when NewClaimKeys is given no lifetime.
const DefaultClaimKeyLifetime = 10 * time.Second

// ClaimKeys is the IdP's side of the claim exchange: the X25519 key pair
// its answers are wrapped with. A key pair lives in this process's memory
// only, is never written anywhere, and answers claims for at most its
// lifetime; the next claim after that makes a new one and the old private
// key is dropped. The worker's key stays fresh for every claim.
//
// Reusing the IdP's key pair for a few seconds saves one X25519 key
// generation per claim and changes nothing a hop between worker and IdP
// can do: each answer is still wrapped under a key that needs the worker's
// one-claim private key (or this process's current private key), bound to
// kind, result_id and both public keys. What changes is forward secrecy on
// the IdP's side: an answer recorded in transit stays unwrappable with this
// process's memory until its key pair is replaced (at most the lifetime),
// not only while the claim is answered. That process's memory also holds
// the record key ring, which opens every pending record's data key, so the
// lifetime is kept short.
type ClaimKeys struct {
	lifetime time.Duration
	now      func() time.Time
	mu       sync.Mutex // serializes replacing the key pair
	cur      atomic.Pointer[claimKey]
}

type claimKey struct {
	priv  *ecdh.PrivateKey
	until time.Time
}

// NewClaimKeys returns the claim key pairs of one IdP process. lifetime <= 0
// means DefaultClaimKeyLifetime; now nil means time.Now.
func NewClaimKeys(lifetime time.Duration, now func() time.Time) *ClaimKeys {
	if lifetime <= 0 {
		lifetime = DefaultClaimKeyLifetime
	}
	if now == nil {
		now = time.Now
	}
	return &ClaimKeys{lifetime: lifetime, now: now}
}

// Answer is AnswerClaim under the current key pair: it wraps dataKey to the
// request's public key and returns the 200 answer's body. Verify the request
// first.
func (k *ClaimKeys) Answer(kind Kind, resultID string, r *ClaimRequest, dataKey []byte) ([]byte, error) {
	priv, err := k.current()
	if err != nil {
		return nil, err
	}
	return answerClaim(priv, kind, resultID, r, dataKey)
}

// current returns the key pair in force, replacing it when its lifetime is over.
func (k *ClaimKeys) current() (*ecdh.PrivateKey, error) {
	now := k.now()
	if c := k.cur.Load(); c != nil && now.Before(c.until) {
		return c.priv, nil
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if c := k.cur.Load(); c != nil && now.Before(c.until) {
		return c.priv, nil
	}
	priv, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		return nil, WrapError(EINTERNAL, "claim key", err)
	}
	k.cur.Store(&claimKey{priv: priv, until: now.Add(k.lifetime)})
	return priv, nil
}
