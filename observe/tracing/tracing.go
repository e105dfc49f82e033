// Package tracing sets up OpenTelemetry tracing for proofline: off (a no-op
// provider) by default, OTLP over HTTP when an endpoint is configured. One
// trace covers one attempt: the start, the dispatch, the worker's job, each
// vendor call and the callback, across processes (the trace and parent span
// travel in the envelope, the callback carries a W3C traceparent header).
//
// Spans carry ids, kinds, stages, vendor names and outcomes, never PII.
package tracing

import (
	"context"
	"errors"
	"net/url"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"go.opentelemetry.io/otel/sdk/resource"
)

// Name is the instrumentation name of proofline's tracers.
const Name = "github.com/proofline/proofline"

// Propagator is the W3C trace-context propagator used on callbacks.
var Propagator = propagation.TraceContext{}

// Noop is the provider used when tracing is off.
func Noop() trace.TracerProvider { return noop.NewTracerProvider() }

// New returns a provider exporting to the OTLP/HTTP endpoint (for example
// http://127.0.0.1:4318), or the no-op provider when endpoint is empty. The
// returned shutdown flushes and stops the exporter.
func New(ctx context.Context, endpoint, serviceName, version string) (trace.TracerProvider, func(context.Context) error, error) {
	if endpoint == "" {
		return Noop(), func(context.Context) error { return nil }, nil
	}
	u, err := url.Parse(endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, nil, errors.New("tracing: the OTLP endpoint must be an http(s) URL")
	}
	opts := []otlptracehttp.Option{otlptracehttp.WithEndpointURL(endpoint)}
	exp, err := otlptracehttp.New(ctx, opts...)
	if err != nil {
		return nil, nil, errors.New("tracing: cannot create the OTLP exporter")
	}
	res := resource.NewSchemaless(
		attribute.String("service.name", serviceName),
		attribute.String("service.version", version),
	)
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	return tp, tp.Shutdown, nil
}

// Tracer returns proofline's tracer from tp (the no-op one when tp is nil).
func Tracer(tp trace.TracerProvider) trace.Tracer {
	if tp == nil {
		tp = Noop()
	}
	return tp.Tracer(Name)
}

// RemoteParent returns ctx carrying the span context named by traceID and
// spanID (hex, as in an envelope), or ctx unchanged when they are not valid.
func RemoteParent(ctx context.Context, traceID, spanID string) context.Context {
	tid, err1 := trace.TraceIDFromHex(traceID)
	sid, err2 := trace.SpanIDFromHex(spanID)
	if err1 != nil || err2 != nil {
		return ctx
	}
	sc := trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled, Remote: true})
	return trace.ContextWithRemoteSpanContext(ctx, sc)
}
