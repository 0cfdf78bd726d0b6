package embedded

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/encours/encours/domain"
	"github.com/encours/encours/eventstore"
	"github.com/encours/encours/eventstore/storetest"
)

// recordLoc is where a position's record lies.
type recordLoc struct {
	seg        string
	start, end int64
}

// fillStore appends, to a new store in dir, one append per entry of sizes (that many events,
// streams taking turns, every third with an idempotency key), closes it, and returns the
// results, the events, and where each position's record lies.
func fillStore(t *testing.T, dir string, segBytes int64, sizes []int) ([]eventstore.AppendResult, []domain.Envelope, map[uint64]recordLoc) {
	t.Helper()
	s, err := Open(dir, Options{SegmentBytes: segBytes})
	require.NoError(t, err)
	ctx := context.Background()
	var results []eventstore.AppendResult
	for i, n := range sizes {
		st := fmt.Sprintf("customer-%d", i%3)
		req := eventstore.AppendRequest{Stream: st, ExpectedVersion: eventstore.AnyVersion, Events: storetest.Events(st, n)}
		if i%3 == 0 {
			req.IdempotencyKey, req.RequestHash = fmt.Sprintf("key-%d", i), storetest.RequestHash(fmt.Sprint(i))
		}
		res, err := s.Append(ctx, req)
		require.NoError(t, err)
		results = append(results, res)
	}
	events, err := s.ReadAll(ctx, 1, 0)
	require.NoError(t, err)
	locs := make(map[uint64]recordLoc)
	s.mu.RLock()
	for p := uint64(1); p <= s.head.Position; p++ {
		seg, start, end := s.locate(p)
		locs[p] = recordLoc{seg: seg.name, start: start, end: end}
	}
	s.mu.RUnlock()
	require.NoError(t, s.Close())
	return results, events, locs
}

// segmentFiles reads every segment file of dir.
func segmentFiles(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(dir, "*"+segmentSuffix))
	require.NoError(t, err)
	files := make(map[string][]byte)
	for _, n := range names {
		b, err := os.ReadFile(n)
		require.NoError(t, err)
		files[filepath.Base(n)] = b
	}
	return files
}

// writeDir writes files into a new directory.
func writeDir(t *testing.T, files map[string][]byte) string {
	t.Helper()
	dir := t.TempDir()
	for name, b := range files {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), b, 0o644))
	}
	return dir
}

// rewriteDir replaces the segment files of dir with files.
func rewriteDir(t *testing.T, dir string, files map[string][]byte) {
	t.Helper()
	old, err := filepath.Glob(filepath.Join(dir, "*"+segmentSuffix))
	require.NoError(t, err)
	for _, n := range old {
		require.NoError(t, os.Remove(n))
	}
	for name, b := range files {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), b, 0o644))
	}
}

func withFile(files map[string][]byte, name string, b []byte) map[string][]byte {
	out := make(map[string][]byte, len(files))
	for k, v := range files {
		out[k] = v
	}
	out[name] = b
	return out
}

