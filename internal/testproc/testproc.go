// Package testproc holds what the test-server harnesses (redistest, s3test,
// lambdatest) share: a free loopback port and a bounded buffer for a child
// process's output.
package testproc

import (
	"bytes"
	"net"
	"sync"
)

// FreePort returns a TCP port that was free on 127.0.0.1 a moment ago.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// TailBuffer keeps the last Max bytes written to it, for error messages
// about a child process. Safe for concurrent use.
type TailBuffer struct {
	Max int
	mu  sync.Mutex
	b   bytes.Buffer
}

// Write appends p, dropping the oldest bytes beyond Max.
func (t *TailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b.Write(p)
	if over := t.b.Len() - t.Max; over > 0 {
		t.b.Next(over)
	}
	return len(p), nil
}

// String returns what the buffer holds.
func (t *TailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.b.String()
}
