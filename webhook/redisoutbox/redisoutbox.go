// Package redisoutbox is the Redis driver of the webhook outbox: one sorted
// set of ids scored by due time (milliseconds) and one string per message
// with its TTL, under a key prefix. Each call is one Lua script (one round
// trip), so instances sharing Redis lease each message to one of them at a
// time. It shares the result store's connection (redisstore.Driver.Client).
package redisoutbox

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/rueidis"

	"github.com/proofline/proofline/webhook"
)

// DefaultPrefix prefixes the outbox's keys.
const DefaultPrefix = "proofline:webhook:"

// Driver is a webhook.Driver over Redis.
type Driver struct {
	client rueidis.Client
	due    string
	item   string
}

// New returns the outbox over client, with keys under prefix (DefaultPrefix
// when empty). It does not own client.
func New(client rueidis.Client, prefix string) *Driver {
	if prefix == "" {
		prefix = DefaultPrefix
	}
	return &Driver{client: client, due: prefix + "due", item: prefix + "item:"}
}

var putScript = rueidis.NewLuaScript(`
redis.call('SET', ARGV[1] .. ARGV[2], ARGV[3], 'PX', ARGV[5])
redis.call('ZADD', KEYS[1], ARGV[4], ARGV[2])
return 1
`)

// leaseScript: ARGV = now ms, lease-until ms, n, item prefix.
var leaseScript = rueidis.NewLuaScript(`
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
local out = {}
for _, id in ipairs(ids) do
  local v = redis.call('GET', ARGV[4] .. id)
  if v then
    redis.call('ZADD', KEYS[1], ARGV[2], id)
    out[#out + 1] = id
    out[#out + 1] = v
  else
    redis.call('ZREM', KEYS[1], id)
  end
end
return out
`)

var ackScript = rueidis.NewLuaScript(`
local v = redis.call('GET', ARGV[1] .. ARGV[2])
if v == ARGV[3] then
  redis.call('DEL', ARGV[1] .. ARGV[2])
  redis.call('ZREM', KEYS[1], ARGV[2])
  return 1
end
if not v then redis.call('ZREM', KEYS[1], ARGV[2]) end
return 0
`)

// Put implements webhook.Driver.
func (d *Driver) Put(ctx context.Context, id string, value []byte, due time.Time, ttl time.Duration) error {
	if ttl <= 0 {
		return errors.New("redisoutbox: ttl must be positive")
	}
	ms := int64((ttl + time.Millisecond - 1) / time.Millisecond)
	err := putScript.Exec(ctx, d.client, []string{d.due},
		[]string{d.item, id, rueidis.BinaryString(value), strconv.FormatInt(due.UnixMilli(), 10), strconv.FormatInt(ms, 10)}).Error()
	if err != nil {
		return fmt.Errorf("redisoutbox: put: %w", err)
	}
	return nil
}

// Lease implements webhook.Driver.
func (d *Driver) Lease(ctx context.Context, now time.Time, lease time.Duration, n int) ([]webhook.Item, error) {
	vals, err := leaseScript.Exec(ctx, d.client, []string{d.due},
		[]string{strconv.FormatInt(now.UnixMilli(), 10), strconv.FormatInt(now.Add(lease).UnixMilli(), 10), strconv.Itoa(n), d.item}).ToArray()
	if err != nil {
		return nil, fmt.Errorf("redisoutbox: lease: %w", err)
	}
	out := make([]webhook.Item, 0, len(vals)/2)
	for i := 0; i+1 < len(vals); i += 2 {
		id, err1 := vals[i].ToString()
		v, err2 := vals[i+1].AsBytes()
		if err1 != nil || err2 != nil {
			return nil, errors.New("redisoutbox: lease: malformed reply")
		}
		out = append(out, webhook.Item{ID: id, Value: v})
	}
	return out, nil
}

// Ack implements webhook.Driver.
func (d *Driver) Ack(ctx context.Context, id string, value []byte) error {
	err := ackScript.Exec(ctx, d.client, []string{d.due}, []string{d.item, id, rueidis.BinaryString(value)}).Error()
	if err != nil {
		return fmt.Errorf("redisoutbox: ack: %w", err)
	}
	return nil
}

// Close does nothing: the connection belongs to whoever made it.
func (d *Driver) Close() error { return nil }

var _ webhook.Driver = (*Driver)(nil)
