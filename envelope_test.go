package proofline_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/proofline/proofline"
)

// A job's payload carries the arguments of its own kind and nothing else:
// no arguments, another kind's, or a second kind's alongside are refused,
// so a worker never proofs a job as a kind it was not dispatched as.
func TestEnvelopePayloadMatchesKindExactly(t *testing.T) {
	t.Parallel()
	doc := &proofline.DocumentArgs{EncryptionKey: make([]byte, 32)}
	res := &proofline.ResolutionArgs{}
	addr := &proofline.AddressArgs{}
	payloads := map[string]func() *proofline.Payload{
		"none":                func() *proofline.Payload { return &proofline.Payload{} },
		"document":            func() *proofline.Payload { return &proofline.Payload{Document: doc} },
		"resolution":          func() *proofline.Payload { return &proofline.Payload{Resolution: res} },
		"address":             func() *proofline.Payload { return &proofline.Payload{Address: addr} },
		"document+resolution": func() *proofline.Payload { return &proofline.Payload{Document: doc, Resolution: res} },
		"document+address":    func() *proofline.Payload { return &proofline.Payload{Document: doc, Address: addr} },
		"resolution+address":  func() *proofline.Payload { return &proofline.Payload{Resolution: res, Address: addr} },
		"all":                 func() *proofline.Payload { return &proofline.Payload{Document: doc, Resolution: res, Address: addr} },
	}
	for _, kind := range proofline.Kinds {
		for name, p := range payloads {
			env, keys, err := proofline.SealEnvelope(header(kind), p())
			if name != string(kind) {
				if proofline.ErrorCode(err) != proofline.EINVALID {
					t.Errorf("%s envelope with a %s payload: got %v, want invalid", kind, name, err)
				}
				continue
			}
			if err != nil {
				t.Errorf("%s envelope with its own payload refused: %v", kind, err)
				continue
			}
			if _, err := env.Open(keys.DataKey); err != nil {
				t.Errorf("%s envelope does not open: %v", kind, err)
			}
		}
	}
}

// Every header field a worker routes by must be present and well formed,
// both when the IdP seals the envelope and when a worker parses one.
func TestEnvelopeHeaderRequiresEveryField(t *testing.T) {
	t.Parallel()
	env, keys, err := proofline.SealEnvelope(header(proofline.KindAddress), &proofline.Payload{Address: &proofline.AddressArgs{}})
	if err != nil {
		t.Fatal(err)
	}
	for name, mut := range map[string]func(e *proofline.Envelope){
		"unknown kind":        func(e *proofline.Envelope) { e.Kind = "Address" },
		"no kind":             func(e *proofline.Envelope) { e.Kind = "" },
		"no result id":        func(e *proofline.Envelope) { e.ResultID = "" },
		"no callback url":     func(e *proofline.Envelope) { e.CallbackURL = "" },
		"no deadline":         func(e *proofline.Envelope) { e.Deadline = time.Time{} },
		"short claim token":   func(e *proofline.Envelope) { e.ClaimToken = e.ClaimToken[:31] },
		"long claim token":    func(e *proofline.Envelope) { e.ClaimToken = append(bytes.Clone(e.ClaimToken), 0) },
		"version 1":           func(e *proofline.Envelope) { e.Version = 1 },
		"version 3":           func(e *proofline.Envelope) { e.Version = 3 },
		"no version, no keys": func(e *proofline.Envelope) { e.Version, e.ClaimToken = 0, nil },
	} {
		e := *env
		mut(&e)
		wire, _ := json.Marshal(&e)
		if _, err := proofline.ParseEnvelope(wire); proofline.ErrorCode(err) != proofline.EINVALID {
			t.Errorf("ParseEnvelope with %s: got %v, want invalid", name, err)
		}
		if _, err := e.Open(keys.DataKey); proofline.ErrorCode(err) != proofline.EINVALID {
			t.Errorf("Open with %s: got %v, want invalid", name, err)
		}
		if _, err := proofline.NewClaimant(&e); proofline.ErrorCode(err) != proofline.EINVALID {
			t.Errorf("NewClaimant with %s: got %v, want invalid", name, err)
		}
		h := e
		h.Version, h.ClaimToken = proofline.EnvelopeVersion, nil // set by SealEnvelope itself
		_, _, sealErr := proofline.SealEnvelope(h, &proofline.Payload{Address: &proofline.AddressArgs{}})
		if strings.Contains(name, "version") || strings.Contains(name, "claim token") {
			if sealErr != nil {
				t.Errorf("SealEnvelope did not set %s itself: %v", name, sealErr)
			}
		} else if proofline.ErrorCode(sealErr) != proofline.EINVALID {
			t.Errorf("SealEnvelope with %s: got %v, want invalid", name, sealErr)
		}
	}
}

