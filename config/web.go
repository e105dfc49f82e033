package config

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
}

func (w *Web) setDefaults() {
	w.IDVMaxAttempts = 5
	w.IDVAttemptWindowInHours = 6
	w.IDVMaxAttemptsPerIP = 20
	w.WebPushEnabled = true
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
	if w.SessionSecret != "" {
		if _, err := SessionKeys(w.SessionSecret); err != nil {
			return err
		}
	}
	return nil
}
