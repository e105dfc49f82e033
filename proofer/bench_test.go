package proofer

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"testing"

	"github.com/proofline/proofline"
)

type oneImage struct{ ct []byte }

func (o oneImage) Read(context.Context, string, int64) ([]byte, error) { return o.ct, nil }
func (o oneImage) Delete(context.Context, string) error                { return nil }

// BenchmarkImageDecrypt compares proofline's image read+decrypt path with a
// bare crypto/aes GCM Open of the same 4 MiB buffer.
func BenchmarkImageDecrypt(b *testing.B) {
	key := make([]byte, 32)
	iv := make([]byte, 12)
	_, _ = rand.Read(key)
	_, _ = rand.Read(iv)
	plain := make([]byte, 4<<20)
	_, _ = rand.Read(plain)
	block, _ := aes.NewCipher(key)
	aead, _ := cipher.NewGCM(block)
	ct := aead.Seal(nil, iv, plain, nil)

	b.Run("raw-gcm-open", func(b *testing.B) {
		b.SetBytes(int64(len(plain)))
		dst := make([]byte, 0, len(plain))
		for b.Loop() {
			if _, err := aead.Open(dst[:0], iv, ct, nil); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("proofer-read-decrypt", func(b *testing.B) {
		p := &Proofer{Images: oneImage{ct}}
		im := docImage{side: "front", ref: proofline.ImageRef{Key: "k", IV: iv}}
		b.SetBytes(int64(len(plain)))
		for b.Loop() {
			if _, msg := p.readImage(context.Background(), aead, im, false); msg != "" {
				b.Fatal(msg)
			}
		}
	})
}
