package alerting

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/encours/encours/domain"
	"github.com/encours/encours/eventstore"
	"github.com/encours/encours/projections/ledger"
	"github.com/encours/encours/projections/signals"
)

// acmeHistory books the drifting payer of journey 2 (projections/signals'
// TestDriftCatchesJourneyTwo writes down its arithmetic): net 30, one invoice of 10 000.00
// EUR on the first of each month from 2024-01, the twelve of 2024 paid 2 days before their
// due date, then the invoices of January to April 2025 paid 5, 9, 13 and 18 days late. The
// business date follows the history: the rig ticks on each day something happens. It
// returns the positions of the 2025 payments.
func acmeHistory(r *rig, after func(k int, pos uint64)) []uint64 {
	const acme = domain.CustomerID("ACME")
	r.tick(d("2024-01-01"))
	r.register(acme, "sme", 30, 1_000_000_00, d("2024-01-01"))
	dbts := []int{-2, -2, -2, -2, -2, -2, -2, -2, -2, -2, -2, -2, 5, 9, 13, 18}
	type act struct {
		on  domain.Date
		pay int // -1: issue invoice k
		k   int
	}
	var acts []act
	for k, dbt := range dbts {
		issue := d("2024-01-01").AddMonths(k)
		acts = append(acts, act{issue, -1, k}, act{issue.AddDays(30 + dbt), 1, k})
	}
	slices.SortStableFunc(acts, func(a, b act) int { return -a.on.DaysUntil(b.on) })
	invs := make([]domain.InvoiceID, len(dbts))
	var pays []uint64
	for _, a := range acts {
		if a.on != r.Today() {
			r.tick(a.on)
		}
		if a.pay < 0 {
			invs[a.k] = r.invoice(acme, 10_000_00, a.on)
			continue
		}
		p := r.pay(acme, a.on, invs[a.k], 10_000_00)
		if a.k >= 12 {
			pays = append(pays, p)
		}
		if after != nil {
			after(a.k, p)
		}
	}
	return pays
}

// TestDriftAlertRaisedAtDocumentedPayment: the evaluator raises ACME's payment-drift alert
// right after the +9 payment (the documented alert point), with that payment as trigger and
// its date as raised_on; the +13 payment escalates the same alert id to critical.
func TestDriftAlertRaisedAtDocumentedPayment(t *testing.T) {
	r := newRig(t, t.TempDir(), rigOptions{})
	drift := func() []Alert { return r.ev.Alerts(Filter{Rule: signals.RulePaymentDrift}) }
	var seen []int
	pays := acmeHistory(r, func(k int, _ uint64) {
		if k >= 12 && len(drift()) > 0 && len(seen) == 0 {
			seen = append(seen, k)
		}
	})
	require.Equal(t, []int{13}, seen, "first drift alert after the second late payment")
	alerts := drift()
	require.Len(t, alerts, 1, "one alert, escalated in place")
	a := alerts[0]
	assert.Equal(t, "ACME:payment_drift:ACME:1", a.AlertID)
	assert.Equal(t, pays[1], a.Position-1, "raised right after the +9 payment")
	assert.Equal(t, d("2025-03-12"), a.RaisedOn, "the +9 payment's date: the invoice of 2025-02-01, due 2025-03-03, paid 9 days late")
	assert.Equal(t, "critical", a.Severity)
	require.Len(t, a.Escalations, 1)
	assert.Equal(t, "warning", a.Escalations[0].From)
	assert.Equal(t, "critical", a.Escalations[0].To)
	assert.Equal(t, pays[2]+1, a.Escalations[0].Position, "escalated right after the +13 payment")
	var expl struct {
		Segment string           `json:"segment"`
		Current []signals.Figure `json:"current"`
	}
	require.NoError(t, json.Unmarshal(a.Explanation, &expl))
	assert.Equal(t, "sme", expl.Segment)

	// The first raise's trigger is the +9 payment.
	var first domain.AlertRaised
	for _, e := range r.alertEvents() {
		if e.Type == domain.TypeAlertRaised {
			ev, err := domain.DecodeEvent(e.Type, e.SchemaVersion, e.Data)
			require.NoError(t, err)
			if v := ev.(domain.AlertRaised); v.Rule == signals.RulePaymentDrift {
				first = v
				break
			}
		}
	}
	assert.Equal(t, pays[1], first.TriggerPosition)
	assert.Equal(t, "warning", first.Severity)
}

