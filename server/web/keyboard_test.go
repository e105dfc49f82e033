package web_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/dom"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/proofline/proofline/server/web"
)

// activeID is the id of the focused element ("" for none).
func activeID(t *testing.T, ctx context.Context) string {
	t.Helper()
	id, err := chromedp.Run(ctx, chromedp.Evaluate[string](`(document.activeElement || {}).id || ''`))
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// tabTo presses Tab until the element with id has the focus, and fails
// when 40 presses do not reach it.
func tabTo(t *testing.T, ctx context.Context, id string) {
	t.Helper()
	var seen []string
	for range 40 {
		do(t, ctx, chromedp.KeyEvent(kb.Tab))
		got := activeID(t, ctx)
		if got == id {
			return
		}
		seen = append(seen, got)
	}
	t.Fatalf("Tab never reached #%s; the focus went %q", id, seen)
}

// press sends keys (kb.Tab, " ", text) to the focused element; Enter is
// sent as enter().
func press(t *testing.T, ctx context.Context, keys string) {
	t.Helper()
	if keys == kb.Enter {
		do(t, ctx, enter())
		return
	}
	do(t, ctx, chromedp.KeyEvent(keys))
}

// enter presses Enter as a keyboard does: one keyDown that carries its
// text (so the keypress belongs to it, and is not sent when the keydown is
// cancelled), then keyUp. chromedp.KeyEvent sends the text as a separate
// char event, which reaches whatever has the focus after the keydown.
func enter() chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		down := input.DispatchKeyEventParams{Type: input.DispatchKeyEventTypeKeyDown, Key: "Enter", Code: "Enter", WindowsVirtualKeyCode: 13, NativeVirtualKeyCode: 13, Text: "\r", UnmodifiedText: "\r"}
		if _, err := cdp.Call(ctx, tg, input.DispatchKeyEvent, down); err != nil {
			return err
		}
		up := input.DispatchKeyEventParams{Type: input.DispatchKeyEventTypeKeyUp, Key: "Enter", Code: "Enter", WindowsVirtualKeyCode: 13, NativeVirtualKeyCode: 13}
		_, err := cdp.Call(ctx, tg, input.DispatchKeyEvent, up)
		return err
	})
}

// chooseFile opens the focused file input with Space, as a person does, and
// answers the file chooser with path.
func chooseFile(t *testing.T, ctx context.Context, path string) {
	t.Helper()
	ev, err := chromedp.Run(ctx, chromedp.WaitEvent(page.FileChooserOpened, nil, chromedp.KeyEvent(" ")))
	if err != nil {
		t.Fatalf("Space on a file input opened no file chooser: %v", err)
	}
	do(t, ctx, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, dom.SetFileInputFiles, dom.SetFileInputFilesParams{Files: []string{path}, BackendNodeID: ev.BackendNodeID})
		return err
	}))
}

// TestBrowserKeyboardOnly goes through the whole flow with the keyboard
// alone (Tab, Shift-free; Enter, Space and typed characters as key events;
// file choosers opened with Space): the skip link first, the language
// switcher, start, both photos, an error summary whose link moves the focus
// to its field, the SSN's show checkbox, the phone, done.
func TestBrowserKeyboardOnly(t *testing.T) {
	t.Parallel()
	ctx := tab(t)
	e := start(t, nil)
	do(t, ctx, chromedp.Navigate(e.base+"/"))
	waitPath(t, ctx, "/")
	do(t, ctx, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, page.SetInterceptFileChooserDialog, page.SetInterceptFileChooserDialogParams{Enabled: true})
		return err
	}))

	// The first Tab reaches the skip link; Enter on it moves to the content.
	press(t, ctx, kb.Tab)
	if got, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.activeElement.className`)); got != "skip-link" {
		t.Errorf("the first Tab stop is %q, not the skip link", got)
	}
	press(t, ctx, kb.Enter)
	if got := activeID(t, ctx); got != "main" {
		t.Errorf("the skip link moved the focus to %q", got)
	}
	// The switcher, from the keyboard: Spanish, then back to English.
	do(t, ctx, chromedp.Evaluate[chromedp.Void](`document.activeElement.blur()`))
	tabTo(t, ctx, "lang-es")
	submitted(t, ctx, enter())
	if got := text(t, ctx, "h1"); got != web.Message("es", "start.title") {
		t.Errorf("after the switcher: %q", got)
	}
	tabTo(t, ctx, "lang-en")
	submitted(t, ctx, enter())

	tabTo(t, ctx, "liveness")
	tabTo(t, ctx, "start")
	submitted(t, ctx, enter())
	waitPath(t, ctx, "/verify/document")
	waitJS(t, ctx, `document.getElementById('capture').dataset.ready === '1'`)
	// Continue with no photo: the summary has the focus; its link takes
	// the focus to the input.
	tabTo(t, ctx, "submit")
	press(t, ctx, kb.Enter)
	waitJS(t, ctx, `document.activeElement && document.activeElement.id === 'error-summary'`)
	press(t, ctx, kb.Tab)
	waitJS(t, ctx, `document.activeElement.getAttribute('href') === '#front'`)
	press(t, ctx, kb.Enter)
	waitJS(t, ctx, `document.activeElement.id === 'front'`)
	chooseFile(t, ctx, writeFile(t, "front.png", testPNG(t, 4)))
	tabTo(t, ctx, "back")
	chooseFile(t, ctx, writeFile(t, "back.yaml", []byte(susanYAML)))
	for _, side := range []string{"front", "back"} {
		waitJS(t, ctx, fmt.Sprintf(`document.getElementById('%s_image_url').value !== ''`, side))
	}
	tabTo(t, ctx, "submit")
	submitted(t, ctx, enter())

	// Information: send it without the SSN first.
	waitPath(t, ctx, "/verify/info")
	tabTo(t, ctx, "submit")
	submitted(t, ctx, enter())
	waitJS(t, ctx, `document.activeElement && document.activeElement.id === 'error-summary'`)
	press(t, ctx, kb.Tab)
	waitJS(t, ctx, `document.activeElement.getAttribute('href') === '#ssn'`)
	press(t, ctx, kb.Enter)
	waitJS(t, ctx, `document.activeElement.id === 'ssn'`)
	press(t, ctx, "123456789")
	if v := value(t, ctx, "#ssn"); v != "123456789" {
		t.Errorf("typed SSN reads %q", v)
	}
	tabTo(t, ctx, "ssn-show")
	press(t, ctx, " ")
	if typ, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById('ssn').type`)); typ != "text" {
		t.Errorf("Space on the show checkbox left the SSN as %q", typ)
	}
	press(t, ctx, " ")
	if typ, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById('ssn').type`)); typ != "password" {
		t.Errorf("the SSN is %q after hiding it again", typ)
	}
	tabTo(t, ctx, "submit")
	submitted(t, ctx, enter())

	waitPath(t, ctx, "/verify/phone")
	tabTo(t, ctx, "phone")
	press(t, ctx, "7035551212")
	submitted(t, ctx, enter()) // Enter in the field sends the form
	waitPath(t, ctx, "/verify/done")
	if got := text(t, ctx, ".summary"); !contains(got, "•••-••-6789", "(•••) •••-1212") {
		t.Errorf("done after the keyboard run: %s", got)
	}
}

func contains(s string, subs ...string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}
