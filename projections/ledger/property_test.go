package ledger

import (
	"encoding/json"
	"iter"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/encours/encours/domain"
)

// figuresJSON renders what the API will show of a model at asOf: the portfolio, every
// customer and segment, penalties, the forecast and concentration.
func figuresJSON(t *testing.T, m *Model, asOf domain.Date) string {
	t.Helper()
	out := map[string]any{}
	var err error
	out["portfolio"], err = ComputeFigures(m, Portfolio(), asOf, Config{})
	require.NoError(t, err)
	out["customers"], err = GroupFigures(m, ByCustomer, asOf, Config{})
	require.NoError(t, err)
	out["segments"], err = GroupFigures(m, BySegment, asOf, Config{})
	require.NoError(t, err)
	out["penalties"], err = Penalties(m, Portfolio(), asOf, PenaltyPolicy{ContractualRateBP: 1200})
	require.NoError(t, err)
	out["forecast"], err = CashForecast(m, Portfolio(), asOf, 6)
	require.NoError(t, err)
	out["concentration"], err = Concentration(m, Portfolio(), asOf)
	require.NoError(t, err)
	b, err := json.Marshal(out)
	require.NoError(t, err)
	return string(b)
}

// TestIncrementalEqualsReplay is the Projections issue's property (b). Goal: the model kept
// incrementally, one envelope at a time, never drifts from a full replay of the same log.
// Method: random valid histories (events generated directly, amounts kept consistent by
// histGen, some backdated); after every event, the live model's running totals are checked
// against its detail, its canonical dump and figures are compared with a fresh Replay of
// the log so far, and now and then the live model is snapshotted, decoded, and the decoded
// copy carries on in its place.
func TestIncrementalEqualsReplay(t *testing.T) {
	seeds, events := 16, 160
	if testing.Short() || raceEnabled {
		seeds, events = 5, 100
	}
	for seed := range uint64(seeds) {
		custs, evs, _ := genHistory(seed+1, events, d("2024-01-01"), 3*int(seed%2))
		log := newLog()
		live := New()
		for i, ev := range evs {
			env := log.add(t, custs[i], ev, time.Time{})
			require.NoError(t, live.Apply(env), "seed %d event %d %s", seed, i, ev.EventType())
			require.NoError(t, live.check(), "seed %d event %d", seed, i)
			require.NoError(t, live.checkDocTags(), "seed %d event %d", seed, i)
			latest := d("2000-01-01")
			for _, e := range log.envs {
				if e.EffectiveOn.After(latest) {
					latest = e.EffectiveOn
				}
			}
			replay, err := ReplaySlice(log.envs, latest, farFuture)
			require.NoError(t, err, "seed %d event %d", seed, i)
			require.Equal(t, dump(replay), dump(live), "seed %d after event %d %s", seed, i, ev.EventType())
			if i%10 == 9 || i == len(evs)-1 {
				require.Equal(t, figuresJSON(t, replay, latest), figuresJSON(t, live, latest), "seed %d after event %d", seed, i)
			}
			if i%25 == 24 {
				b, err := live.MarshalBinary()
				require.NoError(t, err)
				decoded := New()
				require.NoError(t, decoded.UnmarshalBinary(b), "seed %d event %d", seed, i)
				require.Equal(t, dump(live), dump(decoded))
				require.NoError(t, decoded.checkDocTags())
				require.Equal(t, live.Position(), decoded.Position())
				require.Equal(t, live.Hash(), decoded.Hash())
				live = decoded
			}
		}
	}
}

// TestLiveEqualsLaterReplay is the Projections issue's property (c). Goal: what the live
// model showed at the end of day D is exactly what a later Replay as of D shows, although
// events effective after D were appended since. Method: a random history recorded day by day
// (each event effective on the day it is recorded); at each day's end the live model's dump
// and figures at D are kept; at the end every day is replayed from the whole log. A second
// history also records backdated corrections: replayed "as known at" the end of D it still
// matches, and "as known now" it differs on some day (the correction is then visible).
func TestLiveEqualsLaterReplay(t *testing.T) {
	events := 400
	if testing.Short() || raceEnabled {
		events = 200
	}
	for _, backdate := range []int{0, 5} {
		custs, evs, days := genHistory(99+uint64(backdate), events, d("2024-01-01"), backdate)
		log := newLog()
		live := New()
		type shown struct {
			day     domain.Date
			dump    string
			figures string
		}
		var seen []shown
		for i, ev := range evs {
			env := log.add(t, custs[i], ev, recordedOn(days[i], i))
			require.NoError(t, live.Apply(env))
			if i == len(evs)-1 || days[i+1].After(days[i]) {
				seen = append(seen, shown{days[i], dump(live), figuresJSON(t, live, days[i])})
			}
		}
		require.Greater(t, len(seen), 20, "the history should span many days")
		differs, adjustments := 0, 0
		for _, s := range seen {
			knownAt := farFuture
			if backdate > 0 {
				knownAt = endOfDay(s.day)
			}
			m, err := ReplaySlice(log.envs, s.day, knownAt)
			require.NoError(t, err)
			assert.Equal(t, s.dump, dump(m), "backdate %d: model as of %s", backdate, s.day)
			assert.Equal(t, s.figures, figuresJSON(t, m, s.day), "backdate %d: figures as of %s", backdate, s.day)
			if backdate > 0 {
				now, err := ReplaySlice(log.envs, s.day, farFuture)
				require.NoError(t, err)
				require.NoError(t, now.check())
				figuresJSON(t, now, s.day) // aging sums are asserted inside
				adjustments += now.ReplayAdjustments()
				if dump(now) != s.dump {
					differs++
				}
			}
		}
		if backdate > 0 {
			assert.Positive(t, differs, "backdated events should change some past day as known now")
			t.Logf("backdated history: %d of %d days differ as known now; %d replay adjustments", differs, len(seen), adjustments)
		}
	}
}

