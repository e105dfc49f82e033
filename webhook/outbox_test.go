package webhook_test

import (
	"testing"

	"github.com/proofline/proofline/webhook"
	"github.com/proofline/proofline/webhook/outboxtest"
)

func TestMemoryOutbox(t *testing.T) {
	outboxtest.Run(t, func(*testing.T) webhook.Driver { return webhook.NewMemory() })
}
