package web

import "sync"

var testCatalogue = sync.OnceValues(loadCatalogue)

// Message is the catalogue's text of key in the language code, for tests
// that check what a page shows against the catalogue.
func Message(code, key string, args ...any) string {
	c, err := testCatalogue()
	if err != nil {
		panic(err)
	}
	t, ok := supported(code)
	if !ok {
		panic("web: no language " + code)
	}
	return c.lang(t).T(key, args...)
}

// Languages are the codes of the languages the pages speak.
func Languages() []string {
	var out []string
	for _, t := range languages {
		out = append(out, t.String())
	}
	return out
}
