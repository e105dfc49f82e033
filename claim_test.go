package proofline_test

import (
	"bytes"
	"encoding/json"
	"strconv"
	"testing"
	"time"

	"github.com/proofline/proofline"
)

func sealedJob(t testing.TB) (*proofline.Envelope, *proofline.JobKeys) {
	t.Helper()
	env, keys, err := proofline.SealEnvelope(header(proofline.KindAddress), &proofline.Payload{Address: &proofline.AddressArgs{Applicant: canaryApplicant()}})
	if err != nil {
		t.Fatal(err)
	}
	return env, keys
}

// The claim hands the data key to the claimant and to nobody who only reads
// or rewrites the exchange.
func TestClaimReleasesDataKeyToClaimantOnly(t *testing.T) {
	t.Parallel()
	env, keys := sealedJob(t)
	c, err := proofline.NewClaimant(env)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(c.Body(), keys.ClaimToken) || bytes.Contains(c.Body(), []byte(b64(keys.ClaimToken))) {
		t.Fatal("the claim carries the claim token itself")
	}
	req, err := proofline.ParseClaimRequest(c.Body())
	if err != nil {
		t.Fatal(err)
	}
	if err := req.Verify(env.Kind, env.ResultID, keys.ClaimToken); err != nil {
		t.Fatalf("good claim refused: %v", err)
	}
	answer, err := proofline.AnswerClaim(env.Kind, env.ResultID, req, keys.DataKey)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(answer, keys.DataKey) || bytes.Contains(answer, []byte(b64(keys.DataKey))) {
		t.Fatal("the answer carries the data key in clear")
	}
	dk, err := c.Open(answer)
	if err != nil || !bytes.Equal(dk, keys.DataKey) {
		t.Fatalf("claimant did not get the data key: %v", err)
	}
	if _, err := env.Open(dk); err != nil {
		t.Fatal(err)
	}

	// The proof binds kind, result id and the public key: a hop that swaps
	// in its own key, or replays the claim for another job, is refused.
	other, _ := proofline.NewClaimant(env)
	hopReq, _ := proofline.ParseClaimRequest(other.Body())
	swapped := *req
	swapped.PublicKey = hopReq.PublicKey
	if err := swapped.Verify(env.Kind, env.ResultID, keys.ClaimToken); proofline.ErrorCode(err) != proofline.EUNAUTHORIZED {
		t.Errorf("claim with a swapped public key: %v", err)
	}
	if err := req.Verify(env.Kind, proofline.NewResultID(), keys.ClaimToken); err == nil {
		t.Error("claim verified for another result id")
	}
	if err := req.Verify(proofline.KindResolution, env.ResultID, keys.ClaimToken); err == nil {
		t.Error("claim verified for another kind")
	}
	if err := req.Verify(env.Kind, env.ResultID, keys.DataKey); err == nil {
		t.Error("claim verified with another token")
	}

	// Another claimant (a hop with its own key) cannot unwrap the answer,
	// and an answer for another job does not open.
	if _, err := other.Open(answer); err == nil {
		t.Error("another key pair unwrapped the data key")
	}
	env2, keys2 := sealedJob(t)
	c2, _ := proofline.NewClaimant(env2)
	req2, _ := proofline.ParseClaimRequest(c2.Body())
	crossed, _ := proofline.AnswerClaim(env.Kind, env.ResultID, req2, keys2.DataKey)
	if _, err := c2.Open(crossed); err == nil {
		t.Error("an answer bound to another result id opened")
	}
}

func TestClaimDecodersAreStrict(t *testing.T) {
	t.Parallel()
	env, keys := sealedJob(t)
	c, _ := proofline.NewClaimant(env)
	var good map[string]any
	_ = json.Unmarshal(c.Body(), &good)
	bad := []string{``, `null`, `{}`, `[]`, `{"v":1,"public_key":"` + good["public_key"].(string) + `","proof":"` + good["proof"].(string) + `"}`,
		`{"v":2,"public_key":"AAAA","proof":"` + good["proof"].(string) + `"}`,
		`{"v":2,"public_key":"` + good["public_key"].(string) + `","proof":"` + good["proof"].(string) + `","x":1}`,
		string(c.Body()) + `{}`,
	}
	for _, in := range bad {
		if _, err := proofline.ParseClaimRequest([]byte(in)); proofline.ErrorCode(err) != proofline.EINVALID {
			t.Errorf("ParseClaimRequest(%q): %v", in, err)
		}
	}
	// An all-zero (low-order) public key is refused when answering.
	req, _ := proofline.ParseClaimRequest(c.Body())
	req.PublicKey = make([]byte, 32)
	if _, err := proofline.AnswerClaim(env.Kind, env.ResultID, req, keys.DataKey); err == nil {
		t.Error("answered a claim for a low-order public key")
	}
	for _, in := range []string{``, `{}`, `{"v":2,"public_key":"AAAA","wrapped_key":"AAAA"}`} {
		if _, err := proofline.ParseClaimResponse([]byte(in)); err == nil {
			t.Errorf("ParseClaimResponse(%q) accepted", in)
		}
	}
}

