package config

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/proofline/proofline/seal"
)

// Hosted configures hosted verification sessions, the API clients (tenants)
// that create them, and the webhooks that report their outcome (README,
// "Integrate your IdP").
type Hosted struct {
	// APIClients are the API clients, each a tenant of its own: a YAML list
	// of {name, api_keys, allowed_return_origins, webhook_url,
	// webhook_secrets, include_pii, job_webhooks}; in the environment the
	// same list as JSON. name names the tenant (letters, digits, '.', '_',
	// '-'); api_keys are its bearer keys (several share its tenant, e.g.
	// while one rotates); allowed_return_origins are the origins a
	// verification session's return_url may be on (none: base_url's own);
	// webhook_url receives its webhooks, signed with every one of
	// webhook_secrets ("whsec_" + base64 of 24-64 bytes, the current first,
	// two while one rotates); include_pii puts PII in its webhooks and
	// session reads (default false); job_webhooks sends
	// proofing_job.completed for the jobs it starts (default false). Each
	// api_keys entry is a client too, its own tenant with no webhook.
	APIClients APIClients `key:"api_clients" secret:"true"`
	// VerificationSessionLinkTTLSeconds is how long the one-time link of a
	// new verification session works, in seconds (its expires_at). Default
	// 3600.
	VerificationSessionLinkTTLSeconds int `key:"verification_session_link_ttl_seconds"`
	// WebSessionLifetimeSeconds is the absolute lifetime of a person's
	// browser session, in seconds: from the link's use (or the demo's
	// start), the person has this long to finish; then the session ends
	// (expired). Default 3600.
	WebSessionLifetimeSeconds int `key:"web_session_lifetime_seconds"`
	// VerificationSessionRetentionSeconds is how long an ended verification
	// session (verified, failed, expired, canceled) stays readable with its
	// results, in seconds; then it is gone (404). Default 86400.
	VerificationSessionRetentionSeconds int `key:"verification_session_retention_seconds"`
	// WebhookMaxAgeSeconds bounds how long a webhook is retried, in
	// seconds from its first attempt; then it is dropped and counted.
	// Default 86400.
	WebhookMaxAgeSeconds int `key:"webhook_max_age_seconds"`
	// WebhookInitialBackoffMS is the wait before a webhook's first retry, in
	// milliseconds; it doubles with each retry, up to one hour. Default 5000.
	WebhookInitialBackoffMS int `key:"webhook_initial_backoff_ms"`
	// WebhookTimeoutSeconds bounds one webhook delivery attempt, in
	// seconds. Default 10.
	WebhookTimeoutSeconds int `key:"webhook_timeout_seconds"`
}

// APIClient is one entry of api_clients.
type APIClient struct {
	Name                 string   `yaml:"name" json:"name"`
	APIKeys              []string `yaml:"api_keys" json:"api_keys"`
	AllowedReturnOrigins []string `yaml:"allowed_return_origins" json:"allowed_return_origins"`
	WebhookURL           string   `yaml:"webhook_url" json:"webhook_url"`
	WebhookSecrets       []string `yaml:"webhook_secrets" json:"webhook_secrets"`
	IncludePII           bool     `yaml:"include_pii" json:"include_pii"`
	JobWebhooks          bool     `yaml:"job_webhooks" json:"job_webhooks"`
}

// String never prints keys or secrets.
func (c APIClient) String() string { return "api_client{" + c.Name + "}" }

// APIClients is the api_clients list.
type APIClients []APIClient

// apiClientKeys are the keys an api_clients entry may hold.
var apiClientKeys = []string{"name", "api_keys", "allowed_return_origins", "webhook_url", "webhook_secrets", "include_pii", "job_webhooks"}

// UnmarshalYAML reads the list strictly: an unknown key in an entry is an
// error that names it.
func (cs *APIClients) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.SequenceNode {
		return &fieldError{"must be a list of clients"}
	}
	out := APIClients{}
	for i, item := range n.Content {
		if item.Kind != yaml.MappingNode {
			return &fieldError{fmt.Sprintf("entry %d must be a mapping", i)}
		}
		for j := 0; j+1 < len(item.Content); j += 2 {
			k := item.Content[j].Value
			known := false
			for _, a := range apiClientKeys {
				known = known || a == k
			}
			if !known {
				return &fieldError{fmt.Sprintf("entry %d: unknown key %q (known: %s)", i, k, strings.Join(apiClientKeys, ", "))}
			}
		}
		var c APIClient
		if err := item.Decode(&c); err != nil {
			return &fieldError{fmt.Sprintf("entry %d: a value has the wrong type", i)}
		}
		out = append(out, c)
	}
	*cs = out
	return nil
}

// setString reads the environment form: the list as JSON (or YAML).
func (cs *APIClients) setString(s string) error {
	if strings.TrimSpace(s) == "" {
		*cs = nil
		return nil
	}
	var n yaml.Node
	if err := yaml.Unmarshal([]byte(s), &n); err != nil || len(n.Content) != 1 || n.Content[0].Kind != yaml.SequenceNode {
		return &fieldError{"must be a JSON list of clients"}
	}
	return cs.UnmarshalYAML(n.Content[0])
}

func (APIClients) describe() string { return "a list of API clients (YAML; JSON in the environment)" }

