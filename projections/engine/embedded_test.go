package engine

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/encours/encours/eventstore/embedded"
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
