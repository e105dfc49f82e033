package worker

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"sync/atomic"
)

// InProcessTransport is an http.RoundTripper for a worker that runs inside
// the IdP server it calls back (the in-process pool of `proofline serve`):
// it hands each claim and callback request to the server's own http.Handler
// in this process, without a socket. The request goes through the same
// handler, middleware and checks as one that came over TCP (token, body
// limits, the sealed body, access logging); only the loopback connection,
// the HTTP parsing and the goroutines of a TCP round trip are skipped.
//
// It answers only for Host (host:port, the callback origin); a request for
// any other host fails, as a dial would. Set the handler with SetHandler
// before the first job runs.
type InProcessTransport struct {
	host    string
	handler atomic.Pointer[http.Handler]
}

// NewInProcessTransport returns a transport that serves requests for host
// (host:port) with the handler given to SetHandler.
func NewInProcessTransport(host string) *InProcessTransport {
	return &InProcessTransport{host: host}
}

// SetHandler sets the handler requests are handed to.
func (t *InProcessTransport) SetHandler(h http.Handler) { t.handler.Store(&h) }

// errNotInProcess is a request this transport cannot serve.
var errNotInProcess = errors.New("worker: in-process transport: request for another host")

// RoundTrip serves req with the handler and returns its buffered answer.
func (t *InProcessTransport) RoundTrip(req *http.Request) (resp *http.Response, err error) {
	closeBody := func() {
		if req.Body != nil {
			_ = req.Body.Close()
		}
	}
	hp := t.handler.Load()
	if hp == nil || req.URL == nil || req.URL.Host != t.host || (req.URL.Scheme != "http" && req.URL.Scheme != "https") {
		closeBody()
		return nil, errNotInProcess
	}
	ctx := req.Context()
	if err := ctx.Err(); err != nil {
		closeBody()
		return nil, err
	}
	body := req.Body
	if body == nil {
		body = http.NoBody
	}
	// The request as a server sees it: a path-only URL, the Host, the
	// request line's URI, a cloned header the handler may change.
	sreq := (&http.Request{
		Method:        req.Method,
		URL:           &url.URL{Path: req.URL.Path, RawPath: req.URL.RawPath, RawQuery: req.URL.RawQuery},
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        req.Header.Clone(),
		Body:          body,
		ContentLength: req.ContentLength,
		Host:          t.host,
		RemoteAddr:    "127.0.0.1:0",
		RequestURI:    req.URL.RequestURI(),
	}).WithContext(ctx)
	if sreq.Header == nil {
		sreq.Header = http.Header{}
	}
	w := &inProcessResponse{header: http.Header{}}
	defer func() {
		closeBody()
		if v := recover(); v != nil {
			// A handler that aborts (http.ErrAbortHandler) or panics past
			// its recovery: the client sees a broken connection.
			resp, err = nil, errors.New("worker: in-process transport: handler aborted")
		}
	}()
	(*hp).ServeHTTP(w, sreq)
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	b := w.body.Bytes()
	return &http.Response{
		Status:        strconv.Itoa(w.status) + " " + http.StatusText(w.status),
		StatusCode:    w.status,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        w.sent,
		Body:          io.NopCloser(bytes.NewReader(b)),
		ContentLength: int64(len(b)),
		Request:       req,
	}, nil
}

// inProcessResponse is the http.ResponseWriter of an in-process request:
// the header as it stood at WriteHeader, the status and the body.
type inProcessResponse struct {
	header http.Header
	sent   http.Header
	status int
	wrote  bool
	body   bytes.Buffer
}

func (w *inProcessResponse) Header() http.Header { return w.header }

func (w *inProcessResponse) WriteHeader(code int) {
	if w.wrote || code < 200 {
		return // informational answers are not passed on, as over TCP
	}
	w.status, w.wrote = code, true
	w.sent = w.header.Clone()
}

func (w *inProcessResponse) Write(b []byte) (int, error) {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	if !bodyAllowed(w.status) {
		return 0, http.ErrBodyNotAllowed
	}
	return w.body.Write(b)
}

func bodyAllowed(status int) bool {
	return status != http.StatusNoContent && status != http.StatusNotModified
}
