package pool_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/proofline/proofline"
	"github.com/proofline/proofline/dispatch"
	"github.com/proofline/proofline/dispatch/pool"
)

func env() *proofline.Envelope {
	return &proofline.Envelope{Version: 1, Kind: proofline.KindAddress, ResultID: proofline.NewResultID(), Deadline: time.Now().Add(time.Minute)}
}

func TestPoolRunsEveryJobWithBoundedConcurrency(t *testing.T) {
	t.Parallel()
	var running, peak, done atomic.Int64
	var wg sync.WaitGroup
	h := dispatch.HandlerFunc(func(ctx context.Context, e *proofline.Envelope) error {
		defer wg.Done()
		n := running.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		time.Sleep(time.Millisecond)
		running.Add(-1)
		done.Add(1)
		return nil
	})
	p := pool.New(h, pool.Options{Workers: 4, QueueSize: 200})
	d := dispatch.New(p, dispatch.Options{})
	wg.Add(200)
	for range 200 {
		if err := d.Dispatch(context.Background(), env()); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	if done.Load() != 200 {
		t.Fatalf("ran %d of 200 jobs", done.Load())
	}
	if peak.Load() > 4 {
		t.Fatalf("ran %d jobs at once with 4 workers", peak.Load())
	}
	if err := d.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestPoolFullAndClosedAreUnavailable(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	started := make(chan struct{}, 10)
	h := dispatch.HandlerFunc(func(ctx context.Context, e *proofline.Envelope) error {
		started <- struct{}{}
		<-release
		return nil
	})
	p := pool.New(h, pool.Options{Workers: 1, QueueSize: 1})
	d := dispatch.New(p, dispatch.Options{})
	if err := d.Dispatch(context.Background(), env()); err != nil {
		t.Fatal(err)
	}
	<-started // the one worker is busy
	if err := d.Dispatch(context.Background(), env()); err != nil {
		t.Fatal(err) // fills the queue
	}
	err := d.Dispatch(context.Background(), env())
	if proofline.ErrorCode(err) != proofline.EUNAVAILABLE || !errors.Is(err, dispatch.ErrFull) {
		t.Fatalf("full pool: got %v", err)
	}
	close(release)
	if err := d.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := d.Dispatch(context.Background(), env()); !errors.Is(err, dispatch.ErrClosed) || proofline.ErrorCode(err) != proofline.EUNAVAILABLE {
		t.Fatalf("closed pool: got %v", err)
	}
	if err := d.Close(context.Background()); err != nil {
		t.Fatal("second Close:", err)
	}
}

func TestPoolDrainsQueuedJobsThenCancelsAtDeadline(t *testing.T) {
	t.Parallel()
	var finished atomic.Int64
	var cancelled atomic.Int64
	h := dispatch.HandlerFunc(func(ctx context.Context, e *proofline.Envelope) error {
		if e.TraceID == "hang" {
			<-ctx.Done()
			cancelled.Add(1)
			return ctx.Err()
		}
		time.Sleep(5 * time.Millisecond)
		finished.Add(1)
		return nil
	})
	p := pool.New(h, pool.Options{Workers: 2, QueueSize: 20})
	hang := env()
	hang.TraceID = "hang"
	_ = p.Send(context.Background(), hang)
	for range 10 {
		_ = p.Send(context.Background(), env())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	err := p.Close(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Close with a hung job: got %v, want deadline exceeded", err)
	}
	if finished.Load() != 10 {
		t.Errorf("drain finished %d of 10 queued jobs", finished.Load())
	}
	if cancelled.Load() != 1 {
		t.Errorf("hung job was not cancelled in the second stage")
	}
}

func TestDispatchRefusesExpiredEnvelope(t *testing.T) {
	t.Parallel()
	var ran atomic.Bool
	p := pool.New(dispatch.HandlerFunc(func(context.Context, *proofline.Envelope) error { ran.Store(true); return nil }), pool.Options{})
	d := dispatch.New(p, dispatch.Options{})
	e := env()
	e.Deadline = time.Now().Add(-time.Second)
	if err := d.Dispatch(context.Background(), e); proofline.ErrorCode(err) != proofline.EINVALID {
		t.Fatalf("got %v", err)
	}
	_ = d.Close(context.Background())
	if ran.Load() {
		t.Fatal("expired envelope ran")
	}
}

func TestPoolSurvivesPanickingJob(t *testing.T) {
	t.Parallel()
	var ok atomic.Int64
	p := pool.New(dispatch.HandlerFunc(func(_ context.Context, e *proofline.Envelope) error {
		if e.TraceID == "panic" {
			panic("boom")
		}
		ok.Add(1)
		return nil
	}), pool.Options{Workers: 1})
	bad := env()
	bad.TraceID = "panic"
	_ = p.Send(context.Background(), bad)
	_ = p.Send(context.Background(), env())
	_ = p.Close(context.Background())
	if ok.Load() != 1 {
		t.Fatal("the worker did not survive a panicking job")
	}
}
