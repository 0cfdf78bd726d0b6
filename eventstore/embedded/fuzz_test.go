package embedded

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/encours/encours/domain"
	"github.com/encours/encours/eventstore"
	"github.com/encours/encours/eventstore/storetest"
)

// fuzzSegmentBytes keeps the fuzzed store's segments small: several segments, and every
// flip lands near records.
const fuzzSegmentBytes = 4 << 10

// FuzzRecordFraming flips bits in a closed store's segment files and opens it again. Each
// input is a list of flips, 5 bytes each: a big-endian offset into the concatenated segment
// files and the mask XORed into that byte. Whatever the flips, Open either refuses with a
// *CorruptError (wrapping eventstore.ErrCorrupt) or opens; an open store reads back a prefix
// of the original events, each identical to the original (never a changed payload), and a
// shorter log only when Open reports a torn tail. Verify agrees with Open. Never a panic.
func FuzzRecordFraming(f *testing.F) {
	src := f.TempDir()
	s, err := Open(src, Options{SegmentBytes: fuzzSegmentBytes})
	require.NoError(f, err)
	ctx := context.Background()
	for i, n := range []int{1, 2, 1, 3, 1, 1, 2, 1, 1, 4, 1, 1, 2, 1, 3, 1, 1, 2, 1, 1, 4, 1, 1, 2, 1, 1} {
		st := []string{"customer-a", "customer-b"}[i%2]
		req := eventstore.AppendRequest{Stream: st, ExpectedVersion: eventstore.AnyVersion, Events: storetest.Events(st, n)}
		if i%3 == 0 {
			req.IdempotencyKey, req.RequestHash = fmt.Sprintf("key-%d", i), storetest.RequestHash(fmt.Sprint(i))
		}
		_, err := s.Append(ctx, req)
		require.NoError(f, err)
	}
	want, err := s.ReadAll(ctx, 1, 0)
	require.NoError(f, err)
	require.NoError(f, s.Close())
	names, files := fuzzSegments(f, src)
	total := 0
	for _, n := range names {
		total += len(files[n])
	}

	flip := func(off uint32, mask byte) []byte {
		return append(binary.BigEndian.AppendUint32(nil, off), mask)
	}
	f.Add([]byte{})                                     // no flip: everything reads back
	f.Add(flip(0, 0x01))                                // the first record's magic
	f.Add(flip(5, 0x80))                                // its length
	f.Add(flip(10, 0x10))                               // its CRC
	f.Add(flip(60, 0x04))                               // its payload
	f.Add(append(flip(60, 0x04), flip(61, 0x04)...))    // two bits of one payload
	f.Add(flip(uint32(len(files[names[0]])-1), 0xff))   // the end of the first segment
	f.Add(flip(uint32(total-fuzzSegmentBytes/2), 0x20)) // in the last segment
	f.Add(flip(uint32(total-1), 0x01))                  // the zeroed space after the tail
	f.Add(append(flip(12, 0xff), flip(uint32(total-200), 0x42)...))

	f.Fuzz(func(t *testing.T, flips []byte) {
		if len(flips) > 5*16 {
			return
		}
		damaged := make(map[string][]byte, len(files))
		for n, b := range files {
			damaged[n] = slices.Clone(b)
		}
		for i := 0; i+5 <= len(flips); i += 5 {
			off := int(binary.BigEndian.Uint32(flips[i:]) % uint32(total))
			for _, n := range names { // the file holding byte off of the concatenation
				if off < len(damaged[n]) {
					damaged[n][off] ^= flips[i+4]
					break
				}
				off -= len(damaged[n])
			}
		}
		dir := t.TempDir()
		for n, b := range damaged {
			require.NoError(t, os.WriteFile(filepath.Join(dir, n), b, 0o644))
		}
		// Verify first: Open repairs a torn tail, Verify only reads.
		_, verr := Verify(ctx, dir, nil)
		s, err := Open(dir, Options{SegmentBytes: fuzzSegmentBytes})
		if err != nil {
			var ce *CorruptError
			require.True(t, errors.As(err, &ce), "Open: %T %v, want a *CorruptError", err, err)
			require.ErrorIs(t, err, eventstore.ErrCorrupt)
			require.Error(t, verr, "Open refused (%v), Verify must too", err)
			return
		}
		defer s.Close()
		got, err := s.ReadAll(ctx, 1, 0)
		require.NoError(t, err, "an opened store reads")
		require.LessOrEqual(t, len(got), len(want))
		for i := range got {
			require.Equal(t, want[i], got[i], "position %d reads back as written", i+1)
		}
		if len(got) < len(want) {
			require.True(t, s.Recovered().TornTail, "%d of %d events, without a torn tail reported", len(got), len(want))
		}
	})
}

// fuzzSegments returns the segment file names of dir in log order and their bytes.
func fuzzSegments(tb testing.TB, dir string) ([]string, map[string][]byte) {
	paths, err := filepath.Glob(filepath.Join(dir, "*"+segmentSuffix))
	require.NoError(tb, err)
	sort.Strings(paths)
	files := map[string][]byte{}
	var names []string
	for _, p := range paths {
		b, err := os.ReadFile(p)
		require.NoError(tb, err)
		names = append(names, filepath.Base(p))
		files[filepath.Base(p)] = b
	}
	require.NotEmpty(tb, names)
	return names, files
}

// FuzzRecordDecode feeds arbitrary bytes to the record decoder (header, length bounds, CRC,
// canonical payload, stored hash), as recovery applies it. It never panics, and a record it accepts is exactly the record the
// writer makes of the decoded event: re-encoding gives the same bytes.
func FuzzRecordDecode(f *testing.F) {
	e := storetest.Events("customer-a", 1)[0]
	e.Position, e.StreamVersion = 1, 1
	canon := domain.AppendCanonical(nil, &e)
	e.Hash = domain.ChainHash(e.PrevHash, canon)
	good := fuzzRecord(canon, e.Hash)
	f.Add(good)
	for _, off := range []int{0, 4, 8, 12, 20, len(good) - 1} {
		b := slices.Clone(good)
		b[off] ^= 0x08
		f.Add(b)
	}
	f.Add(good[:len(good)/2])
	f.Fuzz(func(t *testing.T, rec []byte) {
		// The scanner checks the frame and the length bounds before decoding (recover.go).
		if checkFrame(rec) != "" || !parseHeader(rec).lenValid() {
			return
		}
		var got domain.Envelope
		if err := decodePayload(sha256.New(), rec[recordHeaderBytes:], &got, false); err != nil {
			return
		}
		again := fuzzRecord(domain.AppendCanonical(nil, &got), got.Hash)
		copy(again[0:4], rec[0:4]) // the magic (commit or continue) is the writer's choice
		require.Equal(t, rec, again, "an accepted record is the encoding of what it decodes to")
	})
}

// fuzzRecord frames a canonical payload and its hash as the writer does.
func fuzzRecord(canon []byte, h domain.Hash) []byte {
	payload := append(slices.Clone(canon), h[:]...)
	rec := binary.BigEndian.AppendUint32(nil, magicCommit)
	rec = binary.BigEndian.AppendUint32(rec, uint32(len(payload)))
	rec = binary.BigEndian.AppendUint32(rec, crc32.Checksum(payload, castagnoli))
	return append(rec, payload...)
}
