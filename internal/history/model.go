package history

import (
	"fmt"
	"hash/fnv"
	"math"
	"time"

	"github.com/anishathalye/porcupine"
)

// Config is what the model needs to know about the deployment.
type Config struct {
	// Timeout is async_wait_timeout_seconds: a pending record is readable
	// until deadline + Timeout (as timed_out past the deadline), a done one
	// for Timeout after its completion.
	Timeout time.Duration
	// Slack widens every time comparison, for clock granularity and Redis'
	// millisecond TTLs. Default 5 ms.
	Slack time.Duration
}

type phase uint8

const (
	absent phase = iota // not created yet
	live                // pending (claimed or not)
	done
	gone // deleted or expired
)

func (p phase) String() string {
	return [...]string{"absent", "pending", "done", "gone"}[p]
}

// state is one record's state in the model. It is comparable: porcupine
// compares states with ==.
type state struct {
	phase    phase
	claimed  bool
	timedOut bool  // a reader was told timed_out: the job can no longer be done
	deadline int64 // 0: unknown (a record whose start the test did not see)
	// doneFrom and doneTo bound the completion instant (the accepted
	// callback's interval); the done record expires Timeout after it.
	doneFrom, doneTo int64
	// ext is how much later than deadline + Timeout a pending record may
	// expire. Redis counts a TTL from the write that sets it, and the
	// server computed it (deadline + Timeout - now) before the write
	// travelled: the longest write since (a claim, or the dropping of the
	// data key by a timed_out read) may push the expiry back by its time in
	// flight, never earlier.
	ext    int64
	result string // digest of the result readers saw ("" none yet)
}

func (s state) String() string {
	out := s.phase.String()
	if s.phase == live && s.claimed {
		out = "claimed"
	}
	if s.timedOut {
		out += ", timed_out seen"
	}
	if s.result != "" {
		out += " " + s.result[:8]
	}
	return out
}

type model struct {
	timeout, slack int64
}

// add is a+b, saturating at MaxInt64 (Return of unknown outcomes).
func add(a, b int64) int64 {
	if a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}

// beforeDeadline: the server may have found now < deadline inside op.
func (m model) beforeDeadline(s state, o Op) bool {
	return s.deadline == 0 || o.Call < add(s.deadline, m.slack)
}

// afterDeadline: the server may have found now >= deadline inside op.
func (m model) afterDeadline(s state, o Op) bool {
	return s.deadline == 0 || add(o.Return, m.slack) >= s.deadline
}

// mayExpire: the record may have expired before op's answer.
func (m model) mayExpire(s state, o Op) bool {
	switch s.phase {
	case live:
		return s.deadline == 0 || add(o.Return, m.slack) >= add(s.deadline, m.timeout)
	case done:
		return add(o.Return, m.slack) >= add(s.doneFrom, m.timeout)
	}
	return false
}

// mayLive: the record may still have been there when op was served.
func (m model) mayLive(s state, o Op) bool {
	switch s.phase {
	case live:
		return s.deadline == 0 || o.Call < add(add(add(s.deadline, m.timeout), s.ext), m.slack)
	case done:
		return o.Call < add(add(s.doneTo, m.timeout), m.slack)
	}
	return false
}

