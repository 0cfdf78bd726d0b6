package embedded

import (
	"context"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/encours/encours/eventstore"
	"github.com/encours/encours/eventstore/storetest"
)

// copyDir copies the files of a store directory (not its lock) into a new directory: what a
// crash at this instant would leave, since every acknowledged record is already synced.
func copyDir(t *testing.T, dir string) string {
	t.Helper()
	out := t.TempDir()
	names, err := os.ReadDir(dir)
	require.NoError(t, err)
	for _, n := range names {
		if n.Name() == lockFileName {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, n.Name()))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(out, n.Name()), b, 0o644))
	}
	return out
}

// recoveredState is what a full scan (never the checkpoint) rebuilds from dir, read-only, in
// a form that compares with assert.Equal.
type recoveredState struct {
	Head       eventstore.Head
	RecordedAt int64
	Streams    map[string][]uint64
	Idem       map[string]idemEntry
	Segs       []string
	Offsets    [][]uint32
	Ends       []int64
}

func stateOf(res scanResult) recoveredState {
	st := recoveredState{Head: res.head, RecordedAt: res.recordedAtNanos,
		Streams: make(map[string][]uint64), Idem: res.idem}
	for name, si := range res.streams {
		st.Streams[name] = si.positions
	}
	for _, seg := range res.segs {
		st.Segs = append(st.Segs, seg.name)
		st.Offsets = append(st.Offsets, seg.offsets)
		st.Ends = append(st.Ends, seg.end)
	}
	return st
}

func fullScan(t *testing.T, dir string) recoveredState {
	t.Helper()
	sc := scanner{fs: osFS{}, dir: dir, readOnly: true, log: slog.New(slog.DiscardHandler)}
	res, err := sc.scan(context.Background())
	require.NoError(t, err)
	for _, seg := range res.segs {
		seg.f.Close()
	}
	return stateOf(res)
}

// openState opens dir read-write (as a restart does) and returns its state and stats.
func openState(t *testing.T, dir string) (recoveredState, Stats, Recovery) {
	t.Helper()
	s, err := Open(dir, Options{SegmentBytes: 4 << 10})
	require.NoError(t, err)
	defer s.Close()
	s.mu.RLock()
	st := stateOf(scanResult{segs: s.segs, streams: s.streams, idem: s.idem, head: s.head, recordedAtNanos: s.w.recordedAtNanos})
	s.mu.RUnlock()
	return st, s.Stats(), s.Recovered()
}

// appendMore appends n single-event appends (every other with an idempotency key) to s.
func appendMore(t *testing.T, s *Store, n int) {
	t.Helper()
	for i := range n {
		st := fmt.Sprintf("customer-%d", i%4)
		req := eventstore.AppendRequest{Stream: st, ExpectedVersion: eventstore.AnyVersion, Events: storetest.Events(st, 1+i%2)}
		if i%2 == 0 {
			req.IdempotencyKey, req.RequestHash = fmt.Sprintf("more-%d", i), storetest.RequestHash(fmt.Sprint("more", i))
		}
		_, err := s.Append(context.Background(), req)
		require.NoError(t, err)
	}
}

func manySizes(n int) []int {
	sizes := make([]int, n)
	for i := range sizes {
		sizes[i] = 1 + i%3
	}
	return sizes
}

// Goal: Open of a cleanly closed store starts from its checkpoint and reads no record, and
// its indexes are exactly those a full scan rebuilds.
func TestCheckpointUsed(t *testing.T) {
	dir := t.TempDir()
	_, _, locs := fillStore(t, dir, 4<<10, manySizes(40))
	head := uint64(len(locs))
	require.Greater(t, len(segmentFiles(t, dir)), 2, "segments")
	want := fullScan(t, dir)
	got, stats, rec := openState(t, dir)
	assert.Equal(t, head, stats.RecoveryCheckpoint, "checkpoint used")
	assert.Equal(t, uint64(0), stats.RecoveryScanned, "records scanned")
	assert.Equal(t, Recovery{}, rec)
	assert.Equal(t, want, got)

	// Verify never reads the checkpoint: it reports the full log, whatever the file says.
	rep, err := Verify(context.Background(), dir, nil)
	require.NoError(t, err)
	assert.Equal(t, want.Head, rep.Head)
}

