package ledger

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/encours/encours/domain"
)

// Goal: a statement always adds up: opening balance + Σ(debit − credit) of its lines = the
// closing balance = the customer's exposure, every running balance is the previous one plus
// its line, and the live model needs no replay adjustment. Method: random valid histories
// (genHistory, some backdated); every customer's statement from the start and from a date in
// the middle of the history, on the live model and on a replay.
func TestStatementAddsUp(t *testing.T) {
	seeds, events := 12, 160
	if testing.Short() || raceEnabled {
		seeds, events = 4, 100
	}
	for seed := range uint64(seeds) {
		custs, evs, _ := genHistory(seed+1, events, d("2024-01-01"), 3*int(seed%2))
		log := newLog()
		live := New()
		latest := d("2000-01-01")
		for i, ev := range evs {
			env := log.add(t, custs[i], ev, time.Time{})
			require.NoError(t, live.Apply(env))
			if env.EffectiveOn.After(latest) {
				latest = env.EffectiveOn
			}
		}
		replayed, err := ReplaySlice(log.envs, latest, farFuture)
		require.NoError(t, err)
		middle := d("2024-01-01").AddDays(d("2024-01-01").DaysUntil(latest) / 2)
		for name, m := range map[string]*Model{"live": live, "replay": replayed} {
			for _, id := range CustomerIDs(m, Portfolio()) {
				for _, from := range []domain.Date{{}, middle} {
					st, err := CustomerStatement(m, id, from, latest)
					require.NoError(t, err, "seed %d %s %s", seed, name, id)
					balance := st.OpeningBalance
					for _, l := range st.Lines {
						assert.False(t, !from.IsZero() && l.Date.Before(from), "seed %d %s %s: a line before from", seed, name, id)
						balance += l.Debit - l.Credit
						assert.Equal(t, balance, l.Balance, "seed %d %s %s: running balance at %s %s", seed, name, id, l.Kind, l.Document)
						if name == "live" {
							assert.NotEqual(t, LineReplayAdjustment, l.Kind, "seed %d %s", seed, id)
						}
					}
					assert.Equal(t, st.ClosingBalance, balance, "seed %d %s %s from %s: lines reach the closing balance", seed, name, id, from)
					f, err := ComputeFigures(m, CustomerScope(id), latest, Config{})
					require.NoError(t, err)
					assert.Equal(t, f.Exposure.Minor, st.ClosingBalance, "seed %d %s %s: closing = exposure", seed, name, id)
				}
			}
		}
	}
}
