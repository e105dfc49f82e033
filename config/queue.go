package config

// Queue configures dispatch over a distributed queue and `proofline worker`
// fleets (issue #5).
type Queue struct{}

func (q *Queue) setDefaults() {}

func (q *Queue) validate(c *Config) error { return nil }
