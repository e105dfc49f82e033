package redisoutbox_test

import (
	"context"
	"os"
	"testing"

	"github.com/redis/rueidis"

	"github.com/proofline/proofline/internal/redistest"
	"github.com/proofline/proofline/webhook"
	"github.com/proofline/proofline/webhook/outboxtest"
	"github.com/proofline/proofline/webhook/redisoutbox"
)

var srv *redistest.Server

func TestMain(m *testing.M) { os.Exit(redistest.Main(m, &srv)) }

func TestConformance(t *testing.T) {
	opt, err := rueidis.ParseURL(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	opt.DisableCache = true
	client, err := rueidis.NewClient(opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(client.Close)
	if err := client.Do(context.Background(), client.B().Ping().Build()).Error(); err != nil {
		t.Fatal(err)
	}
	outboxtest.Run(t, func(t *testing.T) webhook.Driver { return redisoutbox.New(client, redistest.Prefix(t)) })
}
