package reports

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/encours/encours/domain"
	"github.com/encours/encours/projections/ledger"
)

// startingLive is a live projection that becomes ready once ready is set, as the engine does
// after loading its snapshot.
type startingLive struct {
	ready atomic.Bool
	m     *ledger.Model
	calls atomic.Int64 // Ready calls
}

func (s *startingLive) Ready() bool                   { s.calls.Add(1); return s.ready.Load() }
func (s *startingLive) View(fn func(m *ledger.Model)) { fn(s.m) }

// A read of today just after a start waits for the live projection instead of replaying the
// whole log; once the wait is over with the projection still not ready, it replays.
func TestTodayWaitsForTheLiveProjection(t *testing.T) {
	ctx := context.Background()
	st, _ := newLog(t)
	envs, err := st.ReadAll(ctx, 1, 1000)
	require.NoError(t, err)
	today := domain.MustDate("2026-01-12")
	m, err := ledger.ReplaySlice(envs, today, time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC))
	require.NoError(t, err)

	live := &startingLive{m: m}
	src := &countingReader{Reader: st}
	l := NewLedger(live, src)
	go func() {
		for live.calls.Load() < 3 { // the read is waiting
			time.Sleep(time.Millisecond)
		}
		live.ready.Store(true)
	}()
	var basis Basis
	require.NoError(t, l.With(ctx, today, today, nil, func(_ *ledger.Model, b Basis) error { basis = b; return nil }))
	assert.True(t, basis.Live, "served by the live projection")
	assert.Zero(t, src.reads(), "events replayed from the log")

	never := &startingLive{m: m}
	l = NewLedger(never, src)
	l.liveWait = 30 * time.Millisecond
	require.NoError(t, l.With(ctx, today, today, nil, func(_ *ledger.Model, b Basis) error { basis = b; return nil }))
	assert.False(t, basis.Live, "a projection never ready: replayed")
	assert.Equal(t, len(envs), src.reads())
	assert.Equal(t, m.Position(), basis.Position)
}
