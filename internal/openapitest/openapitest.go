// Package openapitest checks real HTTP traffic against docs/openapi.yaml, the
// machine-readable contract of proofline's HTTP API.
//
// Load reads the document and fails the test unless it is a valid OpenAPI
// 3.1 document. NewProxy starts a reverse proxy on 127.0.0.1 in front of a
// running server: every request that passes through it, and the server's
// answer, is validated against the document with kin-openapi's
// openapi3filter (request parameters, security, bodies; response status,
// headers and bodies, with undocumented statuses refused). Point a test
// client at the proxy, and set the server's base_url to it so that workers'
// claims and callbacks and the image uploads pass through it too.
//
// A request the test sends on purpose against the contract (no API key, a
// wrong content type, a malformed value) carries the header ExpectInvalid;
// the proxy removes it before forwarding, and Check then requires that the
// document refused the request, while the server's answer must still be
// documented. Every other request must be valid.
package openapitest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
)

// ExpectInvalid is the request header (any value) that marks a request the
// test sends against the contract on purpose.
const ExpectInvalid = "X-Openapitest-Expect-Invalid"

// sent marks a request Send sends: no hold captures it.
const sent = "X-Openapitest-Sent"

// The pages answer HTML (the one-time link's entry): kin-openapi decodes
// only the media types registered with it, and text/html is read as the
// plain text it is. The registry is kin-openapi's own, process-wide.
func init() { openapi3filter.RegisterBodyDecoder("text/html", openapi3filter.PlainBodyDecoder) }

// Doc is the loaded contract.
type Doc struct {
	T      *openapi3.T
	Path   string
	router routers.Router
}

// Load reads docs/openapi.yaml of the repository holding the working
// directory and checks that it is a valid OpenAPI 3.1 document (examples
// included).
func Load(t testing.TB) *Doc {
	t.Helper()
	path, err := find()
	if err != nil {
		t.Fatal(err)
	}
	d, err := LoadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// LoadFile loads and validates the document at path.
func LoadFile(path string) (*Doc, error) {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromFile(path)
	if err != nil {
		return nil, fmt.Errorf("openapitest: load %s: %w", path, err)
	}
	if doc.OpenAPI != "3.1.0" || !doc.IsOpenAPI31OrLater() {
		return nil, fmt.Errorf("openapitest: %s says openapi %q, want 3.1.0", path, doc.OpenAPI)
	}
	if err := doc.Validate(context.Background(), openapi3.EnableExamplesValidation()); err != nil {
		return nil, fmt.Errorf("openapitest: %s is not valid OpenAPI 3.1: %w", path, err)
	}
	r, err := legacy.NewRouter(doc)
	if err != nil {
		return nil, fmt.Errorf("openapitest: route %s: %w", path, err)
	}
	return &Doc{T: doc, Path: path, router: r}, nil
}

// find returns docs/openapi.yaml beside the go.mod above the working directory.
func find() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, "docs", "openapi.yaml"), nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("openapitest: no go.mod above the working directory")
		}
		dir = parent
	}
}

// Operations lists every operation of the document with its documented
// statuses: operationId → statuses.
func (d *Doc) Operations() map[string][]int {
	out := map[string][]int{}
	for _, item := range d.T.Paths.Map() {
		for _, op := range item.Operations() {
			var codes []int
			for code := range op.Responses.Map() {
				var n int
				if _, err := fmt.Sscanf(code, "%d", &n); err == nil {
					codes = append(codes, n)
				}
			}
			sort.Ints(codes)
			out[op.OperationID] = codes
		}
	}
	return out
}

