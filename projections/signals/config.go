package signals

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
)

// Config holds every threshold of the signals. DefaultConfig gives the defaults; LoadConfig
// reads a JSON file (the daemon's --signals-config) over them. The file has this shape
// (testdata/signals-config.json is a complete example), every field optional:
//
//	{
//	  "default":   { <Thresholds> },              // overrides the built-in defaults
//	  "segments":  { "sme": { <Thresholds> } },   // per segment, over "default"
//	  "portfolio": { <PortfolioThresholds> },
//	  "dunning":   { "steps": [ {"level": 1, "channel": "email", "after_due_days": 1}, ... ] }
//	}
//
// A segment's thresholds start from the default ones and replace only the fields the file
// gives, field by field (a segment can change drift's h and keep its k). Unknown fields are
// an error, so a misspelt threshold is never silently ignored.
type Config struct {
	Default   Thresholds            `json:"default"`
	Segments  map[string]Thresholds `json:"segments,omitempty"`
	Portfolio PortfolioThresholds   `json:"portfolio"`
	Dunning   DunningPlan           `json:"dunning"`
}

// Thresholds are the per-customer thresholds, chosen by the customer's segment.
type Thresholds struct {
	Drift     DriftConfig     `json:"payment_drift"`
	Silent    SilentConfig    `json:"silent_non_payment"`
	Limit     LimitConfig     `json:"credit_limit"`
	Aging     AgingConfig     `json:"aging"`
	Behaviour BehaviourConfig `json:"behaviour"`
	Deadlines DeadlineConfig  `json:"deadlines"`
	Score     ScoreConfig     `json:"risk_score"`
}

// DriftConfig sets the payment-drift charts (design §Early-warning signals, payment drift).
// Multiples of σ are in basis points: 5000 is 0.5 σ.
//
// The observations are the days beyond terms of each settled invoice, in settlement order
// (amount-weighted over its cash, design §Metrics DBT; disputed invoices and invoices under
// a payment plan are left out: their delay has its own signal). The charts arm once the
// baseline holds ArmAfterPayments observations; the baseline is the mean and σ (at least
// SigmaFloorDays) of the first ArmAfterPayments observations and then of each later one the
// charts kept in control, up to BaselinePayments (a self-starting chart: it grows with the
// customer's normal behaviour); an alarm takes back the observations of the CUSUM run that
// led to it, so neither a drift nor its first payments become the new normal. A new
// observation is
// standardised by σ·√(1 + 1/n), n the baseline's size, its spread around a mean estimated
// from n values.
type DriftConfig struct {
	ArmAfterPayments int `json:"arm_after_payments"` // minimum history before the charts arm
	BaselinePayments int `json:"baseline_payments"`  // size of the full baseline, ≥ ArmAfterPayments
	// SigmaFloorDays keeps a perfectly regular payer (σ ≈ 0) from alarming on one day late.
	SigmaFloorDays int `json:"sigma_floor_days"`
	// CUSUM: S = max(0, S + (x − μ)/σ − k); it signals at S ≥ h, is critical at S ≥
	// CriticalSigmaBP, and is capped there, so that a customer back to its baseline clears
	// within (critical − h) / k payments.
	KSigmaBP        int64 `json:"k_sigma_bp"`
	HSigmaBP        int64 `json:"h_sigma_bp"`
	CriticalSigmaBP int64 `json:"critical_sigma_bp"`
	// WinsorSigmaBP caps each observation at μ + WinsorSigmaBP·σ before it enters the charts,
	// so one isolated very late payment cannot alarm on its own (0: no cap).
	WinsorSigmaBP int64 `json:"winsor_sigma_bp"`
	// EWMA: z = λx + (1 − λ)z, started at μ when the chart arms; it signals when z exceeds
	// μ + L·σ·√(λ/(2−λ)·(1 − (1−λ)^2j)), j the observations since arming.
	EWMALambdaBP int64 `json:"ewma_lambda_bp"`
	EWMALimitBP  int64 `json:"ewma_limit_sigma_bp"`
	// RequireBoth: the warning needs both charts out of control (true) or either (false).
	RequireBoth bool `json:"require_both"`
}

