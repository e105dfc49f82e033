// Package metrics exports what proofline does as Prometheus metrics. One
// Metrics value implements the observer hooks of the proofing service, the
// dispatcher, the worker runtime and the proofer.
//
// Every label has a bounded set of values (job kind, stage, vendor adapter
// name, fixed outcome and reason words); no label ever carries an id, a user
// string or PII.
package metrics

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/proofline/proofline"
)

// Metrics holds proofline's collectors in their own registry.
type Metrics struct {
	reg *prometheus.Registry

	started         *prometheus.CounterVec
	results         *prometheus.CounterVec
	refused         *prometheus.CounterVec
	versionMismatch *prometheus.CounterVec
	resultSeconds   *prometheus.HistogramVec
	budgetShare     *prometheus.HistogramVec
	vendorSeconds   *prometheus.HistogramVec
	workerJobs      *prometheus.CounterVec
	workerSeconds   *prometheus.HistogramVec
	dispatchSeconds *prometheus.HistogramVec
	dispatchErrors  *prometheus.CounterVec
}

// New returns Metrics registered with a fresh registry, with the Go runtime
// and process collectors.
func New() *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	f := func(c prometheus.Collector) { m.reg.MustRegister(c) }
	f(collectors.NewGoCollector())
	f(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	m.started = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "proofline_jobs_started_total", Help: "Jobs started, by kind.",
	}, []string{"kind"})
	m.results = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "proofline_results_total", Help: "Results stored from callbacks, by kind and outcome (success, failure, exception, vendor_timeout).",
	}, []string{"kind", "outcome"})
	m.refused = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "proofline_callbacks_refused_total", Help: "Callbacks refused, by kind and reason (token, signature, unknown, malformed, duplicate, late).",
	}, []string{"kind", "reason"})
	m.versionMismatch = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "proofline_callbacks_worker_version_mismatch_total", Help: "Callbacks from a worker build other than the pinned one, by kind.",
	}, []string{"kind"})
	m.resultSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "proofline_result_seconds", Help: "Time from job start to stored result, by kind.",
		Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 20, 30, 45, 60},
	}, []string{"kind"})
	m.budgetShare = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "proofline_result_budget_ratio", Help: "Share of the waiting budget (async_wait_timeout_seconds) used when the result was stored, by kind.",
		Buckets: []float64{.001, .005, .01, .05, .1, .25, .5, .75, .9, 1},
	}, []string{"kind"})
	m.vendorSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "proofline_vendor_call_seconds", Help: "Vendor call latency, by stage, vendor adapter and outcome (passed, failed, exception, timeout, skipped_deadline).",
		Buckets: []float64{.001, .005, .01, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
	}, []string{"stage", "vendor", "outcome"})
	m.workerJobs = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "proofline_worker_jobs_total", Help: "Jobs a worker finished, by kind and outcome (delivered, expired, rejected, undelivered). expired = the deadline passed before a result could be delivered: the person saw the timeout.",
	}, []string{"kind", "outcome"})
	m.workerSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "proofline_worker_job_seconds", Help: "Time a worker spent on a job (proofing and callback), by kind.",
		Buckets: []float64{.001, .005, .01, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
	}, []string{"kind"})
	m.dispatchSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "proofline_dispatch_seconds", Help: "Time to hand a job to the workers, by kind.",
		Buckets: []float64{.0001, .0005, .001, .005, .01, .05, .1, .5, 1},
	}, []string{"kind"})
	m.dispatchErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "proofline_dispatch_errors_total", Help: "Jobs that could not be handed to the workers (full, closed, backend down), by kind.",
	}, []string{"kind"})
	for _, c := range []prometheus.Collector{m.started, m.results, m.refused, m.versionMismatch, m.resultSeconds,
		m.budgetShare, m.vendorSeconds, m.workerJobs, m.workerSeconds, m.dispatchSeconds, m.dispatchErrors} {
		f(c)
	}
	// Every kind appears from the start, so dashboards and alerts see zeros.
	for _, k := range proofline.Kinds {
		m.started.WithLabelValues(string(k))
		m.workerJobs.WithLabelValues(string(k), "expired")
		m.refused.WithLabelValues(string(k), "late")
	}
	return m
}

// Handler serves the metrics in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// Registry is where other collectors (queue figures) register.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Gauge registers a gauge read from f at scrape time.
func (m *Metrics) Gauge(name, help string, f func() float64) {
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, f))
}

// JobStarted implements proofing.Observer.
func (m *Metrics) JobStarted(kind proofline.Kind) { m.started.WithLabelValues(string(kind)).Inc() }

// CallbackRefused implements proofing.Observer.
func (m *Metrics) CallbackRefused(kind proofline.Kind, reason string) {
	m.refused.WithLabelValues(string(kind), reason).Inc()
}

// ResultStored implements proofing.Observer.
func (m *Metrics) ResultStored(kind proofline.Kind, sinceStart, budget time.Duration, r *proofline.Result) {
	outcome := "failure"
	switch {
	case r.TimedOut:
		outcome = "vendor_timeout"
	case r.Exception != nil:
		outcome = "exception"
	case r.Success:
		outcome = "success"
	}
	m.results.WithLabelValues(string(kind), outcome).Inc()
	m.resultSeconds.WithLabelValues(string(kind)).Observe(sinceStart.Seconds())
	if budget > 0 {
		m.budgetShare.WithLabelValues(string(kind)).Observe(sinceStart.Seconds() / budget.Seconds())
	}
}

// VersionMismatch implements proofing.Observer.
func (m *Metrics) VersionMismatch(kind proofline.Kind) {
	m.versionMismatch.WithLabelValues(string(kind)).Inc()
}

// VendorCall implements proofer.Observer.
func (m *Metrics) VendorCall(stage, vendor, outcome string, took time.Duration) {
	m.vendorSeconds.WithLabelValues(stage, vendor, outcome).Observe(took.Seconds())
}

// JobHandled implements worker.Observer.
func (m *Metrics) JobHandled(kind proofline.Kind, outcome string, took time.Duration) {
	m.workerJobs.WithLabelValues(string(kind), outcome).Inc()
	m.workerSeconds.WithLabelValues(string(kind)).Observe(took.Seconds())
}

// Dispatched implements dispatch.Observer.
func (m *Metrics) Dispatched(kind proofline.Kind, took time.Duration, err error) {
	m.dispatchSeconds.WithLabelValues(string(kind)).Observe(took.Seconds())
	if err != nil {
		m.dispatchErrors.WithLabelValues(string(kind)).Inc()
	}
}
