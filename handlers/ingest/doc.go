// Package ingest maps finance systems' feeds onto domain commands.
//
// CSV: exports streamed row by row (the generic layout and the ibm-ar preset), validated in
// full before anything is appended, and applied through the command service with
// idempotency keys derived from each row's content, so that importing the same file twice
// appends nothing.
//
// Kafka (KafkaIngest): the topic encours.commands carries the same JSON commands as the HTTP
// API — the value is the write route's body, the header "path" names the route
// (/v1/invoices, /v1/invoices/F1/dispute ...), "idempotency-key" is required — executed
// through handlers/httpapi's Commands, so with the API's own decoders, request hash and
// error codes. A command refused as written goes to encours.commands.dlq with its error
// code and message; an offset is committed only after the append or the dead letter.
//
// It imports domain, bus/kafka (message origins), handlers/command and handlers/httpapi;
// nothing imports it but cmd.
package ingest
