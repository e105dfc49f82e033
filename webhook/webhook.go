// Package webhook sends proofline's webhooks to IdP back ends, following the
// Standard Webhooks specification: each POST carries webhook-id (the same on
// every retry of one message), webhook-timestamp (Unix seconds of the
// attempt) and webhook-signature ("v1," + the base64 HMAC-SHA256 of
// "{id}.{timestamp}.{body}" under each of the client's secrets, space
// separated, so both verify while a secret rotates). The body is
// {"type": event, "timestamp": RFC 3339, "data": {...}}.
//
// Delivery is at least once. Publish persists the message in an outbox
// (Driver: memory in the embedded default, Redis beside the result store),
// sealed like every stored record, before anything is sent; a Sender loop
// leases due messages, POSTs them, and removes a message once the endpoint
// answers 2xx. Any other answer, a redirect or a network error schedules a
// retry with exponential backoff (InitialBackoff doubling up to MaxBackoff,
// with jitter) until the message is MaxAge old: then it is dropped and
// counted. The same outbox runs timers (Schedule, Handle), which the
// verification sessions use to notice an expiry.
package webhook

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/proofline/proofline"
	"github.com/proofline/proofline/tenant"
)

// Event types.
const (
	EventSessionVerified = "verification_session.verified"
	EventSessionFailed   = "verification_session.failed"
	EventSessionExpired  = "verification_session.expired"
	EventSessionCanceled = "verification_session.canceled"
	EventJobCompleted    = "proofing_job.completed"
)

// Delivery outcomes, as counted.
const (
	OutcomeDelivered = "delivered" // the endpoint answered 2xx
	OutcomeRetry     = "retry"     // it did not; another attempt is scheduled
	OutcomeExpired   = "expired"   // it did not, and the message reached MaxAge: dropped
	OutcomeDropped   = "dropped"   // the client no longer has a webhook endpoint
)

// Observer is told of every delivery attempt (metrics). event is one of the
// Event constants, outcome one of the Outcome constants.
type Observer interface {
	WebhookDelivery(event, outcome string)
}

// TimerFunc runs a timer that came due (Schedule). It returns when to run it
// again, or the zero time when it is done. An error runs it again after
// InitialBackoff.
type TimerFunc func(ctx context.Context, ref string) (again time.Time, err error)

// Options configure a Sender. Outbox, Sealer and Clients are required.
type Options struct {
	Outbox Driver
	// Sealer seals messages at rest (the record ring: a body may hold PII
	// for a client that opted in).
	Sealer  proofline.Sealer
	Clients *tenant.Registry
	// HTTP sends the webhooks. Default: a client with Timeout that honours
	// http_proxy/https_proxy/no_proxy and never follows a redirect.
	HTTP *http.Client
	// Timeout bounds one delivery attempt. Default 10 s.
	Timeout time.Duration
	// MaxAge is how long a message is retried. Default 24 h.
	MaxAge time.Duration
	// InitialBackoff is the wait before the first retry; it doubles with
	// each retry up to MaxBackoff. Defaults 5 s and 1 h.
	InitialBackoff time.Duration
	MaxBackoff     time.Duration
	// Poll is how often the outbox is looked at for due messages (a
	// message published by this process is sent at once). Default 1 s.
	Poll     time.Duration
	Observer Observer
	Logger   *slog.Logger
	Now      func() time.Time
}

// Sender publishes and delivers webhooks. Start it once; Stop drains it.
type Sender struct {
	opts   Options
	log    *slog.Logger
	kick   chan struct{}
	timers map[string]TimerFunc

	startOnce, stopOnce sync.Once
	stop                chan struct{}
	done                chan struct{}
	cancel              context.CancelFunc
}

