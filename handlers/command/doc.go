// Package command is the write side of Encours (design §The flow of one event, step 2): it
// loads a customer's state, lets domain.Decide turn a command into events, and appends them to
// the event store with the stream's expected version and the command's idempotency key.
//
// Around that pure core it keeps, inside one process:
//   - a bounded cache of each customer's folded state, so a command does not re-read its stream;
//   - a lock per customer, so commands on one customer are decided one at a time here
//     and optimistic-concurrency conflicts come only from other processes (retried a bounded
//     number of times, then version_conflict);
//   - a directory from invoice, payment and credit-note ids to their customer, because some
//     routes (POST /v1/invoices/{id}/dispute) name only the invoice, and an id already used by
//     another customer must be refused (duplicate_invoice) although it lives in another stream.
//
// It imports domain and the eventstore port only; handlers/httpapi, handlers/ingest and
// cmd/* call it. Its tests use an in-memory test double of the store; the HTTP tests run it
// over the embedded store.
package command
