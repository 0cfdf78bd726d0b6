// Package domain is the pure receivables model of Encours: money, civil dates, payment terms,
// the v1 event catalogue with its envelope and canonical bytes, and the customer aggregate as
// two pure functions, Decide (state + command -> events or a typed *Error) and Evolve
// (state + event -> next state).
//
// It must not import any other Encours package and does no I/O: no clock, no files, no
// network, no logging. "Today" always comes in as an explicit asOf Date. Encoding an event's
// bytes is allowed; storing them somewhere is not.
package domain
