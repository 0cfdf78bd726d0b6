package signals

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/encours/encours/domain"
	"github.com/encours/encours/projections/ledger"
)

// Scope says what Evaluate covers: every customer and the portfolio (All), or only some
// customers (the ones an event batch touched), with no portfolio signal.
type Scope struct {
	All       bool
	Customers []domain.CustomerID
}

// EvaluateAll is the scope of a daily tick.
func EvaluateAll() Scope { return Scope{All: true} }

// Evaluate returns the signals that hold at asOf over scope, sorted by customer, rule and
// subject. m and f must have been fed the same envelopes (they are checked to stand at the
// same position); cfg must be valid. It is a pure function of them: no clock, no I/O.
func Evaluate(m *ledger.Model, f *Facts, asOf domain.Date, cfg *Config, scope Scope) ([]Signal, error) {
	if m.Position() != f.Position() {
		return nil, fmt.Errorf("signals: ledger at position %d, facts at %d: feed both the same envelopes", m.Position(), f.Position())
	}
	ids := scope.Customers
	if scope.All {
		ids = ledger.CustomerIDs(m, ledger.Portfolio())
	}
	var out []Signal
	reports, err := analyse(m, f, ids, asOf, cfg)
	if err != nil {
		return nil, err
	}
	for i := range reports {
		out = append(out, reports[i].Signals...)
	}
	if scope.All {
		ps, err := portfolioSignals(m, asOf, cfg)
		if err != nil {
			return nil, err
		}
		out = append(out, ps...)
	}
	sortSignals(out)
	return out, nil
}

func sortSignals(s []Signal) {
	slices.SortFunc(s, func(a, b Signal) int {
		return cmp.Or(strings.Compare(string(a.CustomerID), string(b.CustomerID)),
			strings.Compare(a.Rule, b.Rule), strings.Compare(a.Subject, b.Subject))
	})
	for i := 1; i < len(s); i++ {
		invariant(s[i].Key() != s[i-1].Key(), "two signals on %v", s[i].Key())
	}
}

// CustomerReport is everything the signals know of one customer at an as-of date: the
// drift charts, the risk score and the signals that hold (for GET /v1/customers/{id}).
type CustomerReport struct {
	CustomerID domain.CustomerID `json:"customer_id"`
	AsOf       domain.Date       `json:"as_of"`
	Segment    string            `json:"segment"`
	Drift      DriftState        `json:"payment_drift"`
	Score      RiskScore         `json:"risk_score"`
	Signals    []Signal          `json:"signals"`
}

// Analyse returns the report of one customer at asOf (ledger.ErrUnknownCustomer if the
// model does not hold it).
func Analyse(m *ledger.Model, f *Facts, id domain.CustomerID, asOf domain.Date, cfg *Config) (CustomerReport, error) {
	r, err := analyse(m, f, []domain.CustomerID{id}, asOf, cfg)
	if err != nil {
		return CustomerReport{}, err
	}
	return r[0], nil
}

// customerInput is what the rules of one customer read.
type customerInput struct {
	id       domain.CustomerID
	asOf     domain.Date
	position uint64 // the model's: the trigger of what only time moved
	profile  ledger.Profile
	invs     []ledger.InvoiceView
	fig      ledger.Figures
	facts    *customerFacts
	th       *Thresholds
	obs      []Observation
	drift    DriftState
}

func analyse(m *ledger.Model, f *Facts, ids []domain.CustomerID, asOf domain.Date, cfg *Config) ([]CustomerReport, error) {
	figs, err := ledger.CustomersFigures(m, ids, asOf, ledger.Config{})
	if err != nil {
		return nil, fmt.Errorf("signals: %w", err)
	}
	out := make([]CustomerReport, 0, len(ids))
	for i, id := range ids {
		p, err := ledger.CustomerProfile(m, id)
		if err != nil {
			return nil, fmt.Errorf("signals: %w", err)
		}
		invs, err := ledger.CustomerInvoices(m, id, asOf, false)
		if err != nil {
			return nil, fmt.Errorf("signals: %w", err)
		}
		in := &customerInput{id: id, asOf: asOf, position: m.Position(), profile: p, invs: invs, fig: figs[i],
			facts: f.of(id), th: cfg.For(p.Segment)}
		in.obs = observations(invs, in.facts, asOf)
		in.drift = Drift(in.obs, in.th.Drift)
		r := CustomerReport{CustomerID: id, AsOf: asOf, Segment: p.Segment, Drift: in.drift}
		var sigs []Signal
		add := func(s Signal, ok bool) {
			if ok {
				sigs = append(sigs, s)
			}
		}
		add(driftSignal(in))
		add(silentSignal(in))
		add(limitSignal(in))
		add(agingSignal(in))
		add(firstOverdueSignal(in))
		b := behaviourOf(in)
		add(b.partial, b.partialOK)
		add(b.disputes, b.disputesOK)
		add(b.reversals, b.reversalsOK)
		sigs = append(sigs, b.promises...)
		sigs = append(sigs, b.plans...)
		sigs = append(sigs, deadlineSignals(in)...)
		r.Score = riskScore(in, b.incidents)
		add(scoreSignal(in, r.Score))
		for j := range sigs {
			sigs[j].CustomerID, sigs[j].Segment = id, p.Segment
			sigs[j].Explanation.AsOf = asOf.String()
			if sigs[j].TriggerPosition == 0 {
				sigs[j].TriggerPosition = in.position
			}
		}
		r.Signals = sigs
		out = append(out, r)
	}
	return out, nil
}

