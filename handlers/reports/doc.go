// Package reports serves the read side of the ledger: portfolio figures, aged balances,
// forecasts, default simulations and penalties, over HTTP and as deterministic exports for
// the CLI's replay. Every answer says which log position and chain hash it was computed
// from, so an auditor can re-run it later and compare (design §API v1 reads; Audit issue).
//
// It imports domain, eventstore, projections and handlers/command (for the clock); only cmd
// and handlers/httpapi import it.
package reports
