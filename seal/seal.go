// Package seal is proofline's local key ring: AES-256-GCM with key ids, so keys
// can rotate. The servers seal their stored records with it (record_keys);
// job envelopes and callbacks use per-job keys instead, and no worker holds a
// ring. New data is sealed with the current key; data sealed with a
// retired key still opens until that key is removed from the ring.
//
// Sealed format (all lengths in bytes):
//
//	version (1, = 1) | key id length (1) | key id | nonce (12) | ciphertext | tag (16)
//
// The version, key id and nonce are authenticated along with the caller's AAD.
package seal

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

const (
	// KeySize is the size of an AES-256 key.
	KeySize   = 32
	version   = 1
	nonceSize = 12
	maxIDLen  = 64
)

// ErrOpen is returned when sealed data does not open: wrong key, wrong AAD,
// tampered or truncated. It says nothing more, on purpose.
var ErrOpen = errors.New("seal: message does not open")

// ErrUnknownKey is returned when sealed data names a key id the ring does not hold.
var ErrUnknownKey = errors.New("seal: key id not in ring")

// Key is one named AES-256 key.
type Key struct {
	ID       string
	Material []byte
}

// String never prints the key material.
func (k Key) String() string { return "seal.Key{" + k.ID + "}" }

// GoString never prints the key material.
func (k Key) GoString() string { return k.String() }

// Generate returns a new random key named id.
func Generate(id string) (Key, error) {
	if err := validID(id); err != nil {
		return Key{}, err
	}
	m := make([]byte, KeySize)
	if _, err := rand.Read(m); err != nil {
		return Key{}, err
	}
	return Key{ID: id, Material: m}, nil
}

// ParseKeys reads a key list "id:base64key,id:base64key,..." (standard or URL
// base64, padding optional). The first key is the current one. Errors never
// contain key material.
func ParseKeys(spec string) ([]Key, error) {
	var keys []Key
	for i, part := range strings.Split(spec, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		id, b64, ok := strings.Cut(part, ":")
		if !ok {
			return nil, fmt.Errorf("key %d: want id:base64", i+1)
		}
		if err := validID(id); err != nil {
			return nil, fmt.Errorf("key %d: %w", i+1, err)
		}
		m, err := decodeB64(b64)
		if err != nil || len(m) != KeySize {
			return nil, fmt.Errorf("key %q: want %d bytes of base64", id, KeySize)
		}
		keys = append(keys, Key{ID: id, Material: m})
	}
	if len(keys) == 0 {
		return nil, errors.New("no keys")
	}
	return keys, nil
}

// FormatKeys is the inverse of ParseKeys.
func FormatKeys(keys ...Key) string {
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k.ID + ":" + base64.StdEncoding.EncodeToString(k.Material)
	}
	return strings.Join(parts, ",")
}

// DeriveKey returns the key derived from secret for purpose: the material is
// HMAC-SHA256(secret, purpose), the id "d-" and 8 hex characters of a hash of
// the material, so every process holding secret derives the same key and
// id, and another secret gives another id.
func DeriveKey(secret []byte, purpose string) Key {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(purpose))
	material := m.Sum(nil)
	id := sha256.Sum256(append([]byte("proofline/seal/derived-id\x00"), material...))
	return Key{ID: "d-" + hex.EncodeToString(id[:4]), Material: material}
}

func decodeB64(s string) ([]byte, error) {
	s = strings.TrimRight(strings.TrimSpace(s), "=")
	if b, err := base64.RawStdEncoding.DecodeString(s); err == nil {
		return b, nil
	}
	return base64.RawURLEncoding.DecodeString(s)
}

func validID(id string) error {
	if id == "" || len(id) > maxIDLen {
		return fmt.Errorf("key id must be 1 to %d characters", maxIDLen)
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return errors.New("key id may hold only letters, digits, '-', '_' and '.'")
		}
	}
	return nil
}

// KeyRing seals with its current key and opens with any key it holds. It is
// safe for concurrent use and immutable: rotate by building a new ring.
type KeyRing struct {
	current string
	aeads   map[string]cipher.AEAD
}

// NewKeyRing returns a ring whose current key is keys[0]; the rest are retired
// keys that still open old data.
func NewKeyRing(keys ...Key) (*KeyRing, error) {
	if len(keys) == 0 {
		return nil, errors.New("seal: no keys")
	}
	r := &KeyRing{current: keys[0].ID, aeads: make(map[string]cipher.AEAD, len(keys))}
	for _, k := range keys {
		if err := validID(k.ID); err != nil {
			return nil, fmt.Errorf("seal: %w", err)
		}
		if len(k.Material) != KeySize {
			return nil, fmt.Errorf("seal: key %q: want %d bytes", k.ID, KeySize)
		}
		if _, dup := r.aeads[k.ID]; dup {
			return nil, fmt.Errorf("seal: key id %q twice", k.ID)
		}
		block, err := aes.NewCipher(k.Material)
		if err != nil {
			return nil, err
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, err
		}
		r.aeads[k.ID] = aead
	}
	return r, nil
}

// CurrentKeyID is the id new data is sealed with.
func (r *KeyRing) CurrentKeyID() string { return r.current }

// Seal encrypts plaintext with the current key under a fresh random nonce and
// binds it to aad.
func (r *KeyRing) Seal(plaintext, aad []byte) ([]byte, error) {
	aead := r.aeads[r.current]
	hdr := 2 + len(r.current)
	out := make([]byte, hdr+nonceSize, hdr+nonceSize+len(plaintext)+aead.Overhead())
	out[0] = version
	out[1] = byte(len(r.current))
	copy(out[2:], r.current)
	nonce := out[hdr : hdr+nonceSize]
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return aead.Seal(out, nonce, plaintext, fullAAD(out[:hdr+nonceSize], aad)), nil
}

// Open decrypts data sealed by any key in the ring with the same aad.
func (r *KeyRing) Open(sealed, aad []byte) ([]byte, error) {
	id, hdr, err := parseHeader(sealed)
	if err != nil {
		return nil, err
	}
	aead, ok := r.aeads[id]
	if !ok {
		return nil, ErrUnknownKey
	}
	if len(sealed) < hdr+nonceSize+aead.Overhead() {
		return nil, ErrOpen
	}
	nonce := sealed[hdr : hdr+nonceSize]
	plain, err := aead.Open(nil, nonce, sealed[hdr+nonceSize:], fullAAD(sealed[:hdr+nonceSize], aad))
	if err != nil {
		return nil, ErrOpen
	}
	return plain, nil
}

// KeyID returns the id of the key that sealed data, without opening it.
func KeyID(sealed []byte) (string, error) {
	id, _, err := parseHeader(sealed)
	return id, err
}

func parseHeader(sealed []byte) (id string, hdr int, err error) {
	if len(sealed) < 2 || sealed[0] != version {
		return "", 0, ErrOpen
	}
	n := int(sealed[1])
	if n == 0 || n > maxIDLen || len(sealed) < 2+n {
		return "", 0, ErrOpen
	}
	return string(sealed[2 : 2+n]), 2 + n, nil
}

// fullAAD authenticates the header (version, key id, nonce) with the caller's AAD.
func fullAAD(header, aad []byte) []byte {
	b := make([]byte, 0, len(header)+1+len(aad))
	b = append(b, header...)
	b = append(b, 0)
	return append(b, aad...)
}