// SilentConfig sets silent non-payment: an open invoice past its expected payment date, its
// due date + the customer's typical days beyond terms (median of its settled invoices) + a
// tolerance: ToleranceDays, or ToleranceSigmaBP standard deviations of the customer's days
// beyond terms if that is more. Critical once CriticalDays past the expected date.
type SilentConfig struct {
	ToleranceDays int `json:"tolerance_days"`
	CriticalDays  int `json:"critical_days"`
	// ToleranceSigmaBP widens the tolerance for an erratic payer to this many standard
	// deviations of its days beyond terms, in basis points, when that is more than
	// ToleranceDays (0: ToleranceDays only).
	ToleranceSigmaBP int64 `json:"tolerance_sigma_bp"`
}

// LimitConfig sets the credit-limit signal: utilisation (exposure / limit) at or above
// WarningBP is a warning, at or above CriticalBP critical; a zero limit with a positive
// exposure is critical (design §Events, CreditLimitChanged).
type LimitConfig struct {
	WarningBP  int64 `json:"warning_bp"`
	CriticalBP int64 `json:"critical_bp"`
	// ClearMarginBP is the hysteresis: an open alert stays open until utilisation falls
	// below WarningBP − ClearMarginBP.
	ClearMarginBP int64 `json:"clear_margin_bp"`
}

// AgingConfig sets aging escalation and first-ever overdue. The oldest aging bucket (the
// ledger's, design §Metrics aging) holding overdue money gives the severity of the
// aging-escalation alert by the bucket's first day past due: from InfoFromDays info, from
// WarningFromDays warning, from CriticalFromDays critical. First overdue: a customer whose
// FirstOverdueMinHistory or more settled invoices were all paid by their due date + grace,
// with an invoice now more than FirstOverdueGraceDays past due.
type AgingConfig struct {
	InfoFromDays           int `json:"info_from_days"`
	WarningFromDays        int `json:"warning_from_days"`
	CriticalFromDays       int `json:"critical_from_days"`
	FirstOverdueMinHistory int `json:"first_overdue_min_history"`
	FirstOverdueGraceDays  int `json:"first_overdue_grace_days"`
}

// BehaviourConfig sets the behaviour signals, which compare a recent window of WindowDays
// ending at the as-of date with the history before it. A share (partial payments among cash
// settlements, disputes among invoices issued, reversals among payments) signals when the
// window holds at least the minimum number of events, its share is RiseBP or more above the
// history's, and the excess is beyond SignificanceZBP standard deviations of what the
// history's share predicts. A promise broken (its date passed and the amount not received between the
// promise and its date) signals while its date is within the window and something it covered
// is still open; a payment plan behind its instalments signals until it catches up.
type BehaviourConfig struct {
	WindowDays int   `json:"window_days"`
	RiseBP     int64 `json:"rise_bp"`
	// SignificanceZBP is the z, in basis points, the window's excess over the history's
	// share must reach (a binomial test; 0: none).
	SignificanceZBP       int64 `json:"significance_z_bp"`
	MinPartialPayments    int   `json:"min_partial_payments"`
	MinDisputes           int   `json:"min_disputes"`
	MinReversals          int   `json:"min_reversals"`
	PromiseGraceDays      int   `json:"promise_grace_days"`
	InstalmentGraceDays   int   `json:"instalment_grace_days"`
	MissedCriticalAtLeast int   `json:"missed_instalments_critical"` // missed instalments for critical
}

// DeadlineConfig sets the deadline signals: an unpaid insured invoice whose declaration
// deadline (due + the cover's declaration days) is within InsuranceWarnDays is a warning,
// past it critical; an open invoice on terms beyond the LME cap is info.
type DeadlineConfig struct {
	InsuranceWarnDays int  `json:"insurance_warn_days"`
	TermsBeyondCap    bool `json:"terms_beyond_cap"` // raise the LME signal at all
}

