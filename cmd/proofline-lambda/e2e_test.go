package main

// End to end: a proofline server (in-process, as app/app_test.go starts it)
// with S3 images on a real versitygw and Lambda dispatch; the real bootstrap
// binary, built here with -tags lambda.norpc, under the real Lambda Runtime
// Interface Emulator; SSM Parameter Store as a local endpoint speaking its
// JSON protocol.
//
// The server's Lambda client sends its asynchronous Invoke to a recorder of
// the test's own, standing where AWS Lambda would: it checks the request
// (function name, invocation type, qualifier, payload without PII), answers
// 202 like Lambda, then delivers the event with the aws-sdk-go-v2 Lambda
// client pointed at the emulator (which knows only the function "function"
// and runs events synchronously, one at a time).

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/proofline/proofline/app"
	"github.com/proofline/proofline/aws/ssmparam/ssmtest"
	"github.com/proofline/proofline/blobstore"
	"github.com/proofline/proofline/config"
	"github.com/proofline/proofline/internal/lambdatest"
	"github.com/proofline/proofline/internal/s3test"
	"github.com/proofline/proofline/internal/testlog"
	"github.com/proofline/proofline/seal"
)

const (
	gitRef  = "e2e0a1b2c3d4e5f60718293a4b5c6d7e8f901234"
	envName = "e2e"
	// Canary PII that must never appear in a dispatch payload.
	marker = "Zqxjkvurple"
)

var (
	s3srv     *s3test.Server
	bootstrap string
)

func TestMain(m *testing.M) { os.Exit(testMain(m)) }

func testMain(m *testing.M) int {
	// Static test credentials for every AWS client in this process and in
	// the function (the emulator passes them on); nothing reaches AWS.
	for k, v := range map[string]string{
		"AWS_ACCESS_KEY_ID": s3test.AccessKey, "AWS_SECRET_ACCESS_KEY": s3test.SecretKey,
		"AWS_EC2_METADATA_DISABLED": "true", "AWS_CONFIG_FILE": os.DevNull, "AWS_SHARED_CREDENTIALS_FILE": os.DevNull,
	} {
		os.Setenv(k, v)
	}
	os.Unsetenv("AWS_PROFILE")
	os.Unsetenv("AWS_SESSION_TOKEN")
	dir, err := os.MkdirTemp("", "proofline-lambda-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	if bootstrap, err = lambdatest.BuildBootstrap(".", dir, gitRef); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if _, err := lambdatest.Binary(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return s3test.Main(m, &s3srv)
}

// invoke is one asynchronous Invoke the recorder received, and what the
// function answered when the event was delivered.
type invoke struct {
	function, qualifier, invocationType string
	payload                             []byte
	answer                              Response
	functionErr                         string
}

// recorder stands where AWS Lambda would.
type recorder struct {
	*httptest.Server
	rie *lambdatest.Emulator
	cli *lambda.Client

	mu      sync.Mutex
	deliver sync.Mutex // the emulator runs one event at a time
	got     []*invoke
	done    chan *invoke
}

func startRecorder(t *testing.T, rie *lambdatest.Emulator) *recorder {
	r := &recorder{rie: rie, cli: rie.Client(s3srv.Config()), done: make(chan *invoke, 16)}
	r.Server = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.Close)
	return r
}

func (r *recorder) serve(w http.ResponseWriter, req *http.Request) {
	fn, ok := strings.CutPrefix(req.URL.Path, "/2015-03-31/functions/")
	fn, ok2 := strings.CutSuffix(fn, "/invocations")
	if req.Method != http.MethodPost || !ok || !ok2 || !strings.HasPrefix(req.Header.Get("Authorization"), "AWS4-HMAC-SHA256 ") {
		http.Error(w, "unexpected request", http.StatusBadRequest)
		return
	}
	body, _ := io.ReadAll(req.Body)
	inv := &invoke{function: fn, qualifier: req.URL.Query().Get("Qualifier"),
		invocationType: req.Header.Get("X-Amz-Invocation-Type"), payload: body}
	r.mu.Lock()
	r.got = append(r.got, inv)
	r.mu.Unlock()
	w.WriteHeader(http.StatusAccepted) // Lambda queued the event
	go r.run(inv)
}

