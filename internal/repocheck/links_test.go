package repocheck

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"unicode"
)

// root is the repository, two levels up from this package.
const root = "../.."

// documents are the Markdown files a reader of the repository follows links
// in: README.md, CHANGELOG.md and everything under docs/.
func documents(t *testing.T) []string {
	t.Helper()
	files := []string{"README.md", "CHANGELOG.md"}
	err := filepath.WalkDir(filepath.Join(root, "docs"), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.HasSuffix(p, ".md") {
			rel, _ := filepath.Rel(root, p)
			files = append(files, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// link is one link target in a document, with its line.
type link struct {
	line   int
	target string
}

var (
	inline    = regexp.MustCompile(`!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)`)
	reference = regexp.MustCompile(`^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+.*)?$`)
	htmlRef   = regexp.MustCompile(`(?i)\b(?:href|src)\s*=\s*"([^"]+)"`)
	autolink  = regexp.MustCompile(`<((?:https?|ftp|mailto):[^>\s]+)>`)
	codeSpan  = regexp.MustCompile("`[^`]*`")
)

// links lists the link targets of a Markdown text, outside code.
func links(text string) []link {
	var out []link
	fenced := false
	for i, line := range strings.Split(text, "\n") {
		if t := strings.TrimSpace(line); strings.HasPrefix(t, "```") || strings.HasPrefix(t, "~~~") {
			fenced = !fenced
			continue
		}
		if fenced {
			continue
		}
		line = codeSpan.ReplaceAllString(line, "")
		for _, re := range []*regexp.Regexp{inline, htmlRef, autolink} {
			for _, m := range re.FindAllStringSubmatch(line, -1) {
				out = append(out, link{i + 1, m[1]})
			}
		}
		if m := reference.FindStringSubmatch(line); m != nil {
			out = append(out, link{i + 1, m[1]})
		}
	}
	return out
}

// check says what is wrong with target as a link in the document doc
// (relative to root), or "".
func check(doc, target string) string {
	if strings.HasPrefix(target, "//") || regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9+.-]*:`).MatchString(target) {
		return "leaves the repository (write the page into docs/ or name it without a link)"
	}
	path, frag, _ := strings.Cut(target, "#")
	if strings.HasPrefix(path, "/") {
		return "is an absolute path: make it relative to " + doc
	}
	file := doc
	if path != "" {
		file = filepath.ToSlash(filepath.Clean(filepath.Join(filepath.Dir(doc), path)))
		if file == ".." || strings.HasPrefix(file, "../") {
			return "leaves the repository"
		}
		if _, err := os.Stat(filepath.Join(root, file)); err != nil {
			return "names a file that does not exist"
		}
	}
	if frag != "" && strings.HasSuffix(file, ".md") {
		b, err := os.ReadFile(filepath.Join(root, file))
		if err != nil {
			return "cannot read " + file
		}
		if !anchors(string(b))[frag] {
			return fmt.Sprintf("names #%s, which is no heading of %s", frag, file)
		}
	}
	return ""
}

// anchors are the ids GitHub gives the headings of a Markdown text:
// lower case, punctuation dropped, spaces to '-', repeats numbered.
func anchors(text string) map[string]bool {
	out := map[string]bool{}
	seen := map[string]int{}
	fenced := false
	for _, line := range strings.Split(text, "\n") {
		if t := strings.TrimSpace(line); strings.HasPrefix(t, "```") || strings.HasPrefix(t, "~~~") {
			fenced = !fenced
		}
		if fenced || !strings.HasPrefix(line, "#") {
			continue
		}
		h := strings.TrimSpace(strings.TrimLeft(line, "#"))
		var b strings.Builder
		for _, r := range strings.ToLower(h) {
			switch {
			case unicode.IsLetter(r) || unicode.IsDigit(r) || r == '-' || r == '_':
				b.WriteRune(r)
			case r == ' ':
				b.WriteRune('-')
			}
		}
		id := b.String()
		if n := seen[id]; n > 0 {
			out[fmt.Sprintf("%s-%d", id, n)] = true
		} else {
			out[id] = true
		}
		seen[id]++
	}
	return out
}

// Every link in the documents resolves to a file of the repository; none
// leaves it (a fresh clone has nothing outside itself).
func TestLinksResolveInsideTheRepository(t *testing.T) {
	t.Parallel()
	total := 0
	for _, doc := range documents(t) {
		b, err := os.ReadFile(filepath.Join(root, doc))
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range links(string(b)) {
			total++
			if msg := check(doc, l.target); msg != "" {
				t.Errorf("%s:%d: link %q %s", doc, l.line, l.target, msg)
			}
		}
	}
	if total < 10 {
		t.Fatalf("found only %d links: the scan is broken", total)
	}
}

// The check itself: what it must refuse and what it must accept.
func TestLinkCheckRefusesWhatLeavesOrBreaks(t *testing.T) {
	t.Parallel()
	bad := map[string]string{
		"../shared/ARCHITECTURE.md":       "leaves the repository",
		"../../elsewhere.md":              "leaves the repository",
		"https://example.com/design":      "leaves the repository",
		"//example.com/x":                 "leaves the repository",
		"mailto:someone@example.com":      "leaves the repository",
		"docs/no-such-file.md":            "does not exist",
		"/docs/web.md":                    "absolute path",
		"docs/web.md#no-such-heading-xyz": "no heading",
	}
	for target, want := range bad {
		if got := check("README.md", target); !strings.Contains(got, want) {
			t.Errorf("%q: %q, want %q", target, got, want)
		}
	}
	for _, target := range []string{"docs/web.md", "docs/screenshots/09-ssn-error.png", "#quick-start", "docs/", "CHANGELOG.md"} {
		if got := check("README.md", target); got != "" {
			t.Errorf("%q refused: %s", target, got)
		}
	}
	if got := check("docs/web.md", "../README.md#configuration"); got != "" {
		t.Errorf("a link up to the root refused: %s", got)
	}
	text := "See [the design](../shared/ARCHITECTURE.md) and ![x](a.png \"t\").\n```\n[not](a link)\n```\n`[no](code)` <a href=\"x.html\">y</a>\n[ref]: https://example.com\n"
	var got []string
	for _, l := range links(text) {
		got = append(got, l.target)
	}
	if strings.Join(got, " ") != "../shared/ARCHITECTURE.md a.png x.html https://example.com" {
		t.Errorf("links found: %q", got)
	}
}

// A document cites no issue number and no section of a file outside the
// repository: a reader of a clone has neither.
func TestDocumentsCiteNoIssueNumbers(t *testing.T) {
	t.Parallel()
	cite := regexp.MustCompile(`(?i)\bissues?\s*#?\d+|(?:^|[\s(])#\d+\b|\bPR\s*#?\d+|ARCHITECTURE(?:\.md)?\s*§|§\s*\d|\.\./shared/`)
	for _, doc := range documents(t) {
		b, err := os.ReadFile(filepath.Join(root, doc))
		if err != nil {
			t.Fatal(err)
		}
		for i, line := range strings.Split(string(b), "\n") {
			if m := cite.FindString(line); m != "" {
				t.Errorf("%s:%d: cites %q: say what it means instead", doc, i+1, m)
			}
		}
	}
}