// ScoreConfig sets the risk score 0–100 (higher is safer) and its alert. Each factor scores
// 0–100 and weighs its WeightsBP (which sum to 10 000); an external rating, when the
// customer has one, is blended in at ExternalBlendBP. Below WarningBelow the score is a
// warning, below CriticalBelow critical.
type ScoreConfig struct {
	Weights         ScoreWeights `json:"weights_bp"`
	ExternalBlendBP int64        `json:"external_blend_bp"`
	WarningBelow    int64        `json:"warning_below"`
	CriticalBelow   int64        `json:"critical_below"`
	// ClearMarginPoints is the hysteresis: an open alert stays open until the score is
	// WarningBelow + ClearMarginPoints or more.
	ClearMarginPoints int64 `json:"clear_margin_points"`
	// DBTZeroDays is the days beyond terms at which the payment factor scores 0;
	// UtilisationZeroBP the utilisation at which the limit factor does (it is 100 up to
	// half the limit); AgingZeroDays the days past due of the oldest overdue amount at which
	// the aging factor does; IncidentPoints what each recent incident costs.
	DBTZeroDays       int   `json:"dbt_zero_days"`
	UtilisationZeroBP int64 `json:"utilisation_zero_bp"`
	AgingZeroDays     int   `json:"aging_zero_days"`
	IncidentPoints    int64 `json:"incident_points"`
}

// ScoreWeights weigh the risk score's factors, in basis points of the internal score.
type ScoreWeights struct {
	Payment     int64 `json:"payment"`     // days beyond terms, amount-weighted
	Overdue     int64 `json:"overdue"`     // share of open invoices past due
	Utilisation int64 `json:"utilisation"` // exposure / limit
	Aging       int64 `json:"aging"`       // days past due of the oldest overdue amount
	Drift       int64 `json:"drift"`       // the drift CUSUM against its thresholds
	Incidents   int64 `json:"incidents"`   // disputes, reversals, broken promises, missed instalments in the window
}

func (w ScoreWeights) sum() int64 {
	return w.Payment + w.Overdue + w.Utilisation + w.Aging + w.Drift + w.Incidents
}

// PortfolioThresholds set the portfolio signals: concentration (top-1 share or HHI of
// exposure, design §Metrics concentration) from MinCustomers customers with a positive
// exposure; DSO drift, the period DSO at the as-of date against the mean of the DSOs at the
// DSOTrailingMonths previous month ends (at least DSOMinMonths of them with a value).
type PortfolioThresholds struct {
	MinCustomers       int   `json:"min_customers"`
	Top1WarningBP      int64 `json:"top1_warning_bp"`
	Top1CriticalBP     int64 `json:"top1_critical_bp"`
	HHIWarningBP       int64 `json:"hhi_warning_bp"`
	HHICriticalBP      int64 `json:"hhi_critical_bp"`
	DSOTrailingMonths  int   `json:"dso_trailing_months"`
	DSOMinMonths       int   `json:"dso_min_months"`
	DSODriftWarningBP  int64 `json:"dso_drift_warning_bp"`  // rise over the trailing mean
	DSODriftCriticalBP int64 `json:"dso_drift_critical_bp"` // idem
	DSOMinCentidays    int64 `json:"dso_min_centidays"`     // no drift below this DSO
	// ClearMarginBP is the hysteresis of both: an open alert stays open until the top-1
	// share and the HHI are below their warning level − ClearMarginBP, and the DSO rise
	// below its warning level − ClearMarginBP.
	ClearMarginBP int64 `json:"clear_margin_bp"`
}

// DunningPlan is the reminder plan the worklist follows: for an overdue invoice, the step
// after the last level sent, on its due date + AfterDueDays.
type DunningPlan struct {
	Steps []DunningStep `json:"steps"`
}

// DunningStep is one level of the dunning plan.
type DunningStep struct {
	Level        int    `json:"level"`
	Channel      string `json:"channel"` // email, letter, phone, formal_notice
	AfterDueDays int    `json:"after_due_days"`
}

// Limits on a configuration (style §8: every input is bounded).
const (
	configBytesMax  = 1 << 20
	segmentsMax     = 256
	dunningStepsMax = 16
	historyMax      = 1000 // drift baseline, arming
	daysMax         = 3650 // any threshold in days
)

