// Package reports serves the read side of the ledger: portfolio figures, aged balances,
// forecasts, default simulations and penalties, over HTTP and as deterministic exports (aged
// balance, ledger figures, journal, a customer's statement of account) for the CLI's replay
// and export. Every answer says which log position and chain hash it was computed from, and
// every export carries a manifest of its parameters and SHA-256, so an auditor can re-run it
// later and compare (design §API v1 reads; Audit issue).
//
// It imports domain, eventstore, projections and handlers/command (for the clock); only cmd
// and handlers/httpapi import it.
package reports
