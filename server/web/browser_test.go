package web_test

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/proofline/proofline/config"
	"github.com/proofline/proofline/internal/s3test"
	"github.com/proofline/proofline/server/web"
)

// A back image that is sandbox YAML makes the mock vendor read this person.
const susanYAML = `document:
  first_name: SUSAN
  middle_name: Q
  last_name: SMITH
  address1: 1 MAIN ST
  city: GREAT FALLS
  state: MT
  zipcode: '59010'
  dob: '1985-03-04'
  state_id_number: '123456789'
  state_id_jurisdiction: MT
  state_id_type: drivers_license
`

// throughDocument takes a fresh tab from the start page through document
// capture to the information page. It returns the image bytes picked.
func throughDocument(t *testing.T, ctx context.Context, e *env, back string, liveness bool, shots bool) map[string][]byte {
	t.Helper()
	picked := map[string][]byte{"front": testPNG(t, 1), "back": []byte(back)}
	if liveness {
		picked["selfie"] = testPNG(t, 2)
	}
	do(t, ctx, chromedp.Navigate(e.base+"/"))
	waitPath(t, ctx, "/")
	if shots {
		shot(t, ctx, "01-start")
	}
	if liveness {
		do(t, ctx, chromedp.Click(chromedp.CSS("#liveness")))
	}
	do(t, ctx, chromedp.Click(chromedp.CSS("#start")))
	waitPath(t, ctx, "/verify/document")
	waitJS(t, ctx, `document.getElementById('encryption_key').value !== ''`)
	for side, b := range picked {
		name := map[bool]string{true: side + ".png", false: side + ".yaml"}[bytes.HasPrefix(b, []byte("\x89PNG"))]
		do(t, ctx, chromedp.SetUploadFiles(chromedp.CSS("#"+side), []string{writeFile(t, name, b)}))
	}
	for side := range picked {
		waitJS(t, ctx, fmt.Sprintf(`document.getElementById('%s_image_url').value !== ''`, side))
	}
	if shots {
		shot(t, ctx, "02-document-uploaded")
	}
	do(t, ctx, chromedp.Click(chromedp.CSS("#submit")))
	return picked
}

// submitInfo submits the information step with the SSN and, unless empty,
// another address line (the ID's facts are not the person's to enter).
func submitInfo(t *testing.T, ctx context.Context, address1, ssn string) {
	t.Helper()
	waitPath(t, ctx, "/verify/info")
	if address1 != "" {
		do(t, ctx, chromedp.SetValue(chromedp.CSS("#address1"), address1))
	}
	do(t, ctx, chromedp.SetValue(chromedp.CSS("#ssn"), ssn), chromedp.Click(chromedp.CSS("#submit")))
}

// decrypt opens an uploaded object with the key and IV the browser submitted.
func decrypt(t *testing.T, form map[string][]string, side string, ct []byte) []byte {
	t.Helper()
	key, err := base64.StdEncoding.DecodeString(form["encryption_key"][0])
	if err != nil || len(key) != 32 {
		t.Fatalf("encryption_key: %v (%d bytes)", err, len(key))
	}
	iv, err := base64.StdEncoding.DecodeString(form[side+"_image_iv"][0])
	if err != nil || len(iv) != 12 {
		t.Fatalf("%s iv: %v", side, err)
	}
	block, _ := aes.NewCipher(key)
	gcm, _ := cipher.NewGCM(block)
	var aad []byte
	if web.BindImageAAD {
		aad = web.ImageAAD(form["capture_id"][0], side)
	}
	pt, err := gcm.Open(nil, iv, ct, aad)
	if err != nil {
		t.Fatalf("%s does not decrypt: %v", side, err)
	}
	return pt
}

