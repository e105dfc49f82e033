// Package worker is the one worker runtime every dispatch mode runs: check
// the deadline, claim the job's data key from the IdP over HTTP (once per
// job, wrapped to an ephemeral X25519 key), open the envelope, run the
// proofer, and deliver the result sealed under a key derived from the
// per-job secret to the IdP's callback with the per-kind token, retrying
// network errors and 5xx within the deadline.
//
// A worker holds no long-lived key: nothing in its Options opens a stored
// record or an envelope whose job was claimed or ended.
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
	// ErrRejected: the envelope is malformed, does not open, names a
	// callback this worker may not call, or the IdP refused the claim
	// (unknown job, bad token or claim proof). Permanent.
	ErrRejected = errors.New("worker: envelope rejected")
	// ErrClaimed: the job was claimed before, or is already done: this is a
	// redelivered envelope (a Lambda retry, a queue redelivery). Nothing was
	// proofed; permanent.
	ErrClaimed = errors.New("worker: job already claimed")
)

// DeliveryError is a claim or callback that could not be delivered.
type DeliveryError struct {
	Status int // last HTTP status, 0 for a network error
	Tries  int
	Cause  error
}

func (e *DeliveryError) Error() string {
	return fmt.Sprintf("worker: request to the IdP not answered after %d tries (last status %d): %v", e.Tries, e.Status, e.Cause)
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
	Proofer Proofer
	Tokens  TokenSource
	// AllowedCallbackHosts lists the host:port pairs callbacks may go to.
	// A callback URL elsewhere is refused before any work. Required.
	AllowedCallbackHosts []string
	// Version is this worker's build (git ref), reported in every callback.
	Version string
	// Client posts claims and callbacks. Default: a client that never
	// follows redirects.
	Client *http.Client
	// TryTimeout bounds one claim or callback attempt. Default 5 s.
	TryTimeout time.Duration
	// MaxTries bounds claim attempts and callback attempts. Default 3.
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
// rejected, duplicate (claimed before: a redelivery) or undelivered. It must be fast and safe for concurrent use.
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
	if opts.Proofer == nil || opts.Tokens == nil {
		return nil, errors.New("worker: Proofer and Tokens are required")
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
// rejected (ErrRejected), claimed before (ErrClaimed) or not delivered
// (*DeliveryError, for the claim or the callback).
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
	jobCtx, cancel := context.WithDeadline(ctx, env.Deadline)
	defer cancel()
	dataKey, err := r.claim(jobCtx, env, token)
	if err != nil {
		lvl := slog.LevelError
		if errors.Is(err, ErrClaimed) || errors.Is(err, ErrExpired) {
			lvl = slog.LevelWarn
		}
		log.LogAttrs(ctx, lvl, "job not claimed", slog.String("error", err.Error()))
		if errors.Is(err, context.DeadlineExceeded) && !r.opts.Now().Before(env.Deadline) {
			return fmt.Errorf("%w: %v", ErrExpired, err)
		}
		return err
	}
	payload, err := env.Open(dataKey)
	clear(dataKey)
	if err != nil {
		log.LogAttrs(ctx, slog.LevelError, "job rejected: envelope does not open", slog.String("error", err.Error()))
		return fmt.Errorf("%w: %v", ErrRejected, err)
	}
	secret := payload.CallbackSecret

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
	clear(secret)
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

// claim asks the IdP for the job's data key: POST ClaimURL with a fresh
// X25519 key and the proof of the envelope's claim token. 200 is the wrapped
// key; 409 is ErrClaimed, 410 ErrExpired, any other 4xx ErrRejected; network
// errors and 5xx are retried like callbacks (a claim whose answer was lost is
// then refused with 409: the key is released once).
func (r *Runtime) claim(ctx context.Context, env *proofline.Envelope, token string) ([]byte, error) {
	c, err := proofline.NewClaimant(env)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrRejected, err)
	}
	url := proofline.ClaimURL(env.CallbackURL)
	var answer []byte
	status, tries, err := r.retry(ctx, func(ctx context.Context) (int, error) {
		st, b, err := r.send(ctx, env, "proofline.claim.send", url, token, func(time.Time) ([]byte, error) { return c.Body(), nil }, 4096)
		answer = b
		return st, err
	})
	switch {
	case err != nil:
		return nil, err
	case status == http.StatusOK:
		dk, err := c.Open(answer)
		if err != nil {
			return nil, fmt.Errorf("%w: claim answer: %v", ErrRejected, err)
		}
		return dk, nil
	case status == http.StatusConflict:
		return nil, ErrClaimed
	case status == http.StatusGone:
		return nil, fmt.Errorf("%w: claim refused with 410", ErrExpired)
	}
	return nil, fmt.Errorf("%w: claim refused with status %d after %d tries", ErrRejected, status, tries)
}

