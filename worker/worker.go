// Package worker is the one worker runtime every dispatch mode runs: open the
// sealed envelope, check the deadline, run the proofer, and deliver the result
// to the IdP's callback over HTTP with the per-kind token, the per-job secret
// and a signature, retrying network errors and 5xx within the deadline.
package worker

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/proofline/proofline"
	"github.com/proofline/proofline/observe/tracing"
	"github.com/proofline/proofline/proofer"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// Outcomes of Handle that are not deliveries. Queue and Lambda adapters use
// them to decide: none of them is worth retrying.
var (
	// ErrExpired: the job's deadline passed before it could be proofed or
	// delivered; the person sees the timeout screen.
	ErrExpired = errors.New("worker: job deadline passed")
	// ErrRejected: the envelope is malformed, does not open, or names a
	// callback this worker may not call. Permanent.
	ErrRejected = errors.New("worker: envelope rejected")
)

// DeliveryError is a callback that could not be delivered.
type DeliveryError struct {
	Status int // last HTTP status, 0 for a network error
	Tries  int
	Cause  error
}

func (e *DeliveryError) Error() string {
	return fmt.Sprintf("worker: callback not delivered after %d tries (last status %d): %v", e.Tries, e.Status, e.Cause)
}
func (e *DeliveryError) Unwrap() error { return e.Cause }

// Proofer runs the proofing of one job and never fails: vendor trouble is
// part of the result.
type Proofer interface {
	Proof(ctx context.Context, kind proofline.Kind, p *proofline.Payload) *proofline.Result
}

// TokenSource gives the per-kind callback token. Static in embedded mode,
// SSM Parameter Store in Lambda.
type TokenSource interface {
	CallbackToken(ctx context.Context, kind proofline.Kind) (string, error)
}

// StaticTokens is a TokenSource from a map.
type StaticTokens map[proofline.Kind]string

// CallbackToken returns the token for kind, or an error when none is set.
func (s StaticTokens) CallbackToken(_ context.Context, kind proofline.Kind) (string, error) {
	if t := s[kind]; t != "" {
		return t, nil
	}
	return "", fmt.Errorf("no callback token configured for %s", kind)
}

// Options configure a Runtime.
type Options struct {
	Sealer  proofline.Sealer
	Proofer Proofer
	Tokens  TokenSource
	// AllowedCallbackHosts lists the host:port pairs callbacks may go to.
	// A callback URL elsewhere is refused before any work. Required.
	AllowedCallbackHosts []string
	// Version is this worker's build (git ref), reported in every callback.
	Version string
	// Client posts callbacks. Default: a client that never follows redirects.
	Client *http.Client
	// TryTimeout bounds one callback attempt. Default 5 s.
	TryTimeout time.Duration
	// MaxTries bounds callback attempts. Default 3.
	MaxTries int
	// Backoff is the wait before the second try, doubling after. Default 100 ms.
	Backoff time.Duration
	Logger  *slog.Logger
	Now     func() time.Time
	// Observer, when set, is told how every job ended (metrics).
	Observer Observer
	// TracerProvider traces jobs as children of the span that started them
	// (named in the envelope); nil means off.
	TracerProvider trace.TracerProvider
}

// Observer is told how each job ended: outcome is delivered, expired,
// rejected or undelivered. It must be fast and safe for concurrent use.
type Observer interface {
	JobHandled(kind proofline.Kind, outcome string, took time.Duration)
}

// Runtime runs envelopes.
type Runtime struct {
	opts   Options
	tracer trace.Tracer
}