func TestBrowserHappyPath(t *testing.T) {
	ctx := tab(t)
	// Vendors answer after 300 ms, so the waiting page is up when the
	// callback lands and the push latency is measured from it.
	e := startWith(t, nil, measureLatency)
	picked := throughDocument(t, ctx, e, susanYAML, false, true)

	waitPath(t, ctx, "/verify/info")
	if got := text(t, ctx, "#doc-first_name"); got != "SUSAN" {
		t.Errorf("first_name shown as %q, want SUSAN from pii_from_doc", got)
	}
	if got := value(t, ctx, "#zipcode"); got != "59010" {
		t.Errorf("zipcode prefilled with %q", got)
	}
	do(t, ctx, chromedp.SetValue(chromedp.CSS("#ssn"), "123-45-6789"))
	do(t, ctx, chromedp.ScrollIntoView(chromedp.CSS("#submit")))
	shot(t, ctx, "03-info")
	do(t, ctx, chromedp.Click(chromedp.CSS("#submit")))
	waitPath(t, ctx, "/verify/phone")
	do(t, ctx, chromedp.SetValue(chromedp.CSS("#phone"), "703-555-1212"))
	shot(t, ctx, "04-phone")
	do(t, ctx, chromedp.Click(chromedp.CSS("#submit")))
	waitPath(t, ctx, "/verify/done")
	summary := text(t, ctx, ".summary")
	for _, want := range []string{"•••-••-6789", "(•••) •••-1212", "1985-••-••", "S•••• Q S••••"} {
		if !strings.Contains(summary, want) {
			t.Errorf("summary lacks %q: %s", want, summary)
		}
	}
	for _, plain := range []string{"123-45-6789", "SUSAN", "1212"[0:0] + "7035551212"} {
		if strings.Contains(summary, plain) {
			t.Errorf("summary shows %q unmasked", plain)
		}
	}
	shot(t, ctx, "05-done")

	// The stored objects are ciphertext and open, in Go, to the exact bytes picked.
	e.mu.Lock()
	forms, uploads := e.docForms, e.uploads
	e.mu.Unlock()
	if len(forms) != 1 {
		t.Fatalf("%d document forms submitted", len(forms))
	}
	for side, want := range picked {
		ct := uploads[side]
		if len(ct) != len(want)+16 || bytes.Contains(ct, want[:min(len(want), 16)]) {
			t.Errorf("%s: stored %d bytes, want %d bytes of ciphertext", side, len(ct), len(want)+16)
		}
		if got := decrypt(t, forms[0], side, ct); !bytes.Equal(got, want) {
			t.Errorf("%s decrypts to other bytes than the browser picked", side)
		}
	}
	for k := range forms[0] {
		if strings.Contains(forms[0].Get(k), "SUSAN") {
			t.Errorf("document form field %s carries PII", k)
		}
	}
	e.noPIIInURLsOrLogs("SUSAN", "123-45-6789", "123456789", "7035551212", "SMITH")

	figures := []string{}
	for _, s := range [][2]string{{"document", "/verify/info"}, {"resolution", "/verify/phone"}, {"address", "/verify/done"}} {
		d := e.latency(s[0], s[1])
		figures = append(figures, fmt.Sprintf("push %s: %s", s[0], d.Round(100*time.Microsecond)))
	}
	report(t, "latency-push.txt", figures)
}

// measureLatency is the mock vendors' answer time in the measuring tests.
const measureLatency = 300 * time.Millisecond

// report logs figures and writes them to the artifacts folder.
func report(t *testing.T, name string, lines []string) {
	t.Helper()
	for _, l := range lines {
		t.Log(l)
	}
	_ = os.WriteFile(filepath.Join(artifacts, name), []byte(strings.Join(lines, "\n")+"\n"), 0o644)
}

func (e *env) noPIIInURLsOrLogs(pii ...string) {
	e.t.Helper()
	e.mu.Lock()
	urls := strings.Join(e.urls, "\n")
	e.mu.Unlock()
	logs := e.logs.String()
	for _, p := range pii {
		if strings.Contains(urls, p) || strings.Contains(urls, url_(p)) {
			e.t.Errorf("a requested URL holds PII %q", p)
		}
		if strings.Contains(logs, p) {
			e.t.Errorf("the logs hold PII %q", p)
		}
	}
}

func url_(s string) string { return strings.ReplaceAll(s, " ", "+") }

func TestBrowserPollingFallback(t *testing.T) {
	ctx := tab(t)
	e := startWith(t, func(c *config.Config) { c.WebPushEnabled = false }, measureLatency)
	throughDocument(t, ctx, e, susanYAML, false, false)
	submitInfo(t, ctx, "", "123-45-6789")
	waitPath(t, ctx, "/verify/phone")
	do(t, ctx, chromedp.SetValue(chromedp.CSS("#phone"), "7035551212"), chromedp.Click(chromedp.CSS("#submit")))
	waitPath(t, ctx, "/verify/done")
	var figures []string
	for _, s := range [][2]string{{"document", "/verify/info"}, {"resolution", "/verify/phone"}, {"address", "/verify/done"}} {
		figures = append(figures, fmt.Sprintf("polling (every %ds) %s: %s", config.Defaults().PollRateForVerifyInSeconds, s[0], e.latency(s[0], s[1]).Round(time.Millisecond)))
	}
	report(t, "latency-polling.txt", figures)
}