func TestSealedCallbackBindsJobAndRequest(t *testing.T) {
	t.Parallel()
	secret := bytes.Repeat([]byte{9}, 32)
	now := time.Unix(1_800_000_000, 0)
	id := proofline.NewResultID()
	path := proofline.CallbackPath(proofline.KindAddress, id)
	result := []byte(`{"address_result":{"success":false,"pii":"` + canary + `"}}`)
	body, err := proofline.SealCallback(secret, proofline.KindAddress, id, "POST", path, now, result)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(body, []byte(canary)) || bytes.Contains(body, []byte("success")) {
		t.Fatalf("sealed callback shows its result: %s", body)
	}
	ts := strconv.FormatInt(now.Unix(), 10)
	open := func(secret []byte, kind proofline.Kind, id, method, path, ts string, at time.Time, body []byte) error {
		plain, err := proofline.OpenCallback(secret, kind, id, method, path, ts, at, time.Minute, body)
		if err == nil && !bytes.Equal(plain, result) {
			t.Fatal("opened to something else")
		}
		return err
	}
	if err := open(secret, proofline.KindAddress, id, "POST", path, ts, now.Add(30*time.Second), body); err != nil {
		t.Fatalf("good callback refused: %v", err)
	}
	var sc proofline.SealedCallback
	_ = json.Unmarshal(body, &sc)
	sc.Sealed[20] ^= 1
	flipped, _ := json.Marshal(sc)
	otherID := proofline.NewResultID()
	cases := map[string]struct {
		err  error
		code string
	}{
		"other secret":     {open(bytes.Repeat([]byte{8}, 32), proofline.KindAddress, id, "POST", path, ts, now, body), proofline.EUNAUTHORIZED},
		"other result id":  {open(secret, proofline.KindAddress, otherID, "POST", proofline.CallbackPath(proofline.KindAddress, otherID), ts, now, body), proofline.EUNAUTHORIZED},
		"other kind":       {open(secret, proofline.KindResolution, id, "POST", path, ts, now, body), proofline.EUNAUTHORIZED},
		"other method":     {open(secret, proofline.KindAddress, id, "PUT", path, ts, now, body), proofline.EUNAUTHORIZED},
		"other path":       {open(secret, proofline.KindAddress, id, "POST", path+"x", ts, now, body), proofline.EUNAUTHORIZED},
		"other timestamp":  {open(secret, proofline.KindAddress, id, "POST", path, strconv.FormatInt(now.Unix()+1, 10), now, body), proofline.EUNAUTHORIZED},
		"stale timestamp":  {open(secret, proofline.KindAddress, id, "POST", path, ts, now.Add(2*time.Minute), body), proofline.EUNAUTHORIZED},
		"future timestamp": {open(secret, proofline.KindAddress, id, "POST", path, ts, now.Add(-2*time.Minute), body), proofline.EUNAUTHORIZED},
		"padded timestamp": {open(secret, proofline.KindAddress, id, "POST", path, "0"+ts, now, body), proofline.EUNAUTHORIZED},
		"flipped bit":      {open(secret, proofline.KindAddress, id, "POST", path, ts, now, flipped), proofline.EUNAUTHORIZED},
		"plaintext body":   {open(secret, proofline.KindAddress, id, "POST", path, ts, now, result), proofline.EINVALID},
		"version 1":        {open(secret, proofline.KindAddress, id, "POST", path, ts, now, []byte(`{"v":1,"sealed":"`+b64(sc.Sealed)+`"}`)), proofline.EINVALID},
	}
	for name, c := range cases {
		if proofline.ErrorCode(c.err) != c.code {
			t.Errorf("%s: got %v, want %s", name, c.err, c.code)
		}
	}
}

func b64(b []byte) string {
	j, _ := json.Marshal(b)
	return string(j[1 : len(j)-1])
}

