// Package sentineltest runs a Redis primary, one replica and three Redis
// Sentinels (Debian's redis-sentinel, 7.0) on loopback for failover tests:
// kill the primary and the Sentinels promote the replica.
//
// redis-server and redis-sentinel must be on PATH; `make deps` installs
// them. Without them Start fails and says so: tests never skip.
package sentineltest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/proofline/proofline/internal/redistest"
	"github.com/proofline/proofline/internal/testproc"
)

// Master is the name the Sentinels monitor.
const Master = "proofline"

// The Sentinels' settings: the primary is down after DownAfter without an
// answer; two of three must agree.
const (
	DownAfter = time.Second
	quorum    = 2
)

// Cluster is a primary, a replica and three Sentinels.
type Cluster struct {
	// Servers are the two redis-servers: Servers[0] started as the
	// primary, Servers[1] as its replica.
	Servers   []*redistest.Server
	sentinels []*testproc.Process
	addrs     []string
	dir       string
}

// Start starts the primary, the replica and three Sentinels and waits until
// every Sentinel knows the replica and the two other Sentinels (so a
// failover can happen).
func Start(ctx context.Context) (*Cluster, error) {
	bin, err := exec.LookPath("redis-sentinel")
	if err != nil {
		return nil, errors.New("sentineltest: redis-sentinel not found on PATH; run `make deps` to install it")
	}
	dir, err := os.MkdirTemp("", "sentineltest-")
	if err != nil {
		return nil, fmt.Errorf("sentineltest: %w", err)
	}
	c := &Cluster{dir: dir}
	// No 5 s wait before the first full sync (the default diskless delay).
	fast := []string{"--repl-diskless-sync-delay", "0"}
	primary, err := redistest.StartWith(redistest.Options{Args: fast})
	if err != nil {
		c.Stop()
		return nil, err
	}
	c.Servers = append(c.Servers, primary)
	host, port, _ := net.SplitHostPort(primary.Addr())
	replica, err := redistest.StartWith(redistest.Options{Args: append(fast, "--replicaof", host, port)})
	if err != nil {
		c.Stop()
		return nil, err
	}
	c.Servers = append(c.Servers, replica)
	for i := range 3 {
		if err := c.startSentinel(bin, i, port); err != nil {
			c.Stop()
			return nil, err
		}
	}
	if err := c.waitReady(ctx); err != nil {
		c.Stop()
		return nil, err
	}
	return c, nil
}

func (c *Cluster) startSentinel(bin string, i int, primaryPort string) error {
	for attempt := 0; ; attempt++ {
		port, err := testproc.FreePort()
		if err != nil {
			return err
		}
		sdir := filepath.Join(c.dir, fmt.Sprintf("sentinel%d-%d", i, attempt))
		if err := os.MkdirAll(sdir, 0o700); err != nil {
			return err
		}
		conf := filepath.Join(sdir, "sentinel.conf")
		body := fmt.Sprintf(`port %d
bind 127.0.0.1
daemonize no
dir %s
logfile ""
sentinel resolve-hostnames no
sentinel monitor %s 127.0.0.1 %s %d
sentinel down-after-milliseconds %s %d
sentinel failover-timeout %s 10000
sentinel parallel-syncs %s 1
`, port, sdir, Master, primaryPort, quorum, Master, DownAfter.Milliseconds(), Master, Master)
		// The Sentinel rewrites its configuration file: it must be its own.
		if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
			return err
		}
		proc, err := testproc.Start(exec.Command(bin, conf), 16<<10)
		if err != nil {
			return fmt.Errorf("sentineltest: start redis-sentinel: %w", err)
		}
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		err = proc.WaitReady(15*time.Second, 20*time.Millisecond, func() error {
			_, err := Command(addr, "PING")
			return err
		})
		if err == nil {
			c.sentinels = append(c.sentinels, proc)
			c.addrs = append(c.addrs, addr)
			return nil
		}
		if attempt == 4 {
			return fmt.Errorf("sentineltest: redis-sentinel %w", err)
		}
	}
}

