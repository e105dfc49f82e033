package attempts_test

import (
	"testing"

	"github.com/proofline/proofline/attempts"
	"github.com/proofline/proofline/attempts/attemptstest"
)

func TestMemoryDriver(t *testing.T) {
	attemptstest.Run(t, func(t *testing.T) attempts.Driver { return attempts.NewMemory(nil) })
}
