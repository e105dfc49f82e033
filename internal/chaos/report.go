package chaos

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/proofline/proofline/internal/history"
)

// Tally is what one run under one fault came to.
type Tally struct {
	Fault, Link string
	// Jobs is the number of jobs the driver tried to start; Started those
	// answered 202.
	Jobs, Started  int
	Done, TimedOut int
	// Lost are started jobs no reader saw end (done or timed_out).
	Lost int
	// Twice are jobs that ended two ways, had their key released twice or
	// their result stored twice.
	Twice int
	// Wrong are done jobs whose result is not the mock vendor's.
	Wrong int
	// Copies are the duplicate and late claims and callbacks sent.
	Copies int64
	// Recovery is the time from the fault's end to the first job started
	// after it that was done; 0 when not measured.
	Recovery time.Duration
	Report   *history.Report
}

// Count fills the tally from the jobs and the history report.
func (t *Tally) Count(jobs []*Job, rep *history.Report) []error {
	var errs []error
	t.Jobs, t.Report = len(jobs), rep
	for _, j := range jobs {
		if j.ID == "" {
			continue
		}
		t.Started++
		switch j.Final {
		case history.Done:
			t.Done++
			if err := j.CheckResult(); err != nil {
				t.Wrong++
				errs = append(errs, err)
			}
		case history.TimedOut:
			t.TimedOut++
		default:
			t.Lost++
			errs = append(errs, fmt.Errorf("%s job %s: started but no reader saw it end", j.Kind, j.ID))
		}
	}
	t.Twice = len(rep.TwoOutcomes) + len(rep.TwoClaims) + len(rep.TwoStored)
	return errs
}

// Row is the tally as a README table row.
func (t *Tally) Row() string {
	rec := "–"
	if t.Recovery > 0 {
		rec = t.Recovery.Round(10 * time.Millisecond).String()
	}
	return fmt.Sprintf("| %s | %s | %d (%d started) | %d done, %d timed out | %d | %d (%d copies sent) | %s |",
		t.Fault, t.Link, t.Jobs, t.Started, t.Done, t.TimedOut, t.Lost, t.Twice, t.Copies, rec)
}

var reportMu sync.Mutex

// WriteRow appends the tally's row to $PROOFLINE_CHAOS_REPORT when set (the
// figures `make chaos` prints for the README).
func WriteRow(t *Tally) {
	path := os.Getenv("PROOFLINE_CHAOS_REPORT")
	if path == "" {
		return
	}
	reportMu.Lock()
	defer reportMu.Unlock()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return
	}
	defer f.Close()
	fmt.Fprintln(f, t.Row())
}

// Artifact returns a path for a file a failing test leaves behind: under
// $PROOFLINE_ARTIFACTS when set, else under dir.
func Artifact(dir, name string) string {
	if a := os.Getenv("PROOFLINE_ARTIFACTS"); a != "" {
		_ = os.MkdirAll(a, 0o755)
		dir = a
	}
	return filepath.Join(dir, strings.NewReplacer(" ", "_", "/", "_", "±", "pm").Replace(name))
}

// Flat reports whether a series sampled under a steady load stayed flat:
// after a warm-up (the first fifth of the samples), the median of the last
// quarter may exceed the median of the first steady quarter by at most rel
// (a fraction) plus abs. It returns the two medians. A leak (goroutines or
// memory that grow with the work done) fails it; the noise of a steady load
// does not. Fewer than 8 samples are never flat.
func Flat(samples []float64, rel, abs float64) (ok bool, from, to float64) {
	if len(samples) < 8 {
		return false, 0, 0
	}
	steady := samples[len(samples)/5:]
	q := len(steady) / 4
	from, to = median(steady[:q]), median(steady[len(steady)-q:])
	return to <= from*(1+rel)+abs, from, to
}

func median(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
