package config

import (
	"errors"
	"io/fs"
	"reflect"
	"sort"
	"strings"
)

// EnvPrefix starts every configuration environment variable.
const EnvPrefix = "PROOFLINE_"

// toolEnv are the variables with the PROOFLINE_ prefix that are not
// configuration: the test suite and the Makefile read them, and a command
// started from `make test` inherits them.
var toolEnv = map[string]bool{
	"PROOFLINE_ARTIFACTS":        true, // where the browser tests leave screenshots
	"PROOFLINE_DOCS_SCREENSHOTS": true, // refresh docs/screenshots from the browser tests
	"PROOFLINE_TOOL_CACHE":       true, // where test servers are built (internal/gotool)
	"PROOFLINE_CHAOS":            true, // 1: the long fault runs of make chaos (internal/chaos)
	"PROOFLINE_CHAOS_REPORT":     true, // file make chaos appends its README rows to (internal/chaos)
}

// ToolEnv lists the PROOFLINE_ variables that are not configuration keys.
func ToolEnv() []string {
	out := make([]string, 0, len(toolEnv))
	for k := range toolEnv {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// sourceDefault is where a value nobody set comes from.
const sourceDefault = "the default"

// sources remembers, per key, where its value came from: a file path or an
// environment variable. Keys not in it hold their default.
type origins map[string]string

// checkEnv refuses a PROOFLINE_ variable that names no key, suggesting the
// closest key: a typo would otherwise be silently ignored.
func checkEnv(environ []string) error {
	known := map[string]bool{}
	for _, k := range Keys() {
		known[EnvName(k)] = true
	}
	for old := range renamed { // applyEnv says what each became
		known[EnvName(old)] = true
	}
	var unknown []string
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, EnvPrefix) && !known[name] && !toolEnv[name] {
			unknown = append(unknown, name)
		}
	}
	if len(unknown) == 0 {
		return nil
	}
	sort.Strings(unknown)
	name := unknown[0]
	msg := "unknown environment variable"
	if k := closestKey(strings.ToLower(strings.TrimPrefix(name, EnvPrefix))); k != "" {
		msg += "; did you mean " + EnvName(k) + "?"
	} else {
		msg += "; `proofline serve --help` lists every key"
	}
	return &Error{Key: name, Msg: msg}
}

// unknownKey is the error of a file key that names no configuration key.
func unknownKey(key, path string) error {
	msg := "unknown key"
	if k := closestKey(key); k != "" {
		msg += "; did you mean " + k + "?"
	} else {
		msg += "; `proofline serve --help` lists every key"
	}
	return &Error{Key: key, Msg: msg, From: path}
}

// closestKey is the key nearest to s by edit distance, or "" when none is
// near enough to be the intended one.
func closestKey(s string) string {
	best, bestD := "", -1
	for _, k := range Keys() {
		// A name cut short is a near miss of the shortest key it starts.
		if len(s) >= 6 && strings.HasPrefix(k, s) && (bestD != 0 || len(k) < len(best)) {
			best, bestD = k, 0
			continue
		}
		if d := editDistance(s, k); bestD < 0 || d < bestD {
			best, bestD = k, d
		}
	}
	if best != "" && bestD <= max(2, len(s)/3) {
		return best
	}
	return ""
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// readError names the file and the operating system's reason.
func readError(path string, err error) error {
	reason := err.Error()
	var pe *fs.PathError
	if errors.As(err, &pe) {
		reason = pe.Err.Error()
	}
	return &Error{Key: "--config", Msg: "cannot read " + path + ": " + reason}
}

// withSource adds to a validation error where the bad value came from: the
// file, the environment variable, or the default. A key with no value (a
// required key left empty) gets no source.
func withSource(err error, c *Config, src origins) error {
	var ce *Error
	if !errors.As(err, &ce) || ce.From != "" {
		return err
	}
	if from, ok := src[ce.Key]; ok {
		ce.From = from
		return err
	}
	if idx, ok := fieldsByKey()[ce.Key]; ok && !reflect.ValueOf(c).Elem().FieldByIndex(idx).IsZero() {
		ce.From = sourceDefault
	}
	return err
}
