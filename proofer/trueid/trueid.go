// Package trueid is the LexisNexis TrueID document-authentication adapter,
// the document vendor "lexisnexis:trueid". It posts the images (base64) as a
// TrueID RDP v3 conversation to
// {base_url}/restws/identity/v3/accounts/{trueid_account_id}/workflows/{workflow}/conversations,
// authenticated like the other RDP products (HTTP Basic or the HMAC header,
// lexisnexis.Sign), through the one outbound client (vendorhttp).
//
// The workflow is chosen by selfie (liveness) and cropping. Success is
// TransactionStatus "passed" with a supported document that TrueID
// recognised as a type we asked for (driver's licence, state ID card or
// identification card) and, with liveness, a passing face match. Failures are error codes keyed by
// side ("general", "front", "back", "selfie"), checked in the original's
// order: document type, image metrics (DPI, sharpness, glare), failed alerts,
// selfie. pii_from_doc comes from the document fields; billed is whether
// TrueID returned a DocAuthResult. docs/vendors.md has the rules in full.
package trueid

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/proofline/proofline"
	"github.com/proofline/proofline/proofer"
	"github.com/proofline/proofline/proofer/lexisnexis"
	"github.com/proofline/proofline/proofer/vendorhttp"
)

// Name is the vendor name.
const Name = "lexisnexis:trueid"

// Workflows are the four TrueID workflows.
type Workflows struct {
	LivenessCropping, LivenessNoCropping, NoLivenessCropping, NoLivenessNoCropping string
}

// Config configures the adapter.
type Config struct {
	BaseURL   string
	AccountID string
	Username  string
	Password  proofline.Secret
	// HMACAuthEnabled switches to the HMAC Authorization header.
	HMACAuthEnabled bool
	HMACKeyID       string
	HMACSecretKey   proofline.Secret
	RequestMode     string
	// Locale is the UI locale sent in Settings (default "en").
	Locale    string
	Workflows Workflows
	// ImagesCropped says the capture already cropped the images (the
	// nocropping workflows, ImageCroppingMode 0); default false.
	ImagesCropped bool
	// Timeout bounds one call (default 60 s).
	Timeout time.Duration
	// Image-quality thresholds (defaults 290, 40, 40).
	DPIThreshold, SharpnessThreshold, GlareThreshold int
	// SupportedCountryCodes are the issuing countries accepted.
	SupportedCountryCodes []string

	Now   func() time.Time
	NewID func() string
}

// TrueID is the document vendor.
type TrueID struct {
	cfg  Config
	http *vendorhttp.Client
}

var _ proofer.DocumentVendor = (*TrueID)(nil)

// CallBudget is the configured TrueID timeout (proofer.Budgeted).
func (t *TrueID) CallBudget() time.Duration { return t.cfg.Timeout }

// New builds the adapter.
func New(cfg Config, hc *vendorhttp.Client) (*TrueID, error) {
	if hc == nil {
		return nil, errors.New("trueid: an HTTP client is required")
	}
	u, err := url.Parse(cfg.BaseURL)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return nil, errors.New("trueid: base URL must be an https URL")
	}
	if cfg.AccountID == "" || strings.ContainsAny(cfg.AccountID, "/?#") {
		return nil, errors.New("trueid: account id is required")
	}
	for _, w := range []string{cfg.Workflows.LivenessCropping, cfg.Workflows.LivenessNoCropping, cfg.Workflows.NoLivenessCropping, cfg.Workflows.NoLivenessNoCropping} {
		if w == "" || strings.ContainsAny(w, "/?#") {
			return nil, errors.New("trueid: all four workflows are required")
		}
	}
	if cfg.HMACAuthEnabled {
		if cfg.HMACKeyID == "" || len(cfg.HMACSecretKey) == 0 {
			return nil, errors.New("trueid: HMAC key id and secret key are required")
		}
	} else if cfg.Username == "" || len(cfg.Password) == 0 {
		return nil, errors.New("trueid: username and password are required")
	}
	if cfg.RequestMode == "" {
		cfg.RequestMode = "testing"
	}
	if cfg.Locale == "" {
		cfg.Locale = "en"
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 60 * time.Second
	}
	if cfg.DPIThreshold == 0 && cfg.SharpnessThreshold == 0 && cfg.GlareThreshold == 0 {
		cfg.DPIThreshold, cfg.SharpnessThreshold, cfg.GlareThreshold = 290, 40, 40
	}
	if len(cfg.SupportedCountryCodes) == 0 {
		cfg.SupportedCountryCodes = []string{"US", "GU", "VI", "AS", "MP", "PR", "USA", "GUM", "VIR", "ASM", "MNP", "PRI"}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.NewID == nil {
		cfg.NewID = lexisnexis.NewUUID
	}
	cfg.BaseURL = strings.TrimRight(cfg.BaseURL, "/")
	return &TrueID{cfg: cfg, http: hc}, nil
}

