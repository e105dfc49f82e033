package repocheck

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func makeCmd(t *testing.T, env []string, args ...string) (string, int) {
	t.Helper()
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("make is not installed")
	}
	cmd := exec.Command("make", append([]string{"-C", root, "--no-print-directory"}, args...)...)
	// A make of its own, not a sub-make of the `make test` running this.
	for _, kv := range os.Environ() {
		if name, _, _ := strings.Cut(kv, "="); name != "MAKEFLAGS" && name != "MAKELEVEL" && name != "MFLAGS" {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, env...)
	out, err := cmd.CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return string(out), code
}

// `make help` lists every target with what it does; deps says what it
// installs and what the tests build themselves.
func TestMakeHelpSaysWhatEachTargetDoes(t *testing.T) {
	t.Parallel()
	out, code := makeCmd(t, nil, "help")
	if code != 0 {
		t.Fatalf("make help: exit %d\n%s", code, out)
	}
	lines := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Fields(l)
		if len(f) < 2 {
			t.Errorf("a target without a description: %q", l)
			continue
		}
		lines[f[0]] = l
	}
	for _, target := range []string{"help", "build", "run", "deps", "test", "lint", "bench", "fuzz", "clean"} {
		if lines[target] == "" {
			t.Errorf("make help does not list %s", target)
		}
	}
	for _, want := range []string{"redis-server", "chromium", "versitygw", "Lambda emulator", "~/.cache/proofline"} {
		if !strings.Contains(lines["deps"], want) {
			t.Errorf("the deps line does not mention %s: %q", want, lines["deps"])
		}
	}
	if !strings.Contains(lines["test"], "screenshots") {
		t.Errorf("the test line does not say where screenshots go: %q", lines["test"])
	}
}

// `make test` hands the tests PROOFLINE_ARTIFACTS and prints where the
// screenshots are at the end, also (above all) when a test failed.
func TestMakeTestPrintsWhereTheScreenshotsAre(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("runs make test on a fixture package")
	}
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Skip("make test needs make deps done first")
	}
	pkg := "./internal/repocheck/testdata/artifacts"
	for _, fail := range []bool{false, true} {
		dir := filepath.Join(t.TempDir(), "shots")
		var env []string
		if fail {
			env = []string{"REPOCHECK_FAIL=1"}
		}
		out, code := makeCmd(t, env, "test", "PKGS="+pkg, "ARTIFACTS="+dir)
		last := "" // the last line that is not make's own
		for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
			if !regexp.MustCompile(`^make(\[\d+\])?: `).MatchString(l) {
				last = l
			}
		}
		if last != "browser screenshots: "+dir {
			t.Errorf("fail=%v: last line %q, want the artifacts directory\n%s", fail, last, out)
		}
		if (code != 0) != fail {
			t.Errorf("fail=%v: exit %d\n%s", fail, code, out)
		}
		if _, err := os.Stat(filepath.Join(dir, "screenshot.png")); err != nil {
			t.Errorf("fail=%v: the test got no PROOFLINE_ARTIFACTS: %v", fail, err)
		}
	}
}
