package web

import "strings"

// The summary shows values masked: enough for the person to recognize them,
// not enough to read them off a shoulder or a screenshot.

// maskWords keeps the first character of every word.
func maskWords(s string) string {
	var b strings.Builder
	start := true
	for _, r := range s {
		switch {
		case r == ' ' || r == ',' || r == '-':
			b.WriteRune(r)
			start = true
		case start:
			b.WriteRune(r)
			start = false
		default:
			b.WriteRune('•')
		}
	}
	return b.String()
}

// maskKeep keeps the first head and last tail characters.
func maskKeep(s string, head, tail int) string {
	r := []rune(s)
	for i := range r {
		if i >= head && i < len(r)-tail {
			r[i] = '•'
		}
	}
	return string(r)
}

func maskSSN(s string) string {
	if len(s) < 4 {
		return maskKeep(s, 0, 0)
	}
	return "•••-••-" + s[len(s)-4:]
}

func maskPhone(s string) string {
	if len(s) < 4 {
		return maskKeep(s, 0, 0)
	}
	return "(•••) •••-" + s[len(s)-4:]
}

// maskDOB keeps the year.
func maskDOB(s string) string {
	if len(s) == 10 {
		return s[:4] + "-••-••"
	}
	return maskKeep(s, 0, 0)
}

func nonEmpty(ss ...string) []string {
	var out []string
	for _, s := range ss {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}
