package client_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/proofline/proofline"
	"github.com/proofline/proofline/app"
	"github.com/proofline/proofline/client"
	"github.com/proofline/proofline/config"
	"github.com/proofline/proofline/internal/openapitest"
	"github.com/proofline/proofline/internal/redistest"
	"github.com/proofline/proofline/seal"
)

// The client against a real proofline over real HTTP (memory store, and
// Redis where the store matters), through the OpenAPI-validating proxy: every
// request the client sends and every answer must match docs/openapi.yaml.

var redisSrv *redistest.Server

func TestMain(m *testing.M) { os.Exit(redistest.Main(m, &redisSrv)) }

const testKey = "client-test-api-key-0123456789"

// testConfig is an embedded configuration with a known API key.
func testConfig(dataDir string) config.Config {
	cfg := config.Defaults()
	cfg.DataDir = dataDir
	cfg.APIKeys = []string{testKey}
	return cfg
}

// runServer runs proofline for cfg on ln (its own loopback port when nil)
// and returns its origin and a stop function.
func runServer(cfg config.Config, ln net.Listener) (string, func()) {
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			panic(err)
		}
	}
	if err := cfg.Validate(); err != nil {
		panic(err)
	}
	ctx := context.Background()
	a, err := app.New(ctx, cfg, app.Options{ListenAddr: ln.Addr().String()})
	if err != nil {
		panic(err)
	}
	srv := &http.Server{Handler: a.Handler, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return "http://" + ln.Addr().String(), func() {
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		_ = a.Drain(ctx)
		_ = srv.Shutdown(ctx)
		_ = a.Close(ctx)
	}
}

