package alerting

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/encours/encours/domain"
	"github.com/encours/encours/eventstore"
	"github.com/encours/encours/eventstore/embedded"
	"github.com/encours/encours/handlers/demo"
	"github.com/encours/encours/projections/signals"
)

// TestJourneyTwoCreditManagersMorning is journey 2 (shared/journeys.md) on the demo
// portfolio (handlers/demo: ACME drifts, SILENT stops paying, PROMISE, PLAN, BOUNCE and
// DISPUTE tell their stories), end to end through the store, the evaluator, the delivery
// and the routes.
//
//  1. Yesterday the credit manager subscribed: a webhook, segment sme, severity ≥ warning.
//  2. Overnight, the tick at End finds ACME's drift: a signed payment_drift alert arrives
//     with the baseline (2 days early), the current figure (+18 days), the threshold and
//     the payments that moved it.
//  3. ACME's page: utilisation 87 % (a credit_limit warning) and an insurance declaration
//     due in 9 days. The manager records a promise to pay, lowers the limit (reason: drift)
//     and acknowledges the drift alert.
//  4. The dunning worklist proposes today's reminders, disputed invoices excluded.
//  5. A week later the promise is broken: a broken_promise alert arrives; the risk score
//     has dropped and its factors say why.
func TestJourneyTwoCreditManagersMorning(t *testing.T) {
	end := d("2026-03-02")
	dir := t.TempDir()

	// The portfolio's history and, the day before End, the subscription: written to the
	// store before the daemon (the rig) starts, as an import and a subscription would be.
	st, err := embedded.Open(dir+"/store", embedded.Options{})
	require.NoError(t, err)
	steps, err := demo.Generate(demo.Config{Customers: 0, Years: 1, Seed: 1, End: end})
	require.NoError(t, err)
	ctx := context.Background()
	states := map[domain.CustomerID]*domain.Customer{}
	rc := newReceiver(t)
	rc.secret = "journey-two-shared-secret"
	subscribed := false
	n := 0
	for s := range steps {
		if !subscribed && !s.On.Before(end.AddDays(-1)) {
			data, err := json.Marshal(SubscriptionCreated{SubscriptionID: "chat-bridge", Channel: ChannelWebhook, URL: rc.srv.URL,
				Filter: SubscriptionFilter{Segments: []string{"sme"}, MinSeverity: "warning"}, Secret: rc.secret, CreatedOn: end.AddDays(-1)})
			require.NoError(t, err)
			_, err = st.Append(ctx, eventstore.AppendRequest{Stream: SubscriptionsStream, Events: []domain.Envelope{{EventID: "sub-1",
				Stream: SubscriptionsStream, Type: TypeSubscriptionCreated, SchemaVersion: 1, EffectiveOn: end.AddDays(-1), Actor: "manager", Data: data}}})
			require.NoError(t, err)
			subscribed = true
		}
		id := s.Command.Customer()
		c := states[id]
		if c == nil {
			c = domain.NewCustomer()
			states[id] = c
		}
		version := c.Version()
		evs, err := domain.Decide(c, s.Command)
		require.NoError(t, err, "%s %T", s.Key, s.Command)
		req := eventstore.AppendRequest{Stream: domain.CustomerStream(id), ExpectedVersion: int64(version)}
		for i, e := range evs {
			domain.Evolve(c, e)
			data, err := domain.EncodeEvent(e)
			require.NoError(t, err)
			req.Events = append(req.Events, domain.Envelope{EventID: s.Key + "#" + string(rune('a'+i)), Stream: req.Stream, Type: e.EventType(),
				SchemaVersion: 1, EffectiveOn: e.Effective(), Actor: "import", Data: data})
		}
		_, err = st.Append(ctx, req)
		require.NoError(t, err)
		n++
	}
	require.True(t, subscribed)
	require.NoError(t, st.Close())
	t.Logf("demo portfolio: %d commands", n)

	// 2. The daemon starts; the tick at End evaluates everything.
	r := newRig(t, dir, rigOptions{today: end})
	r.tick(end)
	const acme = domain.CustomerID("ACME")
	drift := waitNotification(t, rc, acme, signals.RulePaymentDrift, domain.TypeAlertRaised)
	var raised domain.AlertRaised
	require.NoError(t, json.Unmarshal(drift.Data, &raised))
	var expl struct {
		signals.Explanation
		Segment string `json:"segment"`
	}
	require.NoError(t, json.Unmarshal(raised.Explanation, &expl))
	t.Logf("drift alert: %s — %s", raised.Severity, expl.Summary)
	mean, _ := figureOf(expl.Baseline, "dbt_mean")
	assert.Equal(t, int64(-200), mean, "baseline: 2 days early on average")
	last, _ := figureOf(expl.Current, "dbt_last")
	assert.Equal(t, int64(1800), last, "the current figure: +18 days")
	_, hasH := figureOf(expl.Threshold, "cusum_h")
	assert.True(t, hasH, "the threshold")
	require.NotEmpty(t, expl.Moved, "the payments that moved it")
	assert.Equal(t, signals.MovedPayment, expl.Moved[len(expl.Moved)-1].Kind)
	rc.mu.Lock()
	assert.Zero(t, rc.badSigs, "signed")
	for _, a := range rc.accepted {
		assert.Equal(t, "sme", a.Segment, "the filter: segment sme")
		assert.NotEqual(t, "info", a.Severity, "the filter: warning and above")
	}
	rc.mu.Unlock()

	// 3. ACME's page.
	var rep signals.CustomerReport
	require.Equal(t, http.StatusOK, r.do("GET", "/v1/customers/ACME/signals", nil, &rep))
	limitSig := signalOf(rep.Signals, signals.RuleCreditLimit)
	require.NotNil(t, limitSig, "utilisation above 80 %")
	util, _ := figureOf(limitSig.Explanation.Current, "utilisation")
	assert.InDelta(t, 8700, util, 50, "utilisation about 87 %")
	ins := signalOf(rep.Signals, signals.RuleInsuranceDeadline)
	require.NotNil(t, ins, "an insurance declaration deadline")
	left, _ := figureOf(ins.Explanation.Current, "days_left")
	assert.Equal(t, int64(9), left, "due in 9 days")
	scoreBefore := rep.Score.Score
	unpaid := domain.InvoiceID(ins.Subject)

	r.add(acme, domain.PromiseToPayRecorded{PromiseID: "PTP-J2", Amount: eur(14_612_40), PromisedFor: end.AddDays(3),
		InvoiceIDs: []domain.InvoiceID{unpaid}, RecordedOn: end})
	r.add(acme, domain.CreditLimitChanged{Limit: eur(35_000_00), Previous: eur(45_000_00), Reason: "payment drift", ChangedOn: end})
	var acked Alert
	require.Equal(t, http.StatusOK, r.do("POST", "/v1/alerts/"+raised.AlertID+"/ack",
		map[string]string{"comment": "limit lowered to 35k, promise for " + end.AddDays(3).String()}, &acked))
	assert.Equal(t, StatusAcknowledged, acked.Status)

	// 4. Today's reminders, disputed invoices excluded.
	var dun struct {
		Proposals []signals.Proposal `json:"proposals"`
	}
	require.Equal(t, http.StatusOK, r.do("GET", "/v1/dunning?as_of="+end.String(), nil, &dun))
	due := 0
	for _, p := range dun.Proposals {
		assert.NotEqual(t, domain.CustomerID("DISPUTE"), p.CustomerID, "DISPUTE's only overdue invoice is disputed")
		if p.DueNow {
			due++
		}
	}
	assert.Positive(t, due, "reminders to send today")

	// 5. A week later.
	r.tick(end.AddDays(7))
	broken := waitNotification(t, rc, acme, signals.RuleBrokenPromise, domain.TypeAlertRaised)
	assert.Equal(t, "PTP-J2", broken.Subject)
	require.Equal(t, http.StatusOK, r.do("GET", "/v1/customers/ACME/signals", nil, &rep))
	assert.Less(t, rep.Score.Score, scoreBefore, "the risk score drops")
	for _, f := range rep.Score.Factors {
		if f.Name == "incidents" {
			assert.Equal(t, int64(1), f.Value.Value, "and shows why: the broken promise")
		}
	}
	t.Logf("risk score %d → %d", scoreBefore, rep.Score.Score)

	// The other named stories raise theirs too; SILENT, a corporate customer, is caught by
	// silent non-payment (and not sent to this subscription: segment sme only).
	for _, want := range []struct {
		customer domain.CustomerID
		rule     string
	}{
		{"SILENT", signals.RuleSilentNonPayment},
		{"PROMISE", signals.RuleBrokenPromise},
		{"PLAN", signals.RuleMissedInstalment},
		{"BOUNCE", signals.RuleReversals},
	} {
		got := r.ev.Alerts(Filter{CustomerID: want.customer, Rule: want.rule})
		assert.NotEmpty(t, got, "%s raises %s", want.customer, want.rule)
	}
}

func waitNotification(t *testing.T, rc *receiver, c domain.CustomerID, rule, typ string) Notification {
	t.Helper()
	var got Notification
	require.Eventually(t, func() bool {
		rc.mu.Lock()
		defer rc.mu.Unlock()
		for _, n := range rc.accepted {
			if n.CustomerID == c && n.Rule == rule && n.Type == typ {
				got = n
				return true
			}
		}
		return false
	}, waitMax, 5*time.Millisecond, "%s %s for %s delivered", typ, rule, c)
	return got
}

func figureOf(fs []signals.Figure, name string) (int64, bool) {
	for _, f := range fs {
		if f.Name == name {
			return f.Value, true
		}
	}
	return 0, false
}

func signalOf(ss []signals.Signal, rule string) *signals.Signal {
	for i := range ss {
		if ss[i].Rule == rule {
			return &ss[i]
		}
	}
	return nil
}
