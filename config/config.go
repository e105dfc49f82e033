// Package config is proofline's one documented configuration. Values come
// from defaults, then an optional YAML file, then the environment: every key
// can be set as PROOFLINE_<KEY_IN_UPPER_CASE> (lists comma-separated). Keys
// keep the original design's names where they exist.
//
// Errors name the key and never echo a value (values may be secrets).
package config

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"os"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/proofline/proofline/seal"
)

// Config is every setting of `proofline serve`. The `key` tag is the YAML key;
// the environment variable is PROOFLINE_ + the key in upper case.
type Config struct {
	// APIKeys are the bearer keys IdP back ends present on /api/v1. Empty in
	// the embedded default: one development key is generated and printed.
	APIKeys []string `key:"api_keys"`
	// AsyncWaitTimeoutSeconds is how long a person waits for an outcome
	// before the timeout screen, in seconds. Default 60.
	AsyncWaitTimeoutSeconds int `key:"async_wait_timeout_seconds"`
	// PollRateForVerifyInSeconds is how often the waiting page polls, in
	// seconds. Default 3.
	PollRateForVerifyInSeconds int `key:"poll_rate_for_verify_in_seconds"`
	// RedisURL selects the Redis result store: redis://, rediss:// or
	// redis-sentinel://[user:password@]host:port[,host:port…][/db]?master=name
	// (the Sentinels; the user and password are the primary's). Empty: the
	// in-memory store of the embedded default.
	RedisURL string `key:"redis_url" secret:"true"`
	// The per-kind tokens workers present in X-API-AUTH-TOKEN. Generated in
	// the embedded default; required with redis_url (every server instance and
	// worker must share them). The three must differ.
	AddressProofResultLambdaToken    string `key:"address_proof_result_lambda_token" secret:"true"`
	DocumentProofResultLambdaToken   string `key:"document_proof_result_lambda_token" secret:"true"`
	ResolutionProofResultLambdaToken string `key:"resolution_proof_result_lambda_token" secret:"true"`
	// AWSLambdaProofingEnabled dispatches jobs to AWS Lambda (see the AWS
	// section). Default false (in-process workers).
	AWSLambdaProofingEnabled bool `key:"aws_lambda_proofing_enabled"`
	// DocAuthEnablePresignedS3URLs stores images in S3 (see the AWS
	// section). Default false (local directory).
	DocAuthEnablePresignedS3URLs bool `key:"doc_auth_enable_presigned_s3_urls"`
	// RecordKeys is the key ring of the stored records (server only; job
	// envelopes use per-job keys and workers hold none of these):
	// "id:base64key,id:base64key", 32-byte keys, the first is current, the
	// rest still open old data. Generated in the embedded default; required
	// with redis_url. It was called seal_keys before envelope v2; that name
	// is now an error that says so.
	RecordKeys string `key:"record_keys" secret:"true"`
	// BaseURL is the public origin of this server, used in upload URLs and
	// as the callback target of workers. Default http://{listen address}.
	BaseURL string `key:"base_url"`
	// DataDir holds uploaded (encrypted) images in the embedded default.
	// Default: a new temporary directory, removed at exit.
	DataDir string `key:"data_dir"`
	// UploadSigningKey signs local upload URLs (base64, at least 32 bytes).
	// Generated when empty.
	UploadSigningKey string `key:"upload_signing_key" secret:"true"`
	// DocAuthMaxImageBytes bounds one uploaded image, in bytes. Default 10 MiB.
	DocAuthMaxImageBytes int64 `key:"doc_auth_max_image_bytes"`
	// UploadURLTTLSeconds is how long an upload URL works, in seconds.
	// Default 900.
	UploadURLTTLSeconds int `key:"upload_url_ttl_seconds"`
	// WorkerConcurrency is the number of in-process jobs run at once. Default 64.
	WorkerConcurrency int `key:"worker_concurrency"`
	// WorkerQueueSize is how many jobs may wait for an in-process worker
	// before starts answer 503. Default 1024.
	WorkerQueueSize int `key:"worker_queue_size"`
	// WorkerGitRef is the pinned worker build jobs are dispatched to. Default:
	// this binary's build.
	WorkerGitRef string `key:"worker_git_ref"`
	// CallbackClockSkewSeconds bounds a callback timestamp's distance from
	// now, in seconds. Default 120.
	CallbackClockSkewSeconds int `key:"callback_clock_skew_seconds"`
	// LogLevel is debug, info, warn or error. Default info.
	LogLevel string `key:"log_level"`
	// OtelExporterOtlpEndpoint turns tracing on: OpenTelemetry spans are
	// exported over OTLP/HTTP to this URL (e.g. http://127.0.0.1:4318).
	// Empty (the default): tracing is off.
	OtelExporterOtlpEndpoint string `key:"otel_exporter_otlp_endpoint"`
	// OtelServiceName is the service.name of exported spans. Default proofline.
	OtelServiceName string `key:"otel_service_name"`
	// MetricsAddr is where `proofline serve` serves GET /metrics (host:port),
	// apart from the public port. Default 127.0.0.1:9091 (loopback only);
	// "off" serves no metrics.
	MetricsAddr string `key:"metrics_addr"`
	// MockVendorLatencyMs delays every mock vendor answer, in milliseconds,
	// to imitate real vendors in load tests. Default 0.
	MockVendorLatencyMs int `key:"mock_vendor_latency_ms"`

	// Sections, each in its own file; their keys are flattened into this
	// one namespace.
	Web
	AWS
	Queue
	Vendors
	Hosted
}

