// Package eventstore is the event-store port of Encours: the Store interface every adapter
// implements, and the errors callers tell apart with errors.Is. The adapters live beside it:
// embedded (the default, segmented append-only files with a hash chain) and kurrent
// (KurrentDB). The conformance suite every adapter must pass is eventstore/storetest.
//
// It imports domain only.
package eventstore