// Goal: a crash during the last write leaves a torn tail that Open drops, as a whole append,
// reporting what it dropped; the store then appends and reopens cleanly. Method: the last
// append (3 events) is cut at every byte offset (the file truncated there, or zeroed from
// there as a preallocated segment would be), and overwritten with random garbage from there,
// up to and including its end (garbage after a whole log: nothing lost, garbage dropped).
func TestTornTail(t *testing.T) {
	src := t.TempDir()
	results, events, locs := fillStore(t, src, 64<<10, []int{1, 2, 1, 3})
	last := results[len(results)-1]
	firstDropped := last.Position - 2
	seg, start, end := locs[firstDropped].seg, locs[firstDropped].start, locs[last.Position].end
	orig := segmentFiles(t, src)
	require.Len(t, orig, 1)
	rng := rand.New(rand.NewPCG(1, 2))
	step := int64(1)
	if testing.Short() {
		step = 7
	}
	type variant struct {
		name   string
		damage func(b []byte, cut int64) []byte
	}
	variants := []variant{
		{"cut", func(b []byte, cut int64) []byte { return append([]byte(nil), b[:cut]...) }},
		{"zeroed", func(b []byte, cut int64) []byte {
			c := append([]byte(nil), b...)
			clear(c[cut:end])
			return c
		}},
		{"garbage", func(b []byte, cut int64) []byte {
			c := append([]byte(nil), b...)
			n := end - cut + 1 + rng.Int64N(64) // to the end of the append and beyond
			for i := cut; i < cut+n && i < int64(len(c)); i++ {
				c[i] = byte(rng.Uint32())
			}
			c[cut] = b[cut] ^ byte(1+rng.IntN(255)) // the first byte always changes
			return c
		}},
	}
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			dir := t.TempDir() // one directory, rewritten for each cut: creating thousands is slow
			for cut := start; cut <= end; cut += step {
				if cut > end-step {
					cut = end // always the end itself
				}
				damaged := v.damage(orig[seg], cut)
				if bytes.Equal(damaged, orig[seg]) {
					continue // the zeroed bytes were zeros already (a hash ending in 00): no damage
				}
				rewriteDir(t, dir, withFile(orig, seg, damaged))
				s, err := Open(dir, Options{SegmentBytes: 64 << 10})
				require.NoError(t, err, "cut at %d", cut)
				rec := s.Recovered()
				// What survives: the log without its last append, or all of it when the
				// damage starts after it.
				head, tornAt := firstDropped-1, start
				if cut == end {
					head, tornAt = last.Position, end
				}
				if (cut == start || cut == end) && v.name != "garbage" {
					assert.Equal(t, Recovery{}, rec, "cut at an append boundary")
				} else {
					wantDropped := 0
					for p := head + 1; p <= last.Position; p++ {
						if locs[p].end <= cut {
							wantDropped++ // whole records of the torn append
						}
					}
					assert.True(t, rec.TornTail && rec.Repaired, "cut at %d: %+v", cut, rec)
					assert.Equal(t, seg, rec.Segment, "cut at %d", cut)
					assert.Equal(t, tornAt, rec.Offset, "cut at %d: got offset %d, want %d", cut, rec.Offset, tornAt)
					assert.Equal(t, head+1, rec.Position, "cut at %d", cut)
					assert.Equal(t, wantDropped, rec.EventsDropped, "cut at %d", cut)
					assert.Positive(t, rec.BytesDiscarded, "cut at %d", cut)
					if v.name != "garbage" {
						assert.LessOrEqual(t, rec.BytesDiscarded, cut-start, "cut at %d", cut)
					}
				}
				got, err := s.ReadAll(context.Background(), 1, 0)
				require.NoError(t, err)
				require.Equal(t, events[:head], got, "cut at %d: events after recovery", cut)
				if (cut-start)%(17*step) == 0 || cut == end {
					// Now and then, the whole cycle: append, verify, reopen clean.
					res, err := s.Append(context.Background(), eventstore.AppendRequest{Stream: "customer-Z", ExpectedVersion: 0,
						Events: storetest.Events("customer-Z", 2)})
					require.NoError(t, err, "cut at %d: append after recovery", cut)
					assert.Equal(t, head+2, res.Position)
					require.NoError(t, s.Close())
					rep, err := Verify(context.Background(), dir, nil)
					require.NoError(t, err, "cut at %d: verify after recovery", cut)
					assert.Equal(t, head+2, rep.Events)
					assert.False(t, rep.Tail.TornTail)
					s, err = Open(dir, Options{SegmentBytes: 64 << 10})
					require.NoError(t, err)
					assert.Equal(t, Recovery{}, s.Recovered(), "cut at %d: second reopen", cut)
				}
				require.NoError(t, s.Close())
			}
		})
	}
}