// Defaults returns a Config with every default filled in.
func Defaults() Config {
	c := Config{
		AsyncWaitTimeoutSeconds:    60,
		PollRateForVerifyInSeconds: 3,
		DocAuthMaxImageBytes:       10 << 20,
		UploadURLTTLSeconds:        900,
		WorkerConcurrency:          64,
		WorkerQueueSize:            1024,
		CallbackClockSkewSeconds:   120,
		LogLevel:                   "info",
		OtelServiceName:            "proofline",
		MetricsAddr:                DefaultMetricsAddr,
	}
	c.Web.setDefaults()
	c.AWS.setDefaults()
	c.Queue.setDefaults()
	c.Vendors.setDefaults()
	c.Hosted.setDefaults()
	return c
}

// renamed maps keys that no longer exist to what replaced them; setting one
// is an error that says so.
var renamed = map[string]string{
	"seal_keys": "renamed to record_keys: it now seals only the stored records (server only); job envelopes use per-job keys and workers hold no key",
}

// Error is a configuration error: it names the key, never the value.
type Error struct {
	Key string
	Msg string
	// From says where the bad value came from: the file's path, the
	// environment variable, or "the default". Empty when unknown or when
	// the key has no value.
	From string
}

func (e *Error) Error() string {
	s := "config: " + e.Key + ": " + e.Msg
	if e.From != "" {
		s += " (from " + e.From + ")"
	}
	return s
}

// Load builds a Config from defaults, the YAML file at path (if path is not
// empty) and the environment (environ as from os.Environ), then validates it.
// A PROOFLINE_ variable that names no key is an error, as is an unknown key
// in the file; both suggest the closest key.
func Load(path string, environ []string) (Config, error) {
	c := Defaults()
	if err := checkEnv(environ); err != nil {
		return c, err
	}
	src := origins{}
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return c, readError(path, err)
		}
		if err := c.applyYAML(data, path, src); err != nil {
			return c, err
		}
	}
	if err := c.applyEnv(environ, src); err != nil {
		return c, err
	}
	if err := c.Validate(); err != nil {
		return c, withSource(err, &c, src)
	}
	return c, nil
}

// Keys lists every configuration key, in declaration order.
func Keys() []string {
	var keys []string
	for _, f := range fields() {
		keys = append(keys, f.key)
	}
	return keys
}

// EnvName is the environment variable for key.
func EnvName(key string) string { return EnvPrefix + strings.ToUpper(key) }

