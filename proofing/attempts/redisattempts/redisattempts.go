// Package redisattempts is the Redis driver of package attempts. It shares
// the result store's connection (redisstore.Driver.Client) or any other
// rueidis client.
package redisattempts

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/rueidis"

	"github.com/proofline/proofline/proofing/attempts"
)

// DefaultPrefix prefixes the attempt counters' keys.
const DefaultPrefix = "proofline:attempts:"

// Driver is the Redis driver of package attempts: per subject, a sorted
// set of in-flight attempt ids scored by deadline and a sorted set of used
// attempts scored by expiry, each call one Lua script (one round trip) on the
// server's clock.
type Driver struct {
	client rueidis.Client
	prefix string
}

// New returns the attempts driver over client, with keys under prefix
// (DefaultPrefix when empty). It does not own client: closing it is the
// caller's job.
func New(client rueidis.Client, prefix string) *Driver {
	if prefix == "" {
		prefix = DefaultPrefix
	}
	return &Driver{client: client, prefix: prefix}
}

var reserveScript = rueidis.NewLuaScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
local n = redis.call('ZCARD', KEYS[1]) + redis.call('ZCARD', KEYS[2])
if n >= tonumber(ARGV[3]) then return 0 end
local deadline = tonumber(ARGV[2])
redis.call('ZADD', KEYS[1], deadline, ARGV[1])
local want = deadline - now
if want < 1 then want = 1 end
if redis.call('PTTL', KEYS[1]) < want then redis.call('PEXPIRE', KEYS[1], want) end
return 1
`)

var finishScript = rueidis.NewLuaScript(`
redis.call('ZREM', KEYS[1], ARGV[1])
if ARGV[2] == '1' then
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  local window = tonumber(ARGV[3])
  redis.call('ZADD', KEYS[2], now + window, ARGV[1])
  redis.call('PEXPIRE', KEYS[2], window)
end
return 1
`)

func (a *Driver) keys(key string) []string {
	return []string{a.prefix + key + ":inflight", a.prefix + key + ":used"}
}

// Reserve implements attempts.Driver.
func (a *Driver) Reserve(ctx context.Context, key, id string, deadline time.Time, max int, _ time.Duration) (bool, error) {
	n, err := reserveScript.Exec(ctx, a.client, a.keys(key), []string{id, strconv.FormatInt(deadline.UnixMilli(), 10), strconv.Itoa(max)}).AsInt64()
	if err != nil {
		return false, backend("attempts reserve", err)
	}
	return n == 1, nil
}

// Finish implements attempts.Driver.
func (a *Driver) Finish(ctx context.Context, key, id string, consume bool, window time.Duration) error {
	c := "0"
	if consume {
		c = "1"
	}
	ms := max(window.Milliseconds(), 1)
	if err := finishScript.Exec(ctx, a.client, a.keys(key), []string{id, c, strconv.FormatInt(ms, 10)}).Error(); err != nil {
		return backend("attempts finish", err)
	}
	return nil
}

// Close implements attempts.Driver; the client belongs to the caller.
func (a *Driver) Close() error { return nil }

// backend wraps a Redis error. rueidis errors name at most host:port, never
// the URL or the credentials.
func backend(op string, err error) error {
	return fmt.Errorf("redisattempts: %s: %w", op, err)
}

var _ attempts.Driver = (*Driver)(nil)
