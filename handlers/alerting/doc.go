// Package alerting turns the early-warning signals (projections/signals) into alerts and
// delivers them (design §The flow of one event, steps 5–6; the Early-warning signals issue).
//
// Lifecycle as events. The Evaluator follows the log, feeds a ledger model and the signals'
// Facts, and, after each batch of events (for the customers the batch touched) and at each
// business-day tick (for every customer and the portfolio), reconciles the signals that hold
// with the alerts open in the alert streams (alerts-<customer>, and system-alerts for the
// portfolio): a new condition appends AlertRaised, a cleared one AlertResolved ("condition
// cleared"), a worse severity re-raises the same alert id with the higher severity (the
// escalation rule: one alert per episode, its id stable across escalations; a milder
// severity changes nothing until the condition clears). One alert is open per (customer,
// rule, subject). Alert ids are <customer>:<rule>:<subject>:<n>, n counting the alerts ever
// raised on that key (portfolio: portfolio:<rule>:portfolio:<n>), so a replay of the log
// computes the same ids. Appends carry the stream's expected version. Evaluation is a pure
// function of the log up to a position and the as-of date (Plan), which is what lets a
// replay to a past date reproduce the alerts that fired then.
//
// Delivery. Subscriptions are events on the system-alert-subscriptions stream
// (AlertSubscriptionCreated, AlertSubscriptionDeleted: types of this package, outside the
// domain catalogue), so they survive restarts. Each webhook (or Kafka) subscription has a
// worker that reads the log from its checkpoint — the log is the outbox — and delivers the
// matching alert events one at a time, in position order, signed (X-Encours-Signature:
// t=<unix>,v1=<hex HMAC-SHA256 of "<unix>.<body>">, X-Encours-Alert-Id), retried with
// exponential backoff and jitter up to a cap, and dead-lettered after webhookAttemptsMax
// tries. Checkpoints and dead letters are persisted in a state file, written atomically, so
// delivery is at least once across a restart. Server-sent events stream the alert events at
// /v1/alerts/stream with the position as event id, resumable with Last-Event-ID; each client
// has a bounded queue and a slow client is disconnected and counted.
//
// HTTP. Routes returns the table of routes (method, pattern, role, handler) that the API
// wiring mounts behind its authentication.
//
// It imports domain, the eventstore port and projections; never another handler, never a
// store adapter (its tests use eventstore/embedded).
package alerting
