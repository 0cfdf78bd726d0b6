// Package engine runs projections from the event store (design §Layout: projections/engine):
// it subscribes from a projection's checkpoint, applies envelopes in position order,
// idempotently, checking positions and the hash chain; it checkpoints the projection together
// with its state in a snapshot file written atomically, rebuilds from position 0 when the
// projection's version changes or the snapshot does not match the store; and it replays the
// log as of a date for the ledger (LedgerAsOf). Ready and Position feed /readyz and lag
// metrics.
//
// It imports domain, the eventstore port and projections/ledger; never handlers, never a
// store adapter (tests use an in-memory double and the embedded store).
package engine
