package web_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/chromedp/chromedp"
)

// axe-core, vendored under testdata/axe-core: the version and the SHA-256 the
// npm package publishes for its axe.min.js (sri-history.json).
const (
	axeVersion = "4.14.1"
	axeSHA256  = "KTSJmUUM3yhJqOcLeRL8LahahJ2jnA0NU5T1HUqe2Vw="
)

// axeTags are the rules run: WCAG 2.0 and 2.1, levels A and AA.
var axeTags = []string{"wcag2a", "wcag2aa", "wcag21a", "wcag21aa"}

var axeSource = sync.OnceValues(func() (string, error) {
	b, err := os.ReadFile(filepath.Join("testdata", "axe-core", "axe.min.js"))
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	if got := base64.StdEncoding.EncodeToString(sum[:]); got != axeSHA256 {
		return "", fmt.Errorf("testdata/axe-core/axe.min.js is not axe-core %s (sha256-%s)", axeVersion, got)
	}
	return string(b), nil
})

// viewport is a window size the pages are checked at.
type viewport struct {
	name          string
	width, height int64
	mobile        bool
}

var (
	desktop = viewport{"desktop", 1280, 800, false}
	phone   = viewport{"phone", 390, 844, true}
	// narrowest is the width below which no page may scroll sideways.
	narrowest = viewport{"320", 320, 640, true}
)

func (v viewport) emulate() chromedp.Action[chromedp.Void] {
	if v.mobile {
		return chromedp.EmulateViewport(v.width, v.height, chromedp.EmulateMobile, chromedp.EmulatePortrait)
	}
	return chromedp.EmulateViewport(v.width, v.height)
}

type axeNode struct {
	Target         []any  `json:"target"`
	HTML           string `json:"html"`
	FailureSummary string `json:"failureSummary"`
}

type axeViolation struct {
	ID     string    `json:"id"`
	Impact string    `json:"impact"`
	Help   string    `json:"help"`
	Nodes  []axeNode `json:"nodes"`
}

type axeResults struct {
	Version    string         `json:"version"`
	Violations []axeViolation `json:"violations"`
	Passes     int            `json:"passes"`
}

// runAxe injects axe-core into the page (once per document) and runs the
// WCAG 2.1 A/AA rules on the whole page.
func runAxe(t *testing.T, ctx context.Context) axeResults {
	t.Helper()
	src, err := axeSource()
	if err != nil {
		t.Fatal(err)
	}
	loaded, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`typeof window.axe === 'object'`))
	if err != nil {
		t.Fatal(err)
	}
	if !loaded {
		if _, err := chromedp.Run(ctx, chromedp.Evaluate[chromedp.Void](src+"\n;undefined")); err != nil {
			t.Fatalf("injecting axe-core: %v", err)
		}
	}
	tags := `['` + strings.Join(axeTags, `','`) + `']`
	res, err := chromedp.Run(ctx, chromedp.Evaluate[axeResults](`axe.run(document, {runOnly: {type: 'tag', values: `+tags+`}, resultTypes: ['violations', 'passes']})
		.then(r => ({version: axe.version, violations: r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
			nodes: v.nodes.map(n => ({target: n.target, html: n.html, failureSummary: n.failureSummary}))})), passes: r.passes.length}))`, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("axe.run: %v", err)
	}
	if res.Version != axeVersion {
		t.Fatalf("axe-core %s ran, want %s", res.Version, axeVersion)
	}
	return res
}

// axeFigures counts what the checks ran, for the report.
var axeFigures struct {
	sync.Mutex
	checks, shots int
}

