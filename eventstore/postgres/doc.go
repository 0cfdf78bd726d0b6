// Package postgres is the PostgreSQL baseline of Encours' benchmarks (issue 10): the event
// store port on one table, as a user would set it up, through github.com/jackc/pgx/v5.
//
//	events(position bigserial primary key, stream text, version int, data jsonb,
//	       unique(stream, version), and the rest of the envelope in plain columns)
//	idempotency(key text primary key, request_hash bytea, and the first result)
//
// One Append is one transaction: its events go in with one INSERT ... SELECT FROM unnest(...)
// (a batch, whatever its size) and it commits with synchronous_commit = on, so an
// acknowledged append survives a crash of the server. Optimistic concurrency is the unique
// constraint on (stream, version): a lost race is a unique violation, ErrWrongVersion.
//
// # Two modes
//
// Chained (the default) keeps every promise of the port, and passes eventstore/storetest:
// gap-free 1-based positions and the hash chain along them. Each Append takes one
// transaction-scoped advisory lock, reads the head (position, hash) and writes explicit
// positions and hashes; the chain is computed over data as jsonb gives it back (the append
// asks the server for that text first), so a reader can check every hash. The lock orders
// the commits, so a subscription that polls by position never skips one still in flight.
//
// Plain (Options.Plain) is the table a user would write without the chain: positions come
// from the bigserial's sequence with no lock, so concurrent transactions group their WAL
// flushes; a rolled-back insert leaves a gap, commits can become visible out of position
// order, and hashes are zero. It is the stronger baseline for append throughput and is only
// used by the benchmarks.
//
// Tests run against a real server when ENCOURS_POSTGRES_URL is set (scripts/postgres up
// prints it) and skip, naming it, otherwise.
//
// It imports domain and eventstore only.
package postgres
