package lambdadispatch_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/proofline/proofline"
	"github.com/proofline/proofline/dispatch"
	"github.com/proofline/proofline/dispatch/lambdadispatch"
)

var testAWS = aws.Config{
	Region:      "us-west-2",
	Credentials: credentials.NewStaticCredentialsProvider("AKIDTEST", "testsecret", ""),
}

// invocation is one request the fake Lambda API received.
type invocation struct {
	Method, Path, Qualifier, InvocationType, Auth string
	Body                                          []byte
}

type fakeLambda struct {
	*httptest.Server
	mu     sync.Mutex
	got    []invocation
	status int
	errTyp string
}

func startFake(t *testing.T, status int, errType string) *fakeLambda {
	f := &fakeLambda{status: status, errTyp: errType}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		f.got = append(f.got, invocation{
			Method: r.Method, Path: r.URL.EscapedPath(), Qualifier: r.URL.Query().Get("Qualifier"),
			InvocationType: r.Header.Get("X-Amz-Invocation-Type"), Auth: r.Header.Get("Authorization"), Body: body,
		})
		f.mu.Unlock()
		if f.errTyp != "" {
			w.Header().Set("X-Amzn-Errortype", f.errTyp)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(f.status)
			_, _ = w.Write([]byte(`{"Type":"User","message":"no"}`))
			return
		}
		w.WriteHeader(f.status)
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeLambda) calls() []invocation {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]invocation(nil), f.got...)
}

const marker = "Zqxjkvurple" // canary PII

func sealed(t *testing.T, kind proofline.Kind) (*proofline.Envelope, []byte) {
	t.Helper()
	id := proofline.NewResultID()
	p := &proofline.Payload{}
	app := proofline.Applicant{FirstName: marker, LastName: marker, SSN: "900-12-3456", Phone: "7035550123"}
	switch kind {
	case proofline.KindResolution:
		p.Resolution = &proofline.ResolutionArgs{Applicant: app}
	case proofline.KindAddress:
		p.Address = &proofline.AddressArgs{Applicant: app}
	case proofline.KindDocument:
		p.Document = &proofline.DocumentArgs{EncryptionKey: bytes.Repeat([]byte{9}, 32),
			Front: proofline.ImageRef{Key: "0123456789abcdef0123456789abcdef/front", IV: make([]byte, 12)},
			Back:  proofline.ImageRef{Key: "0123456789abcdef0123456789abcdef/back", IV: make([]byte, 12)}}
	}
	env, keys, err := proofline.SealEnvelope(proofline.Envelope{
		Kind: kind, ResultID: id, CallbackURL: "https://idp.example" + proofline.CallbackPath(kind, id),
		Deadline: time.Now().Add(time.Minute), WorkerVersion: "0123abcdef4567",
	}, p)
	if err != nil {
		t.Fatal(err)
	}
	return env, keys.DataKey
}

