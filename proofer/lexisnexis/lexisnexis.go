// Package lexisnexis holds the LexisNexis Risk Defense Platform (RDP v2)
// adapters: InstantVerify (resolution of name, SSN, date of birth and
// address; vendor "lexisnexis:instant_verify") and PhoneFinder (phone
// ownership; vendor "lexisnexis:phone_finder"). Both POST a JSON
// conversation to {base_url}/restws/identity/v2/{account_id}/{workflow}/conversation,
// authenticated with HTTP Basic or, when HMAC auth is enabled, the RDP
// HMAC-SHA256 Authorization scheme (Sign), through the one outbound client
// (package vendorhttp).
//
// Success is TransactionStatus "passed" and nothing else. A failed
// transaction names the failed applicant fields (see Evaluate); a
// TransactionStatus "error" is a failed result, not an exception; a non-2xx
// status, a transport failure or an unparseable body is an exception, and a
// call past its timeout is a vendor timeout.
package lexisnexis

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/proofline/proofline"
	"github.com/proofline/proofline/proofer/vendorhttp"
)

// Vendor names.
const (
	InstantVerifyName = "lexisnexis:instant_verify"
	PhoneFinderName   = "lexisnexis:phone_finder"
)

// Defaults of the original configuration.
const (
	DefaultRequestMode           = "testing"
	DefaultInstantVerifyWorkflow = "gsa2.chk32.test.wf"
	DefaultPhoneFinderWorkflow   = "customers.gsa2.phonefinder.workflow"
	DefaultTimeout               = time.Second
)

// Config is one RDP product's configuration.
type Config struct {
	// BaseURL is the https origin of the RDP service (lexisnexis_base_url).
	BaseURL   string
	AccountID string
	// Username and Password authenticate with HTTP Basic when HMAC auth is off.
	Username string
	Password proofline.Secret
	// HMACAuthEnabled switches to the HMAC-SHA256 Authorization header.
	HMACAuthEnabled bool
	HMACKeyID       string
	HMACSecretKey   proofline.Secret
	// RequestMode is sent as Settings.Mode (default "testing").
	RequestMode string
	// Workflow is the RDP workflow name of the product.
	Workflow string
	// Timeout bounds one call (default 1 s).
	Timeout time.Duration

	// Now and NewID make requests reproducible in tests; nil means the
	// clock and random version-4 UUIDs.
	Now   func() time.Time
	NewID func() string
}

// Validate checks the configuration; errors name the setting, never a value.
func (c *Config) Validate() error {
	u, err := url.Parse(c.BaseURL)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil || u.RawQuery != "" {
		return errors.New("lexisnexis: base URL must be an https URL")
	}
	if c.AccountID == "" || strings.ContainsAny(c.AccountID, "/?#") {
		return errors.New("lexisnexis: account id is required")
	}
	if c.Workflow == "" || strings.ContainsAny(c.Workflow, "/?#") {
		return errors.New("lexisnexis: workflow is required")
	}
	if c.HMACAuthEnabled {
		if c.HMACKeyID == "" || len(c.HMACSecretKey) == 0 {
			return errors.New("lexisnexis: HMAC key id and secret key are required")
		}
	} else if c.Username == "" || len(c.Password) == 0 {
		return errors.New("lexisnexis: username and password are required")
	}
	return nil
}

func (c Config) withDefaults() Config {
	if c.RequestMode == "" {
		c.RequestMode = DefaultRequestMode
	}
	if c.Timeout <= 0 {
		c.Timeout = DefaultTimeout
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.NewID == nil {
		c.NewID = NewUUID
	}
	c.BaseURL = strings.TrimRight(c.BaseURL, "/")
	return c
}

// conversationPath is the RDP v2 conversation path of the configured workflow.
func (c *Config) conversationPath() string {
	return "/restws/identity/v2/" + url.PathEscape(c.AccountID) + "/" + url.PathEscape(c.Workflow) + "/conversation"
}

// client is what both products share: building, signing and sending a request.
type client struct {
	cfg     Config
	http    *vendorhttp.Client
	vendor  string
	service string
}

func newClient(cfg Config, hc *vendorhttp.Client, vendor, service string) (*client, error) {
	if hc == nil {
		return nil, errors.New("lexisnexis: an HTTP client is required")
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &client{cfg: cfg.withDefaults(), http: hc, vendor: vendor, service: service}, nil
}

// settings is the RDP Settings block.
type settings struct {
	AccountNumber string `json:"AccountNumber"`
	Mode          string `json:"Mode"`
	Reference     string `json:"Reference"`
	Locale        string `json:"Locale"`
	Venue         string `json:"Venue"`
}

func (c *client) settings() settings {
	return settings{AccountNumber: c.cfg.AccountID, Mode: c.cfg.RequestMode, Reference: c.cfg.NewID(), Locale: "en_US", Venue: "online"}
}

// post sends body to the conversation endpoint and parses the answer.
func (c *client) post(ctx context.Context, body []byte) (*Response, error) {
	path := c.cfg.conversationPath()
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set("Accept", "application/json")
	if c.cfg.HMACAuthEnabled {
		h.Set("Authorization", Sign(SignInput{
			KeyID: c.cfg.HMACKeyID, Secret: c.cfg.HMACSecretKey.Reveal(),
			Time: c.cfg.Now(), Nonce: c.cfg.NewID(),
			Host: hostOf(c.cfg.BaseURL), Path: path, Body: body,
		}))
	} else {
		h.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(c.cfg.Username+":"+string(c.cfg.Password.Reveal()))))
	}
	resp, err := c.http.Do(ctx, &vendorhttp.Request{
		Vendor: c.vendor, Service: c.service, Method: http.MethodPost,
		URL: c.cfg.BaseURL + path, Header: h, Body: body, Timeout: c.cfg.Timeout,
	})
	if err != nil {
		return nil, err
	}
	if !resp.OK() {
		return nil, vendorhttp.StatusError(c.vendor, resp)
	}
	parsed, err := ParseResponse(resp.Body)
	if err != nil {
		return nil, vendorhttp.MalformedError(c.vendor, resp)
	}
	return parsed, nil
}

// hostOf is base_url without its scheme, as the signature covers it.
func hostOf(base string) string {
	h := strings.TrimPrefix(strings.TrimPrefix(base, "https://"), "http://")
	if i := strings.IndexByte(h, '/'); i >= 0 {
		h = h[:i]
	}
	return h
}

// NewUUID returns a random version-4 UUID.
func NewUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

func marshal(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		// Only plain structs of strings are marshalled here.
		panic("lexisnexis: marshal: " + err.Error())
	}
	return b
}
