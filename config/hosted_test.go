package config_test

import (
	"strings"
	"testing"

	"github.com/proofline/proofline/config"
)

const testSecret = "whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="

// TestAPIClientsFromFileAndEnvironment: api_clients reads as a YAML list from
// the file and as JSON from the environment, and is a secret key (its keys
// and webhook secrets are never printed).
func TestAPIClientsFromFileAndEnvironment(t *testing.T) {
	t.Parallel()
	p := write(t, `
api_clients:
  - name: idp-prod
    api_keys: [prod-key-0123456789abcdef, prod-key-new-0123456789ab]
    allowed_return_origins: [https://idp.example.gov]
    webhook_url: https://idp.example.gov/hooks/proofline
    webhook_secrets: [`+testSecret+`]
    include_pii: true
    job_webhooks: true
  - name: idp-test
    api_keys: [test-key-0123456789abcdef]
`)
	c, err := config.Load(p, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.APIClients) != 2 || c.APIClients[0].Name != "idp-prod" || len(c.APIClients[0].APIKeys) != 2 ||
		!c.APIClients[0].IncludePII || !c.APIClients[0].JobWebhooks || c.APIClients[1].WebhookURL != "" {
		t.Fatalf("api_clients from the file: %+v", c.APIClients)
	}
	c, err = config.Load("", []string{`PROOFLINE_API_CLIENTS=[{"name":"env","api_keys":["env-key-0123456789abcdef"],"allowed_return_origins":["http://127.0.0.1:8080"]}]`})
	if err != nil {
		t.Fatal(err)
	}
	if len(c.APIClients) != 1 || c.APIClients[0].Name != "env" || c.APIClients[0].AllowedReturnOrigins[0] != "http://127.0.0.1:8080" {
		t.Fatalf("api_clients from the environment: %+v", c.APIClients)
	}
	secret := false
	for _, k := range config.SecretKeys() {
		secret = secret || k == "api_clients"
	}
	if !secret {
		t.Error("api_clients is not a secret key")
	}
}

// TestAPIClientsRefusedNamingTheProblemNotTheValue: each bad entry names the
// key and the problem, never a key or secret.
func TestAPIClientsRefusedNamingTheProblemNotTheValue(t *testing.T) {
	t.Parallel()
	const key = "secret-key-0123456789abcdef"
	for _, c := range []struct{ name, env, want string }{
		{"not JSON", `PROOFLINE_API_CLIENTS=nope`, "must be a JSON list of clients"},
		{"unknown key", `PROOFLINE_API_CLIENTS=[{"name":"a","api_keys":["` + key + `"],"webhok_url":"x"}]`, `unknown key "webhok_url"`},
		{"no name", `PROOFLINE_API_CLIENTS=[{"api_keys":["` + key + `"]}]`, "name must be"},
		{"no key", `PROOFLINE_API_CLIENTS=[{"name":"a"}]`, "api_keys must list"},
		{"short key", `PROOFLINE_API_CLIENTS=[{"name":"a","api_keys":["short"]}]`, "at least 16"},
		{"same name twice", `PROOFLINE_API_CLIENTS=[{"name":"a","api_keys":["` + key + `"]},{"name":"a","api_keys":["other-key-0123456789abcd"]}]`, "used twice"},
		{"key twice", `PROOFLINE_API_CLIENTS=[{"name":"a","api_keys":["` + key + `"]},{"name":"b","api_keys":["` + key + `"]}]`, "listed twice"},
		{"origin with a path", `PROOFLINE_API_CLIENTS=[{"name":"a","api_keys":["` + key + `"],"allowed_return_origins":["https://idp.example.gov/back"]}]`, "allowed_return_origins"},
		{"webhook without secret", `PROOFLINE_API_CLIENTS=[{"name":"a","api_keys":["` + key + `"],"webhook_url":"https://idp.example.gov/h"}]`, "go together"},
		{"webhook not http", `PROOFLINE_API_CLIENTS=[{"name":"a","api_keys":["` + key + `"],"webhook_url":"file:///etc/passwd","webhook_secrets":["` + testSecret + `"]}]`, "webhook_url must be"},
		{"bad secret", `PROOFLINE_API_CLIENTS=[{"name":"a","api_keys":["` + key + `"],"webhook_url":"https://idp.example.gov/h","webhook_secrets":["whsec_dG9vc2hvcnQ="]}]`, "webhook_secrets must"},
	} {
		_, err := config.Load("", []string{c.env})
		if err == nil || !strings.Contains(err.Error(), "api_clients") || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an api_clients error with %q", c.name, err, c.want)
			continue
		}
		if strings.Contains(err.Error(), key) || strings.Contains(err.Error(), "dG9vc2hvcnQ") {
			t.Errorf("%s: the error quotes a value: %v", c.name, err)
		}
	}
	p := write(t, "api_clients:\n  - name: a\n    api_keys: ["+key+"]\n    include_pi: true\n")
	if _, err := config.Load(p, nil); err == nil || !strings.Contains(err.Error(), `unknown key "include_pi"`) || !strings.Contains(err.Error(), p) {
		t.Errorf("unknown key in the file: %v", err)
	}
}

// TestSessionSecretIsAKeyOrARing: session_secret takes one base64 secret (as
// before) or a ring; with redis_url it is required.
func TestSessionSecretIsAKeyOrARing(t *testing.T) {
	t.Parallel()
	one, err := config.SessionKeys("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=")
	if err != nil || len(one) != 1 || len(one[0].Material) != 32 {
		t.Fatalf("one secret: %v %v", one, err)
	}
	again, _ := config.SessionKeys("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=")
	if again[0].ID != one[0].ID || string(again[0].Material) != string(one[0].Material) {
		t.Error("one secret derives another key in another process")
	}
	ring, err := config.SessionKeys("s2:BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB=,s1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=")
	if err != nil || len(ring) != 2 || ring[0].ID != "s2" {
		t.Fatalf("ring: %v %v", ring, err)
	}
	if _, err := config.Load("", []string{"PROOFLINE_SESSION_SECRET=short"}); err == nil || !strings.Contains(err.Error(), "session_secret") {
		t.Errorf("short secret: %v", err)
	}
	env := queueEnv()
	var without []string
	for _, kv := range env {
		if !strings.HasPrefix(kv, "PROOFLINE_SESSION_SECRET=") {
			without = append(without, kv)
		}
	}
	if _, err := config.Load("", without); err == nil || !strings.Contains(err.Error(), "session_secret: is required when redis_url is set") {
		t.Errorf("redis without session_secret: %v", err)
	}
}
