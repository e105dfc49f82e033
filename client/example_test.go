package client_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/proofline/proofline"
	"github.com/proofline/proofline/client"
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
