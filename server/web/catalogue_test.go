package web

import (
	"encoding/json"
	"io/fs"
	"os"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/proofline/proofline"
	"github.com/proofline/proofline/blobstore"
	"github.com/proofline/proofline/proofer"
	"github.com/proofline/proofline/proofer/aamva"
	"github.com/proofline/proofline/proofer/lexisnexis"
	"github.com/proofline/proofline/proofer/mockvendor"
	"github.com/proofline/proofline/proofer/trueid"
)

// usedKeys are the catalogue keys the pages, the handlers and app.js use.
func usedKeys(t *testing.T) map[string]string {
	t.Helper()
	used := map[string]string{} // key → where
	add := func(where string, keys ...string) {
		for _, k := range keys {
			if _, ok := used[k]; !ok {
				used[k] = where
			}
		}
	}
	// Templates: {{.T "key" ...}} and {{$.T "key" ...}}.
	tmplRE := regexp.MustCompile(`\.T "([^"]+)"`)
	names, _ := fs.Glob(templateFS, "templates/*.html")
	for _, n := range names {
		b, _ := templateFS.ReadFile(n)
		for _, m := range tmplRE.FindAllStringSubmatch(string(b), -1) {
			add(n, m[1])
		}
	}
	// Go: key literals, and the families built from a name.
	goRE := regexp.MustCompile(`"((?:common|steps|errors|vendor|start|document|units|wait|info|label|hint|show|id_type|phone|done|timeout|error|busy|limit|month|language|link|date)\.[a-z0-9_]*[a-z0-9])"`)
	srcs, _ := fs.Glob(os.DirFS("."), "*.go")
	for _, n := range srcs {
		if strings.HasSuffix(n, "_test.go") {
			continue
		}
		b, err := os.ReadFile(n)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range goRE.FindAllStringSubmatch(string(b), -1) {
			add(n, m[1])
		}
	}
	for _, side := range blobstore.Sides() {
		add("document()", "document."+string(side)+"_label", "document."+string(side)+"_hint", "document."+string(side)+"_preview")
	}
	for _, f := range append(append(slices.Clone(infoFields), identityFields...), phoneField) {
		add("fieldView", "label."+f.Name)
		if f.Hint {
			add("fieldView", "hint."+f.Name)
		}
		if f.Toggle {
			add("fieldView", "show."+f.Name)
		}
	}
	for _, n := range fromID {
		add("renderInfo", "label."+n)
	}
	for _, v := range idTypes {
		add("renderInfo", "id_type."+v)
	}
	for m := 1; m <= 12; m++ {
		add("limit", "month."+strconv.Itoa(m))
	}
	for _, s := range []string{screenTimeout, screenError, screenBusy} {
		add("screen", s+".title")
	}
	for _, f := range requiredFields {
		add("validationKey", "errors.required_"+f)
	}
	for _, m := range []map[string]string{validationKeys, vendorMessageKeys, vendorFieldKeys} {
		for _, k := range m {
			add("messages.go", k)
		}
	}
	// app.js: t('name') is js.name; add_{side} names its side.
	js, err := staticFS.ReadFile("static/app.js")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range regexp.MustCompile(`\bt\('([a-z_]*[a-z])'`).FindAllStringSubmatch(string(js), -1) {
		add("app.js", "js."+m[1])
	}
	for _, m := range regexp.MustCompile(`'(wait_left_[a-z]+)'`).FindAllStringSubmatch(string(js), -1) {
		add("app.js", "js."+m[1])
	}
	if strings.Contains(string(js), `t('add_' + side)`) {
		for _, side := range blobstore.Sides() {
			add("app.js", "js.add_"+string(side))
		}
	}
	return used
}

// verbRE matches the fmt verbs of a message, and braceRE app.js's
// placeholders.
var (
	verbRE  = regexp.MustCompile(`%(?:\[(\d+)\])?[sdv]`)
	braceRE = regexp.MustCompile(`\{[a-z]+\}`)
)

// placeholders are a message's fmt verbs by argument and its {names}.
func placeholders(s string) []string {
	var out []string
	next := 1
	for _, m := range verbRE.FindAllStringSubmatch(s, -1) {
		arg := next
		if m[1] != "" {
			arg, _ = strconv.Atoi(m[1])
		}
		next = arg + 1
		out = append(out, strconv.Itoa(arg)+m[0][len(m[0])-1:])
	}
	out = append(out, braceRE.FindAllString(s, -1)...)
	sort.Strings(out)
	return out
}

