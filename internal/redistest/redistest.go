// Package redistest runs a real redis-server for tests: one per test package
// (see Main), on a free 127.0.0.1 port, without persistence, in a temporary
// directory. Tests share it and stay apart by using a fresh key prefix each
// (see Prefix), so they can run with t.Parallel().
//
// The redis-server binary must be on PATH; `make deps` installs it. When it is
// missing, Start fails and says so: tests that need Redis never skip.
package redistest

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/proofline/proofline/internal/testproc"
)

const (
	startTimeout = 15 * time.Second
	stopTimeout  = 10 * time.Second
)

// Options configures a server. The zero value is what Start uses.
type Options struct {
	// Password, when set, is required from clients (--requirepass); URL then
	// carries it.
	Password string
	// Args are more redis-server arguments, e.g. --replicaof host port.
	Args []string
}

// Server is one running redis-server.
type Server struct {
	bin      string
	port     int
	dir      string
	password string
	args     []string

	mu   sync.Mutex
	proc *testproc.Process
}

// Start starts a redis-server on a free 127.0.0.1 port and waits until it
// answers PING.
func Start() (*Server, error) { return StartWith(Options{}) }

// StartWith is Start with options.
func StartWith(o Options) (*Server, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, errors.New("redistest: redis-server not found on PATH; run `make deps` to install it")
	}
	dir, err := os.MkdirTemp("", "redistest-")
	if err != nil {
		return nil, fmt.Errorf("redistest: %w", err)
	}
	s := &Server{bin: bin, dir: dir, password: o.Password, args: o.Args}
	// A free port can be taken between finding it and redis binding it:
	// try a few.
	for attempt := 0; ; attempt++ {
		s.port, err = testproc.FreePort()
		if err == nil {
			err = s.start()
		}
		if err == nil {
			return s, nil
		}
		if attempt == 4 {
			os.RemoveAll(dir)
			return nil, err
		}
	}
}

func (s *Server) start() error {
	args := []string{
		"--port", strconv.Itoa(s.port),
		"--bind", "127.0.0.1",
		"--save", "",
		"--appendonly", "no",
		"--dir", s.dir,
	}
	if s.password != "" {
		args = append(args, "--requirepass", s.password)
	}
	args = append(args, s.args...)
	proc, err := testproc.Start(exec.Command(s.bin, args...), 8<<10)
	if err != nil {
		return fmt.Errorf("redistest: start redis-server: %w", err)
	}
	s.mu.Lock()
	s.proc = proc
	s.mu.Unlock()
	if err := proc.WaitReady(startTimeout, 10*time.Millisecond, s.ping); err != nil {
		return fmt.Errorf("redistest: redis-server on port %d %w", s.port, err)
	}
	return nil
}

// ping sends one PING over a plain connection (no client library), with AUTH
// first when a password is set.
func (s *Server) ping() error {
	c, err := net.DialTimeout("tcp", s.Addr(), time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	r := bufio.NewReader(c)
	if s.password != "" {
		if _, err := fmt.Fprintf(c, "*2\r\n$4\r\nAUTH\r\n$%d\r\n%s\r\n", len(s.password), s.password); err != nil {
			return err
		}
		if line, err := r.ReadString('\n'); err != nil {
			return err
		} else if !strings.HasPrefix(line, "+OK") {
			return errors.New("AUTH refused")
		}
	}
	if _, err := io.WriteString(c, "*1\r\n$4\r\nPING\r\n"); err != nil {
		return err
	}
	line, err := r.ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, "+PONG") {
		return fmt.Errorf("unexpected PING reply %q", strings.TrimSpace(line))
	}
	return nil
}

// Addr is the server's host:port.
func (s *Server) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)) }

// URL is the redis_url of database 0, with the password when one is set.
func (s *Server) URL() string {
	if s.password != "" {
		return "redis://:" + s.password + "@" + s.Addr() + "/0"
	}
	return "redis://" + s.Addr() + "/0"
}

// Stop stops the server and removes its directory. It is idempotent.
func (s *Server) Stop() {
	s.stop()
	os.RemoveAll(s.dir)
}

// stop terminates the process (SIGTERM, then SIGKILL) and waits for it.
func (s *Server) stop() {
	s.mu.Lock()
	proc := s.proc
	s.proc = nil
	s.mu.Unlock()
	proc.Stop(stopTimeout)
}

// Down stops the process but keeps its port and directory, so Restart brings
// it back: an outage, for fault tests.
func (s *Server) Down() { s.stop() }

// Kill kills the process with SIGKILL (a crash: nothing is flushed or
// handed over) and keeps its port and directory.
func (s *Server) Kill() {
	s.mu.Lock()
	proc := s.proc
	s.proc = nil
	s.mu.Unlock()
	proc.Kill()
}

// Restart stops the server and starts it again on the same port. Data is not
// kept (there is no persistence), so every key is gone afterwards.
func (s *Server) Restart() error {
	s.stop()
	return s.start()
}

