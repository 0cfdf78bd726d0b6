package signals

import (
	"encoding/json"
	"fmt"

	"github.com/encours/encours/domain"
)

// Severity is how urgent a signal is. The zero value is no severity (the signal does not
// hold); the order info < warning < critical is what min_severity filters compare.
type Severity uint8

// Severities.
const (
	SeverityInfo Severity = iota + 1
	SeverityWarning
	SeverityCritical
)

// String returns "info", "warning" or "critical".
func (s Severity) String() string {
	switch s {
	case SeverityInfo:
		return "info"
	case SeverityWarning:
		return "warning"
	case SeverityCritical:
		return "critical"
	}
	return fmt.Sprintf("severity(%d)", uint8(s))
}

// Valid reports whether s is one of the three severities.
func (s Severity) Valid() bool { return s >= SeverityInfo && s <= SeverityCritical }

// ParseSeverity reads "info", "warning" or "critical".
func ParseSeverity(v string) (Severity, error) {
	switch v {
	case "info":
		return SeverityInfo, nil
	case "warning":
		return SeverityWarning, nil
	case "critical":
		return SeverityCritical, nil
	}
	return 0, fmt.Errorf("severity %q: want info, warning or critical", v)
}

// MarshalJSON writes the severity's name.
func (s Severity) MarshalJSON() ([]byte, error) {
	if !s.Valid() {
		return nil, fmt.Errorf("marshal %v: not a severity", s)
	}
	return json.Marshal(s.String())
}

// UnmarshalJSON reads a severity's name.
func (s *Severity) UnmarshalJSON(b []byte) error {
	var v string
	if err := json.Unmarshal(b, &v); err != nil {
		return fmt.Errorf("severity: %w", err)
	}
	p, err := ParseSeverity(v)
	if err != nil {
		return err
	}
	*s = p
	return nil
}

// Rule names: the alert rule each signal maps to. They are a closed set (Prometheus labels,
// subscription filters) and are never renamed: they are stored in AlertRaised events.
const (
	RulePaymentDrift      = "payment_drift"         // subject: the customer
	RuleSilentNonPayment  = "silent_non_payment"    // subject: the customer
	RuleCreditLimit       = "credit_limit"          // subject: the customer
	RuleAgingEscalation   = "aging_escalation"      // subject: the customer
	RuleFirstOverdue      = "first_overdue"         // subject: the customer
	RulePartialPayments   = "partial_payments"      // subject: the customer
	RuleDisputes          = "disputes"              // subject: the customer
	RuleBrokenPromise     = "broken_promise"        // subject: the promise id
	RuleMissedInstalment  = "missed_instalment"     // subject: the payment plan id
	RuleReversals         = "payment_reversals"     // subject: the customer
	RuleInsuranceDeadline = "insurance_declaration" // subject: the invoice id
	RuleTermsBeyondCap    = "terms_beyond_cap"      // subject: the invoice id
	RuleRiskScore         = "risk_score"            // subject: the customer
	RuleConcentration     = "concentration"         // subject: "portfolio" (no customer)
	RulePortfolioDSODrift = "portfolio_dso_drift"   // subject: "portfolio" (no customer)
	// PortfolioSubject is the subject of the portfolio rules.
	PortfolioSubject = "portfolio"
)

// explanationMoversMax bounds the facts listed in one explanation (the newest are kept, the
// rest counted in MovedOmitted), so that an alert event stays small.
const explanationMoversMax = 24

// Rules lists every rule name, in a fixed order.
func Rules() []string {
	return []string{
		RulePaymentDrift, RuleSilentNonPayment, RuleCreditLimit, RuleAgingEscalation, RuleFirstOverdue,
		RulePartialPayments, RuleDisputes, RuleBrokenPromise, RuleMissedInstalment, RuleReversals,
		RuleInsuranceDeadline, RuleTermsBeyondCap, RuleRiskScore, RuleConcentration, RulePortfolioDSODrift,
	}
}

// IsRule reports whether name is one of Rules.
func IsRule(name string) bool {
	for _, r := range Rules() {
		if r == name {
			return true
		}
	}
	return false
}

