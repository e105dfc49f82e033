// Package redisstore is the Redis driver of resultstore: every result id is
// one Redis string holding the sealed record, with a millisecond TTL. Any
// number of IdP servers can share one Redis.
//
// Create is SET NX PX, Get is GET, Delete is DEL and Swap is one Lua script
// (one round trip) that compares the current value with the expected one byte
// for byte before SET PX.
//
// The driver does not retry: when Redis is down or restarting, a call fails
// at once (the Store reports EUNAVAILABLE) and the next call reconnects.
// After a restart each pooled connection fails its first command once.
package redisstore

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/rueidis"

	"github.com/proofline/proofline"
	"github.com/proofline/proofline/internal/redisurl"
	"github.com/proofline/proofline/resultstore"
)

// DefaultKeyPrefix is prepended to each result id when Options leaves KeyPrefix empty.
const DefaultKeyPrefix = "proofline:result:"

// connectTimeout bounds the PING at construction when ctx has no deadline.
const connectTimeout = 10 * time.Second

// Options configures a Driver.
type Options struct {
	// URL is redis_url: redis://[user:password@]host:port/db, rediss://
	// for TLS, or redis-sentinel://[user:password@]host:port[,host:port…][/db]?master=<name>
	// to find the primary through Redis Sentinel and follow its failovers
	// (see internal/redisurl). The credentials are read from it; neither
	// the URL nor the credentials ever appear in an error.
	URL string
	// KeyPrefix is prepended to each result id. Default DefaultKeyPrefix.
	KeyPrefix string
}

// Driver is a resultstore.Driver backed by Redis. It is safe for concurrent use.
type Driver struct {
	client    rueidis.Client
	prefix    string
	closeOnce sync.Once
	// borrowed: the connection belongs to the Driver this one was made
	// from (Namespace); Close leaves it open.
	borrowed bool
}

// swapScript replaces KEYS[1] with ARGV[2] (TTL ARGV[3] ms) only if it holds
// exactly ARGV[1]. Returns 1 on success, 0 if absent, -1 if the value differs.
// Lua string comparison is byte for byte.
var swapScript = rueidis.NewLuaScript(`
local cur = redis.call('GET', KEYS[1])
if not cur then
  return 0
end
if cur ~= ARGV[1] then
  return -1
end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return 1
`)

// New connects to Redis and checks it answers PING. Errors are
// *proofline.Error: EINVALID (Field "redis_url") for a malformed URL,
// EUNAVAILABLE when Redis cannot be reached or refuses the credentials.
func New(ctx context.Context, opts Options) (*Driver, error) {
	copt, addr, err := parseURL(opts.URL)
	if err != nil {
		return nil, err
	}
	copt.DisableCache = true // no client-side caching: every read goes to Redis
	// Fail fast: a command that cannot reach Redis returns its error at
	// once instead of being retried inside rueidis until ctx ends. The
	// callers (poll, callback) own retries, per request.
	copt.DisableRetry = true
	client, err := rueidis.NewClient(copt)
	if err != nil {
		return nil, proofline.WrapError(proofline.EUNAVAILABLE, "redis unreachable at "+addr, err)
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, connectTimeout)
		defer cancel()
	}
	if err := client.Do(ctx, client.B().Ping().Build()).Error(); err != nil {
		client.Close()
		return nil, proofline.WrapError(proofline.EUNAVAILABLE, "redis does not answer PING at "+addr, err)
	}
	prefix := opts.KeyPrefix
	if prefix == "" {
		prefix = DefaultKeyPrefix
	}
	return &Driver{client: client, prefix: prefix}, nil
}

// parseURL turns redis_url into client options and the host:port to name in
// errors. Its errors never quote the URL: it may hold a password.
func parseURL(raw string) (rueidis.ClientOption, string, error) {
	invalid := func(msg string) error {
		return &proofline.Error{Code: proofline.EINVALID, Message: msg, Field: "redis_url"}
	}
	if raw == "" {
		return rueidis.ClientOption{}, "", invalid("redis_url missing")
	}
	if redisurl.IsSentinel(raw) {
		s, err := redisurl.ParseSentinel(raw)
		if err != nil {
			return rueidis.ClientOption{}, "", invalid("redis_url: " + err.Error())
		}
		return rueidis.ClientOption{
			InitAddress: s.Addrs,
			Username:    s.Username,
			Password:    s.Password,
			SelectDB:    s.DB,
			Sentinel: rueidis.SentinelOption{
				MasterSet: s.Master,
				Username:  s.SentinelUsername,
				Password:  s.SentinelPassword,
			},
		}, "sentinels " + strings.Join(s.Addrs, ","), nil
	}
	u, err := url.Parse(raw)
	if err != nil { // url.Error quotes the whole URL: drop it
		return rueidis.ClientOption{}, "", invalid("redis_url is not a valid URL")
	}
	if u.Scheme != "redis" && u.Scheme != "rediss" {
		return rueidis.ClientOption{}, "", invalid("redis_url scheme must be redis, rediss or redis-sentinel")
	}
	if u.Host == "" {
		return rueidis.ClientOption{}, "", invalid("redis_url host missing")
	}
	copt, err := rueidis.ParseURL(raw)
	if err != nil {
		return rueidis.ClientOption{}, "", invalid("redis_url database number or options malformed")
	}
	if len(copt.InitAddress) == 0 {
		return rueidis.ClientOption{}, "", invalid("redis_url host missing")
	}
	return copt, copt.InitAddress[0], nil
}