// openAt is an invoice's open amount at the end of asOf, from its dated settlements.
func openAt(v *ledger.InvoiceView, asOf domain.Date) int64 {
	if v.IssueDate.After(asOf) {
		return 0
	}
	o := v.Amount.Minor
	for _, s := range v.Settlements {
		if !s.On.After(asOf) {
			o -= s.Amount.Minor
		}
	}
	return o
}

func (in *customerInput) invoiceMover(v *ledger.InvoiceView, value int64, unit, note string) Mover {
	return Mover{Kind: MovedInvoice, ID: string(v.InvoiceID), Position: in.facts.invoices[v.InvoiceID],
		On: v.DueDate, Value: ptr(value), Unit: unit, Note: note}
}

func maxPosition(ms []Mover) uint64 {
	var p uint64
	for _, m := range ms {
		p = max(p, m.Position)
	}
	return p
}

func days(centidays int64) string {
	return domain.FormatMinor(centidays, 2)
}

// driftSignal: design §Early-warning signals, payment drift.
func driftSignal(in *customerInput) (Signal, bool) {
	d := in.drift
	if d.Severity == 0 {
		return Signal{}, false
	}
	cfg := in.th.Drift
	e := Explanation{
		Summary: fmt.Sprintf("days beyond terms drifting: last %s days, EWMA %s days, against a baseline of %s ± %s days over %d settled invoices",
			days(d.LastCentidays), days(d.EWMACentidays), days(d.BaselineMeanCentidays), days(d.BaselineSigmaCentidays), d.BaselineCount),
		Baseline: []Figure{fig("dbt_mean", d.BaselineMeanCentidays, UnitCentidays), fig("dbt_sigma", d.BaselineSigmaCentidays, UnitCentidays),
			fig("invoices", int64(d.BaselineCount), UnitCount)},
		Current: []Figure{fig("dbt_last", d.LastCentidays, UnitCentidays), fig("ewma", d.EWMACentidays, UnitCentidays),
			fig("cusum", d.CUSUMSigmaBP, UnitSigmaBP)},
		Threshold: []Figure{fig("cusum_h", cfg.HSigmaBP, UnitSigmaBP), fig("cusum_k", cfg.KSigmaBP, UnitSigmaBP),
			fig("cusum_critical", cfg.CriticalSigmaBP, UnitSigmaBP), fig("ewma_limit", d.EWMALimitCentidays, UnitCentidays)},
	}
	for _, o := range d.Run {
		e.addMovers(Mover{Kind: MovedPayment, ID: string(o.PaymentID), Position: o.Position, On: o.SettledOn,
			Value: ptr(o.DBTCentidays), Unit: UnitCentidays, Note: "settled invoice " + string(o.InvoiceID)})
	}
	return Signal{Rule: RulePaymentDrift, Subject: string(in.id), Severity: d.Severity,
		Message:         fmt.Sprintf("%s pays later than its baseline: %s days beyond terms, baseline %s", in.id, days(d.LastCentidays), days(d.BaselineMeanCentidays)),
		TriggerPosition: maxPosition(e.Moved), Explanation: e}, true
}

// typicalDBTCentidays is the median days beyond terms of the settled invoices (0 with none).
func typicalDBTCentidays(obs []Observation) int64 {
	if len(obs) == 0 {
		return 0
	}
	xs := make([]int64, len(obs))
	for i, o := range obs {
		xs[i] = o.DBTCentidays
	}
	return median(xs)
}

// silentSignal: design §Early-warning signals, silent non-payment — open invoices past the
// customer's expected payment date (due + typical DBT + tolerance), which payment-based drift
// cannot see.
func silentSignal(in *customerInput) (Signal, bool) {
	cfg := in.th.Silent
	typical := typicalDBTCentidays(in.obs)
	tolerance := cfg.ToleranceDays
	var sigma int64
	if len(in.obs) >= 2 && cfg.ToleranceSigmaBP > 0 {
		var sum, sum2 int64
		for _, o := range in.obs {
			sum, sum2 = sum+o.DBTCentidays, sum2+o.DBTCentidays*o.DBTCentidays
		}
		_, sigma = meanSigmaOf(int64(len(in.obs)), sum, sum2)
		tolerance = max(tolerance, int(divRound(sigma*cfg.ToleranceSigmaBP, 10_000*100)))
	}
	shift := int(divRound(typical, 100)) + tolerance
	var e Explanation
	var worst, total int64
	var n int
	for i := range in.invs {
		v := &in.invs[i]
		open := openAt(v, in.asOf)
		if open <= 0 || v.Disputed || v.PlanID != "" || v.WrittenOff {
			continue
		}
		late := int64(v.DueDate.AddDays(shift).DaysUntil(in.asOf))
		if late <= 0 {
			continue
		}
		n++
		total += open
		worst = max(worst, late)
		e.addMovers(in.invoiceMover(v, open, UnitMinor, fmt.Sprintf("due %s, expected by %s", v.DueDate, v.DueDate.AddDays(shift))))
	}
	if n == 0 {
		return Signal{}, false
	}
	sev := SeverityWarning
	if worst >= int64(cfg.CriticalDays) {
		sev = SeverityCritical
	}
	ccy := in.profile.Currency
	e.Summary = fmt.Sprintf("%d open invoices past their expected payment date (due + typical %s days + %d days tolerance), the oldest by %d days",
		n, days(typical), tolerance, worst)
	e.Baseline = []Figure{fig("typical_dbt", typical, UnitCentidays), fig("dbt_sigma", sigma, UnitCentidays), fig("settled_invoices", int64(len(in.obs)), UnitCount)}
	e.Current = []Figure{fig("invoices", int64(n), UnitCount), fig("days_past_expected_max", worst, UnitDays), moneyFig("open", domain.Money{Minor: total, Ccy: ccy})}
	e.Threshold = []Figure{fig("tolerance", int64(tolerance), UnitDays), fig("critical_after", int64(cfg.CriticalDays), UnitDays)}
	return Signal{Rule: RuleSilentNonPayment, Subject: string(in.id), Severity: sev,
		Message: fmt.Sprintf("%s has %d invoices unpaid past their expected payment date, the oldest by %d days", in.id, n, worst), Explanation: e}, true
}

