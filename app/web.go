package app

import (
	"crypto/hmac"
	"crypto/sha256"
	"log/slog"
	"net/http"
	"time"

	"github.com/proofline/proofline/blobstore"
	"github.com/proofline/proofline/config"
	"github.com/proofline/proofline/proofing/attempts"
	"github.com/proofline/proofline/server/web"
)

// mountWeb mounts the identity-verification pages (package server/web) on
// mux, including GET / (the start page). counters keep the pages' upload
// bounds beside the attempt counters (memory or Redis), under keys hashed
// with a key derived from hashKey, so they never meet the attempts'.
func mountWeb(mux *http.ServeMux, a *App, log *slog.Logger, counters attempts.Driver, hashKey []byte) error {
	cfg := a.Config
	if cfg.SessionSecret == "" && cfg.RedisURL != "" {
		log.Warn("session_secret is not set: sessions are bound to this instance and end at restart")
	}
	m := hmac.New(sha256.New, hashKey)
	m.Write([]byte("proofline-web-uploads-v1"))
	uploads, err := attempts.New(counters, attempts.Options{
		MaxPerPerson: len(blobstore.Sides()), MaxPerIP: cfg.WebMaxUploadsPerIP, HashKey: m.Sum(nil),
	})
	if err != nil {
		return err
	}
	timeout := time.Duration(cfg.AsyncWaitTimeoutSeconds) * time.Second
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
		Brand: web.Brand{Name: cfg.WebServiceName, LogoURL: cfg.WebLogoURL, HelpURL: cfg.WebHelpURL,
			PrivacyURL: cfg.WebPrivacyURL, ReturnURL: cfg.WebReturnURL},
		WaitBudget:       timeout,
		MaxImageBytes:    cfg.DocAuthMaxImageBytes,
		SandboxDocuments: cfg.DocAuthVendorDefault == config.VendorMock,
		Uploads:          uploads,
		// The sweep (every minute) removes images older than the upload
		// URLs' lifetime plus twice the timeout: an abandoned capture's
		// uploads count until then.
		UploadHold: time.Duration(cfg.UploadURLTTLSeconds)*time.Second + 2*timeout + time.Minute,
	})
	if err != nil {
		return err
	}
	h.Mount(mux)
	return nil
}
