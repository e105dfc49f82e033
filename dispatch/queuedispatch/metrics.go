package queuedispatch

import (
	"net/http"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/proofline/proofline"
)

// Metrics are a consumer's counters: jobs by kind and outcome, expired drops,
// jobs in flight. Consumer.Collector exports them with the queues' own
// figures.
type Metrics struct {
	mu       sync.Mutex
	jobs     map[[2]string]uint64 // kind, outcome
	drops    map[string]uint64    // kind
	inFlight atomic.Int64
}

func newMetrics() *Metrics {
	m := &Metrics{jobs: map[[2]string]uint64{}, drops: map[string]uint64{}}
	for _, k := range proofline.Kinds {
		m.drops[string(k)] = 0
		for _, o := range outcomes {
			m.jobs[[2]string{string(k), o}] = 0
		}
	}
	return m
}

func (m *Metrics) count(kind, outcome string) {
	m.mu.Lock()
	m.jobs[[2]string{kind, outcome}]++
	m.mu.Unlock()
}

func (m *Metrics) dropped(kind string) {
	m.mu.Lock()
	m.drops[kind]++
	m.mu.Unlock()
}

// Jobs is the number of jobs of kind that ended with outcome.
func (m *Metrics) Jobs(kind proofline.Kind, outcome string) uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.jobs[[2]string{string(kind), outcome}]
}

// Dropped is the number of jobs of kind dropped because they reached the
// worker after their deadline.
func (m *Metrics) Dropped(kind proofline.Kind) uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.drops[string(kind)]
}

// InFlight is the number of jobs running now.
func (m *Metrics) InFlight() int64 { return m.inFlight.Load() }

// Collector exports the consumer's counters, what its sweeps removed and,
// read from Redis at each scrape, every consumed queue's sizes by state,
// latency and processed / failed totals. Register it with the process's
// registry.
func (c *Consumer) Collector() prometheus.Collector { return collector{c} }

// MetricsHandler serves the Collector alone in the Prometheus text format
// (for embedding without a registry of one's own).
func (c *Consumer) MetricsHandler() http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(c.Collector())
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
}

var (
	descJobs = prometheus.NewDesc("proofline_queue_jobs_total",
		"Queue jobs this worker ended, by kind and outcome (delivered, dropped, expired, rejected, retried, undelivered).", []string{"kind", "outcome"}, nil)
	descDropped = prometheus.NewDesc("proofline_queue_expired_dropped_total",
		"Jobs that reached this worker after their deadline and were dropped without proofing.", []string{"kind"}, nil)
	descInFlight  = prometheus.NewDesc("proofline_queue_jobs_in_flight", "Queue jobs running in this worker now.", nil, nil)
	descUp        = prometheus.NewDesc("proofline_queue_up", "1 when the queue's figures could be read from Redis.", []string{"queue"}, nil)
	descTasks     = prometheus.NewDesc("proofline_queue_tasks", "Tasks in the queue by state (asynq).", []string{"queue", "state"}, nil)
	descSize      = prometheus.NewDesc("proofline_queue_size", "Tasks in the queue in any state but completed (asynq).", []string{"queue"}, nil)
	descLatency   = prometheus.NewDesc("proofline_queue_latency_seconds", "Age of the oldest pending task (asynq).", []string{"queue"}, nil)
	descProcessed = prometheus.NewDesc("proofline_queue_processed_total", "Tasks processed from the queue by every worker (asynq).", []string{"queue"}, nil)
	descFailed    = prometheus.NewDesc("proofline_queue_failed_total", "Task attempts that failed, by every worker (asynq).", []string{"queue"}, nil)
)

type collector struct{ c *Consumer }

func (x collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descJobs, descDropped, descInFlight, descUp, descTasks, descSize, descLatency, descProcessed, descFailed} {
		ch <- d
	}
	sweepCollector{x.c.sweeper}.Describe(ch)
}

func (x collector) Collect(ch chan<- prometheus.Metric) {
	m := x.c.metrics
	m.mu.Lock()
	for k, v := range m.jobs {
		ch <- prometheus.MustNewConstMetric(descJobs, prometheus.CounterValue, float64(v), k[0], k[1])
	}
	for k, v := range m.drops {
		ch <- prometheus.MustNewConstMetric(descDropped, prometheus.CounterValue, float64(v), k)
	}
	m.mu.Unlock()
	ch <- prometheus.MustNewConstMetric(descInFlight, prometheus.GaugeValue, float64(m.inFlight.Load()))
	sweepCollector{x.c.sweeper}.Collect(ch)

	// The queues' own figures, as asynq's inspector reads them from Redis.
	for _, q := range x.c.queues {
		info, err := x.c.insp.GetQueueInfo(q)
		if err != nil {
			// Redis down, or a queue nothing was ever sent to.
			ch <- prometheus.MustNewConstMetric(descUp, prometheus.GaugeValue, 0, q)
			continue
		}
		ch <- prometheus.MustNewConstMetric(descUp, prometheus.GaugeValue, 1, q)
		for state, n := range map[string]int{
			"pending": info.Pending, "active": info.Active, "scheduled": info.Scheduled,
			"retry": info.Retry, "archived": info.Archived, "completed": info.Completed,
		} {
			ch <- prometheus.MustNewConstMetric(descTasks, prometheus.GaugeValue, float64(n), q, state)
		}
		ch <- prometheus.MustNewConstMetric(descSize, prometheus.GaugeValue, float64(info.Size), q)
		ch <- prometheus.MustNewConstMetric(descLatency, prometheus.GaugeValue, info.Latency.Seconds(), q)
		ch <- prometheus.MustNewConstMetric(descProcessed, prometheus.CounterValue, float64(info.ProcessedTotal), q)
		ch <- prometheus.MustNewConstMetric(descFailed, prometheus.CounterValue, float64(info.FailedTotal), q)
	}
}