// limitSignal: design §Early-warning signals, limit — exposure at 80 % / 100 % of the limit.
func limitSignal(in *customerInput) (Signal, bool) {
	cfg := in.th.Limit
	exposure, limit := in.fig.Exposure.Minor, in.profile.CreditLimit.Minor
	if exposure <= 0 {
		return Signal{}, false
	}
	var sev Severity
	var util int64
	hold := false
	if limit <= 0 {
		sev = SeverityCritical // a zero limit means: extend no more credit (design §Events)
	} else {
		util = ratioBP(exposure, limit)
		switch {
		case util >= cfg.CriticalBP:
			sev = SeverityCritical
		case util >= cfg.WarningBP:
			sev = SeverityWarning
		case util >= cfg.WarningBP-cfg.ClearMarginBP:
			sev, hold = SeverityWarning, true
		default:
			return Signal{}, false
		}
	}
	ccy := in.profile.Currency
	e := Explanation{
		Baseline:  []Figure{moneyFig("credit_limit", in.profile.CreditLimit)},
		Current:   []Figure{moneyFig("exposure", domain.Money{Minor: exposure, Ccy: ccy}), fig("utilisation", util, UnitBP)},
		Threshold: []Figure{fig("warning", cfg.WarningBP, UnitBP), fig("critical", cfg.CriticalBP, UnitBP)},
	}
	if limit <= 0 {
		e.Summary = fmt.Sprintf("exposure %s with a zero credit limit (extend no more credit)", domain.Money{Minor: exposure, Ccy: ccy})
	} else {
		e.Summary = fmt.Sprintf("exposure %s is %s %% of the %s limit", domain.Money{Minor: exposure, Ccy: ccy}, days(util), in.profile.CreditLimit)
	}
	if in.facts.limit > 0 {
		e.addMovers(Mover{Kind: MovedLimit, ID: string(in.id), Position: in.facts.limit, Value: ptr(limit), Unit: UnitMinor})
	}
	// The newest open invoices are what pushed the exposure up.
	var open []*ledger.InvoiceView
	for i := range in.invs {
		if v := &in.invs[i]; openAt(v, in.asOf) > 0 {
			open = append(open, v)
		}
	}
	for _, v := range open[max(0, len(open)-5):] {
		e.addMovers(in.invoiceMover(v, openAt(v, in.asOf), UnitMinor, "open"))
	}
	return Signal{Rule: RuleCreditLimit, Subject: string(in.id), Severity: sev, Hold: hold,
		Message:         fmt.Sprintf("%s: %s", in.id, e.Summary),
		TriggerPosition: maxPosition(e.Moved), Explanation: e}, true
}

// agingSignal: design §Early-warning signals, aging escalation — the oldest aging bucket
// holding overdue money; moving into an older bucket raises the severity.
func agingSignal(in *customerInput) (Signal, bool) {
	cfg := in.th.Aging
	oldest := -1
	for i, b := range in.fig.Aging {
		if i > 0 && b.Amount.Minor > 0 {
			oldest = i
		}
	}
	if oldest < 1 {
		return Signal{}, false
	}
	b := in.fig.Aging[oldest]
	from := *b.MinDaysPastDue
	var sev Severity
	switch {
	case from >= cfg.CriticalFromDays:
		sev = SeverityCritical
	case from >= cfg.WarningFromDays:
		sev = SeverityWarning
	case from >= cfg.InfoFromDays:
		sev = SeverityInfo
	default:
		return Signal{}, false
	}
	e := Explanation{
		Summary:   fmt.Sprintf("%s overdue in the %s days bucket (%s overdue in all)", b.Amount, b.Label, in.fig.Overdue),
		Current:   []Figure{fig("oldest_bucket_from_days", int64(from), UnitDays), moneyFig("oldest_bucket", b.Amount), moneyFig("overdue", in.fig.Overdue)},
		Threshold: []Figure{fig("info_from", int64(cfg.InfoFromDays), UnitDays), fig("warning_from", int64(cfg.WarningFromDays), UnitDays), fig("critical_from", int64(cfg.CriticalFromDays), UnitDays)},
	}
	for i := range in.invs {
		v := &in.invs[i]
		if open := openAt(v, in.asOf); open > 0 && v.PlanID == "" && v.DaysPastDue >= from {
			e.addMovers(in.invoiceMover(v, open, UnitMinor, fmt.Sprintf("%d days past due", v.DaysPastDue)))
		}
	}
	return Signal{Rule: RuleAgingEscalation, Subject: string(in.id), Severity: sev,
		Message: fmt.Sprintf("%s: %s overdue more than %d days", in.id, b.Amount, from-1), Explanation: e}, true
}

