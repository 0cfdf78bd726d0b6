// Package ingest maps finance systems' files onto domain commands: CSV exports streamed row by
// row (the generic layout and the ibm-ar preset), validated in full before anything is
// appended, and applied through the command service with idempotency keys derived from each
// row's content, so that importing the same file twice appends nothing.
//
// It imports domain and handlers/command; nothing imports it but cmd and handlers/httpapi.
package ingest
