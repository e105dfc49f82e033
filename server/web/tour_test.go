package web_test

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/proofline/proofline/config"
	"github.com/proofline/proofline/server/web"
)

// tourBrand is the service the tour's pages verify people for.
var tourBrand = struct{ name, logo, help, privacy, back string }{
	"Example Benefits", "/static/favicon.svg", "https://benefits.example/help", "https://benefits.example/privacy", "https://benefits.example/",
}

// TestBrowserEveryPageEveryLanguage goes through every page and state of the
// flow in English, Spanish and French (one tab each, in parallel): the
// start page; the document page empty, with a file that is not a photo,
// with a photo too large, submitted without photos, filled, and refused by
// the vendor; the information page, with validation errors, with the
// vendor's SSN failure, filled; the service error; waiting; the timeout;
// the phone page, with a validation error, with the vendor's failure,
// filled; done; and the attempt limit. On each, axe-core finds no WCAG 2.1
// A/AA violation at desktop and phone widths, nothing scrolls sideways at
// 320 px, the page is in the tab's language with no catalogue key showing,
// and the service's name, logo, help, privacy and return links are there.
// Error states have the error summary focused and "Error: " before the
// title. Screenshots of each go to $PROOFLINE_ARTIFACTS/screens/{lang}/.
func TestBrowserEveryPageEveryLanguage(t *testing.T) {
	t.Parallel()
	// One deployment per language: the limit at the end is the per-IP one
	// (every Start over is a new person), and the languages run at once
	// from one address.
	env := func(t *testing.T) *env {
		return start(t, func(c *config.Config) {
			c.IDVMaxAttempts = 4
			c.IDVMaxAttemptsPerIP = 4
			c.DocAuthMaxImageBytes = 64 << 10
			// Long enough for the checks of the waiting page before the
			// timeout screen.
			c.AsyncWaitTimeoutSeconds = 10
			c.WebServiceName = tourBrand.name
			c.WebLogoURL = tourBrand.logo
			c.WebHelpURL = tourBrand.help
			c.WebPrivacyURL = tourBrand.privacy
			c.WebReturnURL = tourBrand.back
		})
	}
	for _, lang := range web.Languages() {
		t.Run(lang, func(t *testing.T) {
			t.Parallel()
			tour(t, tabFor(t, 6*time.Minute), env(t), lang)
		})
	}
	t.Cleanup(func() {
		axeFigures.Lock()
		defer axeFigures.Unlock()
		report(t, "axe.txt", []string{fmt.Sprintf("axe-core %s, tags %s: %d page states checked (each at %s and %s), %d screenshots, zero violations expected",
			axeVersion, strings.Join(axeTags, ","), axeFigures.checks/2, desktop.name, phone.name, axeFigures.shots)})
	})
}

// keyRE matches a catalogue key that slipped onto a page untranslated.
var keyRE = regexp.MustCompile(`\b(common|steps|errors|vendor|start|document|units|wait|info|label|hint|show|id_type|phone|done|timeout|error|busy|limit|month|language|link|date|js)\.[a-z0-9_]+\b`)