// firstOverdueSignal: design §Early-warning signals, "first overdue for a customer who was
// always on time".
func firstOverdueSignal(in *customerInput) (Signal, bool) {
	cfg := in.th.Aging
	if len(in.obs) < cfg.FirstOverdueMinHistory {
		return Signal{}, false
	}
	for _, o := range in.obs {
		if o.DBTCentidays > int64(cfg.FirstOverdueGraceDays)*100 {
			return Signal{}, false
		}
	}
	var e Explanation
	for i := range in.invs {
		v := &in.invs[i]
		if open := openAt(v, in.asOf); open > 0 && !v.Disputed && v.DaysPastDue > cfg.FirstOverdueGraceDays {
			e.addMovers(in.invoiceMover(v, open, UnitMinor, fmt.Sprintf("%d days past due", v.DaysPastDue)))
		}
	}
	if len(e.Moved) == 0 {
		return Signal{}, false
	}
	e.Summary = fmt.Sprintf("first overdue invoice of a customer who paid its %d settled invoices on time", len(in.obs))
	e.Baseline = []Figure{fig("settled_on_time", int64(len(in.obs)), UnitCount)}
	e.Current = []Figure{fig("overdue_invoices", int64(len(e.Moved)+e.MovedOmitted), UnitCount)}
	e.Threshold = []Figure{fig("grace", int64(cfg.FirstOverdueGraceDays), UnitDays), fig("min_history", int64(cfg.FirstOverdueMinHistory), UnitCount)}
	return Signal{Rule: RuleFirstOverdue, Subject: string(in.id), Severity: SeverityWarning,
		Message: fmt.Sprintf("%s, always on time so far, has an overdue invoice", in.id), Explanation: e}, true
}

// behaviour holds the behaviour signals of one customer and its recent incidents.
type behaviour struct {
	partial, disputes, reversals       Signal
	partialOK, disputesOK, reversalsOK bool
	promises, plans                    []Signal
	incidents                          int64 // disputes, reversals, broken promises, missed instalments in the window
	incidentMovers                     []Mover
}

// shareRise is one behaviour share: events among a base, in the window and before it.
type shareRise struct {
	windowEvents, windowBase, historyEvents, historyBase int64
}

func (s shareRise) windowBP() int64  { return ratioBP(s.windowEvents, s.windowBase) }
func (s shareRise) historyBP() int64 { return ratioBP(s.historyEvents, s.historyBase) }

// holds reports whether the window's share rose: at least minEvents events, a share riseBP
// or more above the history's, and an excess over what the history's share predicts that
// chance does not explain — z·σ of the binomial count, zBP the z in basis points (the
// demo portfolio's customers dispute 23 % of their invoices on average, and two disputes in
// a quarter of six invoices happen to one in twelve of them by chance alone).
func (s shareRise) holds(minEvents int, riseBP, zBP int64) bool {
	if s.windowEvents < int64(minEvents) || s.windowBP() < s.historyBP()+riseBP {
		return false
	}
	if zBP == 0 || s.historyBase == 0 {
		return true
	}
	// Excess = events − base·p and its variance base·p·(1 − p), p the history's share in
	// bp; both sides × 10⁴ and squared, in integers: excess² ≥ z² · variance.
	p := s.historyBP()
	excess := s.windowEvents*10_000 - s.windowBase*p
	variance := s.windowBase * p * (10_000 - p) // × 10⁸
	return excess > 0 && excess*excess >= zBP*zBP/10_000*variance/10_000
}

func (s shareRise) explain(e *Explanation, what string, minEvents int, riseBP int64) {
	e.Baseline = []Figure{fig(what+"_share_history", s.historyBP(), UnitBP), fig(what+"_history", s.historyEvents, UnitCount)}
	e.Current = []Figure{fig(what+"_share_window", s.windowBP(), UnitBP), fig(what+"_window", s.windowEvents, UnitCount)}
	e.Threshold = []Figure{fig("rise", riseBP, UnitBP), fig("min_events", int64(minEvents), UnitCount)}
}

