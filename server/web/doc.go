// Package web serves the identity-verification pages a person sees: start,
// document capture (images encrypted in the browser with WebCrypto
// AES-256-GCM and PUT straight to presigned upload URLs), a waiting page that
// is pushed the outcome with server-sent events (polling as the fallback,
// meta refresh without JavaScript), verify your information, phone, and a
// summary. Timeouts, vendor failures, vendor exceptions and too many attempts
// each have their screen.
//
// The pages call the proofing.Service directly. Every browser session works
// on one verification session (package proofing/verification): a hosted one
// an IdP created, entered by its one-time link (hosted.go), or the demo's
// own, begun at the start page. The browser session is a record in the
// result store, sealed under the session key ring, and the cookie holds only
// its id (session.go); any instance sharing the store serves any request.
//
// docs/web.md describes the flow, the configuration keys, the security
// headers and the measured push latency.
package web