func tour(t *testing.T, ctx context.Context, e *env, lang string) {
	msg := func(key string, args ...any) string { return web.Message(lang, key, args...) }
	n := 0
	// check runs checkPage and what every page must show; errored says the
	// page shows an error summary.
	check := func(name string, errored bool) {
		t.Helper()
		n++
		name = fmt.Sprintf("%02d-%s", n, name)
		type pageFacts struct {
			Lang, Title, Text, Active, Return, Help, Privacy, Logo string
			Summary                                                bool
		}
		f, err := chromedp.Run(ctx, chromedp.Evaluate[pageFacts](`(() => {
			const href = id => (document.getElementById(id) || {}).href || '';
			return {lang: document.documentElement.lang, title: document.title, text: document.body.innerText,
				active: (document.activeElement || {}).id || '', return: href('return-link'), help: href('help-link'),
				privacy: href('privacy-link'), logo: (document.querySelector('.brand img') || {}).src || '',
				summary: !!document.getElementById('error-summary')};
		})()`))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if f.Lang != lang {
			t.Errorf("%s: lang=%q", name, f.Lang)
		}
		if k := keyRE.FindString(f.Text); k != "" {
			t.Errorf("%s: the page shows the key %q", name, k)
		}
		if !strings.HasSuffix(f.Title, " – "+tourBrand.name) || !strings.Contains(f.Text, tourBrand.name) {
			t.Errorf("%s: title %q or header without the service name", name, f.Title)
		}
		if f.Return != tourBrand.back || f.Help != tourBrand.help || f.Privacy != tourBrand.privacy || !strings.HasSuffix(f.Logo, tourBrand.logo) {
			t.Errorf("%s: trust links return=%q help=%q privacy=%q logo=%q", name, f.Return, f.Help, f.Privacy, f.Logo)
		}
		if !strings.Contains(f.Text, msg("common.return", tourBrand.name)) {
			t.Errorf("%s: no %q link text", name, msg("common.return", tourBrand.name))
		}
		prefixed := strings.HasPrefix(f.Title, msg("common.error_prefix"))
		if errored && (!f.Summary || !prefixed || f.Active != "error-summary") {
			t.Errorf("%s: error summary %v, title %q, focus on %q", name, f.Summary, f.Title, f.Active)
		}
		if !errored && (f.Summary || prefixed) {
			t.Errorf("%s: an error summary (%v) or title %q on a page without errors", name, f.Summary, f.Title)
		}
		checkPage(t, ctx, lang, name)
	}
	pick := func(side, name string, b []byte) {
		t.Helper()
		do(t, ctx, chromedp.SetUploadFiles(chromedp.CSS("#"+side), []string{writeFile(t, name, b)}))
	}
	uploaded := func(sides ...string) {
		t.Helper()
		for _, side := range sides {
			waitJS(t, ctx, fmt.Sprintf(`document.getElementById('%s_image_url').value !== ''`, side))
		}
	}
	fieldError := func(side string) {
		t.Helper()
		waitJS(t, ctx, fmt.Sprintf(`!document.getElementById('%s-error').hidden`, side))
	}

	// The switcher's link sets the language of the session.
	do(t, ctx, chromedp.Navigate(e.base+"/?lang="+lang))
	waitPath(t, ctx, "/")
	if got := text(t, ctx, "h1"); got != msg("start.title") {
		t.Fatalf("start page h1 %q, want %q", got, msg("start.title"))
	}
	check("start", false)
	submitted(t, ctx, chromedp.Click(chromedp.CSS("#start")))
	waitPath(t, ctx, "/verify/document")
	waitJS(t, ctx, `document.getElementById('capture').dataset.ready === '1'`)
	check("document", false)

	// Checked in the browser, before anything is encrypted or sent.
	pick("front", "notes.txt", []byte("not a photo"))
	fieldError("front")
	if got := text(t, ctx, "#front-error"); !strings.Contains(got, msg("js.not_image")) {
		t.Errorf("a text file: %q", got)
	}
	check("document-not-a-photo", false)
	pick("front", "big.png", bigPNG(t))
	fieldError("front")
	if got := text(t, ctx, "#front-error"); !strings.Contains(got, strings.Split(msg("js.too_large"), "(")[0]) {
		t.Errorf("a photo over 64 KiB: %q", got)
	}
	check("document-too-large", false)
	if id := value(t, ctx, "#capture_id"); id != "" {
		t.Errorf("refused files made a capture (%s)", id)
	}
	// Continue without photos: the summary, focused, links each side.
	do(t, ctx, chromedp.Click(chromedp.CSS("#submit")))
	waitJS(t, ctx, `!!document.getElementById('error-summary')`)
	if links := text(t, ctx, "#error-summary"); !strings.Contains(links, msg("js.add_back")) {
		t.Errorf("summary %q lacks the back", links)
	}
	check("document-missing", true)

	// Filled, then refused by the document vendor.
	pick("front", "front.png", testPNG(t, 1))
	pick("back", "back.yaml", []byte("friendly_error: The image was too blurry.\n"))
	uploaded("front", "back")
	if vis, _ := chromedp.Run(ctx, chromedp.Evaluate[bool](`!document.getElementById('front-preview').hidden && document.getElementById('front-preview').naturalWidth === 64`)); !vis {
		t.Error("no preview of the front")
	}
	check("document-uploaded", false)
	submitted(t, ctx, chromedp.Click(chromedp.CSS("#submit")))
	waitJS(t, ctx, `location.pathname === '/verify/document' && !!document.getElementById('general-error')`)
	if got := text(t, ctx, "#general-error"); !strings.Contains(got, msg("document.err_generic")) {
		t.Errorf("document failure shows %q", got)
	}
	check("document-failed", true)

	// The ID of SUSAN SMITH.
	waitJS(t, ctx, `document.getElementById('capture').dataset.ready === '1'`)
	pick("front", "front.png", testPNG(t, 1))
	pick("back", "back.yaml", []byte(susanYAML))
	uploaded("front", "back")
	submitted(t, ctx, chromedp.Click(chromedp.CSS("#submit")))
	waitPath(t, ctx, "/verify/info")
	if got := text(t, ctx, "#doc-state_id_type"); got != msg("id_type.drivers_license") {
		t.Errorf("ID type shown as %q", got)
	}
	check("info", false)

	// Validation: no SSN, a short ZIP code.
	submitted(t, ctx, chromedp.SetValue(chromedp.CSS("#zipcode"), "123"), chromedp.Click(chromedp.CSS("#submit")))
	waitJS(t, ctx, `!!document.getElementById('ssn-error') && !!document.getElementById('zipcode-error')`)
	if got := text(t, ctx, "#error-summary"); !strings.Contains(got, msg("errors.required_ssn")) || !strings.Contains(got, msg("errors.zipcode_format")) {
		t.Errorf("summary %q", got)
	}
	if href, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`[...document.querySelectorAll('#error-summary a')].map(a => a.getAttribute('href')).join(' ')`)); href != "#zipcode #ssn" {
		t.Errorf("summary links %q, want #zipcode #ssn", href)
	}
	check("info-invalid", true)

	// The vendor cannot verify the SSN.
	submitted(t, ctx, chromedp.SetValue(chromedp.CSS("#zipcode"), "59010"), chromedp.SetValue(chromedp.CSS("#ssn"), "123-66-6666"), chromedp.Click(chromedp.CSS("#submit")))
	waitJS(t, ctx, `location.pathname === '/verify/info' && !!document.getElementById('ssn-error')`)
	if got := text(t, ctx, "#ssn-error"); !strings.Contains(got, msg("vendor.unverified_ssn")) {
		t.Errorf("ssn error %q", got)
	}
	check("info-ssn-unverified", true)

	// A vendor exception: the service error page.
	submitted(t, ctx, chromedp.SetValue(chromedp.CSS("#ssn"), "000-00-0000"), chromedp.Click(chromedp.CSS("#submit")))
	waitPath(t, ctx, "/verify/error")
	check("service-error", false)
	submitted(t, ctx, chromedp.Click(chromedp.CSS("#retry")))

	// Waiting (the mock hangs), then the timeout.
	waitPath(t, ctx, "/verify/info")
	submitted(t, ctx, chromedp.SetValue(chromedp.CSS("#address1"), "1 Hang St"), chromedp.SetValue(chromedp.CSS("#ssn"), "123-45-6789"), chromedp.Click(chromedp.CSS("#submit")))
	waitPath(t, ctx, "/verify/wait")
	check("waiting", false)
	waitPath(t, ctx, "/verify/timeout")
	if n, _ := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('.steps li').length`)); n != 4 {
		t.Errorf("the timeout page shows %d steps", n)
	}
	check("timeout", false)
	submitted(t, ctx, chromedp.Click(chromedp.CSS("#retry")))
	waitPath(t, ctx, "/verify/info")
	do(t, ctx, chromedp.SetValue(chromedp.CSS("#address1"), "1 Main St"), chromedp.SetValue(chromedp.CSS("#ssn"), "123-45-6789"))
	check("info-filled", false)
	submitted(t, ctx, chromedp.Click(chromedp.CSS("#submit")))

	waitPath(t, ctx, "/verify/phone")
	check("phone", false)
	submitted(t, ctx, chromedp.SetValue(chromedp.CSS("#phone"), "123"), chromedp.Click(chromedp.CSS("#submit")))
	waitJS(t, ctx, `!!document.getElementById('phone-error')`)
	check("phone-invalid", true)
	submitted(t, ctx, chromedp.SetValue(chromedp.CSS("#phone"), "703-555-5555"), chromedp.Click(chromedp.CSS("#submit")))
	waitJS(t, ctx, `location.pathname === '/verify/phone' && !!document.getElementById('phone-error')`)
	if got := text(t, ctx, "#phone-error"); !strings.Contains(got, msg("vendor.unverified_phone")) {
		t.Errorf("phone error %q", got)
	}
	check("phone-unverified", true)
	do(t, ctx, chromedp.SetValue(chromedp.CSS("#phone"), "703-555-1212"))
	// Filled again; the summary stays until the form is sent.
	check("phone-filled", true)
	submitted(t, ctx, chromedp.Click(chromedp.CSS("#submit")))
	waitPath(t, ctx, "/verify/done")
	if href, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById('continue-service').href`)); href != tourBrand.back {
		t.Errorf("done: continue link %q", href)
	}
	check("done", false)

	// Three failures so far from this address (document, SSN, phone); a
	// fourth reaches its limit, and the next start is refused. ("Start
	// over" is a new person: the per-person count starts again.)
	submitted(t, ctx, chromedp.Click(chromedp.CSS("#again")))
	for range 2 {
		waitPath(t, ctx, "/verify/document")
		waitJS(t, ctx, `document.getElementById('capture').dataset.ready === '1'`)
		pick("front", "front.png", testPNG(t, 1))
		pick("back", "back.yaml", []byte("friendly_error: Blurry.\n"))
		uploaded("front", "back")
		submitted(t, ctx, chromedp.Click(chromedp.CSS("#submit")))
		waitJS(t, ctx, `location.pathname !== '/verify/wait' && document.readyState === 'complete'`)
		if loc, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`location.pathname`)); loc == "/verify/limit" {
			break
		}
	}
	waitPath(t, ctx, "/verify/limit")
	check("limit", false)
}

