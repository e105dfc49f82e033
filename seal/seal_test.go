package seal_test

import (
	"bytes"
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
