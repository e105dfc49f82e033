package main

import (
	"context"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/proofline/proofline/internal/testlog"
)

// The README's curl example works when pasted as it is into a shell, with
// only KEY and BASE set to what `proofline serve` printed: the result id
// lands in a variable, and every answer shows its status code.
func TestReadmeCurlExampleWorksAsPasted(t *testing.T) {
	t.Parallel()
	for _, tool := range []string{"bash", "curl", "sed"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skip(tool + " is not installed")
		}
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	var example string
	for _, block := range regexp.MustCompile("(?s)```sh\n(.*?)```").FindAllStringSubmatch(string(readme), -1) {
		// The quick start's example: the first one that starts a job.
		if example == "" && strings.Contains(block[1], "/api/v1/proofing/resolution") {
			example = block[1]
		}
	}
	if example == "" {
		t.Fatal("README has no sh block that starts a resolution job")
	}

	ctx, cancel := context.WithCancel(context.Background())
	var out, errb testlog.Buffer
	done := make(chan int)
	go func() { done <- run(ctx, []string{"serve", "--addr", "127.0.0.1:0"}, nil, &out, &errb) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	urlRe := regexp.MustCompile(`listening on (http://127\.0\.0\.1:\d+)/`)
	keyRe := regexp.MustCompile(`development API key \(shown once\): (dev_\S+)`)
	var base, key string
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end) && key == ""; time.Sleep(10 * time.Millisecond) {
		if m, k := urlRe.FindStringSubmatch(out.String()), keyRe.FindStringSubmatch(out.String()); m != nil && k != nil {
			base, key = m[1], k[1]
		}
	}
	if key == "" {
		t.Fatalf("serve printed no URL and key: %q %q", out.String(), errb.String())
	}

	// What the reader does: put in the key and the address, paste the rest.
	lines := strings.Split(example, "\n")
	set := map[string]bool{}
	for i, l := range lines {
		for name, value := range map[string]string{"KEY": key, "BASE": base} {
			if strings.HasPrefix(l, name+"=") {
				lines[i] = name + "=" + value
				set[name] = true
			}
		}
	}
	if !set["KEY"] || !set["BASE"] {
		t.Fatalf("the example does not start with KEY= and BASE= lines:\n%s", example)
	}
	cmd := exec.Command("bash", "-c", strings.Join(lines, "\n"))
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
	got, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the example failed: %v\n%s", err, got)
	}
	want := []string{
		`^\{"result_id":"[0-9a-f-]{36}","status_url":"/api/v1/proofing/[0-9a-f-]{36}","deadline":"[^"]+"\}$`,
		`^HTTP 202$`,
		`^\{"status":"done","result":\{"success":true,"errors":\{\},.*\}\}$`,
		`^HTTP 200$`,
		`^HTTP 204$`,
	}
	outLines := strings.Split(strings.TrimSpace(string(got)), "\n")
	if len(outLines) != len(want) {
		t.Fatalf("the example printed %d lines, want %d:\n%s", len(outLines), len(want), got)
	}
	for i, re := range want {
		if !regexp.MustCompile(re).MatchString(outLines[i]) {
			t.Errorf("line %d %q does not match %s", i+1, outLines[i], re)
		}
	}
	// And the README shows what it prints.
	if !strings.Contains(string(readme), "HTTP 202\n") || !strings.Contains(string(readme), "HTTP 204\n") {
		t.Error("README does not show the status lines the example prints")
	}
}