// Webhooks lists the names of the document's webhooks (the OpenAPI 3.1
// top-level webhooks), sorted.
func (d *Doc) Webhooks() []string {
	names := make([]string, 0, len(d.T.Webhooks))
	for name := range d.T.Webhooks {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// ValidateWebhook checks one webhook as a receiver got it (its headers and
// body) against the document's webhook name: its header parameters and its
// request body, with the same validator as the proxy's requests.
func (d *Doc) ValidateWebhook(ctx context.Context, name string, h http.Header, body []byte) error {
	item := d.T.Webhooks[name]
	if item == nil || item.Post == nil {
		return fmt.Errorf("openapitest: no webhook %q in the document", name)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://webhook.invalid/", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header = h.Clone()
	route := &routers.Route{Spec: d.T, Path: name, PathItem: item, Method: http.MethodPost, Operation: item.Post}
	return openapi3filter.ValidateRequest(ctx, &openapi3filter.RequestValidationInput{Request: req, Route: route, Options: options()})
}

// Exchange is one request and answer that passed through a Proxy.
type Exchange struct {
	Method, Path string
	// Operation is the operationId the request matched ("" for none).
	Operation string
	Status    int
	// ExpectInvalid: the test marked the request as sent against the contract.
	ExpectInvalid bool
	// RequestErr and ResponseErr are what validation said (nil: valid).
	RequestErr, ResponseErr error
}

func (e Exchange) String() string {
	return fmt.Sprintf("%s %s → %d (%s)", e.Method, e.Path, e.Status, e.Operation)
}

// Proxy validates the traffic between clients and a server.
type Proxy struct {
	// URL is the proxy's origin, http://127.0.0.1:port.
	URL    string
	doc    *Doc
	target *url.URL
	client *http.Client

	mu        sync.Mutex
	exchanges []Exchange
	holds     []*Hold
}

// NewProxy starts a validating proxy to the server at target (an origin)
// on ln, or on a fresh 127.0.0.1 port when ln is nil. It stops at the end
// of the test.
func (d *Doc) NewProxy(t testing.TB, target string, ln net.Listener) *Proxy {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	if ln == nil {
		if ln, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
	}
	p := &Proxy{doc: d, target: u, client: &http.Client{
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(p.serve))
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	p.URL = srv.URL
	return p
}

// Target is the origin of the server behind the proxy, for requests the
// contract does not describe (the person's pages).
func (p *Proxy) Target() string { return p.target.Scheme + "://" + p.target.Host }

// Listen returns a fresh 127.0.0.1 listener, for a proxy whose URL the
// server must know before it starts (its base_url).
func Listen(t testing.TB) (net.Listener, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln, "http://" + ln.Addr().String()
}

// hopHeaders are not forwarded (RFC 9110, section 7.6.1).
var hopHeaders = []string{"Connection", "Keep-Alive", "Proxy-Connection", "Te", "Trailer", "Transfer-Encoding", "Upgrade"}

func (p *Proxy) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, "openapitest: read request: "+err.Error(), http.StatusBadGateway)
		return
	}
	if held := p.hold(r, body); held {
		http.Error(w, "openapitest: held", http.StatusBadGateway)
		return
	}
	ex := Exchange{Method: r.Method, Path: r.URL.Path, ExpectInvalid: r.Header.Get(ExpectInvalid) != ""}
	r.Header.Del(ExpectInvalid)

	// Validate the request as the client sent it.
	check := r.Clone(r.Context())
	check.Body = io.NopCloser(bytes.NewReader(body))
	var input *openapi3filter.RequestValidationInput
	route, params, err := p.doc.router.FindRoute(check)
	if err != nil {
		ex.RequestErr = fmt.Errorf("no operation: %w", err)
	} else {
		ex.Operation = route.Operation.OperationID
		input = &openapi3filter.RequestValidationInput{Request: check, PathParams: params, Route: route, Options: options()}
		ex.RequestErr = openapi3filter.ValidateRequest(r.Context(), input)
	}

	out, err := http.NewRequestWithContext(r.Context(), r.Method, p.target.Scheme+"://"+p.target.Host+r.URL.RequestURI(), bytes.NewReader(body))
	if err != nil {
		http.Error(w, "openapitest: "+err.Error(), http.StatusBadGateway)
		return
	}
	out.Header = r.Header.Clone()
	for _, h := range hopHeaders {
		out.Header.Del(h)
	}
	out.Host = r.Host
	out.ContentLength = int64(len(body))
	resp, err := p.client.Do(out)
	if err != nil {
		http.Error(w, "openapitest: forward: "+err.Error(), http.StatusBadGateway)
		return
	}
	respBody, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		http.Error(w, "openapitest: read response: "+err.Error(), http.StatusBadGateway)
		return
	}
	ex.Status = resp.StatusCode
	if input != nil {
		ex.ResponseErr = validateResponse(r.Context(), input, resp, respBody)
	} else {
		ex.ResponseErr = errors.New("no documented operation to validate the response against")
	}
	p.mu.Lock()
	p.exchanges = append(p.exchanges, ex)
	p.mu.Unlock()

	for k, vs := range resp.Header {
		if !slices.Contains(hopHeaders, k) {
			w.Header()[k] = vs
		}
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = w.Write(respBody)
}

func options() *openapi3filter.Options {
	return &openapi3filter.Options{
		IncludeResponseStatus: true,
		MultiError:            true,
		AuthenticationFunc:    authenticate,
	}
}

// authenticate checks that a credential of the scheme's form is present;
// whether it is the right one is the server's to say (401).
func authenticate(_ context.Context, in *openapi3filter.AuthenticationInput) error {
	h := in.RequestValidationInput.Request.Header
	s := in.SecurityScheme
	switch {
	case s.Type == "http" && strings.EqualFold(s.Scheme, "bearer"):
		if tok, ok := strings.CutPrefix(h.Get("Authorization"), "Bearer "); !ok || tok == "" {
			return errors.New("no bearer credential")
		}
	case s.Type == "apiKey" && s.In == "header":
		if h.Get(s.Name) == "" {
			return fmt.Errorf("no %s header", s.Name)
		}
	default:
		return fmt.Errorf("security scheme %q not checked by openapitest", in.SecuritySchemeName)
	}
	return nil
}

// validateResponse checks an answer against the operation's documented
// responses. Beyond openapi3filter: a response documented without content
// must have an empty body.
func validateResponse(ctx context.Context, req *openapi3filter.RequestValidationInput, resp *http.Response, body []byte) error {
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: req,
		Status:                 resp.StatusCode,
		Header:                 resp.Header,
		Options:                options(),
	}
	in.SetBodyBytes(body)
	if err := openapi3filter.ValidateResponse(ctx, in); err != nil {
		return err
	}
	if ref := req.Route.Operation.Responses.Status(resp.StatusCode); ref != nil && ref.Value != nil &&
		len(ref.Value.Content) == 0 && len(body) > 0 {
		return fmt.Errorf("status %d is documented without a body, got %d bytes", resp.StatusCode, len(body))
	}
	return nil
}

