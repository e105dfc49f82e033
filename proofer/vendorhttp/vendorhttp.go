// Package vendorhttp is the one outbound HTTP client every vendor adapter
// uses. It takes its proxy from the environment it is given (http_proxy,
// https_proxy and no_proxy, in either case), bounds each call with the
// vendor's own timeout, never retries, and classifies what went wrong:
//
//   - the vendor did not answer in time → *proofer.VendorError with Timeout
//     (the result's timed_out);
//   - transport failure, unexpected HTTP status or a body that cannot be
//     parsed → *proofer.VendorError (an exception).
//
// No error it makes carries a response body, a URL, PII or a credential: an
// unexpected status is reported as its code and content type only.
package vendorhttp

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/proofline/proofline/proofer"
)

// DefaultMaxResponseBytes bounds a vendor response body unless the request says otherwise.
const DefaultMaxResponseBytes int64 = 4 << 20

// Exception messages: fixed texts, safe to show.
const (
	MsgTimeout   = "vendor timed out"
	MsgTransport = "vendor could not be reached"
	MsgTooLarge  = "vendor response too large"
)

// Options configure a Client.
type Options struct {
	// Environ is the process environment (as from os.Environ) the proxy
	// settings are read from. Nil means no proxy.
	Environ []string
	// RootCAs are the certificate authorities trusted for vendor (and proxy)
	// TLS; nil means the system roots.
	RootCAs *x509.CertPool
	// UserAgent is sent with every request; default "proofline".
	UserAgent string
}

// Client is the outbound HTTP client. It is safe for concurrent use.
type Client struct {
	hc    *http.Client
	proxy func(*url.URL) (*url.URL, error)
	ua    string
}

