package config

import (
	"net/url"
	"strings"
)

// Web configures the identity-verification pages (docs/web.md).
type Web struct {
	// SessionSecret is the session key ring: it seals the browser sessions
	// and verification sessions kept in the result store, and keys the CSRF
	// tokens. Either base64 of at least 32 bytes (a ring of one key derived
	// from it), or a ring like record_keys, "id:base64key,id:base64key" with
	// 32-byte keys, the first sealing and all opening (rotation). Generated
	// at start when empty, which ends every session at restart; required
	// with redis_url (every instance must open every session).
	SessionSecret string `key:"session_secret" secret:"true"`
	// IDVMaxAttempts is how many failed proofing attempts (a vendor said no)
	// a person may make within IDVAttemptWindowInHours. Timeouts and vendor
	// exceptions do not count. Default 5.
	IDVMaxAttempts int `key:"idv_max_attempts"`
	// IDVAttemptWindowInHours is the window over which attempts are counted,
	// in hours. Default 6.
	IDVAttemptWindowInHours int `key:"idv_attempt_window_in_hours"`
	// IDVMaxAttemptsPerIP is how many failed attempts (plus attempts in
	// flight) one client IP may make within the window, across every person
	// and instance. Default 20; 0 turns the per-IP limit off.
	IDVMaxAttemptsPerIP int `key:"idv_max_attempts_per_ip"`
	// AttemptHashKey keys the hashes under which attempt counters are stored
	// (no IP or person id is stored): base64 of at least 32 bytes, shared by
	// every instance; a ring of its own, independent of record_keys.
	// Generated in the embedded default; required with redis_url.
	AttemptHashKey string `key:"attempt_hash_key" secret:"true"`
	// ClientIPHeader names the header a load balancer puts the client's
	// address in (e.g. X-Forwarded-For; its right-most entry is used). Set
	// it behind a load balancer, or every person shares the balancer's
	// address for idv_max_attempts_per_ip. Default empty: the connection's
	// remote address.
	ClientIPHeader string `key:"client_ip_header"`
	// WebPushEnabled pushes outcomes to the waiting page with server-sent
	// events; false leaves only polling every poll_rate_for_verify_in_seconds
	// (for proxies that buffer streamed responses). Default true.
	WebPushEnabled bool `key:"web_push_enabled"`
	// WebServiceName is the name of the service people verify their
	// identity for, shown in the header of every page, after each page
	// title and in the link back to the service. Default proofline.
	WebServiceName string `key:"web_service_name"`
	// WebLogoURL is a logo shown beside the service name on every page: an
	// https URL, or a path on this server starting with /. Its origin is
	// added to the pages' img-src. Default empty: the name alone.
	WebLogoURL string `key:"web_logo_url"`
	// WebHelpURL is where the "Help" link on every page goes: an http(s)
	// URL or a path starting with /. Default empty: no help link.
	WebHelpURL string `key:"web_help_url"`
	// WebPrivacyURL is where the "Privacy notice" link on every page goes:
	// an http(s) URL or a path starting with /. Default empty: no link.
	WebPrivacyURL string `key:"web_privacy_url"`
	// WebReturnURL is where the "Return to" link on every page (and the
	// done page's "Continue" link) goes when the verification session names
	// no return_url of its own: an http(s) URL or a path starting with /.
	// Default empty: no such link.
	WebReturnURL string `key:"web_return_url"`
	// WebMaxUploadsPerIP bounds the photos one client IP may be uploading
	// or have stored through the pages at once. Each side a document page
	// may upload (front, back, selfie) holds one from when the person starts
	// uploading until the document is submitted, the person starts over or
	// the upload URLs expire and their images are swept; past it the pages
	// answer 429. So one address stores at most this many times
	// doc_auth_max_image_bytes. (Each browser session holds one capture, at
	// most three photos.) Default 60; 0 turns the per-IP bound off.
	WebMaxUploadsPerIP int `key:"web_max_uploads_per_ip"`
}

func (w *Web) setDefaults() {
	w.IDVMaxAttempts = 5
	w.IDVAttemptWindowInHours = 6
	w.IDVMaxAttemptsPerIP = 20
	w.WebPushEnabled = true
	w.WebServiceName = "proofline"
	w.WebMaxUploadsPerIP = 60
}

func (w *Web) validate(c *Config) error {
	if w.IDVMaxAttempts < 1 || w.IDVMaxAttempts > 1000 {
		return &Error{Key: "idv_max_attempts", Msg: "must be from 1 to 1000"}
	}
	if w.IDVAttemptWindowInHours < 1 || w.IDVAttemptWindowInHours > 24*30 {
		return &Error{Key: "idv_attempt_window_in_hours", Msg: "must be from 1 to 720"}
	}
	if w.IDVMaxAttemptsPerIP < 0 || w.IDVMaxAttemptsPerIP > 100000 {
		return &Error{Key: "idv_max_attempts_per_ip", Msg: "must be from 0 to 100000"}
	}
	if w.AttemptHashKey != "" {
		if b, err := DecodeKey(w.AttemptHashKey); err != nil || len(b) < 32 {
			return &Error{Key: "attempt_hash_key", Msg: "must be base64 of at least 32 bytes"}
		}
	}
	if n := len(strings.TrimSpace(w.WebServiceName)); n == 0 || len(w.WebServiceName) > 80 || strings.ContainsAny(w.WebServiceName, "\x00\r\n") {
		return &Error{Key: "web_service_name", Msg: "must be 1 to 80 characters on one line"}
	}
	for _, kv := range [][2]string{
		{"web_logo_url", w.WebLogoURL}, {"web_help_url", w.WebHelpURL},
		{"web_privacy_url", w.WebPrivacyURL}, {"web_return_url", w.WebReturnURL},
	} {
		if kv[1] != "" && !validPageLink(kv[1], kv[0] == "web_logo_url") {
			if kv[0] == "web_logo_url" {
				return &Error{Key: kv[0], Msg: "must be an https URL or a path starting with /"}
			}
			return &Error{Key: kv[0], Msg: "must be an http(s) URL or a path starting with /"}
		}
	}
	if w.WebMaxUploadsPerIP < 0 || w.WebMaxUploadsPerIP > 100000 {
		return &Error{Key: "web_max_uploads_per_ip", Msg: "must be from 0 to 100000"}
	}
	if w.SessionSecret != "" {
		if _, err := SessionKeys(w.SessionSecret); err != nil {
			return err
		}
	}
	return nil
}

// validPageLink reports whether s may be linked from the pages: an absolute
// http(s) URL with a host (https only when httpsOnly), or a path on this
// server ("/help", not "//host").
func validPageLink(s string, httpsOnly bool) bool {
	if len(s) > 2048 || strings.ContainsAny(s, "\x00\r\n\t \\") {
		return false
	}
	if strings.HasPrefix(s, "/") {
		return !strings.HasPrefix(s, "//")
	}
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || u.User != nil {
		return false
	}
	return u.Scheme == "https" || (u.Scheme == "http" && !httpsOnly)
}