// New returns a Sender; register timers with Handle before Start.
func New(opts Options) (*Sender, error) {
	if opts.Outbox == nil || opts.Sealer == nil || opts.Clients == nil {
		return nil, errors.New("webhook: Outbox, Sealer and Clients are required")
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 10 * time.Second
	}
	if opts.MaxAge <= 0 {
		opts.MaxAge = 24 * time.Hour
	}
	if opts.InitialBackoff <= 0 {
		opts.InitialBackoff = 5 * time.Second
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = time.Hour
	}
	if opts.Poll <= 0 {
		opts.Poll = time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.HTTP == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.Proxy = http.ProxyFromEnvironment
		opts.HTTP = &http.Client{
			Transport: tr, Timeout: opts.Timeout,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	return &Sender{
		opts: opts, log: opts.Logger, kick: make(chan struct{}, 1), timers: map[string]TimerFunc{},
		stop: make(chan struct{}), done: make(chan struct{}),
	}, nil
}

// message is an outbox entry before sealing: a webhook to deliver or a timer.
type message struct {
	Tenant   string    `json:"tenant,omitempty"`
	Event    string    `json:"event,omitempty"`
	Body     []byte    `json:"body,omitempty"`
	Created  time.Time `json:"created"`
	Attempts int       `json:"attempts,omitempty"`
	Timer    string    `json:"timer,omitempty"`
	Ref      string    `json:"ref,omitempty"`
}

// MessageID derives a stable webhook-id from the parts that make an event
// unique (e.g. a session id and its final status), so publishing the same
// event twice replaces the queued message and a receiver that dedupes by
// webhook-id sees it once.
func MessageID(parts ...string) string {
	h := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	return "msg_" + hex.EncodeToString(h[:16])
}

// Publish queues event with data for tenant's webhook endpoint under msgID
// (see MessageID) and wakes the sender. It queues nothing and reports false
// when the tenant has no endpoint. data must hold PII only when the client
// opted in (tenant.Client.IncludePII).
func (s *Sender) Publish(ctx context.Context, tenantName, msgID, event string, data any) (bool, error) {
	c, ok := s.opts.Clients.Lookup(tenantName)
	if !ok || c.WebhookURL == "" {
		return false, nil
	}
	now := s.opts.Now().UTC()
	body, err := json.Marshal(struct {
		Type      string `json:"type"`
		Timestamp string `json:"timestamp"`
		Data      any    `json:"data"`
	}{event, now.Format(time.RFC3339Nano), data})
	if err != nil {
		return false, proofline.WrapError(proofline.EINTERNAL, "encode webhook", err)
	}
	m := &message{Tenant: tenantName, Event: event, Body: body, Created: now}
	if err := s.put(ctx, msgID, m, now, s.opts.MaxAge+time.Minute); err != nil {
		return false, err
	}
	s.wake()
	return true, nil
}

// Handle registers f as the timer named name. Call it before Start.
func (s *Sender) Handle(name string, f TimerFunc) { s.timers[name] = f }

// Schedule runs timer name for ref at (or soon after) at; scheduling the same
// name and ref again moves it.
func (s *Sender) Schedule(ctx context.Context, name, ref string, at time.Time) error {
	ttl := at.Sub(s.opts.Now()) + s.opts.MaxAge
	if err := s.put(ctx, timerID(name, ref), &message{Timer: name, Ref: ref, Created: s.opts.Now().UTC()}, at, max(ttl, time.Minute)); err != nil {
		return err
	}
	s.wake()
	return nil
}

func timerID(name, ref string) string { return "timer_" + name + "_" + ref }

func (s *Sender) wake() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

func aad(id string) []byte { return []byte("proofline/webhook/v1\x00" + id) }

func (s *Sender) put(ctx context.Context, id string, m *message, due time.Time, ttl time.Duration) error {
	plain, err := json.Marshal(m)
	if err != nil {
		return proofline.WrapError(proofline.EINTERNAL, "encode webhook", err)
	}
	sealed, err := s.opts.Sealer.Seal(plain, aad(id))
	clear(plain)
	if err != nil {
		return proofline.WrapError(proofline.EINTERNAL, "seal webhook", err)
	}
	if err := s.opts.Outbox.Put(ctx, id, sealed, due, ttl); err != nil {
		return proofline.WrapError(proofline.EUNAVAILABLE, "webhook outbox unavailable", err)
	}
	return nil
}

// Start starts the delivery loop. It is idempotent.
func (s *Sender) Start() {
	s.startOnce.Do(func() {
		ctx, cancel := context.WithCancel(context.Background())
		s.cancel = cancel
		go s.run(ctx)
	})
}

// Stop stops taking messages and waits for attempts in flight until ctx
// ends, then cancels them (they are retried later: nothing is lost). It is
// idempotent.
func (s *Sender) Stop(ctx context.Context) error {
	s.stopOnce.Do(func() { close(s.stop) })
	if s.cancel == nil {
		return nil
	}
	select {
	case <-s.done:
		return nil
	case <-ctx.Done():
		s.cancel()
		<-s.done
		return ctx.Err()
	}
}

func (s *Sender) run(ctx context.Context) {
	defer close(s.done)
	defer s.cancel()
	t := time.NewTicker(s.opts.Poll)
	defer t.Stop()
	for {
		s.drain(ctx)
		select {
		case <-s.stop:
			return
		case <-t.C:
		case <-s.kick:
		}
	}
}

// leaseBatch is how many due messages one Lease takes; sendConcurrency how
// many of them are sent at once.
const (
	leaseBatch      = 16
	sendConcurrency = 8
)

func (s *Sender) drain(ctx context.Context) {
	for {
		select {
		case <-s.stop:
			return
		default:
		}
		items, err := s.opts.Outbox.Lease(ctx, s.opts.Now(), s.opts.Timeout+5*time.Second, leaseBatch)
		if err != nil {
			if ctx.Err() == nil {
				s.log.Warn("webhook outbox unavailable", slog.String("error", err.Error()))
			}
			return
		}
		sem := make(chan struct{}, sendConcurrency)
		var wg sync.WaitGroup
		for _, it := range items {
			sem <- struct{}{}
			wg.Go(func() {
				defer func() { <-sem }()
				s.handle(ctx, it)
			})
		}
		wg.Wait()
		if len(items) < leaseBatch {
			return
		}
	}
}

func (s *Sender) handle(ctx context.Context, it Item) {
	plain, err := s.opts.Sealer.Open(it.Value, aad(it.ID))
	var m message
	if err == nil {
		err = json.Unmarshal(plain, &m)
		clear(plain)
	}
	if err != nil {
		// Sealed with a key this instance does not hold (yet: a record key
		// rotation rolling out): leave it; an instance that holds the key
		// takes it when the lease runs out. It expires with its TTL.
		s.log.Warn("webhook outbox entry does not open here; left for another instance", slog.String("webhook_id", it.ID))
		return
	}
	if m.Timer != "" {
		s.runTimer(ctx, it, &m)
		return
	}
	s.deliver(ctx, it, &m)
}

func (s *Sender) runTimer(ctx context.Context, it Item, m *message) {
	f, ok := s.timers[m.Timer]
	if !ok {
		s.log.Error("unknown webhook timer: dropped", slog.String("timer", m.Timer))
		_ = s.opts.Outbox.Ack(ctx, it.ID, it.Value)
		return
	}
	again, err := f(ctx, m.Ref)
	switch {
	case err != nil:
		s.log.Warn("webhook timer failed; retrying", slog.String("timer", m.Timer), slog.String("code", proofline.ErrorCode(err)))
		again = s.opts.Now().Add(s.opts.InitialBackoff)
	case again.IsZero():
		_ = s.opts.Outbox.Ack(ctx, it.ID, it.Value)
		return
	}
	if err := s.opts.Outbox.Put(ctx, it.ID, it.Value, again, again.Sub(s.opts.Now())+s.opts.MaxAge); err != nil {
		s.log.Warn("webhook timer not rescheduled", slog.String("timer", m.Timer), slog.String("error", err.Error()))
	}
}

func (s *Sender) deliver(ctx context.Context, it Item, m *message) {
	log := s.log.With(slog.String("event", m.Event), slog.String("webhook_id", it.ID), slog.String("tenant", m.Tenant))
	c, ok := s.opts.Clients.Lookup(m.Tenant)
	if !ok || c.WebhookURL == "" {
		s.count(m.Event, OutcomeDropped)
		log.Warn("webhook dropped: the client has no webhook endpoint")
		_ = s.opts.Outbox.Ack(ctx, it.ID, it.Value)
		return
	}
	m.Attempts++
	status, err := s.post(ctx, c, it.ID, m.Body)
	if ctx.Err() != nil {
		return // stopping: the lease runs out and the message is sent later
	}
	if err == nil && status >= 200 && status < 300 {
		s.count(m.Event, OutcomeDelivered)
		log.Info("webhook delivered", slog.Int("attempt", m.Attempts), slog.Int("status", status))
		if err := s.opts.Outbox.Ack(ctx, it.ID, it.Value); err != nil {
			log.Warn("webhook delivered but not removed: it may be sent again", slog.String("error", err.Error()))
		}
		return
	}
	reason := "status " + strconv.Itoa(status)
	if err != nil {
		reason = "network error"
	}
	now := s.opts.Now()
	next := now.Add(s.backoff(m.Attempts))
	if next.Sub(m.Created) > s.opts.MaxAge {
		s.count(m.Event, OutcomeExpired)
		log.Warn("webhook given up: too old", slog.Int("attempts", m.Attempts), slog.String("last", reason))
		_ = s.opts.Outbox.Ack(ctx, it.ID, it.Value)
		return
	}
	s.count(m.Event, OutcomeRetry)
	log.Info("webhook not delivered; retrying", slog.Int("attempt", m.Attempts), slog.String("reason", reason), slog.Time("next", next))
	if err := s.put(ctx, it.ID, m, next, m.Created.Add(s.opts.MaxAge+time.Minute).Sub(now)); err != nil {
		log.Warn("webhook retry not scheduled: the lease runs out and it is sent again", slog.String("error", err.Error()))
	}
}

// backoff is the wait after attempt n (1, 2, ...): InitialBackoff doubling,
// capped at MaxBackoff, plus up to 10% jitter.
func (s *Sender) backoff(n int) time.Duration {
	d := s.opts.InitialBackoff
	for i := 1; i < n && d < s.opts.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, s.opts.MaxBackoff)
	return d + time.Duration(rand.Int64N(int64(d)/10+1))
}

func (s *Sender) post(ctx context.Context, c *tenant.Client, id string, body []byte) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, s.opts.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.WebhookURL, strings.NewReader(string(body)))
	if err != nil {
		return 0, err
	}
	ts := s.opts.Now().Unix()
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "proofline-webhooks/1")
	req.Header.Set(HeaderID, id)
	req.Header.Set(HeaderTimestamp, strconv.FormatInt(ts, 10))
	req.Header.Set(HeaderSignature, Sign(c.WebhookSecrets, id, ts, body))
	resp, err := s.opts.HTTP.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
	_ = resp.Body.Close()
	return resp.StatusCode, nil
}

func (s *Sender) count(event, outcome string) {
	if s.opts.Observer != nil {
		s.opts.Observer.WebhookDelivery(event, outcome)
	}
}