type field struct {
	key   string
	index []int
}

// fields walks Config, descending into embedded sections.
func fields() []field {
	var out []field
	var walk func(t reflect.Type, prefix []int)
	walk = func(t reflect.Type, prefix []int) {
		for i := range t.NumField() {
			f := t.Field(i)
			idx := append(append([]int(nil), prefix...), i)
			if f.Anonymous && f.Type.Kind() == reflect.Struct {
				walk(f.Type, idx)
				continue
			}
			if k := f.Tag.Get("key"); k != "" {
				out = append(out, field{key: k, index: idx})
			}
		}
	}
	walk(reflect.TypeFor[Config](), nil)
	return out
}

func fieldsByKey() map[string][]int {
	m := map[string][]int{}
	for _, f := range fields() {
		m[f.key] = f.index
	}
	return m
}

func (c *Config) applyYAML(data []byte, path string, src origins) error {
	var raw map[string]yaml.Node
	if err := yaml.Unmarshal(data, &raw); err != nil {
		return &Error{Key: "--config", Msg: path + " is not a YAML mapping of keys to values"}
	}
	fields := fieldsByKey()
	keys := make([]string, 0, len(raw))
	for k := range raw {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	v := reflect.ValueOf(c).Elem()
	for _, k := range keys {
		i, ok := fields[k]
		if msg, old := renamed[k]; old {
			return &Error{Key: k, Msg: msg}
		}
		if !ok {
			return unknownKey(k, path)
		}
		node := raw[k]
		f := v.FieldByIndex(i)
		if f.Kind() == reflect.Slice && node.Kind == yaml.ScalarNode {
			if err := setFromString(f, node.Value); err != nil {
				return &Error{Key: k, Msg: err.Error(), From: path}
			}
			src[k] = path
			continue
		}
		if node.Kind == yaml.ScalarNode && node.Tag == "!!null" {
			continue
		}
		if err := node.Decode(f.Addr().Interface()); err != nil {
			var fe *fieldError
			if errors.As(err, &fe) {
				return &Error{Key: k, Msg: fe.msg, From: path}
			}
			return &Error{Key: k, Msg: "must be " + describe(f), From: path}
		}
		src[k] = path
	}
	return nil
}

func (c *Config) applyEnv(environ []string, src origins) error {
	env := map[string]string{}
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok {
			env[k] = v
		}
	}
	for old, msg := range renamed {
		if _, ok := env[EnvName(old)]; ok {
			return &Error{Key: old, Msg: msg + " (from " + EnvName(old) + ")"}
		}
	}
	v := reflect.ValueOf(c).Elem()
	for _, f := range fields() {
		s, ok := env[EnvName(f.key)]
		if !ok {
			continue
		}
		if err := setFromString(v.FieldByIndex(f.index), s); err != nil {
			return &Error{Key: f.key, Msg: err.Error(), From: EnvName(f.key)}
		}
		src[f.key] = EnvName(f.key)
	}
	return nil
}

func setFromString(f reflect.Value, s string) error {
	s = strings.TrimSpace(s)
	if u, ok := f.Addr().Interface().(interface{ setString(string) error }); ok {
		return u.setString(s)
	}
	switch f.Kind() {
	case reflect.String:
		f.SetString(s)
	case reflect.Bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return errors.New("must be " + describe(f))
		}
		f.SetBool(b)
	case reflect.Int, reflect.Int64:
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return errors.New("must be " + describe(f))
		}
		f.SetInt(n)
	case reflect.Float64:
		n, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return errors.New("must be " + describe(f))
		}
		f.SetFloat(n)
	case reflect.Slice:
		var list []string
		for _, p := range strings.Split(s, ",") {
			if p = strings.TrimSpace(p); p != "" {
				list = append(list, p)
			}
		}
		f.Set(reflect.ValueOf(list))
	default:
		return fmt.Errorf("unsupported kind %s", f.Kind())
	}
	return nil
}