// Signal is one condition that holds at the as-of date: the alert evaluator keeps one open
// alert per (CustomerID, Rule, Subject) while it holds.
type Signal struct {
	// CustomerID is empty for portfolio signals.
	CustomerID domain.CustomerID `json:"customer_id"`
	Segment    string            `json:"segment,omitempty"`
	Rule       string            `json:"rule"`
	Subject    string            `json:"subject"`
	Severity   Severity          `json:"severity"`
	Message    string            `json:"message"`
	// TriggerPosition is the log position of the latest fact that moved the signal, or the
	// model's position when only time moved it (an invoice falling overdue at a tick).
	TriggerPosition uint64      `json:"trigger_position"`
	Explanation     Explanation `json:"explanation"`
	// Hold marks a value inside the hysteresis band just below a threshold: not enough to
	// raise an alert, enough to keep an open one open (it never escalates one). Without the
	// band, a utilisation or a share hovering at its threshold raises and resolves an alert
	// at every event.
	Hold bool `json:"hold,omitempty"`
}

// Key identifies the alert a signal maps to.
func (s Signal) Key() Key { return Key{CustomerID: s.CustomerID, Rule: s.Rule, Subject: s.Subject} }

// Key is what one open alert is unique on: a rule and a subject, within a customer (or the
// portfolio, CustomerID empty).
type Key struct {
	CustomerID domain.CustomerID
	Rule       string
	Subject    string
}

// Explanation says why a signal holds (design §Early-warning signals: "baseline, current
// value, threshold, the invoices and payments that moved it"). Figures are integers with a
// unit; Moved lists the facts behind the current value, newest last, with their positions.
type Explanation struct {
	Summary   string   `json:"summary"`
	AsOf      string   `json:"as_of"`
	Baseline  []Figure `json:"baseline"`
	Current   []Figure `json:"current"`
	Threshold []Figure `json:"threshold"`
	Moved     []Mover  `json:"moved_by"`
	// MovedOmitted counts the facts left out of Moved (explanationMoversMax).
	MovedOmitted int `json:"moved_by_omitted,omitempty"`
}

// Units of Figure.Unit.
const (
	UnitCentidays = "centidays"   // hundredths of a day: 1800 is 18 days
	UnitDays      = "days"        // whole days
	UnitBP        = "bp"          // basis points: 8600 is 86 %
	UnitSigmaBP   = "sigma_bp"    // basis points of the baseline's σ: 45000 is 4.5 σ
	UnitMinor     = "minor_units" // money in minor units of Figure.Currency
	UnitCount     = "count"
	UnitPoints    = "points"      // risk score points, 0–100
	UnitCentipts  = "centipoints" // hundredths of a risk score point
)

// Figure is one number of an explanation.
type Figure struct {
	Name     string          `json:"name"`
	Value    int64           `json:"value"`
	Unit     string          `json:"unit"`
	Currency domain.Currency `json:"currency,omitempty"`
}

// Kinds of Mover.
const (
	MovedInvoice    = "invoice"
	MovedPayment    = "payment"
	MovedPromise    = "promise"
	MovedPlan       = "payment_plan"
	MovedDispute    = "dispute"
	MovedReversal   = "reversal"
	MovedLimit      = "credit_limit"
	MovedRating     = "rating"
	MovedCustomer   = "customer"
	MovedInsurance  = "insurance_cover"
	MovedMonthEnd   = "month_end"
	MovedInstalment = "instalment"
)

// Mover is one fact that moved a signal: an invoice, a payment, a promise... with its log
// position (0 when the fact is not an event, such as a month end) and what it contributed.
type Mover struct {
	Kind     string      `json:"kind"`
	ID       string      `json:"id"`
	Position uint64      `json:"position,omitempty"`
	On       domain.Date `json:"on"`
	// Value is the fact's own figure in Unit: an invoice's days beyond terms, an open amount.
	Value *int64 `json:"value,omitempty"`
	Unit  string `json:"unit,omitempty"`
	Note  string `json:"note,omitempty"`
}

// addMovers appends ms to e.Moved, keeping the newest explanationMoversMax.
func (e *Explanation) addMovers(ms ...Mover) {
	e.Moved = append(e.Moved, ms...)
	if over := len(e.Moved) - explanationMoversMax; over > 0 {
		e.Moved = append(e.Moved[:0:0], e.Moved[over:]...)
		e.MovedOmitted += over
	}
}

func fig(name string, v int64, unit string) Figure { return Figure{Name: name, Value: v, Unit: unit} }

func moneyFig(name string, m domain.Money) Figure {
	return Figure{Name: name, Value: m.Minor, Unit: UnitMinor, Currency: m.Ccy}
}

func ptr[T any](v T) *T { return &v }
