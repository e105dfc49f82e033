package repocheck

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// A test a document names as proof (`worker.TestNeverRetriesPastTheDeadline`)
// exists, so a renamed or deleted test cannot leave a claim without proof.
func TestCitedTestsExist(t *testing.T) {
	t.Parallel()
	defined := map[string]map[string]bool{} // test name → directories defining it
	def := regexp.MustCompile(`(?m)^func (Test\w+)\(`)
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(p, "_test.go") {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		for _, m := range def.FindAllStringSubmatch(string(b), -1) {
			if defined[m[1]] == nil {
				defined[m[1]] = map[string]bool{}
			}
			rel, _ := filepath.Rel(root, filepath.Dir(p))
			defined[m[1]][filepath.ToSlash(rel)] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	cite := regexp.MustCompile("`(?:([\\w/-]+)\\.)?(Test\\w+)`")
	cited := 0
	for _, doc := range documents(t) {
		b, err := os.ReadFile(filepath.Join(root, doc))
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range cite.FindAllStringSubmatch(string(b), -1) {
			cited++
			pkg, name := m[1], m[2]
			dirs := defined[name]
			if len(dirs) == 0 {
				t.Errorf("%s names %s, which no test file defines", doc, m[0])
				continue
			}
			if pkg == "" {
				continue
			}
			found := false
			for dir := range dirs {
				// "worker" matches worker/, "queuedispatch" dispatch/queuedispatch,
				// "cmd/proofline-lambda" that folder, "proofline" the root.
				if dir == pkg || strings.HasSuffix(dir, "/"+pkg) || pkg == "proofline" && dir == "." {
					found = true
				}
			}
			if !found {
				t.Errorf("%s names %s, but %s is defined in %v", doc, m[0], name, keys(dirs))
			}
		}
	}
	if cited == 0 {
		t.Fatal("no document names a test: the scan is broken")
	}
}

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
