// Package demo generates a realistic synthetic receivables portfolio as a stream of domain
// commands (the "demo portfolio" of journey 1, and the customers of journey 2): Generate
// yields, for a Config, every command of every customer in effective-date order, each with
// a stable idempotency key, so that `encours demo`, `make run` and end-to-end tests can
// replay them through handlers/command with a manual clock.
//
// What it models, and from what:
//   - The shapes come from the IBM accounts-receivable sample (calibration.go): invoice
//     amounts, each customer's own baseline and spread of days beyond terms, dispute rates
//     and the delay a dispute adds, invoices per customer per month. Seasonality (December
//     peak, August trough), segments, countries, currencies, sectors (NACE Rev. 2
//     divisions, data/nace_divisions.csv), credit limits, insurance cover, ratings, dunning,
//     promises, partial payments, bounced payments and payment plans are added on top.
//   - Six named customers (named.go) tell fixed stories that alert tests can rely on:
//     ACME drifts (journey 2), SILENT stops paying, PLAN misses an instalment, PROMISE breaks
//     a promise, BOUNCE has payments reversed, DISPUTE disputes, is credited and written
//     off. Their dates are relative to Config.End and do not depend on the seed.
//   - About 2 % of the generated customers drift and 0.5 % go silent towards End;
//     Anomalies lists them with their dates.
//
// It is deterministic (math/rand/v2 PCG, one source per customer, no map iteration, no
// clock) and streams: memory grows with the number of customers and the commands already
// scheduled for the next months, not with the number of years.
//
// It imports domain only (no store, no bus): the caller decides where the commands go.
// Its tests fold every generated command through domain.Decide and domain.Evolve, and check
// the calibration against the IBM figures.
package demo