// behaviourOf: design §Early-warning signals, behaviour — partial payments, disputes,
// broken promises, missed instalments, reversed payments.
func behaviourOf(in *customerInput) behaviour {
	cfg := in.th.Behaviour
	from := in.asOf.AddDays(-cfg.WindowDays + 1)
	inWindow := func(d domain.Date) bool { return !d.Before(from) && !d.After(in.asOf) }
	var b behaviour

	// Partial payments: cash settlements that left their invoice open, among all cash
	// settlements.
	var partial shareRise
	var partialMovers []Mover
	for i := range in.invs {
		v := &in.invs[i]
		open := v.Amount.Minor
		for _, s := range v.Settlements {
			open -= s.Amount.Minor
			if s.Kind != "cash" || s.Reversed || s.PaidOn.After(in.asOf) {
				continue
			}
			isPartial := int64(0)
			if open > 0 {
				isPartial = 1
			}
			if inWindow(s.PaidOn) {
				partial.windowBase++
				partial.windowEvents += isPartial
				if isPartial == 1 {
					partialMovers = append(partialMovers, Mover{Kind: MovedPayment, ID: s.Source, Position: in.facts.payments[domain.PaymentID(s.Source)],
						On: s.PaidOn, Value: ptr(s.Amount.Minor), Unit: UnitMinor, Note: "part of invoice " + string(v.InvoiceID) + ", left open"})
				}
			} else if s.PaidOn.Before(from) {
				partial.historyBase++
				partial.historyEvents += isPartial
			}
		}
	}
	if partial.holds(cfg.MinPartialPayments, cfg.RiseBP, cfg.SignificanceZBP) {
		e := Explanation{Summary: fmt.Sprintf("%d of %d payments in the last %d days were partial (%s %%, %s %% before)",
			partial.windowEvents, partial.windowBase, cfg.WindowDays, days(partial.windowBP()), days(partial.historyBP()))}
		partial.explain(&e, "partial_payments", cfg.MinPartialPayments, cfg.RiseBP)
		slices.SortStableFunc(partialMovers, func(a, b Mover) int { return -a.On.DaysUntil(b.On) })
		e.addMovers(partialMovers...)
		b.partial, b.partialOK = Signal{Rule: RulePartialPayments, Subject: string(in.id), Severity: SeverityWarning,
			Message: fmt.Sprintf("%s pays more invoices in part: %s", in.id, e.Summary), TriggerPosition: maxPosition(e.Moved), Explanation: e}, true
	}

	// Disputes among the invoices at stake in each period: those issued in it and those
	// disputed in it (a dispute usually comes after the due date, on an invoice issued
	// before the window). An invoice counts once per period.
	var disputes shareRise
	issued := make(map[domain.InvoiceID]domain.Date, len(in.invs))
	for i := range in.invs {
		v := &in.invs[i]
		issued[v.InvoiceID] = v.IssueDate
		if inWindow(v.IssueDate) {
			disputes.windowBase++
		} else if v.IssueDate.Before(from) {
			disputes.historyBase++
		}
	}
	var disputeMovers []Mover
	seenWindow, seenHistory := map[string]bool{}, map[string]bool{}
	for _, d := range in.facts.disputes {
		inv := issued[domain.InvoiceID(d.id)]
		switch {
		case inWindow(d.on) && !seenWindow[d.id]:
			seenWindow[d.id] = true
			disputes.windowEvents++
			if !inWindow(inv) {
				disputes.windowBase++
			}
			disputeMovers = append(disputeMovers, Mover{Kind: MovedDispute, ID: d.id, Position: d.position, On: d.on})
		case d.on.Before(from) && !seenHistory[d.id]:
			seenHistory[d.id] = true
			disputes.historyEvents++
		}
	}
	b.incidents += disputes.windowEvents
	b.incidentMovers = append(b.incidentMovers, disputeMovers...)
	if disputes.holds(cfg.MinDisputes, cfg.RiseBP, cfg.SignificanceZBP) {
		e := Explanation{Summary: fmt.Sprintf("%d invoices disputed in the last %d days of %d at stake (%s %%, %s %% before)",
			disputes.windowEvents, cfg.WindowDays, disputes.windowBase, days(disputes.windowBP()), days(disputes.historyBP()))}
		disputes.explain(&e, "disputes", cfg.MinDisputes, cfg.RiseBP)
		e.addMovers(disputeMovers...)
		b.disputes, b.disputesOK = Signal{Rule: RuleDisputes, Subject: string(in.id), Severity: SeverityWarning,
			Message: fmt.Sprintf("%s disputes more invoices: %s", in.id, e.Summary), TriggerPosition: maxPosition(e.Moved), Explanation: e}, true
	}

	// Reversed payments among the payments received.
	var reversals shareRise
	for _, p := range in.profile.Payments {
		if inWindow(p.ReceivedOn) {
			reversals.windowBase++
		} else if p.ReceivedOn.Before(from) {
			reversals.historyBase++
		}
	}
	var reversalMovers []Mover
	for _, r := range in.facts.reversals {
		switch {
		case inWindow(r.on):
			reversals.windowEvents++
			reversalMovers = append(reversalMovers, Mover{Kind: MovedReversal, ID: r.id, Position: r.position, On: r.on})
		case r.on.Before(from):
			reversals.historyEvents++
		}
	}
	b.incidents += reversals.windowEvents
	b.incidentMovers = append(b.incidentMovers, reversalMovers...)
	if reversals.holds(cfg.MinReversals, cfg.RiseBP, cfg.SignificanceZBP) {
		e := Explanation{Summary: fmt.Sprintf("%d payments reversed in the last %d days (%s %% of payments, %s %% before)",
			reversals.windowEvents, cfg.WindowDays, days(reversals.windowBP()), days(reversals.historyBP()))}
		reversals.explain(&e, "reversals", cfg.MinReversals, cfg.RiseBP)
		e.addMovers(reversalMovers...)
		b.reversals, b.reversalsOK = Signal{Rule: RuleReversals, Subject: string(in.id), Severity: SeverityWarning,
			Message: fmt.Sprintf("%s: %s", in.id, e.Summary), TriggerPosition: maxPosition(e.Moved), Explanation: e}, true
	}

	b.promises = brokenPromises(in, &b)
	b.plans = missedInstalments(in, &b)
	return b
}