// DefaultConfig returns the built-in thresholds. Where each number comes from:
//   - drift k = 0.5 σ, h = 4.5 σ: the design's defaults (a textbook CUSUM tuned to detect
//     a one-σ shift); EWMA λ = 0.3, L = 3; arming after 6 settled invoices; a baseline of
//     every in-control settled invoice up to 120 (ten years of monthly invoices: a short
//     baseline misjudges σ, and that, more than the charts, is what makes a stable payer
//     alarm); σ at least 2 days, observations winsorised at 4 σ; both charts required for
//     a warning. TestDriftStablePayerFalsePositiveRate measures what this gives on stable
//     payers over three years; TestDriftCatchesJourneyTwo that it catches the drifting
//     payer of journey 2 at its second late payment;
//   - silent non-payment tolerance 10 days (2 σ of the customer's days beyond terms when
//     more: on the demo portfolio, fixed days alone flagged 1 customer in 26 of 2 006, most
//     of them erratic payers merely late), critical 30 days later;
//   - limit 80 % / 100 % (design), cleared below 75 %;
//   - aging: 31–60 days info, 61–90 warning, 91+ critical (the default aging buckets);
//   - behaviour: a 90-day window, +20 points of share, 2 events (1 reversal), z = 2;
//   - deadlines: insurance declaration within 14 days;
//   - risk score: the weights below, external rating blended at 30 %, warning under 40,
//     critical under 20, cleared from 45;
//   - portfolio: top-1 share 25 % / 50 %, HHI 2 500 / 5 000 (the usual "highly
//     concentrated" mark), from 5 customers; DSO +15 % / +30 % over the trailing 12 months;
//     each cleared 2.5 points below its warning level (a share hovering at 25 % raised and
//     resolved 23 alerts in a year of TestReplayReproducesAlerts without it);
//   - dunning: day 1 e-mail, day 15 letter, day 30 formal notice (the example).
func DefaultConfig() Config {
	return Config{
		Default: Thresholds{
			Drift: DriftConfig{
				ArmAfterPayments: 6, BaselinePayments: 120, SigmaFloorDays: 2,
				KSigmaBP: 5000, HSigmaBP: 45000, CriticalSigmaBP: 90000, WinsorSigmaBP: 40000,
				EWMALambdaBP: 3000, EWMALimitBP: 30000, RequireBoth: true,
			},
			Silent: SilentConfig{ToleranceDays: 10, CriticalDays: 30, ToleranceSigmaBP: 20000},
			Limit:  LimitConfig{WarningBP: 8000, CriticalBP: 10000, ClearMarginBP: 500},
			Aging: AgingConfig{InfoFromDays: 31, WarningFromDays: 61, CriticalFromDays: 91,
				FirstOverdueMinHistory: 6, FirstOverdueGraceDays: 0},
			Behaviour: BehaviourConfig{WindowDays: 90, RiseBP: 2000, SignificanceZBP: 20000, MinPartialPayments: 2, MinDisputes: 2,
				MinReversals: 1, PromiseGraceDays: 0, InstalmentGraceDays: 0, MissedCriticalAtLeast: 2},
			Deadlines: DeadlineConfig{InsuranceWarnDays: 14, TermsBeyondCap: true},
			Score: ScoreConfig{
				Weights:         ScoreWeights{Payment: 2500, Overdue: 2000, Utilisation: 1500, Aging: 1500, Drift: 1500, Incidents: 1000},
				ExternalBlendBP: 3000, WarningBelow: 40, CriticalBelow: 20, ClearMarginPoints: 5,
				DBTZeroDays: 60, UtilisationZeroBP: 12000, AgingZeroDays: 120, IncidentPoints: 25,
			},
		},
		Portfolio: PortfolioThresholds{
			MinCustomers: 5, Top1WarningBP: 2500, Top1CriticalBP: 5000, HHIWarningBP: 2500, HHICriticalBP: 5000,
			DSOTrailingMonths: 12, DSOMinMonths: 6, DSODriftWarningBP: 1500, DSODriftCriticalBP: 3000,
			DSOMinCentidays: 1000, ClearMarginBP: 250,
		},
		Dunning: DefaultDunningPlan(),
	}
}