func newDriver(t *testing.T, endpoint string, mock bool) *lambdadispatch.Driver {
	t.Helper()
	d, err := lambdadispatch.New(lambdadispatch.Options{
		Client: lambdadispatch.NewClient(testAWS, endpoint), Environment: "staging",
		GitRef: "0123abcdef4567890123abcdef4567890123abcd", Mock: mock,
	})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestInvokeRequest checks the exact request per kind: an asynchronous
// invoke of the kind's function at the pinned alias, signed, carrying the
// sealed envelope and nothing else.
func TestInvokeRequest(t *testing.T) {
	t.Parallel()
	for _, mock := range []bool{false, true} {
		f := startFake(t, http.StatusAccepted, "")
		d := newDriver(t, f.URL, mock)
		want := map[proofline.Kind]string{
			proofline.KindDocument:   "staging-idp-functions-ProofDocumentFunction",
			proofline.KindResolution: "staging-idp-functions-ProofResolutionFunction",
			proofline.KindAddress:    "staging-idp-functions-ProofAddressFunction",
		}
		for i, kind := range proofline.Kinds {
			env, ring := sealed(t, kind)
			if err := dispatch.New(d, dispatch.Options{}).Dispatch(t.Context(), env); err != nil {
				t.Fatalf("Dispatch: %v", err)
			}
			got := f.calls()[i]
			fn := want[kind]
			if mock {
				fn = strings.TrimSuffix(fn, "Function") + "MockFunction"
			}
			if got.Method != "POST" || got.Path != "/2015-03-31/functions/"+fn+"/invocations" {
				t.Errorf("%s: %s %s, want function %s", kind, got.Method, got.Path, fn)
			}
			if got.InvocationType != "Event" || got.Qualifier != "0123abcdef" {
				t.Errorf("%s: invocation type %q qualifier %q", kind, got.InvocationType, got.Qualifier)
			}
			if !strings.HasPrefix(got.Auth, "AWS4-HMAC-SHA256 Credential=AKIDTEST/") || !strings.Contains(got.Auth, "/lambda/aws4_request") {
				t.Errorf("%s: not SigV4-signed for lambda: %q", kind, got.Auth)
			}
			// Nothing personal or secret in clear.
			for _, pii := range []string{marker, "900-12-3456", "900123456", "7035550123", "testsecret"} {
				if bytes.Contains(got.Body, []byte(pii)) {
					t.Errorf("%s: payload carries %q in clear", kind, pii)
				}
			}
			// The payload is exactly the envelope, which still opens.
			var fields map[string]json.RawMessage
			if err := json.Unmarshal(got.Body, &fields); err != nil {
				t.Fatal(err)
			}
			for k := range fields {
				switch k {
				case "v", "kind", "result_id", "callback_url", "deadline", "trace_id", "worker_version", "claim_token", "sealed":
				default:
					t.Errorf("%s: unexpected payload field %q", kind, k)
				}
			}
			back, err := proofline.ParseEnvelope(got.Body)
			if err != nil {
				t.Fatal(err)
			}
			p, err := back.Open(ring)
			if err != nil || back.ResultID != env.ResultID || p == nil {
				t.Fatalf("%s: payload does not open as the same job: %v", kind, err)
			}
		}
	}
}

func TestNames(t *testing.T) {
	t.Parallel()
	if got := lambdadispatch.FunctionName("prod", proofline.KindAddress, true); got != "prod-idp-functions-ProofAddressMockFunction" {
		t.Errorf("FunctionName = %q", got)
	}
	if got := lambdadispatch.Qualifier("a1b2c3d4e5f60718293a"); got != "a1b2c3d4e5" {
		t.Errorf("Qualifier = %q", got)
	}
	if _, err := lambdadispatch.New(lambdadispatch.Options{Client: lambdadispatch.NewClient(testAWS, "http://127.0.0.1:1"), Environment: "x", GitRef: "short"}); err == nil {
		t.Error("short git ref accepted")
	}
}

// TestErrors: throttling means "busy, try again"; other failures are
// unavailable; neither leaks the payload; a closed driver refuses.
func TestErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		status  int
		errType string
		full    bool
	}{
		{429, "TooManyRequestsException", true},
		{404, "ResourceNotFoundException", false},
		{500, "ServiceException", false},
	} {
		f := startFake(t, tc.status, tc.errType)
		d := newDriver(t, f.URL, false)
		env, _ := sealed(t, proofline.KindResolution)
		err := dispatch.New(d, dispatch.Options{}).Dispatch(t.Context(), env)
		if proofline.ErrorCode(err) != proofline.EUNAVAILABLE || errors.Is(err, dispatch.ErrFull) != tc.full {
			t.Errorf("%d %s: %v", tc.status, tc.errType, err)
		}
		if err != nil && strings.Contains(err.Error(), marker) {
			t.Errorf("error carries PII: %v", err)
		}
	}
	f := startFake(t, 202, "")
	d := newDriver(t, f.URL, false)
	if err := d.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	env, _ := sealed(t, proofline.KindAddress)
	if err := d.Send(t.Context(), env); !errors.Is(err, dispatch.ErrClosed) {
		t.Fatalf("Send after Close: %v", err)
	}
	if len(f.calls()) != 0 {
		t.Fatal("a closed driver invoked")
	}
}