// Goal: after a crash (no Close), the checkpoint of the previous Close is still used: only
// the appends made after it are read, a torn tail among them is dropped exactly as without a
// checkpoint, and the result equals a full scan of the same files.
func TestCheckpointCrashAfter(t *testing.T) {
	dir := t.TempDir()
	_, _, locs := fillStore(t, dir, 4<<10, manySizes(30))
	ckHead := uint64(len(locs))
	s, err := Open(dir, Options{SegmentBytes: 4 << 10})
	require.NoError(t, err)
	defer s.Close()
	appendMore(t, s, 25)
	h, err := s.Head(context.Background())
	require.NoError(t, err)
	s.mu.RLock()
	lastSeg, lastStart, lastEnd := s.locate(h.Position)
	s.mu.RUnlock()
	crashed := copyDir(t, dir) // the store is still open: this is the state a crash leaves

	t.Run("clean tail", func(t *testing.T) {
		d := copyDir(t, crashed)
		want := fullScan(t, d)
		got, stats, rec := openState(t, d)
		assert.Equal(t, ckHead, stats.RecoveryCheckpoint)
		assert.Equal(t, h.Position-ckHead, stats.RecoveryScanned, "only the records after the checkpoint")
		assert.Equal(t, Recovery{}, rec)
		assert.Equal(t, want, got)
		assert.Equal(t, h, got.Head)
	})
	t.Run("torn tail", func(t *testing.T) {
		d := copyDir(t, crashed)
		path := filepath.Join(d, lastSeg.name)
		b, err := os.ReadFile(path)
		require.NoError(t, err)
		cut := lastStart + (lastEnd-lastStart)/2
		for i := cut; i < lastEnd; i++ {
			b[i] = 0xa5 // the last record half written
		}
		require.NoError(t, os.WriteFile(path, b, 0o644))
		noCk := copyDir(t, d)
		require.NoError(t, os.Remove(filepath.Join(noCk, checkpointFileName)))
		wantState, wantStats, wantRec := openState(t, noCk)
		require.Equal(t, uint64(0), wantStats.RecoveryCheckpoint)
		require.True(t, wantRec.TornTail)

		got, stats, rec := openState(t, d)
		assert.Equal(t, ckHead, stats.RecoveryCheckpoint)
		assert.Less(t, stats.RecoveryScanned, h.Position-ckHead+1)
		assert.Equal(t, wantRec, rec, "the same torn tail dropped")
		assert.Equal(t, wantState, got)
		assert.Less(t, got.Head.Position, h.Position)
	})
}

// Goal: a checkpoint that cannot be trusted (damaged, of an older format, of another store,
// or describing more log than the files hold) is ignored: Open scans the whole log and ends
// with exactly what a full scan gives.
func TestCheckpointRejected(t *testing.T) {
	src := t.TempDir()
	_, _, locs := fillStore(t, src, 4<<10, manySizes(40))
	head := uint64(len(locs))
	other := t.TempDir()
	fillStore(t, other, 4<<10, manySizes(41)) // same streams and segment names, other events
	ck, err := os.ReadFile(filepath.Join(src, checkpointFileName))
	require.NoError(t, err)
	otherCk, err := os.ReadFile(filepath.Join(other, checkpointFileName))
	require.NoError(t, err)
	reseal := func(b []byte) []byte {
		body := b[:len(b)-4]
		return binary.LittleEndian.AppendUint32(append([]byte(nil), body...), crc32.Checksum(body, castagnoli))
	}

	for _, tc := range []struct {
		name   string
		damage func(t *testing.T, dir string)
	}{
		{"byte flipped", func(t *testing.T, dir string) {
			b := append([]byte(nil), ck...)
			b[len(b)/2] ^= 0x10
			writeCheckpointFile(t, dir, b)
		}},
		{"truncated", func(t *testing.T, dir string) { writeCheckpointFile(t, dir, ck[:len(ck)/3]) }},
		{"empty", func(t *testing.T, dir string) { writeCheckpointFile(t, dir, nil) }},
		{"older format", func(t *testing.T, dir string) {
			b := append([]byte(nil), ck...)
			b[len(checkpointMagic)] = 0
			writeCheckpointFile(t, dir, reseal(b))
		}},
		{"head hash changed", func(t *testing.T, dir string) {
			b := append([]byte(nil), ck...)
			b[len(checkpointMagic)+1+8] ^= 1 // first byte of the head hash
			writeCheckpointFile(t, dir, reseal(b))
		}},
		{"from another store", func(t *testing.T, dir string) { writeCheckpointFile(t, dir, otherCk) }},
		{"log cut before its head", func(t *testing.T, dir string) {
			loc := locs[head]
			path := filepath.Join(dir, loc.seg)
			b, err := os.ReadFile(path)
			require.NoError(t, err)
			require.NoError(t, os.WriteFile(path, b[:loc.start], 0o644))
		}},
		{"last segment removed", func(t *testing.T, dir string) {
			require.NoError(t, os.Remove(filepath.Join(dir, locs[head].seg)))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := copyDir(t, src)
			tc.damage(t, dir)
			want := fullScan(t, dir)
			got, stats, _ := openState(t, dir)
			assert.Equal(t, uint64(0), stats.RecoveryCheckpoint, "checkpoint used")
			assert.Equal(t, want.Head.Position, stats.RecoveryScanned, "whole log scanned")
			assert.Equal(t, want, got)
		})
	}
}

