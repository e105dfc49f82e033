package main_test

import (
	"testing"

	"go.uber.org/goleak"
)

// No goroutine a test started may outlive the package's tests. rueidis
// keeps a goroutine asleep for up to a second after a failed connection
// attempt (its reconnect back-off), which then ends by itself.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreAnyFunction("github.com/redis/rueidis.(*call).DelayDo.func1"))
}
