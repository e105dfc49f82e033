package app_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/proofline/proofline/app"
	"github.com/proofline/proofline/config"
	"github.com/proofline/proofline/seal"
)

// TestAWSWiring: with doc_auth_enable_presigned_s3_urls and
// aws_lambda_proofing_enabled, the server issues presigned S3 upload URLs
// for its bucket and prefix and dispatches jobs with an asynchronous Invoke
// of the pinned Mock function. Presigning contacts nothing, and the Lambda
// API is an endpoint of the test's own (cmd/proofline-lambda runs the whole
// flow against versitygw and the Lambda emulator).
func TestAWSWiring(t *testing.T) {
	// Static test credentials; not parallel, so the environment is ours.
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDPROOFLINETEST")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "proofline-test-secret")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_CONFIG_FILE", "/dev/null")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")

	type call struct{ path, qualifier, invocationType string }
	var mu sync.Mutex
	var calls []call
	lambdaAPI := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		mu.Lock()
		calls = append(calls, call{r.URL.Path, r.URL.Query().Get("Qualifier"), r.Header.Get("X-Amz-Invocation-Type")})
		mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
	}))
	defer lambdaAPI.Close()

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	k, _ := seal.Generate("k1")
	cfg := config.Defaults()
	for key, v := range map[string]string{
		"base_url": "http://" + ln.Addr().String(), "record_keys": seal.FormatKeys(k),
		"api_keys":                             "aws-api-key-0123456789abcdef",
		"address_proof_result_lambda_token":    "address-token-aaaaaaaaaaaa",
		"document_proof_result_lambda_token":   "document-token-bbbbbbbbbbb",
		"resolution_proof_result_lambda_token": "resolution-token-ccccccccc",
		"doc_auth_enable_presigned_s3_urls":    "true", "doc_auth_s3_bucket": "idp-images", "doc_auth_s3_prefix": "captures/",
		"aws_s3_endpoint":             "http://127.0.0.1:9", // never contacted: presigning is local
		"aws_lambda_proofing_enabled": "true", "aws_lambda_endpoint": lambdaAPI.URL,
		"environment_name": "int", "worker_git_ref": "0a1b2c3d4e5f60718293",
	} {
		if err := cfg.Set(key, v); err != nil {
			t.Fatal(err)
		}
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	a, err := app.New(context.Background(), cfg, app.Options{ListenAddr: ln.Addr().String(), Version: "srv"})
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: a.Handler, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = hs.Serve(ln) }()
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = hs.Shutdown(ctx)
		_ = a.Close(ctx)
	}()
	e := &env{t: t, base: a.BaseURL, apiKey: "aws-api-key-0123456789abcdef", http: &http.Client{Timeout: 10 * time.Second}}

	r := e.do("POST", "/api/v1/document-capture", nil)
	if r.status != 201 {
		t.Fatalf("capture: %d %s", r.status, r.raw)
	}
	front := r.body["uploads"].(map[string]any)["front"].(map[string]any)
	u, err := url.Parse(front["object_url"].(string))
	if err != nil || u.Host != "127.0.0.1:9" || u.Path != "/idp-images/captures/"+r.body["capture_id"].(string)+"/front" || u.RawQuery != "" {
		t.Fatalf("object URL %v", front["object_url"])
	}
	fields, _ := front["fields"].(map[string]any)
	if front["method"] != "POST" || front["url"] != "http://127.0.0.1:9/idp-images" || fields["Content-Type"] != "application/octet-stream" ||
		fields["key"] != "captures/"+r.body["capture_id"].(string)+"/front" || fields["policy"] == nil || fields["x-amz-signature"] == nil {
		t.Fatalf("upload %v", front)
	}

	e.start("resolution", map[string]any{"applicant": applicant()})
	mu.Lock()
	defer mu.Unlock()
	if len(calls) != 1 {
		t.Fatalf("%d invokes, want 1", len(calls))
	}
	c := calls[0]
	if c.path != "/2015-03-31/functions/int-idp-functions-ProofResolutionMockFunction/invocations" || c.qualifier != "0a1b2c3d4e" || c.invocationType != "Event" {
		t.Fatalf("invoke %+v", c)
	}
}

// TestAWSConfigValidation: the AWS modes refuse incomplete settings and name the key.
func TestAWSConfigValidation(t *testing.T) {
	k, _ := seal.Generate("k1")
	full := map[string]string{
		"base_url": "https://idp.example.gov", "record_keys": seal.FormatKeys(k),
		"address_proof_result_lambda_token":    "address-token-aaaaaaaaaaaa",
		"document_proof_result_lambda_token":   "document-token-bbbbbbbbbbb",
		"resolution_proof_result_lambda_token": "resolution-token-ccccccccc",
		"doc_auth_enable_presigned_s3_urls":    "true", "doc_auth_s3_bucket": "idp-images",
		"aws_lambda_proofing_enabled": "true", "environment_name": "prod", "worker_git_ref": "0a1b2c3d4e5f60718293",
	}
	build := func(drop string, over map[string]string) error {
		cfg := config.Defaults()
		for key, v := range full {
			if key != drop {
				_ = cfg.Set(key, v)
			}
		}
		for key, v := range over {
			if err := cfg.Set(key, v); err != nil {
				return err
			}
		}
		return cfg.Validate()
	}
	if err := build("", nil); err != nil {
		t.Fatalf("complete AWS config refused: %v", err)
	}
	for _, tc := range []struct {
		drop string
		over map[string]string
		key  string
	}{
		{drop: "doc_auth_s3_bucket", key: "doc_auth_s3_bucket"},
		{over: map[string]string{"doc_auth_s3_bucket": "Bad_Bucket"}, key: "doc_auth_s3_bucket"},
		{over: map[string]string{"doc_auth_s3_prefix": "../x/"}, key: "doc_auth_s3_prefix"},
		{over: map[string]string{"doc_auth_s3_prefix": "no-slash"}, key: "doc_auth_s3_prefix"},
		{over: map[string]string{"aws_s3_endpoint": "http://u:p@s3.local"}, key: "aws_s3_endpoint"},
		{over: map[string]string{"aws_lambda_endpoint": "ftp://x"}, key: "aws_lambda_endpoint"},
		{over: map[string]string{"aws_region": "US WEST"}, key: "aws_region"},
		{over: map[string]string{"ssm_cache_seconds": "0"}, key: "ssm_cache_seconds"},
		{drop: "environment_name", key: "environment_name"},
		{over: map[string]string{"environment_name": "a/b"}, key: "environment_name"},
		{drop: "worker_git_ref", key: "worker_git_ref"},
		{over: map[string]string{"worker_git_ref": "1234567890abc"}, key: "worker_git_ref"},
		{drop: "base_url", key: "base_url"},
		{drop: "document_proof_result_lambda_token", key: "document_proof_result_lambda_token"},
	} {
		err := build(tc.drop, tc.over)
		var ce *config.Error
		if err == nil || !strings.Contains(err.Error(), tc.key) {
			t.Errorf("drop %q over %v: %v, want an error naming %s", tc.drop, tc.over, err, tc.key)
		} else if ok := asConfigError(err, &ce); !ok || ce.Key != tc.key {
			t.Errorf("drop %q over %v: %v, want key %s", tc.drop, tc.over, err, tc.key)
		}
	}
}

func asConfigError(err error, target **config.Error) bool {
	ce, ok := err.(*config.Error)
	if ok {
		*target = ce
	}
	return ok
}
