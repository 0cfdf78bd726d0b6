package engine

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/encours/encours/domain"
	"github.com/encours/encours/eventstore/embedded"
	"github.com/encours/encours/projections/ledger"
)

// TestEngineOverEmbeddedStore runs the ledger engine over the real embedded store: catch-up,
// live appends, a clean stop with the store closed, and a restart on the reopened store that
// resumes from the snapshot (checked against the store's own event at that position).
func TestEngineOverEmbeddedStore(t *testing.T) {
	storeDir, snapDir := t.TempDir(), t.TempDir()
	s, err := embedded.Open(storeDir, embedded.Options{})
	require.NoError(t, err)
	fillCustomers(t, s, 0, 30, 4)

	r := start(t, s, snapDir, LedgerVersion)
	waitPosition(t, r.eng, head(t, s))
	require.Eventually(t, r.eng.Ready, 5*time.Second, 5*time.Millisecond, "waiting for Ready")
	fillCustomers(t, s, 30, 10, 2)
	waitPosition(t, r.eng, head(t, s))
	assert.Equal(t, reference(t, s), viewFigures(t, r.eng))
	require.NoError(t, r.stop())
	stopped := r.eng.Position()
	require.NoError(t, s.Close())

	s, err = embedded.Open(storeDir, embedded.Options{})
	require.NoError(t, err)
	defer s.Close()
	fillCustomers(t, s, 40, 5, 3)
	again := start(t, s, snapDir, LedgerVersion)
	waitPosition(t, again.eng, head(t, s))
	st := again.eng.Stats()
	assert.True(t, st.SnapshotLoaded, "discarded: %s", st.SnapshotDiscarded)
	assert.Equal(t, stopped, st.SnapshotPosition)
	assert.Equal(t, head(t, s)-stopped, st.EventsApplied)
	assert.Equal(t, reference(t, s), viewFigures(t, again.eng))
	require.NoError(t, again.stop())
}

// cancelAtHead is an embedded store whose reads cancel the engine's context once they reach
// the head: Run is stopped between its catch-up and its subscription.
type cancelAtHead struct {
	*embedded.Store
	cancel context.CancelFunc
}

func (c cancelAtHead) ReadAll(ctx context.Context, from uint64, limit int) ([]domain.Envelope, error) {
	envs, err := c.Store.ReadAll(ctx, from, limit)
	if h, _ := c.Store.Head(ctx); len(envs) > 0 && envs[len(envs)-1].Position == h.Position {
		c.cancel()
	}
	return envs, err
}

func (c cancelAtHead) ReadPage(ctx context.Context, from uint64, limit int, hashed bool, envs []domain.Envelope, buf []byte) ([]domain.Envelope, []byte, error) {
	envs, buf, err := c.Store.ReadPage(ctx, from, limit, hashed, envs, buf)
	if h, _ := c.Store.Head(ctx); len(envs) > 0 && envs[len(envs)-1].Position == h.Position {
		c.cancel()
	}
	return envs, buf, err
}

// TestEngineStoppedAfterCatchUp: a stop that lands between the catch-up and the
// subscription is a clean stop, with what was caught up snapshotted.
func TestEngineStoppedAfterCatchUp(t *testing.T) {
	s, err := embedded.Open(t.TempDir(), embedded.Options{})
	require.NoError(t, err)
	defer s.Close()
	fillCustomers(t, s, 0, 10, 3)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	eng := NewLedgerEngine(cancelAtHead{s, cancel}, t.TempDir(), Config[*ledger.Model]{})
	require.NoError(t, eng.Run(ctx))
	// The last page may or may not have been handed over before the stop; whatever was
	// applied is in the snapshot.
	assert.Equal(t, eng.Position(), eng.Stats().LastSnapshotAtPos)
}
