package localblob

import (
	"context"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/proofline/proofline/blobstore"
)

// The fuzz driver's fixed key and clock, so the seed corpus in
// testdata/fuzz/FuzzVerifyUploadURL holds URLs that verify.
var (
	fuzzKey   = []byte("proofline-fuzz-signing-key-32byt")
	fuzzNow   = time.Unix(1893456000, 0) // 2030-01-01T00:00:00Z
	fuzzIDs   = []string{"0123456789abcdef0123456789abcdef", "ffffffffffffffffffffffffffffffff"}
	fuzzMaxes = []int64{10 << 20, 1}
)

const fuzzBase = "http://127.0.0.1:8080"

// FuzzVerifyUploadURL feeds arbitrary paths and queries to the upload
// signature check and to KeyFromURL: neither may panic, the check may accept
// only (key, expires, max) triples this driver signed, and KeyFromURL may
// accept only the exact /uploads/{capture_id}/{side} shape on BaseURL.
func FuzzVerifyUploadURL(f *testing.F) {
	d, err := New(Options{Dir: f.TempDir(), BaseURL: fuzzBase, SigningKey: fuzzKey, Now: func() time.Time { return fuzzNow }})
	if err != nil {
		f.Fatal(err)
	}
	expires := fuzzNow.Add(15 * time.Minute)
	signed := map[string]bool{}
	for _, id := range fuzzIDs {
		for _, side := range blobstore.Sides() {
			for _, mx := range fuzzMaxes {
				key := blobstore.Key(id, side)
				up, err := d.PresignUpload(context.Background(), key, expires, mx)
				if err != nil {
					f.Fatal(err)
				}
				signed[key+"|"+strconv.FormatInt(expires.Unix(), 10)+"|"+strconv.FormatInt(mx, 10)] = true
				u, err := url.Parse(up.URL)
				if err != nil {
					f.Fatal(err)
				}
				f.Add(u.EscapedPath(), u.RawQuery)
			}
		}
	}
	f.Add("/uploads/../etc/passwd", "expires=1&max=1&signature=00")
	f.Add("/uploads/"+fuzzIDs[0]+"%2Ffront", "")
	f.Add("", "")

	f.Fuzz(func(t *testing.T, p, q string) {
		key, maxBytes, err := d.verifyUpload(http.MethodPut, p, q)
		if err == nil {
			vals, perr := url.ParseQuery(q)
			if perr != nil {
				t.Fatalf("accepted an unparsable query %q", q)
			}
			triple := key + "|" + vals.Get("expires") + "|" + strconv.FormatInt(maxBytes, 10)
			if !signed[triple] || p != UploadPathPrefix+key || vals.Get("max") != strconv.FormatInt(maxBytes, 10) {
				t.Fatalf("accepted something never signed: path %q query %q", p, q)
			}
		}
		for _, raw := range []string{p, p + "?" + q, fuzzBase + p, fuzzBase + p + "?" + q, "http://" + p + "?" + q} {
			key, err := d.KeyFromURL(raw)
			if err != nil {
				continue
			}
			if !blobstore.ValidKey(key) || !strings.HasPrefix(raw, fuzzBase+UploadPathPrefix+key) {
				t.Fatalf("KeyFromURL(%q) accepted key %q", raw, key)
			}
			rest := strings.TrimPrefix(raw, fuzzBase+UploadPathPrefix+key)
			if rest != "" && rest[0] != '?' {
				t.Fatalf("KeyFromURL(%q) accepted trailing %q", raw, rest)
			}
		}
	})
}

// TestSeedCorpusSigned checks that the signed seeds in testdata, computed
// independently of this package from the documented canonical string, verify:
// the documentation and the code agree.
func TestSeedCorpusSigned(t *testing.T) {
	t.Parallel()
	d, err := New(Options{Dir: t.TempDir(), BaseURL: fuzzBase, SigningKey: fuzzKey, Now: func() time.Time { return fuzzNow }})
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]bool{
		"signed-front": true, "signed-back": true, "signed-selfie": true, "signed-max1": true, "reordered": true,
		"tampered-max": false, "other-side": false, "expired": false, "leading-zero": false, "upper-sig": false,
		"get-signed": false, "dup-param": false, "traversal": false, "encoded-slash": false, "nul": false,
	} {
		b, err := os.ReadFile(filepath.Join("testdata", "fuzz", "FuzzVerifyUploadURL", name))
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(string(b)), "\n")
		if len(lines) != 3 {
			t.Fatalf("%s: %d lines", name, len(lines))
		}
		var args [2]string
		for i, l := range lines[1:] {
			s, ok := strings.CutPrefix(l, "string(")
			s, ok2 := strings.CutSuffix(s, ")")
			if !ok || !ok2 {
				t.Fatalf("%s: line %q", name, l)
			}
			if args[i], err = strconv.Unquote(s); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
		}
		_, _, err = d.verifyUpload(http.MethodPut, args[0], args[1])
		if got := err == nil; got != want {
			t.Errorf("%s: accepted = %v, want %v", name, got, want)
		}
	}
}
