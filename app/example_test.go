package app_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/proofline/proofline"
	"github.com/proofline/proofline/app"
	"github.com/proofline/proofline/config"
	"github.com/proofline/proofline/proofing"
)

// An identity provider written in Go embeds proofline: it mounts the worker
// callbacks and image uploads on its own mux, starts jobs from its own
// handlers, reads the outcome and forgets it once taken.
func Example_embedded() {
	ctx := context.Background()
	ln, _ := net.Listen("tcp", "127.0.0.1:0") // the IdP's own listener

	cfg := config.Defaults() // embedded default: memory store, in-process workers, mock vendors
	cfg.BaseURL = "http://" + ln.Addr().String()
	pl, err := app.New(ctx, cfg, app.Options{})
	if err != nil {
		panic(err)
	}
	defer pl.Close(ctx)

	idp := http.NewServeMux()
	idp.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "the IdP's own page") })
	pl.Server.MountCallbacks(idp) // POST /api/proofing_results/{kind}/{result_id}[/claim]
	pl.Server.MountUploads(idp)   // PUT /uploads/{capture_id}/{side}
	srv := &http.Server{Handler: idp}
	go srv.Serve(ln)
	defer srv.Close()

	started, err := pl.Service.StartResolution(ctx, proofing.ResolutionRequest{
		Applicant: proofline.Applicant{
			FirstName: "Jane", LastName: "Doe", DOB: "1980-06-15", SSN: "123-45-6666",
			Address1: "1 Main St", City: "Reston", State: "VA", Zipcode: "20190",
		},
	})
	if err != nil {
		panic(err)
	}
	var o *proofline.Outcome
	for o == nil || o.Status == proofline.StatusPending {
		time.Sleep(10 * time.Millisecond)
		if o, err = pl.Service.Outcome(ctx, started.ResultID); err != nil {
			panic(err)
		}
	}
	fmt.Println("status:", o.Status)
	fmt.Println("success:", o.Result.Success)
	fmt.Println("ssn:", strings.Join(o.Result.Errors["ssn"], " "))
	fmt.Println("applicant prints as:", proofline.Applicant{SSN: "123-45-6666"})

	_ = pl.Service.Forget(ctx, started.ResultID)
	_, err = pl.Service.Outcome(ctx, started.ResultID)
	fmt.Println("after Forget:", proofline.ErrorCode(err))
	// Output:
	// status: done
	// success: false
	// ssn: Unverified SSN.
	// applicant prints as: Applicant[REDACTED]
	// after Forget: not_found
}