func describe(f reflect.Value) string {
	if d, ok := f.Interface().(interface{ describe() string }); ok {
		return d.describe()
	}
	switch f.Kind() {
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int64:
		return "a whole number"
	case reflect.Float64:
		return "a number"
	case reflect.Slice:
		return "a list of strings"
	}
	return "a string"
}

// Validate checks every field and names the first bad key.
func (c *Config) Validate() error {
	rng := func(key string, v, lo, hi int64) error {
		if v < lo || v > hi {
			return &Error{Key: key, Msg: fmt.Sprintf("must be from %d to %d", lo, hi)}
		}
		return nil
	}
	checks := []error{
		rng("async_wait_timeout_seconds", int64(c.AsyncWaitTimeoutSeconds), 1, 3600),
		rng("poll_rate_for_verify_in_seconds", int64(c.PollRateForVerifyInSeconds), 1, 60),
		rng("doc_auth_max_image_bytes", c.DocAuthMaxImageBytes, 1024, 100<<20),
		rng("upload_url_ttl_seconds", int64(c.UploadURLTTLSeconds), 10, 7*24*3600),
		rng("worker_concurrency", int64(c.WorkerConcurrency), 1, 100000),
		rng("worker_queue_size", int64(c.WorkerQueueSize), 1, 10000000),
		rng("callback_clock_skew_seconds", int64(c.CallbackClockSkewSeconds), 1, 3600),
		rng("mock_vendor_latency_ms", int64(c.MockVendorLatencyMs), 0, 600000),
	}
	for _, err := range checks {
		if err != nil {
			return err
		}
	}
	for _, section := range []interface{ validate(*Config) error }{&c.Web, &c.AWS, &c.Queue, &c.Vendors, &c.Hosted} {
		if err := section.validate(c); err != nil {
			return err
		}
	}
	if err := validMetricsAddr(c.MetricsAddr); err != nil {
		return err
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		return &Error{Key: "log_level", Msg: "must be debug, info, warn or error"}
	}
	if c.RedisURL != "" {
		u, err := url.Parse(c.RedisURL)
		if err != nil || (u.Scheme != "redis" && u.Scheme != "rediss" && u.Scheme != "redis-sentinel") || u.Host == "" {
			return &Error{Key: "redis_url", Msg: "must be a redis://, rediss:// or redis-sentinel:// URL"}
		}
		// With a shared store, every server (and, for the tokens, every
		// worker) must share these.
		for _, kv := range [][2]string{
			{"record_keys", c.RecordKeys},
			{"attempt_hash_key", c.AttemptHashKey},
			{"session_secret", c.SessionSecret},
			{"address_proof_result_lambda_token", c.AddressProofResultLambdaToken},
			{"document_proof_result_lambda_token", c.DocumentProofResultLambdaToken},
			{"resolution_proof_result_lambda_token", c.ResolutionProofResultLambdaToken},
		} {
			if kv[1] == "" {
				return &Error{Key: kv[0], Msg: "is required when redis_url is set (every instance must share it)"}
			}
		}
		if len(c.APIKeys) == 0 && len(c.APIClients) == 0 {
			return &Error{Key: "api_keys", Msg: "is required when redis_url is set (or api_clients)"}
		}
	}
	toks := []struct{ key, v string }{
		{"address_proof_result_lambda_token", c.AddressProofResultLambdaToken},
		{"document_proof_result_lambda_token", c.DocumentProofResultLambdaToken},
		{"resolution_proof_result_lambda_token", c.ResolutionProofResultLambdaToken},
	}
	// A token value may list "new,old" while a token rotates.
	owner := map[string]string{}
	for _, a := range toks {
		for _, t := range strings.Split(a.v, ",") {
			if t = strings.TrimSpace(t); t == "" && a.v != "" {
				return &Error{Key: a.key, Msg: "has an empty token in its list"}
			} else if t == "" {
				continue
			}
			if len(t) < 16 {
				return &Error{Key: a.key, Msg: "every token must be at least 16 characters"}
			}
			if o, dup := owner[t]; dup && o != a.key {
				return &Error{Key: a.key, Msg: "must differ from " + o}
			}
			owner[t] = a.key
		}
	}
	for _, k := range c.APIKeys {
		if len(k) < 16 {
			return &Error{Key: "api_keys", Msg: "every key must be at least 16 characters"}
		}
	}
	if c.OtelExporterOtlpEndpoint != "" {
		u, err := url.Parse(c.OtelExporterOtlpEndpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
			return &Error{Key: "otel_exporter_otlp_endpoint", Msg: "must be an http(s) URL like http://127.0.0.1:4318"}
		}
	}
	if c.RecordKeys != "" {
		if _, err := seal.ParseKeys(c.RecordKeys); err != nil {
			return &Error{Key: "record_keys", Msg: err.Error()}
		}
	}
	if c.UploadSigningKey != "" {
		if b, err := DecodeKey(c.UploadSigningKey); err != nil || len(b) < 32 {
			return &Error{Key: "upload_signing_key", Msg: "must be base64 of at least 32 bytes"}
		}
	}
	if c.BaseURL != "" {
		u, err := url.Parse(c.BaseURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
			return &Error{Key: "base_url", Msg: "must be an http(s) origin like https://idp.example.gov"}
		}
	}
	return nil
}

