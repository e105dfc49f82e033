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
//	start (result_id, deadline, per-job data key, claim token, callback secret)
//	     │  the envelope's payload is sealed under the data key; the keys
//	     │  live only in the IdP's sealed pending record
//	     ▼
//	┌─────────┐  claim (once, before the deadline): the data key is released
//	│ pending │  wrapped to the worker's ephemeral X25519 key and removed from
//	└─────────┘  the record; a second claim is refused (409)
//	     │
//	     │  callback sealed under the callback secret, before the deadline
//	     ▼          (happens once: first write wins)
//	┌──────┐   the record holds no job key any more
//	│ done │
//	└──────┘
//
//	pending, deadline passes without a result ─▶ timed_out: a later claim or
//	callback is refused (410) and counted; a retry by the person is a new
//	attempt. The first read past the deadline stores the timeout (and drops
//	the data key) before it answers: whichever of it and the callback's
//	compare-and-swap lands first is the one outcome.
//
// pending and done are stored; timed_out is a pending record read after its
// deadline. Records expire from the store on their own, and with them the
// job's keys: every copy of the envelope anywhere is then unreadable.
package proofline
