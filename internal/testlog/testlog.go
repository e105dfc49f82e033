// Package testlog collects the log output of code under test, written from
// many goroutines at once, so tests can read what was logged (and check
// that no PII was).
package testlog

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"testing"
)

// Buffer is an io.Writer safe for concurrent use.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

// String returns everything written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// Logger returns a JSON slog logger that writes to b.
func (b *Buffer) Logger() *slog.Logger { return slog.New(slog.NewJSONHandler(b, nil)) }

// Lines returns the log lines whose message is msg, decoded, in the order
// they were written. Every line must be a JSON object: a line that is not
// fails the test (the server's logs are JSON for the log pipeline).
func (b *Buffer) Lines(t testing.TB, msg string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for line := range strings.SplitSeq(b.String(), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line is not a JSON object: %v", err)
		}
		if m["msg"] == msg {
			out = append(out, m)
		}
	}
	return out
}
