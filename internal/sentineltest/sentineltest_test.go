package sentineltest_test

import (
	"context"
	"testing"
	"time"

	"github.com/proofline/proofline/internal/sentineltest"
)

// TestFailover: killing the primary makes the Sentinels promote the replica,
// which holds what was written before.
func TestFailover(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := sentineltest.Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop()
	p, err := c.Primary()
	if err != nil || p != c.Servers[0] {
		t.Fatalf("primary %v, %v", p, err)
	}
	if _, err := sentineltest.Command(p.Addr(), "SET", "k", "v"); err != nil {
		t.Fatal(err)
	}
	if n, err := sentineltest.Command(p.Addr(), "WAIT", "1", "2000"); err != nil || n != int64(1) {
		info, _ := sentineltest.Command(c.Servers[1].Addr(), "INFO", "replication")
		t.Fatalf("WAIT = %v, %v\n%v", n, err, info)
	}
	killed := time.Now()
	p.Kill()
	addr, err := c.WaitFailover(ctx, p.Addr())
	if err != nil {
		t.Fatalf("%v\n%s", err, c.Log())
	}
	t.Logf("failover in %s", time.Since(killed).Round(time.Millisecond))
	if addr != c.Servers[1].Addr() {
		t.Fatalf("new primary %s, want the replica %s", addr, c.Servers[1].Addr())
	}
	if v, err := sentineltest.Command(addr, "GET", "k"); err != nil || v != "v" {
		t.Fatalf("GET k on the new primary = %v, %v", v, err)
	}
	if _, err := sentineltest.Command(addr, "SET", "k2", "v2"); err != nil {
		t.Fatalf("the new primary refuses writes: %v", err)
	}
}
