package client_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"time"

	"github.com/proofline/proofline"
	"github.com/proofline/proofline/client"
	"github.com/proofline/proofline/config"
)

// exampleServer runs an embedded proofline (memory store, in-process
// workers, mock vendors) on a loopback port, as `proofline serve` does.
func exampleServer() (string, func()) {
	dir, err := os.MkdirTemp("", "proofline-example-")
	if err != nil {
		panic(err)
	}
	url, stop := runServer(testConfig(dir), nil)
	return url, func() { stop(); _ = os.RemoveAll(dir) }
}

// An IdP back end starts a resolution job, waits for the outcome with long
// polls, reads it and forgets it. The mock vendor says "Unverified SSN." for
// an SSN containing 6666.
func Example() {
	url, stop := exampleServer()
	defer stop()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	c, err := client.New(url, testKey) // testKey: one of the server's api_keys
	if err != nil {
		panic(err)
	}
	job, err := c.StartResolution(ctx, client.ResolutionRequest{
		Applicant: proofline.Applicant{
			FirstName: "Jane", LastName: "Doe", DOB: "1980-06-15", SSN: "123-45-6666",
			Address1: "1 Main St", City: "Reston", State: "VA", Zipcode: "20190",
		},
		Attempt: client.Attempt{PersonID: "user-1234"},
	})
	if err != nil {
		panic(err)
	}
	out, err := c.Wait(ctx, job.ResultID)
	if err != nil {
		panic(err)
	}
	fmt.Println("status:", out.Status)
	fmt.Println("success:", out.Result.Success)
	fmt.Println("ssn:", strings.Join(out.Result.Errors["ssn"], " "))

	if err := c.Forget(ctx, job.ResultID); err != nil {
		panic(err)
	}
	_, err = c.Outcome(ctx, job.ResultID)
	fmt.Println("after Forget:", errors.Is(err, client.ErrNotFound))
	// Output:
	// status: done
	// success: false
	// ssn: Unverified SSN.
	// after Forget: true
}

// A document job: create a capture, upload the images (encrypted with a
// fresh key, each bound to its capture and side), start the job, and read
// what the vendor read off the ID. Then a resolution bound to that document
// needs only the SSN. The mock document vendor reads a back image written as
// YAML; a real one reads photos.
func Example_document() {
	url, stop := exampleServer()
	defer stop()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := client.New(url, testKey)
	if err != nil {
		panic(err)
	}

	capture, err := c.CreateCapture(ctx)
	if err != nil {
		panic(err)
	}
	back := []byte("document:\n  first_name: SUSAN\n  last_name: SMITH\n  dob: '1985-03-04'\n" +
		"  address1: 1 ELM ST\n  city: BILLINGS\n  state: MT\n  zipcode: '59010'\n" +
		"  state_id_number: '123456789'\n  state_id_jurisdiction: MT\n  state_id_type: drivers_license\n")
	req, err := c.UploadDocument(ctx, capture, client.Images{Front: []byte("front photo"), Back: back})
	if err != nil {
		panic(err)
	}
	req.PersonRef = "sp-1:0f0e0d0c-aaaa-4bbb-8ccc-123456789abc"
	job, err := c.StartDocument(ctx, *req)
	if err != nil {
		panic(err)
	}
	out, err := c.Wait(ctx, job.ResultID)
	if err != nil {
		panic(err)
	}
	pii := out.Result.PIIFromDoc
	fmt.Println("document:", out.Result.Success, out.Result.Result)
	fmt.Println("first name prints as:", pii.FirstName)
	fmt.Println("first name:", pii.FirstName.Reveal())

	bound, err := c.StartResolution(ctx, client.ResolutionRequest{
		DocumentResultID: job.ResultID,
		Applicant:        proofline.Applicant{SSN: "123-45-6789"},
	})
	if err != nil {
		panic(err)
	}
	out, err = c.Wait(ctx, bound.ResultID)
	if err != nil {
		panic(err)
	}
	var stages []string
	for _, s := range out.Result.Context.Stages {
		stages = append(stages, s.Stage)
	}
	fmt.Println("resolution:", out.Result.Success, strings.Join(stages, ","))
	// Output:
	// document: true Passed
	// first name prints as: [REDACTED]
	// first name: SUSAN
	// resolution: true resolution,state_id
}