// cashOn sums the cash settled on the invoices ids (all invoices when ids is empty) paid
// within [from, to], from payments not reversed by asOf.
func (in *customerInput) cashOn(ids []domain.InvoiceID, from, to domain.Date) int64 {
	var sum int64
	for i := range in.invs {
		v := &in.invs[i]
		if len(ids) > 0 && !slices.Contains(ids, v.InvoiceID) {
			continue
		}
		for _, s := range v.Settlements {
			if s.Kind == "cash" && !s.Reversed && !s.PaidOn.Before(from) && !s.PaidOn.After(to) && !s.On.After(in.asOf) {
				sum += s.Amount.Minor
			}
		}
	}
	return sum
}

// brokenPromises: a promise whose date (+ grace) has passed without the promised amount
// received between the promise and its date, while its date is within the behaviour window
// and what it covered is still open (its invoices, or any overdue amount).
func brokenPromises(in *customerInput, b *behaviour) []Signal {
	cfg := in.th.Behaviour
	var out []Signal
	ccy := in.profile.Currency
	for _, p := range in.facts.promises {
		if !in.asOf.After(p.PromisedFor.AddDays(cfg.PromiseGraceDays)) || p.RecordedOn.After(in.asOf) ||
			p.PromisedFor.DaysUntil(in.asOf) >= cfg.WindowDays {
			continue
		}
		var received int64
		if len(p.InvoiceIDs) > 0 {
			received = in.cashOn(p.InvoiceIDs, p.RecordedOn, p.PromisedFor)
		} else {
			for _, pay := range in.profile.Payments {
				if !pay.ReceivedOn.Before(p.RecordedOn) && !pay.ReceivedOn.After(p.PromisedFor) &&
					(pay.ReversedOn.IsZero() || pay.ReversedOn.After(in.asOf)) {
					received += pay.Amount.Minor
				}
			}
		}
		if received >= p.Amount.Minor {
			continue
		}
		var stillOpen int64
		e := Explanation{}
		for i := range in.invs {
			v := &in.invs[i]
			if slices.Contains(p.InvoiceIDs, v.InvoiceID) {
				if o := openAt(v, in.asOf); o > 0 {
					stillOpen += o
					e.addMovers(in.invoiceMover(v, o, UnitMinor, "covered by the promise, still open"))
				}
			}
		}
		if len(p.InvoiceIDs) == 0 {
			stillOpen = in.fig.Overdue.Minor
		}
		if stillOpen <= 0 {
			continue
		}
		b.incidents++
		pm := Mover{Kind: MovedPromise, ID: p.PromiseID, Position: p.position, On: p.PromisedFor, Value: ptr(p.Amount.Minor), Unit: UnitMinor}
		b.incidentMovers = append(b.incidentMovers, pm)
		e.Moved = append([]Mover{pm}, e.Moved...)
		e.Summary = fmt.Sprintf("promise %s of %s for %s (recorded %s) broken: %s received by then",
			p.PromiseID, p.Amount, p.PromisedFor, p.RecordedOn, domain.Money{Minor: received, Ccy: ccy})
		e.Baseline = []Figure{moneyFig("promised", p.Amount)}
		e.Current = []Figure{moneyFig("received_by_date", domain.Money{Minor: received, Ccy: ccy}), moneyFig("still_open", domain.Money{Minor: stillOpen, Ccy: ccy})}
		e.Threshold = []Figure{fig("grace", int64(cfg.PromiseGraceDays), UnitDays)}
		out = append(out, Signal{Rule: RuleBrokenPromise, Subject: p.PromiseID, Severity: SeverityWarning,
			Message: fmt.Sprintf("%s broke its promise to pay %s by %s", in.id, p.Amount, p.PromisedFor), TriggerPosition: p.position, Explanation: e})
	}
	return out
}

