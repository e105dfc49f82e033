// Package testproc holds what the test-server harnesses (redistest, s3test,
// lambdatest) share: a free loopback port, a bounded buffer for a child
// process's output, and the child process's lifecycle.
package testproc

import (
	"bytes"
	"fmt"
	"net"
	"os/exec"
	"sync"
	"syscall"
	"time"
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

// Process is a child process a harness started: its output tail, its exit,
// and a stop that escalates from SIGTERM to SIGKILL.
type Process struct {
	// Out is the tail of the process's stdout and stderr.
	Out  *TailBuffer
	cmd  *exec.Cmd
	exit chan struct{}
	once sync.Once
}

// Start starts cmd with its output going to a TailBuffer of tail bytes.
func Start(cmd *exec.Cmd, tail int) (*Process, error) {
	p := &Process{Out: &TailBuffer{Max: tail}, cmd: cmd, exit: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.Out, p.Out
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	go func() {
		_ = cmd.Wait()
		close(p.exit)
	}()
	return p, nil
}

// Exited is closed once the process has exited.
func (p *Process) Exited() <-chan struct{} { return p.exit }

// WaitReady calls ready every interval until it answers nil. It fails when
// the process exits first or timeout passes (then it stops the process); the
// error carries the output tail.
func (p *Process) WaitReady(timeout, interval time.Duration, ready func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := ready()
		if err == nil {
			return nil
		}
		select {
		case <-p.exit:
			return fmt.Errorf("exited at start:\n%s", p.Out.String())
		case <-time.After(interval):
		}
		if time.Now().After(deadline) {
			p.Stop(10 * time.Second)
			return fmt.Errorf("not ready within %s (last error: %v):\n%s", timeout, err, p.Out.String())
		}
	}
}

// Stop sends SIGTERM, waits up to grace, then SIGKILL, and waits for the
// exit. It is idempotent and safe on a nil Process.
func (p *Process) Stop(grace time.Duration) {
	if p == nil {
		return
	}
	p.once.Do(func() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.exit:
		case <-time.After(grace):
			_ = p.cmd.Process.Kill()
			<-p.exit
		}
	})
}

// Kill sends SIGKILL and waits for the exit: a crash, for fault tests. Stop
// afterwards does nothing.
func (p *Process) Kill() {
	if p == nil {
		return
	}
	p.once.Do(func() {
		_ = p.cmd.Process.Kill()
		<-p.exit
	})
}

// Pid is the process id.
func (p *Process) Pid() int { return p.cmd.Process.Pid }
