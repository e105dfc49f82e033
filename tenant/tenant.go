// Package tenant holds proofline's API clients: who may call the JSON API,
// under which tenant, and what each may do. Every result, capture, job and
// verification session belongs to the tenant whose key created it; any other
// tenant gets 404 for it (ARCHITECTURE invariant 12).
//
// A Client is configured by api_clients (a name, one or more API keys that
// share its tenant, the origins a verification session may return to, a
// webhook endpoint with its secrets, and whether webhooks and session reads
// carry PII), or by the plain api_keys list, where each key is a client of
// its own with no webhook and the server's own origin as its return origin.
package tenant

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/url"
	"slices"
	"strings"

	"github.com/proofline/proofline"
)

// Client is one API client (tenant).
type Client struct {
	// Name is the tenant: records created with any of Keys belong to it.
	Name string
	// Keys are the bearer keys of the client (several while one rotates).
	Keys []string
	// ReturnOrigins are the origins ("https://idp.example.gov") a
	// verification session's return_url may be on. Empty: the server's own
	// origin only.
	ReturnOrigins []string
	// WebhookURL receives the client's webhooks; empty: none are sent.
	WebhookURL string
	// WebhookSecrets sign every webhook (decoded whsec_ secrets), the
	// current first: each one adds a signature, so a receiver that knows
	// either secret verifies it while the secret rotates.
	WebhookSecrets [][]byte
	// IncludePII puts PII (pii_from_doc, the applicant proofed) in the
	// client's webhooks and verification-session reads. Default off.
	IncludePII bool
	// JobWebhooks sends proofing_job.completed for jobs the client starts
	// through the JSON API.
	JobWebhooks bool
}

// String never prints keys or secrets.
func (c *Client) String() string { return "tenant.Client{" + c.Name + "}" }

// GoString never prints keys or secrets.
func (c *Client) GoString() string { return c.String() }

// Registry is the set of API clients. It is safe for concurrent use and
// never changes after New.
type Registry struct {
	clients []*Client
	byName  map[string]*Client
	origin  string
}

// New builds a Registry. baseURL is the server's public origin (base_url):
// the return origin of clients that configure none.
func New(clients []Client, baseURL string) (*Registry, error) {
	origin, ok := Origin(baseURL)
	if !ok {
		return nil, errors.New("tenant: base URL must be an http(s) origin")
	}
	r := &Registry{byName: map[string]*Client{}, origin: origin}
	keys := map[string]bool{}
	for i := range clients {
		c := clients[i]
		if c.Name == "" {
			return nil, errors.New("tenant: every client needs a name")
		}
		if _, dup := r.byName[c.Name]; dup {
			return nil, errors.New("tenant: two clients are named " + c.Name)
		}
		if len(c.Keys) == 0 {
			return nil, errors.New("tenant: client " + c.Name + " has no API key")
		}
		for _, k := range c.Keys {
			if keys[k] {
				return nil, errors.New("tenant: an API key is listed twice")
			}
			keys[k] = true
		}
		var origins []string
		for _, o := range c.ReturnOrigins {
			n, ok := Origin(o)
			if !ok {
				return nil, errors.New("tenant: client " + c.Name + " has a return origin that is not an http(s) origin")
			}
			origins = append(origins, n)
		}
		c.ReturnOrigins = origins
		if (c.WebhookURL == "") != (len(c.WebhookSecrets) == 0) {
			return nil, errors.New("tenant: client " + c.Name + " needs both a webhook URL and a webhook secret, or neither")
		}
		r.clients = append(r.clients, &c)
		r.byName[c.Name] = &c
	}
	return r, nil
}

// KeyClient is the client of a plain api_keys entry: its own tenant, named
// after a hash of the key (stable across restarts and instances; the key
// cannot be read back from it), with no webhook.
func KeyClient(key string) Client {
	h := sha256.Sum256([]byte("proofline/tenant/v1\x00" + key))
	return Client{Name: "key-" + hex.EncodeToString(h[:8]), Keys: []string{key}}
}

// Authenticate returns the client whose key is key. It compares key with
// every key of every client, so timing does not tell which matched.
func (r *Registry) Authenticate(key string) (*Client, bool) {
	var found *Client
	for _, c := range r.clients {
		for _, k := range c.Keys {
			if proofline.TokenEqual(key, k) {
				found = c
			}
		}
	}
	return found, found != nil
}

// Lookup returns the client named name (a tenant).
func (r *Registry) Lookup(name string) (*Client, bool) {
	c, ok := r.byName[name]
	return c, ok
}

// Origin is the server's own origin, the return origin of clients that
// configure none.
func (r *Registry) Origin() string { return r.origin }

// ReturnURLAllowed reports whether a verification session of c may send the
// person back to raw: an absolute http(s) URL without credentials or
// fragment, on one of c's return origins (the server's own when c has none).
func (r *Registry) ReturnURLAllowed(c *Client, raw string) bool {
	u, err := url.Parse(raw)
	if err != nil || u.User != nil || u.Fragment != "" || u.Opaque != "" || len(raw) > 2048 {
		return false
	}
	o, ok := Origin(u.Scheme + "://" + u.Host)
	if !ok {
		return false
	}
	if len(c.ReturnOrigins) == 0 {
		return o == r.origin
	}
	return slices.Contains(c.ReturnOrigins, o)
}

// Origin normalizes an http(s) origin: lower-case scheme and host, no
// default port, no path. ok is false for anything else (a path, a query,
// credentials, another scheme).
func Origin(raw string) (string, bool) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil ||
		(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return "", false
	}
	scheme, host := strings.ToLower(u.Scheme), strings.ToLower(u.Hostname())
	port := u.Port()
	if (scheme == "http" && port == "80") || (scheme == "https" && port == "443") {
		port = ""
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if port != "" {
		host += ":" + port
	}
	return scheme + "://" + host, true
}

type ctxKey struct{}

// With returns ctx carrying the tenant name: the proofing service reads it
// to stamp what it creates and to check what it reads.
func With(ctx context.Context, name string) context.Context {
	return context.WithValue(ctx, ctxKey{}, name)
}

// From returns the tenant ctx carries; "" (the built-in demo's tenant, which
// no API key has) when none.
func From(ctx context.Context) string {
	s, _ := ctx.Value(ctxKey{}).(string)
	return s
}