// TestCataloguesAreComplete: every language has every key, every key a page,
// handler or app.js uses is there, no key is unused, and each message has
// the placeholders of the English one.
func TestCataloguesAreComplete(t *testing.T) {
	c, err := loadCatalogue()
	if err != nil {
		t.Fatal(err)
	}
	en := c.keys["en"]
	if len(en) < 100 {
		t.Fatalf("only %d English keys", len(en))
	}
	raw := map[string]map[string]json.RawMessage{}
	for _, tag := range languages {
		code := tag.String()
		b, _ := localeFS.ReadFile("locales/" + code + ".json")
		var m map[string]json.RawMessage
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		raw[code] = m
		for _, k := range en {
			if _, ok := m[k]; !ok {
				t.Errorf("locales/%s.json lacks %q", code, k)
			}
		}
		for k := range m {
			if !slices.Contains(en, k) {
				t.Errorf("locales/%s.json has %q, which English lacks", code, k)
			}
		}
	}
	used := usedKeys(t)
	for k, where := range used {
		if !slices.Contains(en, k) {
			t.Errorf("%s uses %q, which no catalogue has", where, k)
		}
	}
	for _, k := range en {
		if _, ok := used[k]; !ok {
			t.Errorf("%q is in the catalogues but nothing uses it", k)
		}
	}
	// Placeholders: every form of every language has the English ones.
	forms := func(r json.RawMessage) map[string]string {
		var s string
		if json.Unmarshal(r, &s) == nil {
			return map[string]string{"": s}
		}
		var m map[string]string
		_ = json.Unmarshal(r, &m)
		return m
	}
	for _, k := range en {
		want := placeholders(forms(raw["en"][k])["other"] + forms(raw["en"][k])[""])
		for code, m := range raw {
			for form, s := range forms(m[k]) {
				if got := placeholders(s); !slices.Equal(got, want) && !(form == "one" && len(got) == 0) {
					t.Errorf("locales/%s.json %s %s: placeholders %v, English has %v", code, k, form, got, want)
				}
			}
		}
	}
}

// TestEveryVendorMessageIsTranslated: each failure a vendor adapter or the
// proofer can put in a result, and each validation message of a form field,
// maps to a message of its own, not the fallback.
func TestEveryVendorMessageIsTranslated(t *testing.T) {
	for _, m := range []string{
		mockvendor.MsgUnverifiedFirstName, mockvendor.MsgUnverifiedSSN, mockvendor.MsgUnverifiedZipcode,
		mockvendor.MsgUnverifiedPhone, mockvendor.MsgUnverifiedJurisdiction, mockvendor.MsgUnverifiedStateIDNumber,
		mockvendor.MsgUnverifiedStateIDType, mockvendor.MsgDocumentFailed, proofer.MsgIDExpired,
		aamva.MsgUnsupportedJurisdiction, aamva.MsgUnsupportedType, lexisnexis.MsgUnverifiedPhone,
		"Unverified address.", "Unverified date of birth.", "Unverified state ID number.",
		trueid.ErrDocTypeCheck, trueid.ErrDPILow, trueid.ErrSharpLow, trueid.ErrGlareLow, trueid.ErrGeneral,
		trueid.ErrMultipleFront, trueid.ErrMultipleBack, trueid.ErrSelfieNotLive, trueid.ErrSelfieFailure,
	} {
		if _, ok := vendorMessageKeys[m]; !ok {
			t.Errorf("vendor message %q has no key", m)
		}
	}
	// The proofer's "could not read" names the fields it missed.
	if k := vendorKey(proofline.KindDocument, "general", "We could not read your date of birth from your ID. Take new photos of your ID, or use another ID."); k != msgDocumentUnusable {
		t.Errorf("identity unread → %q", k)
	}
	// AAMVA answers only UNVERIFIED or MISSING, per field.
	for _, f := range []string{"dob", "last_name", "state_id_number", "state_id_type"} {
		if k := vendorKey(proofline.KindResolution, f, aamva.MsgUnverified); k == "vendor.unverified_generic" {
			t.Errorf("AAMVA %s: the fallback", f)
		}
	}
	a := proofline.Applicant{SSN: "12-34", State: "Virginia", Zipcode: "123", Phone: "555", DOB: "1980-13-40", City: proofline.PII(strings.Repeat("x", 300))}
	var v proofline.ValidationError
	a.Validate(proofline.ApplicantRules{RequireIdentity: true, RequirePhone: true}, time.Now(), "", &v)
	if len(v.Fields) < 8 {
		t.Fatalf("only %d validation errors", len(v.Fields))
	}
	for _, f := range v.Fields {
		if k := validationKey(f); k == "errors.invalid" || k == "errors.required" && slices.Contains(requiredFields, f.Field) {
			t.Errorf("validation %s %q → %s", f.Field, f.Message, k)
		}
	}
}

// TestLanguageChoice: the session's locale first, then Accept-Language,
// then English.
func TestLanguageChoice(t *testing.T) {
	c, err := loadCatalogue()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ locale, accept, want string }{
		{"", "", "en"},
		{"", "fr-CA,fr;q=0.9,en;q=0.5", "fr"},
		{"", "es-MX", "es"},
		{"", "de-DE,de;q=0.9", "en"},
		{"", "de;q=0.9,es;q=0.5", "es"},
		{"", "en-GB;q=0.3,fr;q=0.8", "fr"},
		{"es", "fr", "es"},
		{"fr-CA", "es", "fr"},
		{"pt-BR", "fr", "fr"},
		{"not a tag", "es", "es"},
	} {
		if got := c.match(tc.locale, tc.accept).String(); got != tc.want {
			t.Errorf("locale %q, Accept-Language %q: %s, want %s", tc.locale, tc.accept, got, tc.want)
		}
	}
}
