package server

import (
	"context"
	"log/slog"
	"time"
)

// logAccess writes the access line of one request at INFO. It builds the
// record itself, without the caller's program counter that Logger.LogAttrs
// takes from a stack walk on every call (access lines never carry a
// source), which is most of a line's cost at a deep handler stack.
func logAccess(ctx context.Context, log *slog.Logger, attrs ...slog.Attr) {
	h := log.Handler()
	if !h.Enabled(ctx, slog.LevelInfo) {
		return
	}
	r := slog.NewRecord(time.Now(), slog.LevelInfo, "http request", 0)
	r.AddAttrs(attrs...)
	_ = h.Handle(ctx, r)
}
