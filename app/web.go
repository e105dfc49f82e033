package app

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/proofline/proofline/server/web"
)

// mountWeb mounts the identity-verification pages (package server/web) on
// mux, including GET / (the start page).
func mountWeb(mux *http.ServeMux, a *App, log *slog.Logger) error {
	cfg := a.Config
	if cfg.SessionSecret == "" && cfg.RedisURL != "" {
		log.Warn("session_secret is not set: sessions are bound to this instance and end at restart")
	}
	h, err := web.New(a.Service, web.Options{
		BaseURL:        a.BaseURL,
		SessionSecret:  a.hosted.csrfSecret,
		Sessions:       a.hosted.websessions,
		Verifications:  a.hosted.verifications,
		PollInterval:   time.Duration(cfg.PollRateForVerifyInSeconds) * time.Second,
		MaxAttempts:    cfg.IDVMaxAttempts,
		AttemptWindow:  time.Duration(cfg.IDVAttemptWindowInHours) * time.Hour,
		DisablePush:    !cfg.WebPushEnabled,
		ClientIPHeader: cfg.ClientIPHeader,
		Logger:         log,
	})
	if err != nil {
		return err
	}
	h.Mount(mux)
	return nil
}
