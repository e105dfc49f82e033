package config_test

import (
	"bytes"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/proofline/proofline/config"
)

// Every key has a meaning, read from the doc comment of its field: a field
// added without one fails here, so `--help` never lists a key unexplained.
func TestEveryKeyIsDocumented(t *testing.T) {
	t.Parallel()
	docs := config.Docs()
	if len(docs) != len(config.Keys()) {
		t.Fatalf("%d docs for %d keys", len(docs), len(config.Keys()))
	}
	goName := regexp.MustCompile(`\b[A-Z][A-Za-z0-9]+\b`)
	for _, d := range docs {
		if len(strings.Fields(d.Doc)) < 3 {
			t.Errorf("%s: no doc comment above its field in config/*.go (%q)", d.Key, d.Doc)
		}
		// Go field names are shown as the keys a user types.
		for _, m := range goName.FindAllString(d.Doc, -1) {
			if isField(m) {
				t.Errorf("%s: help shows the Go field name %s", d.Key, m)
			}
		}
		if d.Default == "" || d.Env != config.EnvName(d.Key) || d.Type == "" {
			t.Errorf("%s: incomplete %+v", d.Key, d)
		}
	}
}

// isField reports whether name is the Go name of a key's field
// (AsyncWaitTimeoutSeconds for async_wait_timeout_seconds).
func isField(name string) bool {
	for _, k := range config.Keys() {
		if strings.ReplaceAll(k, "_", "") == strings.ToLower(name) {
			return true
		}
	}
	return false
}

