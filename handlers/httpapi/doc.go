// Package httpapi is the HTTP edge of Encours (design §API v1): the write routes, which
// decode a JSON request strictly into a domain command and hand it to the command service
// with the request's idempotency key; the log reads (/v1/events, /v1/customers/{id}/events);
// the customer read served from the command side until projections take it over; health and
// readiness; and, under a manual clock, POST /v1/clock.
//
// Status rule: the error's kind decides the status (style §4), with one split for
// KindInvalid. A request that cannot be read as a command — malformed or non-UTF-8 JSON, an
// unknown field, a value of the wrong JSON type, a missing field, an unparseable date,
// currency, id or amount — is 400. A well-formed command the domain refuses as written
// (due_before_issue, currency_mismatch, amount_not_positive, ...) is 422. KindConflict is
// 409, KindNotFound 404, and anything else 500 with the message "internal error" (the
// details are logged with the correlation id only). Transport refusals have their own
// statuses: 413 body_too_large, 415 unsupported_media_type.
//
// It imports domain, the eventstore port and handlers/command; cmd/encoursd wires it.
package httpapi
