package app

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"time"

	"github.com/proofline/proofline"
	"github.com/proofline/proofline/config"
	"github.com/proofline/proofline/proofer/aamva"
	"github.com/proofline/proofline/proofer/lexisnexis"
	"github.com/proofline/proofline/proofer/mockvendor"
	"github.com/proofline/proofline/proofer/trueid"
	"github.com/proofline/proofline/proofer/vendorhttp"
)

// newVendors builds the vendor adapters the config selects: mocks by
// default; LexisNexis InstantVerify (resolution), PhoneFinder (address) and
// TrueID (document) and AAMVA DLDV (state ID, unless proofer_mock_fallback),
// all through one outbound client (vendorhttp) whose proxy comes from this
// process's http_proxy / https_proxy / no_proxy.
func newVendors(ctx context.Context, cfg config.Config, o WorkerOptions) (*vendorSet, error) {
	v := &vendorSet{
		resolution: &mockvendor.Resolution{Latency: o.VendorLatency},
		stateID:    &mockvendor.StateID{Latency: o.VendorLatency},
		address:    &mockvendor.Address{Latency: o.VendorLatency},
		document:   &mockvendor.Document{Latency: o.VendorLatency},
	}
	if usesMockVendors(cfg) {
		return v, nil
	}
	hc, err := vendorClient(cfg, os.Environ())
	if err != nil {
		return nil, err
	}
	if cfg.IDVResolutionDefaultVendor == config.VendorInstantVerify {
		iv, err := lexisnexis.NewInstantVerify(rdpConfig(cfg, cfg.LexisNexisInstantVerifyWorkflow, cfg.LexisNexisInstantVerifyTimeout), hc)
		if err != nil {
			return nil, &config.Error{Key: "idv_resolution_default_vendor", Msg: "instant_verify: " + err.Error()}
		}
		v.resolution = iv
	}
	if cfg.IDVAddressPrimaryVendor == config.VendorLexisNexis {
		pf, err := lexisnexis.NewPhoneFinder(rdpConfig(cfg, cfg.LexisNexisPhoneFinderWorkflow, cfg.LexisNexisPhoneFinderTimeout), hc)
		if err != nil {
			return nil, &config.Error{Key: "idv_address_primary_vendor", Msg: "lexis_nexis: " + err.Error()}
		}
		v.address = pf
	}
	if cfg.UsesAAMVA() {
		st, err := newAAMVA(cfg, hc)
		if err != nil {
			return nil, err
		}
		v.stateID = st
	}
	if cfg.DocAuthVendorDefault == config.VendorLexisNexis {
		ti, err := trueid.New(trueIDConfig(cfg), hc)
		if err != nil {
			return nil, &config.Error{Key: "doc_auth_vendor_default", Msg: "lexis_nexis: " + err.Error()}
		}
		v.document = ti
	}
	return v, nil
}

// usesMockVendors reports whether every kind uses a mock vendor, so Lambda
// dispatch invokes the Mock function variants.
func usesMockVendors(cfg config.Config) bool { return cfg.AllMock() }

// vendorClient is the one outbound client of a process.
func vendorClient(cfg config.Config, environ []string) (*vendorhttp.Client, error) {
	pool, err := cfg.CertPool()
	if err != nil {
		return nil, &config.Error{Key: "vendor_tls_ca_file", Msg: "must name a readable PEM file of certificates"}
	}
	hc, err := vendorhttp.New(vendorhttp.Options{Environ: environ, RootCAs: pool})
	if err != nil {
		return nil, fmt.Errorf("outbound proxy: %w", err)
	}
	return hc, nil
}

func rdpConfig(cfg config.Config, workflow string, timeout float64) lexisnexis.Config {
	return lexisnexis.Config{
		BaseURL:         cfg.LexisNexisBaseURL,
		AccountID:       cfg.LexisNexisAccountID,
		Username:        cfg.LexisNexisUsername,
		Password:        proofline.Secret(cfg.LexisNexisPassword),
		HMACAuthEnabled: cfg.LexisNexisHMACAuthEnabled,
		HMACKeyID:       cfg.LexisNexisHMACKeyID,
		HMACSecretKey:   proofline.Secret(cfg.LexisNexisHMACSecretKey),
		RequestMode:     cfg.LexisNexisRequestMode,
		Workflow:        workflow,
		Timeout:         config.Seconds(timeout),
	}
}

