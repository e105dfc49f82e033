package app

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/proofline/proofline/config"
	"github.com/proofline/proofline/worker"
)

// inProcessTransport returns the transport the in-process workers use to
// claim jobs from and deliver results to this server without a socket, or
// nil when they must use real HTTP: when base_url names another origin (a
// load balancer or a proxy: the request must go through it), or when
// opts.WorkerHTTP asks for it. The claim and callback still go through the
// server's own handler, with every check a TCP request gets.
func inProcessTransport(cfg config.Config, opts Options, base *url.URL) *worker.InProcessTransport {
	if opts.WorkerHTTP || base == nil || opts.ListenAddr == "" {
		return nil
	}
	if cfg.BaseURL != "" && !strings.EqualFold(base.Host, opts.ListenAddr) {
		return nil
	}
	return worker.NewInProcessTransport(base.Host)
}

// transportOrNil keeps a nil *InProcessTransport from becoming a non-nil
// http.RoundTripper.
func transportOrNil(t *worker.InProcessTransport) http.RoundTripper {
	if t == nil {
		return nil
	}
	return t
}
