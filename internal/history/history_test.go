package history_test

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/proofline/proofline/internal/history"
)

const ms = int64(time.Millisecond)

// The deployment of these histories: deadline 1 s after the start, records
// kept 2 s past it (pending) or after completion (done).
var cfg = history.Config{Timeout: 2 * time.Second, Slack: time.Millisecond}

const (
	id       = "00000000-0000-4000-8000-000000000001"
	deadline = 1000 * ms
)

func op(kind history.Kind, call, ret int64, a history.Answer) history.Op {
	return history.Op{ID: id, Kind: kind, Call: call * ms, Return: ret * ms, Answer: a}
}

func start() history.Op {
	return op(history.Start, 0, 1, history.Answer{Status: 202, Deadline: deadline})
}

func read(call, ret int64, outcome, result string) history.Op {
	return op(history.Read, call, ret, history.Answer{Status: 200, Outcome: outcome, Result: result})
}

func status(kind history.Kind, call, ret int64, code int) history.Op {
	return op(kind, call, ret, history.Answer{Status: code})
}

var (
	resA = history.Digest(json.RawMessage(`{"success":true,"errors":{},"messages":[]}`))
	resB = history.Digest(json.RawMessage(`{"success":false,"errors":{"ssn":["Unverified SSN."]}}`))
)

// TestModelAccepts: histories proofline may legally produce, including
// duplicates, late callbacks, lost answers and records the test did not see
// start.
func TestModelAccepts(t *testing.T) {
	t.Parallel()
	for name, ops := range map[string][]history.Op{
		"the happy path, then forgotten": {start(), status(history.Claim, 10, 20, 200), status(history.Callback, 100, 110, 204),
			read(5, 105, history.Done, resA), read(200, 210, history.Done, resA), status(history.Delete, 300, 310, 204),
			status(history.Read, 400, 410, 404), status(history.Callback, 500, 510, 404)},
		"a duplicate claim and concurrent duplicate callbacks": {start(), status(history.Claim, 10, 20, 200), status(history.Claim, 12, 30, 409),
			status(history.Callback, 100, 120, 204), status(history.Callback, 100, 121, 409), status(history.Callback, 101, 119, 409),
			read(130, 140, history.Done, resA)},
		"a read overlapping the callback may still say pending": {start(), status(history.Claim, 10, 20, 200),
			read(90, 150, history.Pending, ""), status(history.Callback, 100, 110, 204), read(200, 210, history.Done, resA)},
		"timed out, then a late callback and a late claim": {start(), status(history.Claim, 10, 20, 200), read(20, 1001, history.TimedOut, ""),
			status(history.Callback, 1100, 1110, 410), status(history.Claim, 1200, 1210, 409), read(1300, 1310, history.TimedOut, "")},
		"never claimed: 410 past the deadline": {start(), status(history.Claim, 1100, 1110, 410), read(1120, 1130, history.TimedOut, "")},
		"a callback whose answer was lost": {start(), status(history.Claim, 10, 20, 200), status(history.Callback, 100, 0, 0),
			read(200, 210, history.Done, resB)},
		"a claim whose answer was lost, then the redelivery": {start(), status(history.Claim, 10, 0, 503), status(history.Claim, 50, 60, 409),
			read(1100, 1110, history.TimedOut, "")},
		"a lost claim answer that did not land": {start(), status(history.Claim, 10, 0, 0), status(history.Claim, 50, 60, 200),
			status(history.Callback, 100, 110, 204), read(200, 210, history.Done, resA)},
		"expired: pending at deadline + timeout, done timeout after completion": {start(), read(3001, 3002, "", ""),
			status(history.Claim, 3100, 3110, 404)},
		"done record expires after the timeout": {start(), status(history.Claim, 10, 20, 200), status(history.Callback, 100, 110, 204),
			read(2050, 2060, history.Done, resA), status(history.Read, 2200, 2210, 404)},
		"a slow claim pushes the pending record's expiry back by its time in flight": {start(), status(history.Claim, 10, 500, 200),
			read(3300, 3310, history.TimedOut, "")},
		"the start was not seen (its answer was lost)": {status(history.Claim, 10, 20, 200), status(history.Callback, 100, 110, 204),
			read(200, 210, history.Done, resA)},
	} {
		t.Run(name, func(t *testing.T) {
			for i := range ops {
				if ops[i].Kind == history.Read && ops[i].Outcome == "" && ops[i].Status == 200 {
					ops[i].Status = 404
				}
			}
			r := history.Check(cfg, ops, 10*time.Second)
			if !r.OK() {
				t.Fatalf("%s\n%s", r, r.Job(id))
			}
		})
	}
}