// bigPNG is a real PNG of noise, over 64 KiB.
func bigPNG(t *testing.T) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 200, 200))
	r := rand.New(rand.NewPCG(1, 2))
	for y := 0; y < 200; y++ {
		for x := 0; x < 200; x++ {
			img.Set(x, y, color.RGBA{uint8(r.Uint32()), uint8(r.Uint32()), uint8(r.Uint32()), 255})
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	if b.Len() <= 64<<10 {
		t.Fatalf("bigPNG is only %d bytes", b.Len())
	}
	return b.Bytes()
}

// TestBrowserUploadBoundsPage: past the per-IP bound on uploads, choosing a
// photo takes the person to the busy page (429), checked like every page
// in each language; once the uploads holding the bound end, Try again
// works.
func TestBrowserUploadBoundsPage(t *testing.T) {
	t.Parallel()
	e := start(t, func(c *config.Config) { c.WebMaxUploadsPerIP = 2 })
	toDocument := func(ctx context.Context, lang string) {
		t.Helper()
		do(t, ctx, chromedp.Navigate(e.base+"/?lang="+lang))
		waitPath(t, ctx, "/")
		submitted(t, ctx, chromedp.Click(chromedp.CSS("#start")))
		waitPath(t, ctx, "/verify/document")
		waitJS(t, ctx, `document.getElementById('capture').dataset.ready === '1'`)
		do(t, ctx, chromedp.SetUploadFiles(chromedp.CSS("#front"), []string{writeFile(t, "front.png", testPNG(t, 5))}))
	}
	// One person's capture holds the address's two uploads.
	holder := tab(t)
	toDocument(holder, "en")
	waitJS(t, holder, `document.getElementById('front_image_url').value !== ''`)
	for _, lang := range web.Languages() {
		ctx := tab(t)
		toDocument(ctx, lang)
		waitPath(t, ctx, "/verify/busy")
		if got := text(t, ctx, "h1"); got != web.Message(lang, "busy.title") {
			t.Errorf("%s busy page: %q", lang, got)
		}
		checkPage(t, ctx, lang, "busy")
		if lang == "es" {
			// The holder starts over: its capture ends, and so does the bound.
			submitted(t, holder, chromedp.Navigate(e.base+"/"))
			submitted(t, holder, chromedp.Click(chromedp.CSS("#start")))
			submitted(t, ctx, chromedp.Click(chromedp.CSS("#retry")))
			waitPath(t, ctx, "/verify/document")
			waitJS(t, ctx, `document.getElementById('capture').dataset.ready === '1'`)
			do(t, ctx, chromedp.SetUploadFiles(chromedp.CSS("#front"), []string{writeFile(t, "front.png", testPNG(t, 6))}))
			waitJS(t, ctx, `document.getElementById('front_image_url').value !== ''`)
		}
	}
}