func TestBrowserDocumentFailsWithLiveness(t *testing.T) {
	t.Parallel()
	ctx := tab(t)
	e := start(t, nil)
	throughDocument(t, ctx, e, "friendly_error: The image was too blurry.\n", true, false)
	// Back on the document page, with the vendor's message and a new capture.
	waitJS(t, ctx, `location.pathname === '/verify/document' && !!document.getElementById('general-error')`)
	// The vendor's own words are not shown (they are in no language but
	// the vendor's): the page's message for a document it could not verify.
	if got := text(t, ctx, "#general-error"); !strings.Contains(got, "We could not verify your ID from these photos.") {
		t.Errorf("document error shows %q", got)
	}
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`!!document.getElementById('selfie')`)); err != nil {
		t.Error(err)
	}
	e.mu.Lock()
	if _, ok := e.uploads["selfie"]; !ok {
		t.Error("the selfie was not uploaded")
	}
	e.mu.Unlock()
	shot(t, ctx, "06-document-failed")
}

func TestBrowserHangTimesOutThenRetrySucceeds(t *testing.T) {
	t.Parallel()
	ctx := tab(t)
	e := start(t, func(c *config.Config) { c.AsyncWaitTimeoutSeconds = 6 })
	throughDocument(t, ctx, e, susanYAML, false, false)
	submitInfo(t, ctx, "1 Hang St", "123-45-6789")
	waitPath(t, ctx, "/verify/wait")
	waitJS(t, ctx, `!!document.getElementById('wait-status')`)
	if live, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById('wait-status').getAttribute('aria-live')`)); live != "polite" {
		t.Errorf("waiting status aria-live=%q", live)
	}
	if got := text(t, ctx, "#budget-text"); !strings.Contains(got, "We wait up to 6 seconds for an answer.") {
		t.Errorf("waiting page shows the time budget as %q", got)
	}
	shot(t, ctx, "07-waiting")
	waitPath(t, ctx, "/verify/timeout")
	shot(t, ctx, "08-timeout")
	do(t, ctx, chromedp.Click(chromedp.CSS("#retry")))
	// Try again: the form keeps what was entered; a new attempt succeeds.
	waitPath(t, ctx, "/verify/info")
	if got := value(t, ctx, "#address1"); got != "1 Hang St" {
		t.Errorf("after Try again address1 = %q", got)
	}
	submitInfo(t, ctx, "1 Main St", "123-45-6789")
	waitPath(t, ctx, "/verify/phone")
}

func TestBrowserSSNFieldError(t *testing.T) {
	t.Parallel()
	ctx := tab(t)
	e := start(t, nil)
	throughDocument(t, ctx, e, susanYAML, false, false)
	submitInfo(t, ctx, "", "123-66-6666")
	waitJS(t, ctx, `location.pathname === '/verify/info' && !!document.getElementById('ssn-error')`)
	if got := text(t, ctx, "#ssn-error"); !strings.Contains(got, "Unverified SSN.") {
		t.Errorf("ssn error %q", got)
	}
	if inv, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById('ssn').getAttribute('aria-invalid')`)); inv != "true" {
		t.Errorf("ssn aria-invalid=%q", inv)
	}
	// The SSN never goes back into the page: the field is empty.
	if got := value(t, ctx, "#ssn"); got != "" {
		t.Errorf("after the failure the SSN field holds %q", got)
	}
	if html, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.documentElement.outerHTML`)); strings.Contains(html, "123-66-6666") {
		t.Error("the SSN is in the page's HTML")
	}
	do(t, ctx, chromedp.ScrollIntoView(chromedp.CSS("#submit")))
	shot(t, ctx, "09-ssn-error")
}

// TestWebCryptoMatchesGo checks the browser's encryption (app.js) against Go:
// the original design's test vector, and AAD binding both ways.
func TestWebCryptoMatchesGo(t *testing.T) {
	t.Parallel()
	want := []byte{134, 194, 44, 81, 34, 64, 28, 1, 117, 34, 161, 11, 192, 7, 169, 19, 140, 29, 89, 104, 50, 208, 250, 152, 208, 214, 65}
	block, _ := aes.NewCipher(make([]byte, 32))
	gcm, _ := cipher.NewGCM(block)
	if got := gcm.Seal(nil, make([]byte, 12), []byte("Hello world"), nil); !bytes.Equal(got, want) {
		t.Fatalf("Go: %v, want %v", got, want)
	}

	ctx := tab(t)
	e := start(t, nil)
	do(t, ctx, chromedp.Navigate(e.base+"/"))
	waitJS(t, ctx, `typeof window.prooflineEncrypt === 'function'`)
	enc := func(aad string) []byte {
		expr := `prooflineEncrypt(new Array(32).fill(0), new Array(12).fill(0), Array.from(new TextEncoder().encode('Hello world')), ` + fmt.Sprintf("%q", aad) + `)`
		got, err := chromedp.Run(ctx, chromedp.Evaluate[[]int](expr, chromedp.EvalAwaitPromise))
		if err != nil {
			t.Fatal(err)
		}
		b := make([]byte, len(got))
		for i, v := range got {
			b[i] = byte(v)
		}
		return b
	}
	if got := enc(""); !bytes.Equal(got, want) {
		t.Errorf("WebCrypto: %v, want %v", got, want)
	}
	aad := web.ImageAAD("0123456789abcdef0123456789abcdef", "front")
	ct := enc(string(aad))
	if pt, err := gcm.Open(nil, make([]byte, 12), ct, aad); err != nil || string(pt) != "Hello world" {
		t.Errorf("Go does not open the browser's AAD-bound ciphertext: %v", err)
	}
	if _, err := gcm.Open(nil, make([]byte, 12), ct, web.ImageAAD("0123456789abcdef0123456789abcdef", "back")); err == nil {
		t.Error("a front ciphertext opened as the back")
	}
}

// TestBrowserUploadsToS3: with S3 images the browser posts each encrypted
// image through its POST policy straight to the bucket (so S3 itself would
// refuse an oversized one), submits the object URLs, and the job completes;
// what the bucket held was ciphertext.
func TestBrowserUploadsToS3(t *testing.T) {
	t.Parallel()
	ctx := tab(t)
	s3srv, err := s3test.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s3srv.Stop)
	bucket := s3srv.NewBucket(t)
	e := startWith(t, func(c *config.Config) {
		c.DocAuthEnablePresignedS3URLs = true
		c.DocAuthS3Bucket = bucket
		c.AWSS3Endpoint = s3srv.Endpoint()
	}, 0)
	picked := throughDocument(t, ctx, e, susanYAML, false, false)
	waitPath(t, ctx, "/verify/info")
	if got := text(t, ctx, "#doc-first_name"); got != "SUSAN" {
		t.Fatalf("pii_from_doc is not shown: first_name %q", got)
	}
	// The worker deleted the images after proofing; nothing is left under the prefix.
	out, err := s3srv.Client().ListObjectsV2(context.Background(), &s3.ListObjectsV2Input{Bucket: aws.String(bucket)})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Contents) != 0 {
		t.Fatalf("%d objects left in the bucket", len(out.Contents))
	}
	if len(picked) != 2 {
		t.Fatalf("picked %d images", len(picked))
	}
}

// TestBrowserIDBindsIdentity: the ID says SUSAN Q SMITH, born 1985. The
// person edits the page to put back the inputs it no longer offers, with
// another person's name, date of birth and ID number, and submits: refused.
// The flow then reaches done only as the person on the ID.
func TestBrowserIDBindsIdentity(t *testing.T) {
	t.Parallel()
	ctx := tab(t)
	e := start(t, nil)
	throughDocument(t, ctx, e, susanYAML, false, false)
	waitPath(t, ctx, "/verify/info")

	// A script on the page posts the form with another person's identity
	// (the page's own CSRF token and address, the forged facts).
	got, err := chromedp.Run(ctx, chromedp.Evaluate[string](`(async () => {
		const body = new URLSearchParams(new FormData(document.getElementById('info')));
		for (const [name, v] of Object.entries({first_name: 'JANE', last_name: 'DOE', dob: '1970-01-01', state_id_number: 'D1234567'})) body.set(name, v);
		body.set('ssn', '123-45-6789');
		const r = await fetch('/verify/info', {method: 'POST', body});
		return r.status + ' ' + new URL(r.url).pathname;
	})()`, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatal(err)
	}
	if got != "400 /verify/info" {
		do(t, ctx, chromedp.Navigate(e.base+"/verify/wait"))
		t.Fatalf("the forged post was accepted (%s), then %s", got, browserToDone(t, ctx))
	}

	// Re-add (or overwrite) the inputs with another person's identity.
	do(t, ctx, chromedp.Evaluate[chromedp.Void](`(() => {
		const f = document.getElementById('info');
		const other = {first_name: 'JANE', middle_name: 'X', last_name: 'DOE', dob: '1970-01-01',
			state_id_number: 'D1234567', state_id_jurisdiction: 'VA', state_id_type: 'state_id_card'};
		for (const [name, v] of Object.entries(other)) {
			let i = f.querySelector('[name="' + name + '"]');
			if (!i) { i = document.createElement('input'); i.type = 'text'; i.name = name; f.appendChild(i); }
			i.value = v;
		}
	})()`))
	submitted(t, ctx, chromedp.SetValue(chromedp.CSS("#ssn"), "123-45-6789"), chromedp.Click(chromedp.CSS("#submit")))
	if p, _ := chromedp.Run(ctx, chromedp.Evaluate[string]("location.pathname")); p != "/verify/info" {
		t.Fatalf("the forged identity was accepted: on %s, then %s", p, browserToDone(t, ctx))
	}
	if got := text(t, ctx, "#general-error"); !strings.Contains(got, "does not match your ID") {
		t.Errorf("refusal says %q", got)
	}
	shot(t, ctx, "10-forged-identity-refused")

	// What the ID says is shown, and no form control carries it.
	n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`['first_name','middle_name','last_name','dob','state_id_number','state_id_jurisdiction','state_id_type']
		.filter(n => document.querySelector('[name="' + n + '"]')).length`))
	if err != nil || n != 0 {
		t.Errorf("%d inputs for what the ID binds (%v)", n, err)
	}
	for sel, want := range map[string]string{"#doc-first_name": "SUSAN", "#doc-last_name": "SMITH", "#doc-dob": "1985-03-04", "#doc-state_id_number": "123456789"} {
		if got := text(t, ctx, sel); got != want {
			t.Errorf("%s shows %q, want %q", sel, got, want)
		}
	}

	// The honest submission: done as the person on the ID.
	submitted(t, ctx, chromedp.SetValue(chromedp.CSS("#ssn"), "123-45-6789"), chromedp.Click(chromedp.CSS("#submit")))
	summary := browserToDone(t, ctx)
	for _, want := range []string{"S•••• Q S••••", "1985-••-••"} {
		if !strings.Contains(summary, want) {
			t.Errorf("done summary lacks %q: %s", want, summary)
		}
	}
}

// submitted runs steps that submit the page's form and waits until the next
// page has loaded.
func submitted(t *testing.T, ctx context.Context, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	do(t, ctx, chromedp.Evaluate[chromedp.Void](`window.prooflineOldPage = true`))
	do(t, ctx, steps...)
	waitJS(t, ctx, `!window.prooflineOldPage && document.readyState === 'complete'`)
}

// browserToDone goes on from a submitted information step (its next page
// loaded) through the phone step and returns the done page's summary (or
// where it stopped).
func browserToDone(t *testing.T, ctx context.Context) string {
	t.Helper()
	waitJS(t, ctx, `document.readyState === 'complete' && location.pathname !== '/verify/wait'`)
	if p, _ := chromedp.Run(ctx, chromedp.Evaluate[string]("location.pathname")); p == "/verify/phone" {
		waitPath(t, ctx, "/verify/phone")
		do(t, ctx, chromedp.SetValue(chromedp.CSS("#phone"), "7035551212"), chromedp.Click(chromedp.CSS("#submit")))
		waitPath(t, ctx, "/verify/done")
	}
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`location.pathname + ': ' + (document.querySelector('.summary') || document.body).innerText`))
	if err != nil {
		t.Fatal(err)
	}
	return s
}
