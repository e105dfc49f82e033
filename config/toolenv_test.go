package config_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/proofline/proofline/config"
)

// A PROOFLINE_ variable the repository's own code or scripts read must be a
// key or one of config.ToolEnv: otherwise `make test` exporting it would
// stop every proofline command it starts as an unknown key.
func TestToolingVariablesAreKnown(t *testing.T) {
	t.Parallel()
	read := regexp.MustCompile(`(?:Getenv|LookupEnv)\("(PROOFLINE_[A-Z0-9_]+)"\)|\$\{?\(?(PROOFLINE_[A-Z0-9_]+)|^(?:export\s+)?(PROOFLINE_[A-Z0-9_]+)\s*[?:]?=`)
	keys := map[string]bool{}
	for _, k := range config.Keys() {
		keys[config.EnvName(k)] = true
	}
	seen := 0
	err := filepath.WalkDir("..", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if d.Name() == ".git" || d.Name() == "testdata" || d.Name() == "node_modules" {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(p, ".go") && !strings.HasSuffix(p, ".sh") && d.Name() != "Makefile" && d.Name() != "run" {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		for _, line := range strings.Split(string(b), "\n") {
			for _, m := range read.FindAllStringSubmatch(strings.TrimSpace(line), -1) {
				name := m[1] + m[2] + m[3]
				seen++
				if !keys[name] && !slices.Contains(config.ToolEnv(), name) {
					t.Errorf("%s reads %s, which is neither a key nor in config.ToolEnv", p, name)
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if seen == 0 {
		t.Fatal("found no PROOFLINE_ variable read anywhere: the scan is broken")
	}
}