// Client returns a rueidis client connected to the server; the caller closes it.
func (s *Server) Client() (rueidis.Client, error) {
	return rueidis.NewClient(rueidis.ClientOption{
		InitAddress:  []string{s.Addr()},
		Password:     s.password,
		DisableCache: true,
	})
}

// QueueUser creates the Redis user README's queue section gives `proofline
// worker` processes: it can touch only asynq's keys and channels, never the
// result store, and runs no admin or dangerous command. With queuePrefix
// empty it may touch every asynq key (asynq:*); otherwise only the queues
// named <queuePrefix>-<kind> and asynq's shared bookkeeping keys. It returns
// the user's redis:// URL (database 0).
func (s *Server) QueueUser(ctx context.Context, name, password, queuePrefix string) (string, error) {
	c, err := s.Client()
	if err != nil {
		return "", err
	}
	defer c.Close()
	keys := []string{"~asynq:*"}
	if queuePrefix != "" {
		keys = []string{"~asynq:{" + queuePrefix + "-*}:*", "~asynq:servers*", "~asynq:workers*", "~asynq:queues"}
	}
	args := append([]string{"SETUSER", name, "reset", "on", ">" + password}, keys...)
	args = append(args, "&asynq:*", "+@all", "-@admin", "-@dangerous", "+info", "+client|setname")
	err = c.Do(ctx, c.B().Arbitrary("ACL").Args(args...).Build()).Error()
	if err != nil {
		return "", err
	}
	return "redis://" + name + ":" + password + "@" + s.Addr() + "/0", nil
}

// Dump returns every string key in database 0 with its value, so a test can
// check that nothing stored holds plaintext.
func (s *Server) Dump(ctx context.Context) (map[string][]byte, error) {
	c, err := s.Client()
	if err != nil {
		return nil, fmt.Errorf("redistest: dump: %w", err)
	}
	defer c.Close()
	all := map[string][]byte{}
	cursor := uint64(0)
	for {
		e, err := c.Do(ctx, c.B().Scan().Cursor(cursor).Count(1000).Build()).AsScanEntry()
		if err != nil {
			return nil, fmt.Errorf("redistest: dump: scan: %w", err)
		}
		for _, k := range e.Elements {
			v, err := dumpKey(ctx, c, k)
			switch {
			case rueidis.IsRedisNil(err): // expired since the scan
			case err != nil:
				return nil, fmt.Errorf("redistest: dump: %w", err)
			default:
				all[k] = v
			}
		}
		if e.Cursor == 0 {
			return all, nil
		}
		cursor = e.Cursor
	}
}

// dumpKey reads a key of any type: a string's value, or every member, field,
// value and score of a list, set, sorted set, hash or stream, joined by
// newlines.
func dumpKey(ctx context.Context, c rueidis.Client, k string) ([]byte, error) {
	typ, err := c.Do(ctx, c.B().Type().Key(k).Build()).ToString()
	if err != nil {
		return nil, err
	}
	var cmd rueidis.Completed
	switch typ {
	case "none":
		return nil, rueidis.Nil
	case "string":
		return c.Do(ctx, c.B().Get().Key(k).Build()).AsBytes()
	case "list":
		cmd = c.B().Lrange().Key(k).Start(0).Stop(-1).Build()
	case "set":
		cmd = c.B().Smembers().Key(k).Build()
	case "zset":
		cmd = c.B().Zrange().Key(k).Min("0").Max("-1").Withscores().Build()
	case "hash":
		cmd = c.B().Hgetall().Key(k).Build()
	case "stream":
		cmd = c.B().Xrange().Key(k).Start("-").End("+").Build()
	default:
		return nil, fmt.Errorf("key of type %s", typ)
	}
	v, err := c.Do(ctx, cmd).ToAny()
	if err != nil {
		return nil, err
	}
	var b []byte
	var flatten func(any)
	flatten = func(x any) {
		switch x := x.(type) {
		case []any:
			for _, y := range x {
				flatten(y)
			}
		case map[string]any:
			for key, y := range x {
				b = append(b, key...)
				b = append(b, '\n')
				flatten(y)
			}
		default:
			b = append(b, fmt.Sprint(x)...)
			b = append(b, '\n')
		}
	}
	flatten(v)
	return b, nil
}

// Prefix returns a key prefix no other test (or run) uses, derived from the
// test name, ending in ':'.
func Prefix(t testing.TB) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-' {
			return r
		}
		return '.'
	}, t.Name())
	return "test:" + name + ":" + hex.EncodeToString(b[:]) + ":"
}

// Main starts one server for a test package, stores it in *srv, runs the
// tests and stops the server. Use it from TestMain:
//
//	var srv *redistest.Server
//	func TestMain(m *testing.M) { os.Exit(redistest.Main(m, &srv)) }
//
// When the server cannot start it prints why and returns 1: it never skips.
func Main(m *testing.M, srv **Server) int {
	s, err := Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	*srv = s
	defer s.Stop()
	return m.Run()
}
