package alerting

import (
	"context"
	"encoding/json"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/encours/encours/domain"
	"github.com/encours/encours/eventstore/embedded"
	"github.com/encours/encours/projections/engine"
	"github.com/encours/encours/projections/ledger"
	"github.com/encours/encours/projections/signals"
)

// stateJSON renders what the evaluator's folded state shows: the facts and the book as
// their snapshots encode them (sorted), and the ledger figures of every customer at day.
func stateJSON(t *testing.T, m *ledger.Model, f *signals.Facts, b *Book, day domain.Date) string {
	t.Helper()
	fb, err := f.MarshalBinary()
	require.NoError(t, err)
	bb, err := b.MarshalBinary()
	require.NoError(t, err)
	figs, err := ledger.GroupFigures(m, ledger.ByCustomer, day, ledger.Config{})
	require.NoError(t, err)
	out, err := json.Marshal(map[string]any{"facts": json.RawMessage(fb), "book": json.RawMessage(bb), "figures": figs,
		"position": m.Position(), "hash": m.Hash()})
	require.NoError(t, err)
	return string(out)
}

// otherFacts books a customer with every kind of fact the signals keep: a promise, a
// payment plan, a dispute and a reversed payment.
func otherFacts(r *rig, c domain.CustomerID, on domain.Date) {
	r.register(c, "corporate", 45, 50_000_00, on)
	i1 := r.invoice(c, 12_000_00, on)
	i2 := r.invoice(c, 8_000_00, on)
	r.add(c, domain.PromiseToPayRecorded{PromiseID: string(c) + "-PR1", Amount: eur(5_000_00), PromisedFor: on.AddDays(50),
		InvoiceIDs: []domain.InvoiceID{i1}, RecordedOn: on.AddDays(1), Note: `call "Friday" <ok> & done`})
	r.add(c, domain.PaymentPlanAgreed{PlanID: string(c) + "-PL1", InvoiceIDs: []domain.InvoiceID{i2}, AgreedOn: on.AddDays(2),
		Instalments: []domain.Instalment{{Due: on.AddDays(60), Amount: eur(4_000_00)}, {Due: on.AddDays(90), Amount: eur(4_000_00)}}})
	r.add(c, domain.InvoiceDisputed{InvoiceID: i1, DisputedOn: on.AddDays(3), Reason: "damaged goods"})
	p := domain.PaymentID(string(c) + "-PAY")
	r.add(c, domain.PaymentReceived{PaymentID: p, Amount: eur(2_000_00), ReceivedOn: on.AddDays(4),
		Allocations: []domain.Allocation{{InvoiceID: i2, Amount: eur(2_000_00)}}, Unallocated: eur(0)})
	r.add(c, domain.PaymentReversed{PaymentID: p, Amount: eur(2_000_00), ReversedOn: on.AddDays(6), Reason: "returned",
		Reopened: []domain.Allocation{{InvoiceID: i2, Amount: eur(2_000_00)}}, UnallocatedRemoved: eur(0)})
}

// TestEvaluatorSnapshotRestart: the evaluator writes its folded state when it stops and the
// next start loads it and folds only what follows. Its state then equals a fold of the whole
// log from the start (facts, book, ledger figures, position and hash), the alerts it raises
// after the restart are those a cold start raises, and a cold start on the same log finds
// nothing left to raise: the same fixpoint.
func TestEvaluatorSnapshotRestart(t *testing.T) {
	dir := t.TempDir()
	r := newRig(t, dir, rigOptions{snapshot: true})
	acmeHistory(r, nil)
	otherFacts(r, "PROM", r.Today())
	open := r.ev.Alerts(Filter{Status: StatusOpen})
	require.NotEmpty(t, open, "the history raises alerts")
	_, err := r.ev.Acknowledge(context.Background(), open[0].AlertID, "manager@test", "on it")
	require.NoError(t, err)
	r.stop()
	written := r.ev.Stats().SnapshotWrittenAt
	require.NotZero(t, written, "a snapshot is written at stop")
	_, err = os.Stat(dir + "/alerts.snapshot")
	require.NoError(t, err)

	r2 := newRig(t, dir, rigOptions{snapshot: true, today: r.Today()})
	r2.tick(r.Today()) // Run has started (and loaded its snapshot)
	st := r2.ev.Stats()
	require.True(t, st.SnapshotLoaded, "discarded: %s", st.SnapshotDiscarded)
	require.Equal(t, written, st.SnapshotPosition)
	// More history after the restart: ACME pays later still (an escalation), another
	// customer goes over its limit.
	day := r2.Today().AddDays(20)
	r2.tick(day)
	inv := r2.invoice("ACME", 10_000_00, day.AddDays(-60))
	r2.pay("ACME", day, inv, 10_000_00)
	r2.register("OVER", "sme", 30, 1_000_00, day)
	r2.invoice("OVER", 2_000_00, day)
	otherFacts(r2, "PROM2", day)
	r2.tick(day.AddDays(1))
	envs := readAll(t, r2.store)
	m, f, b := rebuild(t, envs)
	r2.ev.mu.RLock()
	got := stateJSON(t, r2.ev.model, r2.ev.facts, r2.ev.book, day)
	r2.ev.mu.RUnlock()
	assert.Equal(t, stateJSON(t, m, f, b, day), got, "restarted from its snapshot, the evaluator holds the fold of the whole log")
	cfg := signals.DefaultConfig()
	sigs, err := signals.Evaluate(m, f, day.AddDays(1), &cfg, signals.EvaluateAll())
	require.NoError(t, err)
	plan, err := Plan(b, sigs, signals.EvaluateAll(), day.AddDays(1))
	require.NoError(t, err)
	assert.Empty(t, plan, "a cold fold of the log finds nothing the restarted evaluator left to raise or resolve")
	var over bool
	for _, a := range r2.ev.Alerts(Filter{Status: StatusOpen}) {
		over = over || a.CustomerID == "OVER"
	}
	assert.True(t, over, "alerts are raised after a restart from the snapshot")
	r2.stop()
	assert.Greater(t, r2.ev.Stats().SnapshotWrittenAt, written)
}

