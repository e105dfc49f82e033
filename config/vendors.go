package config

// Vendors selects and configures the real vendor adapters (issue #8).
type Vendors struct{}

func (v *Vendors) setDefaults() {}

func (v *Vendors) validate(c *Config) error { return nil }