// Goal: Open with ReadOnly reports a torn tail without touching it, serves what precedes it,
// and refuses appends; Verify reports it as a tail, not as damage.
func TestReadOnlyDoesNotRepair(t *testing.T) {
	src := t.TempDir()
	results, events, locs := fillStore(t, src, 64<<10, []int{2, 3})
	last := results[len(results)-1]
	loc := locs[last.Position]
	files := segmentFiles(t, src)
	torn := append([]byte(nil), files[loc.seg]...)
	clear(torn[loc.end-5 : loc.end])
	dir := writeDir(t, withFile(files, loc.seg, torn))

	s, err := Open(dir, Options{ReadOnly: true})
	require.NoError(t, err)
	rec := s.Recovered()
	assert.True(t, rec.TornTail)
	assert.False(t, rec.Repaired)
	assert.Equal(t, 2, rec.EventsDropped)
	got, err := s.ReadAll(context.Background(), 1, 0)
	require.NoError(t, err)
	assert.Equal(t, events[:2], got)
	_, err = s.Append(context.Background(), eventstore.AppendRequest{Stream: "x", ExpectedVersion: 0, Events: storetest.Events("x", 1)})
	assert.ErrorIs(t, err, ErrReadOnly)
	require.NoError(t, s.Close())
	after, err := os.ReadFile(filepath.Join(dir, loc.seg))
	require.NoError(t, err)
	assert.Equal(t, torn, after, "segment bytes after a read-only open")

	rep, err := Verify(context.Background(), dir, nil)
	require.NoError(t, err)
	assert.Equal(t, rec, rep.Tail)
	assert.Equal(t, uint64(2), rep.Events)
}

// Goal: damage anywhere but the tail refuses to open, naming the damaged position, and
// Verify names the same one. Method: every byte of three records is flipped in turn: one in
// the middle of a middle segment, the last of a middle segment, and one in the middle of the
// last segment.
func TestDamageRefusesToOpen(t *testing.T) {
	src := t.TempDir()
	sizes := make([]int, 40)
	for i := range sizes {
		sizes[i] = 1 + i%3
	}
	_, _, locs := fillStore(t, src, 4<<10, sizes)
	files := segmentFiles(t, src)
	require.Greater(t, len(files), 3, "segments")
	head := uint64(len(locs))
	var targets []uint64
	mid := locs[head/2].seg
	for p := uint64(1); p <= head; p++ {
		if locs[p].seg == mid && locs[p-1].seg == mid && locs[p+1].seg == mid {
			targets = append(targets, p) // inside a middle segment
			break
		}
	}
	for p := uint64(2); p <= head; p++ {
		if locs[p].seg != locs[p-1].seg && locs[p-1].seg != locs[1].seg {
			targets = append(targets, p-1) // the last of a middle segment
			break
		}
	}
	targets = append(targets, head-3) // in the last segment, not its last append
	require.Len(t, targets, 3)
	require.Equal(t, locs[head].seg, locs[head-3].seg, "position %d in the last segment", head-3)
	step := int64(1)
	if testing.Short() {
		step = 5
	}
	for _, p := range targets {
		loc := locs[p]
		t.Run(fmt.Sprintf("position %d", p), func(t *testing.T) {
			for off := loc.start; off < loc.end; off += step {
				b := append([]byte(nil), files[loc.seg]...)
				b[off] ^= 0x5a
				dir := writeDir(t, withFile(files, loc.seg, b))
				requireCorruptAt(t, dir, p, loc.seg, fmt.Sprintf("byte %d of %d flipped", off-loc.start, loc.end-loc.start))
			}
		})
	}
}

// requireCorruptAt checks that both Open and Verify refuse dir, naming position p in seg.
func requireCorruptAt(t *testing.T, dir string, p uint64, seg, what string) {
	t.Helper()
	s, err := Open(dir, Options{})
	if err == nil {
		s.Close()
	}
	require.ErrorIs(t, err, eventstore.ErrCorrupt, "%s: open", what)
	var ce *CorruptError
	require.True(t, errors.As(err, &ce), "%s: got %T, want *CorruptError", what, err)
	assert.Equal(t, p, ce.Position, "%s: open: got position %d, want %d (%v)", what, ce.Position, p, err)
	assert.Equal(t, seg, ce.Segment, "%s: open: %v", what, err)
	_, verr := Verify(context.Background(), dir, nil)
	require.ErrorIs(t, verr, eventstore.ErrCorrupt, "%s: verify", what)
	var vce *CorruptError
	require.True(t, errors.As(verr, &vce))
	assert.Equal(t, ce, vce, "%s: Verify and Open name the same damage", what)
}

