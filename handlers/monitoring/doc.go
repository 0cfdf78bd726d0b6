// Package monitoring exports the daemon's state to Prometheus (design §The flow of one
// event, step 7; issue "Prometheus metrics"): the store's head and size, each projection's
// lag in positions and in seconds, the alerts raised by rule and severity, the deliveries,
// failures and dead letters by channel, and the portfolio's exposure, limits, overdue and
// DSO by segment, read from the live ledger projection.
//
// Every family is read at scrape time from the component that owns the figure (no second
// copy of any state), and every label comes from a closed or bounded set: projection names
// given by the wiring, signals.Rules and the three severities, the subscription channels,
// and the customers' segments, at most SegmentsMax of them. Never a customer, invoice or
// alert id. The HTTP and append series live in handlers/httpapi; the daemon registers both
// in one registry (cmd/encoursd).
package monitoring
