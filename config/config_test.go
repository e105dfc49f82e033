package config_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/proofline/proofline/config"
)

func write(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "proofline.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDefaults(t *testing.T) {
	t.Parallel()
	c, err := config.Load("", nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.AsyncWaitTimeoutSeconds != 60 || c.PollRateForVerifyInSeconds != 3 || c.DocAuthMaxImageBytes != 10<<20 || c.RedisURL != "" {
		t.Fatalf("defaults: %+v", c)
	}
}

func TestYAMLThenEnvironment(t *testing.T) {
	t.Parallel()
	p := write(t, `
async_wait_timeout_seconds: 30
api_keys: [key-one-0123456789abcdef, key-two-0123456789abcdef]
redis_url: redis://127.0.0.1:6379/0
record_keys: k1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=
attempt_hash_key: AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=
session_secret: AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=
address_proof_result_lambda_token: aaaaaaaaaaaaaaaaaaaa
document_proof_result_lambda_token: bbbbbbbbbbbbbbbbbbbb
resolution_proof_result_lambda_token: cccccccccccccccccccc
`)
	c, err := config.Load(p, []string{"PROOFLINE_ASYNC_WAIT_TIMEOUT_SECONDS=45", "PROOFLINE_API_KEYS=key-env-0123456789abcdef", "UNRELATED=1"})
	if err != nil {
		t.Fatal(err)
	}
	if c.AsyncWaitTimeoutSeconds != 45 {
		t.Errorf("env did not override the file: %d", c.AsyncWaitTimeoutSeconds)
	}
	if len(c.APIKeys) != 1 || c.APIKeys[0] != "key-env-0123456789abcdef" {
		t.Errorf("api_keys from env: %v", c.APIKeys)
	}
	if c.RedisURL != "redis://127.0.0.1:6379/0" || c.AddressProofResultLambdaToken != "aaaaaaaaaaaaaaaaaaaa" {
		t.Errorf("file values lost: %+v", c)
	}
}

func TestEveryKeyHasAnEnvironmentVariable(t *testing.T) {
	t.Parallel()
	for _, k := range config.Keys() {
		if k == "" || strings.ToLower(k) != k {
			t.Errorf("bad key %q", k)
		}
		if config.EnvName(k) != "PROOFLINE_"+strings.ToUpper(k) {
			t.Errorf("env name of %s", k)
		}
	}
}

func TestBadConfigNamesTheKeyNotTheValue(t *testing.T) {
	t.Parallel()
	const secret = "hunter2-very-secret"
	cases := []struct {
		yaml string
		env  []string
		key  string
	}{
		{yaml: "no_such_key: 1", key: "no_such_key"},
		{yaml: "async_wait_timeout_seconds: soon", key: "async_wait_timeout_seconds"},
		{yaml: "async_wait_timeout_seconds: 0", key: "async_wait_timeout_seconds"},
		{env: []string{"PROOFLINE_POLL_RATE_FOR_VERIFY_IN_SECONDS=x"}, key: "poll_rate_for_verify_in_seconds"},
		{env: []string{"PROOFLINE_AWS_LAMBDA_PROOFING_ENABLED=maybe"}, key: "aws_lambda_proofing_enabled"},
		{env: []string{"PROOFLINE_REDIS_URL=http://" + secret + "@x"}, key: "redis_url"},
		{env: []string{"PROOFLINE_REDIS_URL=redis://:" + secret + "@127.0.0.1:1/0"}, key: "record_keys"},
		{env: []string{"PROOFLINE_RECORD_KEYS=k1:" + secret}, key: "record_keys"},
		{env: []string{"PROOFLINE_SEAL_KEYS=k1:" + secret}, key: "record_keys"}, // the old name says what it became
		{yaml: "seal_keys: k1:" + secret, key: "record_keys"},
		{env: []string{"PROOFLINE_REDIS_URL=redis://127.0.0.1:1/0", "PROOFLINE_RECORD_KEYS=k1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}, key: "attempt_hash_key"},
		{env: []string{"PROOFLINE_API_KEYS=short"}, key: "api_keys"},
		{env: []string{"PROOFLINE_ADDRESS_PROOF_RESULT_LAMBDA_TOKEN=" + secret, "PROOFLINE_DOCUMENT_PROOF_RESULT_LAMBDA_TOKEN=" + secret}, key: "document_proof_result_lambda_token"},
		{env: []string{"PROOFLINE_BASE_URL=https://x.example/path?" + secret}, key: "base_url"},
		{env: []string{"PROOFLINE_LOG_LEVEL=loud"}, key: "log_level"},
		{env: []string{"PROOFLINE_UPLOAD_SIGNING_KEY=" + secret}, key: "upload_signing_key"},
	}
	for _, c := range cases {
		p := ""
		if c.yaml != "" {
			p = write(t, c.yaml)
		}
		_, err := config.Load(p, c.env)
		if err == nil {
			t.Errorf("%v %v: accepted", c.yaml, c.env)
			continue
		}
		msg := err.Error()
		if !strings.Contains(msg, c.key) || strings.Contains(msg, "\n") {
			t.Errorf("error %q does not name %s on one line", msg, c.key)
		}
		if strings.Contains(msg, secret) {
			t.Errorf("error echoes a value: %q", msg)
		}
	}
}

func TestMissingFile(t *testing.T) {
	t.Parallel()
	if _, err := config.Load(filepath.Join(t.TempDir(), "nope.yaml"), nil); err == nil || !strings.Contains(err.Error(), "--config") {
		t.Fatalf("got %v", err)
	}
}

// A worker configuration holding any server-only key is refused, naming it.
func TestWorkerConfigHoldsNoServerKey(t *testing.T) {
	t.Parallel()
	for _, k := range config.ServerOnlyKeys {
		c := config.Defaults()
		v := "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
		switch k {
		case "record_keys":
			v = "k1:" + v
		case "redis_url":
			v = "redis://127.0.0.1:1/0"
		case "api_clients":
			v = `[{"name":"idp","api_keys":["AAAAAAAAAAAAAAAAAAAA"]}]`
		}
		if err := c.Set(k, v); err != nil {
			t.Fatal(err)
		}
		if err := c.CheckWorker(); err == nil || !strings.Contains(err.Error(), k) || strings.Contains(err.Error(), v) {
			t.Errorf("%s: %v", k, err)
		}
	}
	c := config.Defaults()
	_ = c.Set("queue_redis_url", "redis://worker:pw@127.0.0.1:1/0")
	_ = c.Set("address_proof_result_lambda_token", "aaaaaaaaaaaaaaaaaaaa")
	if err := c.CheckWorker(); err != nil {
		t.Errorf("worker config refused: %v", err)
	}
	for _, k := range config.WorkerSecretKeys() {
		for _, s := range config.ServerOnlyKeys {
			if k == s {
				t.Errorf("worker may read %s", k)
			}
		}
	}
}