func TestHelpListsEveryKeyWithItsDefault(t *testing.T) {
	t.Parallel()
	var b bytes.Buffer
	if err := config.WriteHelp(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, d := range config.Docs() {
		block := regexp.MustCompile(`(?m)^  ` + regexp.QuoteMeta(d.Key) + `  \(` + d.Env + `\)\n      default: ` + regexp.QuoteMeta(d.Default) + `  \[`)
		if !block.MatchString(out) {
			t.Errorf("help has no entry for %s with default %q", d.Key, d.Default)
		}
	}
	for key, def := range map[string]string{
		"async_wait_timeout_seconds": "60", "poll_rate_for_verify_in_seconds": "3", "log_level": "info",
		"web_push_enabled": "true", "redis_url": "(empty)", "queue_weights": "document:3,resolution:2,address:1",
		"lexisnexis_instant_verify_timeout": "1",
	} {
		if !strings.Contains(out, "  "+key+"  ("+config.EnvName(key)+")\n      default: "+def+"  [") {
			t.Errorf("%s: default %s not shown", key, def)
		}
	}
	if !strings.Contains(out, "how long a person waits for an outcome") {
		t.Error("the meaning of async_wait_timeout_seconds is missing")
	}
}

func TestUnknownEnvironmentVariableSuggestsTheClosestKey(t *testing.T) {
	t.Parallel()
	cases := []struct{ env, want string }{
		{"PROOFLINE_ASYNC_WAIT_TIMEOUT_SECOND=30", "did you mean PROOFLINE_ASYNC_WAIT_TIMEOUT_SECONDS?"},
		{"PROOFLINE_REDIS_ULR=redis://127.0.0.1:1/0", "did you mean PROOFLINE_REDIS_URL?"},
		{"PROOFLINE_ASYNC_WAIT=30", "did you mean PROOFLINE_ASYNC_WAIT_TIMEOUT_SECONDS?"},
		{"PROOFLINE_ZZZZZZZZZZZZZZZZZZZZZZZZZZZ=1", "--help"},
	}
	for _, c := range cases {
		name, _, _ := strings.Cut(c.env, "=")
		_, err := config.Load("", []string{"HOME=/root", c.env})
		if err == nil {
			t.Errorf("%s: accepted", c.env)
			continue
		}
		msg := err.Error()
		if !strings.Contains(msg, name+": unknown environment variable") || !strings.Contains(msg, c.want) {
			t.Errorf("%s: %q, want it named with %q", c.env, msg, c.want)
		}
		if strings.Contains(msg, "redis://") {
			t.Errorf("the value leaked: %q", msg)
		}
	}
	// The test and build tooling's own variables are not configuration.
	env := []string{}
	for _, k := range config.ToolEnv() {
		env = append(env, k+"=/tmp/x")
	}
	if _, err := config.Load("", env); err != nil {
		t.Errorf("tool variables refused: %v", err)
	}
}

func TestUnknownFileKeySuggestsTheClosestKey(t *testing.T) {
	t.Parallel()
	p := write(t, "async_wait_timout_seconds: 30\n")
	_, err := config.Load(p, nil)
	if err == nil || !strings.Contains(err.Error(), "async_wait_timout_seconds: unknown key; did you mean async_wait_timeout_seconds?") ||
		!strings.Contains(err.Error(), p) {
		t.Fatalf("got %v", err)
	}
}

func TestMissingFileNamesThePathAndTheReason(t *testing.T) {
	t.Parallel()
	p := filepath.Join(t.TempDir(), "nope.yaml")
	_, err := config.Load(p, nil)
	if err == nil || err.Error() != "config: --config: cannot read "+p+": no such file or directory" {
		t.Fatalf("got %v", err)
	}
	dir := t.TempDir()
	_, err = config.Load(dir, nil)
	if err == nil || !strings.Contains(err.Error(), "cannot read "+dir+": ") || !strings.Contains(err.Error(), "directory") {
		t.Fatalf("a directory: got %v", err)
	}
}

// Range and type errors say where the bad value came from.
func TestValueErrorsNameTheirSource(t *testing.T) {
	t.Parallel()
	p := write(t, "async_wait_timeout_seconds: 0\n")
	q := write(t, "poll_rate_for_verify_in_seconds: soon\n")
	cases := []struct {
		path string
		env  []string
		want string
	}{
		{p, nil, "config: async_wait_timeout_seconds: must be from 1 to 3600 (from " + p + ")"},
		{p, []string{"PROOFLINE_ASYNC_WAIT_TIMEOUT_SECONDS=99999"}, "config: async_wait_timeout_seconds: must be from 1 to 3600 (from PROOFLINE_ASYNC_WAIT_TIMEOUT_SECONDS)"},
		{"", []string{"PROOFLINE_ASYNC_WAIT_TIMEOUT_SECONDS=x"}, "config: async_wait_timeout_seconds: must be a whole number (from PROOFLINE_ASYNC_WAIT_TIMEOUT_SECONDS)"},
		{q, nil, "config: poll_rate_for_verify_in_seconds: must be a whole number (from " + q + ")"},
		{"", []string{"PROOFLINE_QUEUE_MAX_RETRY=26"}, "config: queue_max_retry: must be from 0 to 25 (from PROOFLINE_QUEUE_MAX_RETRY)"},
		// A value checked only because another key selects its vendor.
		{"", []string{"PROOFLINE_IDV_RESOLUTION_DEFAULT_VENDOR=instant_verify", "PROOFLINE_LEXISNEXIS_BASE_URL=https://rdp.example.com",
			"PROOFLINE_LEXISNEXIS_ACCOUNT_ID=a", "PROOFLINE_LEXISNEXIS_USERNAME=u", "PROOFLINE_LEXISNEXIS_PASSWORD=p",
			"PROOFLINE_LEXISNEXIS_INSTANT_VERIFY_WORKFLOW=a b"}, "(from PROOFLINE_LEXISNEXIS_INSTANT_VERIFY_WORKFLOW)"},
		// A required key with no value has no source to name.
		{"", []string{"PROOFLINE_DOC_AUTH_ENABLE_PRESIGNED_S3_URLS=true"}, "config: doc_auth_s3_bucket: is required when doc_auth_enable_presigned_s3_urls is true"},
	}
	for _, c := range cases {
		_, err := config.Load(c.path, c.env)
		if err == nil || !strings.HasSuffix(err.Error(), c.want) && !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s %v: got %v, want %q", c.path, c.env, err, c.want)
		}
		if err != nil && strings.HasSuffix(c.want, "is true") && strings.Contains(err.Error(), "(from") {
			t.Errorf("a missing value got a source: %v", err)
		}
	}
}
