// Package ssmparam reads worker secrets from AWS Systems Manager Parameter
// Store, as the original design's Lambda functions did: every value lives at
//
//	/{environment_name}/idp/doc-capture/{name}
//
// as a SecureString, read with decryption and cached for a bounded time.
//
// Store is a worker.TokenSource: the callback token of kind k is the
// parameter "{k}_proof_result_token" (address_proof_result_token,
// document_proof_result_token, resolution_proof_result_token), unless an
// override (the IDP_API_AUTH_TOKEN environment variable in Lambda) is set.
// A token that is missing fails the job before any vendor call.
//
// Overlay loads configuration secrets (vendor credentials, seal keys, ...)
// whose parameters exist, by name, so vendor adapters get their credentials
// without this package knowing their names. Values never appear in errors
// or logs.
package ssmparam

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/proofline/proofline"
)

// OverrideEnv is the environment variable whose value, when set, is the
// callback token of every kind (the original design's override).
const OverrideEnv = "IDP_API_AUTH_TOKEN"

// DefaultTTL is how long a value is cached when Options.TTL is zero.
const DefaultTTL = 5 * time.Minute

// ErrNotFound: no parameter of that name.
var ErrNotFound = errors.New("ssmparam: parameter not found")

var _ API = (*ssm.Client)(nil)

// API is the part of *ssm.Client the Store uses.
type API interface {
	GetParameter(ctx context.Context, in *ssm.GetParameterInput, optFns ...func(*ssm.Options)) (*ssm.GetParameterOutput, error)
	GetParameters(ctx context.Context, in *ssm.GetParametersInput, optFns ...func(*ssm.Options)) (*ssm.GetParametersOutput, error)
}

// NewClient returns an SSM client for cfg, at endpoint when it is set (an
// origin; empty means AWS). It uses the SDK's HTTP client, which honours the
// proxy environment like any AWS SDK client, independent of the vendor proxy.
func NewClient(cfg aws.Config, endpoint string) *ssm.Client {
	return ssm.NewFromConfig(cfg, func(o *ssm.Options) {
		if endpoint != "" {
			o.BaseEndpoint = aws.String(endpoint)
		}
	})
}

// Options configure a Store.
type Options struct {
	// Client reads parameters. Required.
	Client API
	// Environment is the {environment_name} of the paths. Required.
	Environment string
	// TTL bounds how long a value is cached. Default DefaultTTL.
	TTL time.Duration
	// TokenOverride, when not empty, is the callback token of every kind
	// and Parameter Store is not asked for tokens (IDP_API_AUTH_TOKEN).
	TokenOverride string
	// Now is the clock of the cache. Default time.Now.
	Now func() time.Time
}

// Store reads and caches parameters. It is safe for concurrent use.
type Store struct {
	opts Options

	mu    sync.Mutex
	cache map[string]entry
}

type entry struct {
	value   string
	expires time.Time
}

// New checks opts and returns a Store. It contacts nothing.
func New(opts Options) (*Store, error) {
	if opts.Client == nil || opts.Environment == "" || strings.ContainsAny(opts.Environment, "/ \t\r\n") {
		return nil, errors.New("ssmparam: Options.Client and a valid Options.Environment are required")
	}
	if opts.TTL <= 0 {
		opts.TTL = DefaultTTL
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Store{opts: opts, cache: map[string]entry{}}, nil
}

// Path is the parameter name of name in environment env.
func Path(env, name string) string { return "/" + env + "/idp/doc-capture/" + name }

// TokenName is the parameter holding the callback token of kind.
func TokenName(kind proofline.Kind) string { return string(kind) + "_proof_result_token" }

// Get returns the decrypted value of parameter name, from the cache while it
// is fresh. A missing parameter is ErrNotFound (never cached).
func (s *Store) Get(ctx context.Context, name string) (string, error) {
	if v, ok := s.cached(name); ok {
		return v, nil
	}
	out, err := s.opts.Client.GetParameter(ctx, &ssm.GetParameterInput{
		Name: aws.String(Path(s.opts.Environment, name)), WithDecryption: aws.Bool(true),
	})
	if err != nil {
		var nf *types.ParameterNotFound
		if errors.As(err, &nf) {
			return "", fmt.Errorf("%w: %s", ErrNotFound, name)
		}
		return "", fmt.Errorf("ssmparam: read %s: %w", name, err)
	}
	if out.Parameter == nil || out.Parameter.Value == nil {
		return "", fmt.Errorf("%w: %s", ErrNotFound, name)
	}
	v := *out.Parameter.Value
	s.put(name, v)
	return v, nil
}

// CallbackToken returns the callback token of kind (worker.TokenSource).
func (s *Store) CallbackToken(ctx context.Context, kind proofline.Kind) (string, error) {
	if !kind.Valid() {
		return "", errors.New("ssmparam: unknown kind")
	}
	if s.opts.TokenOverride != "" {
		return s.opts.TokenOverride, nil
	}
	v, err := s.Get(ctx, TokenName(kind))
	if err != nil {
		return "", err
	}
	if v == "" {
		return "", fmt.Errorf("%w: %s is empty", ErrNotFound, TokenName(kind))
	}
	return v, nil
}

// Overlay reads the parameters named by keys (those that exist; at most 10
// per request) and calls set(key, value) for each, in the order of keys. It
// returns the keys it set. Values are cached like Get's.
func (s *Store) Overlay(ctx context.Context, keys []string, set func(key, value string) error) ([]string, error) {
	found := map[string]string{}
	for start := 0; start < len(keys); start += 10 {
		batch := keys[start:min(start+10, len(keys))]
		names := make([]string, len(batch))
		for i, k := range batch {
			names[i] = Path(s.opts.Environment, k)
		}
		out, err := s.opts.Client.GetParameters(ctx, &ssm.GetParametersInput{Names: names, WithDecryption: aws.Bool(true)})
		if err != nil {
			return nil, fmt.Errorf("ssmparam: read parameters: %w", err)
		}
		for _, p := range out.Parameters {
			if p.Name == nil || p.Value == nil {
				continue
			}
			for i, n := range names {
				if n == *p.Name {
					found[batch[i]] = *p.Value
				}
			}
		}
	}
	var applied []string
	for _, k := range keys {
		v, ok := found[k]
		if !ok {
			continue
		}
		if err := set(k, v); err != nil {
			return applied, fmt.Errorf("ssmparam: apply %s: %w", k, err)
		}
		s.put(k, v)
		applied = append(applied, k)
	}
	return applied, nil
}

func (s *Store) cached(name string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.cache[name]
	if !ok || !s.opts.Now().Before(e.expires) {
		delete(s.cache, name)
		return "", false
	}
	return e.value, true
}

func (s *Store) put(name, v string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cache[name] = entry{value: v, expires: s.opts.Now().Add(s.opts.TTL)}
}