// missedInstalments: a payment plan whose cash since its agreement is behind the instalments
// due (+ grace) by the as-of date, while its invoices are still open.
func missedInstalments(in *customerInput, b *behaviour) []Signal {
	cfg := in.th.Behaviour
	var out []Signal
	ccy := in.profile.Currency
	for _, p := range in.facts.plans {
		if p.AgreedOn.After(in.asOf) {
			continue
		}
		var open int64
		for i := range in.invs {
			if slices.Contains(p.InvoiceIDs, in.invs[i].InvoiceID) {
				open += openAt(&in.invs[i], in.asOf)
			}
		}
		if open <= 0 {
			continue
		}
		paid := in.cashOn(p.InvoiceIDs, p.AgreedOn, in.asOf)
		var due, cum int64
		missed := 0
		e := Explanation{}
		for k, inst := range p.Instalments {
			if !in.asOf.After(inst.Due.AddDays(cfg.InstalmentGraceDays)) {
				break
			}
			cum += inst.Amount.Minor
			due = cum
			if paid < cum {
				missed++
				e.addMovers(Mover{Kind: MovedInstalment, ID: fmt.Sprintf("%s#%d", p.PlanID, k+1), Position: p.position, On: inst.Due,
					Value: ptr(inst.Amount.Minor), Unit: UnitMinor, Note: "not covered by the cash received since the agreement"})
			}
		}
		if missed == 0 {
			continue
		}
		b.incidents += int64(missed)
		b.incidentMovers = append(b.incidentMovers, e.Moved...)
		sev := SeverityWarning
		if missed >= cfg.MissedCriticalAtLeast {
			sev = SeverityCritical
		}
		e.Moved = append([]Mover{{Kind: MovedPlan, ID: p.PlanID, Position: p.position, On: p.AgreedOn}}, e.Moved...)
		e.Summary = fmt.Sprintf("payment plan %s behind: %s due by %s, %s paid since %s; %d instalments missed",
			p.PlanID, domain.Money{Minor: due, Ccy: ccy}, in.asOf, domain.Money{Minor: paid, Ccy: ccy}, p.AgreedOn, missed)
		e.Baseline = []Figure{moneyFig("due_to_date", domain.Money{Minor: due, Ccy: ccy})}
		e.Current = []Figure{moneyFig("paid_since_agreement", domain.Money{Minor: paid, Ccy: ccy}), fig("missed_instalments", int64(missed), UnitCount)}
		e.Threshold = []Figure{fig("grace", int64(cfg.InstalmentGraceDays), UnitDays), fig("critical_at", int64(cfg.MissedCriticalAtLeast), UnitCount)}
		out = append(out, Signal{Rule: RuleMissedInstalment, Subject: p.PlanID, Severity: sev,
			Message: fmt.Sprintf("%s missed %d instalments of payment plan %s", in.id, missed, p.PlanID), TriggerPosition: p.position, Explanation: e})
	}
	return out
}

// deadlineSignals: design §Early-warning signals, deadlines — credit-insurance declaration
// due (design §Metrics: "warn before it passes") and terms beyond the LME cap.
func deadlineSignals(in *customerInput) []Signal {
	cfg := in.th.Deadlines
	var out []Signal
	p := in.profile
	insured := p.InsuranceCover.Minor > 0 && p.DeclarationDays > 0
	for i := range in.invs {
		v := &in.invs[i]
		open := openAt(v, in.asOf)
		if open <= 0 || v.WrittenOff {
			continue
		}
		if insured {
			deadline := v.DueDate.AddDays(p.DeclarationDays)
			left := in.asOf.DaysUntil(deadline)
			if left <= cfg.InsuranceWarnDays {
				sev, what := SeverityWarning, fmt.Sprintf("due in %d days", left)
				if left < 0 {
					sev, what = SeverityCritical, fmt.Sprintf("passed %d days ago", -left)
				}
				e := Explanation{
					Summary:   fmt.Sprintf("invoice %s (due %s, %s open) must be declared to %s by %s: %s", v.InvoiceID, v.DueDate, v.Open, p.Insurer, deadline, what),
					Baseline:  []Figure{fig("declaration_days", int64(p.DeclarationDays), UnitDays), moneyFig("cover", p.InsuranceCover)},
					Current:   []Figure{fig("days_left", int64(left), UnitDays), moneyFig("open", domain.Money{Minor: open, Ccy: p.Currency})},
					Threshold: []Figure{fig("warn_within", int64(cfg.InsuranceWarnDays), UnitDays)},
				}
				e.addMovers(in.invoiceMover(v, open, UnitMinor, "deadline "+deadline.String()))
				if in.facts.insurance > 0 {
					e.addMovers(Mover{Kind: MovedInsurance, ID: p.Insurer, Position: in.facts.insurance})
				}
				out = append(out, Signal{Rule: RuleInsuranceDeadline, Subject: string(v.InvoiceID), Severity: sev,
					Message: fmt.Sprintf("%s: insurance declaration of invoice %s %s (%s)", in.id, v.InvoiceID, what, deadline), Explanation: e})
			}
		}
		if cfg.TermsBeyondCap && v.LMECapExceeded {
			terms := v.IssueDate.DaysUntil(v.DueDate)
			e := Explanation{
				Summary:   fmt.Sprintf("invoice %s issued %s is due %s: %d days, beyond the LME cap (60 days, or 45 days end of month)", v.InvoiceID, v.IssueDate, v.DueDate, terms),
				Current:   []Figure{fig("terms", int64(terms), UnitDays)},
				Threshold: []Figure{fig("cap", 60, UnitDays)},
			}
			e.addMovers(in.invoiceMover(v, int64(terms), UnitDays, "terms"))
			out = append(out, Signal{Rule: RuleTermsBeyondCap, Subject: string(v.InvoiceID), Severity: SeverityInfo,
				Message:         fmt.Sprintf("%s: invoice %s on terms of %d days, beyond the legal cap", in.id, v.InvoiceID, terms),
				TriggerPosition: in.facts.invoices[v.InvoiceID], Explanation: e})
		}
	}
	return out
}

