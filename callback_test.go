package proofline_test

import (
	"bytes"
	"encoding/json"
	"strconv"
	"testing"
	"time"

	"github.com/proofline/proofline"
)

// The callback freshness window is inclusive at both edges: a timestamp
// exactly skew old (or skew ahead of the receiver's clock) is accepted,
// one second more is refused as stale, so a recorded callback cannot be
// replayed after the window.
func TestCallbackFreshnessWindowEdges(t *testing.T) {
	t.Parallel()
	secret := bytes.Repeat([]byte{7}, 32)
	id := proofline.NewResultID()
	path := proofline.CallbackPath(proofline.KindResolution, id)
	sent := time.Unix(1_800_000_000, 0)
	result := []byte(`{"resolution_result":{"success":true}}`)
	body, err := proofline.SealCallback(secret, proofline.KindResolution, id, "POST", path, sent, result)
	if err != nil {
		t.Fatal(err)
	}
	ts := strconv.FormatInt(sent.Unix(), 10)
	const skew = 5 * time.Minute
	for at, fresh := range map[time.Duration]bool{
		0: true, skew: true, -skew: true, // received skew late, or skew early (clocks apart)
		skew + time.Second: false, -skew - time.Second: false,
		skew + time.Nanosecond: false, -skew - time.Nanosecond: false,
	} {
		plain, err := proofline.OpenCallback(secret, proofline.KindResolution, id, "POST", path, ts, sent.Add(at), skew, body)
		switch {
		case fresh && (err != nil || !bytes.Equal(plain, result)):
			t.Errorf("received %v after sending: refused (%v)", at, err)
		case !fresh && proofline.ErrorCode(err) != proofline.EUNAUTHORIZED:
			t.Errorf("received %v after sending with skew %v: got %v, want unauthorized", at, skew, err)
		}
	}
}

// The timestamp header is decimal Unix seconds of at most 12 digits: a
// 12-digit one opens when the clock agrees with it, a 13-digit one is
// refused even then.
func TestCallbackTimestampDigitLimit(t *testing.T) {
	t.Parallel()
	secret := bytes.Repeat([]byte{7}, 32)
	id := proofline.NewResultID()
	path := proofline.CallbackPath(proofline.KindAddress, id)
	result := []byte(`{"address_result":{"success":true}}`)
	for _, c := range []struct {
		sent  time.Time
		opens bool
	}{
		{time.Unix(999_999_999_999, 0), true},
		{time.Unix(1_000_000_000_000, 0), false},
	} {
		body, err := proofline.SealCallback(secret, proofline.KindAddress, id, "POST", path, c.sent, result)
		if err != nil {
			t.Fatal(err)
		}
		ts := strconv.FormatInt(c.sent.Unix(), 10)
		_, err = proofline.OpenCallback(secret, proofline.KindAddress, id, "POST", path, ts, c.sent, time.Minute, body)
		if c.opens && err != nil {
			t.Errorf("timestamp %s (%d digits) refused: %v", ts, len(ts), err)
		}
		if !c.opens && proofline.ErrorCode(err) != proofline.EUNAUTHORIZED {
			t.Errorf("timestamp %s (%d digits): got %v, want unauthorized", ts, len(ts), err)
		}
	}
	for _, ts := range []string{"", "x", "+1800000000", " 1800000000", "1800000000.0", "0x6b49d200"} {
		if _, err := proofline.OpenCallback(secret, proofline.KindAddress, id, "POST", path, ts, time.Unix(1_800_000_000, 0), time.Minute, nil); proofline.ErrorCode(err) != proofline.EUNAUTHORIZED {
			t.Errorf("timestamp %q: got %v, want unauthorized", ts, err)
		}
	}
}

// A sealed callback holds a result of any length, even an empty one; the
// shortest body that can open is a nonce and a tag (28 bytes) and anything
// shorter is malformed.
func TestSealedCallbackShortestBody(t *testing.T) {
	t.Parallel()
	secret := bytes.Repeat([]byte{7}, 32)
	id := proofline.NewResultID()
	path := proofline.CallbackPath(proofline.KindAddress, id)
	now := time.Unix(1_800_000_000, 0)
	ts := strconv.FormatInt(now.Unix(), 10)
	for _, result := range [][]byte{nil, []byte("{"), []byte("{}"), []byte(`{"a"}`)} {
		body, err := proofline.SealCallback(secret, proofline.KindAddress, id, "POST", path, now, result)
		if err != nil {
			t.Fatalf("sealing a %d-byte result: %v", len(result), err)
		}
		plain, err := proofline.OpenCallback(secret, proofline.KindAddress, id, "POST", path, ts, now, time.Minute, body)
		if err != nil || !bytes.Equal(plain, result) {
			t.Errorf("a %d-byte result did not round-trip: %q %v", len(result), plain, err)
		}
		c, err := proofline.ParseSealedCallback(body)
		if err != nil || len(c.Sealed) != 12+len(result)+16 {
			t.Fatalf("sealed %d bytes for a %d-byte result: %v", len(c.Sealed), len(result), err)
		}
	}
	for _, n := range []int{0, 1, 11, 27} {
		body, _ := json.Marshal(proofline.SealedCallback{V: proofline.CallbackVersion, Sealed: make([]byte, n)})
		if _, err := proofline.ParseSealedCallback(body); proofline.ErrorCode(err) != proofline.EINVALID {
			t.Errorf("%d-byte sealed callback: got %v, want invalid", n, err)
		}
		if _, err := proofline.OpenCallback(secret, proofline.KindAddress, id, "POST", path, ts, now, time.Minute, body); proofline.ErrorCode(err) != proofline.EINVALID {
			t.Errorf("opening a %d-byte sealed callback: got %v, want invalid", n, err)
		}
	}
}

// A job's callback secret is exactly 32 bytes: sealing under another length
// is refused, and a receiver holding one opens nothing.
func TestCallbackSecretLength(t *testing.T) {
	t.Parallel()
	id := proofline.NewResultID()
	path := proofline.CallbackPath(proofline.KindAddress, id)
	now := time.Unix(1_800_000_000, 0)
	ts := strconv.FormatInt(now.Unix(), 10)
	good := bytes.Repeat([]byte{7}, 32)
	body, err := proofline.SealCallback(good, proofline.KindAddress, id, "POST", path, now, []byte("{}"))
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range [][]byte{nil, good[:31], append(bytes.Clone(good), 7)} {
		if _, err := proofline.SealCallback(secret, proofline.KindAddress, id, "POST", path, now, []byte("{}")); proofline.ErrorCode(err) != proofline.EINVALID {
			t.Errorf("sealed under a %d-byte secret: %v", len(secret), err)
		}
		if _, err := proofline.OpenCallback(secret, proofline.KindAddress, id, "POST", path, ts, now, time.Minute, body); proofline.ErrorCode(err) != proofline.EUNAUTHORIZED {
			t.Errorf("opened with a %d-byte secret: %v", len(secret), err)
		}
	}
}

// TokenEqual matches only the expected token, whole; an unset (empty)
// expected token matches nothing, not even an empty presented one.
func TestTokenEqual(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		got, want string
		ok        bool
	}{
		{"s3cret-token", "s3cret-token", true},
		{"", "", false},
		{"anything", "", false},
		{"", "s3cret-token", false},
		{"s3cret-toke", "s3cret-token", false},
		{"s3cret-token!", "s3cret-token", false},
		{"S3cret-token", "s3cret-token", false},
	} {
		if got := proofline.TokenEqual(c.got, c.want); got != c.ok {
			t.Errorf("TokenEqual(%q, %q) = %v", c.got, c.want, got)
		}
	}
}
