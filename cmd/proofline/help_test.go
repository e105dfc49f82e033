package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/proofline/proofline/config"
)

// A newcomer's first question: which keys are there? Each command's --help
// answers it with every key, its default and its meaning, and exits 0.
func TestHelpListsEveryConfigKeyWithItsDefault(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"serve", "--help"}, {"serve", "-h"}, {"worker", "--help"}, {"vendors", "check", "--help"},
	} {
		var out, errb bytes.Buffer
		code := run(context.Background(), args, nil, &out, &errb)
		if code != 0 || errb.Len() != 0 {
			t.Errorf("%v: exit %d, stderr %q", args, code, errb.String())
			continue
		}
		help := out.String()
		if !strings.HasPrefix(help, "usage: proofline "+strings.Join(args[:len(args)-1], " ")+" ") || !strings.Contains(help, "  --config file\n") {
			t.Errorf("%v: no usage line or flags:\n%.300s", args, help)
		}
		for _, d := range config.Docs() {
			entry := "\n  " + d.Key + "  (" + d.Env + ")\n      default: " + d.Default + "  ["
			if !strings.Contains(help, entry) {
				t.Errorf("%v: %s is missing or lacks its default %q", args, d.Key, d.Default)
			}
			if first := strings.Fields(d.Doc); len(first) > 3 && !strings.Contains(help, strings.Join(first[:3], " ")) {
				t.Errorf("%v: the meaning of %s is missing", args, d.Key)
			}
		}
	}
	// The keys a newcomer meets first, with the defaults the README promises.
	var out bytes.Buffer
	run(context.Background(), []string{"serve", "--help"}, nil, &out, &out)
	for _, want := range []string{
		"  --addr host:port\n      listen address (host:port) (default 127.0.0.1:8080)",
		"  async_wait_timeout_seconds  (PROOFLINE_ASYNC_WAIT_TIMEOUT_SECONDS)\n      default: 60  [a whole number]\n      async_wait_timeout_seconds is how long a person waits",
		"  redis_url  (PROOFLINE_REDIS_URL)\n      default: (empty)  [a string, secret]",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("serve --help lacks %q", want)
		}
	}
	// The top-level usage points at it.
	out.Reset()
	if code := run(context.Background(), []string{"--help"}, nil, &out, &out); code != 0 || !strings.Contains(out.String(), "--help lists the command's flags and every configuration") {
		t.Errorf("proofline --help: %d %q", code, out.String())
	}
}

// A typo in an environment variable would otherwise be ignored silently:
// every command stops with exit 2, naming it and the key it probably meant.
func TestUnknownEnvironmentVariableStopsEveryCommand(t *testing.T) {
	t.Parallel()
	const value = "redis://:s3cret-pw@127.0.0.1:1/0"
	for _, args := range [][]string{{"serve", "--addr", "127.0.0.1:0"}, {"worker", "--addr", "127.0.0.1:0"}, {"vendors", "check"}} {
		var out, errb bytes.Buffer
		code := run(context.Background(), args, []string{"HOME=/root", "PROOFLINE_REDIS_ULR=" + value}, &out, &errb)
		msg := strings.TrimSpace(errb.String())
		want := "proofline: config: PROOFLINE_REDIS_ULR: unknown environment variable; did you mean PROOFLINE_REDIS_URL?"
		if code != 2 || msg != want {
			t.Errorf("%v: exit %d, stderr %q, want %q", args, code, msg, want)
		}
		if strings.Contains(msg+out.String(), "s3cret-pw") {
			t.Errorf("%v: the value leaked", args)
		}
	}
}

func TestMissingConfigFileNamesThePathAndReason(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	missing := filepath.Join(dir, "proofline.yaml")
	unreadable := filepath.Join(dir, "secret.yaml")
	if err := os.WriteFile(unreadable, []byte("log_level: info\n"), 0o000); err != nil {
		t.Fatal(err)
	}
	cases := []struct{ path, reason string }{
		{missing, "no such file or directory"},
		{dir, "is a directory"},
	}
	if os.Geteuid() != 0 { // root reads any file
		cases = append(cases, struct{ path, reason string }{unreadable, "permission denied"})
	}
	for _, c := range cases {
		for _, args := range [][]string{{"serve"}, {"worker"}, {"vendors", "check"}} {
			args = append(args, "--config", c.path)
			var out, errb bytes.Buffer
			code := run(context.Background(), args, nil, &out, &errb)
			want := "proofline: config: --config: cannot read " + c.path + ": " + c.reason
			if code != 2 || strings.TrimSpace(errb.String()) != want {
				t.Errorf("%v: exit %d, stderr %q, want %q", args, code, errb.String(), want)
			}
		}
	}
}

// Range errors say where the value came from, as type errors do.
func TestValueErrorsSayWhereTheValueCameFrom(t *testing.T) {
	t.Parallel()
	typo := filepath.Join(t.TempDir(), "typo.yaml")
	if err := os.WriteFile(typo, []byte("idv_max_attemps: 3\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		args    []string
		environ []string
		want    string
	}{
		{[]string{"serve"}, []string{"PROOFLINE_ASYNC_WAIT_TIMEOUT_SECONDS=0"}, "proofline: config: async_wait_timeout_seconds: must be from 1 to 3600 (from PROOFLINE_ASYNC_WAIT_TIMEOUT_SECONDS)"},
		{[]string{"serve"}, []string{"PROOFLINE_ASYNC_WAIT_TIMEOUT_SECONDS=soon"}, "proofline: config: async_wait_timeout_seconds: must be a whole number (from PROOFLINE_ASYNC_WAIT_TIMEOUT_SECONDS)"},
		{[]string{"serve", "--config", typo}, nil, "proofline: config: idv_max_attemps: unknown key; did you mean idv_max_attempts? (from " + typo + ")"},
		{[]string{"worker", "--config", typo}, nil, "proofline: config: idv_max_attemps: unknown key; did you mean idv_max_attempts? (from " + typo + ")"},
		{[]string{"vendors", "check"}, []string{"PROOFLINE_LEXISNEXIS_TRUEID_TIMEOUT=900"}, "proofline: config: lexisnexis_trueid_timeout: must be a number of seconds above 0 and at most 600 (from PROOFLINE_LEXISNEXIS_TRUEID_TIMEOUT)"},
	}
	for _, c := range cases {
		var out, errb bytes.Buffer
		code := run(context.Background(), c.args, c.environ, &out, &errb)
		if code != 2 || strings.TrimSpace(errb.String()) != c.want {
			t.Errorf("%v %v: exit %d, stderr %q, want %q", c.args, c.environ, code, errb.String(), c.want)
		}
	}
	// A file value, overridden by nothing.
	var out, errb bytes.Buffer
	ok := filepath.Join(t.TempDir(), "range.yaml")
	_ = os.WriteFile(ok, []byte("async_wait_timeout_seconds: 7200\n"), 0o600)
	code := run(context.Background(), []string{"serve", "--config", ok}, nil, &out, &errb)
	if want := "proofline: config: async_wait_timeout_seconds: must be from 1 to 3600 (from " + ok + ")"; code != 2 || strings.TrimSpace(errb.String()) != want {
		t.Errorf("file range: exit %d, stderr %q", code, errb.String())
	}
}
