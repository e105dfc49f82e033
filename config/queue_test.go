package config_test

import (
	"strings"
	"testing"

	"github.com/proofline/proofline/config"
)

// queueEnv is a valid queue-mode environment (servers and workers share it).
func queueEnv(extra ...string) []string {
	return append([]string{
		"PROOFLINE_REDIS_URL=redis://:s3cret-pw@127.0.0.1:6379/0",
		"PROOFLINE_RECORD_KEYS=k1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
		"PROOFLINE_ATTEMPT_HASH_KEY=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
		"PROOFLINE_SESSION_SECRET=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
		"PROOFLINE_API_KEYS=api-key-0123456789abcdef",
		"PROOFLINE_ADDRESS_PROOF_RESULT_LAMBDA_TOKEN=aaaaaaaaaaaaaaaaaaaa",
		"PROOFLINE_DOCUMENT_PROOF_RESULT_LAMBDA_TOKEN=bbbbbbbbbbbbbbbbbbbb",
		"PROOFLINE_RESOLUTION_PROOF_RESULT_LAMBDA_TOKEN=cccccccccccccccccccc",
		"PROOFLINE_BASE_URL=https://idp.example.gov",
		"PROOFLINE_QUEUE_PROOFING_ENABLED=true",
	}, extra...)
}

func TestQueueDefaultsAndKeys(t *testing.T) {
	t.Parallel()
	c, err := config.Load("", nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.QueueProofingEnabled || c.QueueWeights != "document:3,resolution:2,address:1" || c.QueueCheckIntervalMS != 20 ||
		c.QueueNamePrefix != "proofline" || c.QueueMaxRetry != 3 || c.QueueShutdownTimeoutSeconds != 0 || c.QueueRedis() != "" {
		t.Fatalf("queue defaults: %+v", c.Queue)
	}
	c, err = config.Load("", queueEnv("PROOFLINE_QUEUE_WEIGHTS=address:5, resolution:1", "PROOFLINE_QUEUE_CHECK_INTERVAL_MS=50"))
	if err != nil {
		t.Fatal(err)
	}
	w, err := config.ParseQueueWeights(c.QueueWeights)
	if err != nil || len(w) != 2 || w["address"] != 5 || w["resolution"] != 1 || config.FormatQueueWeights(w) != "address:5,resolution:1" {
		t.Fatalf("weights %v %v", w, err)
	}
	if c.QueueRedis() != c.RedisURL || c.QueueCheckIntervalMS != 50 {
		t.Fatal("queue_redis_url does not default to redis_url")
	}
	c, err = config.Load("", queueEnv("PROOFLINE_QUEUE_REDIS_URL=redis-sentinel://:pw@10.0.0.1:26379,10.0.0.2:26379?master=mymaster"))
	if err != nil || !strings.HasPrefix(c.QueueRedis(), "redis-sentinel://") {
		t.Fatalf("sentinel URL: %v", err)
	}
	for _, k := range []string{"queue_proofing_enabled", "queue_redis_url", "queue_weights", "queue_check_interval_ms",
		"queue_name_prefix", "queue_max_retry", "queue_shutdown_timeout_seconds"} {
		found := false
		for _, have := range config.Keys() {
			found = found || have == k
		}
		if !found {
			t.Errorf("key %s missing", k)
		}
	}
}

func TestQueueBadConfigNamesTheKey(t *testing.T) {
	t.Parallel()
	drop := func(name string) []string {
		var out []string
		for _, kv := range queueEnv() {
			if !strings.HasPrefix(kv, name+"=") {
				out = append(out, kv)
			}
		}
		return out
	}
	cases := []struct {
		env []string
		key string
	}{
		{drop("PROOFLINE_REDIS_URL"), "redis_url"},
		{drop("PROOFLINE_BASE_URL"), "base_url"},
		{queueEnv("PROOFLINE_QUEUE_WEIGHTS=document:3,fax:1"), "queue_weights"},
		{queueEnv("PROOFLINE_QUEUE_WEIGHTS=document:0"), "queue_weights"},
		{queueEnv("PROOFLINE_QUEUE_WEIGHTS=document:1,document:2"), "queue_weights"},
		{queueEnv("PROOFLINE_QUEUE_WEIGHTS=document"), "queue_weights"},
		{queueEnv("PROOFLINE_QUEUE_WEIGHTS= , "), "queue_weights"},
		{queueEnv("PROOFLINE_QUEUE_CHECK_INTERVAL_MS=0"), "queue_check_interval_ms"},
		{queueEnv("PROOFLINE_QUEUE_MAX_RETRY=-1"), "queue_max_retry"},
		{queueEnv("PROOFLINE_QUEUE_SHUTDOWN_TIMEOUT_SECONDS=99999"), "queue_shutdown_timeout_seconds"},
		{queueEnv("PROOFLINE_QUEUE_NAME_PREFIX=a b"), "queue_name_prefix"},
		{queueEnv("PROOFLINE_QUEUE_REDIS_URL=http://:s3cret-pw@host/"), "queue_redis_url"},
		{queueEnv("PROOFLINE_QUEUE_PROOFING_ENABLED=maybe"), "queue_proofing_enabled"},
	}
	for _, c := range cases {
		_, err := config.Load("", c.env)
		if err == nil || !strings.Contains(err.Error(), c.key) || strings.Contains(err.Error(), "s3cret-pw") {
			t.Errorf("%v: got %v, want an error naming %s", c.env[len(c.env)-1], err, c.key)
		}
	}
}