// TestEvaluatorSnapshotDiscarded: a damaged snapshot, one of another log, and a file that
// is no snapshot are discarded with their reason, and the evaluator folds the log from the
// start: its state is the fold of the whole log.
func TestEvaluatorSnapshotDiscarded(t *testing.T) {
	dir := t.TempDir()
	r := newRig(t, dir, rigOptions{snapshot: true})
	acmeHistory(r, nil)
	today := r.Today()
	r.stop()
	good, err := os.ReadFile(dir + "/alerts.snapshot")
	require.NoError(t, err)

	other := t.TempDir()
	ro := newRig(t, other, rigOptions{snapshot: true})
	ro.register("ELSE", "sme", 30, 1_000_00, d("2024-01-01"))
	ro.stop()
	foreign, err := os.ReadFile(other + "/alerts.snapshot")
	require.NoError(t, err)

	damaged := append([]byte(nil), good...)
	damaged[len(damaged)-10] ^= 0xff
	for _, c := range []struct {
		name, reason string
		file         []byte
	}{
		{"damaged", "digest", damaged},
		{"another log", "not the one the snapshot was built from", foreign},
		{"not a snapshot", "not a snapshot file", []byte("hello")},
	} {
		t.Run(c.name, func(t *testing.T) {
			require.NoError(t, os.WriteFile(dir+"/alerts.snapshot", c.file, 0o644))
			r := newRig(t, dir, rigOptions{snapshot: true, today: today})
			r.tick(today) // folded to the head and evaluated there
			st := r.ev.Stats()
			assert.False(t, st.SnapshotLoaded)
			assert.Contains(t, st.SnapshotDiscarded, c.reason)
			m, f, b := rebuild(t, readAll(t, r.store))
			r.ev.mu.RLock()
			got := stateJSON(t, r.ev.model, r.ev.facts, r.ev.book, today)
			r.ev.mu.RUnlock()
			assert.Equal(t, stateJSON(t, m, f, b, today), got)
			r.stop()
			assert.NotZero(t, r.ev.Stats().SnapshotWrittenAt, "a fresh snapshot replaces the bad one")
		})
	}
}

// TestCheckSnapshot (encours verify): the snapshot the evaluator wrote after a restart from
// an earlier one equals a fold of the log from the start, byte for byte; one whose book was
// altered (with a valid digest: written by someone who knew the format) is named as
// differing in its book; one built from another log is refused.
func TestCheckSnapshot(t *testing.T) {
	dir := t.TempDir()
	r := newRig(t, dir, rigOptions{snapshot: true})
	acmeHistory(r, nil)
	today := r.Today()
	r.stop()
	r = newRig(t, dir, rigOptions{snapshot: true, today: today})
	otherFacts(r, "PROM", today)
	r.stop()
	require.True(t, r.ev.Stats().SnapshotLoaded)
	st, err := embedded.Open(dir+"/store", embedded.Options{ReadOnly: true})
	require.NoError(t, err)
	defer st.Close()
	path := dir + "/alerts.snapshot"
	c, err := CheckSnapshot(context.Background(), path, st)
	require.NoError(t, err)
	assert.Empty(t, c.Problem)
	assert.Empty(t, c.Skipped)
	assert.Equal(t, r.ev.Stats().SnapshotWrittenAt, c.Position)

	info, payload, err := engine.ReadSnapshot(path)
	require.NoError(t, err)
	m, f, b, err := decodeEvaluatorState(payload)
	require.NoError(t, err)
	for _, a := range b.alerts {
		a.Severity = "info" // a quieter past
	}
	altered, err := encodeEvaluatorState(m, f, b)
	require.NoError(t, err)
	bad := t.TempDir() + "/alerts.snapshot"
	require.NoError(t, engine.WriteSnapshot(bad, info, altered))
	c, err = CheckSnapshot(context.Background(), bad, st)
	require.NoError(t, err)
	assert.Contains(t, c.Problem, "alert book differs")

	info.Hash[0] ^= 1
	require.NoError(t, engine.WriteSnapshot(bad, info, payload))
	c, err = CheckSnapshot(context.Background(), bad, st)
	require.NoError(t, err)
	assert.Contains(t, c.Problem, "not the one the snapshot was built from")
}
