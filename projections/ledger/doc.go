// Package ledger is the receivables read model of Encours (design §Layout: projections/ledger):
// per customer its profile, invoices with their dated settlement history, payments,
// unallocated cash, standing credit, limit and insurance cover, fed one envelope at a time
// (Model.Apply) or replayed as of a business date and a system instant (Replay); and the
// metrics of design §Metrics as pure functions over a Model: exposure and utilisation,
// aging, overdue, the DSO family (period, countback, best possible, ADD), CEI, days to pay
// and days beyond terms, concentration, L441-10 late-payment penalties, payment-term (LME)
// compliance, credit-insurance declaration deadlines, provisions, the weekly cash-in
// forecast and the default simulation.
//
// Every amount is an integer number of minor units and every ratio an integer with its scale
// in its name (dso_centidays, share_bp): nothing here is a float.
//
// It imports domain only; never handlers, never a store adapter. The engine that feeds it
// from the event store is projections/engine. Its worked examples, one per metric, live in
// testdata/examples and are run by TestWorkedExamples.
package ledger
