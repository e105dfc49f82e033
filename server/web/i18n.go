package web

import (
	"embed"
	"encoding/json"
	"fmt"
	"slices"
	"sort"

	"golang.org/x/text/feature/plural"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
	"golang.org/x/text/message/catalog"
)

// The pages speak English, Spanish and French. Every string a person reads
// (page text, titles, errors, vendor failures, what app.js shows) is a key
// in the message catalogues locales/{en,es,fr}.json. A value is a string, or
// for a count an object of CLDR plural forms ({"one": ..., "other": ...})
// chosen by the first argument. Placeholders are fmt verbs (%s, %d, %[2]s),
// formatted by golang.org/x/text/message with the language's number
// formatting; the js.* keys are for app.js, which fills {name} placeholders
// itself. TestCataloguesAreComplete fails when a key is missing in any
// language, or when a used key is in none.

//go:embed locales/*.json
var localeFS embed.FS

// languages the pages speak, in the switcher's order; the first is the
// fallback when nothing else matches.
var languages = []language.Tag{language.English, language.Spanish, language.French}

// pluralForms are the CLDR plural categories, in the order plural.Selectf
// must see them ("other" last).
var pluralForms = []string{"zero", "one", "two", "few", "many", "other"}

// catalogue holds the messages of every language.
type catalogue struct {
	cat     *catalog.Builder
	matcher language.Matcher
	// keys are the message keys of each language (by code), for tests.
	keys map[string][]string
	// js are the js.* keys, handed to app.js on every page.
	js []string
}

func loadCatalogue() (*catalogue, error) {
	c := &catalogue{
		cat:     catalog.NewBuilder(catalog.Fallback(languages[0])),
		matcher: language.NewMatcher(languages),
		keys:    map[string][]string{},
	}
	for _, tag := range languages {
		code := tag.String()
		b, err := localeFS.ReadFile("locales/" + code + ".json")
		if err != nil {
			return nil, err
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(b, &m); err != nil {
			return nil, fmt.Errorf("web: locales/%s.json: %w", code, err)
		}
		for key, raw := range m {
			var s string
			if json.Unmarshal(raw, &s) == nil {
				if err := c.cat.SetString(tag, key, s); err != nil {
					return nil, fmt.Errorf("web: locales/%s.json %s: %w", code, key, err)
				}
			} else {
				var forms map[string]string
				if err := json.Unmarshal(raw, &forms); err != nil || forms["other"] == "" {
					return nil, fmt.Errorf("web: locales/%s.json %s: a string, or plural forms with \"other\"", code, key)
				}
				var cases []any
				for _, f := range pluralForms {
					if v, ok := forms[f]; ok {
						cases = append(cases, f, v)
					}
				}
				if len(cases) != 2*len(forms) {
					return nil, fmt.Errorf("web: locales/%s.json %s: unknown plural form", code, key)
				}
				if err := c.cat.Set(tag, key, plural.Selectf(1, "%d", cases...)); err != nil {
					return nil, fmt.Errorf("web: locales/%s.json %s: %w", code, key, err)
				}
			}
			c.keys[code] = append(c.keys[code], key)
			if code == languages[0].String() && len(key) > 3 && key[:3] == "js." {
				c.js = append(c.js, key)
			}
		}
		sort.Strings(c.keys[code])
	}
	sort.Strings(c.js)
	return c, nil
}

// match picks the language: the session's locale when the pages speak it,
// then the browser's Accept-Language, then English.
func (c *catalogue) match(locale, acceptLanguage string) language.Tag {
	if locale != "" {
		if t, err := language.Parse(locale); err == nil {
			if _, i, conf := c.matcher.Match(t); conf >= language.High {
				return languages[i]
			}
		}
	}
	if tags, _, err := language.ParseAcceptLanguage(acceptLanguage); err == nil && len(tags) > 0 {
		if _, i, conf := c.matcher.Match(tags...); conf != language.No {
			return languages[i]
		}
	}
	return languages[0]
}

// supported returns the language of code when the pages speak exactly it.
func supported(code string) (language.Tag, bool) {
	i := slices.IndexFunc(languages, func(t language.Tag) bool { return t.String() == code })
	if i < 0 {
		return language.Und, false
	}
	return languages[i], true
}

// lang is one request's language.
type lang struct {
	Tag  language.Tag
	Code string // "en", "es", "fr": the lang attribute
	p    *message.Printer
	c    *catalogue
}

func (c *catalogue) lang(t language.Tag) *lang {
	return &lang{Tag: t, Code: t.String(), p: message.NewPrinter(t, message.Catalog(c.cat)), c: c}
}

// T is the message key in this language, formatted with args.
func (l *lang) T(key string, args ...any) string { return l.p.Sprintf(key, args...) }

// JS are the messages app.js shows, in this language.
func (l *lang) JS() map[string]string {
	m := make(map[string]string, len(l.c.js))
	for _, k := range l.c.js {
		m[k[3:]] = l.T(k)
	}
	return m
}
