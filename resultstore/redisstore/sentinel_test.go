package redisstore_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/proofline/proofline"
	"github.com/proofline/proofline/internal/redistest"
	"github.com/proofline/proofline/internal/sentineltest"
	"github.com/proofline/proofline/resultstore"
	"github.com/proofline/proofline/resultstore/redisstore"
	"github.com/proofline/proofline/resultstore/storetest"
)

// TestSentinelFollowsFailover: a driver given a redis-sentinel:// URL finds
// the primary through the Sentinels, and after the primary is killed it
// writes to the promoted replica without being made again; what it wrote
// before (once replicated) is still there.
func TestSentinelFollowsFailover(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	c, err := sentineltest.Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Stop)
	// The data nodes' user and password come from the URL's userinfo (ACL
	// users are not replicated: both servers get it).
	for _, s := range c.Servers {
		if _, err := sentineltest.Command(s.Addr(), "ACL", "SETUSER", "store", "on", ">store-pw-0123456789", "~*", "+@all"); err != nil {
			t.Fatal(err)
		}
	}
	user := "store:store-pw-0123456789"
	d, err := redisstore.New(ctx, redisstore.Options{URL: c.URL(user), KeyPrefix: redistest.Prefix(t)})
	if err != nil {
		t.Fatalf("%v\n%s", err, c.Log())
	}
	t.Cleanup(func() { d.Close() })
	if err := d.Create(ctx, "before", []byte("v1"), time.Minute); err != nil {
		t.Fatal(err)
	}
	old, err := c.Primary()
	if err != nil {
		t.Fatal(err)
	}
	if cl, err := sentineltest.Command(old.Addr(), "CLIENT", "LIST"); err != nil || !strings.Contains(cl.(string), "user=store ") {
		t.Fatalf("the driver is not connected as the URL's user: %v %v", cl, err)
	}
	if n, err := sentineltest.Command(old.Addr(), "WAIT", "1", "5000"); err != nil || n != int64(1) {
		t.Fatalf("WAIT = %v, %v", n, err)
	}
	killed := time.Now()
	old.Kill()
	if _, err := c.WaitFailover(ctx, old.Addr()); err != nil {
		t.Fatalf("%v\n%s", err, c.Log())
	}
	// Writes fail (fast: the driver does not retry) until the client has
	// moved to the new primary.
	for {
		err := d.Create(ctx, "after", []byte("v2"), time.Minute)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("the driver never wrote to the new primary: %v\n%s", err, c.Log())
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("writes again %s after the primary was killed", time.Since(killed).Round(time.Millisecond))
	for k, want := range map[string]string{"before": "v1", "after": "v2"} {
		if v, err := d.Get(ctx, k); err != nil || string(v) != want {
			t.Fatalf("Get(%s) = %q, %v", k, v, err)
		}
	}
	if err := d.Swap(ctx, "after", []byte("v2"), []byte("v3"), time.Minute); err != nil {
		t.Fatalf("Swap on the new primary: %v", err)
	}
}

func TestSentinelURLRejectedWithoutEchoingIt(t *testing.T) {
	t.Parallel()
	for _, u := range []string{
		"redis-sentinel://:" + password + "@127.0.0.1:26379/0",                        // no master
		"redis-sentinel://:" + password + "@127.0.0.1/0?master=m",                     // no port
		"redis-sentinel://:" + password + "@127.0.0.1:26379/x?master=m",               // db
		"redis-sentinel://:" + password + "@127.0.0.1:26379/0?master=m&x=" + password, // unknown
	} {
		_, err := redisstore.New(context.Background(), redisstore.Options{URL: u})
		storetest.WantCode(t, err, proofline.EINVALID)
		var pe *proofline.Error
		if errors.As(err, &pe); pe.Field != "redis_url" {
			t.Errorf("Field = %q, want redis_url", pe.Field)
		}
		if strings.Contains(err.Error(), password) {
			t.Fatalf("error text holds the password: %q", err)
		}
	}
	// Nothing listening: unavailable, naming the sentinels, not the password.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, err := redisstore.New(ctx, redisstore.Options{URL: "redis-sentinel://:" + password + "@127.0.0.1:1/0?master=m"})
	storetest.WantCode(t, err, proofline.EUNAVAILABLE)
	if strings.Contains(err.Error(), password) || !strings.Contains(err.Error(), "127.0.0.1:1") {
		t.Fatalf("error %q", err)
	}
}

var _ resultstore.Driver = (*redisstore.Driver)(nil)
