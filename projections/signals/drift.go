package signals

import (
	"slices"
	"strings"

	"github.com/encours/encours/domain"
	"github.com/encours/encours/projections/ledger"
)

// Observation is one settled invoice as the drift charts see it: its days beyond terms
// (design §Metrics: payment date − due date, amount-weighted over its cash) and the payment
// that settled it last.
type Observation struct {
	InvoiceID    domain.InvoiceID `json:"invoice_id"`
	SettledOn    domain.Date      `json:"settled_on"`
	DBTCentidays int64            `json:"dbt_centidays"`
	PaymentID    domain.PaymentID `json:"payment_id,omitempty"`
	Position     uint64           `json:"position,omitempty"` // of PaymentID's PaymentReceived
}

// observations returns the settled invoices of a customer at asOf in settlement order (then
// issue date, then id): invoices fully settled by asOf with some cash, never disputed, not
// under a payment plan, not written off. invs are the customer's invoice views at asOf.
func observations(invs []ledger.InvoiceView, facts *customerFacts, asOf domain.Date) []Observation {
	type keyed struct {
		Observation
		issue domain.Date
	}
	var out []keyed
	for i := range invs {
		v := &invs[i]
		if v.IssueDate.After(asOf) || v.WrittenOff || v.PlanID != "" || !v.DisputedOn.IsZero() || v.DBTCentidays == nil {
			continue
		}
		open := v.Amount.Minor
		var last domain.Date
		var pay string
		for _, s := range v.Settlements {
			if s.On.After(asOf) {
				continue
			}
			open -= s.Amount.Minor
			if s.On.After(last) || last.IsZero() {
				last = s.On
			}
			if s.Kind == "cash" && !s.Reversed {
				pay = s.Source
			}
		}
		if open != 0 || pay == "" {
			continue
		}
		out = append(out, keyed{Observation{
			InvoiceID: v.InvoiceID, SettledOn: last, DBTCentidays: *v.DBTCentidays,
			PaymentID: domain.PaymentID(pay), Position: facts.payments[domain.PaymentID(pay)],
		}, v.IssueDate})
	}
	slices.SortStableFunc(out, func(a, b keyed) int {
		if c := a.SettledOn.DaysUntil(b.SettledOn); c != 0 {
			return -c
		}
		if c := a.issue.DaysUntil(b.issue); c != 0 {
			return -c
		}
		return strings.Compare(string(a.InvoiceID), string(b.InvoiceID))
	})
	obs := make([]Observation, len(out))
	for i := range out {
		obs[i] = out[i].Observation
	}
	return obs
}

// DriftState is where a customer's drift charts stand after its last observation.
type DriftState struct {
	Observations int  `json:"observations"`
	Armed        bool `json:"armed"`
	// Baseline of the last observation: mean and σ (floored) of the first BaselineCount
	// observations, in hundredths of a day.
	BaselineCount          int   `json:"baseline_count"`
	BaselineMeanCentidays  int64 `json:"baseline_mean_centidays"`
	BaselineSigmaCentidays int64 `json:"baseline_sigma_centidays"`
	LastCentidays          int64 `json:"last_dbt_centidays"`
	// CUSUM in basis points of σ; EWMA and its upper control limit in hundredths of a day.
	CUSUMSigmaBP       int64    `json:"cusum_sigma_bp"`
	EWMACentidays      int64    `json:"ewma_centidays"`
	EWMALimitCentidays int64    `json:"ewma_limit_centidays"`
	CUSUMOut           bool     `json:"cusum_out"`
	EWMAOut            bool     `json:"ewma_out"`
	Severity           Severity `json:"severity,omitempty"` // zero: in control
	// FirstAlarm is the index of the first observation at which the charts signalled, −1 if
	// never: the alert would have been raised when that invoice was settled.
	FirstAlarm int `json:"first_alarm"`
	// Run is the observations since the CUSUM last stood at zero: the payments that moved it.
	Run []Observation `json:"run"`
}

// ewmaPowScale is the fixed-point scale of (1 − λ)^2j in the EWMA limit.
const ewmaPowScale = 1_000_000_000_000