// A refused request names each bad field, never its value.
func ExampleValidationError() {
	url, stop := exampleServer()
	defer stop()
	c, err := client.New(url, testKey)
	if err != nil {
		panic(err)
	}
	_, err = c.StartAddress(context.Background(), client.AddressRequest{Applicant: proofline.Applicant{Phone: "555-0100"}})
	var v *client.ValidationError
	if errors.As(err, &v) {
		for _, f := range v.Fields {
			fmt.Printf("%s: %s\n", f.Field, f.Message)
		}
	}
	fmt.Println("invalid:", errors.Is(err, client.ErrInvalid))
	// Output:
	// phone: must be a 10-digit phone number
	// invalid: true
}

// An IdP back end creates a verification session for a person and sends
// the person's browser to its one-time URL; here it cancels the session
// instead, and its webhook endpoint verifies the signed
// verification_session.canceled event that proofline delivers.
func Example_verificationSession() {
	// The IdP's webhook endpoint: verify, then act (answer 2xx once stored).
	secret := "whsec_" + base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))
	hooks, err := client.NewWebhooks([]string{secret})
	if err != nil {
		panic(err)
	}
	events := make(chan *client.Event, 1)
	endpoint := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ev, err := hooks.VerifyRequest(r)
		if err != nil {
			http.Error(w, "bad signature", http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusNoContent)
		select {
		case events <- ev:
		default: // a retry of an event already taken
		}
	}))
	defer endpoint.Close()

	// proofline with an API client whose webhooks go to the endpoint.
	dir, _ := os.MkdirTemp("", "proofline-example-")
	defer os.RemoveAll(dir)
	cfg := testConfig(dir)
	cfg.APIClients = config.APIClients{{Name: "idp", APIKeys: []string{idpKey}, WebhookURL: endpoint.URL, WebhookSecrets: []string{secret}}}
	url, stop := runServer(cfg, nil)
	defer stop()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	c, err := client.New(url, idpKey)
	if err != nil {
		panic(err)
	}
	s, err := c.CreateVerificationSession(ctx, client.SessionRequest{
		PersonID:  "user-1234",
		ReturnURL: url + "/signed-in", // on the client's allowed return origins
		Steps:     []client.SessionStep{client.StepDocument, client.StepInformation},
		Metadata:  map[string]string{"ticket": "T-1"},
	})
	if err != nil {
		panic(err)
	}
	fmt.Println("created:", s.Status, strings.HasPrefix(s.URL, url+"/verify/session/"+s.ID+"?token="))
	// Now redirect the person's browser to s.URL; the link works once.

	read, err := c.VerificationSession(ctx, s.ID)
	if err != nil {
		panic(err)
	}
	fmt.Println("read:", read.Status, read.PersonID, read.Steps)

	if _, err := c.CancelVerificationSession(ctx, s.ID); err != nil {
		panic(err)
	}
	select {
	case ev := <-events:
		sess, err := ev.Session()
		if err != nil {
			panic(err)
		}
		fmt.Println("webhook:", ev.Type, sess.ID == s.ID, sess.Status, sess.Metadata["ticket"])
	case <-ctx.Done():
		fmt.Println("no webhook")
	}
	_, err = c.CancelVerificationSession(ctx, s.ID)
	fmt.Println("cancel again:", errors.Is(err, client.ErrConflict))
	// Output:
	// created: created true
	// read: created user-1234 [document information]
	// webhook: verification_session.canceled true canceled T-1
	// cancel again: true
}
