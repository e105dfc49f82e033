// Package vendortest holds test doubles at the vendor edge: HTTPS servers
// (httptest.NewTLSServer) that speak each vendor protocol with synthetic
// fixtures of the documented shapes and verify the vendor authentication
// independently with the standard library (the LexisNexis HMAC header, the
// AAMVA XML signatures re-canonicalized with this package's own exclusive
// canonicalization), plus a counting forward proxy. Other packages' tests use
// it; it never runs in production.
package vendortest

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"sync"
	"testing"
	"time"
)

// Proxy is a forward proxy on loopback: CONNECT tunnels (https) and
// absolute-URL requests (http). It counts what went through it.
type Proxy struct {
	URL string
	srv *httptest.Server

	mu       sync.Mutex
	connects map[string]int
	plain    int
	tunnels  []net.Conn
}

// NewProxy starts a proxy, closed when the test ends.
func NewProxy(t testing.TB) *Proxy {
	p := &Proxy{connects: map[string]int{}}
	rp := &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) { r.Out.URL = r.In.URL }}
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodConnect {
			p.mu.Lock()
			p.plain++
			p.mu.Unlock()
			rp.ServeHTTP(w, r)
			return
		}
		p.mu.Lock()
		p.connects[r.Host]++
		p.mu.Unlock()
		up, err := net.DialTimeout("tcp", r.Host, 5*time.Second)
		if err != nil {
			http.Error(w, "bad gateway", http.StatusBadGateway)
			return
		}
		hj, ok := w.(http.Hijacker)
		if !ok {
			up.Close()
			http.Error(w, "no hijack", http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusOK)
		conn, buf, err := hj.Hijack()
		if err != nil {
			up.Close()
			return
		}
		p.mu.Lock()
		p.tunnels = append(p.tunnels, conn, up)
		p.mu.Unlock()
		go func() {
			defer up.Close()
			defer conn.Close()
			done := make(chan struct{}, 2)
			go func() {
				if n := buf.Reader.Buffered(); n > 0 {
					b, _ := buf.Reader.Peek(n)
					_, _ = up.Write(b)
				}
				_, _ = io.Copy(up, conn)
				done <- struct{}{}
			}()
			go func() { _, _ = io.Copy(conn, up); done <- struct{}{} }()
			<-done
		}()
	}))
	p.URL = p.srv.URL
	t.Cleanup(func() {
		p.srv.Close()
		p.mu.Lock()
		defer p.mu.Unlock()
		for _, c := range p.tunnels {
			_ = c.Close()
		}
	})
	return p
}

// Connects is how many CONNECT tunnels were opened to hostport.
func (p *Proxy) Connects(hostport string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.connects[hostport]
}

// TotalConnects is how many CONNECT tunnels were opened.
func (p *Proxy) TotalConnects() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, c := range p.connects {
		n += c
	}
	return n
}

// Close stops the proxy now (it is closed at the end of the test anyway).
func (p *Proxy) Close() { p.srv.Close() }
