package queuedispatch_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/proofline/proofline"
	"github.com/proofline/proofline/dispatch"
	"github.com/proofline/proofline/dispatch/queuedispatch"
	"github.com/proofline/proofline/internal/sentineltest"
)

func TestParseRedisURLSentinel(t *testing.T) {
	t.Parallel()
	opt, err := queuedispatch.ParseRedisURL("redis-sentinel://worker:wpw@10.0.0.1:26379,10.0.0.2:26379/3?master=mymaster&sentinel_password=spw")
	if err != nil {
		t.Fatal(err)
	}
	want := asynq.RedisFailoverClientOpt{
		MasterName: "mymaster", SentinelAddrs: []string{"10.0.0.1:26379", "10.0.0.2:26379"},
		SentinelPassword: "spw", Username: "worker", Password: "wpw", DB: 3,
	}
	if !reflect.DeepEqual(opt, want) {
		t.Fatalf("got %+v\nwant %+v", opt, want)
	}
	for _, u := range []string{
		"redis-sentinel://:queue-secret-pw@10.0.0.1:26379/0",
		"redis-sentinel://:queue-secret-pw@10.0.0.1/0?master=m",
		"redis-sentinel://:queue-secret-pw@10.0.0.1:26379/x?master=m",
	} {
		if _, err := queuedispatch.ParseRedisURL(u); err == nil || strings.Contains(err.Error(), "queue-secret-pw") {
			t.Errorf("%s: %v", u, err)
		}
	}
}

// TestSentinelQueueFollowsFailover: a driver and a consumer given a
// redis-sentinel:// URL (as the workers' queue-only user) move to the
// promoted replica when the primary is killed; jobs sent after the
// failover reach the consumer, with neither made again.
func TestSentinelQueueFollowsFailover(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	c, err := sentineltest.Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Stop)
	user, err := c.QueueUser(ctx, "qworker", "qworker-pw-0123456789")
	if err != nil {
		t.Fatal(err)
	}
	opt, err := queuedispatch.ParseRedisURL(c.URL(user))
	if err != nil {
		t.Fatal(err)
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	prefix := "s" + hex.EncodeToString(b[:])
	drv, err := queuedispatch.NewDriver(queuedispatch.DriverOptions{Redis: opt, QueuePrefix: prefix, SweepInterval: -1})
	if err != nil {
		t.Fatalf("%v\n%s", err, c.Log())
	}
	t.Cleanup(func() { _ = drv.Close(context.Background()) })
	d := dispatch.New(drv, dispatch.Options{})
	rec := &recorder{}
	cons, err := queuedispatch.NewConsumer(rec, queuedispatch.ConsumerOptions{Redis: opt, QueuePrefix: prefix, Concurrency: 4,
		CheckInterval: 10 * time.Millisecond, ShutdownTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := cons.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sctx, scancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer scancel()
		_ = cons.Shutdown(sctx)
	})
	if err := d.Dispatch(ctx, envelope(proofline.KindAddress, time.Minute)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the job before the failover", func() bool { return rec.n() == 1 })
	old, err := c.Primary()
	if err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	old.Kill()
	if _, err := c.WaitFailover(ctx, old.Addr()); err != nil {
		t.Fatalf("%v\n%s", err, c.Log())
	}
	// Sends fail until the client has moved; the IdP retries (503).
	for {
		err := d.Dispatch(ctx, envelope(proofline.KindAddress, time.Minute))
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("never sent after the failover: %v\n%s", err, c.Log())
		}
		time.Sleep(50 * time.Millisecond)
	}
	for end := time.Now().Add(30 * time.Second); rec.n() < 2; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("the consumer never got the job sent after the failover\n%s", c.Log())
		}
	}
	t.Logf("a job sent and consumed %s after the primary was killed", time.Since(killed).Round(time.Millisecond))
}