// waitReady waits until every Sentinel sees a healthy replica and the other
// Sentinels.
func (c *Cluster) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		err := c.ready()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("sentineltest: not ready within 30s: %v", err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (c *Cluster) ready() error {
	info, err := Command(c.Servers[1].Addr(), "INFO", "replication")
	if err != nil {
		return err
	}
	if s, _ := info.(string); !strings.Contains(s, "master_link_status:up") {
		return errors.New("the replica is not in sync yet")
	}
	for _, a := range c.addrs {
		reps, err := Command(a, "SENTINEL", "REPLICAS", Master)
		if err != nil {
			return err
		}
		list, _ := reps.([]any)
		healthy := 0
		for _, r := range list {
			if f := field(r, "flags"); f == "slave" {
				healthy++
			}
		}
		if healthy == 0 {
			return fmt.Errorf("sentinel %s sees no healthy replica", a)
		}
		others, err := Command(a, "SENTINEL", "SENTINELS", Master)
		if err != nil {
			return err
		}
		if l, _ := others.([]any); len(l) < len(c.addrs)-1 {
			return fmt.Errorf("sentinel %s knows %d other sentinels", a, len(l))
		}
	}
	return nil
}

// field reads name from a Sentinel's flat name/value reply.
func field(v any, name string) string {
	l, _ := v.([]any)
	for i := 0; i+1 < len(l); i += 2 {
		if k, _ := l[i].(string); k == name {
			s, _ := l[i+1].(string)
			return s
		}
	}
	return ""
}

// SentinelAddrs are the Sentinels' host:port.
func (c *Cluster) SentinelAddrs() []string { return append([]string(nil), c.addrs...) }

// URL is the redis-sentinel:// URL of database 0; userinfo ("user:pw" or
// "") authenticates to the primary and replicas.
func (c *Cluster) URL(userinfo string) string {
	u := "redis-sentinel://"
	if userinfo != "" {
		u += userinfo + "@"
	}
	return u + strings.Join(c.addrs, ",") + "/0?master=" + Master
}

// PrimaryAddr asks the Sentinels where the primary is.
func (c *Cluster) PrimaryAddr() (string, error) {
	var last error
	for _, a := range c.addrs {
		v, err := Command(a, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", Master)
		if err != nil {
			last = err
			continue
		}
		if l, ok := v.([]any); ok && len(l) == 2 {
			h, _ := l[0].(string)
			p, _ := l[1].(string)
			return net.JoinHostPort(h, p), nil
		}
	}
	return "", fmt.Errorf("sentineltest: no sentinel names the primary: %v", last)
}

// Primary returns the server that is the primary now.
func (c *Cluster) Primary() (*redistest.Server, error) {
	addr, err := c.PrimaryAddr()
	if err != nil {
		return nil, err
	}
	for _, s := range c.Servers {
		if s.Addr() == addr {
			return s, nil
		}
	}
	return nil, fmt.Errorf("sentineltest: primary %s is none of ours", addr)
}

// QueueUser creates the workers' queue-only Redis user (see
// redistest.Server.QueueUser) on both servers: ACL users are not
// replicated. It returns "name:password" for URL.
func (c *Cluster) QueueUser(ctx context.Context, name, password string) (string, error) {
	for _, s := range c.Servers {
		if _, err := s.QueueUser(ctx, name, password, ""); err != nil {
			return "", err
		}
	}
	return name + ":" + password, nil
}

// WaitFailover waits until the Sentinels name a primary other than old and
// that server answers ROLE as a master, and returns its address.
func (c *Cluster) WaitFailover(ctx context.Context, old string) (string, error) {
	for {
		addr, err := c.PrimaryAddr()
		if err == nil && addr != old {
			if v, err := Command(addr, "ROLE"); err == nil {
				if l, ok := v.([]any); ok && len(l) > 0 && l[0] == "master" {
					return addr, nil
				}
			}
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("sentineltest: no failover from %s: %w", old, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Log returns the tail of every Sentinel's output.
func (c *Cluster) Log() string {
	var b strings.Builder
	for i, p := range c.sentinels {
		fmt.Fprintf(&b, "--- sentinel %d (%s):\n%s\n", i, c.addrs[i], p.Out.String())
	}
	return b.String()
}

// Stop stops every process and removes the directories. It is idempotent.
func (c *Cluster) Stop() {
	for _, p := range c.sentinels {
		p.Stop(5 * time.Second)
	}
	for _, s := range c.Servers {
		s.Stop()
	}
	os.RemoveAll(c.dir)
}

// Command sends one command to addr over a plain connection and returns the
// reply: a string, an int64, nil, or a []any of them. An error reply is an
// error.
func Command(addr string, args ...string) (any, error) {
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(3 * time.Second))
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := io.WriteString(conn, b.String()); err != nil {
		return nil, err
	}
	return readReply(bufio.NewReader(conn))
}

func readReply(r *bufio.Reader) (any, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return nil, err
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return nil, errors.New("empty reply")
	}
	switch line[0] {
	case '+':
		return line[1:], nil
	case '-':
		return nil, errors.New(line[1:])
	case ':':
		return strconv.ParseInt(line[1:], 10, 64)
	case '$':
		n, err := strconv.Atoi(line[1:])
		if err != nil || n < 0 {
			return nil, err
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(r, buf); err != nil {
			return nil, err
		}
		return string(buf[:n]), nil
	case '*':
		n, err := strconv.Atoi(line[1:])
		if err != nil || n < 0 {
			return nil, err
		}
		out := make([]any, n)
		for i := range out {
			if out[i], err = readReply(r); err != nil {
				return nil, err
			}
		}
		return out, nil
	}
	return nil, fmt.Errorf("unexpected reply %q", line)
}
