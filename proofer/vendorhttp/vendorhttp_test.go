package vendorhttp_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/proofline/proofline/internal/vendortest"
	"github.com/proofline/proofline/proofer"
	"github.com/proofline/proofline/proofer/vendorhttp"
)

func TestProxyFromTheGivenEnvironment(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		env    []string
		target string
		want   string
	}{
		{nil, "https://rdp.example.test/x", ""},
		{[]string{"HTTPS_PROXY=http://proxy.internal:3128"}, "https://rdp.example.test/x", "http://proxy.internal:3128"},
		{[]string{"https_proxy=proxy.internal:3128"}, "https://rdp.example.test/x", "http://proxy.internal:3128"},
		{[]string{"https_proxy=http://lower:1", "HTTPS_PROXY=http://upper:2"}, "https://a.test/", "http://lower:1"},
		{[]string{"http_proxy=http://p:1"}, "https://a.test/", ""},
		{[]string{"http_proxy=http://p:1"}, "http://a.test/", "http://p:1"},
		{[]string{"https_proxy=http://p:1", "no_proxy=example.test"}, "https://rdp.example.test/", ""},
		{[]string{"https_proxy=http://p:1", "NO_PROXY=.example.test"}, "https://rdp.example.test/", ""},
		{[]string{"https_proxy=http://p:1", "no_proxy=example.test"}, "https://notexample.test/", "http://p:1"},
		{[]string{"https_proxy=http://p:1", "no_proxy=10.0.0.0/8"}, "https://10.1.2.3/", ""},
		{[]string{"https_proxy=http://p:1", "no_proxy=10.0.0.0/8"}, "https://11.1.2.3/", "http://p:1"},
		{[]string{"https_proxy=http://p:1", "no_proxy=a.test:8443"}, "https://a.test/", "http://p:1"},
		{[]string{"https_proxy=http://p:1", "no_proxy=a.test:8443"}, "https://a.test:8443/", ""},
		{[]string{"https_proxy=http://p:1", "no_proxy=*"}, "https://a.test/", ""},
		// Loopback is not exempt by itself (unlike http.ProxyFromEnvironment).
		{[]string{"https_proxy=http://p:1"}, "https://127.0.0.1:8443/", "http://p:1"},
	} {
		f, err := vendorhttp.ProxyFunc(c.env)
		if err != nil {
			t.Fatal(err)
		}
		u, _ := url.Parse(c.target)
		got, err := f(u)
		if err != nil {
			t.Fatal(err)
		}
		if (got == nil && c.want != "") || (got != nil && got.String() != c.want) {
			t.Errorf("%v %s: proxy %v, want %q", c.env, c.target, got, c.want)
		}
	}
	_, err := vendorhttp.ProxyFunc([]string{"https_proxy=ftp://user:hunter2@x"})
	if err == nil || strings.Contains(err.Error(), "hunter2") || !strings.Contains(err.Error(), "https_proxy") {
		t.Errorf("bad proxy error %v", err)
	}
}

func client(t *testing.T, srv *httptest.Server, env ...string) *vendorhttp.Client {
	t.Helper()
	pool := srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs
	c, err := vendorhttp.New(vendorhttp.Options{RootCAs: pool, Environ: env})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func TestClassification(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/slow":
			select {
			case <-r.Context().Done():
			case <-release:
			}
		case "/big":
			w.Write([]byte(strings.Repeat("x", 2048)))
		case "/redirect":
			http.Redirect(w, r, "https://elsewhere.test/", http.StatusFound)
		case "/secret-error":
			w.Header().Set("Content-Type", "text/plain; charset=\"utf-8\"")
			w.WriteHeader(503)
			w.Write([]byte("ssn 900-12-3456 is bad"))
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })
	c := client(t, srv)
	do := func(path string, timeout time.Duration, max int64) (*vendorhttp.Response, error) {
		return c.Do(context.Background(), &vendorhttp.Request{Vendor: "v", Method: "POST", URL: srv.URL + path, Body: []byte("{}"), Timeout: timeout, MaxResponseBytes: max})
	}
	_, err := do("/slow", 100*time.Millisecond, 0)
	var ve *proofer.VendorError
	if !errors.As(err, &ve) || !ve.Timeout || !errors.Is(err, proofer.ErrVendorTimeout) {
		t.Errorf("slow: %v", err)
	}
	if _, err := do("/big", 0, 1024); !errors.As(err, &ve) || ve.Timeout || !strings.HasPrefix(ve.Message, vendorhttp.MsgTooLarge) {
		t.Errorf("big: %v", err)
	}
	r, err := do("/redirect", 0, 0)
	if err != nil || r.Status != http.StatusFound {
		t.Errorf("redirect followed? %v %v", r, err)
	}
	r, err = do("/secret-error", 0, 0)
	if err != nil || r.OK() {
		t.Fatalf("%v %v", r, err)
	}
	if msg := vendorhttp.StatusError("v", r).Error(); msg != "v: Unexpected status code '503' (text/plain)" {
		t.Errorf("status error %q", msg)
	}
	if msg := vendorhttp.MalformedError("v", r).Error(); msg != "v: malformed vendor response (status 503, text/plain)" {
		t.Errorf("malformed error %q", msg)
	}
	// Transport failure: nothing listens there any more.
	dead := httptest.NewTLSServer(http.NotFoundHandler())
	dead.Close()
	_, err = c.Do(context.Background(), &vendorhttp.Request{Vendor: "v", URL: dead.URL + "/x?account=secret-account"})
	if !errors.As(err, &ve) || ve.Timeout || ve.Message != vendorhttp.MsgTransport || strings.Contains(err.Error(), "secret-account") {
		t.Errorf("dead: %v", err)
	}
	// Untrusted certificate: a transport failure, not a timeout.
	other, _ := vendorhttp.New(vendorhttp.Options{})
	_, err = other.Do(context.Background(), &vendorhttp.Request{Vendor: "v", URL: srv.URL + "/big"})
	if !errors.As(err, &ve) || ve.Timeout {
		t.Errorf("untrusted: %v", err)
	}
	// A context already done is a timeout without a call.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.Do(ctx, &vendorhttp.Request{Vendor: "v", URL: srv.URL + "/big"}); !errors.Is(err, proofer.ErrVendorTimeout) {
		t.Errorf("done ctx: %v", err)
	}
}

func TestThroughAForwardProxy(t *testing.T) {
	t.Parallel()
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) }))
	t.Cleanup(srv.Close)
	proxy := vendortest.NewProxy(t)
	c := client(t, srv, "https_proxy="+proxy.URL)
	for range 3 {
		r, err := c.Do(context.Background(), &vendorhttp.Request{Vendor: "v", Method: "HEAD", URL: srv.URL + "/"})
		if err != nil || r.Status != 204 {
			t.Fatalf("%v %v", r, err)
		}
	}
	host := strings.TrimPrefix(srv.URL, "https://")
	if n := proxy.Connects(host); n < 1 {
		t.Errorf("%d CONNECTs", n)
	}
	// A proxy that is down is a transport failure.
	down := vendortest.NewProxy(t)
	downURL := down.URL
	c2 := client(t, srv, "HTTPS_PROXY="+downURL)
	closeProxy(down)
	_, err := c2.Do(context.Background(), &vendorhttp.Request{Vendor: "v", URL: srv.URL + "/"})
	var ve *proofer.VendorError
	if !errors.As(err, &ve) || ve.Timeout {
		t.Errorf("proxy down: %v", err)
	}
}

func closeProxy(p *vendortest.Proxy) { p.Close() }
