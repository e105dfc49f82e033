package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// newHTTPClient is the one client configuration every load in a run uses
// (proofline and the bare baseline): keep-alive, one idle connection kept per
// simulated person, no compression.
func newHTTPClient(people int) *http.Client {
	return &http.Client{Transport: &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        people*2 + 16,
		MaxIdleConnsPerHost: people*2 + 16,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
		ForceAttemptHTTP2:   false,
	}}
}

// Job kinds of the mix. "state_id" is a resolution job with
// should_proof_state_id: two vendor stages.
const (
	kindResolution = "resolution"
	kindStateID    = "state_id"
	kindAddress    = "address"
)

var applicant = map[string]string{
	"first_name": "Jane", "last_name": "Doe", "dob": "1980-06-15", "ssn": "123-45-6789",
	"address1": "1 Main St", "city": "Reston", "state": "VA", "zipcode": "20190",
}

// jobBody is the start request of kind; hang makes the mock vendors wait
// until the job's deadline (first name containing "Hang").
func jobBody(kind string, hang bool) (path string, body []byte) {
	a := map[string]string{}
	for k, v := range applicant {
		a[k] = v
	}
	if hang {
		a["first_name"] = "JaneHang"
	}
	req := map[string]any{"applicant": a}
	switch kind {
	case kindResolution:
		path = "/api/v1/proofing/resolution"
	case kindStateID:
		path = "/api/v1/proofing/resolution"
		a["state_id_number"] = "123456789"
		a["state_id_jurisdiction"] = "VA"
		a["state_id_type"] = "drivers_license"
		req["should_proof_state_id"] = true
	case kindAddress:
		path = "/api/v1/proofing/address"
		a["phone"] = "703-555-0100"
	}
	body, _ = json.Marshal(req)
	return path, body
}

// parseMix reads "resolution:2,state_id:1,address:1" into a repeating
// sequence of kinds (job i gets seq[i%len]).
func parseMix(s string) ([]string, error) {
	var seq []string
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		name, w, ok := strings.Cut(part, ":")
		n := 1
		if ok {
			var err error
			if n, err = strconv.Atoi(w); err != nil || n < 0 || n > 100 {
				return nil, fmt.Errorf("--mix: weight of %q must be 0-100", name)
			}
		}
		switch name {
		case kindResolution, kindStateID, kindAddress:
		default:
			return nil, fmt.Errorf("--mix: unknown kind %q (resolution, state_id, address)", name)
		}
		for range n {
			seq = append(seq, name)
		}
	}
	if len(seq) == 0 {
		return nil, errors.New("--mix: no kinds")
	}
	return seq, nil
}

// jobRecord is what the client saw of one job.
type jobRecord struct {
	id       string
	kind     string
	t0       time.Time // just before the start request was sent
	t1       time.Time // when the response showing the outcome was read
	stages   int       // vendor stages in the result
	status   string    // "done", "timed_out", or "" (never seen)
	outcomes int       // terminal outcomes the client saw (must be 1)
	success  bool
	reads    int // status reads
}

// errCounter counts errors by kind.
type errCounter struct {
	mu sync.Mutex
	m  map[string]int64
}

func (e *errCounter) add(kind string) {
	e.mu.Lock()
	if e.m == nil {
		e.m = map[string]int64{}
	}
	e.m[kind]++
	e.mu.Unlock()
}

func (e *errCounter) snapshot() map[string]int64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := map[string]int64{}
	for k, v := range e.m {
		out[k] = v
	}
	return out
}

// api is the JSON API client of one run.
type api struct {
	base, key string
	client    *http.Client
	errs      *errCounter
}

type apiResp struct {
	status int
	body   []byte
	header http.Header
}

func (a *api) do(ctx context.Context, method, path string, body []byte, timeout time.Duration) (*apiResp, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, a.base+path, rd)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+a.key)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := a.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	return &apiResp{status: resp.StatusCode, body: b, header: resp.Header}, nil
}

// errKind names a transport error without addresses or ids (low cardinality).
func errKind(op string, err error) string {
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return op + ": client timeout"
	case errors.Is(err, context.Canceled):
		return op + ": canceled"
	case strings.Contains(err.Error(), "connection refused"):
		return op + ": connection refused"
	case strings.Contains(err.Error(), "connection reset"):
		return op + ": connection reset"
	case strings.Contains(err.Error(), "EOF"):
		return op + ": EOF"
	}
	return op + ": transport error"
}

type outcomeBody struct {
	Status string `json:"status"`
	Result *struct {
		Success bool `json:"success"`
		Context struct {
			Stages []json.RawMessage `json:"stages"`
		} `json:"context"`
	} `json:"result"`
}

// waitOpts says how a person waits for an outcome.
type waitOpts struct {
	push         bool
	pollInterval time.Duration
	pushWait     int // seconds, the ?wait= of a long poll
}

