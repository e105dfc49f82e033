package worker_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/proofline/proofline/worker"
)

// closeRecorder is a request body that notes it was closed.
type closeRecorder struct {
	io.Reader
	closed bool
}

func (c *closeRecorder) Close() error { c.closed = true; return nil }

// The handler sees the request a server would see: path-only URL, Host,
// request URI, headers and body; the client gets the status, the header as
// it was at WriteHeader, and the body.
func TestInProcessTransportHandsRequestToHandler(t *testing.T) {
	t.Parallel()
	tr := worker.NewInProcessTransport("127.0.0.1:8080")
	var seen *http.Request
	var seenBody string
	tr.SetHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = r
		b, _ := io.ReadAll(r.Body)
		seenBody = string(b)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		w.Header().Set("X-Too-Late", "1") // after WriteHeader: not sent, as over TCP
		_, _ = w.Write([]byte(`{"ok":true}`))
	}))
	body := &closeRecorder{Reader: strings.NewReader(`{"v":2}`)}
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, "http://127.0.0.1:8080/api/proofing_results/address/x/claim?a=1", body)
	req.Header.Set("X-API-AUTH-TOKEN", "tok")
	req.ContentLength = 7
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated || string(got) != `{"ok":true}` || resp.Header.Get("Content-Type") != "application/json" || resp.Header.Get("X-Too-Late") != "" {
		t.Errorf("response %d %q %v", resp.StatusCode, got, resp.Header)
	}
	if seen.URL.Host != "" || seen.URL.Path != "/api/proofing_results/address/x/claim" || seen.URL.RawQuery != "a=1" ||
		seen.Host != "127.0.0.1:8080" || seen.RequestURI != "/api/proofing_results/address/x/claim?a=1" ||
		seen.Header.Get("X-API-AUTH-TOKEN") != "tok" || seen.ContentLength != 7 || seenBody != `{"v":2}` || seen.Method != http.MethodPost {
		t.Errorf("handler saw %s %v host %q uri %q len %d body %q", seen.Method, seen.URL, seen.Host, seen.RequestURI, seen.ContentLength, seenBody)
	}
	if !body.closed {
		t.Error("request body not closed")
	}
}

// A request for any other origin is refused, as a dial to it would fail:
// the transport never answers for a host it does not serve.
func TestInProcessTransportServesOnlyItsHost(t *testing.T) {
	t.Parallel()
	tr := worker.NewInProcessTransport("127.0.0.1:8080")
	called := false
	tr.SetHandler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { called = true }))
	c := &http.Client{Transport: tr}
	for _, u := range []string{"http://127.0.0.1:8081/x", "http://evil.example/x", "ftp://127.0.0.1:8080/x"} {
		if resp, err := c.Get(u); err == nil {
			resp.Body.Close()
			t.Errorf("%s answered %d", u, resp.StatusCode)
		}
	}
	if called {
		t.Error("the handler ran for another host")
	}
	// No handler yet: refused too.
	if resp, err := (&http.Client{Transport: worker.NewInProcessTransport("127.0.0.1:8080")}).Get("http://127.0.0.1:8080/x"); err == nil {
		resp.Body.Close()
		t.Error("answered without a handler")
	}
}

// A handler that aborts (http.ErrAbortHandler) is a broken connection to
// the client, and a cancelled request never reaches the handler.
func TestInProcessTransportAbortAndCancel(t *testing.T) {
	t.Parallel()
	tr := worker.NewInProcessTransport("127.0.0.1:8080")
	calls := 0
	tr.SetHandler(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		calls++
		w.WriteHeader(http.StatusOK)
		panic(http.ErrAbortHandler)
	}))
	c := &http.Client{Transport: tr}
	if resp, err := c.Get("http://127.0.0.1:8080/x"); err == nil {
		resp.Body.Close()
		t.Errorf("an aborted handler answered %d", resp.StatusCode)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://127.0.0.1:8080/x", nil)
	if _, err := c.Do(req); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled request: %v", err)
	}
	if calls != 1 {
		t.Errorf("handler ran %d times, want 1", calls)
	}
}

// 204 carries no body, as over TCP.
func TestInProcessTransportNoContent(t *testing.T) {
	t.Parallel()
	tr := worker.NewInProcessTransport("127.0.0.1:8080")
	var werr error
	tr.SetHandler(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusNoContent)
		_, werr = w.Write([]byte("x"))
	}))
	resp, err := (&http.Client{Transport: tr}).Get("http://127.0.0.1:8080/x")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent || len(b) != 0 || !errors.Is(werr, http.ErrBodyNotAllowed) {
		t.Errorf("204: body %q, write error %v", b, werr)
	}
}