// New checks opts and returns a Runtime.
func New(opts Options) (*Runtime, error) {
	if opts.Sealer == nil || opts.Proofer == nil || opts.Tokens == nil {
		return nil, errors.New("worker: Sealer, Proofer and Tokens are required")
	}
	if len(opts.AllowedCallbackHosts) == 0 {
		return nil, errors.New("worker: AllowedCallbackHosts is required")
	}
	if opts.Client == nil {
		opts.Client = &http.Client{
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
			Transport: &http.Transport{
				Proxy:               nil, // callbacks go straight to the IdP, never through the vendor proxy
				DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
				MaxIdleConnsPerHost: 64,
				IdleConnTimeout:     90 * time.Second,
			},
		}
	}
	if opts.TryTimeout <= 0 {
		opts.TryTimeout = 5 * time.Second
	}
	if opts.MaxTries <= 0 {
		opts.MaxTries = 3
	}
	if opts.Backoff <= 0 {
		opts.Backoff = 100 * time.Millisecond
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Runtime{opts: opts, tracer: tracing.Tracer(opts.TracerProvider)}, nil
}

// Handle runs one envelope to its end: delivered (nil), expired (ErrExpired),
// rejected (ErrRejected) or not delivered (*DeliveryError).
func (r *Runtime) Handle(ctx context.Context, env *proofline.Envelope) (err error) {
	start := r.opts.Now()
	ctx, span := r.tracer.Start(tracing.RemoteParent(ctx, env.TraceID, env.SpanID), "proofline.job",
		trace.WithAttributes(attribute.String("proofline.kind", string(env.Kind)), attribute.String("proofline.result_id", env.ResultID)))
	defer func() {
		outcome := outcomeOf(err)
		span.SetAttributes(attribute.String("proofline.outcome", outcome))
		if err != nil {
			span.SetStatus(codes.Error, outcome)
		}
		span.End()
		if r.opts.Observer != nil {
			r.opts.Observer.JobHandled(env.Kind, outcome, r.opts.Now().Sub(start))
		}
	}()
	log := r.opts.Logger.With(slog.String("kind", string(env.Kind)), slog.String("result_id", env.ResultID), slog.String("trace_id", env.TraceID))
	if !start.Before(env.Deadline) {
		log.LogAttrs(ctx, slog.LevelWarn, "job dropped: deadline passed before start")
		return ErrExpired
	}
	if err := r.checkCallbackURL(env); err != nil {
		log.LogAttrs(ctx, slog.LevelError, "job rejected", slog.String("error", err.Error()))
		return fmt.Errorf("%w: %v", ErrRejected, err)
	}
	token, err := r.opts.Tokens.CallbackToken(ctx, env.Kind)
	if err != nil {
		log.LogAttrs(ctx, slog.LevelError, "job rejected: no callback token", slog.String("error", err.Error()))
		return fmt.Errorf("%w: %v", ErrRejected, err)
	}
	payload, err := env.Open(r.opts.Sealer)
	if err != nil {
		log.LogAttrs(ctx, slog.LevelError, "job rejected: envelope does not open", slog.String("error", err.Error()))
		return fmt.Errorf("%w: %v", ErrRejected, err)
	}
	secret := payload.CallbackSecret

	jobCtx, cancel := context.WithDeadline(ctx, env.Deadline)
	defer cancel()
	proofCtx, timings := proofer.WithTimings(jobCtx)
	result := r.opts.Proofer.Proof(proofCtx, env.Kind, payload)
	payload = nil
	proofed := r.opts.Now()
	if !proofed.Before(env.Deadline) {
		log.LogAttrs(ctx, slog.LevelWarn, "job expired while proofing; result not delivered",
			slog.Duration("proofing", proofed.Sub(start)))
		return ErrExpired
	}
	body, err := callbackBody(env.Kind, result)
	if err != nil {
		return fmt.Errorf("%w: encode result: %v", ErrRejected, err)
	}
	status, tries, err := r.deliver(jobCtx, env, token, secret, body)
	clear(body)
	attrs := []slog.Attr{
		slog.Bool("success", result.Success), slog.Bool("vendor_timed_out", result.TimedOut),
		slog.Bool("exception", result.Exception != nil), slog.Int("stages", len(result.Context.Stages)),
		slog.Duration("proofing", proofed.Sub(start)), slog.Duration("callback", r.opts.Now().Sub(proofed)),
		slog.Int("callback_status", status), slog.Int("callback_tries", tries),
		stepsAttr(timings.Steps()),
	}
	if err != nil {
		log.LogAttrs(ctx, slog.LevelError, "job result not delivered", append(attrs, slog.String("error", err.Error()))...)
		if errors.Is(err, context.DeadlineExceeded) && !r.opts.Now().Before(env.Deadline) {
			return fmt.Errorf("%w: %v", ErrExpired, err)
		}
		return err
	}
	log.LogAttrs(ctx, slog.LevelInfo, "job delivered", attrs...)
	return nil
}

func (r *Runtime) checkCallbackURL(env *proofline.Envelope) error {
	u, err := url.Parse(env.CallbackURL)
	if err != nil || u.User != nil || u.RawQuery != "" || u.Fragment != "" || (u.Scheme != "https" && u.Scheme != "http") {
		return errors.New("callback url malformed")
	}
	if !slices.Contains(r.opts.AllowedCallbackHosts, strings.ToLower(u.Host)) {
		return errors.New("callback host not allowed")
	}
	if u.EscapedPath() != proofline.CallbackPath(env.Kind, env.ResultID) {
		return errors.New("callback path does not match the job")
	}
	return nil
}

// deliver posts body, retrying network errors and 5xx with backoff, never past
// ctx's deadline (the job's). 409 (already done) counts as delivered.
func (r *Runtime) deliver(ctx context.Context, env *proofline.Envelope, token string, secret, body []byte) (status, tries int, err error) {
	path := proofline.CallbackPath(env.Kind, env.ResultID)
	wait := r.opts.Backoff
	for tries = 1; ; tries++ {
		status, err = r.post(ctx, env, path, token, secret, body)
		switch {
		case err == nil && status >= 200 && status < 300:
			return status, tries, nil
		case err == nil && status == http.StatusConflict:
			return status, tries, nil // an earlier try landed
		case err == nil && status < 500:
			return status, tries, &DeliveryError{Status: status, Tries: tries, Cause: errors.New("callback refused")}
		}
		if err == nil {
			err = errors.New("server error")
		}
		if tries >= r.opts.MaxTries {
			return status, tries, &DeliveryError{Status: status, Tries: tries, Cause: err}
		}
		if dl, ok := ctx.Deadline(); ok && r.opts.Now().Add(wait).After(dl) {
			return status, tries, &DeliveryError{Status: status, Tries: tries, Cause: context.DeadlineExceeded}
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return status, tries, &DeliveryError{Status: status, Tries: tries, Cause: ctx.Err()}
		case <-t.C:
		}
		wait *= 2
	}
}

func (r *Runtime) post(ctx context.Context, env *proofline.Envelope, path, token string, secret, body []byte) (status int, err error) {
	ctx, span := r.tracer.Start(ctx, "proofline.callback.send", trace.WithSpanKind(trace.SpanKindClient))
	defer func() {
		span.SetAttributes(attribute.Int("http.response.status_code", status))
		if err != nil || status >= 400 {
			span.SetStatus(codes.Error, "callback not accepted")
		}
		span.End()
	}()
	tctx, cancel := context.WithTimeout(ctx, r.opts.TryTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(tctx, http.MethodPost, env.CallbackURL, bytes.NewReader(body))
	if err != nil {
		return 0, errors.New("callback request could not be built")
	}
	now := r.opts.Now()
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(proofline.HeaderAuthToken, token)
	req.Header.Set(proofline.HeaderJobSecret, proofline.EncodeSecret(secret))
	req.Header.Set(proofline.HeaderTimestamp, strconv.FormatInt(now.Unix(), 10))
	req.Header.Set(proofline.HeaderSignature, proofline.SignCallback(secret, now, http.MethodPost, path, body))
	req.Header.Set(proofline.HeaderWorkerVersion, r.opts.Version)
	if env.TraceID != "" {
		req.Header.Set("X-Request-Id", env.TraceID)
	}
	tracing.Propagator.Inject(ctx, propagation.HeaderCarrier(req.Header))
	resp, err := r.opts.Client.Do(req)
	if err != nil {
		// *url.Error would carry the URL; it holds only ids, but keep the
		// message to its class.
		if errors.Is(err, context.DeadlineExceeded) {
			return 0, context.DeadlineExceeded
		}
		return 0, errors.New("callback transport error")
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
	_ = resp.Body.Close()
	return resp.StatusCode, nil
}

// callbackBody is {"<kind>_result": result}, with document PII in clear: the
// callback goes to the IdP over TLS and is sealed there.
func callbackBody(kind proofline.Kind, r *proofline.Result) ([]byte, error) {
	raw, err := r.MarshalRevealed()
	if err != nil {
		return nil, err
	}
	return json.Marshal(map[string]json.RawMessage{kind.ResultField(): raw})
}

// stepsAttr is the timed steps of a job, for its outcome log line: one
// group per step, e.g. download_front, decrypt_front, resolution.
func stepsAttr(steps []proofer.Step) slog.Attr {
	attrs := make([]any, 0, len(steps))
	for i, st := range steps {
		g := []any{slog.String("step", st.Name), slog.String("outcome", st.Outcome), slog.Duration("took", st.Took)}
		if st.Vendor != "" {
			g = append(g, slog.String("vendor", st.Vendor))
		}
		attrs = append(attrs, slog.Group(strconv.Itoa(i), g...))
	}
	return slog.Group("steps", attrs...)
}

// outcomeOf names how Handle ended, for metrics.
func outcomeOf(err error) string {
	switch {
	case err == nil:
		return "delivered"
	case errors.Is(err, ErrExpired):
		return "expired"
	case errors.Is(err, ErrRejected):
		return "rejected"
	}
	return "undelivered"
}
