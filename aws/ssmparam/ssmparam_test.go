package ssmparam_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/proofline/proofline"
	"github.com/proofline/proofline/aws/ssmparam"
	"github.com/proofline/proofline/aws/ssmparam/ssmtest"
	"github.com/proofline/proofline/internal/testclock"
	"github.com/proofline/proofline/worker"
)

var testAWS = aws.Config{
	Region:      "us-west-2",
	Credentials: credentials.NewStaticCredentialsProvider("AKIDTEST", "testsecret", ""),
}

func setup(t *testing.T, params map[string]string, override string) (*ssmparam.Store, *ssmtest.Server, *testclock.Clock) {
	t.Helper()
	srv := ssmtest.Start(t, params)
	clk := testclock.New(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	s, err := ssmparam.New(ssmparam.Options{
		Client: ssmparam.NewClient(testAWS, srv.URL), Environment: "staging",
		TTL: time.Minute, TokenOverride: override, Now: clk.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	return s, srv, clk
}

func TestPathNames(t *testing.T) {
	t.Parallel()
	if got := ssmparam.Path("prod", "address_proof_result_token"); got != "/prod/idp/doc-capture/address_proof_result_token" {
		t.Fatalf("Path = %q", got)
	}
	want := map[proofline.Kind]string{
		proofline.KindAddress:    "address_proof_result_token",
		proofline.KindDocument:   "document_proof_result_token",
		proofline.KindResolution: "resolution_proof_result_token",
	}
	for k, n := range want {
		if got := ssmparam.TokenName(k); got != n {
			t.Errorf("TokenName(%s) = %q, want %q", k, got, n)
		}
	}
	for _, env := range []string{"", "a/b", "a b"} {
		if _, err := ssmparam.New(ssmparam.Options{Client: ssmparam.NewClient(testAWS, "http://127.0.0.1:1"), Environment: env}); err == nil {
			t.Errorf("environment %q accepted", env)
		}
	}
}

// TestTokensDecryptedAndCached: each kind reads its own parameter with
// decryption; a second read within the TTL is served from the cache; after
// the TTL the parameter is read again (and a rotated value is seen).
func TestTokensDecryptedAndCached(t *testing.T) {
	t.Parallel()
	s, srv, clk := setup(t, map[string]string{
		"/staging/idp/doc-capture/address_proof_result_token":    "addr-token-0123456789",
		"/staging/idp/doc-capture/document_proof_result_token":   "doc-token-0123456789",
		"/staging/idp/doc-capture/resolution_proof_result_token": "res-token-0123456789",
	}, "")
	ctx := t.Context()
	for k, want := range map[proofline.Kind]string{
		proofline.KindAddress: "addr-token-0123456789", proofline.KindDocument: "doc-token-0123456789",
		proofline.KindResolution: "res-token-0123456789",
	} {
		got, err := s.CallbackToken(ctx, k)
		if err != nil || got != want {
			t.Fatalf("CallbackToken(%s) = %q, %v", k, got, err)
		}
	}
	calls := srv.Calls()
	if len(calls) != 3 {
		t.Fatalf("%d calls, want 3", len(calls))
	}
	for _, c := range calls {
		if c.Target != "GetParameter" || !c.WithDecryption || !strings.HasPrefix(c.Names[0], "/staging/idp/doc-capture/") {
			t.Errorf("call %+v", c)
		}
	}
	// Cached.
	clk.Advance(59 * time.Second)
	if _, err := s.CallbackToken(ctx, proofline.KindAddress); err != nil || len(srv.Calls()) != 3 {
		t.Fatalf("within the TTL: %v, %d calls", err, len(srv.Calls()))
	}
	// Expired: read again, rotated value.
	srv.Set("/staging/idp/doc-capture/address_proof_result_token", "addr-token-rotated-0000")
	clk.Advance(2 * time.Second)
	got, err := s.CallbackToken(ctx, proofline.KindAddress)
	if err != nil || got != "addr-token-rotated-0000" || len(srv.Calls()) != 4 {
		t.Fatalf("after the TTL: %q, %v, %d calls", got, err, len(srv.Calls()))
	}
}

func TestOverride(t *testing.T) {
	t.Parallel()
	s, srv, _ := setup(t, nil, "override-token-0123456789")
	for _, k := range proofline.Kinds {
		if got, err := s.CallbackToken(t.Context(), k); err != nil || got != "override-token-0123456789" {
			t.Fatalf("CallbackToken(%s) = %q, %v", k, got, err)
		}
	}
	if n := len(srv.Calls()); n != 0 {
		t.Fatalf("override still asked Parameter Store %d times", n)
	}
}

func TestMissingToken(t *testing.T) {
	t.Parallel()
	s, srv, _ := setup(t, map[string]string{"/staging/idp/doc-capture/address_proof_result_token": "a-token-0123456789abc"}, "")
	_, err := s.CallbackToken(t.Context(), proofline.KindDocument)
	if !errors.Is(err, ssmparam.ErrNotFound) {
		t.Fatalf("missing token: %v", err)
	}
	// Misses are not cached: once the parameter exists it is used.
	srv.Set("/staging/idp/doc-capture/document_proof_result_token", "doc-token-now-there-0")
	if got, err := s.CallbackToken(t.Context(), proofline.KindDocument); err != nil || got != "doc-token-now-there-0" {
		t.Fatalf("after creating it: %q, %v", got, err)
	}
}

// countingProofer records whether a vendor would have been called.
type countingProofer struct{ n atomic.Int32 }

func (p *countingProofer) Proof(context.Context, proofline.Kind, *proofline.Payload) *proofline.Result {
	p.n.Add(1)
	return &proofline.Result{Success: true}
}

// TestMissingTokenFailsJobBeforeVendors: the worker runtime with this
// Store as its TokenSource rejects the job without proofing it.
func TestMissingTokenFailsJobBeforeVendors(t *testing.T) {
	t.Parallel()
	s, _, _ := setup(t, nil, "")
	p := &countingProofer{}
	rt, err := worker.New(worker.Options{Proofer: p, Tokens: s, AllowedCallbackHosts: []string{"idp.example"}})
	if err != nil {
		t.Fatal(err)
	}
	id := proofline.NewResultID()
	env, _, err := proofline.SealEnvelope(proofline.Envelope{
		Kind: proofline.KindAddress, ResultID: id, CallbackURL: "https://idp.example" + proofline.CallbackPath(proofline.KindAddress, id),
		Deadline: time.Now().Add(time.Minute),
	}, &proofline.Payload{Address: &proofline.AddressArgs{Applicant: proofline.Applicant{Phone: "7035550000"}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := rt.Handle(t.Context(), env); !errors.Is(err, worker.ErrRejected) || !errors.Is(err, ssmparam.ErrNotFound) && !strings.Contains(err.Error(), "not found") {
		t.Fatalf("Handle: %v, want rejected for a missing token", err)
	}
	if p.n.Load() != 0 {
		t.Fatal("a vendor was called without a callback token")
	}
}

// TestOverlay: secrets that exist are applied by key, in order, in batches
// of at most 10, with decryption; missing ones are skipped.
func TestOverlay(t *testing.T) {
	t.Parallel()
	keys := []string{"seal_keys", "redis_url"}
	params := map[string]string{"/staging/idp/doc-capture/seal_keys": "k1:AAAA"}
	for i := range 12 {
		k := "vendor_secret_" + string(rune('a'+i))
		keys = append(keys, k)
		if i%2 == 0 {
			params["/staging/idp/doc-capture/"+k] = "value-" + k
		}
	}
	s, srv, _ := setup(t, params, "")
	got := map[string]string{}
	applied, err := s.Overlay(t.Context(), keys, func(k, v string) error { got[k] = v; return nil })
	if err != nil {
		t.Fatal(err)
	}
	if len(applied) != 7 || applied[0] != "seal_keys" || got["seal_keys"] != "k1:AAAA" || got["vendor_secret_a"] != "value-vendor_secret_a" {
		t.Fatalf("applied %v: %v", applied, got)
	}
	if _, ok := got["redis_url"]; ok {
		t.Fatal("a missing parameter was applied")
	}
	calls := srv.Calls()
	if len(calls) != 2 || len(calls[0].Names) != 10 || len(calls[1].Names) != 4 {
		t.Fatalf("calls %+v", calls)
	}
	for _, c := range calls {
		if c.Target != "GetParameters" || !c.WithDecryption || !slices.Contains(c.Names, "/staging/idp/doc-capture/"+keys[0]) && c.Names[0] != "/staging/idp/doc-capture/"+keys[10] {
			t.Fatalf("call %+v", c)
		}
	}
	// A setter error names the key, never the value.
	_, err = s.Overlay(t.Context(), []string{"seal_keys"}, func(k, v string) error { return errors.New("bad value") })
	if err == nil || strings.Contains(err.Error(), "k1:AAAA") || !strings.Contains(err.Error(), "seal_keys") {
		t.Fatalf("setter error: %v", err)
	}
}
