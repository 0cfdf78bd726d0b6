// Package storetest is the conformance suite of the eventstore.Store port: every adapter
// (eventstore/embedded, eventstore/kurrent) calls Run from its own tests, as hallgren's
// core/testsuite and watermill's pubsub/tests are used (style §7, "Conformance suites").
//
// It checks what the port promises: expected versions and the lost-race error, 1-based
// contiguous stream versions, 1-based gap-free global positions, all-or-nothing appends,
// refusal of malformed appends, idempotent retries, reads by version and by position, the
// hash chain, store-assigned RecordedAt, subscription catch-up and live delivery with no gap
// at the switch, concurrent appenders, and (Features.Reopen) what survives a reopen. Every
// wait has a timeout; counts shrink under -short.
//
// It imports domain and eventstore only (and testify), and is imported only by tests.
package storetest