// TestAlertLifecycle: raise, acknowledge, escalate (re-opens), resolve when the condition
// clears, and a new alert id when it comes back; acknowledging a resolved alert is refused.
func TestAlertLifecycle(t *testing.T) {
	r := newRig(t, t.TempDir(), rigOptions{})
	const c = domain.CustomerID("LIM")
	r.tick(d("2024-01-02"))
	r.register(c, "sme", 30, 10_000_00, d("2024-01-01"))
	inv := r.invoice(c, 8_500_00, d("2024-01-02"))
	open := r.ev.Alerts(Filter{Status: StatusOpen, CustomerID: c, Rule: signals.RuleCreditLimit})
	require.Len(t, open, 1)
	id := open[0].AlertID
	assert.Equal(t, "LIM:credit_limit:LIM:1", id)
	assert.Equal(t, "warning", open[0].Severity)

	var acked Alert
	assert.Equal(t, http.StatusOK, r.do("POST", "/v1/alerts/"+id+"/ack", map[string]string{"comment": "calling them"}, &acked))
	assert.Equal(t, StatusAcknowledged, acked.Status)
	require.Len(t, acked.Acks, 1)
	assert.Equal(t, "manager@test", acked.Acks[0].Actor)
	assert.Equal(t, "calling them", acked.Acks[0].Comment)

	r.invoice(c, 2_000_00, d("2024-01-02")) // 105 %: worse
	a, _ := r.ev.Alert(id)
	assert.Equal(t, "critical", a.Severity, "escalated on the same id")
	assert.Equal(t, StatusOpen, a.Status, "an escalation re-opens an acknowledged alert")

	r.setLimit(c, 20_000_00, d("2024-01-03")) // 52.5 %: cleared
	a, _ = r.ev.Alert(id)
	assert.Equal(t, StatusResolved, a.Status)
	assert.Equal(t, ReasonConditionCleared, a.ResolvedReason)
	var body errorBody
	assert.Equal(t, http.StatusConflict, r.do("POST", "/v1/alerts/"+id+"/ack", map[string]string{}, &body))
	assert.Equal(t, "alert_resolved", body.Error.Code)
	assert.Equal(t, http.StatusNotFound, r.do("POST", "/v1/alerts/nope/ack", map[string]string{}, &body))

	r.pay(c, d("2024-01-04"), inv, 1_00)
	r.setLimit(c, 10_000_00, d("2024-01-04"))
	open = r.ev.Alerts(Filter{Status: StatusOpen, CustomerID: c, Rule: signals.RuleCreditLimit})
	require.Len(t, open, 1)
	assert.Equal(t, "LIM:credit_limit:LIM:2", open[0].AlertID, "a new episode, a new id")
	assert.Len(t, r.ev.Alerts(Filter{Status: StatusResolved, CustomerID: c}), 1)
}

