package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/proofline/proofline"
)

// DefaultLongPoll is how long one long poll of Wait lasts by default.
const DefaultLongPoll = 25 * time.Second

// maxLongPoll is the longest wait the server accepts (?wait=60).
const maxLongPoll = 60 * time.Second

// maxAnswerBytes bounds an answer the client reads.
const maxAnswerBytes = 4 << 20

// Client calls one proofline deployment. Create it with New.
type Client struct {
	base     string // scheme://host[/prefix], no trailing slash
	key      proofline.Secret
	hc       *http.Client
	ua       string
	longPoll time.Duration
}

// Option configures a Client.
type Option func(*Client)

// WithHTTPClient sends every request through hc (default: a client with no
// overall timeout, so that long polls can last; contexts bound each call).
// If hc has a Timeout, Wait keeps each long poll shorter than it.
func WithHTTPClient(hc *http.Client) Option { return func(c *Client) { c.hc = hc } }

// WithUserAgent sets the User-Agent header (default "proofline-go-client").
func WithUserAgent(ua string) Option { return func(c *Client) { c.ua = ua } }

// WithLongPoll sets how long one long poll of Wait lasts (1 s to 60 s;
// default DefaultLongPoll). Keep it below the idle timeout of any proxy
// between you and proofline.
func WithLongPoll(d time.Duration) Option { return func(c *Client) { c.longPoll = d } }

// New returns a Client of the proofline deployment at baseURL (scheme, host
// and an optional path prefix, e.g. "https://proofline.internal") that
// authenticates with apiKey, one of the deployment's api_keys.
func New(baseURL, apiKey string, opts ...Option) (*Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil ||
		u.RawQuery != "" || u.ForceQuery || u.Fragment != "" {
		return nil, errors.New("client: baseURL must be an http(s) URL without user, query or fragment")
	}
	if strings.TrimSpace(apiKey) == "" {
		return nil, errors.New("client: an API key is required")
	}
	c := &Client{
		base:     strings.TrimRight(u.Scheme+"://"+u.Host+u.EscapedPath(), "/"),
		key:      proofline.Secret(apiKey),
		hc:       &http.Client{},
		ua:       "proofline-go-client",
		longPoll: DefaultLongPoll,
	}
	for _, o := range opts {
		o(c)
	}
	if c.hc == nil {
		return nil, errors.New("client: WithHTTPClient needs a client")
	}
	if c.longPoll < time.Second || c.longPoll > maxLongPoll {
		return nil, errors.New("client: the long poll must be from 1 s to 60 s")
	}
	return c, nil
}

// String names the deployment, never the key.
func (c *Client) String() string { return "proofline client of " + c.base }

// GoString is String.
func (c *Client) GoString() string { return c.String() }

// do sends method path with body (JSON, or nil) and decodes an answer of
// status want into out (nil: ignore the body). Any other status is an error
// (see errorOf).
func (c *Client) do(ctx context.Context, method, path string, body []byte, want int, out any) error {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return fmt.Errorf("client: %s %s: %w", method, routeOf(path), err)
	}
	req.Header.Set("Authorization", "Bearer "+string(c.key.Reveal()))
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.ua)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("client: %s %s: %w", method, routeOf(path), scrub(err))
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswerBytes))
	if err != nil {
		return fmt.Errorf("client: %s %s: read answer: %w", method, routeOf(path), err)
	}
	if resp.StatusCode != want {
		return errorOf(resp, answer)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(answer, out); err != nil {
		return fmt.Errorf("client: %s %s: answer is not the documented JSON", method, routeOf(path))
	}
	return nil
}

// routeOf is path without ids, for error strings: a result id is not PII,
// but an error line should not need one to be read.
func routeOf(path string) string {
	if i := strings.IndexByte(path, '?'); i >= 0 {
		path = path[:i]
	}
	if rest, ok := strings.CutPrefix(path, "/api/v1/proofing/"); ok && !strings.Contains(rest, "/") &&
		rest != "document" && rest != "resolution" && rest != "address" {
		return "/api/v1/proofing/{result_id}"
	}
	if rest, ok := strings.CutPrefix(path, sessionsPath+"/"); ok {
		if strings.HasSuffix(rest, "/cancel") {
			return sessionsPath + "/{id}/cancel"
		}
		return sessionsPath + "/{id}"
	}
	return path
}

// scrub keeps a transport error's kind and drops the URL it carries (an
// upload URL holds its signature).
func scrub(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
