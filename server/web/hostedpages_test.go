package web_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/redis/rueidis"

	"github.com/proofline/proofline/server/web"
)

// TestBrowserHostedPagesChecked: the pages hosted verification sessions add
// are in the person's language and pass the same checks as every page
// (axe-core at two widths, no sideways scrolling at 320 px, screenshots):
// the one-time link's entry page for a link that names nothing and for a
// link already used, and the information form of a session without a
// document step (names and date of birth asked too), empty and refused.
func TestBrowserHostedPagesChecked(t *testing.T) {
	t.Parallel()
	p := newIDP(t)
	e := start(t, p.hosted(t, false, nil))
	for _, lang := range web.Languages() {
		msg := func(key string, args ...any) string { return web.Message(lang, key, args...) }
		ctx := tab(t)
		do(t, ctx, chromedp.Navigate(e.base+"/?lang="+lang))
		waitPath(t, ctx, "/")

		do(t, ctx, chromedp.Navigate(e.base+"/verify/session/vs_0000000000000000000000?token=nothing"))
		waitJS(t, ctx, `!!document.getElementById('link-message')`)
		if got := text(t, ctx, "#link-message"); got != msg("link.invalid") {
			t.Errorf("%s unknown link: %q, want %q", lang, got, msg("link.invalid"))
		}
		checkPage(t, ctx, lang, "link-invalid")

		_, link := e.session(p, fmt.Sprintf("person-%s-%d", lang, time.Now().UnixNano()),
			map[string]any{"steps": []string{"information", "phone"}, "locale": lang})
		do(t, ctx, chromedp.Navigate(link))
		waitPath(t, ctx, "/verify/info")
		if got := text(t, ctx, "#info h2"); got != msg("info.form_heading_identity") {
			t.Errorf("%s identity form heading %q", lang, got)
		}
		if n, _ := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('#from-id, #first_name, #last_name').length`)); n != 2 {
			t.Errorf("%s identity form: %d of from-id/first_name/last_name, want the two inputs only", lang, n)
		}
		checkPage(t, ctx, lang, "info-identity")
		submitted(t, ctx, chromedp.Click(chromedp.CSS("#submit")))
		waitJS(t, ctx, `!!document.getElementById('error-summary')`)
		if got := text(t, ctx, "#error-summary"); !strings.Contains(got, msg("errors.required_first_name")) || !strings.Contains(got, msg("errors.required_last_name")) {
			t.Errorf("%s identity form summary %q", lang, got)
		}
		checkPage(t, ctx, lang, "info-identity-invalid")

		do(t, ctx, chromedp.Navigate(link))
		waitJS(t, ctx, `!!document.getElementById('link-message')`)
		if got := text(t, ctx, "#link-message"); got != msg("link.used") {
			t.Errorf("%s used link: %q, want %q", lang, got, msg("link.used"))
		}
		checkPage(t, ctx, lang, "link-used")
	}
}

// TestBrowserEndedPage: the demo's verification session is gone from the
// store (evicted, flushed) while the person is on the document page; the
// next step shows the ended page in the person's language, checked like
// every page, and the browser session is over (the start page again).
func TestBrowserEndedPage(t *testing.T) {
	t.Parallel()
	e := start(t, newIDP(t).hosted(t, true, nil))
	opt, err := rueidis.ParseURL(redisURL(t))
	if err != nil {
		t.Fatal(err)
	}
	opt.DisableCache = true
	rc, err := rueidis.NewClient(opt)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	for _, lang := range web.Languages() {
		ctx := tab(t)
		do(t, ctx, chromedp.Navigate(e.base+"/?lang="+lang))
		waitPath(t, ctx, "/")
		submitted(t, ctx, chromedp.Click(chromedp.CSS("#start")))
		waitPath(t, ctx, "/verify/document")
		// Every verification session of this test's deployment goes.
		c := context.Background()
		keys, err := rc.Do(c, rc.B().Keys().Pattern("*"+t.Name()+"*vsession:*").Build()).AsStrSlice()
		if err != nil || len(keys) == 0 {
			t.Fatalf("verification session keys: %v %v", keys, err)
		}
		if err := rc.Do(c, rc.B().Del().Key(keys...).Build()).Error(); err != nil {
			t.Fatal(err)
		}
		// The form sent as it is (app.js would first ask for photos).
		submitted(t, ctx, chromedp.Evaluate[chromedp.Void](`HTMLFormElement.prototype.submit.call(document.getElementById('capture'))`))
		waitJS(t, ctx, `!!document.getElementById('link-message')`)
		if got := text(t, ctx, "#link-message"); got != web.Message(lang, "link.ended") {
			t.Errorf("%s ended page: %q, want %q", lang, got, web.Message(lang, "link.ended"))
		}
		checkPage(t, ctx, lang, "ended")
		do(t, ctx, chromedp.Navigate(e.base+"/verify/document"))
		waitPath(t, ctx, "/")
	}
}