// TestPlanEscalationRule checks Plan's rules on a book: new, escalate, no de-escalation,
// resolve in scope only, ids skipping a taken one.
func TestPlanEscalationRule(t *testing.T) {
	b := NewBook()
	raise := func(pos uint64, v domain.AlertRaised) {
		data, err := domain.EncodeEvent(v)
		require.NoError(t, err)
		require.NoError(t, b.Apply(domain.Envelope{Position: pos, Stream: alertStream(v.CustomerID), StreamVersion: pos,
			Type: domain.TypeAlertRaised, SchemaVersion: 1, Data: data}))
	}
	raise(1, domain.AlertRaised{AlertID: "A:credit_limit:A:1", CustomerID: "A", Rule: signals.RuleCreditLimit, Subject: "A", Severity: "warning"})
	raise(2, domain.AlertRaised{AlertID: "B:credit_limit:B:1", CustomerID: "B", Rule: signals.RuleCreditLimit, Subject: "B", Severity: "critical"})
	raise(3, domain.AlertRaised{AlertID: "C:credit_limit:C:1", CustomerID: "C", Rule: signals.RuleCreditLimit, Subject: "C", Severity: "warning"})
	sig := func(c domain.CustomerID, rule string, sev signals.Severity) signals.Signal {
		return signals.Signal{CustomerID: c, Rule: rule, Subject: string(c), Severity: sev}
	}
	sigs := []signals.Signal{
		sig("A", signals.RuleCreditLimit, signals.SeverityCritical), // worse: escalate A:1
		sig("B", signals.RuleCreditLimit, signals.SeverityWarning),  // milder: nothing
		sig("B", signals.RuleSilentNonPayment, signals.SeverityWarning),
	}
	changes, err := Plan(b, sigs, signals.Scope{Customers: []domain.CustomerID{"A", "B"}}, d("2024-05-01"))
	require.NoError(t, err)
	require.Len(t, changes, 2, "C is out of scope: its alert stays open")
	esc := changes[0].Event.(domain.AlertRaised)
	assert.Equal(t, "A:credit_limit:A:1", esc.AlertID)
	assert.Equal(t, "critical", esc.Severity)
	assert.Equal(t, "B:silent_non_payment:B:1", changes[1].Event.(domain.AlertRaised).AlertID)

	changes, err = Plan(b, nil, signals.EvaluateAll(), d("2024-05-02"))
	require.NoError(t, err)
	require.Len(t, changes, 3, "a tick resolves every open alert whose condition cleared")
	for _, c := range changes {
		assert.Equal(t, ReasonConditionCleared, c.Event.(domain.AlertResolved).Reason)
	}
	_, err = Plan(b, []signals.Signal{sig("Z", signals.RuleCreditLimit, signals.SeverityInfo)}, signals.Scope{Customers: []domain.CustomerID{"A"}}, d("2024-05-02"))
	assert.Error(t, err, "a signal outside the scope is a bug")

	// Hysteresis: a held signal keeps A's alert open and raises nothing for D.
	hold := func(c domain.CustomerID) signals.Signal {
		s := sig(c, signals.RuleCreditLimit, signals.SeverityWarning)
		s.Hold = true
		return s
	}
	changes, err = Plan(b, []signals.Signal{hold("A"), hold("D")}, signals.Scope{Customers: []domain.CustomerID{"A", "D"}}, d("2024-05-02"))
	require.NoError(t, err)
	assert.Empty(t, changes, "held: A stays open, D is not raised")
}

