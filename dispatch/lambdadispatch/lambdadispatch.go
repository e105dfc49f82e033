// Package lambdadispatch is the AWS Lambda dispatch driver of the original
// production design: each sealed envelope is handed to a Lambda function
// with an asynchronous Invoke (InvocationType Event). Lambda queues the
// event and answers 202 at once; the function runs the same worker runtime
// as every other mode and posts its result to the IdP's callback.
//
// The function is {environment_name}-idp-functions-{Name}Function, where
// Name is ProofDocument, ProofResolution or ProofAddress (ProofDocumentMock,
// ... when the deployment uses mock vendors), and the Qualifier is the alias
// of the pinned worker build: the first 10 characters of worker_git_ref.
//
// The payload is the envelope's JSON and nothing else: its header holds
// routing data without PII, and everything personal or secret is sealed.
// Vendor credentials are never sent; the function reads them from SSM
// Parameter Store.
package lambdadispatch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/smithy-go"

	"github.com/proofline/proofline"
	"github.com/proofline/proofline/dispatch"
)

// QualifierLen is how many characters of the git ref name the alias.
const QualifierLen = 10

// MaxPayloadBytes is the largest envelope sent (Lambda's asynchronous
// payload limit is larger; envelopes are a few KiB).
const MaxPayloadBytes = 256 << 10

// API is the part of *lambda.Client the driver uses.
type API interface {
	Invoke(ctx context.Context, in *lambda.InvokeInput, optFns ...func(*lambda.Options)) (*lambda.InvokeOutput, error)
}

var _ API = (*lambda.Client)(nil)

// NewClient returns a Lambda client for cfg, at endpoint when it is set (an
// origin; empty means AWS), with at most two attempts per Invoke.
func NewClient(cfg aws.Config, endpoint string) *lambda.Client {
	return lambda.NewFromConfig(cfg, func(o *lambda.Options) {
		if endpoint != "" {
			o.BaseEndpoint = aws.String(endpoint)
		}
		o.RetryMaxAttempts = 2
	})
}

// Options configure a Driver.
type Options struct {
	// Client invokes functions. Required.
	Client API
	// Environment is the {environment_name} prefix of function names. Required.
	Environment string
	// GitRef is the pinned worker build; its first QualifierLen characters
	// are the alias invoked. Required (at least QualifierLen characters).
	GitRef string
	// Mock selects the ...MockFunction variants (mock vendors).
	Mock bool
	// Timeout bounds one Send, retries included. Default 5 s.
	Timeout time.Duration
	Logger  *slog.Logger
}

// Driver is the Lambda dispatch.Driver. It is safe for concurrent use.
type Driver struct {
	opts      Options
	qualifier string

	mu       sync.Mutex
	closed   bool
	inflight sync.WaitGroup
}

var _ dispatch.Driver = (*Driver)(nil)

// New checks opts and returns a Driver. It contacts nothing.
func New(opts Options) (*Driver, error) {
	if opts.Client == nil || opts.Environment == "" {
		return nil, errors.New("lambdadispatch: Options.Client and Options.Environment are required")
	}
	if len(opts.GitRef) < QualifierLen {
		return nil, fmt.Errorf("lambdadispatch: Options.GitRef must have at least %d characters", QualifierLen)
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 5 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Driver{opts: opts, qualifier: Qualifier(opts.GitRef)}, nil
}

// Qualifier is the alias of a git ref: its first QualifierLen characters.
func Qualifier(gitRef string) string {
	if len(gitRef) > QualifierLen {
		return gitRef[:QualifierLen]
	}
	return gitRef
}

// FunctionBase is the name part of kind's function: ProofDocument,
// ProofResolution or ProofAddress.
func FunctionBase(kind proofline.Kind) string {
	switch kind {
	case proofline.KindDocument:
		return "ProofDocument"
	case proofline.KindResolution:
		return "ProofResolution"
	case proofline.KindAddress:
		return "ProofAddress"
	}
	return ""
}

// FunctionName is the function jobs of kind go to in environment env:
// "{env}-idp-functions-{FunctionBase}[Mock]Function".
func FunctionName(env string, kind proofline.Kind, mock bool) string {
	m := ""
	if mock {
		m = "Mock"
	}
	return env + "-idp-functions-" + FunctionBase(kind) + m + "Function"
}

// Send invokes the kind's function asynchronously with env as the payload.
// Throttling is dispatch.ErrFull; other failures are returned wrapped.
func (d *Driver) Send(ctx context.Context, env *proofline.Envelope) error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return dispatch.ErrClosed
	}
	d.inflight.Add(1)
	d.mu.Unlock()
	defer d.inflight.Done()

	if !env.Kind.Valid() {
		return proofline.Errorf(proofline.EINVALID, "envelope kind unknown")
	}
	payload, err := json.Marshal(env)
	if err != nil {
		return fmt.Errorf("lambdadispatch: encode envelope: %w", err)
	}
	if len(payload) > MaxPayloadBytes {
		return proofline.Errorf(proofline.ETOOLARGE, "job too large to dispatch")
	}
	ctx, cancel := context.WithTimeout(ctx, d.opts.Timeout)
	defer cancel()
	name := FunctionName(d.opts.Environment, env.Kind, d.opts.Mock)
	out, err := d.opts.Client.Invoke(ctx, &lambda.InvokeInput{
		FunctionName:   aws.String(name),
		InvocationType: types.InvocationTypeEvent,
		Qualifier:      aws.String(d.qualifier),
		Payload:        payload,
	})
	if err != nil {
		var tm *types.TooManyRequestsException
		var ae smithy.APIError
		switch {
		case errors.As(err, &tm):
			return fmt.Errorf("%w: lambda throttled", dispatch.ErrFull)
		case errors.As(err, &ae):
			// The API error code and the function name hold no PII.
			return fmt.Errorf("lambdadispatch: invoke %s:%s: %s", name, d.qualifier, ae.ErrorCode())
		}
		return fmt.Errorf("lambdadispatch: invoke %s:%s: %w", name, d.qualifier, err)
	}
	if out.StatusCode < 200 || out.StatusCode > 299 {
		return fmt.Errorf("lambdadispatch: invoke %s:%s: status %d", name, d.qualifier, out.StatusCode)
	}
	d.opts.Logger.LogAttrs(ctx, slog.LevelDebug, "lambda invoked",
		slog.String("function", name), slog.String("qualifier", d.qualifier),
		slog.String("kind", string(env.Kind)), slog.String("result_id", env.ResultID), slog.Int("status", int(out.StatusCode)))
	return nil
}

// Close stops taking jobs and waits for Sends in progress, or until ctx
// ends. Jobs already handed to Lambda run there. Idempotent.
func (d *Driver) Close(ctx context.Context) error {
	d.mu.Lock()
	d.closed = true
	d.mu.Unlock()
	done := make(chan struct{})
	go func() {
		d.inflight.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
