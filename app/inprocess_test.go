package app_test

import (
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/proofline/proofline/app"
	"github.com/proofline/proofline/config"
)

// countingListener counts the connections it accepts.
type countingListener struct {
	net.Listener
	n atomic.Int64
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.n.Add(1)
	}
	return c, err
}

// In-process workers reach the server's claim and callback handler without
// a socket by default, and over loopback TCP with WorkerHTTP; either way
// each of their requests gets its access line, and the job is done.
func TestInProcessWorkersUseNoSocket(t *testing.T) {
	for _, overHTTP := range []bool{false, true} {
		name := "in-process"
		if overHTTP {
			name = "http"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			cl := &countingListener{Listener: ln}
			cfg := config.Defaults()
			cfg.DataDir = t.TempDir()
			e := serve(t, cfg, cl, func(o *app.Options) { o.WorkerHTTP = overHTTP })
			// One client connection, kept alive, for every request of the test.
			e.http.Transport = newOneConnTransport()
			for range 3 {
				if r := e.proof("resolution", map[string]any{"applicant": applicant()}); r["success"] != true {
					t.Fatalf("outcome %v", r)
				}
			}
			conns := cl.n.Load()
			if !overHTTP && conns != 1 {
				t.Errorf("in-process workers: %d connections accepted, want only the test client's 1", conns)
			}
			if overHTTP && conns < 2 {
				t.Errorf("workers over HTTP: %d connections accepted, want the client's and the workers'", conns)
			}
			logs := e.logs.String()
			for _, route := range []string{"POST /api/proofing_results/{kind}/{result_id}/claim", "POST /api/proofing_results/{kind}/{result_id}"} {
				if n := strings.Count(logs, `"route":"`+route+`"`); n != 3 {
					t.Errorf("%d access lines for %s, want 3 (one per request)", n, route)
				}
			}
		})
	}
}

func newOneConnTransport() *http.Transport {
	return &http.Transport{MaxConnsPerHost: 1, MaxIdleConnsPerHost: 1, DisableCompression: true}
}
