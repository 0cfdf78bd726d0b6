package ledger

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestSnapshotManyParts: a model of several invoice parts (chunkLen invoices each, decoded
// in parallel) comes back the same, and damage in a later part or a wrong invoice count is
// refused.
func TestSnapshotManyParts(t *testing.T) {
	l := benchLog(t, 230, 40) // 9 200 invoices: three parts, the last one partial
	m := New()
	for _, e := range l.envs {
		require.NoError(t, m.Apply(e))
	}
	require.Greater(t, m.invoices.len(), 2*chunkLen)
	good, err := m.MarshalBinary()
	require.NoError(t, err)
	var x Model
	require.NoError(t, x.UnmarshalBinary(good))
	assert.Equal(t, dump(m), dump(&x))
	again, err := x.MarshalBinary()
	require.NoError(t, err)
	assert.Equal(t, good, again, "decode then encode gives the same bytes")
	for _, n := range []int{len(good) / 3, len(good) / 2, len(good) - 40, len(good) - 1} {
		var y Model
		require.ErrorIs(t, y.UnmarshalBinary(good[:n]), ErrBadSnapshot, "truncated to %d of %d bytes", n, len(good))
	}
	for i := len(good) / 2; i < len(good); i += 997 {
		b := append([]byte(nil), good...)
		b[i] ^= 0x5a
		var y Model
		if err := y.UnmarshalBinary(b); err == nil {
			require.NoError(t, y.check())
			require.NoError(t, y.checkDocTags())
		} else {
			require.ErrorIs(t, err, ErrBadSnapshot)
		}
	}
	var y Model
	require.ErrorIs(t, y.UnmarshalBinary(append(good, 0)), ErrBadSnapshot, "a trailing byte")
}