// Exchanges returns what passed through so far.
func (p *Proxy) Exchanges() []Exchange {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.exchanges)
}

// Check fails t for every exchange the document does not describe: a
// response that does not validate, a request that does not validate unless
// marked ExpectInvalid, and a marked request that the document accepted.
// It returns how many exchanges it checked.
func (p *Proxy) Check(t testing.TB) int {
	t.Helper()
	exs := p.Exchanges()
	for _, e := range exs {
		if e.ResponseErr != nil {
			t.Errorf("openapi: response of %v does not match %s:\n%s", e, filepath.Base(p.doc.Path), short(e.ResponseErr))
		}
		switch {
		case e.ExpectInvalid && e.RequestErr == nil:
			t.Errorf("openapi: %v was sent against the contract, but the document accepts it", e)
		case !e.ExpectInvalid && e.RequestErr != nil:
			t.Errorf("openapi: request %v does not match %s:\n%s", e, filepath.Base(p.doc.Path), short(e.RequestErr))
		}
	}
	return len(exs)
}

// short is the start of a validation error: the JSON Schema validator
// appends the schema and the whole value, which can be long.
func short(err error) string {
	const max = 1500
	if s := err.Error(); len(s) > max {
		return s[:max] + " …"
	}
	return err.Error()
}

// Coverage collects which (operation, status) pairs real traffic showed,
// across proxies.
type Coverage struct {
	mu       sync.Mutex
	seen     map[string]map[int]bool
	webhooks map[string]bool
}

// AddWebhook records that a webhook of the document's webhook name was
// validated.
func (c *Coverage) AddWebhook(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.webhooks == nil {
		c.webhooks = map[string]bool{}
	}
	c.webhooks[name] = true
}

