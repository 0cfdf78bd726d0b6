// Package httpapi is the HTTP edge of Encours (design §API v1): the write routes, which
// decode a JSON request strictly into a domain command and hand it to the command service
// with the request's idempotency key; the log reads (/v1/events, /v1/customers/{id}/events);
// the customer read served from the command side until projections take it over; health and
// readiness; and, under a manual clock, POST /v1/clock.
//
// Access control (Audit/access-control issue): every route but /healthz and /readyz needs
// "Authorization: Bearer <token>" (401 unauthenticated otherwise, with WWW-Authenticate);
// the token's role must hold the route's permission (403 forbidden); each token has a
// request budget (429 rate_limited, with Retry-After). The routes table pairs each route
// with its permission and handlers/auth says which roles hold it. The token's name is the
// actor of every event the request records. Tokens are managed at /v1/tokens (admin).
//
// Description: GET /openapi.json (OpenAPI 3.1) is built from operations, a hand-written
// documentation of each route, and the route table, which gives the roles; a test keeps the
// two naming the same routes and sends every example body to a real server.
//
// Metrics: GET /metrics serves the API's Prometheus series (Metrics) from a registry of its
// own, labelled only from closed sets; Metrics.InstrumentStore measures the appends of
// whatever is wired to the store it returns.
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
// It imports domain, the eventstore port, handlers/auth and handlers/command; cmd/encoursd
// wires it.
package httpapi