// A truncated or emptied sealed payload is refused as invalid, never a
// crash, whatever its length.
func TestEnvelopeTruncatedPayload(t *testing.T) {
	t.Parallel()
	env, keys, err := proofline.SealEnvelope(header(proofline.KindAddress), &proofline.Payload{Address: &proofline.AddressArgs{Applicant: canaryApplicant()}})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{0, 1, 11, 12, 27, 28, len(env.Sealed) - 1} {
		wire := fmt.Sprintf(`{"v":2,"kind":"address","result_id":%q,"callback_url":%q,"deadline":%q,"claim_token":%q,"sealed":%q}`,
			env.ResultID, env.CallbackURL, env.Deadline.Format(time.RFC3339Nano), base64.StdEncoding.EncodeToString(env.ClaimToken),
			base64.StdEncoding.EncodeToString(env.Sealed[:n]))
		e, err := proofline.ParseEnvelope([]byte(wire))
		if err != nil {
			t.Fatalf("header refused: %v", err)
		}
		if _, err := e.Open(keys.DataKey); proofline.ErrorCode(err) != proofline.EINVALID {
			t.Errorf("a %d-byte sealed payload: got %v, want invalid", n, err)
		}
	}
}

// An envelope logs its routing header only; its per-job keys never print,
// whatever the verb or handler.
func TestEnvelopeAndJobKeysLogNoSecrets(t *testing.T) {
	t.Parallel()
	h := header(proofline.KindAddress)
	env, keys, err := proofline.SealEnvelope(h, &proofline.Payload{Address: &proofline.AddressArgs{Applicant: canaryApplicant()}})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("job", "envelope", env, "keys", keys, "keys_value", *keys)
	var line struct {
		Envelope  map[string]any `json:"envelope"`
		Keys      string         `json:"keys"`
		KeysValue string         `json:"keys_value"`
	}
	if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
		t.Fatalf("%v: %s", err, buf.Bytes())
	}
	want := map[string]any{"kind": "address", "result_id": env.ResultID, "trace_id": "t1", "deadline": env.Deadline.Format(time.RFC3339Nano)}
	if fmt.Sprint(line.Envelope) != fmt.Sprint(want) {
		t.Errorf("envelope logged as %v, want %v", line.Envelope, want)
	}
	if line.Keys != proofline.Redacted || line.KeysValue != proofline.Redacted {
		t.Errorf("job keys logged as %q / %q", line.Keys, line.KeysValue)
	}
	secrets := [][]byte{keys.DataKey, keys.ClaimToken, keys.CallbackSecret}
	var out []string
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%q"} {
		out = append(out, fmt.Sprintf(verb, keys), fmt.Sprintf(verb, *keys))
	}
	out = append(out, keys.String(), keys.GoString(), proofline.Payload{}.GoString(), buf.String())
	for _, s := range out {
		for _, k := range secrets {
			for _, enc := range []string{fmt.Sprintf("%x", k), base64.StdEncoding.EncodeToString(k), fmt.Sprint(k), string(k)} {
				if strings.Contains(s, enc) {
					t.Fatalf("job keys leaked: %s", s)
				}
			}
		}
		if !strings.Contains(s, proofline.Redacted) && s != buf.String() {
			t.Errorf("job keys printed without the redaction marker: %s", s)
		}
	}
}
