package tenant_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/proofline/proofline/tenant"
)

func TestOrigin(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"https://IdP.Example.gov":      "https://idp.example.gov",
		"https://idp.example.gov:443/": "https://idp.example.gov",
		"http://127.0.0.1:8080":        "http://127.0.0.1:8080",
		"http://[::1]:80":              "http://[::1]",
	} {
		if got, ok := tenant.Origin(in); !ok || got != want {
			t.Errorf("Origin(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
	for _, bad := range []string{"", "idp.example.gov", "ftp://idp.example.gov", "https://idp.example.gov/back", "https://u:p@idp.example.gov", "https://idp.example.gov?x=1"} {
		if _, ok := tenant.Origin(bad); ok {
			t.Errorf("Origin(%q) accepted", bad)
		}
	}
}

func registry(t *testing.T) *tenant.Registry {
	t.Helper()
	r, err := tenant.New([]tenant.Client{
		{Name: "idp", Keys: []string{"idp-key-0123456789abcdef", "idp-new-key-0123456789ab"}, ReturnOrigins: []string{"https://idp.example.gov"}},
		tenant.KeyClient("plain-key-0123456789abcdef"),
	}, "http://127.0.0.1:8080/")
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestKeysAndTenants: every key of a client is that client's tenant; a plain
// key is a tenant of its own, named the same way in every process, without
// the key in its name.
func TestKeysAndTenants(t *testing.T) {
	t.Parallel()
	r := registry(t)
	for key, want := range map[string]string{
		"idp-key-0123456789abcdef": "idp", "idp-new-key-0123456789ab": "idp",
		"plain-key-0123456789abcdef": tenant.KeyClient("plain-key-0123456789abcdef").Name,
	} {
		if c, ok := r.Authenticate(key); !ok || c.Name != want {
			t.Errorf("Authenticate(%q) = %v, %v; want %s", key, c, ok, want)
		}
	}
	if _, ok := r.Authenticate("idp-key-0123456789abcde"); ok {
		t.Error("a prefix of a key authenticated")
	}
	if n := tenant.KeyClient("plain-key-0123456789abcdef").Name; strings.Contains(n, "plain") || n == tenant.KeyClient("other-key-0123456789abcdef").Name {
		t.Errorf("plain key tenant %q", n)
	}
	if got := tenant.From(tenant.With(context.Background(), "idp")); got != "idp" || tenant.From(context.Background()) != "" {
		t.Errorf("context tenant %q", got)
	}
	if _, err := tenant.New([]tenant.Client{{Name: "a", Keys: []string{"k"}}, {Name: "b", Keys: []string{"k"}}}, "http://x"); err == nil {
		t.Error("a key shared by two clients accepted")
	}
}

// TestReturnURLs: a client's return URLs must be on its origins; a client
// with none returns to the server's own origin.
func TestReturnURLs(t *testing.T) {
	t.Parallel()
	r := registry(t)
	idp, _ := r.Lookup("idp")
	plain, _ := r.Authenticate("plain-key-0123456789abcdef")
	for _, c := range []struct {
		c   *tenant.Client
		url string
		ok  bool
	}{
		{idp, "https://idp.example.gov/verify/back?x=1", true},
		{idp, "https://IDP.example.gov:443/back", true},
		{idp, "http://idp.example.gov/back", false},
		{idp, "https://idp.example.gov.evil.example/back", false},
		{idp, "https://user@idp.example.gov/back", false},
		{idp, "https://idp.example.gov/back#frag", false},
		{idp, "/back", false},
		{idp, "http://127.0.0.1:8080/", false},
		{plain, "http://127.0.0.1:8080/?done=1", true},
		{plain, "http://127.0.0.1:8081/", false},
		{plain, "javascript:alert(1)", false},
	} {
		if got := r.ReturnURLAllowed(c.c, c.url); got != c.ok {
			t.Errorf("%s may return to %q: %v, want %v", c.c.Name, c.url, got, c.ok)
		}
	}
}

// TestNewRefuses: a configuration that would blur who owns what, or send
// webhooks unsigned, is refused at start: a client without a name, two
// clients of one name, a client without a key, a return origin or base URL
// that is not an http(s) origin, a webhook URL without a secret or a secret
// without a URL.
func TestNewRefuses(t *testing.T) {
	t.Parallel()
	secret := [][]byte{[]byte("whsec-decoded-0123456789abcdef")}
	for name, cs := range map[string][]tenant.Client{
		"no name":             {{Keys: []string{"k"}}},
		"two of one name":     {{Name: "a", Keys: []string{"k1"}}, {Name: "a", Keys: []string{"k2"}}},
		"no key":              {{Name: "a"}},
		"empty key list":      {{Name: "a", Keys: []string{}}},
		"key twice in one":    {{Name: "a", Keys: []string{"k", "k"}}},
		"return path":         {{Name: "a", Keys: []string{"k"}, ReturnOrigins: []string{"https://idp.example.gov/back"}}},
		"return scheme":       {{Name: "a", Keys: []string{"k"}, ReturnOrigins: []string{"https://idp.example.gov", "javascript://x"}}},
		"webhook, no secret":  {{Name: "a", Keys: []string{"k"}, WebhookURL: "https://hooks.example.gov/"}},
		"secret, no webhook":  {{Name: "a", Keys: []string{"k"}, WebhookSecrets: secret}},
		"second bad of three": {{Name: "a", Keys: []string{"k1"}}, {Name: "b", Keys: []string{"k2"}, WebhookURL: "https://h.example/"}, {Name: "c", Keys: []string{"k3"}}},
	} {
		if _, err := tenant.New(cs, "https://proofline.example.gov"); err == nil {
			t.Errorf("%s: accepted", name)
		} else if strings.Contains(err.Error(), "k1") || strings.Contains(err.Error(), "whsec") {
			t.Errorf("%s: error shows a key or secret: %v", name, err)
		}
	}
	for _, base := range []string{"", "proofline.example.gov", "ftp://proofline.example.gov", "https://proofline.example.gov/app"} {
		if _, err := tenant.New(nil, base); err == nil {
			t.Errorf("base URL %q accepted", base)
		}
	}
	// Both webhook URL and secret, or neither: accepted, origins normalized.
	r, err := tenant.New([]tenant.Client{
		{Name: "hooked", Keys: []string{"k1"}, WebhookURL: "https://hooks.example.gov/", WebhookSecrets: secret, ReturnOrigins: []string{"HTTPS://IdP.Example.gov:443"}},
		{Name: "quiet", Keys: []string{"k2"}},
	}, "https://Proofline.Example.gov:443/")
	if err != nil {
		t.Fatal(err)
	}
	if r.Origin() != "https://proofline.example.gov" {
		t.Errorf("server origin %q", r.Origin())
	}
	c, ok := r.Lookup("hooked")
	if !ok || len(c.ReturnOrigins) != 1 || c.ReturnOrigins[0] != "https://idp.example.gov" {
		t.Fatalf("hooked client %v", c)
	}
	if !r.ReturnURLAllowed(c, "https://idp.example.gov/back") {
		t.Error("normalized return origin refused")
	}
	if _, ok := r.Lookup("nobody"); ok {
		t.Error("an unknown tenant was found")
	}
	if s := fmt.Sprintf("%v %#v %s", c, c, c); strings.Contains(s, "k1") || strings.Contains(s, "whsec") || !strings.Contains(s, "hooked") {
		t.Errorf("client prints %s", s)
	}
}

// TestAuthenticateNeverMatchesEmpty: an empty bearer key matches nothing,
// and neither does a key of another client nor the key with something added.
func TestAuthenticateNeverMatchesEmpty(t *testing.T) {
	t.Parallel()
	r := registry(t)
	for _, key := range []string{"", "idp-key-0123456789abcdef ", " idp-key-0123456789abcdef", "IDP-KEY-0123456789ABCDEF"} {
		if c, ok := r.Authenticate(key); ok || c != nil {
			t.Errorf("Authenticate(%q) = %v", key, c)
		}
	}
}

// TestReturnURLLimits: a return URL of up to 2048 bytes on the client's
// origin is allowed, one byte more is not; opaque and relative forms, other
// schemes and the server's own origin for a client with its own origins are
// refused.
func TestReturnURLLimits(t *testing.T) {
	t.Parallel()
	r := registry(t)
	idp, _ := r.Lookup("idp")
	base := "https://idp.example.gov/back?state="
	at := base + strings.Repeat("s", 2048-len(base))
	if !r.ReturnURLAllowed(idp, at) {
		t.Error("a 2048-byte return URL refused")
	}
	if r.ReturnURLAllowed(idp, at+"s") {
		t.Error("a 2049-byte return URL allowed")
	}
	for _, raw := range []string{
		"https:idp.example.gov/back",
		"//idp.example.gov/back",
		"ftp://idp.example.gov/back",
		"https://idp.example.gov:8443/back",
		"https://[::1/back",
		"https://idp.example.gov/%zz",
	} {
		if r.ReturnURLAllowed(idp, raw) {
			t.Errorf("return to %q allowed", raw)
		}
	}
}

// TestOriginPorts: only the scheme's own default port is dropped; the other
// scheme's default is a different origin and stays.
func TestOriginPorts(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"http://idp.example.gov:443":   "http://idp.example.gov:443",
		"https://idp.example.gov:80":   "https://idp.example.gov:80",
		"http://idp.example.gov:80/":   "http://idp.example.gov",
		"https://idp.example.gov:8443": "https://idp.example.gov:8443",
		"  https://[2001:DB8::1]:443 ": "https://[2001:db8::1]",
		"https://[2001:db8::1]:8443":   "https://[2001:db8::1]:8443",
	} {
		if got, ok := tenant.Origin(in); !ok || got != want {
			t.Errorf("Origin(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
	for _, bad := range []string{"https://idp.example.gov#f", "https://", "http://%zz"} {
		if got, ok := tenant.Origin(bad); ok {
			t.Errorf("Origin(%q) = %q accepted", bad, got)
		}
	}
}
