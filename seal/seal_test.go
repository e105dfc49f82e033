package seal_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/proofline/proofline/seal"
)

func key(t testing.TB, id string) seal.Key {
	t.Helper()
	k, err := seal.Generate(id)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func ring(t testing.TB, keys ...seal.Key) *seal.KeyRing {
	t.Helper()
	r, err := seal.NewKeyRing(keys...)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestSealOpen(t *testing.T) {
	t.Parallel()
	r := ring(t, key(t, "k1"))
	msg := []byte("secret payload")
	a, _ := r.Seal(msg, []byte("aad"))
	b, _ := r.Seal(msg, []byte("aad"))
	if bytes.Equal(a, b) {
		t.Fatal("two seals of one message are identical: nonce reuse")
	}
	if bytes.Contains(a, msg) {
		t.Fatal("ciphertext holds the plaintext")
	}
	got, err := r.Open(a, []byte("aad"))
	if err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("open: %q %v", got, err)
	}
	if id, _ := seal.KeyID(a); id != "k1" {
		t.Errorf("key id %q", id)
	}
	if _, err := r.Open(a, []byte("other aad")); !errors.Is(err, seal.ErrOpen) {
		t.Errorf("wrong aad: %v", err)
	}
	for i := range a {
		bad := bytes.Clone(a)
		bad[i] ^= 0x01
		if _, err := r.Open(bad, []byte("aad")); err == nil {
			t.Fatalf("flipping byte %d still opens", i)
		}
	}
	for n := range len(a) {
		if _, err := r.Open(a[:n], []byte("aad")); err == nil {
			t.Fatalf("truncated to %d bytes still opens", n)
		}
	}
}

func TestRotation(t *testing.T) {
	t.Parallel()
	k1, k2 := key(t, "k1"), key(t, "k2")
	old := ring(t, k1)
	sealedOld, _ := old.Seal([]byte("in flight"), nil)

	rotated := ring(t, k2, k1) // k2 current, k1 retired
	if rotated.CurrentKeyID() != "k2" {
		t.Fatal("first key must be current")
	}
	if got, err := rotated.Open(sealedOld, nil); err != nil || string(got) != "in flight" {
		t.Fatalf("retired key no longer opens old data: %v", err)
	}
	sealedNew, _ := rotated.Seal([]byte("new"), nil)
	if id, _ := seal.KeyID(sealedNew); id != "k2" {
		t.Fatalf("new data sealed with %s", id)
	}
	// Old servers still holding k1 only cannot open k2 data.
	if _, err := old.Open(sealedNew, nil); !errors.Is(err, seal.ErrUnknownKey) {
		t.Fatalf("got %v", err)
	}
	// Removing k1 retires it for good.
	final := ring(t, k2)
	if _, err := final.Open(sealedOld, nil); !errors.Is(err, seal.ErrUnknownKey) {
		t.Fatalf("removed key still opens: %v", err)
	}
	// A key with the same id but other material does not open it either.
	impostor := ring(t, key(t, "k1"))
	if _, err := impostor.Open(sealedOld, nil); !errors.Is(err, seal.ErrOpen) {
		t.Fatalf("other key material under the same id: %v", err)
	}
}

func TestParseKeysNeverEchoesMaterial(t *testing.T) {
	t.Parallel()
	k1, k2 := key(t, "k1"), key(t, "k2")
	spec := seal.FormatKeys(k1, k2)
	keys, err := seal.ParseKeys(spec)
	if err != nil || len(keys) != 2 || keys[0].ID != "k1" || !bytes.Equal(keys[1].Material, k2.Material) {
		t.Fatalf("round trip: %v %v", keys, err)
	}
	for _, bad := range []string{"", "k1", "k1:c2hvcnQ=", "bad id:" + strings.Repeat("A", 44), "k1:!!!!"} {
		_, err := seal.ParseKeys(bad)
		if err == nil {
			t.Errorf("ParseKeys(%q) accepted", bad)
			continue
		}
		if strings.Contains(err.Error(), "c2hvcnQ") || strings.Contains(err.Error(), "!!!!") {
			t.Errorf("error echoes key material: %v", err)
		}
	}
	if _, err := seal.NewKeyRing(k1, k1); err == nil {
		t.Error("duplicate key id accepted")
	}
	s := fmt.Sprintf("%v %+v %#v %s", k1, k1, k1, k1)
	if strings.Contains(s, string(k1.Material)) || !strings.Contains(s, "k1") {
		t.Errorf("key prints its material: %s", s)
	}
}

func BenchmarkSeal(b *testing.B) {
	r := ring(b, key(b, "k1"))
	for _, size := range []int{256, 4 << 10, 1 << 20} {
		msg := make([]byte, size)
		aad := []byte("proofline/envelope/v1")
		b.Run(fmt.Sprintf("seal-%dB", size), func(b *testing.B) {
			b.SetBytes(int64(size))
			for b.Loop() {
				_, _ = r.Seal(msg, aad)
			}
		})
		sealed, _ := r.Seal(msg, aad)
		b.Run(fmt.Sprintf("open-%dB", size), func(b *testing.B) {
			b.SetBytes(int64(size))
			for b.Loop() {
				if _, err := r.Open(sealed, aad); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestKeyIDs: a key id is 1 to 64 of the characters [a-zA-Z0-9._-]; every
// other byte (the neighbours of each allowed range included) and every
// other length is refused by Generate, ParseKeys and NewKeyRing alike.
func TestKeyIDs(t *testing.T) {
	t.Parallel()
	material := strings.Repeat("A", 43) // 32 zero bytes, unpadded base64
	for _, id := range []string{
		"a", "z", "A", "Z", "0", "9", "-", "_", ".",
		"azAZ09-_.", "2030-01.rotated_k",
		strings.Repeat("k", 64),
	} {
		k, err := seal.Generate(id)
		if err != nil || k.ID != id || len(k.Material) != seal.KeySize {
			t.Errorf("Generate(%q) = %v, %v", id, k, err)
			continue
		}
		if keys, err := seal.ParseKeys(id + ":" + material); err != nil || len(keys) != 1 || keys[0].ID != id {
			t.Errorf("ParseKeys with id %q: %v, %v", id, keys, err)
		}
		if _, err := seal.NewKeyRing(k); err != nil {
			t.Errorf("NewKeyRing with id %q: %v", id, err)
		}
	}
	for _, id := range []string{
		"", strings.Repeat("k", 65),
		"`", "{", "@", "[", "/", ":", " ", "k 1", "k,1", "k\n1", "k\x001", "ké", "k/../1", "k+1", "k=1",
	} {
		if _, err := seal.Generate(id); err == nil {
			t.Errorf("Generate(%q) accepted", id)
		}
		if _, err := seal.NewKeyRing(seal.Key{ID: id, Material: make([]byte, seal.KeySize)}); err == nil {
			t.Errorf("NewKeyRing with id %q accepted", id)
		}
		if strings.ContainsAny(id, ",:") || strings.TrimSpace(id) != id {
			continue // not expressible in a key list
		}
		if _, err := seal.ParseKeys(id + ":" + material); err == nil {
			t.Errorf("ParseKeys with id %q accepted", id)
		}
	}
}

// TestParseKeysForms: the key list an operator writes: spaces and empty
// entries are ignored, standard and URL base64 both work with or without
// padding, the first key is current, and a key of any other size than 32
// bytes or an entry without "id:" is refused, naming the entry.
func TestParseKeysForms(t *testing.T) {
	t.Parallel()
	m1 := bytes.Repeat([]byte{0xfb}, seal.KeySize) // '+' and '/' in standard base64
	m2 := bytes.Repeat([]byte{0x01}, seal.KeySize)
	std, url := base64.StdEncoding.EncodeToString(m1), base64.RawURLEncoding.EncodeToString(m1)
	for _, spec := range []string{
		"new:" + std + ",old:" + base64.StdEncoding.EncodeToString(m2),
		" new:" + url + " , , old:" + base64.RawStdEncoding.EncodeToString(m2) + " ,",
		",new:" + strings.TrimRight(std, "=") + ",old:" + base64.URLEncoding.EncodeToString(m2),
	} {
		keys, err := seal.ParseKeys(spec)
		if err != nil || len(keys) != 2 || keys[0].ID != "new" || keys[1].ID != "old" ||
			!bytes.Equal(keys[0].Material, m1) || !bytes.Equal(keys[1].Material, m2) {
			t.Errorf("ParseKeys(%q) = %v, %v", spec, keys, err)
		}
	}
	for _, tc := range []struct{ spec, want string }{
		{" , ,", "no keys"},
		{"k1:" + std + ",k2", "key 2"},
		{"k1:" + std + ",k2" + std, "key 2"},
		{"k1:" + std + ",bad/id:" + std, "key 2"},
		{"k1:" + base64.StdEncoding.EncodeToString(m1[:31]), "k1"},
		{"k1:" + base64.StdEncoding.EncodeToString(append(bytes.Clone(m1), 0)), "k1"},
		{"k1:", "k1"},
	} {
		_, err := seal.ParseKeys(tc.spec)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseKeys(%q) = %v, want an error naming %q", tc.spec, err, tc.want)
		}
	}
	if _, err := seal.NewKeyRing(); err == nil {
		t.Error("a ring without keys accepted")
	}
	for _, n := range []int{0, 16, 31, 33, 64} {
		if _, err := seal.NewKeyRing(seal.Key{ID: "k", Material: make([]byte, n)}); err == nil {
			t.Errorf("a %d-byte key accepted", n)
		}
	}
}

// TestSealedShapes: the longest key id seals and opens; an empty message
// and a long AAD seal and open; the key id can be read from the header alone
// and from nothing shorter; a header of another version, an empty key id or
// a key id longer than 64 never opens.
func TestSealedShapes(t *testing.T) {
	t.Parallel()
	longID := strings.Repeat("k", 64)
	r := ring(t, key(t, longID), key(t, "k1"))
	aad := bytes.Repeat([]byte("context "), 512)
	for _, msg := range [][]byte{nil, []byte("x"), bytes.Repeat([]byte{7}, 4096)} {
		s, err := r.Seal(msg, aad)
		if err != nil {
			t.Fatal(err)
		}
		if len(s) != 2+len(longID)+12+len(msg)+16 {
			t.Errorf("sealed %d bytes into %d", len(msg), len(s))
		}
		got, err := r.Open(s, aad)
		if err != nil || !bytes.Equal(got, msg) {
			t.Errorf("open %d bytes: %d bytes, %v", len(msg), len(got), err)
		}
		if _, err := r.Open(s, aad[1:]); !errors.Is(err, seal.ErrOpen) {
			t.Errorf("shorter aad: %v", err)
		}
		if id, err := seal.KeyID(s[:2+len(longID)]); err != nil || id != longID {
			t.Errorf("KeyID of the header alone = %q, %v", id, err)
		}
		if _, err := seal.KeyID(s[:1+len(longID)]); !errors.Is(err, seal.ErrOpen) {
			t.Errorf("KeyID of a cut header: %v", err)
		}
	}
	s, _ := r.Seal([]byte("msg"), nil)
	for name, bad := range map[string][]byte{
		"version 0":     append([]byte{0}, s[1:]...),
		"version 2":     append([]byte{2}, s[1:]...),
		"empty id":      append([]byte{1, 0}, s[2:]...),
		"id 65":         append(append([]byte{1, 65}, strings.Repeat("k", 65)...), s[2+64:]...),
		"id length 255": append([]byte{1, 255}, s[2:]...),
		"one byte":      {1},
		"nothing":       {},
	} {
		if _, err := seal.KeyID(bad); !errors.Is(err, seal.ErrOpen) {
			t.Errorf("KeyID(%s): %v", name, err)
		}
		if _, err := r.Open(bad, nil); !errors.Is(err, seal.ErrOpen) {
			t.Errorf("Open(%s): %v", name, err)
		}
	}
}

// TestDeriveKey: every process holding one secret derives the same key for
// one purpose, its material HMAC-SHA256(secret, purpose) and its id "d-" and
// 8 lower-case hex characters; another secret or purpose gives another key
// and another id, and a derived key is a valid ring key.
func TestDeriveKey(t *testing.T) {
	t.Parallel()
	secret := []byte("session secret of the deployment")
	k := seal.DeriveKey(secret, "proofline/session-ring/v1")
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte("proofline/session-ring/v1"))
	if !bytes.Equal(k.Material, mac.Sum(nil)) {
		t.Error("material is not HMAC-SHA256(secret, purpose)")
	}
	hexID, ok := strings.CutPrefix(k.ID, "d-")
	if _, err := hex.DecodeString(hexID); !ok || err != nil || len(hexID) != 8 || strings.ToLower(hexID) != hexID {
		t.Errorf("derived key id %q", k.ID)
	}
	if again := seal.DeriveKey(bytes.Clone(secret), "proofline/session-ring/v1"); again.ID != k.ID || !bytes.Equal(again.Material, k.Material) {
		t.Error("one secret derives two keys")
	}
	for name, other := range map[string]seal.Key{
		"other secret":  seal.DeriveKey([]byte("another secret"), "proofline/session-ring/v1"),
		"other purpose": seal.DeriveKey(secret, "proofline/other/v1"),
	} {
		if other.ID == k.ID || bytes.Equal(other.Material, k.Material) {
			t.Errorf("%s derives the same key", name)
		}
	}
	r := ring(t, k)
	s, _ := r.Seal([]byte("m"), nil)
	if got, err := ring(t, seal.DeriveKey(secret, "proofline/session-ring/v1")).Open(s, nil); err != nil || string(got) != "m" {
		t.Errorf("another process's derived ring: %q, %v", got, err)
	}
}
