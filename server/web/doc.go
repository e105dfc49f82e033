// Package web serves the identity-verification pages a person sees: start,
// document capture (images encrypted in the browser with WebCrypto
// AES-256-GCM and PUT straight to presigned upload URLs), a waiting page that
// is pushed the outcome with server-sent events (polling as the fallback,
// meta refresh without JavaScript), verify your information, phone, and a
// summary. Timeouts, vendor failures, vendor exceptions and too many attempts
// each have their screen.
//
// The pages call the proofing.Service directly. The browser session is one
// AES-256-GCM sealed cookie (see session.go); the server keeps no state, so
// any instance sharing the result store can serve any request.
//
// docs/web.md describes the flow, the configuration keys, the security
// headers and the measured push latency.
package web