// portfolioSignals: design §Early-warning signals, portfolio — concentration above
// threshold and portfolio DSO drifting.
func portfolioSignals(m *ledger.Model, asOf domain.Date, cfg *Config) ([]Signal, error) {
	p := cfg.Portfolio
	var out []Signal
	conc, err := ledger.Concentration(m, ledger.Portfolio(), asOf)
	switch {
	case errors.Is(err, ledger.ErrMissingRate):
		// Mixed currencies without a rate at asOf: no concentration can be computed.
	case err != nil:
		return nil, fmt.Errorf("signals: concentration: %w", err)
	case conc.Customers >= p.MinCustomers:
		var sev Severity
		hold := false
		switch {
		case conc.Top1ShareBP >= p.Top1CriticalBP || conc.HHIBP >= p.HHICriticalBP:
			sev = SeverityCritical
		case conc.Top1ShareBP >= p.Top1WarningBP || conc.HHIBP >= p.HHIWarningBP:
			sev = SeverityWarning
		case conc.Top1ShareBP >= p.Top1WarningBP-p.ClearMarginBP || conc.HHIBP >= p.HHIWarningBP-p.ClearMarginBP:
			sev, hold = SeverityWarning, true
		}
		if sev != 0 {
			e := Explanation{
				AsOf:    asOf.String(),
				Summary: fmt.Sprintf("the largest customer holds %s %% of the exposure; HHI %d", days(conc.Top1ShareBP), conc.HHIBP),
				Current: []Figure{fig("top1_share", conc.Top1ShareBP, UnitBP), fig("top5_share", conc.Top5ShareBP, UnitBP),
					fig("hhi", conc.HHIBP, UnitBP), moneyFig("total_exposure", conc.TotalExposure), fig("customers", int64(conc.Customers), UnitCount)},
				Threshold: []Figure{fig("top1_warning", p.Top1WarningBP, UnitBP), fig("top1_critical", p.Top1CriticalBP, UnitBP),
					fig("hhi_warning", p.HHIWarningBP, UnitBP), fig("hhi_critical", p.HHICriticalBP, UnitBP)},
			}
			for _, c := range conc.Top[:min(5, len(conc.Top))] {
				e.addMovers(Mover{Kind: MovedCustomer, ID: string(c.CustomerID), Value: ptr(c.ShareBP), Unit: UnitBP, Note: "exposure " + c.Exposure.String()})
			}
			out = append(out, Signal{Rule: RuleConcentration, Subject: PortfolioSubject, Severity: sev, Hold: hold,
				Message: "portfolio concentration: " + e.Summary, TriggerPosition: m.Position(), Explanation: e})
		}
	}

	ends := make([]domain.Date, 0, p.DSOTrailingMonths+1)
	ends = append(ends, asOf)
	for k := 1; k <= p.DSOTrailingMonths; k++ {
		ends = append(ends, asOf.StartOfMonth().AddMonths(-k).EndOfMonth())
	}
	pts, err := ledger.PortfolioDSOHistory(m, ends)
	switch {
	case errors.Is(err, ledger.ErrMissingRate):
		return out, nil
	case err != nil:
		return nil, fmt.Errorf("signals: portfolio DSO: %w", err)
	}
	cur := pts[0]
	var sum, n int64
	var e Explanation
	for _, pt := range pts[1:] {
		if pt.Centidays != nil {
			sum += *pt.Centidays
			n++
			e.addMovers(Mover{Kind: MovedMonthEnd, ID: pt.End.String(), On: pt.End, Value: ptr(*pt.Centidays), Unit: UnitCentidays})
		}
	}
	if cur.Centidays == nil || n < int64(p.DSOMinMonths) || *cur.Centidays < p.DSOMinCentidays {
		return out, nil
	}
	mean := divRound(sum, n)
	if mean <= 0 {
		return out, nil
	}
	rise := ratioBP(*cur.Centidays-mean, mean)
	var sev Severity
	hold := false
	switch {
	case rise >= p.DSODriftCriticalBP:
		sev = SeverityCritical
	case rise >= p.DSODriftWarningBP:
		sev = SeverityWarning
	case rise >= p.DSODriftWarningBP-p.ClearMarginBP:
		sev, hold = SeverityWarning, true
	default:
		return out, nil
	}
	slices.Reverse(e.Moved)
	e.AsOf = asOf.String()
	e.Summary = fmt.Sprintf("portfolio DSO %s days, %s %% above its trailing %d-month mean of %s days", days(*cur.Centidays), days(rise), n, days(mean))
	e.Baseline = []Figure{fig("dso_trailing_mean", mean, UnitCentidays), fig("months", n, UnitCount)}
	e.Current = []Figure{fig("dso", *cur.Centidays, UnitCentidays), fig("rise", rise, UnitBP), moneyFig("ar", cur.ARClosing), moneyFig("credit_sales", cur.CreditSales)}
	e.Threshold = []Figure{fig("warning_rise", p.DSODriftWarningBP, UnitBP), fig("critical_rise", p.DSODriftCriticalBP, UnitBP)}
	out = append(out, Signal{Rule: RulePortfolioDSODrift, Subject: PortfolioSubject, Severity: sev, Hold: hold,
		Message: e.Summary, TriggerPosition: m.Position(), Explanation: e})
	return out, nil
}
