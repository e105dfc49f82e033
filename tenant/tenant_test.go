package tenant_test

import (
	"context"
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
