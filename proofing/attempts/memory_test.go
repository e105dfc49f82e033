package attempts_test

import (
	"testing"

	"github.com/proofline/proofline/proofing/attempts"
	"github.com/proofline/proofline/proofing/attempts/attemptstest"
)

func TestMemoryDriver(t *testing.T) {
	attemptstest.Run(t, func(t *testing.T) attempts.Driver { return attempts.NewMemory(nil) })
}
