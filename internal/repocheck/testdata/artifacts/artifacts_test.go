// Package artifacts stands in for the browser tests when make_test.go runs
// `make test` on it: it leaves a screenshot in $PROOFLINE_ARTIFACTS, and
// fails when REPOCHECK_FAIL is set, as a failing browser test would.
package artifacts

import (
	"os"
	"path/filepath"
	"testing"
)

func TestLeavesAScreenshot(t *testing.T) {
	dir := os.Getenv("PROOFLINE_ARTIFACTS")
	if dir == "" {
		t.Fatal("PROOFLINE_ARTIFACTS is not set")
	}
	if err := os.WriteFile(filepath.Join(dir, "screenshot.png"), []byte("png"), 0o644); err != nil {
		t.Fatal(err)
	}
	if os.Getenv("REPOCHECK_FAIL") != "" {
		t.Fatal("failing on purpose")
	}
}
