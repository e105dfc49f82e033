package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/proofline/proofline"
	"github.com/proofline/proofline/internal/redistest"
	"github.com/proofline/proofline/resultstore"
	"github.com/proofline/proofline/resultstore/redisstore"
	"github.com/proofline/proofline/resultstore/storetest"
)

// srv is this package's redis-server, started once by TestMain.
var srv *redistest.Server

// TestMain runs the tests against one redis-server; then no goroutine a
// test started (a driver's connections) may be left.
func TestMain(m *testing.M) {
	code := redistest.Main(m, &srv)
	if code == 0 {
		if err := goleak.Find(goleak.IgnoreAnyFunction("github.com/redis/rueidis.(*call).DelayDo.func1")); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

func newDriver(t testing.TB) *redisstore.Driver {
	t.Helper()
	d, err := redisstore.New(context.Background(), redisstore.Options{URL: srv.URL(), KeyPrefix: redistest.Prefix(t)})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func harness() storetest.Harness {
	return storetest.Harness{
		NewDriver: func(t *testing.T, _ func() time.Time) resultstore.Driver { return newDriver(t) },
		WallClock: true,
	}
}

func TestRedisDriver(t *testing.T) { storetest.RunDriverTests(t, harness()) }

func TestRedisStore(t *testing.T) { storetest.RunStoreTests(t, harness()) }

func TestRedisRecords(t *testing.T) { storetest.RunRecordsTests(t, harness()) }

// TestNamespaceSharesTheConnection: a Namespace driver keeps its keys under
// its own prefix, and closing it leaves the parent's connection open.
func TestNamespaceSharesTheConnection(t *testing.T) {
	t.Parallel()
	d := newDriver(t)
	t.Cleanup(func() { _ = d.Close() })
	ns := d.Namespace(redistest.Prefix(t))
	ctx := context.Background()
	if err := ns.Create(ctx, "same-id", []byte("ns"), time.Minute); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Get(ctx, "same-id"); !errors.Is(err, resultstore.ErrNotFound) {
		t.Fatalf("the parent sees the namespace's key: %v", err)
	}
	_ = ns.Close()
	if err := d.Create(ctx, "same-id", []byte("parent"), time.Minute); err != nil {
		t.Fatalf("the parent's connection closed with its namespace: %v", err)
	}
}

const password = "hunter2secret"

func TestNewFailsClearlyWhenRedisIsDown(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	d, err := redisstore.New(ctx, redisstore.Options{URL: "redis://:" + password + "@127.0.0.1:1/0"})
	if err == nil {
		d.Close()
		t.Fatal("New succeeded with nothing listening")
	}
	storetest.WantCode(t, err, proofline.EUNAVAILABLE)
	if !strings.Contains(err.Error(), "127.0.0.1:1") {
		t.Errorf("error %q does not name the address", err)
	}
	if strings.Contains(err.Error(), password) {
		t.Fatalf("error text holds the password: %q", err)
	}
}

func TestNewRejectsMalformedURLWithoutEchoingIt(t *testing.T) {
	t.Parallel()
	for _, u := range []string{
		"",
		"redis://:" + password + "@127.0.0.1:notaport/0",
		"http://:" + password + "@127.0.0.1:6379/0",
		"redis://:" + password + "@127.0.0.1:6379/notadb",
		"redis://:" + password + "@127.0.0.1:6379/0/extra",
		"redis://:" + password + "@/0",
		"redis://:" + password + "@127.0.0.1:6379/0?db=" + password,
		":" + password + "@%zz",
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
}

// rediss:// is redis over TLS: accepted as a URL (New then fails only to
// connect, here with nothing listening), unlike other schemes, which are
// refused as configuration errors naming the schemes allowed.
func TestNewAcceptsRedissScheme(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	d, err := redisstore.New(ctx, redisstore.Options{URL: "rediss://:" + password + "@127.0.0.1:1/0"})
	if err == nil {
		d.Close()
		t.Fatal("New succeeded with nothing listening")
	}
	storetest.WantCode(t, err, proofline.EUNAVAILABLE)
	if strings.Contains(err.Error(), password) {
		t.Fatalf("error text holds the password: %q", err)
	}
	_, err = redisstore.New(ctx, redisstore.Options{URL: "http://127.0.0.1:6379/0"})
	storetest.WantCode(t, err, proofline.EINVALID)
	if msg := proofline.ErrorMessage(err); !strings.Contains(msg, "scheme") {
		t.Errorf("message %q does not say the scheme is wrong", msg)
	}
}

// A caller that gives up while New checks Redis (its context ends) gets
// EUNAVAILABLE naming the address, and the connection New opened is
// closed (TestMain finds no goroutine left).
func TestNewGivesUpWithItsContext(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	d, err := redisstore.New(ctx, redisstore.Options{URL: srv.URL()})
	if err == nil {
		d.Close()
		t.Fatal("New succeeded with its context cancelled")
	}
	storetest.WantCode(t, err, proofline.EUNAVAILABLE)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("cause lost: %v", err)
	}
	if msg := proofline.ErrorMessage(err); !strings.Contains(msg, "PING") {
		t.Errorf("message %q does not say Redis did not answer", msg)
	}
}

func TestNewWithPassword(t *testing.T) {
	t.Parallel()
	s, err := redistest.StartWith(redistest.Options{Password: password})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	d, err := redisstore.New(context.Background(), redisstore.Options{URL: s.URL()})
	if err != nil {
		t.Fatalf("New with the right password: %v", err)
	}
	d.Close()
	wrong := strings.Replace(s.URL(), password, "wrong-"+password, 1)
	_, err = redisstore.New(context.Background(), redisstore.Options{URL: wrong})
	storetest.WantCode(t, err, proofline.EUNAVAILABLE)
	if strings.Contains(err.Error(), password) {
		t.Fatalf("error text holds the password: %q", err)
	}
	noPassword := strings.Replace(s.URL(), ":"+password+"@", "", 1)
	_, err = redisstore.New(context.Background(), redisstore.Options{URL: noPassword})
	storetest.WantCode(t, err, proofline.EUNAVAILABLE)
}

func TestKeyPrefixAndTTL(t *testing.T) {
	t.Parallel()
	prefix := redistest.Prefix(t)
	d, err := redisstore.New(context.Background(), redisstore.Options{URL: srv.URL(), KeyPrefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	ctx := context.Background()
	id := proofline.NewResultID()
	if err := d.Create(ctx, id, []byte("v"), 1500*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	c, err := srv.Client()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ms, err := c.Do(ctx, c.B().Pttl().Key(prefix+id).Build()).AsInt64()
	if err != nil {
		t.Fatal(err)
	}
	if ms <= 1000 || ms > 1500 {
		t.Fatalf("PTTL = %d ms, want (1000, 1500]", ms)
	}
}

func TestDefaultKeyPrefix(t *testing.T) {
	t.Parallel()
	d, err := redisstore.New(context.Background(), redisstore.Options{URL: srv.URL()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	ctx := context.Background()
	id := proofline.NewResultID()
	if err := d.Create(ctx, id, []byte("v"), time.Minute); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Delete(ctx, id) })
	all, err := srv.Dump(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if string(all[redisstore.DefaultKeyPrefix+id]) != "v" {
		t.Fatalf("key %q not found in Redis", redisstore.DefaultKeyPrefix+id)
	}
}

// TestRedisHoldsNoPlaintext pushes canary PII through a full attempt and
// reads every key and value Redis holds.
func TestRedisHoldsNoPlaintext(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	prefix := redistest.Prefix(t)
	d, err := redisstore.New(ctx, redisstore.Options{URL: srv.URL(), KeyPrefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	st := resultstore.New(d, storetest.NewRing(t, "k1"), resultstore.Options{})
	t.Cleanup(func() { st.Close() })
	var ids []string
	for range 3 {
		p := storetest.NewPending(time.Now(), time.Minute)
		if err := st.CreatePending(ctx, p); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, p.ResultID)
	}
	for _, id := range ids[:2] {
		rec, err := st.Lookup(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if err := st.Complete(ctx, rec, storetest.CanaryResult(), time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	all, err := srv.Dump(ctx)
	if err != nil {
		t.Fatal(err)
	}
	seen := 0
	for k, v := range all {
		storetest.AssertNoPlaintext(t, "Redis key "+k, []byte(k))
		storetest.AssertNoPlaintext(t, "Redis value of "+k, v)
		if strings.HasPrefix(k, prefix) {
			seen++
		}
	}
	if seen != len(ids) {
		t.Fatalf("found %d of this test's keys in Redis, want %d", seen, len(ids))
	}
}

// TestSurvivesRestart checks the driver reconnects by itself and the swap
// script is reloaded after Redis lost its script cache.
func TestSurvivesRestart(t *testing.T) {
	t.Parallel()
	s, err := redistest.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	ctx := context.Background()
	d, err := redisstore.New(ctx, redisstore.Options{URL: s.URL(), KeyPrefix: redistest.Prefix(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	id := proofline.NewResultID()
	if err := d.Create(ctx, id, []byte("a"), time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := d.Swap(ctx, id, []byte("a"), []byte("b"), time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := s.Restart(); err != nil {
		t.Fatal(err)
	}
	// Redis keeps nothing across the restart. A command sent on a
	// connection opened before it fails once (EOF) and rueidis reconnects;
	// the driver retries nothing, reads included (the Store reports
	// EUNAVAILABLE and the caller decides). So: wait until a full
	// create-then-swap works again; the swap script must be reloaded.
	deadline := time.Now().Add(10 * time.Second)
	for {
		id := proofline.NewResultID()
		err := d.Create(ctx, id, []byte("a"), time.Minute)
		if err == nil {
			err = d.Swap(ctx, id, []byte("a"), []byte("b"), time.Minute)
		}
		if err == nil {
			break
		}
		if errors.Is(err, resultstore.ErrNotFound) || errors.Is(err, resultstore.ErrConflict) || errors.Is(err, resultstore.ErrExists) {
			t.Fatalf("after restart: %v", err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("driver did not recover after restart: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	// The read may go out on another pooled connection from before the
	// restart, which fails its first command once (EOF): only an answer
	// from Redis counts, and that answer must be "not found".
	for {
		_, err := d.Get(ctx, id)
		if errors.Is(err, resultstore.ErrNotFound) {
			break
		}
		if err == nil || time.Now().After(deadline) {
			t.Fatalf("Get of a key from before the restart: %v, want ErrNotFound", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestRedisDownIsUnavailable(t *testing.T) {
	t.Parallel()
	s, err := redistest.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	ctx := context.Background()
	d, err := redisstore.New(ctx, redisstore.Options{URL: s.URL()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	s.Stop()
	st := resultstore.New(d, storetest.NewRing(t, "k1"), resultstore.Options{})
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	_, err = st.Outcome(ctx, proofline.NewResultID())
	storetest.WantCode(t, err, proofline.EUNAVAILABLE)
	err = st.CreatePending(ctx, storetest.NewPending(time.Now(), time.Minute))
	storetest.WantCode(t, err, proofline.EUNAVAILABLE)
}

func BenchmarkStore(b *testing.B) {
	storetest.RunBenchmarks(b, func(b *testing.B) resultstore.Driver { return newDriver(b) })
}