// setup runs a server behind the validating proxy and returns a client of
// it; the traffic is checked against the document when the test ends.
func setup(t *testing.T, redis bool, mut ...func(*config.Config)) *client.Client {
	t.Helper()
	doc := openapitest.Load(t)
	cfg := testConfig(t.TempDir())
	if redis {
		k, _ := seal.Generate("k1")
		cfg.RedisURL = redisSrv.URL()
		cfg.RecordKeys = seal.FormatKeys(k)
		cfg.AttemptHashKey = "aGhoaGhoaGhoaGhoaGhoaGhoaGhoaGhoaGhoaGhoaGg="
		cfg.SessionSecret = "c2Vzc2lvbnNlc3Npb25zZXNzaW9uc2Vzc2lvbnNlc3M="
		cfg.AddressProofResultLambdaToken = "address-token-aaaaaaaaaaaa"
		cfg.DocumentProofResultLambdaToken = "document-token-bbbbbbbbbbb"
		cfg.ResolutionProofResultLambdaToken = "resolution-token-ccccccccc"
	}
	for _, m := range mut {
		m(&cfg)
	}
	proxyLn, proxyURL := openapitest.Listen(t)
	cfg.BaseURL = proxyURL
	origin, stop := runServer(cfg, nil)
	t.Cleanup(stop)
	p := doc.NewProxy(t, origin, proxyLn)
	t.Cleanup(func() {
		if n := p.Check(t); n == 0 {
			t.Error("no request went through the proxy")
		}
	})
	c, err := client.New(p.URL, testKey)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func jane() proofline.Applicant {
	return proofline.Applicant{
		FirstName: "Jane", LastName: "Doe", DOB: "1980-06-15", SSN: "123-45-6789",
		Address1: "1 Main St", City: "Reston", State: "VA", Zipcode: "20190",
	}
}

func ctxFor(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func TestResolutionStartWaitForget(t *testing.T) {
	for _, redis := range []bool{false, true} {
		t.Run(fmt.Sprint("redis=", redis), func(t *testing.T) {
			t.Parallel()
			c := setup(t, redis)
			ctx := ctxFor(t, 30*time.Second)
			job, err := c.StartResolution(ctx, client.ResolutionRequest{Applicant: jane(), ShouldProofStateID: false})
			if err != nil {
				t.Fatal(err)
			}
			out, err := c.Wait(ctx, job.ResultID)
			if err != nil || !out.Done() || !out.Result.Success {
				t.Fatalf("Wait: %+v %v", out, err)
			}
			if len(out.Result.Context.Stages) != 1 || out.Result.Context.Stages[0].Stage != "resolution" {
				t.Errorf("stages %+v", out.Result.Context.Stages)
			}
			if err := c.Forget(ctx, job.ResultID); err != nil {
				t.Fatal(err)
			}
			if _, err := c.Outcome(ctx, job.ResultID); !errors.Is(err, client.ErrNotFound) {
				t.Errorf("Outcome after Forget: %v, want ErrNotFound", err)
			}
			if err := c.Forget(ctx, job.ResultID); !errors.Is(err, client.ErrNotFound) {
				t.Errorf("second Forget: %v, want ErrNotFound", err)
			}
		})
	}
}

func TestAddressVendorFailureNamesPhone(t *testing.T) {
	t.Parallel()
	c := setup(t, false)
	ctx := ctxFor(t, 30*time.Second)
	job, err := c.StartAddress(ctx, client.AddressRequest{Applicant: proofline.Applicant{Phone: "7035555555"}, Attempt: client.Attempt{PersonID: "person-7", ClientIP: "192.0.2.9"}})
	if err != nil {
		t.Fatal(err)
	}
	out, err := c.Wait(ctx, job.ResultID)
	if err != nil || !out.Done() || out.Result.Success || len(out.Result.Errors["phone"]) == 0 {
		t.Fatalf("unverified phone: %+v %v", out, err)
	}
}

// TestDocumentUploadThenBoundResolution: images encrypted and uploaded by
// the client decrypt on the worker (bound to capture and side), the
// document's PII comes back, and a resolution bound to it needs only the SSN.
func TestDocumentUploadThenBoundResolution(t *testing.T) {
	t.Parallel()
	c := setup(t, false)
	ctx := ctxFor(t, 30*time.Second)
	cp, err := c.CreateCapture(ctx)
	if err != nil {
		t.Fatal(err)
	}
	back := []byte("document:\n  first_name: Susan\n  last_name: Smith\n  dob: '1985-03-04'\n  address1: 1 Elm St\n  city: Billings\n  state: MT\n  zipcode: '59010'\n  state_id_number: '123456789'\n  state_id_jurisdiction: MT\n  state_id_type: drivers_license\n")
	req, err := c.UploadDocument(ctx, cp, client.Images{Front: []byte("front"), Back: back, Selfie: []byte("selfie")})
	if err != nil {
		t.Fatal(err)
	}
	if !req.AADBinding || !req.LivenessCheckingEnabled || req.Selfie == nil {
		t.Errorf("request %+v", req)
	}
	if strings.Contains(fmt.Sprintf("%v %+v %#v", req, req, req), fmt.Sprint(req.EncryptionKey.Reveal())) {
		t.Error("the image key prints")
	}
	req.PersonRef = "sp-1:0f0e0d0c"
	job, err := c.StartDocument(ctx, *req)
	if err != nil {
		t.Fatal(err)
	}
	out, err := c.Wait(ctx, job.ResultID)
	if err != nil || !out.Done() || !out.Result.Success || out.Result.PIIFromDoc == nil {
		t.Fatalf("document: %+v %v", out, err)
	}
	if got := out.Result.PIIFromDoc.FirstName.Reveal(); got != "Susan" {
		t.Errorf("pii_from_doc first_name %q", got)
	}
	if s := fmt.Sprint(out.Result.PIIFromDoc.FirstName); s != proofline.Redacted {
		t.Errorf("PII prints as %q", s)
	}
	job, err = c.StartResolution(ctx, client.ResolutionRequest{DocumentResultID: job.ResultID, Applicant: proofline.Applicant{SSN: "123-45-6789"}})
	if err != nil {
		t.Fatal(err)
	}
	if out, err = c.Wait(ctx, job.ResultID); err != nil || !out.Done() || !out.Result.Success || len(out.Result.Context.Stages) != 2 {
		t.Fatalf("bound resolution: %+v %v", out, err)
	}
}

// TestSwappedSidesRefused: a request that names the back's upload as the
// front (and the other way round) is refused before any fetch.
func TestSwappedSidesRefused(t *testing.T) {
	t.Parallel()
	c := setup(t, false)
	ctx := ctxFor(t, 30*time.Second)
	cp, err := c.CreateCapture(ctx)
	if err != nil {
		t.Fatal(err)
	}
	req, err := c.UploadDocument(ctx, cp, client.Images{Front: []byte("front"), Back: []byte("back")})
	if err != nil {
		t.Fatal(err)
	}
	req.Front, req.Back = req.Back, req.Front
	_, err = c.StartDocument(ctx, *req)
	var v *client.ValidationError
	if !errors.As(err, &v) || v.Field("front_image_url") == "" {
		t.Fatalf("swapped URLs: %v", err)
	}
}

func TestValidationErrorNamesEachField(t *testing.T) {
	t.Parallel()
	c := setup(t, false)
	ctx := ctxFor(t, 30*time.Second)
	a := jane()
	// Both valid for the document's patterns; the server says no.
	a.DOB, a.FirstName = "2999-01-01", "Ja\nne"
	_, err := c.StartResolution(ctx, client.ResolutionRequest{Applicant: a})
	var v *client.ValidationError
	if !errors.As(err, &v) || !errors.Is(err, client.ErrInvalid) {
		t.Fatalf("err %v", err)
	}
	if v.Field("dob") == "" || v.Field("first_name") == "" || v.RequestID == "" {
		t.Errorf("fields %+v (request %q)", v.Fields, v.RequestID)
	}
	if strings.Contains(err.Error(), "2999") || strings.Contains(err.Error(), "Ja") {
		t.Errorf("the error echoes a value: %v", err)
	}
}

func TestWrongKeyIsUnauthorized(t *testing.T) {
	t.Parallel()
	good := setup(t, false)
	url := strings.TrimPrefix(good.String(), "proofline client of ")
	c, err := client.New(url, "not-the-key-0123456789")
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.CreateCapture(ctxFor(t, 10*time.Second))
	var e *client.Error
	if !errors.Is(err, client.ErrUnauthorized) || !errors.As(err, &e) || e.Code != "unauthorized" {
		t.Fatalf("wrong key: %v", err)
	}
	if strings.Contains(err.Error(), "not-the-key") || strings.Contains(fmt.Sprintf("%v %+v %#v", c, c, c), "not-the-key") {
		t.Error("the API key prints")
	}
}

// TestLimitsAndUnavailable: one attempt per person, one worker and one
// queued job. The person's second attempt is ErrRateLimited; once the queue
// is full a start is ErrUnavailable with the server's Retry-After.
func TestLimitsAndUnavailable(t *testing.T) {
	t.Parallel()
	c := setup(t, false, func(cfg *config.Config) {
		cfg.AsyncWaitTimeoutSeconds = 4
		cfg.IDVMaxAttempts = 1
		cfg.WorkerConcurrency = 1
		cfg.WorkerQueueSize = 1
	})
	ctx := ctxFor(t, 30*time.Second)
	hang := func(person string) client.ResolutionRequest {
		a := jane()
		a.FirstName = "Hang"
		return client.ResolutionRequest{Applicant: a, Attempt: client.Attempt{PersonID: person}}
	}
	if _, err := c.StartResolution(ctx, hang("person-1")); err != nil {
		t.Fatal(err)
	}
	_, err := c.StartResolution(ctx, hang("person-1"))
	var e *client.Error
	if !errors.Is(err, client.ErrRateLimited) || !errors.As(err, &e) || e.Code != "limit" {
		t.Fatalf("second attempt: %v", err)
	}
	for i := range 5 {
		if _, err = c.StartResolution(ctx, hang(fmt.Sprint("person-busy-", i))); err != nil {
			break
		}
	}
	if !errors.Is(err, client.ErrUnavailable) {
		t.Fatalf("queue full: %v", err)
	}
	if d, ok := client.RetryAfter(err); !ok || d != time.Second {
		t.Errorf("RetryAfter %v %v", d, ok)
	}
}

// TestWaitLongPollsUntilTimedOut: an attempt whose vendor hangs past the
// deadline; Wait polls one long poll after the other (1 s each) and returns
// timed_out. Against Redis too, where a poll that runs out must read pending.
func TestWaitLongPollsUntilTimedOut(t *testing.T) {
	for _, redis := range []bool{false, true} {
		t.Run(fmt.Sprint("redis=", redis), func(t *testing.T) {
			t.Parallel()
			c := setup(t, redis, func(cfg *config.Config) { cfg.AsyncWaitTimeoutSeconds = 3 })
			url := strings.TrimPrefix(c.String(), "proofline client of ")
			c, err := client.New(url, testKey, client.WithLongPoll(time.Second))
			if err != nil {
				t.Fatal(err)
			}
			ctx := ctxFor(t, 30*time.Second)
			a := jane()
			a.FirstName = "Hang"
			job, err := c.StartResolution(ctx, client.ResolutionRequest{Applicant: a})
			if err != nil {
				t.Fatal(err)
			}
			out, err := c.Wait(ctx, job.ResultID)
			if err != nil || out.Status != proofline.StatusTimedOut || out.Result != nil {
				t.Fatalf("Wait: %+v %v", out, err)
			}
		})
	}
}

// TestWaitEndsWithItsContext: Wait returns the pending outcome and the
// context's error when the context ends first.
func TestWaitEndsWithItsContext(t *testing.T) {
	t.Parallel()
	c := setup(t, false, func(cfg *config.Config) { cfg.AsyncWaitTimeoutSeconds = 4 })
	a := jane()
	a.FirstName = "Hang"
	job, err := c.StartResolution(ctxFor(t, 10*time.Second), client.ResolutionRequest{Applicant: a})
	if err != nil {
		t.Fatal(err)
	}
	out, err := c.Wait(ctxFor(t, 1500*time.Millisecond), job.ResultID)
	if !errors.Is(err, context.DeadlineExceeded) || out == nil || out.Status != proofline.StatusPending {
		t.Fatalf("Wait: %+v %v", out, err)
	}
}

// TestUploadHostNeverSeesTheAPIKey: a capture's upload URL may be another
// host (S3); the client sends it the ciphertext and nothing else of ours.
func TestUploadHostNeverSeesTheAPIKey(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var seen []http.Header
	host := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Header.Clone())
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(host.Close)
	c, err := client.New("http://127.0.0.1:1", testKey)
	if err != nil {
		t.Fatal(err)
	}
	up := client.Upload{URL: host.URL + "/bucket", Method: "POST", Headers: map[string]string{}, Fields: map[string]string{"key": "k"}, ObjectURL: host.URL + "/bucket/k"}
	cp := &client.Capture{ID: strings.Repeat("a", 32), Uploads: map[string]client.Upload{"front": up, "back": up}}
	if _, err := c.UploadDocument(ctxFor(t, 10*time.Second), cp, client.Images{Front: []byte("f"), Back: []byte("b")}); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 2 {
		t.Fatalf("%d uploads", len(seen))
	}
	for _, h := range seen {
		if h.Get("Authorization") != "" || strings.Contains(fmt.Sprint(h), testKey) {
			t.Errorf("the upload host saw %v", h)
		}
	}
}

func TestNewRefusesBadBaseURLs(t *testing.T) {
	t.Parallel()
	for _, u := range []string{"", "proofline.internal", "ftp://h", "http://user:pw@h", "http://h/?x=1", "http://h/#f"} {
		if _, err := client.New(u, testKey); err == nil {
			t.Errorf("New(%q) accepted", u)
		}
	}
	if _, err := client.New("https://h/prefix/", ""); err == nil {
		t.Error("New without a key accepted")
	}
	if _, err := client.New("https://h", testKey, client.WithLongPoll(61*time.Second)); err == nil {
		t.Error("a 61 s long poll accepted")
	}
}
