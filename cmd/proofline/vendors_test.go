package main

import (
	"bytes"
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/proofline/proofline/internal/vendortest"
)

func TestVendorsCheckMocksByDefault(t *testing.T) {
	t.Parallel()
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"vendors", "check"}, nil, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	const mock = ": ok; checked nothing to reach (mock vendor: sandbox values)\n"
	if want := "resolution mock" + mock + "state_id mock" + mock + "address mock" + mock + "document mock" + mock + "all 4 vendor checks ok\n"; out.String() != want {
		t.Errorf("output %q, want %q", out.String(), want)
	}
	if code := run(context.Background(), []string{"vendors"}, nil, &out, &errb); code != 2 {
		t.Errorf("no subcommand: exit %d", code)
	}
}

func TestVendorsCheckRealVendorsThroughTheProxy(t *testing.T) {
	t.Parallel()
	key, cert := vendortest.AAMVAKeyPair(t)
	ln := vendortest.NewLexisNexis(t, vendortest.LexisNexisOptions{})
	aamva := vendortest.NewAAMVA(t, cert)
	proxy := vendortest.NewProxy(t)
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ln.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	der := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509PKCS1(key)})
	yaml := "idv_resolution_default_vendor: instant_verify\nidv_address_primary_vendor: lexis_nexis\nproofer_mock_fallback: false\n" +
		"lexisnexis_base_url: " + ln.URL + "\nlexisnexis_account_id: acct\nvendor_tls_ca_file: " + ca + "\n" +
		"aamva_auth_url: " + aamva.AuthURL + "\naamva_verification_url: " + aamva.VerificationURL + "\n"
	cfgFile := filepath.Join(dir, "c.yaml")
	if err := os.WriteFile(cfgFile, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	const password = "env-secret-password-1234"
	environ := []string{
		"PROOFLINE_LEXISNEXIS_USERNAME=user", "PROOFLINE_LEXISNEXIS_PASSWORD=" + password,
		"PROOFLINE_AAMVA_PRIVATE_KEY=" + base64.StdEncoding.EncodeToString(der),
		"PROOFLINE_AAMVA_PUBLIC_KEY=" + base64.StdEncoding.EncodeToString(cert.Raw),
		"https_proxy=" + proxy.URL,
	}
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"vendors", "check", "--config", cfgFile}, environ, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s%s", code, out.String(), errb.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	tls := func(u string) string {
		return `HEAD ` + regexp.QuoteMeta(strings.TrimPrefix(u, "https://")) + ` over TLS through the proxy`
	}
	lnHost := strings.TrimSuffix(ln.URL, "/")
	authHost, _, _ := strings.Cut(strings.TrimPrefix(aamva.AuthURL, "https://"), "/")
	verHost, _, _ := strings.Cut(strings.TrimPrefix(aamva.VerificationURL, "https://"), "/")
	want := []string{
		`^resolution instant_verify: ok \(\d+ms\); checked configuration, ` + tls(lnHost) + `$`,
		`^state_id aamva: ok \(\d+ms\); checked configuration, ` + tls(authHost) + `, ` + tls(verHost) + `$`,
		`^address lexis_nexis: ok \(\d+ms\); checked configuration, ` + tls(lnHost) + `$`,
		`^document mock: ok; checked nothing to reach \(mock vendor: sandbox values\)$`,
		`^all 4 vendor checks ok$`,
	}
	if len(lines) != len(want) {
		t.Fatalf("output %q", out.String())
	}
	for i, re := range want {
		if !regexp.MustCompile(re).MatchString(lines[i]) {
			t.Errorf("line %d %q does not match %s", i, lines[i], re)
		}
	}
	if proxy.TotalConnects() < 2 {
		t.Errorf("%d CONNECTs through the proxy", proxy.TotalConnects())
	}
	// No PII was sent: reachability checks are HEAD requests without a body.
	for _, r := range ln.Requests() {
		if r.Method != "HEAD" && r.Method != "GET" || len(r.Body) != 0 {
			t.Errorf("check sent %s with %d bytes", r.Method, len(r.Body))
		}
	}

	// The proxy down: every real vendor fails, exit 1, nothing secret printed.
	out.Reset()
	environ[len(environ)-1] = "https_proxy=http://127.0.0.1:1"
	if code := run(context.Background(), []string{"vendors", "check", "--config", cfgFile}, environ, &out, &errb); code != 1 {
		t.Fatalf("exit %d: %s", code, out.String())
	}
	for _, stage := range []string{"resolution instant_verify", "state_id aamva", "address lexis_nexis"} {
		if !regexp.MustCompile(`(?m)^` + stage + `: FAIL: \S+: .+ \(through the proxy\); checked configuration, HEAD \S+ over TLS through the proxy`).MatchString(out.String()) {
			t.Errorf("no FAIL line with its reason and what was checked for %s: %q", stage, out.String())
		}
	}
	if !strings.Contains(out.String(), "document mock: ok;") || !strings.HasSuffix(out.String(), "\n3 of 4 vendor checks FAILED\n") || strings.Contains(out.String(), password) {
		t.Errorf("output %q", out.String())
	}

	// A real vendor without its credentials is a configuration error naming the key.
	errb.Reset()
	if code := run(context.Background(), []string{"vendors", "check", "--config", cfgFile}, environ[2:], &out, &errb); code != 2 || !strings.Contains(errb.String(), "lexisnexis_username") {
		t.Errorf("missing credentials: exit %d %q", code, errb.String())
	}
}

func x509PKCS1(k *rsa.PrivateKey) []byte { return x509.MarshalPKCS1PrivateKey(k) }
