package redisattempts_test

import (
	"context"
	"os"
	"testing"

	"github.com/proofline/proofline/internal/redistest"
	"github.com/proofline/proofline/proofing/attempts"
	"github.com/proofline/proofline/proofing/attempts/attemptstest"
	"github.com/proofline/proofline/proofing/attempts/redisattempts"
	"github.com/proofline/proofline/resultstore/redisstore"
)

// srv is this package's redis-server, started once by TestMain.
var srv *redistest.Server

func TestMain(m *testing.M) { os.Exit(redistest.Main(m, &srv)) }

func TestDriver(t *testing.T) {
	attemptstest.Run(t, func(t *testing.T) attempts.Driver {
		d, err := redisstore.New(context.Background(), redisstore.Options{URL: srv.URL()})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = d.Close() })
		return redisattempts.New(d.Client(), redistest.Prefix(t))
	})
}
