// Package chaos drives a proofline fleet (internal/fleettest) through faults
// and records, for internal/history, every operation on every result record:
// the IdP side (starts, reads, long polls, deletes, reads past expiry) from
// the driver, and the worker side (claims and callbacks) from the fleet's
// load balancer, which also sends duplicates of some of them at once and
// replays others after their job's deadline.
//
// The sizes come from the environment so one test serves both `make test`
// (small) and `make chaos` (PROOFLINE_CHAOS=1: thousands of jobs per fault,
// longer soak).
package chaos

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/proofline/proofline/internal/fleettest"
	"github.com/proofline/proofline/internal/history"
)

// Long reports whether the long runs of `make chaos` were asked for
// (PROOFLINE_CHAOS=1).
func Long() bool { return os.Getenv("PROOFLINE_CHAOS") == "1" }

// Size returns short in `make test` and long in `make chaos`.
func Size(short, long int) int {
	if Long() {
		return long
	}
	return short
}

// Job is one proofing job of a run and what its outcome must be.
type Job struct {
	Kind string
	Body any
	Doc  bool
	// Want is "success", "error:<field>", or "timed_out" (the Hang sandbox).
	Want string

	ID       string
	Deadline time.Time
	// StartErr is set when the start was not answered 202.
	StartErr error
	// Final is the one outcome the driver saw: history.Done,
	// history.TimedOut, or "" (none).
	Final  string
	Result *Result
}

// Result is the part of a done result the driver checks against the mock
// vendors.
type Result struct {
	Success bool                `json:"success"`
	Errors  map[string][]string `json:"errors"`
}

// Mix returns n jobs of every kind with the mock vendors' magic values
// (fleettest.Mix): every docEvery-th a document job (0: none), every
// hangEvery-th a resolution the vendor answers past the deadline (0: none).
func Mix(n, docEvery, hangEvery int) []*Job {
	jobs := make([]*Job, 0, n)
	for _, j := range fleettest.Mix(n, docEvery, hangEvery) {
		jobs = append(jobs, &Job{Kind: j.Kind, Body: j.Body, Doc: j.Doc, Want: j.Want})
	}
	return jobs
}

// CheckResult reports whether a done job's result is what its input asks
// the mock vendors for: never a result other than the vendor's.
func (j *Job) CheckResult() error {
	r := j.Result
	switch {
	case r == nil:
		return fmt.Errorf("%s job %s: no result", j.Kind, j.ID)
	case j.Want == "timed_out":
		return fmt.Errorf("%s job %s: done, but the vendor hangs past the deadline", j.Kind, j.ID)
	case j.Want == "success":
		if !r.Success || len(r.Errors) != 0 {
			return fmt.Errorf("%s job %s: %+v, want success", j.Kind, j.ID, *r)
		}
	default:
		field := strings.TrimPrefix(j.Want, "error:")
		if r.Success || len(r.Errors[field]) == 0 {
			return fmt.Errorf("%s job %s: %+v, want errors.%s", j.Kind, j.ID, *r, field)
		}
	}
	return nil
}

// Driver is the IdP back end of a run: it starts jobs, follows them to their
// outcome on the other server, reads them again, deletes some, and records
// every operation with its answer.
type Driver struct {
	Rec *history.Recorder
	// Timeout is the fleet's async_wait_timeout_seconds.
	Timeout time.Duration
	// NoExpiryReads skips the reads after a record's expiry (Run then
	// returns as soon as every job has ended: a throughput measure).
	NoExpiryReads bool
	client        *fleettest.Client
	http          *http.Client
}

// NewDriver returns a driver recording into rec.
func NewDriver(rec *history.Recorder, timeout time.Duration) *Driver {
	hc := &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	return &Driver{Rec: rec, Timeout: timeout, client: &fleettest.Client{HTTP: hc}, http: hc}
}

// Start starts j at origin and records the start when it is answered 202.
func (d *Driver) Start(j *Job, origin string) error {
	call := history.Now()
	var s fleettest.Started
	var err error
	if j.Doc {
		s, err = d.client.StartDocument(origin, []byte("front image"), []byte("back image"))
	} else {
		s, err = d.client.Start(origin, j.Kind, j.Body)
	}
	ret := history.Now()
	if err != nil {
		j.StartErr = err
		return err
	}
	j.ID, j.Deadline = s.ResultID, s.Deadline
	if j.Deadline.IsZero() {
		j.StartErr = fmt.Errorf("start answer without a deadline")
		return j.StartErr
	}
	d.Rec.Add(history.Op{ID: j.ID, Kind: history.Start, Call: call, Return: ret,
		Answer: history.Answer{Status: 202, Deadline: j.Deadline.UnixNano()}})
	return nil
}

