package lexisnexis_test

import (
	"testing"

	"go.uber.org/goleak"
)

// No goroutine a test started may outlive the package's tests.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
