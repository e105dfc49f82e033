package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"time"
)

// redisMonitor counts the commands clients send to a redis-server, through
// MONITOR. Unlike INFO commandstats it tells a command a client sent (one
// round trip, whatever runs inside it) from a command a Lua script ran: the
// latter is shown as coming from "lua". Commands of housekeeping (PING, INFO,
// HELLO, CLIENT, …) are not counted.
type redisMonitor struct {
	conn net.Conn
	mu   sync.Mutex
	// calls counts client-sent commands by name (lower case).
	calls map[string]int64
	// inner counts commands run inside scripts.
	inner int64
	done  chan struct{}
}

var monitorSkip = map[string]bool{
	"ping": true, "info": true, "hello": true, "client": true, "command": true, "monitor": true,
	"select": true, "auth": true, "flushdb": true, "strlen": true, "quit": true, "script": true,
}

func startRedisMonitor(ctx context.Context, addr string) (*redisMonitor, error) {
	d := net.Dialer{Timeout: 5 * time.Second}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	if _, err := io.WriteString(c, "*1\r\n$7\r\nMONITOR\r\n"); err != nil {
		c.Close()
		return nil, err
	}
	m := &redisMonitor{conn: c, calls: map[string]int64{}, done: make(chan struct{})}
	br := bufio.NewReaderSize(c, 1<<20)
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	first, err := br.ReadString('\n')
	if err != nil || !strings.HasPrefix(first, "+OK") {
		c.Close()
		return nil, fmt.Errorf("MONITOR not accepted: %q %v", strings.TrimSpace(first), err)
	}
	_ = c.SetReadDeadline(time.Time{})
	go func() {
		defer close(m.done)
		for {
			line, err := br.ReadSlice('\n')
			if err != nil && err != bufio.ErrBufferFull {
				return
			}
			m.count(line)
		}
	}()
	return m, nil
}

// count reads one MONITOR line: +1700000000.123456 [0 127.0.0.1:5000] "SET" "k" …
// or, for a command a script ran, [0 lua].
func (m *redisMonitor) count(line []byte) {
	s := string(line)
	open := strings.IndexByte(s, '[')
	cl := strings.IndexByte(s, ']')
	if open < 0 || cl < open {
		return
	}
	src := s[open+1 : cl]
	rest := s[cl+1:]
	q1 := strings.IndexByte(rest, '"')
	if q1 < 0 {
		return
	}
	q2 := strings.IndexByte(rest[q1+1:], '"')
	if q2 < 0 {
		return
	}
	name := strings.ToLower(rest[q1+1 : q1+1+q2])
	m.mu.Lock()
	defer m.mu.Unlock()
	if strings.HasSuffix(src, " lua") {
		m.inner++
		return
	}
	if !monitorSkip[name] {
		m.calls[name]++
	}
}

// snapshot returns the client-sent commands counted so far, after a short
// pause so lines of commands already answered have arrived.
func (m *redisMonitor) snapshot() map[string]int64 {
	time.Sleep(200 * time.Millisecond)
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[string]int64, len(m.calls))
	for k, v := range m.calls {
		out[k] = v
	}
	return out
}

func (m *redisMonitor) close() {
	m.conn.Close()
	<-m.done
}

// diffStats is b − a per command, without INFO and without zeros.
func diffStats(a, b map[string]int64) map[string]int64 {
	out := map[string]int64{}
	for k, v := range b {
		if d := v - a[k]; d > 0 && !monitorSkip[k] {
			out[k] = d
		}
	}
	return out
}

// perJob divides command counts by jobs: per command, and in total (each
// command a client sent is one round trip; a script counts once).
func perJob(calls map[string]int64, jobs int) (map[string]float64, float64) {
	if jobs <= 0 {
		return nil, 0
	}
	out := map[string]float64{}
	var all int64
	for k, v := range calls {
		out[k] = float64(v) / float64(jobs)
		all += v
	}
	return out, float64(all) / float64(jobs)
}

func completedOf(lr *loadResult) int {
	n := 0
	for i := range lr.records {
		if lr.records[i].status == "done" {
			n++
		}
	}
	return n
}

func completedOpen(lr *openLoopRun) int {
	n := 0
	for i := range lr.records {
		if lr.records[i].status == "done" {
			n++
		}
	}
	return n
}

func openCompleted(r *openLoopResult) int {
	if r == nil {
		return 0
	}
	return r.Completed
}