func (r *recorder) run(inv *invoke) {
	r.deliver.Lock()
	defer r.deliver.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := r.cli.Invoke(ctx, &lambda.InvokeInput{
		FunctionName: aws.String(lambdatest.FunctionName), InvocationType: types.InvocationTypeEvent, Payload: inv.payload,
	})
	if err != nil {
		inv.functionErr = err.Error()
	} else {
		// A handler error is {"errorMessage", "errorType"} (the emulator
		// does not set X-Amz-Function-Error); a success is a Response.
		var fe struct {
			ErrorMessage string `json:"errorMessage"`
		}
		_ = json.Unmarshal(out.Payload, &fe)
		inv.functionErr = fe.ErrorMessage
		if out.FunctionError != nil && inv.functionErr == "" {
			inv.functionErr = *out.FunctionError
		}
		_ = json.Unmarshal(out.Payload, &inv.answer)
	}
	r.done <- inv
}

func (r *recorder) wait(t *testing.T) *invoke {
	t.Helper()
	select {
	case inv := <-r.done:
		return inv
	case <-time.After(90 * time.Second):
		t.Fatalf("no invocation finished; emulator output:\n%s", r.rie.Output())
		return nil
	}
}

type server struct {
	t      *testing.T
	base   string
	apiKey string
	logs   *testlog.Buffer
	http   *http.Client
}

func (s *server) do(method, path string, body any) (int, map[string]any, []byte) {
	s.t.Helper()
	var rd io.Reader
	if body != nil {
		j, _ := json.Marshal(body)
		rd = bytes.NewReader(j)
	}
	req, _ := http.NewRequest(method, s.base+path, rd)
	req.Header.Set("Authorization", "Bearer "+s.apiKey)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := s.http.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var m map[string]any
	_ = json.Unmarshal(raw, &m)
	return resp.StatusCode, m, raw
}

func (s *server) start(kind string, body any) string {
	s.t.Helper()
	st, m, raw := s.do("POST", "/api/v1/proofing/"+kind, body)
	if st != 202 {
		s.t.Fatalf("start %s: %d %s", kind, st, raw)
	}
	return m["result_id"].(string)
}