// DecodeKey decodes base64 key material (standard or URL alphabet, padding optional).
func DecodeKey(s string) ([]byte, error) {
	s = strings.TrimRight(strings.TrimSpace(s), "=")
	if b, err := base64.RawStdEncoding.DecodeString(s); err == nil {
		return b, nil
	}
	return base64.RawURLEncoding.DecodeString(s)
}

// SecretKeys lists the keys whose values are secrets (tagged secret:"true"):
// never logged, and loadable from SSM Parameter Store in workers.
func SecretKeys() []string {
	var keys []string
	t := reflect.TypeFor[Config]()
	for _, f := range fields() {
		if t.FieldByIndex(f.index).Tag.Get("secret") == "true" {
			keys = append(keys, f.key)
		}
	}
	return keys
}

// ServerOnlyKeys are the keys no worker configuration may hold (invariant
// 11: keys by role): the record ring, the session and attempt-hash keys, the
// API keys and the result store. `proofline worker` and the Lambda functions
// refuse to start with any of them set, and the Lambda functions never read
// them from Parameter Store.
var ServerOnlyKeys = []string{"record_keys", "session_secret", "attempt_hash_key", "api_keys", "api_clients", "redis_url"}

// WorkerSecretKeys are the secret keys a worker may read (SecretKeys less
// ServerOnlyKeys): callback tokens and vendor credentials.
func WorkerSecretKeys() []string {
	var out []string
	for _, k := range SecretKeys() {
		if !slices.Contains(ServerOnlyKeys, k) {
			out = append(out, k)
		}
	}
	return out
}

// CheckWorker refuses a worker configuration that holds a server-only key,
// naming the key and what to do instead.
func (c *Config) CheckWorker() error {
	v := reflect.ValueOf(c).Elem()
	byKey := fieldsByKey()
	for _, k := range ServerOnlyKeys {
		f := v.FieldByIndex(byKey[k])
		if !f.IsZero() {
			msg := "must not be set for a worker: workers hold no key that opens a stored record and no access to the result store"
			if k == "redis_url" {
				msg += " (set queue_redis_url to a Redis user that can touch only the queue's keys)"
			}
			return &Error{Key: k, Msg: msg}
		}
	}
	return nil
}

// Set sets key from its string form, as an environment variable would.
func (c *Config) Set(key, value string) error {
	idx, ok := fieldsByKey()[key]
	if msg, old := renamed[key]; old {
		return &Error{Key: key, Msg: msg}
	}
	if !ok {
		return &Error{Key: key, Msg: "unknown key"}
	}
	if err := setFromString(reflect.ValueOf(c).Elem().FieldByIndex(idx), value); err != nil {
		return &Error{Key: key, Msg: err.Error()}
	}
	return nil
}
