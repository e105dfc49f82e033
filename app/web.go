package app

import (
	"log/slog"
	"net/http"
)

// mountWeb mounts the identity-verification pages (issue #3) on mux.
func mountWeb(mux *http.ServeMux, a *App, log *slog.Logger) error {
	mux.HandleFunc("GET /{$}", a.Server.Home)
	return nil
}
