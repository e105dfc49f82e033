package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/redis/rueidis"
)

// redisServer is a redis-server the tool started on a free loopback port,
// without persistence, in a temporary directory. (internal/redistest does
// the same for tests; this one also gives the pid, for CPU figures, and dies
// with the tool.)
type redisServer struct {
	addr string
	proc *child
	dir  string
}

func startRedis(ctx context.Context, bin string, cl *cleanup) (*redisServer, error) {
	if bin == "" {
		var err error
		if bin, err = exec.LookPath("redis-server"); err != nil {
			return nil, fmt.Errorf("redis-server not found on PATH (make deps installs it)")
		}
	}
	dir, err := os.MkdirTemp("", "proofline-bench-redis-")
	if err != nil {
		return nil, err
	}
	cl.add(func() { os.RemoveAll(dir) })
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		cmd := exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1",
			"--save", "", "--appendonly", "no", "--dir", dir, "--protected-mode", "yes")
		cmd.Stdout = io.Discard
		cmd.Stderr = io.Discard
		p, err := startChild("redis-server", cmd)
		if err != nil {
			return nil, err
		}
		cl.add(func() { p.stop(5 * time.Second) })
		r := &redisServer{addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), proc: p, dir: dir}
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) && !p.exited() {
			if lastErr = redisPing(r.addr); lastErr == nil {
				return r, nil
			}
			if !sleepCtx(ctx, 20*time.Millisecond) {
				return nil, ctx.Err()
			}
		}
		p.stop(time.Second)
		if lastErr == nil {
			lastErr = fmt.Errorf("redis-server exited at start")
		}
	}
	return nil, fmt.Errorf("redis-server did not start: %v", lastErr)
}

func (r *redisServer) url() string { return "redis://" + r.addr + "/0" }

func (r *redisServer) client() (rueidis.Client, error) {
	return rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{r.addr}, DisableCache: true})
}

func redisPing(addr string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := io.WriteString(c, "*1\r\n$4\r\nPING\r\n"); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, "+PONG") {
		return fmt.Errorf("unexpected PING reply %q", strings.TrimSpace(line))
	}
	return nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// commandStats returns calls per command from INFO commandstats. Commands
// a Lua script runs are counted too (under their own names).
func commandStats(ctx context.Context, c rueidis.Client) (map[string]int64, error) {
	s, err := c.Do(ctx, c.B().Info().Section("commandstats").Build()).ToString()
	if err != nil {
		return nil, err
	}
	out := map[string]int64{}
	for _, line := range strings.Split(s, "\n") {
		name, rest, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok || !strings.HasPrefix(name, "cmdstat_") {
			continue
		}
		for _, kv := range strings.Split(rest, ",") {
			if v, ok := strings.CutPrefix(kv, "calls="); ok {
				n, _ := strconv.ParseInt(v, 10, 64)
				out[strings.TrimPrefix(name, "cmdstat_")] = n
			}
		}
	}
	return out, nil
}

// redisBaseline runs people goroutines doing SET key value EX 60 then GET key
// with one rueidis client (the client redisstore uses) for d, and returns
// SET+GET pairs per second.
func redisBaseline(ctx context.Context, r *redisServer, people, valueSize int, d time.Duration) (pairsPerSec float64, errs int64, err error) {
	c, err := r.client()
	if err != nil {
		return 0, 0, err
	}
	defer c.Close()
	value := make([]byte, valueSize)
	for i := range value {
		value[i] = byte('a' + i%26)
	}
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	counts := make([]int64, people)
	errCounts := make([]int64, people)
	done := make(chan struct{})
	start := time.Now()
	for p := range people {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := 0; ctx.Err() == nil; i++ {
				key := "bench:baseline:" + strconv.Itoa(p) + ":" + strconv.Itoa(i%1000)
				if err := c.Do(ctx, c.B().Set().Key(key).Value(rueidis.BinaryString(value)).ExSeconds(60).Build()).Error(); err != nil {
					if ctx.Err() == nil {
						errCounts[p]++
					}
					continue
				}
				if _, err := c.Do(ctx, c.B().Get().Key(key).Build()).AsBytes(); err != nil {
					if ctx.Err() == nil {
						errCounts[p]++
					}
					continue
				}
				counts[p]++
			}
		}()
	}
	for range people {
		<-done
	}
	el := time.Since(start)
	var n int64
	for p := range people {
		n += counts[p]
		errs += errCounts[p]
	}
	// Leave the server as the load found it.
	fctx, fcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer fcancel()
	_ = c.Do(fctx, c.B().Flushdb().Build()).Error()
	return float64(n) / el.Seconds(), errs, nil
}