// start sends a start request. It returns the result id, or refused (503),
// or an error already counted.
func (a *api) start(ctx context.Context, path string, body []byte) (id string, refused bool, err error) {
	r, err := a.do(ctx, http.MethodPost, path, body, 15*time.Second)
	if err != nil {
		if ctx.Err() == nil {
			a.errs.add(errKind("start", err))
		}
		return "", false, err
	}
	switch r.status {
	case http.StatusAccepted:
	case http.StatusServiceUnavailable:
		return "", true, nil
	default:
		a.errs.add("start: HTTP " + strconv.Itoa(r.status))
		return "", false, fmt.Errorf("start: HTTP %d", r.status)
	}
	var st struct {
		ResultID string `json:"result_id"`
	}
	if err := json.Unmarshal(r.body, &st); err != nil || st.ResultID == "" {
		a.errs.add("start: bad 202 body")
		return "", false, errors.New("start: bad body")
	}
	return st.ResultID, false, nil
}

// wait reads the job's status until it is no longer pending (or ctx ends) and
// fills rec.
func (a *api) wait(ctx context.Context, rec *jobRecord, w waitOpts) {
	path := "/api/v1/proofing/" + rec.id
	timeout := 10 * time.Second
	if w.push {
		path += "?wait=" + strconv.Itoa(w.pushWait)
		timeout = time.Duration(w.pushWait)*time.Second + 10*time.Second
	}
	for ctx.Err() == nil {
		r, err := a.do(ctx, http.MethodGet, path, nil, timeout)
		rec.reads++
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			a.errs.add(errKind("status", err))
			sleepCtx(ctx, 50*time.Millisecond)
			continue
		}
		now := time.Now()
		if r.status != http.StatusOK {
			a.errs.add("status: HTTP " + strconv.Itoa(r.status))
			if r.status == http.StatusNotFound {
				return // gone: nothing more will come
			}
			sleepCtx(ctx, 50*time.Millisecond)
			continue
		}
		var o outcomeBody
		if err := json.Unmarshal(r.body, &o); err != nil {
			a.errs.add("status: bad body")
			return
		}
		switch o.Status {
		case "pending":
			if !w.push {
				sleepCtx(ctx, w.pollInterval)
			}
			continue
		case "done":
			rec.t1, rec.status = now, "done"
			rec.outcomes++
			if o.Result != nil {
				rec.stages = len(o.Result.Context.Stages)
				rec.success = o.Result.Success
			}
			if o.Result == nil || !o.Result.Success {
				a.errs.add("outcome: success=false")
			}
			return
		case "timed_out":
			rec.t1, rec.status = now, "timed_out"
			rec.outcomes++
			a.errs.add("outcome: timed_out")
			return
		default:
			a.errs.add("status: unknown status")
			return
		}
	}
}

func (a *api) forget(ctx context.Context, id string) {
	r, err := a.do(ctx, http.MethodDelete, "/api/v1/proofing/"+id, nil, 15*time.Second)
	if err != nil {
		if ctx.Err() == nil {
			a.errs.add(errKind("delete", err))
		}
		return
	}
	if r.status != http.StatusNoContent {
		a.errs.add("delete: HTTP " + strconv.Itoa(r.status))
	}
}

// loadResult is what the people loop produced.
type loadResult struct {
	records []jobRecord // index = job ticket; records with id == "" never started
	refused int64
	elapsed time.Duration
	cutOff  bool // the duration limit stopped new starts before every job ran
}

// runPeople runs people goroutines, each looping: take a job ticket, start
// the job (a 503 is counted as refused and retried after a short pause),
// wait for its outcome, delete it. New jobs start until jobs have been
// taken or stopStarting ends; waits end at hard.
func runPeople(stopStarting, hard context.Context, a *api, people, jobs int, mix []string, w waitOpts, hang bool) *loadResult {
	res := &loadResult{records: make([]jobRecord, jobs)}
	bodies := map[string][]byte{}
	paths := map[string]string{}
	for _, k := range []string{kindResolution, kindStateID, kindAddress} {
		paths[k], bodies[k] = jobBody(k, hang)
	}
	var next, refused atomic.Int64
	var wg sync.WaitGroup
	t0 := time.Now()
	for range people {
		wg.Add(1)
		go func() {
			defer wg.Done()
			consecutiveErrs := 0
			for stopStarting.Err() == nil && consecutiveErrs < 50 {
				i := int(next.Add(1) - 1)
				if i >= jobs {
					return
				}
				rec := &res.records[i]
				rec.kind = mix[i%len(mix)]
				for stopStarting.Err() == nil {
					rec.t0 = time.Now()
					// The request itself runs under hard: once sent, its answer is
					// read, so a job started at the limit is still followed.
					id, ref, err := a.start(hard, paths[rec.kind], bodies[rec.kind])
					if ref {
						refused.Add(1)
						sleepCtx(stopStarting, 20*time.Millisecond)
						continue
					}
					if err != nil {
						consecutiveErrs++
						sleepCtx(stopStarting, 20*time.Millisecond)
						break
					}
					consecutiveErrs = 0
					rec.id = id
					break
				}
				if rec.id == "" {
					continue
				}
				a.wait(hard, rec, w)
				if rec.status != "" {
					a.forget(hard, rec.id)
				}
			}
		}()
	}
	wg.Wait()
	res.elapsed = time.Since(t0)
	res.refused = refused.Load()
	res.cutOff = int(next.Load()) < jobs
	return res
}
