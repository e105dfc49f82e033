package client_test

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/proofline/proofline/client"
	"github.com/proofline/proofline/config"
	"github.com/proofline/proofline/webhook/webhooktest"
)

const idpKey = "client-test-idp-key-0123456789"

// withIDP adds an API client (idpKey) whose webhooks, signed with secrets,
// go to rcv, with job webhooks.
func withIDP(rcv *webhooktest.Receiver, secrets ...string) func(*config.Config) {
	return func(cfg *config.Config) {
		cfg.APIClients = config.APIClients{{Name: "idp", APIKeys: []string{idpKey}, WebhookURL: rcv.URL, WebhookSecrets: secrets, JobWebhooks: true}}
		cfg.WebhookInitialBackoffMS = 50
	}
}

// as is a client of the same server with another key.
func as(t *testing.T, c *client.Client, key string) *client.Client {
	t.Helper()
	o, err := client.New(strings.TrimPrefix(c.String(), "proofline client of "), key)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// TestVerificationSessionsAndTheirWebhooks: the client creates, reads and
// cancels a session of a real server; the canceled webhook and a job's
// proofing_job.completed, as the server delivers them (twice: the endpoint
// fails the first attempt), verify with the client under either secret of a
// rotation and decode; a third secret refuses them. Another key gets
// ErrNotFound, a second cancel ErrConflict.
func TestVerificationSessionsAndTheirWebhooks(t *testing.T) {
	for _, redis := range []bool{false, true} {
		t.Run(fmt.Sprint("redis=", redis), func(t *testing.T) {
			t.Parallel()
			rcv := webhooktest.NewReceiver(t)
			rcv.AnswerWith(func(n int) int { return map[bool]int{true: 500, false: 204}[n == 1] })
			cur, old := secretOf("n"), secretOf("o")
			plain := setup(t, redis, withIDP(rcv, cur, old))
			c := as(t, plain, idpKey)
			ctx := ctxFor(t, 30*time.Second)
			base := strings.TrimPrefix(c.String(), "proofline client of ")

			s, err := c.CreateVerificationSession(ctx, client.SessionRequest{
				PersonID: "user-42", ReturnURL: base + "/back", Steps: []client.SessionStep{client.StepPhone, client.StepDocument},
				Locale: "fr-CA", Metadata: map[string]string{"ticket": "T-1"},
			})
			if err != nil {
				t.Fatal(err)
			}
			if s.Status != client.SessionCreated || !strings.HasPrefix(s.URL, base+"/verify/session/"+s.ID+"?token=") || time.Until(s.ExpiresAt) < 50*time.Minute {
				t.Fatalf("created %+v", *s)
			}
			if p := fmt.Sprintf("%v %+v %#v", s, s, s); strings.Contains(p, "token=") {
				t.Errorf("the one-time link prints: %s", p)
			}
			got, err := c.VerificationSession(ctx, s.ID)
			if err != nil || got.Status != client.SessionCreated || got.PersonID != "user-42" || got.Locale != "fr-CA" ||
				fmt.Sprint(got.Steps) != "[document phone]" || got.Metadata["ticket"] != "T-1" || !got.StartedAt.IsZero() || got.Results != nil {
				t.Fatalf("read %+v %v", got, err)
			}
			if _, err := plain.VerificationSession(ctx, s.ID); !errors.Is(err, client.ErrNotFound) {
				t.Errorf("another key reads it: %v", err)
			}
			if _, err := plain.CancelVerificationSession(ctx, s.ID); !errors.Is(err, client.ErrNotFound) {
				t.Errorf("another key cancels it: %v", err)
			}
			canceled, err := c.CancelVerificationSession(ctx, s.ID)
			if err != nil || canceled.Status != client.SessionCanceled || !canceled.Status.Ended() || canceled.EndedAt.IsZero() {
				t.Fatalf("cancel %+v %v", canceled, err)
			}
			var e *client.Error
			if _, err := c.CancelVerificationSession(ctx, s.ID); !errors.Is(err, client.ErrConflict) || !errors.As(err, &e) || e.Code != "conflict" {
				t.Errorf("second cancel: %v", err)
			}
			_, err = c.CreateVerificationSession(ctx, client.SessionRequest{PersonID: "p", ReturnURL: "https://elsewhere.example/"})
			var v *client.ValidationError
			if !errors.As(err, &v) || v.Field("return_url") == "" {
				t.Errorf("a foreign return_url: %v", err)
			}

			job, err := c.StartResolution(ctx, client.ResolutionRequest{Applicant: jane()})
			if err != nil {
				t.Fatal(err)
			}
			reqs := rcv.WaitFor(t, 20*time.Second, "both webhooks delivered", func(rs []webhooktest.Request) bool {
				n := 0
				for _, r := range rs {
					if r.Status == http.StatusNoContent {
						n++
					}
				}
				return n >= 2
			})
			for _, secret := range []string{cur, old} {
				w, err := client.NewWebhooks([]string{secret})
				if err != nil {
					t.Fatal(err)
				}
				seen := map[string]bool{}
				for _, r := range reqs {
					ev, err := w.Verify(r.Header, r.Body)
					if err != nil {
						t.Fatalf("a delivered webhook does not verify: %v", err)
					}
					seen[ev.Type] = true
					switch ev.Type {
					case client.EventSessionCanceled:
						ss, err := ev.Session()
						if err != nil || ss.ID != s.ID || ss.Status != client.SessionCanceled || ss.Metadata["ticket"] != "T-1" || ev.ID == "" {
							t.Errorf("canceled event %+v %v", ss, err)
						}
					case client.EventJobCompleted:
						j, err := ev.Job()
						if err != nil || j.ResultID != job.ResultID || j.Kind != "resolution" || j.Result == nil || !j.Result.Success {
							t.Errorf("job event %+v %v", j, err)
						}
					default:
						t.Errorf("event %s", ev.Type)
					}
				}
				if !seen[client.EventSessionCanceled] || !seen[client.EventJobCompleted] {
					t.Errorf("events seen: %v", seen)
				}
			}
			third, _ := client.NewWebhooks([]string{secretOf("x")})
			if _, err := third.Verify(reqs[0].Header, reqs[0].Body); !errors.Is(err, client.ErrWebhookSignature) {
				t.Errorf("a third secret: %v", err)
			}
		})
	}
}
