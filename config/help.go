package config

import (
	"embed"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"reflect"
	"sort"
	"strings"
	"sync"
	"unicode"
)

// The meaning of every key is the doc comment above its field in this
// package's source: the sources are embedded and read here, so `--help` and
// the struct cannot drift apart and there is no second list to keep. A
// comment above a block of fields with no blank line between them documents
// each field of the block.
//
//go:embed *.go
var goSources embed.FS

// KeyDoc describes one configuration key for `--help`.
type KeyDoc struct {
	Key string
	// Env is the environment variable that sets Key.
	Env string
	// Type says what a value must look like ("a whole number", ...).
	Type string
	// Default is the default value as it would be written in YAML, or
	// "(empty)".
	Default string
	// Secret keys are never logged and may come from SSM Parameter Store.
	Secret bool
	// Doc is the meaning: the field's doc comment, with Go field names
	// replaced by their keys.
	Doc string
}

// Docs describes every configuration key, in declaration order.
func Docs() []KeyDoc {
	docs := fieldDocs()
	def := reflect.ValueOf(Defaults())
	t := reflect.TypeFor[Config]()
	var out []KeyDoc
	for _, f := range fields() {
		sf := t.FieldByIndex(f.index)
		out = append(out, KeyDoc{
			Key:     f.key,
			Env:     EnvName(f.key),
			Type:    describe(def.FieldByIndex(f.index)),
			Default: formatDefault(def.FieldByIndex(f.index)),
			Secret:  sf.Tag.Get("secret") == "true",
			Doc:     docs[f.key],
		})
	}
	return out
}

// WriteHelp writes every configuration key with its environment variable,
// default and meaning, wrapped for a terminal.
func WriteHelp(w io.Writer) error {
	var b strings.Builder
	b.WriteString("Configuration keys (defaults, then the --config YAML file, then the environment;\n")
	b.WriteString("each key is also PROOFLINE_<KEY IN UPPER CASE>; lists are comma-separated):\n")
	for _, d := range Docs() {
		b.WriteString("\n  " + d.Key + "  (" + d.Env + ")\n")
		kind := d.Type
		if d.Secret {
			kind += ", secret"
		}
		b.WriteString("      default: " + d.Default + "  [" + kind + "]\n")
		for _, line := range wrap(d.Doc, 72) {
			b.WriteString("      " + line + "\n")
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func formatDefault(v reflect.Value) string {
	var s string
	switch v.Kind() {
	case reflect.Slice:
		parts := make([]string, v.Len())
		for i := range parts {
			parts[i] = fmt.Sprint(v.Index(i).Interface())
		}
		s = strings.Join(parts, ",")
	case reflect.Float64:
		s = formatFloat(v.Float())
	default:
		s = fmt.Sprint(v.Interface())
	}
	if s == "" {
		return "(empty)"
	}
	return s
}

func wrap(text string, width int) []string {
	var lines []string
	line := ""
	for _, word := range strings.Fields(text) {
		if line != "" && len(line)+1+len(word) > width {
			lines = append(lines, line)
			line = ""
		}
		if line != "" {
			line += " "
		}
		line += word
	}
	if line != "" {
		lines = append(lines, line)
	}
	return lines
}

// fieldDocs maps each key to its doc comment, read once from the embedded
// sources.
var fieldDocs = sync.OnceValue(func() map[string]string {
	type fieldDoc struct{ goName, key, doc string }
	var all []fieldDoc
	fset := token.NewFileSet()
	names, _ := goSources.ReadDir(".")
	sort.Slice(names, func(i, j int) bool { return names[i].Name() < names[j].Name() })
	for _, n := range names {
		if strings.HasSuffix(n.Name(), "_test.go") {
			continue
		}
		src, err := goSources.ReadFile(n.Name())
		if err != nil {
			continue
		}
		f, err := parser.ParseFile(fset, n.Name(), src, parser.ParseComments)
		if err != nil {
			continue
		}
		ast.Inspect(f, func(node ast.Node) bool {
			st, ok := node.(*ast.StructType)
			if !ok {
				return true
			}
			prevDoc, prevEnd := "", -1
			for _, fl := range st.Fields.List {
				doc := ""
				if fl.Doc != nil {
					doc = fl.Doc.Text()
				} else if fset.Position(fl.Pos()).Line == prevEnd+1 {
					doc = prevDoc // one comment above a block documents each field
				}
				prevDoc, prevEnd = doc, fset.Position(fl.End()).Line
				if fl.Tag == nil {
					continue
				}
				key := reflect.StructTag(strings.Trim(fl.Tag.Value, "`")).Get("key")
				for _, id := range fl.Names {
					if key != "" {
						all = append(all, fieldDoc{goName: id.Name, key: key, doc: doc})
					}
				}
			}
			return true
		})
	}
	keyOf := map[string]string{}
	for _, fd := range all {
		keyOf[fd.goName] = fd.key
	}
	out := map[string]string{}
	for _, fd := range all {
		out[fd.key] = withKeys(strings.Join(strings.Fields(fd.doc), " "), keyOf)
	}
	return out
})

// withKeys replaces each Go field name in text by its configuration key:
// "AsyncWaitTimeoutSeconds is how long" → "async_wait_timeout_seconds is how long".
func withKeys(text string, keyOf map[string]string) string {
	var b strings.Builder
	word := func(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) || r == '_' }
	rs := []rune(text)
	for i := 0; i < len(rs); {
		if !word(rs[i]) {
			b.WriteRune(rs[i])
			i++
			continue
		}
		j := i
		for j < len(rs) && word(rs[j]) {
			j++
		}
		w := string(rs[i:j])
		if k, ok := keyOf[w]; ok {
			w = k
		}
		b.WriteString(w)
		i = j
	}
	return b.String()
}
