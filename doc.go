// Package proofline holds the domain of asynchronous identity proofing: job
// kinds, the sealed job envelope, the proofing result, applicant data that
// redacts itself, application errors and the life of one attempt.
//
// It imports only the standard library. Everything that talks to the outside
// world (stores, dispatchers, vendors, HTTP) lives in packages named after
// what it adapts and depends on this one, never the other way round.
//
// The life of one attempt:
//
//	start (result_id, per-job secret, deadline)
//	     │
//	     ▼
//	┌─────────┐  authenticated callback before the deadline  ┌──────┐
//	│ pending │ ───────────────────────────────────────────▶ │ done │
//	└─────────┘          (happens once: first write wins)    └──────┘
//	     │
//	     │ deadline passes without a result
//	     ▼
//	┌───────────┐   a later callback is refused (410) and counted
//	│ timed_out │   a retry by the person is a new attempt
//	└───────────┘
//
// pending and done are stored; timed_out is a pending record read after its
// deadline. Records expire from the store on their own.
package proofline