// DefaultDunningPlan is day 1 e-mail, day 15 letter, day 30 formal notice.
func DefaultDunningPlan() DunningPlan {
	return DunningPlan{Steps: []DunningStep{
		{Level: 1, Channel: "email", AfterDueDays: 1},
		{Level: 2, Channel: "letter", AfterDueDays: 15},
		{Level: 3, Channel: "formal_notice", AfterDueDays: 30},
	}}
}

// For returns the thresholds of a segment: its own, or the default ones.
func (c *Config) For(segment string) *Thresholds {
	if t, ok := c.Segments[segment]; ok {
		return &t
	}
	return &c.Default
}

// LoadConfig reads a configuration file over DefaultConfig (see Config for the format).
func LoadConfig(path string) (Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("signals config: %w", err)
	}
	cfg, err := ParseConfig(b)
	if err != nil {
		return Config{}, fmt.Errorf("signals config %s: %w", path, err)
	}
	return cfg, nil
}

// ParseConfig reads a configuration from JSON over DefaultConfig and validates it.
func ParseConfig(b []byte) (Config, error) {
	if len(b) > configBytesMax {
		return Config{}, fmt.Errorf("%d bytes, at most %d", len(b), configBytesMax)
	}
	var file struct {
		Default   json.RawMessage            `json:"default"`
		Segments  map[string]json.RawMessage `json:"segments"`
		Portfolio json.RawMessage            `json:"portfolio"`
		Dunning   json.RawMessage            `json:"dunning"`
	}
	if err := strictDecode(b, &file); err != nil {
		return Config{}, err
	}
	cfg := DefaultConfig()
	if len(file.Default) > 0 {
		if err := strictDecode(file.Default, &cfg.Default); err != nil {
			return Config{}, fmt.Errorf("default: %w", err)
		}
	}
	if len(file.Segments) > segmentsMax {
		return Config{}, fmt.Errorf("%d segments, at most %d", len(file.Segments), segmentsMax)
	}
	for name, raw := range file.Segments {
		t := cfg.Default
		if err := strictDecode(raw, &t); err != nil {
			return Config{}, fmt.Errorf("segment %q: %w", name, err)
		}
		if cfg.Segments == nil {
			cfg.Segments = make(map[string]Thresholds)
		}
		cfg.Segments[name] = t
	}
	if len(file.Portfolio) > 0 {
		if err := strictDecode(file.Portfolio, &cfg.Portfolio); err != nil {
			return Config{}, fmt.Errorf("portfolio: %w", err)
		}
	}
	if len(file.Dunning) > 0 {
		cfg.Dunning = DunningPlan{}
		if err := strictDecode(file.Dunning, &cfg.Dunning); err != nil {
			return Config{}, fmt.Errorf("dunning: %w", err)
		}
	}
	if err := cfg.Validate(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

func strictDecode(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return fmt.Errorf("trailing data after the JSON value")
	}
	return nil
}

// Validate checks that every threshold is usable: ranges, orders, weights summing to 10 000.
func (c *Config) Validate() error {
	if err := c.Default.validate(); err != nil {
		return fmt.Errorf("default: %w", err)
	}
	names := make([]string, 0, len(c.Segments))
	for n := range c.Segments {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		t := c.Segments[n]
		if err := t.validate(); err != nil {
			return fmt.Errorf("segment %q: %w", n, err)
		}
	}
	p := c.Portfolio
	var errs []string
	check := func(ok bool, format string, args ...any) {
		if !ok {
			errs = append(errs, fmt.Sprintf(format, args...))
		}
	}
	check(p.MinCustomers >= 1, "portfolio.min_customers %d < 1", p.MinCustomers)
	check(0 < p.Top1WarningBP && p.Top1WarningBP <= p.Top1CriticalBP && p.Top1CriticalBP <= 10_000, "portfolio top1 thresholds %d/%d", p.Top1WarningBP, p.Top1CriticalBP)
	check(0 < p.HHIWarningBP && p.HHIWarningBP <= p.HHICriticalBP && p.HHICriticalBP <= 10_000, "portfolio hhi thresholds %d/%d", p.HHIWarningBP, p.HHICriticalBP)
	check(1 <= p.DSOMinMonths && p.DSOMinMonths <= p.DSOTrailingMonths && p.DSOTrailingMonths <= 60, "portfolio dso months %d/%d", p.DSOMinMonths, p.DSOTrailingMonths)
	check(0 < p.DSODriftWarningBP && p.DSODriftWarningBP <= p.DSODriftCriticalBP, "portfolio dso drift %d/%d", p.DSODriftWarningBP, p.DSODriftCriticalBP)
	check(p.DSOMinCentidays >= 0, "portfolio.dso_min_centidays %d < 0", p.DSOMinCentidays)
	check(0 <= p.ClearMarginBP && p.ClearMarginBP < min(p.Top1WarningBP, p.HHIWarningBP, p.DSODriftWarningBP), "portfolio.clear_margin_bp %d", p.ClearMarginBP)
	if len(errs) > 0 {
		return fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return c.Dunning.Validate()
}

// Validate checks a dunning plan: 1..16 steps, levels and days strictly increasing.
func (p DunningPlan) Validate() error {
	if len(p.Steps) == 0 || len(p.Steps) > dunningStepsMax {
		return fmt.Errorf("dunning: %d steps, want 1..%d", len(p.Steps), dunningStepsMax)
	}
	for i, s := range p.Steps {
		if s.Level < 1 || s.Channel == "" || s.AfterDueDays < 0 || s.AfterDueDays > daysMax {
			return fmt.Errorf("dunning step %d: level %d, channel %q, after %d days", i+1, s.Level, s.Channel, s.AfterDueDays)
		}
		if i > 0 && (s.Level <= p.Steps[i-1].Level || s.AfterDueDays < p.Steps[i-1].AfterDueDays) {
			return fmt.Errorf("dunning step %d: levels must increase and days must not decrease", i+1)
		}
	}
	return nil
}

func (t *Thresholds) validate() error {
	var errs []string
	check := func(ok bool, format string, args ...any) {
		if !ok {
			errs = append(errs, fmt.Sprintf(format, args...))
		}
	}
	d := t.Drift
	check(2 <= d.ArmAfterPayments && d.ArmAfterPayments <= d.BaselinePayments && d.BaselinePayments <= historyMax,
		"payment_drift: arm after %d, baseline %d: want 2 ≤ arm ≤ baseline ≤ %d", d.ArmAfterPayments, d.BaselinePayments, historyMax)
	check(1 <= d.SigmaFloorDays && d.SigmaFloorDays <= daysMax, "payment_drift.sigma_floor_days %d", d.SigmaFloorDays)
	check(0 <= d.KSigmaBP && d.KSigmaBP < d.HSigmaBP && d.HSigmaBP <= d.CriticalSigmaBP && d.CriticalSigmaBP <= 1_000_000,
		"payment_drift: k %d, h %d, critical %d: want 0 ≤ k < h ≤ critical", d.KSigmaBP, d.HSigmaBP, d.CriticalSigmaBP)
	check(d.WinsorSigmaBP == 0 || d.WinsorSigmaBP >= d.KSigmaBP, "payment_drift.winsor_sigma_bp %d below k", d.WinsorSigmaBP)
	check(0 < d.EWMALambdaBP && d.EWMALambdaBP <= 10_000, "payment_drift.ewma_lambda_bp %d: want 1..10000", d.EWMALambdaBP)
	check(0 < d.EWMALimitBP && d.EWMALimitBP <= 1_000_000, "payment_drift.ewma_limit_sigma_bp %d", d.EWMALimitBP)
	check(0 <= t.Silent.ToleranceDays && t.Silent.ToleranceDays <= daysMax && 0 <= t.Silent.CriticalDays && t.Silent.CriticalDays <= daysMax &&
		0 <= t.Silent.ToleranceSigmaBP && t.Silent.ToleranceSigmaBP <= 100_000,
		"silent_non_payment: tolerance %d days or %d sigma bp, critical %d days", t.Silent.ToleranceDays, t.Silent.ToleranceSigmaBP, t.Silent.CriticalDays)
	check(0 < t.Limit.WarningBP && t.Limit.WarningBP <= t.Limit.CriticalBP && t.Limit.CriticalBP <= 1_000_000 &&
		0 <= t.Limit.ClearMarginBP && t.Limit.ClearMarginBP < t.Limit.WarningBP,
		"credit_limit: warning %d, critical %d, clear margin %d bp", t.Limit.WarningBP, t.Limit.CriticalBP, t.Limit.ClearMarginBP)
	a := t.Aging
	check(1 <= a.InfoFromDays && a.InfoFromDays <= a.WarningFromDays && a.WarningFromDays <= a.CriticalFromDays && a.CriticalFromDays <= daysMax,
		"aging: info %d, warning %d, critical %d days", a.InfoFromDays, a.WarningFromDays, a.CriticalFromDays)
	check(1 <= a.FirstOverdueMinHistory && a.FirstOverdueMinHistory <= historyMax && 0 <= a.FirstOverdueGraceDays && a.FirstOverdueGraceDays <= daysMax,
		"aging: first overdue history %d, grace %d", a.FirstOverdueMinHistory, a.FirstOverdueGraceDays)
	b := t.Behaviour
	check(1 <= b.WindowDays && b.WindowDays <= daysMax, "behaviour.window_days %d", b.WindowDays)
	check(0 <= b.RiseBP && b.RiseBP <= 10_000, "behaviour.rise_bp %d", b.RiseBP)
	check(0 <= b.SignificanceZBP && b.SignificanceZBP <= 100_000 && b.SignificanceZBP%100 == 0, "behaviour.significance_z_bp %d: 0..100000, a multiple of 100", b.SignificanceZBP)
	check(b.MinPartialPayments >= 1 && b.MinDisputes >= 1 && b.MinReversals >= 1 && b.MissedCriticalAtLeast >= 1,
		"behaviour: minimum counts must be at least 1")
	check(0 <= b.PromiseGraceDays && b.PromiseGraceDays <= daysMax && 0 <= b.InstalmentGraceDays && b.InstalmentGraceDays <= daysMax,
		"behaviour: grace days %d/%d", b.PromiseGraceDays, b.InstalmentGraceDays)
	check(0 <= t.Deadlines.InsuranceWarnDays && t.Deadlines.InsuranceWarnDays <= daysMax, "deadlines.insurance_warn_days %d", t.Deadlines.InsuranceWarnDays)
	s := t.Score
	check(s.Weights.sum() == 10_000 && s.Weights.Payment >= 0 && s.Weights.Overdue >= 0 && s.Weights.Utilisation >= 0 &&
		s.Weights.Aging >= 0 && s.Weights.Drift >= 0 && s.Weights.Incidents >= 0,
		"risk_score.weights_bp sum to %d, want 10000, none negative", s.Weights.sum())
	check(0 <= s.ExternalBlendBP && s.ExternalBlendBP <= 10_000, "risk_score.external_blend_bp %d", s.ExternalBlendBP)
	check(0 <= s.CriticalBelow && s.CriticalBelow <= s.WarningBelow && s.WarningBelow <= 100 && 0 <= s.ClearMarginPoints && s.ClearMarginPoints <= 100,
		"risk_score: warning below %d, critical below %d, clear margin %d", s.WarningBelow, s.CriticalBelow, s.ClearMarginPoints)
	check(1 <= s.DBTZeroDays && s.DBTZeroDays <= daysMax && 5000 < s.UtilisationZeroBP && s.UtilisationZeroBP <= 1_000_000 &&
		1 <= s.AgingZeroDays && s.AgingZeroDays <= daysMax && 0 <= s.IncidentPoints && s.IncidentPoints <= 100,
		"risk_score: zero points at %d days DBT, %d bp utilisation, %d days aging, %d per incident", s.DBTZeroDays, s.UtilisationZeroBP, s.AgingZeroDays, s.IncidentPoints)
	if len(errs) > 0 {
		return fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return nil
}
