package signals

import (
	"fmt"
)

// RiskScore is a customer's risk score, 0–100, higher is safer (design §Early-warning
// signals: "as credit agencies do, with each factor's contribution shown"). Each factor scores
// 0–100 and weighs its share of the internal score; an external rating, when the customer has
// one, is blended in. Contributions are in hundredths of a point and sum to Centipoints, which
// Score rounds.
type RiskScore struct {
	Score       int64    `json:"score"`
	Centipoints int64    `json:"centipoints"`
	Internal    int64    `json:"internal_centipoints"`
	External    *int64   `json:"external_score,omitempty"` // the agency's 0–100 score
	ExternalBP  int64    `json:"external_blend_bp"`
	Factors     []Factor `json:"factors"`
}

// Factor is one factor of a risk score: what it measured (Value), its own score, its
// weight, and what it contributes to the final score (and how much it cost: Lost).
type Factor struct {
	Name                    string `json:"name"`
	Value                   Figure `json:"value"`
	ScoreCentipoints        int64  `json:"score_centipoints"` // 0..10 000
	WeightBP                int64  `json:"weight_bp"`         // of the final score
	ContributionCentipoints int64  `json:"contribution_centipoints"`
	LostCentipoints         int64  `json:"lost_centipoints"`
	Note                    string `json:"note,omitempty"`
}

// riskScore computes the score of one customer (ScoreConfig says how).
func riskScore(in *customerInput, incidents int64) RiskScore {
	cfg := in.th.Score
	w := cfg.Weights
	internalBP := int64(10_000)
	var rs RiskScore
	if r := in.profile.Rating; r != nil {
		rs.External = ptr(int64(min(max(r.Score, 0), 100)))
		rs.ExternalBP = cfg.ExternalBlendBP
		internalBP -= cfg.ExternalBlendBP
	}
	add := func(name string, weight, score int64, value Figure, note string) {
		// weight (bp of the internal score) × internal share (bp) × score (centipoints).
		final := divRound(weight*internalBP, 10_000) // bp of the final score
		c := divRound(final*score, 10_000)
		rs.Factors = append(rs.Factors, Factor{Name: name, Value: value, ScoreCentipoints: score, WeightBP: final,
			ContributionCentipoints: c, LostCentipoints: final - c, Note: note})
		rs.Internal += divRound(weight*score, 10_000)
	}

	dbt := int64(0)
	if in.fig.Payments.DBTCentidays != nil {
		dbt = *in.fig.Payments.DBTCentidays
	}
	add("payment", w.Payment, linearScore(dbt, 0, int64(cfg.DBTZeroDays)*100),
		fig("dbt", dbt, UnitCentidays), "days beyond terms, amount-weighted; 0 points at "+fmt.Sprint(cfg.DBTZeroDays)+" days")

	open := in.fig.OpenInvoices.Minor
	overdueBP := ratioBP(in.fig.Overdue.Minor, open)
	add("overdue", w.Overdue, linearScore(overdueBP, 0, 10_000), fig("overdue_share", overdueBP, UnitBP), "share of open invoices past due")

	exposure, limit := in.fig.Exposure.Minor, in.profile.CreditLimit.Minor
	var util, uscore int64
	switch {
	case exposure <= 0:
		uscore = 10_000
	case limit <= 0:
		util, uscore = 0, 0
	default:
		util = ratioBP(exposure, limit)
		uscore = linearScore(util, 5000, cfg.UtilisationZeroBP)
	}
	add("utilisation", w.Utilisation, uscore, fig("utilisation", util, UnitBP), "exposure / credit limit")

	oldest := int64(0)
	for i := range in.invs {
		v := &in.invs[i]
		if v.DaysPastDue > 0 && openAt(v, in.asOf) > 0 && !v.Disputed {
			oldest = max(oldest, int64(v.DaysPastDue))
		}
	}
	add("aging", w.Aging, linearScore(oldest, 0, int64(cfg.AgingZeroDays)), fig("oldest_days_past_due", oldest, UnitDays), "")

	d := in.drift
	dscore := int64(10_000)
	if d.Armed {
		dscore = linearScore(d.CUSUMSigmaBP, 0, in.th.Drift.CriticalSigmaBP)
	}
	add("drift", w.Drift, dscore, fig("cusum", d.CUSUMSigmaBP, UnitSigmaBP), "payment-drift CUSUM against its critical level")

	add("incidents", w.Incidents, max(0, 10_000-incidents*cfg.IncidentPoints*100), fig("incidents", incidents, UnitCount),
		fmt.Sprintf("disputes, reversals, broken promises and missed instalments in the last %d days", in.th.Behaviour.WindowDays))

	total := int64(0)
	for _, f := range rs.Factors {
		total += f.ContributionCentipoints
	}
	if rs.External != nil {
		c := divRound(rs.ExternalBP**rs.External*100, 10_000)
		rs.Factors = append(rs.Factors, Factor{Name: "external_rating", Value: fig("score", *rs.External, UnitPoints),
			ScoreCentipoints: *rs.External * 100, WeightBP: rs.ExternalBP, ContributionCentipoints: c,
			LostCentipoints: rs.ExternalBP - c, Note: in.profile.Rating.Agency + " " + in.profile.Rating.Grade})
		total += c
	}
	rs.Centipoints = min(max(total, 0), 10_000)
	rs.Score = divRound(rs.Centipoints, 100)
	invariant(0 <= rs.Score && rs.Score <= 100, "risk score %d", rs.Score)
	return rs
}

// scoreSignal: the risk score below its thresholds.
func scoreSignal(in *customerInput, rs RiskScore) (Signal, bool) {
	cfg := in.th.Score
	var sev Severity
	hold := false
	switch {
	case rs.Score < cfg.CriticalBelow:
		sev = SeverityCritical
	case rs.Score < cfg.WarningBelow:
		sev = SeverityWarning
	case rs.Score < cfg.WarningBelow+cfg.ClearMarginPoints:
		sev, hold = SeverityWarning, true
	default:
		return Signal{}, false
	}
	e := Explanation{
		Summary:   fmt.Sprintf("risk score %d/100", rs.Score),
		Current:   []Figure{fig("score", rs.Score, UnitPoints)},
		Threshold: []Figure{fig("warning_below", cfg.WarningBelow, UnitPoints), fig("critical_below", cfg.CriticalBelow, UnitPoints)},
	}
	worst := ""
	var lost int64 = -1
	for _, f := range rs.Factors {
		e.Current = append(e.Current, fig("lost_"+f.Name, f.LostCentipoints, UnitCentipts))
		if f.LostCentipoints > lost {
			worst, lost = f.Name, f.LostCentipoints
		}
	}
	e.Summary += fmt.Sprintf("; the factor that costs most is %s (%s points)", worst, days(lost))
	return Signal{Rule: RuleRiskScore, Subject: string(in.id), Severity: sev, Hold: hold,
		Message: fmt.Sprintf("%s: %s", in.id, e.Summary), Explanation: e}, true
}
