package history

import (
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/anishathalye/porcupine"
)

// Report is the verdict on a history.
type Report struct {
	// Result is Porcupine's: porcupine.Ok, porcupine.Illegal, or
	// porcupine.Unknown when the check ran out of time.
	Result porcupine.CheckResult
	// Jobs and Ops count records and operations checked.
	Jobs, Ops int
	// Outcomes counts jobs by the one outcome readers saw: "done",
	// "timed_out", or "none" (no reader saw either: a lost job unless it was
	// deleted before anyone read it).
	Outcomes map[string]int
	// TwoOutcomes lists jobs readers saw end in two ways (done and
	// timed_out, or two different results).
	TwoOutcomes []string
	// TwoClaims and TwoStored list jobs whose key was released twice (two
	// claims answered 200) or whose result was stored twice (two callbacks
	// answered 204).
	TwoClaims, TwoStored []string
	// Statuses counts answers by operation and status, e.g. "callback 409".
	Statuses map[string]int
	// Unknown counts operations without an answer (or with a 5xx).
	Unknown int

	model porcupine.Model
	info  porcupine.LinearizationInfo
	ops   []Op
	parts map[string][]porcupine.Operation
}

// Check checks ops against the model, within limit (0: no limit). A record
// whose start is not in ops (its answer was lost) gets one with an unknown
// deadline, before its first operation.
func Check(c Config, ops []Op, limit time.Duration) *Report {
	groups := byID(ops)
	r := &Report{Outcomes: map[string]int{}, Statuses: map[string]int{}, model: Model(c), parts: map[string][]porcupine.Operation{}}
	var hist []porcupine.Operation
	ids := make([]string, 0, len(groups))
	for id := range groups {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		g := groups[id]
		if g[0].Kind != Start {
			// The test did not see this record start (the answer was
			// lost, or it started before recording began): nor does it
			// know whether it was claimed meanwhile.
			t0 := g[0].Call - 2
			g = append([]Op{
				{ID: id, Kind: Start, Call: t0, Return: t0, Answer: Answer{Status: 202}},
				{ID: id, Kind: Claim, Call: t0 + 1, Return: math.MaxInt64, Answer: Answer{Status: 0}},
			}, g...)
		}
		r.Jobs++
		seen := map[string]bool{}
		claims, stored := 0, 0
		for _, o := range g {
			r.Ops++
			if o.Answer.Unknown() {
				r.Unknown++
			} else {
				r.Statuses[fmt.Sprintf("%s %d", o.Kind, o.Status)]++
			}
			switch {
			case o.Kind == Read && o.Status == 200 && o.Outcome == Done:
				seen["done "+o.Result] = true
			case o.Kind == Read && o.Status == 200 && o.Outcome == TimedOut:
				seen[TimedOut] = true
			case o.Kind == Claim && o.Status == 200:
				claims++
			case o.Kind == Callback && o.Status == 204:
				stored++
			}
			ret := o.Return
			if o.Answer.Unknown() {
				ret = math.MaxInt64
			}
			op := porcupine.Operation{ClientId: o.Client, Input: o, Output: o.Answer, Call: o.Call, Return: ret}
			hist = append(hist, op)
			r.parts[id] = append(r.parts[id], op)
		}
		switch {
		case len(seen) > 1:
			r.TwoOutcomes = append(r.TwoOutcomes, id)
			r.Outcomes["two"]++
		case seen[TimedOut]:
			r.Outcomes[TimedOut]++
		case len(seen) == 1:
			r.Outcomes[Done]++
		default:
			r.Outcomes["none"]++
		}
		if claims > 1 {
			r.TwoClaims = append(r.TwoClaims, id)
		}
		if stored > 1 {
			r.TwoStored = append(r.TwoStored, id)
		}
		r.ops = append(r.ops, g...)
	}
	r.Result, r.info = porcupine.CheckOperationsVerbose(r.model, hist, limit)
	return r
}

// OK reports whether the history is linearizable and no job ended twice.
func (r *Report) OK() bool {
	return r.Result == porcupine.Ok && len(r.TwoOutcomes) == 0 && len(r.TwoClaims) == 0 && len(r.TwoStored) == 0
}

// String summarises the report on one line.
func (r *Report) String() string {
	var st []string
	for k, v := range r.Statuses {
		st = append(st, fmt.Sprintf("%s: %d", k, v))
	}
	sort.Strings(st)
	return fmt.Sprintf("porcupine %s: %d jobs, %d operations (%d without an answer); outcomes %v; two outcomes %d, two claims %d, stored twice %d; answers {%s}",
		r.Result, r.Jobs, r.Ops, r.Unknown, r.Outcomes, len(r.TwoOutcomes), len(r.TwoClaims), len(r.TwoStored), strings.Join(st, ", "))
}

// Visualize writes Porcupine's HTML view of the history (with the longest
// linearizations it found) to path.
func (r *Report) Visualize(path string) error {
	return porcupine.VisualizePath(r.model, r.info, path)
}

// Job returns the operations of one record, in call order, for a failure
// message.
func (r *Report) Job(id string) string {
	var b strings.Builder
	var t0 int64
	for _, o := range r.ops {
		if o.ID != id {
			continue
		}
		if t0 == 0 {
			t0 = o.Call
		}
		ret := "∞"
		if o.Return != math.MaxInt64 {
			ret = time.Duration(o.Return - t0).String()
		}
		dl := ""
		if o.Deadline != 0 {
			dl = fmt.Sprintf(" deadline +%s", time.Duration(o.Deadline-t0))
		}
		fmt.Fprintf(&b, "  [+%s, +%s] %s%s\n", time.Duration(o.Call-t0), ret, o, dl)
	}
	return b.String()
}

// Illegal returns the ids of records whose own history is not
// linearizable, each checked alone.
func (r *Report) Illegal() []string {
	if r.Result == porcupine.Ok {
		return nil
	}
	var ids []string
	for id, h := range r.parts {
		if !porcupine.CheckOperations(r.model, h) {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	return ids
}
