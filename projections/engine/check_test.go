package engine

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/encours/encours/domain"
	"github.com/encours/encours/projections/ledger"
)

// truncated is a log that ends early (its last segment lost).
type truncated struct {
	Reader
	last uint64
}

func (t truncated) ReadAll(ctx context.Context, from uint64, limit int) ([]domain.Envelope, error) {
	envs, err := t.Reader.ReadAll(ctx, from, limit)
	for i, e := range envs {
		if e.Position > t.last {
			return envs[:i], err
		}
	}
	return envs, err
}

// rehashed is a log whose event at one position carries another hash (rewritten).
type rehashed struct {
	Reader
	at uint64
}

func (r rehashed) ReadAll(ctx context.Context, from uint64, limit int) ([]domain.Envelope, error) {
	envs, err := r.Reader.ReadAll(ctx, from, limit)
	out := append([]domain.Envelope(nil), envs...)
	for i := range out {
		if out[i].Position == r.at {
			out[i].Hash[0] ^= 0xff
		}
	}
	return out, err
}

// writeSnapshot writes a ledger snapshot file of m under name, with a correct digest: what a
// forger who knows the format would write.
func writeSnapshot(t *testing.T, dir, name string, version uint32, m *ledger.Model) {
	t.Helper()
	payload, err := m.MarshalBinary()
	require.NoError(t, err)
	h := snapshotHeader{version: version, position: m.Position(), hash: m.Hash(), payloadLen: uint64(len(payload)), digest: sha256.Sum256(payload), name: name}
	require.NoError(t, os.WriteFile(filepath.Join(dir, name+".snapshot"), append(appendSnapshotHeader(nil, h), payload...), 0o644))
}

// Goal: CheckSnapshots accepts the snapshot the engine wrote and finds every way a persisted
// projection can disagree with the log. Method: the engine writes a snapshot over a real log;
// then the snapshot is damaged (a flipped byte), forged (a model of a log where one invoice's
// amount differs, written with a correct digest and the real chain hash), checked against a
// log that lost its tail, and joined by a projection this build has no replay of.
func TestCheckSnapshots(t *testing.T) {
	ctx := context.Background()
	s := newMemStore()
	fillCustomers(t, s, 0, 6, 3)
	dir := t.TempDir()
	r := start(t, s, dir, LedgerVersion)
	waitPosition(t, r.eng, head(t, s))
	require.NoError(t, r.stop(), "a clean stop writes a snapshot")
	last := head(t, s)

	checks, err := CheckSnapshots(ctx, dir, s)
	require.NoError(t, err)
	require.Len(t, checks, 1)
	assert.True(t, checks[0].OK(), "%+v", checks[0])
	assert.Equal(t, "ledger", checks[0].Projection)
	assert.Equal(t, last, checks[0].Position)

	none, err := CheckSnapshots(ctx, filepath.Join(dir, "missing"), s)
	require.NoError(t, err)
	assert.Empty(t, none, "no directory: no snapshots")

	good, err := os.ReadFile(filepath.Join(dir, "ledger.snapshot"))
	require.NoError(t, err)
	restore := func() { require.NoError(t, os.WriteFile(filepath.Join(dir, "ledger.snapshot"), good, 0o644)) }

	t.Run("a flipped byte is damage", func(t *testing.T) {
		defer restore()
		for _, off := range []int{10, snapshotHeaderSize + 20, len(good) / 2, len(good) - 1} {
			b := append([]byte(nil), good...)
			b[off] ^= 0x20
			require.NoError(t, os.WriteFile(filepath.Join(dir, "ledger.snapshot"), b, 0o644))
			checks, err := CheckSnapshots(ctx, dir, s)
			require.NoError(t, err)
			require.Len(t, checks, 1)
			assert.False(t, checks[0].OK(), "byte %d flipped", off)
			assert.NotEmpty(t, checks[0].Problem, "byte %d flipped", off)
		}
	})

	t.Run("a forged snapshot names the differing figure", func(t *testing.T) {
		defer restore()
		envs, err := s.ReadAll(ctx, 1, 1000)
		require.NoError(t, err)
		forged := ledger.New()
		changed := false
		for _, e := range envs {
			if e.Type == domain.TypeInvoiceIssued && e.Stream == "customer-C00003" && !changed {
				ev, err := domain.DecodeEvent(e.Type, e.SchemaVersion, e.Data)
				require.NoError(t, err)
				inv := ev.(domain.InvoiceIssued)
				inv.Amount.Minor += 100 // one euro more on the books
				e.Data, err = json.Marshal(inv)
				require.NoError(t, err)
				changed = true
			}
			require.NoError(t, forged.Apply(e))
		}
		require.True(t, changed)
		writeSnapshot(t, dir, "ledger", LedgerVersion, forged)
		checks, err := CheckSnapshots(ctx, dir, s)
		require.NoError(t, err)
		require.Len(t, checks, 1)
		assert.False(t, checks[0].OK())
		assert.Contains(t, checks[0].Problem, "customer C00003: exposure")
	})

	t.Run("a log that lost its tail", func(t *testing.T) {
		checks, err := CheckSnapshots(ctx, dir, truncated{s, last - 4})
		require.NoError(t, err)
		require.Len(t, checks, 1)
		assert.False(t, checks[0].OK())
		assert.Equal(t, last-3, checks[0].BadPosition)
		assert.Contains(t, checks[0].Problem, "missing")
	})

	t.Run("a log whose event at the snapshot's position was replaced", func(t *testing.T) {
		checks, err := CheckSnapshots(ctx, dir, rehashed{s, last})
		require.NoError(t, err)
		require.Len(t, checks, 1)
		assert.False(t, checks[0].OK())
		assert.Equal(t, last, checks[0].BadPosition)
		assert.Contains(t, checks[0].Problem, "the snapshot was built from")
	})

	t.Run("other projections and versions are named, not compared", func(t *testing.T) {
		other := t.TempDir()
		m := ledger.New()
		writeSnapshot(t, other, "signals", 1, m)
		writeSnapshot(t, other, "ledger", LedgerVersion+1, m)
		require.NoError(t, os.WriteFile(filepath.Join(other, "ledger.snapshot.tmp-123"), []byte("partial"), 0o644))
		checks, err := CheckSnapshots(ctx, other, s)
		require.NoError(t, err)
		require.Len(t, checks, 2, "a temporary file is not a snapshot")
		for _, c := range checks {
			assert.NotEmpty(t, c.Skipped, c.File)
			assert.Empty(t, c.Problem, c.File)
		}
	})
}