// VendorCheck is the outcome of checking one proofing step's vendor.
type VendorCheck struct {
	// Stage is "resolution", "state_id", "address" or "document".
	Stage string
	// Vendor is the selector value ("mock", "instant_verify", "lexis_nexis", "aamva").
	Vendor string
	Mock   bool
	OK     bool
	// Reason says why the check failed; safe to print (no URL, body or credential).
	Reason string
	Took   time.Duration
	// Checked says what was checked, in order ("configuration", "HEAD
	// rdp.example.com over TLS through the proxy", ...); safe to print.
	Checked []string
}

// String is the line `proofline vendors check` prints.
func (c VendorCheck) String() string {
	switch {
	case c.Mock:
		return c.Stage + " mock"
	case c.OK:
		return fmt.Sprintf("%s %s ok %dms", c.Stage, c.Vendor, c.Took.Milliseconds())
	}
	return fmt.Sprintf("%s %s FAIL: %s", c.Stage, c.Vendor, c.Reason)
}

// CheckVendors checks each configured vendor: its configuration builds an
// adapter, and its endpoint answers over TLS (through the proxy environ
// selects) to a HEAD request that carries no PII and no credential. Any HTTP
// status below 500 counts as reachable. Mocks are reported as such.
func CheckVendors(ctx context.Context, cfg config.Config, environ []string) []VendorCheck {
	type target struct {
		stage, vendor string
		urls          []string
		build         func(*vendorhttp.Client) error
	}
	var targets []target
	hcErr := error(nil)
	hc, err := vendorClient(cfg, environ)
	if err != nil {
		hcErr = err
	}
	if cfg.IDVResolutionDefaultVendor == config.VendorInstantVerify {
		targets = append(targets, target{"resolution", config.VendorInstantVerify, []string{cfg.LexisNexisBaseURL + "/"}, func(hc *vendorhttp.Client) error {
			_, err := lexisnexis.NewInstantVerify(rdpConfig(cfg, cfg.LexisNexisInstantVerifyWorkflow, cfg.LexisNexisInstantVerifyTimeout), hc)
			return err
		}})
	} else {
		targets = append(targets, target{stage: "resolution", vendor: config.VendorMock})
	}
	if cfg.UsesAAMVA() {
		targets = append(targets, target{"state_id", "aamva", []string{cfg.AAMVAAuthURL, cfg.AAMVAVerificationURL}, func(hc *vendorhttp.Client) error {
			return checkAAMVAConfig(cfg)
		}})
	} else {
		targets = append(targets, target{stage: "state_id", vendor: config.VendorMock})
	}
	if cfg.IDVAddressPrimaryVendor == config.VendorLexisNexis {
		targets = append(targets, target{"address", config.VendorLexisNexis, []string{cfg.LexisNexisBaseURL + "/"}, func(hc *vendorhttp.Client) error {
			_, err := lexisnexis.NewPhoneFinder(rdpConfig(cfg, cfg.LexisNexisPhoneFinderWorkflow, cfg.LexisNexisPhoneFinderTimeout), hc)
			return err
		}})
	} else {
		targets = append(targets, target{stage: "address", vendor: config.VendorMock})
	}
	if cfg.DocAuthVendorDefault == config.VendorLexisNexis {
		targets = append(targets, target{"document", config.VendorLexisNexis, []string{cfg.LexisNexisBaseURL + "/"}, func(hc *vendorhttp.Client) error {
			return checkTrueIDConfig(cfg)
		}})
	} else {
		targets = append(targets, target{stage: "document", vendor: config.VendorMock})
	}
	var out []VendorCheck
	for _, tg := range targets {
		c := VendorCheck{Stage: tg.stage, Vendor: tg.vendor}
		if tg.vendor == config.VendorMock {
			c.Mock, c.OK = true, true
			c.Checked = []string{"nothing to reach (mock vendor: sandbox values)"}
			out = append(out, c)
			continue
		}
		c.Checked = []string{"configuration"}
		if hcErr != nil {
			c.Reason = hcErr.Error()
			out = append(out, c)
			continue
		}
		if err := tg.build(hc); err != nil {
			c.Reason = "configuration: " + err.Error()
			out = append(out, c)
			continue
		}
		start := time.Now()
		c.OK = true
		for _, u := range tg.urls {
			checked, reason := reach(ctx, hc, tg.stage, u)
			c.Checked = append(c.Checked, checked)
			if reason != "" {
				c.OK, c.Reason = false, reason
				break
			}
		}
		c.Took = time.Since(start)
		out = append(out, c)
	}
	if hc != nil {
		hc.Close()
	}
	return out
}