// Name returns "lexisnexis:trueid".
func (*TrueID) Name() string { return Name }

// workflow picks the workflow by selfie and cropping.
func (t *TrueID) workflow(liveness bool) string {
	w := t.cfg.Workflows
	switch {
	case liveness && t.cfg.ImagesCropped:
		return w.LivenessNoCropping
	case liveness:
		return w.LivenessCropping
	case t.cfg.ImagesCropped:
		return w.NoLivenessNoCropping
	}
	return w.NoLivenessCropping
}

type document struct {
	Front             string `json:"Front"`
	Back              string `json:"Back,omitempty"`
	Selfie            string `json:"Selfie,omitempty"`
	DocumentType      string `json:"DocumentType"`
	ImageCroppingMode int    `json:"ImageCroppingMode"`
}

type request struct {
	Type     string `json:"Type"`
	Settings struct {
		Mode      string `json:"Mode"`
		Locale    string `json:"Locale"`
		Venue     string `json:"Venue"`
		Reference string `json:"Reference"`
	} `json:"Settings"`
	Document document `json:"Document"`
}

func liveness(img *proofer.DocumentImages) bool {
	return img.LivenessCheckingEnabled && len(img.Selfie) > 0
}

// Image cropping modes (sent as JSON integers).
const (
	CroppingNone   = 0
	CroppingAlways = 3
)

var personRefRE = regexp.MustCompile(`^[A-Za-z0-9:_-]{1,128}$`)

// RequestBody is the TrueID v3 body: base64 images, DriversLicense, cropping
// mode 3 (always) unless the images were already cropped (0). The Reference
// is the IdP's person reference ("<uuid_prefix>:<uuid>") when it gave one,
// a random UUID otherwise.
func (t *TrueID) RequestBody(img *proofer.DocumentImages) []byte {
	var r request
	r.Type = "Initiate"
	ref := img.PersonRef
	if !personRefRE.MatchString(ref) {
		ref = t.cfg.NewID()
	}
	r.Settings.Mode, r.Settings.Locale, r.Settings.Venue, r.Settings.Reference = t.cfg.RequestMode, t.cfg.Locale, "online", ref
	r.Document = document{
		Front:             base64.StdEncoding.EncodeToString(img.Front),
		Back:              base64.StdEncoding.EncodeToString(img.Back),
		DocumentType:      "DriversLicense",
		ImageCroppingMode: CroppingAlways,
	}
	if t.cfg.ImagesCropped {
		r.Document.ImageCroppingMode = CroppingNone
	}
	if liveness(img) {
		r.Document.Selfie = base64.StdEncoding.EncodeToString(img.Selfie)
	}
	return mustJSON(&r)
}

// AuthenticateDocument sends the images to TrueID and reads its verdict.
func (t *TrueID) AuthenticateDocument(ctx context.Context, img *proofer.DocumentImages) (*proofer.VendorResult, error) {
	if img == nil {
		img = &proofer.DocumentImages{}
	}
	live := liveness(img)
	path := "/restws/identity/v3/accounts/" + url.PathEscape(t.cfg.AccountID) + "/workflows/" + url.PathEscape(t.workflow(live)) + "/conversations"
	body := t.RequestBody(img)
	defer clear(body) // it holds the images
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set("Accept", "application/json")
	if t.cfg.HMACAuthEnabled {
		host := strings.TrimPrefix(strings.TrimPrefix(t.cfg.BaseURL, "https://"), "http://")
		h.Set("Authorization", lexisnexis.Sign(lexisnexis.SignInput{
			KeyID: t.cfg.HMACKeyID, Secret: t.cfg.HMACSecretKey.Reveal(), Time: t.cfg.Now(), Nonce: t.cfg.NewID(),
			Host: host, Path: path, Body: body,
		}))
	} else {
		h.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(t.cfg.Username+":"+string(t.cfg.Password.Reveal()))))
	}
	resp, err := t.http.Do(ctx, &vendorhttp.Request{
		Vendor: Name, Service: "lexis_nexis_doc_auth_true_id", Method: http.MethodPost,
		URL: t.cfg.BaseURL + path, Header: h, Body: body, Timeout: t.cfg.Timeout, MaxResponseBytes: 32 << 20,
	})
	if err != nil {
		return nil, err
	}
	if !resp.OK() {
		return nil, vendorhttp.StatusError(Name, resp)
	}
	parsed, err := ParseResponse(resp.Body)
	if err != nil {
		return nil, vendorhttp.MalformedError(Name, resp)
	}
	if parsed.TrueID == nil {
		// No TrueID product at all (e.g. communications_error): the vendor
		// could not do its job.
		return nil, &proofer.VendorError{Vendor: Name, Message: "TrueID returned no result (" + safeCode(parsed.ReasonCode) + ")"}
	}
	return t.Evaluate(parsed, live), nil
}