func (d *Driver) key(id string) string { return d.prefix + id }

// millis is ttl in whole milliseconds, rounded up, at least 1.
func millis(ttl time.Duration) (int64, error) {
	if ttl <= 0 {
		return 0, errors.New("redisstore: ttl must be positive")
	}
	return int64((ttl + time.Millisecond - 1) / time.Millisecond), nil
}

// Create stores value under id for ttl with SET NX PX.
func (d *Driver) Create(ctx context.Context, id string, value []byte, ttl time.Duration) error {
	ms, err := millis(ttl)
	if err != nil {
		return err
	}
	cmd := d.client.B().Set().Key(d.key(id)).Value(rueidis.BinaryString(value)).Nx().PxMilliseconds(ms).Build()
	err = d.client.Do(ctx, cmd).Error()
	switch {
	case err == nil:
		return nil
	case rueidis.IsRedisNil(err):
		return resultstore.ErrExists
	default:
		return backend("create", err)
	}
}

// Get returns the value under id with GET.
func (d *Driver) Get(ctx context.Context, id string) ([]byte, error) {
	// AsBytes aliases a string rueidis allocated for this reply alone, so
	// the caller owns the bytes.
	b, err := d.client.Do(ctx, d.client.B().Get().Key(d.key(id)).Build()).AsBytes()
	switch {
	case err == nil:
		return b, nil
	case rueidis.IsRedisNil(err):
		return nil, resultstore.ErrNotFound
	default:
		return nil, backend("get", err)
	}
}

// Swap replaces the value under id with next (TTL ttl) if it equals old, in
// one round trip.
func (d *Driver) Swap(ctx context.Context, id string, old, next []byte, ttl time.Duration) error {
	ms, err := millis(ttl)
	if err != nil {
		return err
	}
	n, err := swapScript.Exec(ctx, d.client,
		[]string{d.key(id)},
		[]string{rueidis.BinaryString(old), rueidis.BinaryString(next), strconv.FormatInt(ms, 10)},
	).AsInt64()
	if err != nil {
		return backend("swap", err)
	}
	switch n {
	case 1:
		return nil
	case 0:
		return resultstore.ErrNotFound
	case -1:
		return resultstore.ErrConflict
	default:
		return backend("swap", fmt.Errorf("unexpected script reply %d", n))
	}
}

// Delete removes id with DEL and reports whether it was present.
func (d *Driver) Delete(ctx context.Context, id string) (bool, error) {
	n, err := d.client.Do(ctx, d.client.B().Del().Key(d.key(id)).Build()).AsInt64()
	if err != nil {
		return false, backend("delete", err)
	}
	return n > 0, nil
}

// Client is the driver's connection, for other drivers that share it (the
// Redis attempts driver). Closing it is the Driver's job.
func (d *Driver) Client() rueidis.Client { return d.client }

// Namespace returns a Driver over the same connection whose keys are under
// prefix instead (e.g. "proofline:session:"), for other records kept beside
// the results. Closing it leaves the connection open: the Driver it was made
// from owns it.
func (d *Driver) Namespace(prefix string) *Driver {
	return &Driver{client: d.client, prefix: prefix, borrowed: true}
}

// Close closes the connections (not those of a Namespace). It is idempotent.
func (d *Driver) Close() error {
	if !d.borrowed {
		d.closeOnce.Do(d.client.Close)
	}
	return nil
}

// backend wraps a Redis error. rueidis errors name at most host:port, never
// the URL or the credentials.
func backend(op string, err error) error {
	return fmt.Errorf("redisstore: %s: %w", op, err)
}

var _ resultstore.Driver = (*Driver)(nil)
