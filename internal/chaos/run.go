package chaos

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/proofline/proofline/internal/fleettest"
	"github.com/proofline/proofline/internal/history"
)

// Fault is something done to a running fleet: Apply at faultAt, Heal (when
// not nil) faultFor later.
type Fault struct {
	// Name and Where label the README row: what happened, and to which
	// link or part.
	Name, Where string
	Apply, Heal func() error
	// NoRecovery skips measuring the recovery (nothing stops working).
	NoRecovery bool
}

// Target is the fleet a run drives.
type Target struct {
	Fleet *fleettest.Fleet
	// Origins are the servers' origins now (a restarted server may be
	// missing for a while).
	Origins func() []string
	// Timeout is the servers' async_wait_timeout_seconds.
	Timeout time.Duration
}

var (
	binOnce sync.Once
	binDir  string
	binPath string
	binErr  error
)

// Main runs a test package's tests and removes the binary Binary built. Use
// it from TestMain: os.Exit(chaos.Main(m)).
func Main(m *testing.M) int {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	return code
}

// Binary builds the proofline binary once per test process (see Main).
func Binary(t testing.TB) string {
	t.Helper()
	binOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		binDir, binErr = os.MkdirTemp("", "chaos-bin-")
		if binErr == nil {
			binPath, binErr = fleettest.Build(ctx, binDir)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

// RunFault runs jobs through the fleet at rate per second while the fault
// is on from faultAt (after the first start) for faultFor; it measures the
// recovery (from the heal, or from the fault when it does not heal, to the
// first job started afterwards that is done), replays late claims and
// callbacks, checks the history and returns the tally.
func RunFault(t *testing.T, tg Target, ft Fault, jobs []*Job, rate float64, faultAt, faultFor time.Duration) *Tally {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rec := &history.Recorder{}
	dup := &Duplicator{Rec: rec, LB: tg.Fleet.LB.URL(), ClaimRate: 0.03, CallbackRate: 0.1}
	tg.Fleet.LB.SetHook(dup.Hook())
	defer tg.Fleet.LB.SetHook(nil)
	d := NewDriver(rec, tg.Timeout)
	tally := &Tally{Fault: ft.Name, Link: ft.Where}

	from := make(chan time.Time, 1)
	faultErr := make(chan error, 1)
	go func() {
		time.Sleep(faultAt)
		if err := ft.Apply(); err != nil {
			faultErr <- err
			from <- time.Time{}
			return
		}
		if ft.Heal == nil {
			from <- time.Now()
			faultErr <- nil
			return
		}
		time.Sleep(faultFor)
		err := ft.Heal()
		from <- time.Now()
		faultErr <- err
	}()
	// Recovery: from the heal, start one job every 100 ms until one is done.
	recovered := make(chan time.Duration, 1)
	go func() {
		at := <-from
		for !ft.NoRecovery && !at.IsZero() && ctx.Err() == nil && time.Since(at) < 4*tg.Timeout {
			probe := Mix(1, 0, 0)[0] // a resolution job that succeeds
			if o := tg.Origins(); len(o) > 0 && d.Start(probe, o[0]) == nil {
				d.Follow(ctx, probe, tg.Origins, probe.Deadline.Add(time.Second))
				if probe.Final == history.Done {
					recovered <- time.Since(at)
					return
				}
			}
			time.Sleep(100 * time.Millisecond)
		}
		recovered <- 0
	}()

	until := time.Now().Add(time.Duration(float64(len(jobs))/rate*float64(time.Second)) + tg.Timeout + faultFor + 20*time.Second)
	d.Run(ctx, jobs, tg.Origins, rate, until)
	if err := <-faultErr; err != nil {
		t.Fatal(err)
	}
	tally.Recovery = <-recovered
	dup.Replay(jobs, 5)
	tally.Copies = dup.Copies()

	rep := history.Check(history.Config{Timeout: tg.Timeout}, rec.Ops(), time.Minute)
	errs := tally.Count(jobs, rep)
	t.Logf("%s on %s: %s", ft.Name, ft.Where, rep)
	t.Logf("row: %s", tally.Row())
	if !rep.OK() {
		ids := rep.Illegal()
		ids = append(ids, rep.TwoOutcomes...)
		for i, id := range ids {
			if i == 5 {
				break
			}
			t.Errorf("record %s:\n%s", id, rep.Job(id))
		}
		path := Artifact(t.TempDir(), fmt.Sprintf("history-%s-%s.html", ft.Name, ft.Where))
		if err := rep.Visualize(path); err == nil {
			t.Logf("Porcupine's view of the history: %s", path)
		}
		t.Errorf("%s: the history is not what one record's life allows (%d records)", ft.Name, len(ids))
	}
	for i, err := range errs {
		if i == 10 {
			t.Errorf("… %d more", len(errs)-10)
			break
		}
		t.Error(err)
	}
	if tally.Done == 0 {
		t.Errorf("%s: no job completed", ft.Name)
	}
	WriteRow(tally)
	return tally
}
