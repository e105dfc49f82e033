package main

import (
	"context"
	"encoding/json"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/proofline/proofline"
	"github.com/proofline/proofline/aws/deploy"
	"github.com/proofline/proofline/aws/ssmparam/ssmtest"
	"github.com/proofline/proofline/config"
	"github.com/proofline/proofline/seal"
)

// TestSetupRefuses: a function that could not do its job fails at init,
// naming the key and never a value.
func TestSetupRefuses(t *testing.T) {
	t.Parallel()
	k, _ := seal.Generate("k1")
	keys := seal.FormatKeys(k)
	// Parameter Store also holds the servers' record keys: a function never reads them.
	ssm := ssmtest.Start(t, map[string]string{"/ok/idp/doc-capture/record_keys": keys})
	base := []string{
		"PROOFLINE_AWS_SSM_ENDPOINT=" + ssm.URL, "PROOFLINE_BASE_URL=https://idp.example.gov",
		"PROOFLINE_DOC_AUTH_ENABLE_PRESIGNED_S3_URLS=true", "PROOFLINE_DOC_AUTH_S3_BUCKET=idp-images",
		"PROOFLINE_AWS_S3_ENDPOINT=http://127.0.0.1:9",
	}
	for _, tc := range []struct {
		env []string
		key string
	}{
		{[]string{}, "environment_name"},
		{[]string{"PROOFLINE_ENVIRONMENT_NAME=ok", "PROOFLINE_RECORD_KEYS=" + keys}, "record_keys"},
		{[]string{"PROOFLINE_ENVIRONMENT_NAME=ok", "PROOFLINE_REDIS_URL=redis://127.0.0.1:1/0"}, "redis_url"},
		{[]string{"PROOFLINE_ENVIRONMENT_NAME=ok", "PROOFLINE_SEAL_KEYS=" + keys}, "record_keys"},
		{[]string{"PROOFLINE_ENVIRONMENT_NAME=ok", "PROOFLINE_DOC_AUTH_ENABLE_PRESIGNED_S3_URLS=false"}, "doc_auth_enable_presigned_s3_urls"},
		{[]string{"PROOFLINE_ENVIRONMENT_NAME=ok", "PROOFLINE_BASE_URL="}, "base_url"},
	} {
		_, err := setup(context.Background(), append(append([]string{}, base...), tc.env...), io.Discard)
		if err == nil || !strings.Contains(err.Error(), tc.key) || strings.Contains(err.Error(), keys) {
			t.Errorf("env %v: %v, want an error naming %s", tc.env, err, tc.key)
		}
	}
	// Complete, without any key; the record keys in Parameter Store are not read.
	var logs strings.Builder
	h, err := setup(context.Background(), append(base, "PROOFLINE_ENVIRONMENT_NAME=ok"), &logs)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(logs.String(), "record_keys") || !strings.Contains(logs.String(), "proofline lambda ready") {
		t.Fatalf("the function read a server-only parameter: %s", logs.String())
	}
	// Not an envelope: rejected without work.
	resp, err := h.Handle(context.Background(), json.RawMessage(`{"hello":"world"}`))
	if err == nil || resp.Outcome != "rejected" || resp.Version != version {
		t.Fatalf("Handle(garbage) = %+v, %v", resp, err)
	}
}

// TestFunctionReadsOnlyItsRolesParameters: a function's IAM role allows only
// its kind's parameters, and Parameter Store refuses a GetParameters whose
// names are not all allowed. So the bootstrap of, say, the address function
// asks for exactly its role's names (never another kind's token or vendor
// credentials, never a server secret), and refuses a job of another kind.
func TestFunctionReadsOnlyItsRolesParameters(t *testing.T) {
	t.Parallel()
	k, _ := seal.Generate("k1")
	all := map[string]string{}
	for _, name := range append(config.SecretKeys(), "address_proof_result_token", "document_proof_result_token", "resolution_proof_result_token") {
		all["/ok/idp/doc-capture/"+name] = "value-of-" + name
	}
	all["/ok/idp/doc-capture/seal_keys"] = seal.FormatKeys(k)
	for _, role := range []deploy.Role{{Kind: proofline.KindAddress}, {Kind: proofline.KindDocument}, {Kind: proofline.KindResolution, Mock: true}} {
		ssm := ssmtest.Start(t, all)
		env := []string{
			"PROOFLINE_AWS_SSM_ENDPOINT=" + ssm.URL, "PROOFLINE_BASE_URL=https://idp.example.gov",
			"PROOFLINE_DOC_AUTH_ENABLE_PRESIGNED_S3_URLS=true", "PROOFLINE_DOC_AUTH_S3_BUCKET=idp-images",
			"PROOFLINE_AWS_S3_ENDPOINT=http://127.0.0.1:9", "PROOFLINE_ENVIRONMENT_NAME=ok",
			"AWS_LAMBDA_FUNCTION_NAME=" + role.FunctionName("ok"),
		}
		h, err := setup(context.Background(), env, io.Discard)
		if err != nil {
			t.Fatalf("%s: %v", role.FunctionName("ok"), err)
		}
		allowed := map[string]bool{}
		for _, p := range role.Parameters() {
			allowed["/ok/idp/doc-capture/"+p] = true
		}
		asked := 0
		for _, c := range ssm.Calls() {
			for _, n := range c.Names {
				asked++
				if !allowed[n] {
					t.Errorf("%s asked for %s, which its role may not read", role.FunctionName("ok"), n)
				}
			}
		}
		// A mock function has no secret to read at start (its token is read
		// per job); a real one reads its vendors' credentials.
		if want := len(role.ConfigSecrets()) > 0; (asked > 0) != want {
			t.Errorf("%s read %d parameters at start, want some: %v", role.FunctionName("ok"), asked, want)
		}
		// A job of another kind is refused before any work.
		for _, other := range proofline.Kinds {
			if other == role.Kind {
				continue
			}
			id := proofline.NewResultID()
			ev, _ := json.Marshal(proofline.Envelope{
				Version: proofline.EnvelopeVersion, Kind: other, ResultID: id,
				CallbackURL: "https://idp.example.gov" + proofline.CallbackPath(other, id),
				Deadline:    time.Now().Add(time.Minute), TraceID: "t", WorkerVersion: "v", Sealed: []byte("x"),
			})
			if resp, err := h.Handle(context.Background(), ev); err == nil || resp.Outcome != "rejected" {
				t.Errorf("%s ran a %s job: %+v, %v", role.FunctionName("ok"), other, resp, err)
			}
		}
	}
}