// readAnswer is a poll answer as the driver keeps it.
type readAnswer struct {
	Status string          `json:"status"`
	Result json.RawMessage `json:"result"`
}

// Read reads id at origin (a long poll when wait > 0) and records it.
// Reads that got no answer have no effect and are not recorded.
func (d *Driver) Read(ctx context.Context, origin, id string, wait int, dup bool) (history.Answer, *Result, error) {
	path := "/api/v1/proofing/" + id
	if wait > 0 {
		path += "?wait=" + strconv.Itoa(wait)
	}
	call := history.Now()
	code, raw, err := d.do(ctx, http.MethodGet, origin+path)
	ret := history.Now()
	if err != nil || code >= 500 {
		return history.Answer{Status: code}, nil, fmt.Errorf("read: %d %v", code, err)
	}
	a := history.Answer{Status: code}
	var res *Result
	if code == 200 {
		var ra readAnswer
		if err := json.Unmarshal(raw, &ra); err != nil {
			return a, nil, fmt.Errorf("read: %v", err)
		}
		a.Outcome = ra.Status
		if ra.Status == history.Done {
			a.Result = history.Digest(ra.Result)
			res = new(Result)
			if err := json.Unmarshal(ra.Result, res); err != nil {
				return a, nil, fmt.Errorf("read result: %v", err)
			}
		}
	}
	client := 0
	if dup {
		client = 2
	}
	d.Rec.Add(history.Op{ID: id, Kind: history.Read, Client: client, Call: call, Return: ret, Answer: a})
	return a, res, nil
}

// Delete forgets id at origin and records it.
func (d *Driver) Delete(ctx context.Context, origin, id string) (int, error) {
	call := history.Now()
	code, _, err := d.do(ctx, http.MethodDelete, origin+"/api/v1/proofing/"+id)
	d.Rec.Add(history.Op{ID: id, Kind: history.Delete, Call: call, Return: history.Now(), Answer: history.Answer{Status: code}})
	return code, err
}

func (d *Driver) do(ctx context.Context, method, url string) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, url, nil)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+fleettest.APIKey)
	resp, err := d.http.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return 0, nil, err
	}
	return resp.StatusCode, b, nil
}

// Follow long-polls j until it is done or timed out, starting on origins[0]
// and moving to the next origin whenever a read gets no answer (a server
// down, a fault). It gives up at until. It sets j.Final and j.Result.
func (d *Driver) Follow(ctx context.Context, j *Job, origins func() []string, until time.Time) {
	for i := 0; time.Now().Before(until) && ctx.Err() == nil; {
		o := origins()
		if len(o) == 0 {
			time.Sleep(50 * time.Millisecond)
			continue
		}
		wait := 5
		a, res, err := d.Read(ctx, o[i%len(o)], j.ID, wait, false)
		switch {
		case err != nil:
			i++ // try the other server
			time.Sleep(50 * time.Millisecond)
		case a.Status == 200 && a.Outcome == history.Done:
			j.Final, j.Result = history.Done, res
			return
		case a.Status == 200 && a.Outcome == history.TimedOut:
			j.Final = history.TimedOut
			return
		case a.Status == 200:
			// still pending: poll again
		default:
			return // 404: the record is gone (lost: Final stays "")
		}
	}
}

// Run starts jobs at rate per second (0: as fast as 16 goroutines go) on
// servers()[i%n], follows each to its outcome on the next server, reads
// it once more on the first, deletes every third and reads it back, and
// reads every fourth once more after it expired. It returns when every job
// has ended (or until passed).
func (d *Driver) Run(ctx context.Context, jobs []*Job, servers func() []string, rate float64, until time.Time) {
	var wg sync.WaitGroup
	var expiry sync.WaitGroup
	began := time.Now()
	sem := make(chan struct{}, 512)
	for i, j := range jobs {
		if rate > 0 {
			at := began.Add(time.Duration(float64(i) / rate * float64(time.Second)))
			if w := time.Until(at); w > 0 {
				time.Sleep(w)
			}
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			d.one(ctx, i, j, servers, until, &expiry)
		}()
	}
	wg.Wait()
	expiry.Wait()
}

