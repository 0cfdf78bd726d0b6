// Package kurrent is the event store of Encours on KurrentDB (EventStoreDB), through the
// client github.com/EventStore/EventStore-Client-Go/v4 (package esdb) at v4.2.0 (design
// §Scale-out; issue 6, item 4). Open returns a *Store that implements eventstore.Store.
//
// # What KurrentDB gives, and what the adapter adds
//
// KurrentDB keeps streams of events numbered from revision 0, appends to one stream
// atomically and durably, checks an expected revision per stream, treats a retried append
// of the same event IDs at the same expected revision as already done (an idempotent
// write), resolves link events, and runs catch-up subscriptions that switch from stored to
// live events without a gap. Its global order, $all, is positioned by transaction-file
// offsets: not 1, 2, 3, and holding every stream of the server. It chains no hashes and has
// no idempotency keys, and an append touches one stream only.
//
// Encours needs 1-based gap-free positions, a hash chain along them (design §Events,
// envelope: prev_hash, hash), stream versions checked against an expected version, and
// idempotency keys that map to the first result. The adapter provides them with three kinds
// of KurrentDB streams (names after Options.Namespace):
//
//   - encours.log, the log: one KurrentDB event per Encours event, revision r holding
//     position r+1. Its event ID is the envelope's EventID (a UUIDv7), its type the
//     envelope's type, its data the envelope's data, and its metadata (JSON) the rest of
//     the envelope: stream, stream_version, position, schema_version, effective_on,
//     recorded_at, actor, correlation_id and causation_id (also as KurrentDB's
//     $correlationId and $causationId), idempotency_key, request_hash, prev_hash, hash, and
//     which event of its append it is (batch_events, batch_index). One Append is one append
//     to the log, at the expected revision of the log's last event (NoStream when empty):
//     this write is the commit point. It serializes every appender on the log, so the one
//     that wins knows the last position and hash and computes the next ones; a loser reads
//     the new end of the log and tries again (appendAttemptsMax).
//   - <stream>, one per Encours stream: its index, a KurrentDB link ("$>", data
//     "<revision>@encours.log") per event, revision v-1 for version v. ReadStream reads it
//     with links resolved. It is written after the commit, at the expected revision the
//     versions give, with event IDs derived from the events' (UUIDv5).
//   - encours.idem-<hex SHA-256 of the key>, one per idempotency key: a record of the first
//     result and the request hash, written after the commit with NoStream and an ID derived
//     from the append's first event.
//
// The invariant that makes the checks exact: before the log gets an append, the indexes of
// the append before it are written (the writer checks and, if needed, writes them: a Store
// whose writer died between its commit and its indexes is repaired by the next append, by
// Open, and is accounted for by LookupIdempotency). So every index is complete except,
// perhaps, for the log's last append, which the writer indexes first. The expected version
// and the idempotency key are then checked against the indexes, and the log's expected
// revision makes the check and the append one atomic step: if anything was appended in
// between, the append fails and the writer starts over. Rewriting an index that is already
// there is one of KurrentDB's idempotent writes (same IDs at the same revision), so two
// Stores repairing the same append agree.
//
// The key and the request hash are in the log itself (on the append's events), so a key
// is used at most once even when its record is not yet written; the record only makes the
// lookup one read.
//
// # Cost
//
// Round trips per Append, when this Store is the only writer and knows the stream's version
// (it caches the versions it has seen, valid as long as nobody else appends): 2, the log
// append and the index append; with an idempotency key 4 (read the key's record, write it).
// A stream this Store has not seen yet adds one read of its index. After another Store
// appended: one or two reads of the log's last append, and one or two index writes if that
// append's indexes are not known to be written, then the append again. A wrong expected
// version costs one read (is the remembered end of the log still the end?).
//
// Events never change once appended, so the Store keeps the decoded events of the streams
// it reads and writes (streamCacheEventsMax): ReadStream reads the last link of the stream's
// index (one small round trip, for its version) and, only for events it lacks, the index
// with links resolved (one more). ReadAll and Head are one read; LookupIdempotency two
// (three when the key is in the log's last append of several events). Subscribe is one
// catch-up subscription to the log. Every read decodes the metadata and checks the hash of
// each event it returns. TestRoundTrips pins these numbers.
//
// The price of gap-free positions and a chain is that appends are serialized: one log, one
// writer at a time per Store (the append lock), and Stores on several API nodes contend on
// the log's expected revision. Throughput is about one append per log round trip plus index
// round trip; several nodes lose races instead of waiting in line. Each event is stored once
// (in the log) plus a link of about 60 bytes and, per key, one small record.
//
// # What it does not promise
//
// A batch committed to the log whose Append then failed before its index write (the
// connection dropped, the process died) is in ReadAll, Head and Subscribe at once, but in
// ReadStream only once the next Append or Open writes its index; its Append returned an
// error, so its outcome was unknown to the caller anyway. An Append that fails with an
// unknown outcome is retried inside (logWriteAttemptsMax) with the same event IDs, which
// KurrentDB dedupes; an Append retried by its caller after an unknown outcome is safe with
// an idempotency key or an expected version, as on any store.
//
// The log and the indexes must not be written by anything else, nor truncated (no $maxAge,
// $maxCount or $tb on them, no deletion, no scavenge of deleted streams): positions are the
// log's revisions. Verify (the hash chain) detects a change to what the hash covers. On a
// secure cluster the adapter's user needs write access to its namespace's streams only: the
// adapter writes no $ stream. Reads go to the leader (the connection string's default
// nodePreference=leader), so they see every acknowledged append.
//
// The client v4.2.0 does not honour a context while it (re)discovers the node, and gives up
// for good after MaxDiscoverAttempts; every call therefore runs in a goroutine the caller
// stops waiting for at its deadline, and a client that gave up is replaced at the next call.
//
// # Imports and tests
//
// It imports domain, eventstore and the client only, never projections, handlers or bus.
// Its conformance suite is eventstore/storetest,
// run by store_test.go against the in-process KurrentDB of eventstore/kurrent/kurrenttest
// (the streams protocol from the client's own generated stubs) and, when
// ENCOURS_KURRENTDB_URL names one, against a real KurrentDB.
package kurrent
