package network_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/proofline/proofline/internal/chaos"
	"github.com/proofline/proofline/internal/fleettest"
	"github.com/proofline/proofline/internal/redistest"
	"github.com/proofline/proofline/internal/toxitest"
)

func TestMain(m *testing.M) { os.Exit(chaos.Main(m)) }

// netFleet is a fleet with a Toxiproxy proxy on each of its three links.
type netFleet struct {
	f       *fleettest.Fleet
	servers []*fleettest.Proc
	workers []*fleettest.Proc
	// links by name: "servers→redis", "workers→redis", "workers→servers".
	links   map[string]*toxitest.Proxy
	timeout time.Duration
}

func (n *netFleet) origins() []string {
	var o []string
	for _, s := range n.servers {
		o = append(o, s.URL())
	}
	return o
}

func (n *netFleet) dump(t *testing.T) {
	for _, p := range n.f.Procs() {
		t.Logf("--- %s (exit %d):\n%s", p.Name, p.ExitCode(), p.Log())
	}
}

// startNetFleet starts redis-server, Toxiproxy with the three links, and a
// fleet of 2 servers and 2 workers (job timeout seconds) whose every
// connection to Redis and between workers and servers crosses a proxy.
func startNetFleet(t *testing.T, bin string, timeout int) *netFleet {
	t.Helper()
	dir := t.TempDir()
	rs, err := redistest.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rs.Stop)
	workerURL, err := rs.QueueUser(context.Background(), "chaosworker", "chaos-worker-pw-0123456789", "")
	if err != nil {
		t.Fatal(err)
	}
	tx, err := toxitest.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tx.Stop)
	n := &netFleet{links: map[string]*toxitest.Proxy{}, timeout: time.Duration(timeout) * time.Second}
	for _, name := range []string{"servers→redis", "workers→redis"} {
		p, err := tx.Proxy(strings.ReplaceAll(name, "→", "-"), rs.Addr())
		if err != nil {
			t.Fatal(err)
		}
		n.links[name] = p
	}
	f, err := fleettest.New(fleettest.Options{
		Bin:            bin,
		RedisURL:       "redis://" + n.links["servers→redis"].Addr + "/0",
		WorkerRedisURL: strings.Replace(workerURL, rs.Addr(), n.links["workers→redis"].Addr, 1),
		Dir:            dir,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.Close)
	n.f = f
	cb, err := tx.Proxy("workers-servers", strings.TrimPrefix(f.LB.URL(), "http://"))
	if err != nil {
		t.Fatal(err)
	}
	n.links["workers→servers"] = cb
	f.SetBaseURL("http://" + cb.Addr)
	for range 2 {
		p, err := f.StartServer(timeout)
		if err != nil {
			t.Fatal(err)
		}
		n.servers = append(n.servers, p)
	}
	for range 2 {
		p, err := f.StartWorker()
		if err != nil {
			n.dump(t)
			t.Fatal(err)
		}
		n.workers = append(n.workers, p)
	}
	return n
}

// TestNetworkFaults runs the fleet (2 `serve`, 2 `worker`, real Redis)
// through Toxiproxy faults on the links between servers and Redis, workers
// and the queue's Redis, and workers and the servers (claims, callbacks):
// latency with jitter, a bandwidth limit, connection resets, a black hole and
// a partition that heals. During each, some claims and callbacks are sent
// twice at once and some again after their deadline. Every operation on
// every record is recorded and checked with Porcupine: no history may be
// other than one record's life allows, no job may end twice, none started
// may be lost, and every result is the mock vendor's.
//
// `make test` applies each fault to the three links at once with a few
// hundred jobs; `make chaos` (PROOFLINE_CHAOS=1) applies each to each link
// alone with 2,000 jobs.
func TestNetworkFaults(t *testing.T) {
	bin := chaos.Binary(t)
	timeout := chaos.Size(4, 10)
	n := startNetFleet(t, bin, timeout)
	jobsPer := chaos.Size(150, 2000)
	rate := float64(chaos.Size(60, 200))
	starts := time.Duration(float64(jobsPer) / rate * float64(time.Second))
	faultAt, faultFor := starts/5, starts*3/5

	faults := []toxitest.Fault{
		toxitest.Latency(150, 100),
		toxitest.Bandwidth(16),
		toxitest.ResetPeer(50),
		toxitest.Timeout(1000),
		toxitest.Partition(),
	}
	all := []string{"servers→redis", "workers→redis", "workers→servers"}
	var phases []phase
	for _, f := range faults {
		if chaos.Long() {
			for _, l := range all {
				phases = append(phases, phase{fault: f, links: []string{l}})
			}
		} else {
			phases = append(phases, phase{fault: f, links: all})
		}
	}
	for _, ph := range phases {
		name := ph.fault.Name + " on " + strings.Join(ph.links, ", ")
		if !t.Run(name, func(t *testing.T) {
			chaos.RunFault(t, n.target(), n.fault(ph), chaos.Mix(jobsPer, 40, 25), rate, faultAt, faultFor)
		}) {
			n.dump(t)
		}
	}
}

// phase is one Toxiproxy fault on some links.
type phase struct {
	fault toxitest.Fault
	links []string
}

func (n *netFleet) target() chaos.Target {
	return chaos.Target{Fleet: n.f, Origins: n.origins, Timeout: n.timeout}
}

func (n *netFleet) fault(ph phase) chaos.Fault {
	each := func(do func(p *toxitest.Proxy) error) func() error {
		return func() error {
			for _, l := range ph.links {
				if err := do(n.links[l]); err != nil {
					return err
				}
			}
			return nil
		}
	}
	return chaos.Fault{
		Name:  ph.fault.Name,
		Where: strings.Join(ph.links, ", "),
		Apply: each(func(p *toxitest.Proxy) error { return p.Apply(ph.fault) }),
		Heal:  each(func(p *toxitest.Proxy) error { return p.Heal(ph.fault) }),
	}
}

// TestDeadlineRace: workers whose vendors answer about 1.5 s before the
// deadline, so callbacks land around it while long polls wake at it, with
// Redis 100±80 ms away from the servers. Before the store ended an attempt
// as timed out by compare-and-swap, 16 of 150 jobs here were told
// timed_out and then read as done (a callback checked before the deadline
// stored its result after it, or a read found the record pending, then the
// clock past the deadline, while a callback landed in between).
func TestDeadlineRace(t *testing.T) {
	bin := chaos.Binary(t)
	timeout := 6
	n := startNetFleet(t, bin, timeout)
	for _, w := range n.workers {
		w.Kill()
	}
	n.workers = nil
	for range 2 {
		p, err := n.f.StartWorker(fmt.Sprintf("PROOFLINE_MOCK_VENDOR_LATENCY_MS=%d", timeout*1000-1500))
		if err != nil {
			t.Fatal(err)
		}
		n.workers = append(n.workers, p)
	}
	jobs := chaos.Mix(chaos.Size(150, 2000), 0, 0)
	ph := phase{fault: toxitest.Latency(100, 80), links: []string{"servers→redis"}}
	chaos.RunFault(t, n.target(), n.fault(ph), jobs, 60, 0, 10*time.Second)
}
