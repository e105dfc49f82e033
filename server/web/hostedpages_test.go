package web_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/redis/rueidis"

	"github.com/proofline/proofline/server/web"
)

// TestBrowserHostedPagesChecked: the pages hosted verification sessions add
// are in the person's language and pass the same checks as every page
// (axe-core at two widths, no sideways scrolling at 320 px, screenshots):
// the one-time link's entry page for a link that names nothing and for a
// link already used, and the information form of a session without a
// document step (names and date of birth asked too, the date as day, month
// and year inputs), empty, refused, with a date that does not exist, and
// put right.
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

		// The date of birth: one fieldset, its legend the label, three
		// numeric inputs in the language's order; the first has the id
		// the summary links to.
		dob, err := chromedp.Run(ctx, chromedp.Evaluate[string](`(() => { const fs = document.querySelector('#field-dob fieldset');
			return fs.querySelector('legend').textContent + '|' + [...fs.querySelectorAll('input')].map(i => i.id + ':' + i.name + ':' + i.inputMode + ':' + i.autocomplete + ':' + document.querySelector('label[for="' + i.id + '"]').textContent).join(',') })()`))
		if err != nil {
			t.Fatal(err)
		}
		parts := map[string]string{"d": "dob_day:numeric:bday-day:" + msg("label.date_day"), "m": "dob_month:numeric:bday-month:" + msg("label.date_month"), "y": "dob_year:numeric:bday-year:" + msg("label.date_year")}
		var want []string
		for i, c := range msg("date.order") {
			id := map[rune]string{'d': "dob-day", 'm': "dob-month", 'y': "dob-year"}[c]
			if i == 0 {
				id = "dob"
			}
			want = append(want, id+":"+parts[string(c)])
		}
		if w := msg("label.dob") + "|" + strings.Join(want, ","); dob != w {
			t.Errorf("%s date of birth\n%s\nwant\n%s", lang, dob, w)
		}
		if !strings.Contains(text(t, ctx, "#error-summary"), msg("errors.required_dob")) {
			t.Errorf("%s: no date of birth in the summary", lang)
		}
		// A month that does not exist: the date error, linked from the
		// summary; what was typed comes back.
		submitted(t, ctx, chromedp.SetValue(chromedp.CSS("#first_name"), "Jane"), chromedp.SetValue(chromedp.CSS("#last_name"), "Doe"),
			chromedp.SetValue(chromedp.CSS("[name=dob_day]"), "4"), chromedp.SetValue(chromedp.CSS("[name=dob_month]"), "13"),
			chromedp.SetValue(chromedp.CSS("[name=dob_year]"), "1985"), chromedp.Click(chromedp.CSS("#submit")))
		waitJS(t, ctx, `!!document.getElementById('dob-error')`)
		if got := text(t, ctx, "#dob-error"); !strings.Contains(got, msg("errors.date_real")) {
			t.Errorf("%s: a 13th month: %q", lang, got)
		}
		if href, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`[...document.querySelectorAll('#error-summary a')].map(a => a.getAttribute('href')).filter(h => h === '#dob').length + ':' + document.querySelector('[name=dob_month]').value`)); href != "1:13" {
			t.Errorf("%s: summary link to #dob and the month typed: %q", lang, href)
		}
		checkPage(t, ctx, lang, "info-identity-dob-invalid")
		// Put right, with the address and SSN: the resolution starts.
		submitted(t, ctx, chromedp.SetValue(chromedp.CSS("[name=dob_month]"), "3"), chromedp.SetValue(chromedp.CSS("#address1"), "1 Main St"),
			chromedp.SetValue(chromedp.CSS("#city"), "Billings"), chromedp.SetValue(chromedp.CSS("#state"), "MT"),
			chromedp.SetValue(chromedp.CSS("#zipcode"), "59010"), chromedp.SetValue(chromedp.CSS("#ssn"), "123-45-6789"), chromedp.Click(chromedp.CSS("#submit")))
		waitPath(t, ctx, "/verify/phone")

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

// TestBrowserKeyboardIdentityForm: the information form of a session
// without a document step, by keyboard alone: Tab goes through the names,
// the three date inputs in the language's order (each a Tab stop of its
// own), the address and the SSN; Enter on Continue starts the resolution.
func TestBrowserKeyboardIdentityForm(t *testing.T) {
	t.Parallel()
	p := newIDP(t)
	e := start(t, p.hosted(t, false, nil))
	ctx := tab(t)
	_, link := e.session(p, fmt.Sprintf("person-kb-%d", time.Now().UnixNano()), map[string]any{"steps": []string{"information", "phone"}, "locale": "es"})
	do(t, ctx, chromedp.Navigate(link))
	waitPath(t, ctx, "/verify/info")
	typeIn := func(id, s string) {
		t.Helper()
		tabTo(t, ctx, id)
		do(t, ctx, chromedp.KeyEvent(s))
	}
	typeIn("first_name", "Jane")
	typeIn("last_name", "Doe")
	// Spanish: day, month, year.
	typeIn("dob", "4")
	press(t, ctx, kb.Tab)
	if got := activeID(t, ctx); got != "dob-month" {
		t.Errorf("Tab after the day went to %q, want the month", got)
	}
	do(t, ctx, chromedp.KeyEvent("3"))
	press(t, ctx, kb.Tab)
	if got := activeID(t, ctx); got != "dob-year" {
		t.Errorf("Tab after the month went to %q, want the year", got)
	}
	do(t, ctx, chromedp.KeyEvent("1985"))
	typeIn("address1", "1 Main St")
	typeIn("city", "Billings")
	typeIn("state", "MT")
	typeIn("zipcode", "59010")
	typeIn("ssn", "123456789")
	tabTo(t, ctx, "submit")
	submitted(t, ctx, enter())
	waitPath(t, ctx, "/verify/phone")
}
