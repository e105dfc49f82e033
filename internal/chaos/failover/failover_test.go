package failover_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/proofline/proofline/internal/chaos"
	"github.com/proofline/proofline/internal/fleettest"
	"github.com/proofline/proofline/internal/sentineltest"
)

func TestMain(m *testing.M) { os.Exit(chaos.Main(m)) }

// TestRedisFailover runs the fleet on a Redis primary and replica watched by
// three Sentinels (servers and workers given redis-sentinel:// URLs; the
// workers as the queue-only ACL user) and kills the primary with SIGKILL
// mid-run. Without a restart, the result store, the attempt counters and
// the queues move to the promoted replica: every job started ends done or
// timed out, none twice, none lost, and the history passes Porcupine. The
// recovery is the time from the kill to the first job started afterwards
// that is done.
func TestRedisFailover(t *testing.T) {
	bin := chaos.Binary(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	c, err := sentineltest.Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Stop)
	user, err := c.QueueUser(ctx, "chaosworker", "chaos-worker-pw-0123456789")
	if err != nil {
		t.Fatal(err)
	}
	timeout := chaos.Size(6, 10)
	f, err := fleettest.New(fleettest.Options{Bin: bin, RedisURL: c.URL(""), WorkerRedisURL: c.URL(user), Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.Close)
	var servers []*fleettest.Proc
	for range 2 {
		p, err := f.StartServer(timeout)
		if err != nil {
			t.Fatal(err)
		}
		servers = append(servers, p)
	}
	for range 2 {
		if _, err := f.StartWorker(); err != nil {
			t.Fatal(err)
		}
	}
	dump := func() {
		for _, p := range f.Procs() {
			t.Logf("--- %s (exit %d):\n%s", p.Name, p.ExitCode(), p.Log())
		}
		t.Log(c.Log())
	}
	origins := func() []string { return []string{servers[0].URL(), servers[1].URL()} }
	n := chaos.Size(300, 2000)
	rate := float64(chaos.Size(60, 200))
	starts := time.Duration(float64(n) / rate * float64(time.Second))
	var killed string
	ft := chaos.Fault{
		Name: "primary killed (SIGKILL), Sentinel failover", Where: "Redis (store, attempts, queues)",
		Apply: func() error {
			p, err := c.Primary()
			if err != nil {
				return err
			}
			killed = p.Addr()
			p.Kill()
			return nil
		},
	}
	tally := chaos.RunFault(t, chaos.Target{Fleet: f, Origins: origins, Timeout: time.Duration(timeout) * time.Second}, ft,
		chaos.Mix(n, 40, 25), rate, starts/3, 0)
	if t.Failed() {
		dump()
	}
	if now, err := c.PrimaryAddr(); err != nil || now == killed {
		t.Fatalf("no failover happened: primary %s (killed %s), %v", now, killed, err)
	}
	if tally.Recovery == 0 {
		t.Fatal("no job was done after the failover")
	}
	for _, p := range f.Procs() {
		if p.ExitCode() != -1 {
			t.Errorf("%s exited (%d): proofline must follow the failover without a restart", p.Name, p.ExitCode())
		}
	}
}
