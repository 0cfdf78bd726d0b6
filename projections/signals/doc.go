// Package signals computes the early-warning signals of Encours (design §Early-warning
// signals) from the ledger read model: per customer, payment drift (CUSUM and EWMA of days
// beyond terms against the customer's own baseline), silent non-payment, credit-limit
// utilisation, aging escalation and first-ever overdue, behaviour (partial payments,
// disputes, broken promises, missed instalments, reversals), insurance declaration deadlines
// and terms beyond the LME cap, and a risk score 0–100 with each factor's contribution; for
// the portfolio, concentration and DSO drift. It also proposes the dunning worklist.
//
// Every signal carries its Explanation — baseline, current value, threshold, and the
// invoices, payments and other facts (with their log positions) that moved it — and maps to
// an alert rule (Rule*) and a Severity. Evaluate returns the set of signals that hold: the
// alert evaluator (handlers/alerting) reconciles that set with the open alerts.
//
// Evaluation is a pure function of the log and an explicit as-of date: Evaluate reads a
// *ledger.Model and a *Facts both fed with the same envelopes, and asOf; there is no clock
// here, so replaying the log up to a position and evaluating at a date reproduces what was
// computed then. Every figure is an integer with its unit in its name (centidays, bp,
// minor units): the statistics are computed in integer arithmetic so that the same log gives
// the same alerts on every machine.
//
// Thresholds come from Config: defaults (DefaultConfig), overridden per customer segment and
// loaded from a JSON file (LoadConfig; the daemon's --signals-config). The file format is
// documented on Config and shown in testdata/signals-config.json.
//
// It imports domain and projections/ledger only; never handlers, never a store.
package signals
