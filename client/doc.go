// Package client calls proofline's JSON API from an identity provider's
// back end written in Go: create a document capture and upload its images
// encrypted (AES-256-GCM, bound to capture and side, as the browser does),
// start document, resolution and address jobs, wait for their outcome with
// long polls, read and forget them; create, read and cancel hosted
// verification sessions; and verify the signed webhooks proofline posts
// (Webhooks). docs/openapi.yaml is the contract it speaks; its tests check
// every request it sends against that document.
//
//	c, err := client.New("https://proofline.internal", apiKey)
//	job, err := c.StartResolution(ctx, client.ResolutionRequest{Applicant: a})
//	out, err := c.Wait(ctx, job.ResultID) // done or timed_out
//	_ = c.Forget(ctx, job.ResultID)
//
// Every method takes a context first and honours its deadline; pass your
// own *http.Client with WithHTTPClient (timeouts, proxies, TLS). The client
// keeps no state between calls and is safe for concurrent use.
//
// Personal data travels as proofline.Applicant and comes back as
// proofline.Result, whose PII fields print as [REDACTED] through fmt, slog
// and JSON; call Reveal on a field to read it. The client never logs, and
// its errors carry status, code, the server's message (which never echoes a
// value) and the request id, never a request or response body. The API key
// is sent to the proofline base URL only, never to an upload URL.
//
// # Verification sessions and webhooks
//
//	s, err := c.CreateVerificationSession(ctx, client.SessionRequest{PersonID: userUUID, ReturnURL: back})
//	// redirect the person's browser to s.URL (it works once; do not log it)
//	hooks, err := client.NewWebhooks([]string{"whsec_…"}) // both secrets while one rotates
//	ev, err := hooks.VerifyRequest(r)                     // in the webhook handler
//	sess, err := ev.Session()                             // or ev.Job() for proofing_job.completed
//
// Webhooks follows the Standard Webhooks specification: a webhook verifies
// when one "v1," signature of webhook-signature is the HMAC-SHA256 of
// "{webhook-id}.{webhook-timestamp}.{body}" under one of the secrets
// (compared in constant time) and webhook-timestamp is within five minutes
// of now (WithTolerance). Deduplicate by Event.ID: delivery is at least once.
//
// # Errors
//
// A request the server refuses as invalid is a *ValidationError naming each
// bad field; every other refusal is an *Error with the HTTP status, the
// server's code and, on 503 (and 429 if the server sends one), RetryAfter.
// Both match the sentinels with errors.Is: ErrInvalid, ErrUnauthorized,
// ErrNotFound, ErrRateLimited, ErrUnavailable, ...
//
// # Adding operations
//
// One file per part of the API (capture.go, proofing.go, sessions.go); each operation is
// a method that builds its request body, calls c.do with the path and the
// status it expects, and decodes the answer. New parts of the API, and
// helpers that need no HTTP client (such as verifying a signed webhook),
// go beside them the same way.
package client