// step returns every state the record may be in after o, from s; none when
// o's answer is impossible in s.
func (m model) step(s state, o Op) []state {
	if o.Answer.Unknown() {
		// No effect, or the effect of the operation succeeding.
		next := []state{s}
		var ok Answer
		switch o.Kind {
		case Claim:
			ok.Status = 200
		case Callback:
			ok.Status = 204
		case Delete:
			ok.Status = 204
		default:
			return next // reads and starts have no unknown effect we model
		}
		o.Answer = ok
		return append(next, m.step(s, o)...)
	}
	if s.phase == absent {
		if o.Kind == Start && o.Status == 202 {
			return []state{{phase: live, deadline: o.Deadline}}
		}
		return nil
	}
	// 404: deleted, or expired by now.
	if o.Status == 404 {
		if s.phase == gone || (s.phase != gone && m.mayExpire(s, o)) {
			return []state{{phase: gone}}
		}
		return nil
	}
	if s.phase == gone || !m.mayLive(s, o) {
		return nil // nothing but 404 once gone
	}
	switch o.Kind {
	case Start:
		return nil // a result id is created once
	case Claim:
		switch o.Status {
		case 200:
			if s.phase == live && !s.claimed && m.beforeDeadline(s, o) {
				n := s
				n.claimed = true
				n.ext = max(n.ext, o.Return-o.Call)
				return []state{n}
			}
		case 409:
			// Already claimed or done; or, at the deadline, a reader's
			// shredding of the unclaimed record won the compare-and-swap.
			if s.phase == done || s.claimed || m.afterDeadline(s, o) {
				return []state{s}
			}
		case 410:
			if s.phase == live && !s.claimed && m.afterDeadline(s, o) {
				return []state{s}
			}
		}
	case Callback:
		switch o.Status {
		case 204:
			// The data key, hence the callback secret, comes only with a
			// claim; first outcome wins; never after a timed_out answer.
			if s.phase == live && s.claimed && !s.timedOut && m.beforeDeadline(s, o) {
				return []state{{phase: done, claimed: true, deadline: s.deadline, doneFrom: o.Call, doneTo: o.Return}}
			}
		case 409:
			if s.phase == done {
				return []state{s}
			}
		case 410:
			if s.phase == live && m.afterDeadline(s, o) {
				return []state{s}
			}
		}
	case Read:
		if o.Status != 200 {
			return nil
		}
		switch o.Outcome {
		case Pending:
			if s.phase == live && m.beforeDeadline(s, o) {
				return []state{s}
			}
		case TimedOut:
			if s.phase == live && m.afterDeadline(s, o) {
				n := s
				n.timedOut = true
				if !s.claimed {
					n.ext = max(n.ext, o.Return-o.Call)
				}
				return []state{n}
			}
		case Done:
			if s.phase == done && (s.result == "" || s.result == o.Result) {
				n := s
				n.result = o.Result
				return []state{n}
			}
		}
	case Delete:
		if o.Status == 204 {
			return []state{{phase: gone}}
		}
	}
	return nil
}

// Model is the Porcupine model of one record's life, partitioned by result
// id.
func Model(c Config) porcupine.Model {
	if c.Slack == 0 {
		c.Slack = 5 * time.Millisecond
	}
	m := model{timeout: int64(c.Timeout), slack: int64(c.Slack)}
	nm := porcupine.NondeterministicModel{
		Partition: func(h []porcupine.Operation) [][]porcupine.Operation {
			idx := map[string]int{}
			var parts [][]porcupine.Operation
			for _, op := range h {
				id := op.Input.(Op).ID
				i, ok := idx[id]
				if !ok {
					i = len(parts)
					idx[id] = i
					parts = append(parts, nil)
				}
				parts[i] = append(parts[i], op)
			}
			return parts
		},
		Init: func() []any { return []any{state{}} },
		Step: func(st, in, _ any) []any {
			next := m.step(st.(state), in.(Op))
			out := make([]any, len(next))
			for i, n := range next {
				out[i] = n
			}
			return out
		},
		Equal: func(a, b any) bool { return a.(state) == b.(state) },
		DescribeOperation: func(in, _ any) string {
			return in.(Op).String()
		},
		Hash: func(st any) uint64 {
			s := st.(state)
			h := fnv.New64a()
			fmt.Fprint(h, s.phase, s.claimed, s.timedOut, s.deadline, s.doneFrom, s.doneTo, s.ext, s.result)
			return h.Sum64()
		},
		DescribeState: func(st any) string { return st.(state).String() },
	}
	return nm.ToModel()
}