// Drift runs the CUSUM and EWMA charts over a customer's observations (design §Early-warning
// signals, payment drift; DriftConfig says how). It is a pure function of the sequence, so the
// state after observation i depends on observations 0..i only.
func Drift(obs []Observation, cfg DriftConfig) DriftState {
	st := DriftState{Observations: len(obs), FirstAlarm: -1}
	floor := int64(cfg.SigmaFloorDays) * 100
	arm := cfg.ArmAfterPayments
	xs := make([]int64, len(obs))
	for i, o := range obs {
		xs[i] = o.DBTCentidays
	}
	var s, z int64
	pow := int64(ewmaPowScale) // (1 − λ)^2j
	runStart := -1
	var n, sum, sum2 int64 // the baseline: count, Σx, Σx²
	var joined []int64     // observations of the current CUSUM run that joined the baseline
	j := 0                 // observations since the charts armed
	for i, x := range xs {
		if n < int64(arm) {
			n, sum, sum2 = n+1, sum+x, sum2+x*x
			continue
		}
		mu, sd := meanSigmaOf(n, sum, sum2)
		sigma := max(sd, floor)
		// A new observation against a mean estimated from n values varies by σ·√(1 + 1/n):
		// standardising by that keeps a short baseline from alarming more often.
		sigmaEff := isqrt(divRound(sigma*sigma*(n+1), n))
		x := x
		if cfg.WinsorSigmaBP > 0 {
			x = min(x, mu+divRound(sigmaEff*cfg.WinsorSigmaBP, 10_000))
		}
		if j == 0 {
			z = mu
		}
		j++
		dev := divRound((x-mu)*10_000, sigmaEff)
		s = min(max(0, s+dev-cfg.KSigmaBP), cfg.CriticalSigmaBP)
		switch {
		case s == 0:
			runStart, joined = -1, joined[:0]
		case runStart < 0:
			runStart = i
		}
		lambda := cfg.EWMALambdaBP
		z = divRound(lambda*x+(10_000-lambda)*z, 10_000)
		pow = pow * (10_000 - lambda) / 10_000
		pow = pow * (10_000 - lambda) / 10_000
		f2 := divRound(lambda*(ewmaPowScale-pow), 20_000-lambda) // λ/(2−λ)·(1−(1−λ)^2j), × 1e12
		f := isqrt(f2)                                           // its square root, × 1e6
		ucl := mu + divRound(cfg.EWMALimitBP*sigmaEff*f, 10_000*1_000_000)

		st.Armed = true
		st.BaselineCount, st.BaselineMeanCentidays, st.BaselineSigmaCentidays = int(n), mu, sigma
		st.LastCentidays = xs[i]
		st.CUSUMSigmaBP, st.EWMACentidays, st.EWMALimitCentidays = s, z, ucl
		st.CUSUMOut, st.EWMAOut = s >= cfg.HSigmaBP, z > ucl
		st.Severity = driftSeverity(st, cfg)
		if st.Severity != 0 && st.FirstAlarm < 0 {
			st.FirstAlarm = i
		}
		// An observation the charts keep in control joins the baseline (the self-starting
		// scheme: the next one is judged against every earlier one). An alarm takes back the
		// ones of the CUSUM run that led to it: neither a drift nor its first payments become
		// the customer's new normal.
		switch {
		case st.Severity != 0:
			for _, x := range joined {
				n, sum, sum2 = n-1, sum-x, sum2-x*x
			}
			joined = joined[:0]
		case n < int64(cfg.BaselinePayments):
			n, sum, sum2 = n+1, sum+xs[i], sum2+xs[i]*xs[i]
			if runStart >= 0 {
				joined = append(joined, xs[i])
			}
		}
		invariant(n >= int64(arm), "drift baseline of %d below the %d it armed with", n, arm)
	}
	if !st.Armed && n > 0 {
		st.LastCentidays = xs[len(xs)-1]
		st.BaselineCount = int(n)
		mu, sd := meanSigmaOf(n, sum, sum2)
		st.BaselineMeanCentidays, st.BaselineSigmaCentidays = mu, max(sd, floor)
	}
	if runStart >= 0 {
		st.Run = slices.Clone(obs[runStart:])
	}
	return st
}

func driftSeverity(st DriftState, cfg DriftConfig) Severity {
	warn := st.CUSUMOut || st.EWMAOut
	if cfg.RequireBoth {
		warn = st.CUSUMOut && st.EWMAOut
	}
	switch {
	case st.CUSUMSigmaBP >= cfg.CriticalSigmaBP && st.EWMAOut:
		return SeverityCritical
	case warn:
		return SeverityWarning
	}
	return 0
}