// TestReplayReproducesAlerts: evaluation is a pure function of the log up to a position
// and the as-of date. Method: five customers over 120 days (a drifting payer, a payer who
// stops paying, one near its limit, a stable one, a disputer), ticking every day; the rig
// records the head after each day. Then, for several past days D: a model, facts and book
// rebuilt from the log up to the end of day D−1, evaluated at D, plan exactly the alert
// events the live evaluator appended at D's tick (ids, rules, severities, explanations); and
// rebuilt up to the end of D, the alerts open are the ones the live run had open then and
// the plan is empty (a fixpoint).
func TestReplayReproducesAlerts(t *testing.T) {
	r := newRig(t, t.TempDir(), rigOptions{today: d("2024-01-01")})
	start := d("2024-01-01")
	custs := []domain.CustomerID{"DRIFT", "SILENT", "NEAR", "STABLE", "DISPUTE"}
	for _, c := range custs {
		r.register(c, "sme", 30, 60_000_00, start)
	}
	type due struct {
		c   domain.CustomerID
		inv domain.InvoiceID
		on  domain.Date
		amt int64
	}
	var dues []due
	endOfDay := map[domain.Date]uint64{}
	openAt := map[domain.Date][]string{}
	days := 400
	if testing.Short() {
		days = 200
	}
	for i := range days {
		day := start.AddDays(i)
		r.tick(day)
		for k := range custs {
			c := custs[k]
			if i%14 == k { // an invoice every two weeks each
				amt := int64(4_000_00 + 500_00*k)
				inv := r.invoice(c, amt, day)
				dbt := 0
				switch c {
				case "DRIFT":
					if i > days/2 {
						dbt = (i - days/2) / 6
					}
				case "SILENT":
					if i > days*5/8 {
						dbt = 1000
					}
				case "NEAR":
					dbt = 20
				}
				dues = append(dues, due{c, inv, day.AddDays(30 + dbt), amt})
				if c == "DISPUTE" && i > days*3/4 && i%28 == k {
					r.add(c, domain.InvoiceDisputed{InvoiceID: inv, DisputedOn: day})
				}
			}
		}
		for _, x := range dues {
			if x.on == day {
				r.pay(x.c, day, x.inv, x.amt)
			}
		}
		h, err := r.store.Head(context.Background())
		require.NoError(t, err)
		endOfDay[day] = h.Position
		for _, a := range r.ev.Alerts(Filter{Status: StatusOpen}) {
			openAt[day] = append(openAt[day], a.AlertID+"/"+a.Severity)
		}
		slices.Sort(openAt[day])
	}
	all := r.alertEvents()
	require.NotEmpty(t, all)
	rules := map[string]bool{}
	for _, a := range r.ev.Alerts(Filter{}) {
		rules[a.Rule] = true
	}
	t.Logf("%d alert events over %d days, rules %v", len(all), days, rules)
	assert.True(t, rules[signals.RulePaymentDrift] && rules[signals.RuleSilentNonPayment], "the scenario raises drift and silent non-payment")

	envs := readAll(t, r.store)
	cfg := signals.DefaultConfig()
	checked := 0
	for i := 1; i < days; i++ {
		day := start.AddDays(i)
		prev := endOfDay[start.AddDays(i-1)]
		// What the live tick of day appended: the alert events right after prev, before the
		// day's first fact.
		var live []Change
		for _, e := range envs[prev:endOfDay[day]] {
			if !isAlertEvent(e) {
				break
			}
			ev, err := domain.DecodeEvent(e.Type, e.SchemaVersion, e.Data)
			require.NoError(t, err)
			live = append(live, Change{Stream: e.Stream, Event: ev})
		}
		if len(live) == 0 && i%50 != 0 {
			continue
		}
		m, f, b := rebuild(t, envs[:prev])
		sigs, err := signals.Evaluate(m, f, day, &cfg, signals.EvaluateAll())
		require.NoError(t, err)
		plan, err := Plan(b, sigs, signals.EvaluateAll(), day)
		require.NoError(t, err)
		require.Equal(t, live, plan, "replaying to %s reproduces that day's tick", day)

		m, f, b = rebuild(t, envs[:endOfDay[day]])
		var open []string
		for _, a := range b.List(Filter{Status: StatusOpen}) {
			open = append(open, a.AlertID+"/"+a.Severity)
		}
		slices.Sort(open)
		assert.Equal(t, openAt[day], open, "alerts open at the end of %s", day)
		sigs, err = signals.Evaluate(m, f, day, &cfg, signals.EvaluateAll())
		require.NoError(t, err)
		plan, err = Plan(b, sigs, signals.EvaluateAll(), day)
		require.NoError(t, err)
		assert.Empty(t, plan, "the end of %s is a fixpoint", day)
		checked++
	}
	t.Logf("replayed %d days", checked)
	assert.Greater(t, checked, 5)
}

