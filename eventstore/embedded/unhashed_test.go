package embedded

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/encours/encours/domain"
	"github.com/encours/encours/eventstore"
)

// TestReadAllUnhashed: it returns what ReadAll returns (stored hashes included), from any
// position and with any limit, and a record damaged after Open still fails its CRC.
func TestReadAllUnhashed(t *testing.T) {
	dir := t.TempDir()
	_, events, locs := fillStore(t, dir, 8<<10, []int{3, 1, 7, 2, 5, 1, 4})
	s, err := Open(dir, Options{})
	require.NoError(t, err)
	defer s.Close()
	ctx := context.Background()
	for from := uint64(1); from <= uint64(len(events))+1; from++ {
		for _, limit := range []int{0, 1, 3, 100} {
			want, err := s.ReadAll(ctx, from, limit)
			require.NoError(t, err)
			got, err := s.ReadAllUnhashed(ctx, from, limit)
			require.NoError(t, err)
			assert.Equal(t, want, got, "from %d, limit %d", from, limit)
		}
	}
	all, err := s.ReadAllUnhashed(ctx, 1, 0)
	require.NoError(t, err)
	assert.Equal(t, events, all)

	loc := locs[5] // flip a bit of position 5's event data behind the open store's back
	path := filepath.Join(dir, loc.seg)
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	b[loc.end-hashBytes-2] ^= 0x10
	require.NoError(t, os.WriteFile(path, b, 0o644))
	_, err = s.ReadAllUnhashed(ctx, 1, 0)
	var ce *CorruptError
	require.True(t, errors.As(err, &ce), "got %v", err)
	assert.True(t, errors.Is(err, eventstore.ErrCorrupt))
	assert.Equal(t, uint64(5), ce.Position)
	assert.Equal(t, "CRC mismatch", ce.Reason)
}

// TestReadPage: hashed or not, it returns what ReadAll returns, from any position and with
// any limit, while reusing the envelopes and the buffer it was given; a record damaged after
// Open fails its CRC, hashed or not.
func TestReadPage(t *testing.T) {
	dir := t.TempDir()
	_, events, locs := fillStore(t, dir, 8<<10, []int{3, 1, 7, 2, 5, 1, 4})
	s, err := Open(dir, Options{})
	require.NoError(t, err)
	defer s.Close()
	ctx := context.Background()
	var envs []domain.Envelope
	var buf []byte
	for _, hashed := range []bool{true, false} {
		for from := uint64(1); from <= uint64(len(events))+1; from++ {
			for _, limit := range []int{0, 1, 3, 100} {
				want, err := s.ReadAll(ctx, from, limit)
				require.NoError(t, err)
				envs, buf, err = s.ReadPage(ctx, from, limit, hashed, envs, buf)
				require.NoError(t, err)
				require.Len(t, envs, len(want), "from %d, limit %d", from, limit)
				for i := range want {
					assert.Equal(t, normalized(want[i]), normalized(envs[i]), "from %d, limit %d, hashed %t", from, limit, hashed)
				}
			}
		}
	}
	all, buf, err := s.ReadPage(ctx, 1, 0, false, nil, nil)
	require.NoError(t, err)
	require.Len(t, all, len(events))
	grown := cap(buf)
	_, buf, err = s.ReadPage(ctx, 2, 0, true, all, buf)
	require.NoError(t, err)
	assert.Equal(t, grown, cap(buf), "a smaller page reuses the buffer")

	// Flip a bit of position 5's record behind the open store's back: in its event data, in
	// its stored hash, in its prev_hash. Hashed reads skip the CRC unless the decoding or the
	// hash fails, and must still say "CRC mismatch", never take the damage for a broken
	// invariant.
	loc := locs[5]
	path := filepath.Join(dir, loc.seg)
	clean, err := os.ReadFile(path)
	require.NoError(t, err)
	for _, at := range []int64{loc.end - hashBytes - 2, loc.end - 1, loc.start + recordHeaderBytes + canonicalFixedBytes - 1} {
		b := slices.Clone(clean)
		b[at] ^= 0x10
		require.NoError(t, os.WriteFile(path, b, 0o644))
		for _, hashed := range []bool{true, false} {
			_, _, err = s.ReadPage(ctx, 1, 0, hashed, nil, nil)
			var ce *CorruptError
			require.True(t, errors.As(err, &ce), "byte %d, hashed %t: got %v", at, hashed, err)
			assert.Equal(t, uint64(5), ce.Position)
			assert.Equal(t, "CRC mismatch", ce.Reason)
		}
	}
}

// normalized makes envelopes comparable whatever the capacity and nil-ness of their bytes.
func normalized(e domain.Envelope) domain.Envelope {
	if len(e.Data) == 0 {
		e.Data = nil
	} else {
		e.Data = slices.Clone(e.Data)
	}
	if len(e.RequestHash) == 0 {
		e.RequestHash = nil
	} else {
		e.RequestHash = slices.Clone(e.RequestHash)
	}
	return e
}
