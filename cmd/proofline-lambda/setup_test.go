package main

import (
	"context"
	"encoding/json"
	"io"
	"strings"
	"testing"

	"github.com/proofline/proofline/aws/ssmparam/ssmtest"
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