func readAll(t *testing.T, s eventstore.Store) []domain.Envelope {
	t.Helper()
	var out []domain.Envelope
	for from := uint64(1); ; {
		page, err := s.ReadAll(context.Background(), from, eventstore.ReadLimitMax)
		require.NoError(t, err)
		out = append(out, page...)
		if len(page) < eventstore.ReadLimitMax {
			return out
		}
		from = page[len(page)-1].Position + 1
	}
}

func rebuild(t *testing.T, envs []domain.Envelope) (*ledger.Model, *signals.Facts, *Book) {
	t.Helper()
	m, f, b := ledger.New(), signals.NewFacts(), NewBook()
	for _, e := range envs {
		require.NoError(t, m.Apply(e))
		require.NoError(t, f.Apply(e))
		require.NoError(t, b.Apply(e))
	}
	return m, f, b
}

// TestResolveByHand: a credit manager resolves an open alert while its condition holds (the
// customer is at 85 % of its limit). Nothing is raised again while it holds at that severity;
// the condition clearing is recorded on the same alert (ReasonClearedAfterHand) and re-arms
// the rule, so the next episode raises a new alert; a worse condition than the one resolved
// raises a new alert at once. A resolved alert cannot be resolved again (409), an unknown
// one is 404, and the resolution carries its actor and comment.
func TestResolveByHand(t *testing.T) {
	r := newRig(t, t.TempDir(), rigOptions{})
	const c = domain.CustomerID("HAND")
	r.tick(d("2024-01-02"))
	r.register(c, "sme", 30, 10_000_00, d("2024-01-01"))
	inv := r.invoice(c, 8_500_00, d("2024-01-02"))
	open := r.ev.Alerts(Filter{Status: StatusOpen, CustomerID: c, Rule: signals.RuleCreditLimit})
	require.Len(t, open, 1)
	id := open[0].AlertID

	var got Alert
	require.Equal(t, http.StatusOK, r.do("POST", "/v1/alerts/"+id+"/resolve", map[string]string{"comment": "limit raise approved orally"}, &got))
	assert.Equal(t, StatusResolved, got.Status)
	assert.Equal(t, ReasonResolvedByHand, got.ResolvedReason)
	assert.Equal(t, "limit raise approved orally", got.ResolvedComment)
	assert.Equal(t, "manager@test", got.ResolvedBy)
	var body errorBody
	assert.Equal(t, http.StatusConflict, r.do("POST", "/v1/alerts/"+id+"/resolve", map[string]string{}, &body))
	assert.Equal(t, "alert_resolved", body.Error.Code)
	assert.Equal(t, http.StatusNotFound, r.do("POST", "/v1/alerts/nope/resolve", map[string]string{}, &body))

	r.tick(d("2024-01-03")) // still 85 %: a tick evaluates everything and raises nothing
	r.invoice(c, 10_00, d("2024-01-03"))
	assert.Empty(t, r.ev.Alerts(Filter{Status: StatusOpen, CustomerID: c, Rule: signals.RuleCreditLimit}),
		"the condition resolved by hand still holds at the same severity: silent")

	r.tick(d("2024-01-04"))
	r.setLimit(c, 20_000_00, d("2024-01-04")) // 43 %: cleared
	a, _ := r.ev.Alert(id)
	assert.Equal(t, StatusResolved, a.Status)
	assert.Equal(t, ReasonResolvedByHand, a.ResolvedReason, "the hand's reason stays")
	assert.Equal(t, d("2024-01-04"), a.ClearedOn)

	r.setLimit(c, 10_000_00, d("2024-01-05")) // 86 %: a new episode
	open = r.ev.Alerts(Filter{Status: StatusOpen, CustomerID: c, Rule: signals.RuleCreditLimit})
	require.Len(t, open, 1)
	assert.Equal(t, "HAND:credit_limit:HAND:2", open[0].AlertID)
	id2 := open[0].AlertID

	require.Equal(t, http.StatusOK, r.do("POST", "/v1/alerts/"+id2+"/resolve", map[string]string{}, &got))
	r.invoice(c, 2_000_00, d("2024-01-05")) // 106 %: worse than the warning resolved by hand
	open = r.ev.Alerts(Filter{Status: StatusOpen, CustomerID: c, Rule: signals.RuleCreditLimit})
	require.Len(t, open, 1)
	assert.Equal(t, "HAND:credit_limit:HAND:3", open[0].AlertID)
	assert.Equal(t, "critical", open[0].Severity)
	r.pay(c, d("2024-01-06"), inv, 1_00) // keeps the rig's invoice in use
}