// MarshalJSON never writes keys or secrets.
func (cs APIClients) MarshalJSON() ([]byte, error) {
	names := make([]string, len(cs))
	for i, c := range cs {
		names[i] = c.Name
	}
	return json.Marshal(names)
}

// fieldError is a configuration value error whose message is safe to show
// (it never quotes a value).
type fieldError struct{ msg string }

func (e *fieldError) Error() string { return e.msg }

var clientNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

func (h *Hosted) setDefaults() {
	h.VerificationSessionLinkTTLSeconds = 3600
	h.WebSessionLifetimeSeconds = 3600
	h.VerificationSessionRetentionSeconds = 86400
	h.WebhookMaxAgeSeconds = 86400
	h.WebhookInitialBackoffMS = 5000
	h.WebhookTimeoutSeconds = 10
}

func (h *Hosted) validate(c *Config) error {
	for _, r := range []struct {
		key       string
		v, lo, hi int
	}{
		{"verification_session_link_ttl_seconds", h.VerificationSessionLinkTTLSeconds, 1, 30 * 86400},
		{"web_session_lifetime_seconds", h.WebSessionLifetimeSeconds, 1, 7 * 86400},
		{"verification_session_retention_seconds", h.VerificationSessionRetentionSeconds, 1, 90 * 86400},
		{"webhook_max_age_seconds", h.WebhookMaxAgeSeconds, 1, 30 * 86400},
		{"webhook_initial_backoff_ms", h.WebhookInitialBackoffMS, 10, 3600000},
		{"webhook_timeout_seconds", h.WebhookTimeoutSeconds, 1, 300},
	} {
		if r.v < r.lo || r.v > r.hi {
			return &Error{Key: r.key, Msg: fmt.Sprintf("must be from %d to %d", r.lo, r.hi)}
		}
	}
	names := map[string]bool{}
	keys := map[string]bool{}
	for _, k := range c.APIKeys {
		keys[k] = true
	}
	bad := func(i int, msg string) error {
		return &Error{Key: "api_clients", Msg: fmt.Sprintf("entry %d: %s", i, msg)}
	}
	for i, cl := range h.APIClients {
		if !clientNameRE.MatchString(cl.Name) {
			return bad(i, "name must be 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit")
		}
		if names[cl.Name] {
			return bad(i, "name "+cl.Name+" is used twice")
		}
		names[cl.Name] = true
		if len(cl.APIKeys) == 0 {
			return bad(i, "api_keys must list at least one key")
		}
		for _, k := range cl.APIKeys {
			if len(k) < 16 {
				return bad(i, "every API key must be at least 16 characters")
			}
			if keys[k] {
				return bad(i, "an API key is listed twice (in api_clients or api_keys)")
			}
			keys[k] = true
		}
		for _, o := range cl.AllowedReturnOrigins {
			if !isOrigin(o) {
				return bad(i, "allowed_return_origins must be http(s) origins like https://idp.example.gov (no path)")
			}
		}
		if cl.WebhookURL != "" {
			u, err := url.Parse(cl.WebhookURL)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.Fragment != "" {
				return bad(i, "webhook_url must be an http(s) URL without credentials")
			}
		}
		if (cl.WebhookURL == "") != (len(cl.WebhookSecrets) == 0) {
			return bad(i, "webhook_url and webhook_secrets go together")
		}
		if len(cl.WebhookSecrets) > 4 {
			return bad(i, "webhook_secrets holds at most 4 secrets")
		}
		for _, s := range cl.WebhookSecrets {
			if _, err := ParseWebhookSecret(s); err != nil {
				return bad(i, "webhook_secrets must each be whsec_ and the base64 of 24 to 64 bytes")
			}
		}
	}
	return nil
}

func isOrigin(raw string) bool {
	u, err := url.Parse(strings.TrimSpace(raw))
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" && u.User == nil &&
		(u.Path == "" || u.Path == "/") && u.RawQuery == "" && u.Fragment == ""
}

// ParseWebhookSecret decodes a "whsec_…" secret (the same rule as package
// webhook, which config does not import).
func ParseWebhookSecret(s string) ([]byte, error) {
	b64, ok := strings.CutPrefix(strings.TrimSpace(s), "whsec_")
	if !ok {
		return nil, &fieldError{"missing whsec_ prefix"}
	}
	key, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		key, err = base64.RawStdEncoding.DecodeString(b64)
	}
	if err != nil || len(key) < 24 || len(key) > 64 {
		return nil, &fieldError{"not base64 of 24 to 64 bytes"}
	}
	return key, nil
}

// SessionKeys parses session_secret into the session key ring: either one
// base64 secret of at least 32 bytes (the ring is one key derived from it),
// or a ring like record_keys ("id:base64key,id:base64key", the first seals,
// all open).
func SessionKeys(secret string) ([]seal.Key, error) {
	if strings.Contains(secret, ":") {
		keys, err := seal.ParseKeys(secret)
		if err != nil {
			return nil, &Error{Key: "session_secret", Msg: err.Error()}
		}
		return keys, nil
	}
	b, err := DecodeKey(secret)
	if err != nil || len(b) < 32 {
		return nil, &Error{Key: "session_secret", Msg: "must be base64 of at least 32 bytes, or a key ring id:base64key,…"}
	}
	return []seal.Key{seal.DeriveKey(b, "proofline/session-ring/v1")}, nil
}