func (d *Driver) one(ctx context.Context, i int, j *Job, servers func() []string, until time.Time, expiry *sync.WaitGroup) {
	var err error
	for try := 0; try < 3; try++ {
		s := servers()
		if len(s) == 0 {
			return
		}
		if err = d.Start(j, s[(i+try)%len(s)]); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		return
	}
	rot := func() []string {
		s := servers()
		if len(s) < 2 {
			return s
		}
		k := (i + 1) % len(s)
		return append(append([]string(nil), s[k:]...), s[:k]...)
	}
	d.Follow(ctx, j, rot, until)
	if j.Final == "" {
		return
	}
	// Read once more on another server (the answer must agree).
	if s := servers(); len(s) > 0 {
		_, _, _ = d.Read(ctx, s[i%len(s)], j.ID, 0, false)
	}
	if i%3 == 0 {
		s := servers()
		if len(s) > 0 {
			if code, err := d.Delete(ctx, s[(i+1)%len(s)], j.ID); err == nil && code == 204 {
				_, _, _ = d.Read(ctx, s[i%len(s)], j.ID, 0, false)
			}
		}
		return
	}
	if i%4 == 1 && !d.NoExpiryReads {
		// After the record's time (deadline + timeout; a done record
		// timeout after its completion, which is before the deadline) it
		// must be gone.
		expiry.Add(1)
		go func() {
			defer expiry.Done()
			at := j.Deadline.Add(d.Timeout + 200*time.Millisecond)
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Until(at)):
			}
			if s := servers(); len(s) > 0 {
				_, _, _ = d.Read(ctx, s[0], j.ID, 0, false)
			}
		}()
	}
}

// Duplicator is the load balancer hook of a run: it records every claim and
// callback the workers send, sends a copy of some of them concurrently (a
// redelivery racing the original), and keeps them so Replay can send them
// again after their deadline.
type Duplicator struct {
	Rec *history.Recorder
	// LB is where the copies go (the load balancer itself, so they reach
	// any server, without the faults between workers and servers).
	LB string
	// ClaimRate and CallbackRate are the shares of claims and callbacks
	// copied (0–1).
	ClaimRate, CallbackRate float64

	http     *http.Client
	mu       sync.Mutex
	kept     map[string]*fleettest.Exchange // callback (or claim) by result id
	sentDups atomic.Int64
}

// dupHeader marks the test's own copies so they are not copied again.
const dupHeader = "X-Chaos-Copy"

// Hook returns the load balancer hook.
func (c *Duplicator) Hook() *fleettest.Hook {
	c.http = &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	c.kept = map[string]*fleettest.Exchange{}
	return &fleettest.Hook{
		Before: func(e *fleettest.Exchange) {
			if e.Header.Get(dupHeader) != "" {
				return
			}
			kind, id, claim, ok := parsePath(e.Path)
			if !ok {
				return
			}
			_ = kind
			rate := c.CallbackRate
			if claim {
				rate = c.ClaimRate
			}
			c.mu.Lock()
			if prev := c.kept[id]; prev == nil || !claim {
				c.kept[id] = e
			}
			c.mu.Unlock()
			if rand.Float64() < rate {
				go c.send(e)
			}
		},
		After: func(e *fleettest.Exchange) {
			_, id, claim, ok := parsePath(e.Path)
			if !ok {
				return
			}
			k := history.Callback
			if claim {
				k = history.Claim
			}
			op := history.Op{ID: id, Kind: k, Client: 1, Call: e.Start.UnixNano(), Return: e.End.UnixNano(), Answer: history.Answer{Status: e.Status}}
			if e.Header.Get(dupHeader) != "" {
				op.Client, op.Dup = 2, true
			}
			c.Rec.Add(op)
		},
	}
}

// send sends a copy of e through the load balancer (recorded by the hook).
func (c *Duplicator) send(e *fleettest.Exchange) {
	req, err := http.NewRequest(e.Method, c.LB+e.Path, bytes.NewReader(e.Body))
	if err != nil {
		return
	}
	req.Header = e.Header.Clone()
	req.Header.Set(dupHeader, "1")
	c.sentDups.Add(1)
	resp, err := c.http.Do(req)
	if err != nil {
		return
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
}

// Copies is the number of copies sent (duplicates and replays).
func (c *Duplicator) Copies() int64 { return c.sentDups.Load() }

// Replay sends again, once, the last callback (or, when none was sent,
// the claim) of every ith job in ids, after the job's deadline: a late
// callback or claim. It returns when all are answered.
func (c *Duplicator) Replay(jobs []*Job, every int) {
	var wg sync.WaitGroup
	for i, j := range jobs {
		if j.ID == "" || i%every != 0 {
			continue
		}
		c.mu.Lock()
		e := c.kept[j.ID]
		c.mu.Unlock()
		if e == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			time.Sleep(time.Until(j.Deadline.Add(50 * time.Millisecond)))
			c.send(e)
		}()
	}
	wg.Wait()
}

// parsePath reads /api/proofing_results/{kind}/{id}[/claim].
func parsePath(p string) (kind, id string, claim, ok bool) {
	rest, found := strings.CutPrefix(p, "/api/proofing_results/")
	if !found {
		return "", "", false, false
	}
	parts := strings.Split(rest, "/")
	switch {
	case len(parts) == 2:
		return parts[0], parts[1], false, true
	case len(parts) == 3 && parts[2] == "claim":
		return parts[0], parts[1], true, true
	}
	return "", "", false, false
}