// checkPage checks the page the tab shows, in the state it is in: axe-core
// (WCAG 2.1 A and AA) at desktop and phone widths with zero violations, a
// screenshot of each in $PROOFLINE_ARTIFACTS/screens/{lang}/{name}-{width}.png,
// and no sideways scrolling at 320 px. It leaves the tab at desktop width.
func checkPage(t *testing.T, ctx context.Context, lang, name string) {
	t.Helper()
	dir := filepath.Join(artifacts, "screens", lang)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, vp := range []viewport{phone, desktop} {
		do(t, ctx, vp.emulate())
		res := runAxe(t, ctx)
		for _, v := range res.Violations {
			var where []string
			for _, n := range v.Nodes {
				where = append(where, fmt.Sprintf("%v %s: %s", n.Target, n.HTML, n.FailureSummary))
			}
			t.Errorf("%s %s at %s: axe %s (%s): %s\n    %s", lang, name, vp.name, v.ID, v.Impact, v.Help, strings.Join(where, "\n    "))
		}
		b, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatalf("screenshot %s %s: %v", name, vp.name, err)
		}
		if err := os.WriteFile(filepath.Join(dir, name+"-"+vp.name+".png"), b, 0o644); err != nil {
			t.Fatal(err)
		}
		if res.Passes == 0 {
			t.Errorf("%s %s at %s: axe ran no rule", lang, name, vp.name)
		}
		if d := os.Getenv("PROOFLINE_DOCS_SCREENSHOTS"); d != "" && docScreens[lang+"/"+name+"-"+vp.name] {
			_ = os.WriteFile(filepath.Join(d, lang+"-"+name+"-"+vp.name+".png"), b, 0o644)
		}
		axeFigures.Lock()
		axeFigures.checks++
		axeFigures.shots++
		axeFigures.Unlock()
	}
	do(t, ctx, narrowest.emulate())
	wide, err := chromedp.Run(ctx, chromedp.Evaluate[string](`(() => { const d = document.documentElement;
		return d.scrollWidth > d.clientWidth ? d.scrollWidth + ' > ' + d.clientWidth + ': ' +
			[...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > d.clientWidth + 0.5).slice(0, 5).map(e => e.outerHTML.slice(0, 80)).join(' | ') : '' })()`))
	if err != nil {
		t.Fatal(err)
	}
	if wide != "" {
		t.Errorf("%s %s scrolls sideways at 320 px: %s", lang, name, wide)
	}
	do(t, ctx, desktop.emulate())
}

// docScreens are the checked states whose screenshots docs/web.md shows
// (PROOFLINE_DOCS_SCREENSHOTS=docs/screenshots refreshes them).
var docScreens = map[string]bool{
	"en/02-document-desktop": true, "en/06-document-uploaded-phone": true, "en/09-info-invalid-desktop": true,
	"es/12-waiting-phone": true, "fr/13-timeout-phone": true, "es/19-done-desktop": true,
	"fr/08-info-desktop": true, "en/05-document-missing-phone": true,
	"es/info-identity-dob-invalid-phone": true, "en/info-identity-dob-invalid-desktop": true,
	"fr/link-used-phone": true,
}

// TestAxeFindsViolations: the harness is not blind. On a page with an
// unlabelled input, an image without alt text and grey-on-white text, the
// same checks report exactly those rules.
func TestAxeFindsViolations(t *testing.T) {
	t.Parallel()
	ctx := tab(t)
	page := `<!doctype html><html lang="en"><head><title>bad</title></head><body><main><h1>Bad page</h1>
		<p style="color:#bbb;background:#fff">Hard to read</p><img src="data:image/gif;base64,R0lGODlhAQABAAAAACw=">
		<form><input type="text" name="x"></form></main></body></html>`
	do(t, ctx, chromedp.Navigate("data:text/html;base64,"+base64.StdEncoding.EncodeToString([]byte(page))))
	var got []string
	for _, v := range runAxe(t, ctx).Violations {
		got = append(got, v.ID)
	}
	for _, want := range []string{"color-contrast", "image-alt", "label"} {
		if !strings.Contains(strings.Join(got, " "), want) {
			t.Errorf("axe did not report %s on a page that breaks it (reported %v)", want, got)
		}
	}
}