func writeCheckpointFile(t *testing.T, dir string, b []byte) {
	t.Helper()
	require.NoError(t, os.WriteFile(filepath.Join(dir, checkpointFileName), b, 0o644))
}

// Goal: the checkpoint is a shortcut for Open only: damage to a record it covers is still
// found by Verify, which reads every record.
func TestVerifyIgnoresCheckpoint(t *testing.T) {
	dir := t.TempDir()
	_, _, locs := fillStore(t, dir, 4<<10, manySizes(40))
	loc := locs[5]
	path := filepath.Join(dir, loc.seg)
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	b[loc.start+recordHeaderBytes+3] ^= 0x5a
	require.NoError(t, os.WriteFile(path, b, 0o644))
	_, err = Verify(context.Background(), dir, nil)
	require.ErrorIs(t, err, eventstore.ErrCorrupt)
}

// Goal: the checkpoint's idempotency entries decode to what was saved, whatever their event
// ids: canonical UUIDs (kept packed), other ids, a mix of both, none; keys and streams
// shared by many entries' bytes come out whole.
func TestCheckpointIdempotencyRoundTrip(t *testing.T) {
	uuid := func(i int) string { return fmt.Sprintf("0193a5c2-%04x-7abc-8def-%012x", i, i*7) }
	idem := map[string]idemEntry{}
	add := func(key, stream string, ids ...string) {
		idem[key] = newIdemEntry(eventstore.AppendResult{Stream: stream, StreamVersion: uint64(len(key)), Position: uint64(len(idem) + 1), EventIDs: ids},
			storetest.RequestHash(key))
	}
	add("uuids", "customer-A", uuid(1), uuid(2), uuid(3))
	add("others", "customer-B", "event-1", "event-2")
	add("mixed", "customer-C", uuid(4), uuid(5), "not-a-uuid", uuid(6))
	add("upper", "customer-D", strings.ToUpper(uuid(7)))
	add("none", "customer-E")
	for i := range 500 {
		add(fmt.Sprintf("bulk-%d", i), fmt.Sprintf("customer-%d", i%17), uuid(100+i))
	}
	head := eventstore.Head{Position: 42}
	ck, err := decodeCheckpoint(encodeCheckpoint(nil, map[string]*streamIndex{}, idem, head, 7))
	require.NoError(t, err)
	require.Len(t, ck.idem, len(idem))
	for key, want := range idem {
		got, ok := ck.idem[key]
		require.True(t, ok, key)
		assert.Equal(t, want.appendResult(), got.appendResult(), key)
		assert.Equal(t, want.requestHash, got.requestHash, key)
		assert.Equal(t, want.packed == nil, got.packed == nil, "%s: packed or not", key)
	}
	assert.Nil(t, ck.idem["mixed"].packed, "a list with one id that is no UUID is kept as strings")
	assert.NotNil(t, ck.idem["uuids"].packed)
}