// Goal: changes that keep the framing valid are still caught by the hash chain: an edited
// event with its CRC fixed, an edited event with its hash and CRC fixed (its successor's
// link breaks), and a record removed.
func TestTamperingIsDetected(t *testing.T) {
	src := t.TempDir()
	_, events, locs := fillStore(t, src, 64<<10, []int{1, 1, 2, 1, 1})
	files := segmentFiles(t, src)
	const p = 3
	loc := locs[p]
	reseal := func(b []byte, start, end int64, e domain.Envelope, fixHash bool) []byte {
		canon := domain.AppendCanonical(nil, &e)
		hash := e.Hash
		if fixHash {
			hash = domain.ChainHash(e.PrevHash, canon)
		}
		payload := append(canon, hash[:]...)
		rec := binary.BigEndian.AppendUint32(nil, binary.BigEndian.Uint32(b[start:]))
		rec = binary.BigEndian.AppendUint32(rec, uint32(len(payload)))
		rec = binary.BigEndian.AppendUint32(rec, crc32.Checksum(payload, castagnoli))
		rec = append(rec, payload...)
		out := append(append(append([]byte(nil), b[:start]...), rec...), b[end:]...)
		return out[:len(b)]
	}
	edited := events[p-1]
	edited.Data = []byte(strings.Replace(string(edited.Data), `"amount":`, `"amount":9`, 1))
	for _, tc := range []struct {
		name    string
		damage  func(b []byte) []byte
		wantPos uint64
	}{
		{"data edited, CRC fixed", func(b []byte) []byte { return reseal(b, loc.start, loc.end, edited, false) }, p},
		{"data edited, hash and CRC fixed", func(b []byte) []byte { return reseal(b, loc.start, loc.end, edited, true) }, p + 1},
		{"record removed", func(b []byte) []byte {
			out := append(append([]byte(nil), b[:loc.start]...), b[loc.end:]...)
			return append(out, make([]byte, loc.end-loc.start)...)
		}, p},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := writeDir(t, withFile(files, loc.seg, tc.damage(files[loc.seg])))
			requireCorruptAt(t, dir, tc.wantPos, loc.seg, tc.name)
		})
	}
}

// Goal: a missing middle segment refuses to open, naming the first missing position. A
// missing last segment leaves a shorter valid log, which only an outside anchor catches:
// Verify's head differs from the one published before.
func TestMissingSegment(t *testing.T) {
	src := t.TempDir()
	sizes := make([]int, 30)
	for i := range sizes {
		sizes[i] = 2
	}
	_, _, locs := fillStore(t, src, 4<<10, sizes)
	files := segmentFiles(t, src)
	require.Greater(t, len(files), 3)
	published, err := Verify(context.Background(), src, nil)
	require.NoError(t, err)
	var names []string
	for n := range files {
		names = append(names, n)
	}
	sortStrings(names)

	t.Run("middle", func(t *testing.T) {
		gone := names[1]
		first, _ := parseSegmentName(gone)
		rest := withFile(files, gone, nil)
		delete(rest, gone)
		requireCorruptAt(t, writeDir(t, rest), first, names[2], "segment "+gone+" removed")
	})
	t.Run("last", func(t *testing.T) {
		gone := names[len(names)-1]
		first, _ := parseSegmentName(gone)
		rest := withFile(files, gone, nil)
		delete(rest, gone)
		rep, err := Verify(context.Background(), writeDir(t, rest), nil)
		require.NoError(t, err)
		assert.Equal(t, first-1, rep.Head.Position)
		assert.NotEqual(t, published.Head, rep.Head, "the head an auditor published catches it")
		assert.Equal(t, uint64(len(locs)), published.Head.Position)
	})
}