// TestReplayMoreEqualsReplay: a replayed model continued with the envelopes appended since
// (what the read side's replay cache does) equals a fresh Replay of the longer log, whatever
// the split point, for as-of dates in the middle of the history, and for a known-at instant.
// The history has backdated events, so later envelopes do change earlier dates.
func TestReplayMoreEqualsReplay(t *testing.T) {
	events := 300
	if testing.Short() || raceEnabled {
		events = 150
	}
	custs, evs, days := genHistory(7, events, d("2024-01-01"), 5)
	log := newLog()
	for i, ev := range evs {
		log.add(t, custs[i], ev, recordedOn(days[i], i))
	}
	slice := func(envs []domain.Envelope) iter.Seq[domain.Envelope] { return slices.Values(envs) }
	changed := 0
	for _, asOf := range []domain.Date{days[events/4], days[events/2], days[3*events/4]} {
		for _, knownAt := range []time.Time{farFuture, endOfDay(days[2*events/3])} {
			m, err := ReplaySlice(log.envs[:events/5], asOf, knownAt)
			require.NoError(t, err)
			before := dump(m)
			// Continue in uneven steps, comparing with a fresh replay at each.
			for cut := events / 5; cut < len(log.envs); {
				next := min(len(log.envs), cut+1+cut%37)
				require.NoError(t, m.ReplayMore(slice(log.envs[cut:next])))
				cut = next
				fresh, err := ReplaySlice(log.envs[:cut], asOf, knownAt)
				require.NoError(t, err)
				require.Equal(t, dump(fresh), dump(m), "as of %s known at %s, log cut at %d", asOf, knownAt, cut)
				require.Equal(t, fresh.Position(), m.Position())
				require.Equal(t, fresh.Hash(), m.Hash())
				require.Equal(t, fresh.ReplayAdjustments(), m.ReplayAdjustments())
				require.Equal(t, uint64(cut), m.ReplaySeen())
			}
			require.Equal(t, figuresJSON(t, mustReplay(t, log.envs, asOf, knownAt), asOf), figuresJSON(t, m, asOf))
			if dump(m) != before {
				changed++
			}
		}
	}
	assert.Positive(t, changed, "later envelopes should change some past date")
	// A model continued with envelopes it has already read is refused, not double-counted.
	m := mustReplay(t, log.envs[:10], days[5], farFuture)
	require.ErrorIs(t, m.ReplayMore(slice(log.envs[9:12])), ErrOutOfOrder)
	require.Error(t, New().ReplayMore(slice(log.envs[:1])), "a live model is not a replay")
}

func mustReplay(t *testing.T, envs []domain.Envelope, asOf domain.Date, knownAt time.Time) *Model {
	t.Helper()
	m, err := ReplaySlice(envs, asOf, knownAt)
	require.NoError(t, err)
	return m
}

// TestReplayManyEqualsReplay: one pass for several as-of dates builds, for each date, the
// model Replay builds alone (dump, figures, basis), the event decoded once being shared.
func TestReplayManyEqualsReplay(t *testing.T) {
	custs, evs, days := genHistory(11, 400, d("2024-01-01"), 5)
	log := newLog()
	for i, ev := range evs {
		log.add(t, custs[i], ev, recordedOn(days[i], i))
	}
	dates := []domain.Date{days[0], days[100], days[200], days[250], days[399], days[399].AddDays(40)}
	for _, knownAt := range []time.Time{farFuture, endOfDay(days[300])} {
		ms, err := ReplayMany(slices.Values(log.envs), dates, knownAt)
		require.NoError(t, err)
		require.Len(t, ms, len(dates))
		distinct := map[string]bool{}
		for i, asOf := range dates {
			one := mustReplay(t, log.envs, asOf, knownAt)
			require.Equal(t, dump(one), dump(ms[i]), "as of %s known at %s", asOf, knownAt)
			require.Equal(t, figuresJSON(t, one, asOf), figuresJSON(t, ms[i], asOf), "as of %s", asOf)
			require.Equal(t, one.Position(), ms[i].Position())
			require.Equal(t, one.Hash(), ms[i].Hash())
			require.Equal(t, one.ReplaySeen(), ms[i].ReplaySeen())
			require.Equal(t, one.ReplayAdjustments(), ms[i].ReplayAdjustments())
			distinct[dump(one)] = true
		}
		assert.Greater(t, len(distinct), 3, "the dates should give different models")
	}
	_, err := ReplayMany(slices.Values([]domain.Envelope{log.envs[1], log.envs[0]}), dates, farFuture)
	require.ErrorIs(t, err, ErrOutOfOrder)
}