// New builds a Client. A malformed proxy setting is an error that names the
// variable, never its value.
func New(o Options) (*Client, error) {
	proxy, err := ProxyFunc(o.Environ)
	if err != nil {
		return nil, err
	}
	tr := &http.Transport{
		Proxy: func(r *http.Request) (*url.URL, error) { return proxy(r.URL) },
		DialContext: (&net.Dialer{
			Timeout:   30 * time.Second,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		TLSClientConfig:       &tls.Config{RootCAs: o.RootCAs, MinVersion: tls.VersionTLS12},
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          100,
		MaxIdleConnsPerHost:   32,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
	ua := o.UserAgent
	if ua == "" {
		ua = "proofline"
	}
	return &Client{
		hc: &http.Client{
			Transport: tr,
			// Vendors answer directly; a redirect is never followed (it
			// would resend PII to wherever it points).
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		proxy: proxy,
		ua:    ua,
	}, nil
}

// Close drops idle connections.
func (c *Client) Close() { c.hc.CloseIdleConnections() }

// Proxy reports the proxy a request to u would go through (nil: direct).
func (c *Client) Proxy(u *url.URL) (*url.URL, error) { return c.proxy(u) }

// Request is one vendor call.
type Request struct {
	// Vendor names the adapter in errors, e.g. "lexisnexis:instant_verify".
	Vendor string
	// Service tags the call (the original's service_name), for operators.
	Service string
	Method  string
	URL     string
	Header  http.Header
	Body    []byte
	// Timeout bounds the whole call, body included; 0 leaves only ctx.
	Timeout time.Duration
	// MaxResponseBytes bounds the body read; 0 means DefaultMaxResponseBytes.
	MaxResponseBytes int64
}

// Response is what a vendor answered, whatever its status.
type Response struct {
	Status      int
	Header      http.Header
	ContentType string
	Body        []byte
}

// OK reports a 2xx status.
func (r *Response) OK() bool { return r.Status >= 200 && r.Status < 300 }

// Do makes the call once. It returns a Response for any HTTP status; the
// error, always a *proofer.VendorError, is for timeouts and transport
// failures only.
func (c *Client) Do(ctx context.Context, r *Request) (*Response, error) {
	if r.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, r.Timeout)
		defer cancel()
	}
	if err := ctx.Err(); err != nil {
		return nil, Timeout(r.Vendor, err)
	}
	method := r.Method
	if method == "" {
		method = http.MethodPost
	}
	var body io.Reader
	if r.Body != nil {
		body = bytes.NewReader(r.Body)
	}
	req, err := http.NewRequestWithContext(ctx, method, r.URL, body)
	if err != nil {
		return nil, &proofer.VendorError{Vendor: r.Vendor, Message: "vendor URL is invalid", Cause: errors.New("bad request URL")}
	}
	for k, vs := range r.Header {
		req.Header[k] = append([]string(nil), vs...)
	}
	req.Header.Set("User-Agent", c.ua)
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, classify(ctx, r.Vendor, err)
	}
	defer resp.Body.Close()
	if ctx.Err() != nil {
		// The time ran out as the answer came in (the transport can still
		// hand over a response that raced its cancellation): a timeout,
		// whatever the status says.
		return nil, classify(ctx, r.Vendor, ctx.Err())
	}
	limit := r.MaxResponseBytes
	if limit <= 0 {
		limit = DefaultMaxResponseBytes
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err == nil && ctx.Err() != nil {
		err = ctx.Err()
	}
	if err != nil {
		return nil, classify(ctx, r.Vendor, err)
	}
	out := &Response{Status: resp.StatusCode, Header: resp.Header, ContentType: mediaType(resp.Header.Get("Content-Type")), Body: b}
	if int64(len(b)) > limit {
		return nil, &proofer.VendorError{Vendor: r.Vendor, Message: MsgTooLarge + " (" + out.describe() + ")"}
	}
	return out, nil
}

// StatusError is the exception for an unexpected HTTP status: the code and
// content type, never the body.
func StatusError(vendor string, r *Response) error {
	return &proofer.VendorError{Vendor: vendor, Message: "Unexpected status code '" + strconv.Itoa(r.Status) + "' (" + r.ContentTypeOrNone() + ")"}
}

// MalformedError is the exception for a body that cannot be parsed: status
// and content type only, as the original scrubbed its parse errors.
func MalformedError(vendor string, r *Response) error {
	return &proofer.VendorError{Vendor: vendor, Message: "malformed vendor response (" + r.describe() + ")"}
}

// Timeout is the vendor-timeout error of vendor.
func Timeout(vendor string, cause error) error {
	return &proofer.VendorError{Vendor: vendor, Message: MsgTimeout, Timeout: true, Cause: scrub(cause)}
}

// ContentTypeOrNone is the media type, or "no content type".
func (r *Response) ContentTypeOrNone() string {
	if r.ContentType == "" {
		return "no content type"
	}
	return r.ContentType
}

func (r *Response) describe() string {
	return "status " + strconv.Itoa(r.Status) + ", " + r.ContentTypeOrNone()
}

// mediaType keeps the media type of a Content-Type header, or "" when it
// does not parse (a vendor-controlled header is not echoed as is).
func mediaType(ct string) string {
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil || len(mt) > 100 {
		return ""
	}
	for _, r := range mt {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || strings.ContainsRune("/+-.", r)) {
			return ""
		}
	}
	return mt
}

// ConnectionFailed reports whether err, an error of Do, is a connection
// that could not be made or was dropped: refused, reset, aborted,
// unreachable, no such host, closed before the answer (Faraday's
// ConnectionFailed). A TLS failure (an untrusted certificate, a handshake
// the peer refused) and a timeout are not.
func ConnectionFailed(err error) bool {
	var ve *proofer.VendorError
	if !errors.As(err, &ve) || ve.Timeout || ve.Message != MsgTransport || ve.Cause == nil {
		return false
	}
	cause := ve.Cause
	var dns *net.DNSError
	var op *net.OpError
	switch {
	case errors.As(cause, &dns):
		return true
	case errors.Is(cause, syscall.ECONNREFUSED), errors.Is(cause, syscall.ECONNRESET), errors.Is(cause, syscall.ECONNABORTED),
		errors.Is(cause, syscall.EHOSTUNREACH), errors.Is(cause, syscall.ENETUNREACH), errors.Is(cause, syscall.EPIPE):
		return true
	case errors.Is(cause, io.EOF), errors.Is(cause, io.ErrUnexpectedEOF):
		return true
	case errors.As(cause, &op) && (op.Op == "dial" || op.Op == "proxyconnect"):
		return true
	}
	return false
}

func classify(ctx context.Context, vendor string, err error) error {
	var ne net.Error
	if ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		return Timeout(vendor, err)
	}
	return &proofer.VendorError{Vendor: vendor, Message: MsgTransport, Cause: scrub(err)}
}

// scrub keeps an error's kind for operators but drops what a *url.Error
// would add (the URL).
func scrub(err error) error {
	if err == nil {
		return nil
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s: %w", ue.Op, ue.Err)
	}
	return err
}