// deliver posts the result sealed to the IdP, retrying network errors and
// 5xx with backoff, never past ctx's deadline (the job's). 409 (already done)
// counts as delivered.
func (r *Runtime) deliver(ctx context.Context, env *proofline.Envelope, token string, secret, body []byte) (status, tries int, err error) {
	path := proofline.CallbackPath(env.Kind, env.ResultID)
	status, tries, err = r.retry(ctx, func(ctx context.Context) (int, error) {
		st, _, err := r.send(ctx, env, "proofline.callback.send", env.CallbackURL, token, func(now time.Time) ([]byte, error) {
			return proofline.SealCallback(secret, env.Kind, env.ResultID, http.MethodPost, path, now, body)
		}, 4096)
		return st, err
	})
	switch {
	case err != nil:
		return status, tries, err
	case status >= 200 && status < 300:
		return status, tries, nil
	case status == http.StatusConflict:
		return status, tries, nil // an earlier try landed
	}
	return status, tries, &DeliveryError{Status: status, Tries: tries, Cause: errors.New("callback refused")}
}

// retry runs try until it gets an answer below 500, retrying network errors
// and 5xx with backoff up to MaxTries, never past ctx's deadline. An error is
// a *DeliveryError; any answer below 500 is returned as it is.
func (r *Runtime) retry(ctx context.Context, try func(context.Context) (int, error)) (status, tries int, err error) {
	wait := r.opts.Backoff
	for tries = 1; ; tries++ {
		status, err = try(ctx)
		if err == nil && status < 500 {
			return status, tries, nil
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

// send makes one POST to url with the body body(now) and returns the status
// and up to limit bytes of the answer.
func (r *Runtime) send(ctx context.Context, env *proofline.Envelope, spanName, url, token string, body func(now time.Time) ([]byte, error), limit int64) (status int, answer []byte, err error) {
	ctx, span := r.tracer.Start(ctx, spanName, trace.WithSpanKind(trace.SpanKindClient))
	defer func() {
		span.SetAttributes(attribute.Int("http.response.status_code", status))
		if err != nil || status >= 400 {
			span.SetStatus(codes.Error, "not accepted")
		}
		span.End()
	}()
	tctx, cancel := context.WithTimeout(ctx, r.opts.TryTimeout)
	defer cancel()
	now := r.opts.Now()
	b, err := body(now)
	if err != nil {
		return 0, nil, errors.New("request body could not be built")
	}
	req, err := http.NewRequestWithContext(tctx, http.MethodPost, url, bytes.NewReader(b))
	if err != nil {
		return 0, nil, errors.New("request could not be built")
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(proofline.HeaderAuthToken, token)
	req.Header.Set(proofline.HeaderTimestamp, strconv.FormatInt(now.Unix(), 10))
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
			return 0, nil, context.DeadlineExceeded
		}
		return 0, nil, errors.New("transport error")
	}
	answer, err = io.ReadAll(io.LimitReader(resp.Body, limit))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
	_ = resp.Body.Close()
	if err != nil && resp.StatusCode < 300 {
		return 0, nil, errors.New("transport error")
	}
	return resp.StatusCode, answer, nil
}

// callbackBody is {"<kind>_result": result}, with document PII in clear:
// deliver seals it to the IdP before it leaves.
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
	case errors.Is(err, ErrClaimed):
		return "duplicate"
	}
	return "undelivered"
}