func sortStrings(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

// Goal: Verify walks the whole log, reports its shape and progress, and agrees with Open.
func TestVerifyReport(t *testing.T) {
	dir := t.TempDir()
	results, events, _ := fillStore(t, dir, 4<<10, []int{3, 1, 2, 5, 1, 1, 4, 3})
	var progress []uint64
	rep, err := Verify(context.Background(), dir, func(pos uint64) { progress = append(progress, pos) })
	require.NoError(t, err)
	last := events[len(events)-1]
	assert.Equal(t, Report{Segments: rep.Segments, Events: 20, Streams: 3, Head: eventstore.Head{Position: 20, Hash: last.Hash}}, rep)
	assert.Greater(t, rep.Segments, 1)
	assert.Equal(t, []uint64{20}, progress)
	assert.Equal(t, results[len(results)-1].Position, rep.Head.Position)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = Verify(ctx, dir, nil)
	_ = err // a cancelled verify may finish a small log before it looks at ctx
	_, err = Verify(context.Background(), filepath.Join(dir, "nope"), nil)
	assert.Error(t, err, "verify of a missing directory")
}

// Goal: two writers never share a directory; readers may share it with each other only.
func TestDirectoryLock(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{})
	require.NoError(t, err)
	_, err = Open(dir, Options{})
	assert.Error(t, err, "second writer")
	_, err = Open(dir, Options{ReadOnly: true})
	assert.Error(t, err, "reader beside a writer")
	_, err = Verify(context.Background(), dir, nil)
	assert.Error(t, err, "verify beside a writer")
	require.NoError(t, s.Close())
	r1, err := Open(dir, Options{ReadOnly: true})
	require.NoError(t, err)
	r2, err := Open(dir, Options{ReadOnly: true})
	require.NoError(t, err)
	require.NoError(t, r1.Close())
	require.NoError(t, r2.Close())
}

// Goal: the writer's field limits are the canonical decoder's, so nothing it accepts is
// unreadable: the largest accepted event round-trips, one byte more is refused.
func TestFieldLimitsMatchDecoder(t *testing.T) {
	s, err := Open(t.TempDir(), Options{})
	require.NoError(t, err)
	defer s.Close()
	ctx := context.Background()
	big := func(mod func(e *domain.Envelope)) eventstore.AppendRequest {
		e := storetest.Events("customer-A", 1)
		mod(&e[0])
		return eventstore.AppendRequest{Stream: "customer-A", ExpectedVersion: eventstore.AnyVersion, Events: e}
	}
	data := func(n int) []byte { return []byte(`"` + strings.Repeat("x", n-2) + `"`) }
	for _, tc := range []struct {
		name string
		max  func(e *domain.Envelope)
		over func(e *domain.Envelope)
	}{
		{"data", func(e *domain.Envelope) { e.Data = data(dataBytesMax) }, func(e *domain.Envelope) { e.Data = data(dataBytesMax + 1) }},
		{"event id", func(e *domain.Envelope) { e.EventID = strings.Repeat("i", fieldBytesMax) },
			func(e *domain.Envelope) { e.EventID = strings.Repeat("i", fieldBytesMax+1) }},
		{"actor", func(e *domain.Envelope) { e.Actor = strings.Repeat("a", fieldBytesMax) },
			func(e *domain.Envelope) { e.Actor = strings.Repeat("a", fieldBytesMax+1) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := big(tc.max)
			res, err := s.Append(ctx, req)
			require.NoError(t, err, "at the limit")
			got, err := s.ReadAll(ctx, res.Position, 1)
			require.NoError(t, err)
			require.Len(t, got, 1)
			assert.Equal(t, req.Events[0].EventID, got[0].EventID)
			assert.Equal(t, []byte(req.Events[0].Data), []byte(got[0].Data))
			_, err = s.Append(ctx, big(tc.over))
			assert.ErrorIs(t, err, eventstore.ErrInvalidAppend, "one byte over")
		})
	}
	// And the decoder agrees: a canonical encoding one byte over each limit is refused.
	e := storetest.Events("customer-A", 1)[0]
	e.Data = data(dataBytesMax + 1)
	assert.Error(t, domain.DecodeCanonical(domain.AppendCanonical(nil, &e), &domain.Envelope{}), "data over the limit")
	e = storetest.Events("customer-A", 1)[0]
	e.Actor = strings.Repeat("a", fieldBytesMax+1)
	assert.Error(t, domain.DecodeCanonical(domain.AppendCanonical(nil, &e), &domain.Envelope{}), "actor over the limit")
	e.Actor, e.RequestHash, e.IdempotencyKey = "", make([]byte, sha256.Size+1), "k"
	assert.Error(t, domain.DecodeCanonical(domain.AppendCanonical(nil, &e), &domain.Envelope{}), "request hash over the limit")
}
