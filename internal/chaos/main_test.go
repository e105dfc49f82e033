package chaos_test

import (
	"context"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/proofline/proofline/internal/fleettest"
)

var (
	binOnce sync.Once
	binPath string
	binErr  error
	binDir  string
)

// build builds the proofline binary once for the package's tests.
func build(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		binDir, binErr = os.MkdirTemp("", "chaos-bin-")
		if binErr == nil {
			binPath, binErr = fleettest.Build(ctx, binDir)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}
