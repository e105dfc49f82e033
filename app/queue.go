package app

import (
	"context"
	"log/slog"

	"github.com/proofline/proofline/config"
	"github.com/proofline/proofline/dispatch"
)

// queueEnabled reports whether jobs go to a distributed queue (issue #5).
func queueEnabled(cfg config.Config) bool { return false }

// newQueueDriver builds the distributed queue dispatch driver (issue #5).
func newQueueDriver(ctx context.Context, cfg config.Config, log *slog.Logger) (dispatch.Driver, error) {
	return nil, &config.Error{Key: "queue", Msg: "queue dispatch is not available in this build"}
}