// TestPlanAfterResolveByHand checks Plan on a book directly: a key resolved by hand stays
// silent at the same or a lower severity, raises a new id when worse, and records the
// condition clearing once, in scope only.
func TestPlanAfterResolveByHand(t *testing.T) {
	b := NewBook()
	pos := uint64(0)
	apply := func(typ string, v domain.Event) {
		pos++
		data, err := domain.EncodeEvent(v)
		require.NoError(t, err)
		require.NoError(t, b.Apply(domain.Envelope{Position: pos, Stream: alertStream("A"), StreamVersion: pos,
			Type: typ, SchemaVersion: 1, Data: data, Actor: "manager"}))
	}
	apply(domain.TypeAlertRaised, domain.AlertRaised{AlertID: "A:credit_limit:A:1", CustomerID: "A", Rule: signals.RuleCreditLimit, Subject: "A", Severity: "warning"})
	apply(domain.TypeAlertResolved, domain.AlertResolved{AlertID: "A:credit_limit:A:1", Reason: ReasonResolvedByHand})
	sig := signals.Signal{CustomerID: "A", Rule: signals.RuleCreditLimit, Subject: "A", Severity: signals.SeverityWarning}
	scopeA := signals.Scope{Customers: []domain.CustomerID{"A"}}

	changes, err := Plan(b, []signals.Signal{sig}, scopeA, d("2024-05-01"))
	require.NoError(t, err)
	assert.Empty(t, changes, "same severity: silent")

	changes, err = Plan(b, nil, signals.Scope{Customers: []domain.CustomerID{"B"}}, d("2024-05-01"))
	require.NoError(t, err)
	assert.Empty(t, changes, "out of scope: nothing recorded")

	changes, err = Plan(b, nil, scopeA, d("2024-05-02"))
	require.NoError(t, err)
	require.Len(t, changes, 1)
	assert.Equal(t, domain.AlertResolved{AlertID: "A:credit_limit:A:1", Reason: ReasonClearedAfterHand, ResolvedOn: d("2024-05-02")}, changes[0].Event)
	apply(domain.TypeAlertResolved, changes[0].Event)
	changes, err = Plan(b, nil, scopeA, d("2024-05-03"))
	require.NoError(t, err)
	assert.Empty(t, changes, "the clearing is recorded once")

	changes, err = Plan(b, []signals.Signal{sig}, scopeA, d("2024-05-04"))
	require.NoError(t, err)
	require.Len(t, changes, 1, "re-armed: a new episode raises")
	assert.Equal(t, "A:credit_limit:A:2", changes[0].Event.(domain.AlertRaised).AlertID)

	apply(domain.TypeAlertRaised, changes[0].Event)
	apply(domain.TypeAlertResolved, domain.AlertResolved{AlertID: "A:credit_limit:A:2", Reason: ReasonResolvedByHand})
	sig.Severity = signals.SeverityCritical
	changes, err = Plan(b, []signals.Signal{sig}, scopeA, d("2024-05-05"))
	require.NoError(t, err)
	require.Len(t, changes, 1, "worse than resolved by hand: raised")
	assert.Equal(t, "A:credit_limit:A:3", changes[0].Event.(domain.AlertRaised).AlertID)
}
