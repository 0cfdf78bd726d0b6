// Package ingest maps finance systems' files onto domain commands: CSV exports streamed row by
// row (the generic layout, optionally renamed by a Mapping, and the ibm-ar preset), validated
// in full before anything is appended, and appended in batches with idempotency keys derived
// from the rows, so that importing the same file twice appends nothing. It serves the same
// import at POST /v1/import (HTTP).
//
// # The bulk path
//
// Run never calls the command service once per row. It makes three passes:
//
//  1. read: the file is streamed once (parsed on one goroutine, checked on another). Each
//     row is parsed (BOM, CRLF, quoted newlines), checked (UTF-8, field sizes) and checked
//     by the format as its Map would map it (the generic format parses the row without
//     building its commands, which only the validate pass needs); a bad row is reported as
//     "row N, field F: reason". A good row is written, with its customer id (and, for the
//     generic format, the compact form the check parsed it into, so that the validate pass
//     does not parse it again), to one of P partition files chosen by a hash of the
//     customer id, and the invoice and payment ids it introduces to P id partitions chosen
//     by a hash of the id. P is the file's size
//     over partitionBytes (16 MiB), at most partitionsMax, so a partition holds about 16 MiB
//     of rows whatever the file's size.
//  2. validate: the id partitions are read one at a time to refuse an id that two customers
//     of the file use or that the log gives to another customer. Then the customer
//     partitions are read one at a time; their rows are grouped by customer in file order
//     and decided with domain.DecideEvent and domain.Evolve against the customer's state read
//     from the log, exactly as the command service would decide them one by one. Nothing is
//     appended; every refusal is reported with its row and column. Each row is decided
//     once: the events of each batch of batchRowsMax rows of a customer (at most
//     eventstore.AppendEventsMax events) are encoded (command.PrepareAppend) and kept, with the
//     stream version they were decided at and the batch's idempotency key, in memory up to
//     preparedMemoryBytesMax (8 MiB) and beyond it in a file beside the partitions.
//  3. append, only when no row was refused (or, with Continue, for the customers with no
//     refused row): the kept batches are read back in the order they were decided and
//     appended through command.Service.AppendPrepared, with the stream's expected version
//     (a customer changed since by anyone else is refused with version_conflict, never
//     overwritten), on a few workers so that batches share the store's group commits.
//
// Memory is bounded by one partition — its rows and its customers' folded states — plus the
// decided batches kept in memory and the refusals kept for the report, whatever the size of
// the file, and whether or not a customer's rows are contiguous in it: rows scattered
// through the file meet again in their customer's partition, in file order. A single
// customer's state is always held whole (Decide needs it), so one customer with millions of
// invoices needs memory in proportion. While the import runs, the disk holds the partitions
// (about the file's size, plus some 50 bytes a row of parsed forms) and the decided batches
// beyond the memory bound (~420 bytes a row of the generated benchmark file, 3.6 times its
// CSV).
//
// A batch's idempotency key is a hash of the format (with its mapping), the customer and the
// batch's rows as the file holds them. Batches are cut by rows, never by events, so the same
// file gives the same batches and keys; a batch whose key the log has already seen is skipped
// (its events are in the state read from the log), so importing the same file again appends
// nothing.
//
// # Kafka
//
// KafkaIngest: the topic encours.commands carries the same JSON commands as the HTTP API —
// the value is the write route's body, the header "path" names the route (/v1/invoices,
// /v1/invoices/F1/dispute ...), "idempotency-key" is required — executed through
// handlers/httpapi's Commands, so with the API's own decoders, request hash and error codes.
// A command refused as written goes to encours.commands.dlq with its error code and message;
// an offset is committed only after the append or the dead letter.
//
// It imports domain, eventstore, bus/kafka (message origins), handlers/command and
// handlers/httpapi; nothing imports it but cmd.
package ingest