// TestModelRefuses: each history here is a bug a user would notice (two
// outcomes, a key released twice, a lost record, data readable past its
// time); the check must refuse every one.
func TestModelRefuses(t *testing.T) {
	t.Parallel()
	for name, ops := range map[string][]history.Op{
		"two claims answered 200": {start(), status(history.Claim, 10, 20, 200), status(history.Claim, 30, 40, 200)},
		"two concurrent callbacks both stored": {start(), status(history.Claim, 10, 20, 200),
			status(history.Callback, 100, 120, 204), status(history.Callback, 101, 121, 204)},
		"pending after done": {start(), status(history.Claim, 10, 20, 200), status(history.Callback, 100, 110, 204),
			read(200, 210, history.Pending, "")},
		"timed out, then done": {start(), status(history.Claim, 10, 20, 200), read(1000, 1001, history.TimedOut, ""),
			status(history.Callback, 990, 1010, 204), read(1100, 1110, history.Done, resA)},
		"two different results": {start(), status(history.Claim, 10, 20, 200), status(history.Callback, 100, 110, 204),
			read(200, 210, history.Done, resA), read(300, 310, history.Done, resB)},
		"stored without a claim":         {start(), status(history.Callback, 100, 110, 204)},
		"pending read past the deadline": {start(), read(1100, 1110, history.Pending, "")},
		"stored past the deadline":       {start(), status(history.Claim, 10, 20, 200), status(history.Callback, 1100, 1110, 204)},
		"late (410) before the deadline": {start(), status(history.Claim, 10, 20, 200), status(history.Callback, 100, 110, 410)},
		"the record vanished before its time (lost)": {start(), status(history.Claim, 10, 20, 200),
			status(history.Read, 100, 110, 404)},
		"a deleted record read back": {start(), status(history.Delete, 100, 110, 204), read(200, 210, history.Pending, "")},
		"a done record readable past its TTL": {start(), status(history.Claim, 10, 20, 200), status(history.Callback, 100, 110, 204),
			read(2200, 2210, history.Done, resA)},
		"timed out past its expiry, slow claim and all": {start(), status(history.Claim, 10, 500, 200),
			read(3600, 3610, history.TimedOut, "")},
		"a start for an id already in use": {start(), op(history.Start, 10, 20, history.Answer{Status: 202, Deadline: deadline})},
	} {
		t.Run(name, func(t *testing.T) {
			r := history.Check(cfg, ops, 10*time.Second)
			if r.OK() {
				t.Fatalf("accepted: %s\n%s", r, r.Job(id))
			}
			if r.Result == porcupine.Ok {
				// Only the direct counts caught it: Porcupine must too.
				t.Fatalf("porcupine accepted: %s\n%s", r, r.Job(id))
			}
			if got := r.Illegal(); len(got) != 1 || got[0] != id {
				t.Fatalf("Illegal() = %v", got)
			}
		})
	}
}

func TestCountsAndVisualization(t *testing.T) {
	t.Parallel()
	ops := []history.Op{start(), status(history.Claim, 10, 20, 200), status(history.Claim, 11, 21, 200),
		status(history.Callback, 100, 110, 204), read(200, 210, history.Done, resA), read(1100, 1110, history.TimedOut, "")}
	r := history.Check(cfg, ops, 10*time.Second)
	if len(r.TwoClaims) != 1 || len(r.TwoOutcomes) != 1 || r.Outcomes["two"] != 1 || r.Statuses["claim 200"] != 2 {
		t.Fatalf("%s", r)
	}
	if !strings.Contains(r.Job(id), "claim 00000000 → 200") {
		t.Fatalf("Job: %s", r.Job(id))
	}
	path := filepath.Join(t.TempDir(), "history.html")
	if err := r.Visualize(path); err != nil {
		t.Fatal(err)
	}
}

func TestDigest(t *testing.T) {
	t.Parallel()
	a := history.Digest(json.RawMessage(`{"b":1,"a":[],"c":null,"d":{}}`))
	b := history.Digest(json.RawMessage(`{"a":null,"b":1}`))
	c := history.Digest(json.RawMessage(`{"b":2}`))
	if a != b || a == c {
		t.Fatalf("digests %s %s %s", a, b, c)
	}
}
