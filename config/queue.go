package config

import (
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"
)

// Queue configures dispatch over a distributed queue (asynq on Redis) and the
// `proofline worker` processes that consume it (docs/queue.md). `proofline serve`
// and `proofline worker` read the same keys.
type Queue struct {
	// QueueProofingEnabled sends jobs to the distributed queue, consumed by
	// `proofline worker` processes, instead of in-process workers. Requires
	// redis_url (the shared result store) and base_url (the callback origin
	// every worker posts to, normally the load balancer). Default false.
	QueueProofingEnabled bool `key:"queue_proofing_enabled"`
	// QueueRedisURL is the Redis holding the queues: redis://, rediss:// or
	// redis-sentinel://[user:password@]host:port[,host:port…][/db]?master=name
	// (the Sentinels; the user and password are the primary's).
	// Default: redis_url.
	QueueRedisURL string `key:"queue_redis_url" secret:"true"`
	// QueueWeights are the per-kind queue priorities a worker consumes with:
	// "kind:weight,...", weights 1-100. With every queue non-empty a worker
	// takes jobs in proportion to the weights. A worker consumes only the
	// kinds listed (a fleet may specialise). Default
	// "document:3,resolution:2,address:1".
	QueueWeights string `key:"queue_weights"`
	// QueueCheckIntervalMS is how often an idle worker looks for new jobs, in
	// milliseconds (asynq TaskCheckInterval). Idle pickup latency is about
	// this; each idle worker costs Redis one script call per interval.
	// Default 20 (asynq's own default is 1000).
	QueueCheckIntervalMS int `key:"queue_check_interval_ms"`
	// QueueNamePrefix names the queues: <prefix>-document, <prefix>-resolution,
	// <prefix>-address. Letters, digits, '-' and '_'. Default "proofline".
	QueueNamePrefix string `key:"queue_name_prefix"`
	// QueueMaxRetry bounds redeliveries of a job whose callback could not be
	// delivered; a retry is only made while the job's deadline allows it.
	// Default 3 (0-25).
	QueueMaxRetry int `key:"queue_max_retry"`
	// QueueShutdownTimeoutSeconds is how long a stopping worker waits for
	// in-flight jobs before it hands them back to the queue, in seconds.
	// Default 0: async_wait_timeout_seconds (no job outlives its deadline).
	QueueShutdownTimeoutSeconds int `key:"queue_shutdown_timeout_seconds"`
}

// DefaultQueueWeights are the per-kind priorities of the original per-type
// queues.
const DefaultQueueWeights = "document:3,resolution:2,address:1"

func (q *Queue) setDefaults() {
	q.QueueWeights = DefaultQueueWeights
	q.QueueCheckIntervalMS = 20
	q.QueueNamePrefix = "proofline"
	q.QueueMaxRetry = 3
}

func (q *Queue) validate(c *Config) error {
	if _, err := ParseQueueWeights(q.QueueWeights); err != nil {
		return err
	}
	if q.QueueCheckIntervalMS < 1 || q.QueueCheckIntervalMS > 60000 {
		return &Error{Key: "queue_check_interval_ms", Msg: "must be from 1 to 60000"}
	}
	if q.QueueMaxRetry < 0 || q.QueueMaxRetry > 25 {
		return &Error{Key: "queue_max_retry", Msg: "must be from 0 to 25"}
	}
	if q.QueueShutdownTimeoutSeconds < 0 || q.QueueShutdownTimeoutSeconds > 3600 {
		return &Error{Key: "queue_shutdown_timeout_seconds", Msg: "must be from 0 to 3600"}
	}
	if !validQueuePrefix(q.QueueNamePrefix) {
		return &Error{Key: "queue_name_prefix", Msg: "must be 1-64 letters, digits, '-' or '_'"}
	}
	if q.QueueRedisURL != "" {
		u, err := url.Parse(q.QueueRedisURL)
		if err != nil || u.Host == "" || (u.Scheme != "redis" && u.Scheme != "rediss" && u.Scheme != "redis-sentinel") {
			return &Error{Key: "queue_redis_url", Msg: "must be a redis://, rediss:// or redis-sentinel:// URL"}
		}
	}
	if !q.QueueProofingEnabled {
		return nil
	}
	if c.AWSLambdaProofingEnabled {
		return &Error{Key: "queue_proofing_enabled", Msg: "cannot be combined with aws_lambda_proofing_enabled"}
	}
	if c.RedisURL == "" {
		return &Error{Key: "redis_url", Msg: "is required when queue_proofing_enabled is true (the servers' result store; workers do not get it)"}
	}
	if c.BaseURL == "" {
		return &Error{Key: "base_url", Msg: "is required when queue_proofing_enabled is true (it is the callback origin every worker posts to)"}
	}
	return nil
}

// QueueRedis is the Redis URL of the queues: queue_redis_url, else redis_url.
func (c *Config) QueueRedis() string {
	if c.QueueRedisURL != "" {
		return c.QueueRedisURL
	}
	return c.RedisURL
}

// ParseQueueWeights parses queue_weights ("document:3,resolution:2") into
// kind → weight. Every kind is a known job kind, listed once, with a weight
// from 1 to 100; at least one kind is listed.
func ParseQueueWeights(s string) (map[string]int, error) {
	bad := func(msg string) error { return &Error{Key: "queue_weights", Msg: msg} }
	out := map[string]int{}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		k, w, ok := strings.Cut(part, ":")
		k = strings.TrimSpace(k)
		if !ok {
			return nil, bad("must be kind:weight pairs separated by commas")
		}
		switch k {
		case "document", "resolution", "address":
		default:
			return nil, bad("kinds must be document, resolution or address")
		}
		n, err := strconv.Atoi(strings.TrimSpace(w))
		if err != nil || n < 1 || n > 100 {
			return nil, bad("weights must be whole numbers from 1 to 100")
		}
		if _, dup := out[k]; dup {
			return nil, bad(fmt.Sprintf("lists %s twice", k))
		}
		out[k] = n
	}
	if len(out) == 0 {
		return nil, bad("must list at least one kind")
	}
	return out, nil
}

// FormatQueueWeights is the inverse of ParseQueueWeights, in a stable order.
func FormatQueueWeights(w map[string]int) string {
	keys := make([]string, 0, len(w))
	for k := range w {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, k+":"+strconv.Itoa(w[k]))
	}
	return strings.Join(parts, ",")
}

func validQueuePrefix(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}
