// Package history records what every party saw of proofline's result records
// during a fault test, and checks it for linearizability with Porcupine.
//
// A history is a list of operations on result records, each with the wall
// clock time it was sent (Call), the time its answer came back (Return) and
// the answer: starts, claims and callbacks (as the load balancer in front of
// the servers forwarded them, duplicates and late replays included), reads
// (plain and long polls) and deletes. An operation whose answer never came
// (a reset, a timeout, a 5xx) may or may not have taken effect: its outcome
// is unknown and the model allows both.
//
// The model is the life of one record (see the package proofline doc):
//
//	absent ──start──▶ pending ──claim (once, before the deadline)──▶ claimed
//	claimed ──callback (before the deadline, first one wins)──▶ done
//	pending/claimed past the deadline: reads say timed_out, claims and
//	callbacks 410; a job a reader was told timed_out never becomes done
//	delete, or the TTL (deadline + timeout; done: completion + timeout) ──▶ gone (404)
//
// Time enters the model only through each operation's own interval: the
// server decides "before the deadline" at some instant inside [Call, Return],
// so an answer is allowed when some instant in the interval allows it (with
// Slack for clock granularity). The processes share one machine and one wall
// clock.
//
// Records are independent, so the history is partitioned by result id.
package history

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"sync"
	"time"
)

// Kind is what an operation did.
type Kind uint8

// The operations on a record.
const (
	Start    Kind = iota + 1 // POST /api/v1/proofing/{kind}: 202 creates the record
	Claim                    // POST /api/proofing_results/{kind}/{id}/claim
	Callback                 // POST /api/proofing_results/{kind}/{id}
	Read                     // GET /api/v1/proofing/{id}[?wait=N]
	Delete                   // DELETE /api/v1/proofing/{id}
)

func (k Kind) String() string {
	switch k {
	case Start:
		return "start"
	case Claim:
		return "claim"
	case Callback:
		return "callback"
	case Read:
		return "read"
	case Delete:
		return "delete"
	}
	return "?"
}

// Read outcomes (the status field of a 200 answer).
const (
	Pending  = "pending"
	Done     = "done"
	TimedOut = "timed_out"
)

// Answer is what came back.
type Answer struct {
	// Status is the HTTP status; 0 when no answer came (network error,
	// timeout). 0 and 5xx are unknown outcomes.
	Status int
	// Outcome is a 200 read's status: Pending, Done or TimedOut.
	Outcome string
	// Result is a digest of a done read's result (see Digest).
	Result string
	// Deadline is a start's job deadline, Unix nanoseconds.
	Deadline int64
}

// Unknown reports whether the operation may or may not have taken effect.
func (a Answer) Unknown() bool { return a.Status == 0 || a.Status >= 500 }

// Op is one operation on one record.
type Op struct {
	ID   string
	Kind Kind
	// Client names who sent it (for the visualization): 0 the driver, 1
	// the load balancer (workers), 2 the test's duplicates and replays.
	Client int
	// Dup marks a duplicate or late replay the test made on purpose.
	Dup bool
	// Call and Return are wall clock Unix nanoseconds. An operation with an
	// unknown outcome has Return = math.MaxInt64 once recorded.
	Call, Return int64
	Answer
}

func (o Op) String() string {
	s := fmt.Sprintf("%s %s → %d", o.Kind, short(o.ID), o.Status)
	if o.Outcome != "" {
		s += " " + o.Outcome
	}
	if o.Result != "" {
		s += " " + o.Result[:8]
	}
	if o.Dup {
		s += " (dup)"
	}
	return s
}

func short(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}

// Now is the wall clock in Unix nanoseconds, as operations are timed.
func Now() int64 { return time.Now().UnixNano() }

// Recorder collects operations from many goroutines.
type Recorder struct {
	mu  sync.Mutex
	ops []Op
}

// Add records op. An unknown outcome gets Return = math.MaxInt64: its effect
// may land any time after Call.
func (r *Recorder) Add(op Op) {
	if op.Answer.Unknown() {
		op.Return = math.MaxInt64
	}
	r.mu.Lock()
	r.ops = append(r.ops, op)
	r.mu.Unlock()
}

// Ops returns a copy of what was recorded.
func (r *Recorder) Ops() []Op {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Op(nil), r.ops...)
}

// Len is the number of operations recorded.
func (r *Recorder) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.ops)
}

// Digest returns a short digest of a result JSON object that ignores key
// order and treats null, [] and {} alike (an empty list may be written
// either way), so two reads of one stored result agree and two different
// results do not.
func Digest(raw json.RawMessage) string {
	var v any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		sum := sha256.Sum256(raw)
		return hex.EncodeToString(sum[:8])
	}
	b, _ := json.Marshal(canonical(v)) // map keys are sorted by json.Marshal
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

func canonical(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, e := range x {
			if c := canonical(e); c != nil {
				out[k] = c
			}
		}
		if len(out) == 0 {
			return nil
		}
		return out
	case []any:
		if len(x) == 0 {
			return nil
		}
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = canonical(e)
		}
		return out
	}
	return v
}

// byID groups ops by record, each group sorted by Call.
func byID(ops []Op) map[string][]Op {
	m := map[string][]Op{}
	for _, o := range ops {
		m[o.ID] = append(m[o.ID], o)
	}
	for _, g := range m {
		sort.SliceStable(g, func(i, j int) bool { return g[i].Call < g[j].Call })
	}
	return m
}
