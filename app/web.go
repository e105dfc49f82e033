package app

import (
	"crypto/rand"
	"log/slog"
	"net/http"
	"time"

	"github.com/proofline/proofline/config"
	"github.com/proofline/proofline/server/web"
)

// mountWeb mounts the identity-verification pages (package server/web) on
// mux, including GET / (the start page).
func mountWeb(mux *http.ServeMux, a *App, log *slog.Logger) error {
	cfg := a.Config
	secret := make([]byte, 32)
	if cfg.SessionSecret == "" {
		if _, err := rand.Read(secret); err != nil {
			return err
		}
		if cfg.RedisURL != "" {
			log.Warn("session_secret is not set: sessions are bound to this instance and end at restart")
		}
	} else {
		b, err := config.DecodeKey(cfg.SessionSecret)
		if err != nil || len(b) < 32 {
			return &config.Error{Key: "session_secret", Msg: "must be base64 of at least 32 bytes"}
		}
		secret = b
	}
	h, err := web.New(a.Service, web.Options{
		BaseURL:        a.BaseURL,
		SessionSecret:  secret,
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