func (s *server) outcome(id string) map[string]any {
	s.t.Helper()
	end := time.Now().Add(60 * time.Second)
	for time.Now().Before(end) {
		st, m, raw := s.do("GET", "/api/v1/proofing/"+id, nil)
		if st != 200 {
			s.t.Fatalf("poll: %d %s", st, raw)
		}
		if m["status"] != "pending" {
			return m
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.t.Fatalf("%s still pending", id)
	return nil
}

func TestLambdaEndToEnd(t *testing.T) {
	bucket := s3srv.NewBucket(t)
	k, _ := seal.Generate("k1")
	sealKeys := seal.FormatKeys(k)
	tokens := map[string]string{
		"document":   "document-token-0123456789",
		"resolution": "resolution-token-0123456789",
		"address":    "address-token-0123456789",
	}
	// The address token is missing from Parameter Store on purpose. The
	// servers' record keys are there too: the function never reads them (it
	// holds no key; each job's data key is claimed from the server).
	ssm := ssmtest.Start(t, map[string]string{
		"/e2e/idp/doc-capture/record_keys":                   sealKeys,
		"/e2e/idp/doc-capture/document_proof_result_token":   tokens["document"],
		"/e2e/idp/doc-capture/resolution_proof_result_token": tokens["resolution"],
	})

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()

	rie, err := lambdatest.Start(lambdatest.Options{Bootstrap: bootstrap, Env: []string{
		"AWS_ACCESS_KEY_ID=" + s3test.AccessKey, "AWS_SECRET_ACCESS_KEY=" + s3test.SecretKey,
		"AWS_EC2_METADATA_DISABLED=true", "AWS_CONFIG_FILE=" + os.DevNull, "AWS_SHARED_CREDENTIALS_FILE=" + os.DevNull,
		"PROOFLINE_ENVIRONMENT_NAME=" + envName,
		"PROOFLINE_AWS_REGION=" + s3test.Region,
		"PROOFLINE_AWS_SSM_ENDPOINT=" + ssm.URL,
		"PROOFLINE_BASE_URL=" + base,
		"PROOFLINE_DOC_AUTH_ENABLE_PRESIGNED_S3_URLS=true",
		"PROOFLINE_DOC_AUTH_S3_BUCKET=" + bucket,
		"PROOFLINE_AWS_S3_ENDPOINT=" + s3srv.Endpoint(),
		"PROOFLINE_LOG_LEVEL=debug",
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rie.Stop)
	rec := startRecorder(t, rie)

	cfg := config.Defaults()
	for k, v := range map[string]string{
		"base_url": base, "record_keys": sealKeys, "api_keys": "e2e-api-key-0123456789abcdef",
		"document_proof_result_lambda_token":   tokens["document"],
		"resolution_proof_result_lambda_token": tokens["resolution"],
		"address_proof_result_lambda_token":    tokens["address"],
		"doc_auth_enable_presigned_s3_urls":    "true", "doc_auth_s3_bucket": bucket,
		"aws_s3_endpoint": s3srv.Endpoint(), "aws_region": s3test.Region,
		"aws_lambda_proofing_enabled": "true", "aws_lambda_endpoint": rec.URL,
		"environment_name": envName, "worker_git_ref": gitRef, "log_level": "debug",
	} {
		if err := cfg.Set(k, v); err != nil {
			t.Fatal(err)
		}
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	logs := &testlog.Buffer{}
	a, err := app.New(context.Background(), cfg, app.Options{
		ListenAddr: ln.Addr().String(), Version: "server-build",
		Logger: slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: a.Handler, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = hs.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = a.Drain(ctx)
		_ = hs.Shutdown(ctx)
		_ = a.Close(ctx)
	})
	srv := &server{t: t, base: base, apiKey: "e2e-api-key-0123456789abcdef", logs: logs, http: &http.Client{Timeout: 10 * time.Second}}

	checkInvoke := func(inv *invoke, fn string) {
		t.Helper()
		if inv.function != envName+"-idp-functions-"+fn || inv.invocationType != "Event" || inv.qualifier != gitRef[:10] {
			t.Errorf("invoke %s:%s (%s), want %s:%s (Event)", inv.function, inv.qualifier, inv.invocationType, envName+"-idp-functions-"+fn, gitRef[:10])
		}
		for _, pii := range []string{marker, "900-12-3456", "900123456", tokens["document"], tokens["resolution"], s3test.SecretKey} {
			if bytes.Contains(inv.payload, []byte(pii)) {
				t.Errorf("payload carries %q in clear", pii)
			}
		}
	}

	t.Run("document", func(t *testing.T) {
		srv.t = t
		st, capture, raw := srv.do("POST", "/api/v1/document-capture", nil)
		if st != 201 {
			t.Fatalf("capture: %d %s", st, raw)
		}
		capID := capture["capture_id"].(string)
		key := make([]byte, 32)
		_, _ = rand.Read(key)
		req := map[string]any{"capture_id": capID, "encryption_key": base64.StdEncoding.EncodeToString(key), "liveness_checking_enabled": false}
		images := map[string][]byte{
			"front": []byte("front image bytes"),
			"back": []byte("document:\n  first_name: " + strings.ToUpper(marker) + "\n  last_name: DOE\n  state: VA\n  dob: '1980-06-15'\n" +
				"  state_id_number: D1234567\n  state_id_jurisdiction: VA\n  state_id_type: drivers_license\n"),
		}
		for side, img := range images {
			raw, _ := json.Marshal(capture["uploads"].(map[string]any)[side])
			var up blobstore.Upload
			if err := json.Unmarshal(raw, &up); err != nil {
				t.Fatal(err)
			}
			if up.Method != http.MethodPost || up.URL != s3srv.Endpoint()+"/"+bucket || !strings.HasPrefix(up.ObjectURL, s3srv.Endpoint()+"/"+bucket+"/doc-capture/"+capID+"/") {
				t.Fatalf("upload %s %s (object %s) is not a POST policy of the bucket", up.Method, up.URL, up.ObjectURL)
			}
			iv := make([]byte, 12)
			_, _ = rand.Read(iv)
			block, _ := aes.NewCipher(key)
			gcm, _ := cipher.NewGCM(block)
			post, err := blobstore.NewUploadRequest(context.Background(), up, gcm.Seal(nil, iv, img, nil))
			if err != nil {
				t.Fatal(err)
			}
			resp, err := http.DefaultClient.Do(post)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode/100 != 2 {
				t.Fatalf("upload %s to S3: %d", side, resp.StatusCode)
			}
			req[side+"_image_url"] = up.ObjectURL
			req[side+"_image_iv"] = base64.StdEncoding.EncodeToString(iv)
		}
		id := srv.start("document", req)
		inv := rec.wait(t)
		checkInvoke(inv, "ProofDocumentMockFunction")
		if inv.functionErr != "" || inv.answer.Outcome != "delivered" || inv.answer.Version != gitRef || inv.answer.ResultID != id {
			t.Fatalf("function answered %+v %s; output:\n%s", inv.answer, inv.functionErr, rie.Output())
		}
		out := srv.outcome(id)
		res, _ := out["result"].(map[string]any)
		pii, _ := res["pii_from_doc"].(map[string]any)
		if out["status"] != "done" || res["success"] != true || pii["first_name"] != strings.ToUpper(marker) {
			t.Fatalf("outcome %v", out)
		}
		// The worker deleted the images from the bucket when the job ended.
		for side := range images {
			if _, err := os.Stat(filepath.Join(s3srv.Dir(), bucket, "doc-capture", capID, side)); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("%s image still in the bucket: %v", side, err)
			}
		}
	})

	t.Run("resolution", func(t *testing.T) {
		srv.t = t
		id := srv.start("resolution", map[string]any{"applicant": map[string]any{
			"first_name": marker, "last_name": "Doe", "dob": "1980-06-15", "ssn": "900-12-3456",
			"address1": "1 Main St", "city": "Reston", "state": "VA", "zipcode": "20190",
		}})
		inv := rec.wait(t)
		checkInvoke(inv, "ProofResolutionMockFunction")
		if inv.answer.Outcome != "delivered" {
			t.Fatalf("function answered %+v %s", inv.answer, inv.functionErr)
		}
		if out := srv.outcome(id); out["status"] != "done" || out["result"].(map[string]any)["success"] != true {
			t.Fatalf("outcome %v", out)
		}
	})

	t.Run("missing token fails before vendors", func(t *testing.T) {
		srv.t = t
		id := srv.start("address", map[string]any{"applicant": map[string]any{"first_name": "Jane", "last_name": "Doe", "phone": "7035550100"}})
		inv := rec.wait(t)
		checkInvoke(inv, "ProofAddressMockFunction")
		if !strings.Contains(inv.functionErr, "job "+id+" rejected") || !strings.Contains(inv.functionErr, "address_proof_result_token") {
			t.Fatalf("function answered %+v %q, want rejected for the missing token", inv.answer, inv.functionErr)
		}
		if st, m, _ := srv.do("GET", "/api/v1/proofing/"+id, nil); st != 200 || m["status"] != "pending" {
			t.Fatalf("status %d %v, want still pending", st, m)
		}
		out := rie.Output()
		last := out[strings.LastIndex(out, "START RequestId"):]
		if !strings.Contains(last, "job rejected: no callback token") || strings.Contains(last, "proofing job done") || strings.Contains(last, `"stage"`) {
			t.Errorf("the job was proofed without a token:\n%s", last)
		}
	})

	// The callbacks reported the pinned build: no version mismatch.
	if strings.Contains(logs.String(), "callback from another worker build") {
		t.Error("the server saw a callback from another worker build")
	}
	// Parameter Store was read with decryption: the secrets overlay once
	// at init, then tokens per kind (cached).
	var overlay, tokenReads int
	for _, c := range ssm.Calls() {
		if !c.WithDecryption {
			t.Errorf("SSM call without decryption: %+v", c)
		}
		switch c.Target {
		case "GetParameters":
			overlay++
		case "GetParameter":
			tokenReads++
			if !strings.HasPrefix(c.Names[0], "/e2e/idp/doc-capture/") || !strings.HasSuffix(c.Names[0], "_proof_result_token") {
				t.Errorf("token read %v", c.Names)
			}
		}
	}
	if overlay == 0 || tokenReads != 3 {
		t.Errorf("SSM: %d overlay calls, %d token reads (want >0, 3)", overlay, tokenReads)
	}
	// Nothing personal in the function's logs either.
	if out := rie.Output(); strings.Contains(out, marker) || strings.Contains(out, strings.ToUpper(marker)) || strings.Contains(out, "900-12-3456") {
		t.Errorf("function output carries PII:\n%s", out)
	}
}