// Add records every exchange of p that matched an operation.
func (c *Coverage) Add(p *Proxy) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.seen == nil {
		c.seen = map[string]map[int]bool{}
	}
	for _, e := range p.Exchanges() {
		if e.Operation == "" {
			continue
		}
		if c.seen[e.Operation] == nil {
			c.seen[e.Operation] = map[int]bool{}
		}
		c.seen[e.Operation][e.Status] = true
	}
}

// Check fails t for every documented (operation, status) that no exchange
// showed, unless unprovoked lists it ("operationId status" → why the test
// cannot make the server answer it), for every documented webhook that no
// AddWebhook recorded, and for every unprovoked entry that was in fact seen
// or is not documented.
func (c *Coverage) Check(t testing.TB, d *Doc, unprovoked map[string]string) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	documented := map[string]bool{}
	for op, codes := range d.Operations() {
		for _, code := range codes {
			k := fmt.Sprintf("%s %d", op, code)
			documented[k] = true
			_, excused := unprovoked[k]
			switch seen := c.seen[op][code]; {
			case seen && excused:
				t.Errorf("openapi coverage: %s is listed as not provoked, but the test saw it", k)
			case !seen && !excused:
				t.Errorf("openapi coverage: no real response showed %s", k)
			}
		}
	}
	for _, name := range d.Webhooks() {
		if !c.webhooks[name] {
			t.Errorf("openapi coverage: no real webhook showed %s", name)
		}
	}
	for k := range unprovoked {
		if !documented[k] {
			t.Errorf("openapi coverage: %s is listed as not provoked but is not documented", k)
		}
	}
}

// Hold captures requests instead of forwarding them: the first that match
// accepts selects a path, then every later request to that path that match
// accepts is captured too. The sender gets 502, as from a failing hop. A
// test sends a captured request again later (after a deadline, a second
// time) with Send, which holds never capture; it is validated like any other.
type Hold struct {
	p       *Proxy
	forward bool // a tap: captured and forwarded
	match   func(*http.Request) bool
	path    string
	got     []Captured
	ready   chan struct{}
}

// Captured is one held request.
type Captured struct {
	Method, Path string
	Header       http.Header
	Body         []byte
}

// HoldNext holds the next request that match accepts, and every later
// request to its path. Holds and taps are tried in the order they were made.
func (p *Proxy) HoldNext(match func(*http.Request) bool) *Hold { return p.addHold(match, false) }

// TapNext is HoldNext, but the captured requests are forwarded as usual:
// the test can send them a second time.
func (p *Proxy) TapNext(match func(*http.Request) bool) *Hold { return p.addHold(match, true) }

func (p *Proxy) addHold(match func(*http.Request) bool, forward bool) *Hold {
	h := &Hold{p: p, forward: forward, match: match, ready: make(chan struct{})}
	p.mu.Lock()
	p.holds = append(p.holds, h)
	p.mu.Unlock()
	return h
}

func (p *Proxy) hold(r *http.Request, body []byte) bool {
	if r.Header.Get(sent) != "" {
		r.Header.Del(sent)
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, h := range p.holds {
		if h.path == "" && h.match(r) {
			h.path = r.URL.Path
			defer close(h.ready)
		}
		if h.path == r.URL.Path && h.match(r) {
			h.got = append(h.got, Captured{Method: r.Method, Path: r.URL.RequestURI(), Header: r.Header.Clone(), Body: bytes.Clone(body)})
			return !h.forward
		}
	}
	return false
}

// Wait returns the first held request once one arrived, or fails t after
// within.
func (h *Hold) Wait(t testing.TB, within time.Duration) Captured {
	t.Helper()
	select {
	case <-h.ready:
	case <-time.After(within):
		t.Fatalf("openapitest: no request held within %v", within)
	}
	// ready closes under the proxy's lock, with the request appended.
	h.p.mu.Lock()
	defer h.p.mu.Unlock()
	return h.got[0]
}

// Send sends c to the proxy (which validates it and forwards it to the
// server) and returns the status.
func (p *Proxy) Send(t testing.TB, c Captured) int {
	t.Helper()
	req, err := http.NewRequest(c.Method, p.URL+c.Path, bytes.NewReader(c.Body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header = c.Header.Clone()
	req.Header.Set(sent, "1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}
