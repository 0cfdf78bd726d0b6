// Package kurrenttest is an in-process KurrentDB for tests: a gRPC server speaking the
// streams protocol of EventStore-Client-Go v4.2.0 from the client's own generated stubs
// (protos/streams StreamsServer, protos/serverfeatures ServerFeaturesServer), backed by an
// in-memory log that keeps KurrentDB's semantics:
//
//   - streams of events numbered from revision 0, and $all, one total order of every event,
//     whose positions (commit = prepare) grow with the bytes written, with gaps, as
//     KurrentDB's transaction-file offsets do;
//   - appends that are atomic per stream, checked against an expected revision (a number,
//     NoStream, Any or StreamExists), and idempotent by event ID: appending the same event
//     IDs again at the same expected revision, or with Any, succeeds and writes nothing;
//     a partial match is refused, as KurrentDB refuses a "corrupted idempotency";
//   - appends over MaxAppendBytes refused, as KurrentDB's MaxAppendSize (1 MiB by default);
//   - reads of a stream or of $all, forwards or backwards, from the start, the end or a
//     revision/position, with a count; a stream read of a missing stream answers
//     StreamNotFound; link events ("$>", data "N@stream") resolved on request;
//   - catch-up subscriptions to a stream or to $all, exclusive of their start revision or
//     position: a confirmation, the stored events, CaughtUp once, then live events, with no
//     gap or duplicate at the switch; a $all subscription takes stream-name or event-type
//     filters (prefixes or a regular expression) and sends checkpoints.
//
// What it leaves out: Delete, Tombstone and BatchAppend (Unimplemented, which the client
// reports as an unsupported feature), persistent subscriptions, projections, gossip (a
// single-node connection string needs none), authentication and TLS, stream metadata
// ($maxAge, $tb, ACLs), system events in $all, and durability: everything is lost on Close.
//
// The client calls ServerFeatures.GetSupportedMethods when it connects; the server answers
// with the streams methods it implements. Calls counts every call by method, so a test can
// measure the round trips an adapter makes.
//
// It imports the client's protos, grpc and google/uuid, and nothing of Encours; the
// eventstore/kurrent tests use it, and so can any test that needs a KurrentDB
// (encoursd --store kurrentdb).
package kurrenttest
