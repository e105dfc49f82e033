package config

// Web configures the identity-verification pages (issue #3).
type Web struct{}

func (w *Web) setDefaults() {}

func (w *Web) validate(c *Config) error { return nil }
