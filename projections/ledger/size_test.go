package ledger

import (
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestApproxBytes: the model's size estimate (what bounds the read side's cache of replayed
// models) stays within a factor of 1.6 of the live heap it holds, measured with
// runtime.MemStats, on a random history with payments, credit notes, plans and disputes.
func TestApproxBytes(t *testing.T) {
	custs, evs, days := genHistory(3, 20_000, d("2023-01-01"), 0)
	log := newLog()
	for i, ev := range evs {
		log.add(t, custs[i], ev, recordedOn(days[i], i))
	}
	base := heapInUse()
	m, err := ReplaySlice(log.envs, days[len(days)-1], farFuture)
	require.NoError(t, err)
	live := heapInUse() - base
	est := m.ApproxBytes()
	t.Logf("%d events, %d customers, %d invoices: estimate %d B, measured %d B (ratio %.2f)",
		len(evs), m.customers.len(), m.invoices.len(), est, live, float64(est)/float64(live))
	assert.Greater(t, float64(est), float64(live)/1.6, "estimate too low")
	assert.Less(t, float64(est), float64(live)*1.6, "estimate too high")
	runtime.KeepAlive(m)
	runtime.KeepAlive(log)
	runtime.KeepAlive(evs)
	runtime.KeepAlive(custs)
	assert.Less(t, New().ApproxBytes(), uint64(1024))
}
