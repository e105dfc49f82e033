package metrics

import "github.com/prometheus/client_golang/prometheus"

// WebhookEvents and WebhookOutcomes are the label values of
// proofline_webhook_deliveries_total (package webhook's event types and
// delivery outcomes).
var (
	WebhookEvents = []string{"verification_session.verified", "verification_session.failed",
		"verification_session.expired", "verification_session.canceled", "proofing_job.completed"}
	WebhookOutcomes = []string{"delivered", "retry", "expired", "dropped"}
)

// WebhookCounter counts webhook delivery attempts; it implements
// webhook.Observer.
type WebhookCounter struct{ c *prometheus.CounterVec }

// Webhooks registers proofline_webhook_deliveries_total and returns its
// counter. Call it once per Metrics.
func (m *Metrics) Webhooks() *WebhookCounter {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "proofline_webhook_deliveries_total",
		Help: "Webhook delivery attempts, by event and outcome (delivered, retry = failed and retried later, expired = failed and given up at webhook_max_age_seconds, dropped = no endpoint).",
	}, []string{"event", "outcome"})
	m.reg.MustRegister(c)
	for _, e := range WebhookEvents {
		for _, o := range WebhookOutcomes {
			c.WithLabelValues(e, o)
		}
	}
	return &WebhookCounter{c: c}
}

// WebhookDelivery implements webhook.Observer.
func (w *WebhookCounter) WebhookDelivery(event, outcome string) {
	w.c.WithLabelValues(event, outcome).Inc()
}