// FuzzParseClaimRequest: any body either is refused with EINVALID or is a
// well-formed claim that verifies only with its own proof.
func FuzzParseClaimRequest(f *testing.F) {
	env, keys := sealedJob(f)
	c, _ := proofline.NewClaimant(env)
	f.Add(c.Body())
	f.Add([]byte(`{"v":2,"public_key":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=","proof":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}`))
	f.Add([]byte(`{"v":2}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := proofline.ParseClaimRequest(body)
		if err != nil {
			if proofline.ErrorCode(err) != proofline.EINVALID {
				t.Fatalf("refusal with code %s", proofline.ErrorCode(err))
			}
			return
		}
		if len(req.PublicKey) != 32 || len(req.Proof) != 32 {
			t.Fatal("accepted a claim of the wrong shape")
		}
		if req.Verify(env.Kind, env.ResultID, keys.ClaimToken) == nil && !bytes.Equal(req.Proof, mustReq(t, c.Body()).Proof) {
			t.Fatal("a claim the claimant did not make verified")
		}
		_, _ = proofline.AnswerClaim(env.Kind, env.ResultID, req, keys.DataKey)
	})
}

func mustReq(t *testing.T, b []byte) *proofline.ClaimRequest {
	r, err := proofline.ParseClaimRequest(b)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// FuzzOpenClaimAnswer: any answer either opens to the real data key or is
// refused, never panics.
func FuzzOpenClaimAnswer(f *testing.F) {
	env, keys := sealedJob(f)
	c, _ := proofline.NewClaimant(env)
	req, _ := proofline.ParseClaimRequest(c.Body())
	good, _ := proofline.AnswerClaim(env.Kind, env.ResultID, req, keys.DataKey)
	f.Add(good)
	f.Add([]byte(`{"v":2,"public_key":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=","wrapped_key":""}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		dk, err := c.Open(body)
		if err == nil && !bytes.Equal(dk, keys.DataKey) {
			t.Fatal("opened to a key the IdP did not wrap")
		}
	})
}

// FuzzOpenCallback: arbitrary bodies and timestamps never open unless they
// are the sealed result, and every refusal is EINVALID or EUNAUTHORIZED.
func FuzzOpenCallback(f *testing.F) {
	secret := bytes.Repeat([]byte{9}, 32)
	now := time.Unix(1_800_000_000, 0)
	id := "3db26898-534c-4be2-9592-4ef9e0d3908e"
	path := proofline.CallbackPath(proofline.KindAddress, id)
	result := []byte(`{"address_result":{"success":true}}`)
	good, _ := proofline.SealCallback(secret, proofline.KindAddress, id, "POST", path, now, result)
	f.Add("1800000000", good)
	f.Add("", []byte{})
	f.Add("-1", []byte(`{"v":2,"sealed":""}`))
	f.Add("99999999999999999999", result)
	f.Fuzz(func(t *testing.T, ts string, body []byte) {
		plain, err := proofline.OpenCallback(secret, proofline.KindAddress, id, "POST", path, ts, now, time.Minute, body)
		if err == nil && !bytes.Equal(plain, result) {
			t.Fatalf("opened a callback it did not seal: %q", ts)
		}
		if code := proofline.ErrorCode(err); err != nil && code != proofline.EUNAUTHORIZED && code != proofline.EINVALID {
			t.Fatalf("refusal with code %s", code)
		}
	})
}

// BenchmarkClaimCrypto: the cryptography of one claim, both sides (two
// X25519 key pairs, two ECDH, two HKDF, HMAC, AES-GCM seal and open).
func BenchmarkClaimCrypto(b *testing.B) {
	env, keys := sealedJob(b)
	b.ReportAllocs()
	for b.Loop() {
		c, _ := proofline.NewClaimant(env)
		req, _ := proofline.ParseClaimRequest(c.Body())
		if err := req.Verify(env.Kind, env.ResultID, keys.ClaimToken); err != nil {
			b.Fatal(err)
		}
		answer, _ := proofline.AnswerClaim(env.Kind, env.ResultID, req, keys.DataKey)
		if _, err := c.Open(answer); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkClaimCryptoServer: the same with the IdP's key pair reused
// (ClaimKeys, as a server answers): one X25519 key generation fewer.
func BenchmarkClaimCryptoServer(b *testing.B) {
	env, keys := sealedJob(b)
	ks := proofline.NewClaimKeys(0, nil)
	b.ReportAllocs()
	for b.Loop() {
		c, _ := proofline.NewClaimant(env)
		req, _ := proofline.ParseClaimRequest(c.Body())
		if err := req.Verify(env.Kind, env.ResultID, keys.ClaimToken); err != nil {
			b.Fatal(err)
		}
		answer, _ := ks.Answer(env.Kind, env.ResultID, req, keys.DataKey)
		if _, err := c.Open(answer); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSealOpenCallback: one callback sealed by the worker and opened by the IdP.
func BenchmarkSealOpenCallback(b *testing.B) {
	secret := bytes.Repeat([]byte{9}, 32)
	id := proofline.NewResultID()
	path := proofline.CallbackPath(proofline.KindAddress, id)
	result := []byte(`{"address_result":{"success":true,"errors":{},"messages":[],"exception":null,"timed_out":false,"transaction_id":"t","context":{"stages":[]}}}`)
	b.ReportAllocs()
	for b.Loop() {
		now := time.Now()
		body, _ := proofline.SealCallback(secret, proofline.KindAddress, id, "POST", path, now, result)
		if _, err := proofline.OpenCallback(secret, proofline.KindAddress, id, "POST", path, strconv.FormatInt(now.Unix(), 10), now, time.Minute, body); err != nil {
			b.Fatal(err)
		}
	}
}
