package app

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/proofline/proofline"
	"github.com/proofline/proofline/config"
	"github.com/proofline/proofline/observe/metrics"
	"github.com/proofline/proofline/observe/tracing"
	"github.com/proofline/proofline/proofer"
	"github.com/proofline/proofline/worker"

	"go.opentelemetry.io/otel/trace"
)

// WorkerOptions are what a worker process knows beyond the Config.
type WorkerOptions struct {
	// Version is this worker's build (git ref), reported in callbacks.
	Version string
	Logger  *slog.Logger
	// Images is where document images are read; built from the config when nil.
	Images proofer.ImageSource
	// Tokens gives the per-kind callback tokens: static from the config in
	// the server, SSM Parameter Store in Lambda.
	Tokens worker.TokenSource
	// CallbackHost is the host:port callbacks may go to (base_url's host
	// when empty).
	CallbackHost string
	// VendorLatency delays every mock vendor answer (load tests).
	VendorLatency time.Duration
	// Metrics, when set, receives worker and vendor observations.
	Metrics *metrics.Metrics
	// TracerProvider traces jobs and vendor calls; nil means off.
	TracerProvider trace.TracerProvider
	// Transport, when set, carries claims and callbacks (the in-process
	// pool's worker.InProcessTransport); default: HTTP over TCP.
	Transport http.RoundTripper
}

// NewWorker builds the worker runtime every dispatch mode runs: in-process in
// `proofline serve`, in `proofline worker` processes, and in Lambda. It
// reads no key from cfg: every worker claims each job's data key from the IdP
// over HTTP (base_url), the in-process ones too.
func NewWorker(ctx context.Context, cfg config.Config, o WorkerOptions) (*worker.Runtime, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	images := o.Images
	if images == nil {
		b, err := newBlobs(ctx, cfg, cfg.BaseURL, cfg.DataDir, o.Logger)
		if err != nil {
			return nil, err
		}
		images = b.store
	}
	tokens := o.Tokens
	if tokens == nil {
		tokens = configTokens(cfg)
	}
	host := o.CallbackHost
	if host == "" {
		host = hostOf(cfg.BaseURL)
	}
	if host == "" {
		return nil, &config.Error{Key: "base_url", Msg: "is required for a worker (it names the callback host)"}
	}
	v, err := newVendors(ctx, cfg, o)
	if err != nil {
		return nil, err
	}
	pr := &proofer.Proofer{
		Resolution: v.resolution, StateID: v.stateID, Address: v.address, Document: v.document,
		Images: images, MaxImageBytes: cfg.DocAuthMaxImageBytes, Logger: o.Logger,
	}
	wo := worker.Options{
		Proofer: pr, Tokens: tokens,
		AllowedCallbackHosts: []string{strings.ToLower(host)},
		Version:              o.Version, Logger: o.Logger,
	}
	if o.Metrics != nil {
		pr.Observer = o.Metrics
		wo.Observer = o.Metrics
	}
	if o.TracerProvider != nil {
		pr.Tracer = tracing.Tracer(o.TracerProvider)
		wo.TracerProvider = o.TracerProvider
	}
	if o.Transport != nil {
		wo.Client = &http.Client{
			Transport:     o.Transport,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	return worker.New(wo)
}

func configTokens(cfg config.Config) worker.StaticTokens {
	return currentTokens(map[proofline.Kind]string{
		proofline.KindAddress: cfg.AddressProofResultLambdaToken, proofline.KindDocument: cfg.DocumentProofResultLambdaToken,
		proofline.KindResolution: cfg.ResolutionProofResultLambdaToken,
	})
}

// currentTokens is what workers send: the first of each kind's
// comma-separated tokens (the others are still accepted while rotating).
func currentTokens(tokens map[proofline.Kind]string) worker.StaticTokens {
	t := worker.StaticTokens{}
	for k, v := range tokens {
		first, _, _ := strings.Cut(v, ",")
		if first = strings.TrimSpace(first); first != "" {
			t[k] = first
		}
	}
	return t
}
