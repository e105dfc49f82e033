package app

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"log/slog"
	"time"

	"github.com/proofline/proofline"
	"github.com/proofline/proofline/config"
	"github.com/proofline/proofline/observe/metrics"
	"github.com/proofline/proofline/proofing/verification"
	"github.com/proofline/proofline/resultstore"
	"github.com/proofline/proofline/resultstore/redisstore"
	"github.com/proofline/proofline/seal"
	"github.com/proofline/proofline/tenant"
	"github.com/proofline/proofline/webhook"
	"github.com/proofline/proofline/webhook/redisoutbox"
)

// hosted is the wiring of tenancy, verification sessions, browser sessions
// and webhooks. Keys by role: captures and webhook messages are stored
// records (record_keys); verification and browser sessions are sealed under
// the session ring (session_secret); webhooks are signed with each client's
// own secrets.
type hosted struct {
	clients       *tenant.Registry
	captures      *resultstore.Records
	vsessions     *resultstore.Records
	websessions   *resultstore.Records
	outbox        webhook.Driver
	sender        *webhook.Sender
	verifications *verification.Service
	// csrfSecret keys the pages' CSRF tokens.
	csrfSecret []byte
	log        *slog.Logger
}

// DefaultRedisKeyPrefix starts the Redis keys of the records kept beside
// the results: {prefix}capture:, vsession:, websession:, webhook:.
const DefaultRedisKeyPrefix = "proofline:"

func newHosted(cfg config.Config, baseURL string, apiKeys []string, rd *redisstore.Driver, prefix string, records proofline.Sealer, m *metrics.Metrics, log *slog.Logger) (*hosted, error) {
	if prefix == "" {
		prefix = DefaultRedisKeyPrefix
	}
	h := &hosted{log: log}
	clients, err := Clients(cfg, apiKeys, baseURL)
	if err != nil {
		return nil, err
	}
	h.clients = clients

	sessionRing, secret, err := sessionKeys(cfg, log)
	if err != nil {
		return nil, err
	}
	h.csrfSecret = secret
	if rd != nil {
		h.captures = resultstore.NewRecords(rd.Namespace(prefix+"capture:"), records, "capture")
		h.vsessions = resultstore.NewRecords(rd.Namespace(prefix+"vsession:"), sessionRing, "verification-session")
		h.websessions = resultstore.NewRecords(rd.Namespace(prefix+"websession:"), sessionRing, "web-session")
		h.outbox = redisoutbox.New(rd.Client(), prefix+"webhook:")
	} else {
		mem := func() resultstore.Driver { return resultstore.NewMemory(resultstore.MemoryOptions{}) }
		h.captures = resultstore.NewRecords(mem(), records, "capture")
		h.vsessions = resultstore.NewRecords(mem(), sessionRing, "verification-session")
		h.websessions = resultstore.NewRecords(mem(), sessionRing, "web-session")
		h.outbox = webhook.NewMemory()
	}
	backoff := time.Duration(cfg.WebhookInitialBackoffMS) * time.Millisecond
	h.sender, err = webhook.New(webhook.Options{
		Outbox: h.outbox, Sealer: records, Clients: clients, Observer: m.Webhooks(), Logger: log,
		Timeout: time.Duration(cfg.WebhookTimeoutSeconds) * time.Second, MaxAge: time.Duration(cfg.WebhookMaxAgeSeconds) * time.Second,
		InitialBackoff: backoff, Poll: min(time.Second, max(backoff/2, 10*time.Millisecond)),
	})
	if err != nil {
		return nil, err
	}
	h.verifications, err = verification.New(verification.Options{
		Records: h.vsessions, Clients: clients, BaseURL: baseURL, Webhooks: h.sender, Logger: log,
		LinkTTL:   time.Duration(cfg.VerificationSessionLinkTTLSeconds) * time.Second,
		Lifetime:  time.Duration(cfg.WebSessionLifetimeSeconds) * time.Second,
		Retention: time.Duration(cfg.VerificationSessionRetentionSeconds) * time.Second,
	})
	if err != nil {
		return nil, err
	}
	return h, nil
}