// reach sends one HEAD request to raw. It returns what it checked and, when
// the endpoint is not reachable, why; reason "" means reachable.
func reach(ctx context.Context, hc *vendorhttp.Client, vendor, raw string) (checked, reason string) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "endpoint URL", "endpoint URL is invalid"
	}
	via := "direct"
	if p, _ := hc.Proxy(u); p != nil {
		via = "through the proxy"
	}
	checked = fmt.Sprintf("HEAD %s over TLS %s", u.Host, via)
	resp, err := hc.Do(ctx, &vendorhttp.Request{Vendor: vendor, Method: "HEAD", URL: raw, Timeout: 10 * time.Second, MaxResponseBytes: 64 << 10})
	if err != nil {
		return checked, fmt.Sprintf("%s: %s (%s)", u.Host, trimVendor(err.Error(), vendor), via)
	}
	if resp.Status >= 500 {
		return checked, fmt.Sprintf("%s answered HTTP %d (%s)", u.Host, resp.Status, via)
	}
	return checked, ""
}

func trimVendor(msg, vendor string) string {
	if len(msg) > len(vendor)+2 && msg[:len(vendor)+2] == vendor+": " {
		return msg[len(vendor)+2:]
	}
	return msg
}

// newAAMVA builds the DLDV adapter from the aamva_* keys.
func newAAMVA(cfg config.Config, hc *vendorhttp.Client) (*aamva.AAMVA, error) {
	key, err := config.ParseRSAKey(cfg.AAMVAPrivateKey)
	if err != nil {
		return nil, &config.Error{Key: "aamva_private_key", Msg: "must be base64 of an RSA private key"}
	}
	cert, err := config.ParseCertificate(cfg.AAMVAPublicKey)
	if err != nil {
		return nil, &config.Error{Key: "aamva_public_key", Msg: "must be base64 of an X.509 certificate"}
	}
	st, err := aamva.New(aamva.Config{
		AuthURL: cfg.AAMVAAuthURL, VerificationURL: cfg.AAMVAVerificationURL,
		AuthTimeout:            config.Seconds(cfg.AAMVAAuthRequestTimeout),
		VerificationTimeout:    config.Seconds(cfg.AAMVAVerificationRequestTimeout),
		CertEnabled:            cfg.AAMVACertEnabled,
		PrivateKey:             key,
		Certificate:            cert,
		SupportedJurisdictions: cfg.Jurisdictions(),
	}, hc)
	if err != nil {
		return nil, &config.Error{Key: "aamva_public_key", Msg: err.Error()}
	}
	return st, nil
}

func checkAAMVAConfig(cfg config.Config) error {
	hc, err := vendorhttp.New(vendorhttp.Options{})
	if err != nil {
		return err
	}
	_, err = newAAMVA(cfg, hc)
	return err
}

func trueIDConfig(cfg config.Config) trueid.Config {
	return trueid.Config{
		BaseURL:         cfg.LexisNexisBaseURL,
		AccountID:       cfg.LexisNexisTrueIDAccountID,
		Username:        cfg.LexisNexisTrueIDUsername,
		Password:        proofline.Secret(cfg.LexisNexisTrueIDPassword),
		HMACAuthEnabled: cfg.LexisNexisHMACAuthEnabled,
		HMACKeyID:       cfg.LexisNexisTrueIDHMACKeyID,
		HMACSecretKey:   proofline.Secret(cfg.LexisNexisTrueIDHMACSecretKey),
		RequestMode:     cfg.LexisNexisRequestMode,
		Workflows: trueid.Workflows{
			LivenessCropping:     cfg.LexisNexisTrueIDLivenessCroppingWorkflow,
			LivenessNoCropping:   cfg.LexisNexisTrueIDLivenessNocroppingWorkflow,
			NoLivenessCropping:   cfg.LexisNexisTrueIDNolivenessCroppingWorkflow,
			NoLivenessNoCropping: cfg.LexisNexisTrueIDNolivenessNocroppingWorkflow,
		},
		Timeout:               config.Seconds(cfg.LexisNexisTrueIDTimeout),
		DPIThreshold:          cfg.DocAuthErrorDPIThreshold,
		SharpnessThreshold:    cfg.DocAuthErrorSharpnessThreshold,
		GlareThreshold:        cfg.DocAuthErrorGlareThreshold,
		SupportedCountryCodes: cfg.DocAuthSupportedCountryCodes,
	}
}

func checkTrueIDConfig(cfg config.Config) error {
	hc, err := vendorhttp.New(vendorhttp.Options{})
	if err != nil {
		return err
	}
	_, err = trueid.New(trueIDConfig(cfg), hc)
	return err
}
