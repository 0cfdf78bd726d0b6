package embedded

import (
	"context"
	"crypto/sha256"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/encours/encours/eventstore"
	"github.com/encours/encours/eventstore/storetest"
)

// TestIdemEntryPacksCanonicalUUIDs: an append's event ids made by eventstore.EventIDs are
// kept packed and given back exactly; ids that are not canonical UUID strings (upper case,
// other lengths, other characters) are kept as they were. Either way the entry keeps nothing
// of the caller's slices, and each answer is a copy of its own.
func TestIdemEntryPacksCanonicalUUIDs(t *testing.T) {
	var gen eventstore.EventIDs
	uuids := make([]string, 5)
	for i := range uuids {
		uuids[i] = gen.New(time.Now())
	}
	hash := []byte(strings.Repeat("h", requestHashBytesLen))
	for _, tc := range []struct {
		name   string
		ids    []string
		packed bool
	}{
		{"uuids", uuids, true},
		{"upper case", append([]string{strings.ToUpper(uuids[0])}, uuids[1:]...), false},
		{"a short id", append(append([]string(nil), uuids[:4]...), "e1"), false},
		{"a dash misplaced", []string{strings.Replace(uuids[0], "-", "0", 1)[:35] + "-"}, false},
		{"not hex", []string{"g" + uuids[0][1:]}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := eventstore.AppendResult{Stream: "s", StreamVersion: 7, Position: 9, EventIDs: append([]string(nil), tc.ids...)}
			h := append([]byte(nil), hash...)
			e := newIdemEntry(res, h)
			res.EventIDs[0], h[0] = "changed", 'x'
			assert.Equal(t, tc.packed, e.packed != nil)
			got := e.appendResult()
			assert.Equal(t, eventstore.AppendResult{Stream: "s", StreamVersion: 7, Position: 9, EventIDs: tc.ids}, got)
			assert.Equal(t, hash, e.requestHash)
			got.EventIDs[0] = "mine"
			assert.Equal(t, tc.ids, e.appendResult().EventIDs, "an answer is the caller's copy")
			require.Equal(t, len(tc.ids), e.eventIDs())
			d := ckDecoder{}
			for i := range e.eventIDs() {
				d.b = e.appendEventID(nil, i)
				assert.Equal(t, tc.ids[i], d.str())
			}
		})
	}
}

// BenchmarkIndexBytesPerEvent appends batches of 100 events with an idempotency key each
// (a bulk import's shape) to many streams and reports the heap the store's in-memory index
// keeps per event, measured after a GC once the events are appended.
func BenchmarkIndexBytesPerEvent(b *testing.B) {
	const batch, batches = 100, 2000
	ctx := context.Background()
	for b.Loop() {
		s, err := Open(b.TempDir(), Options{})
		require.NoError(b, err)
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		for i := range batches {
			stream := fmt.Sprintf("customer-%d", i)
			key := fmt.Sprintf("import:%032d", i)
			h := sha256.Sum256([]byte(key))
			_, err := s.Append(ctx, eventstore.AppendRequest{Stream: stream, ExpectedVersion: 0, IdempotencyKey: key,
				RequestHash: h[:], Events: storetest.Events(stream, batch)})
			require.NoError(b, err)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric((float64(after.HeapAlloc)-float64(before.HeapAlloc))/float64(batch*batches), "index-B/event")
		require.NoError(b, s.Close())
	}
}

// Goal: Append prepares an append's index entry before the writer takes it (the event ids
// packed, or kept as strings), and a retry with its key answers exactly the first result,
// whatever the ids' form. Method: the same keyed append made twice, with canonical UUIDs and
// with ids that are not, and the entry also read back after a reopen (the checkpoint).
func TestAppendPreparesItsIndexEntry(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{})
	require.NoError(t, err)
	ctx := context.Background()
	hash := []byte(strings.Repeat("h", requestHashBytesLen))
	firsts := map[string]eventstore.AppendResult{}
	for _, tc := range []struct{ key, id string }{{"k-uuid", ""}, {"k-plain", "evt-%d"}} {
		events := storetest.Events("customer-"+tc.key, 3)
		if tc.id != "" {
			for i := range events {
				events[i].EventID = fmt.Sprintf(tc.id, i)
			}
		}
		req := eventstore.AppendRequest{Stream: "customer-" + tc.key, ExpectedVersion: 0, IdempotencyKey: tc.key, RequestHash: hash, Events: events}
		first, err := s.Append(ctx, req)
		require.NoError(t, err)
		require.Len(t, first.EventIDs, 3)
		assert.Equal(t, events[2].EventID, first.EventIDs[2])
		assert.Equal(t, tc.id == "", s.idem[tc.key].packed != nil, "%s: ids packed", tc.key)
		req.Events = storetest.Events("customer-"+tc.key, 3) // a retry carries fresh ids
		again, err := s.Append(ctx, req)
		require.NoError(t, err)
		assert.True(t, again.Replayed)
		again.Replayed = false
		assert.Equal(t, first, again, "%s: the retry's answer", tc.key)
		firsts[tc.key] = first
	}
	require.NoError(t, s.Close())
	s, err = Open(dir, Options{})
	require.NoError(t, err)
	defer s.Close()
	for key, first := range firsts {
		got, h, found, err := s.LookupIdempotency(ctx, key)
		require.NoError(t, err)
		require.True(t, found)
		assert.Equal(t, first, got, "%s after a reopen", key)
		assert.Equal(t, hash, h)
	}
}