// Clients builds the API clients: every api_clients entry, and each
// api_keys entry as a client of its own (its own tenant, no webhook, the
// server's own origin to return to).
func Clients(cfg config.Config, apiKeys []string, baseURL string) (*tenant.Registry, error) {
	var cs []tenant.Client
	for _, c := range cfg.APIClients {
		tc := tenant.Client{
			Name: c.Name, Keys: c.APIKeys, ReturnOrigins: c.AllowedReturnOrigins, WebhookURL: c.WebhookURL,
			IncludePII: c.IncludePII, JobWebhooks: c.JobWebhooks,
		}
		for _, s := range c.WebhookSecrets {
			k, err := webhook.ParseSecret(s)
			if err != nil {
				return nil, &config.Error{Key: "api_clients", Msg: "webhook_secrets: " + err.Error()}
			}
			tc.WebhookSecrets = append(tc.WebhookSecrets, k)
		}
		cs = append(cs, tc)
	}
	for _, k := range apiKeys {
		cs = append(cs, tenant.KeyClient(k))
	}
	reg, err := tenant.New(cs, baseURL)
	if err != nil {
		return nil, &config.Error{Key: "api_clients", Msg: err.Error()}
	}
	return reg, nil
}

// sessionKeys builds the session ring and the CSRF secret from
// session_secret, or generates both for this process when it is empty.
func sessionKeys(cfg config.Config, log *slog.Logger) (*seal.KeyRing, []byte, error) {
	if cfg.SessionSecret == "" {
		secret := make([]byte, 32)
		if _, err := rand.Read(secret); err != nil {
			return nil, nil, err
		}
		k := seal.DeriveKey(secret, "proofline/session-ring/v1")
		ring, err := seal.NewKeyRing(k)
		return ring, secret, err
	}
	keys, err := config.SessionKeys(cfg.SessionSecret)
	if err != nil {
		return nil, nil, err
	}
	ring, err := seal.NewKeyRing(keys...)
	if err != nil {
		return nil, nil, &config.Error{Key: "session_secret", Msg: "invalid key ring"}
	}
	// CSRF tokens are keyed by the whole setting: a rotation makes forms
	// opened before it expire once ("reload the page").
	secret := []byte("proofline/csrf/v1\x00" + cfg.SessionSecret)
	return ring, secret, nil
}

// notifyJob queues proofing_job.completed for a result stored for a client
// with job webhooks: the result as GET /api/v1/proofing/{result_id} shows
// it, pii_from_doc only for a client with include_pii.
func (h *hosted) notifyJob(ctx context.Context, o *proofline.Outcome) {
	c, ok := h.clients.Lookup(o.Tenant)
	if !ok || !c.JobWebhooks {
		return
	}
	r := *o.Result
	if !c.IncludePII {
		r.PIIFromDoc = nil
	}
	res, err := r.MarshalRevealed()
	if err == nil {
		_, err = h.sender.Publish(ctx, o.Tenant, webhook.MessageID(o.ResultID, "completed"), webhook.EventJobCompleted, jobEvent{
			ResultID: o.ResultID, Kind: o.Kind, Status: o.Status, Result: res,
		})
	}
	if err != nil {
		h.log.LogAttrs(ctx, slog.LevelWarn, "proofing_job.completed not queued",
			slog.String("result_id", o.ResultID), slog.String("code", proofline.ErrorCode(err)))
	}
}

// jobEvent is the data of proofing_job.completed.
type jobEvent struct {
	ResultID string           `json:"result_id"`
	Kind     proofline.Kind   `json:"kind"`
	Status   proofline.Status `json:"status"`
	Result   json.RawMessage  `json:"result"`
}

// close stops the sender (attempts in flight until ctx ends) and releases
// the records kept beside the results.
func (h *hosted) close(ctx context.Context) error {
	var errs []error
	if h.sender != nil {
		if err := h.sender.Stop(ctx); err != nil && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
			errs = append(errs, err)
		}
	}
	for _, r := range []*resultstore.Records{h.captures, h.vsessions, h.websessions} {
		if r != nil {
			errs = append(errs, r.Close())
		}
	}
	if h.outbox != nil {
		errs = append(errs, h.outbox.Close())
	}
	return errors.Join(errs...)
}
