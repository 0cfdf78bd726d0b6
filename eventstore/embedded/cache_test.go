package embedded

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/encours/encours/domain"
	"github.com/encours/encours/eventstore"
	"github.com/encours/encours/eventstore/storetest"
)

// dropFS is the operating system's file layer recording each DropCache of a segment, with
// the segment's durable end (its last fdatasync's extent) at the time.
type dropFS struct {
	osFS
	mu    sync.Mutex
	drops []dropCall
	ends  map[string]int64 // per file: the end of what it wrote before its last Datasync
}

type dropCall struct {
	name        string
	off, n, end int64
}

type dropFile struct {
	File
	fs   *dropFS
	name string
	end  int64 // end of the writes so far
}

func (f *dropFS) OpenFile(name string, flag int, perm fs.FileMode) (File, error) {
	file, err := f.osFS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return &dropFile{File: file, fs: f, name: name}, nil
}

func (f *dropFile) WriteAt(p []byte, off int64) (int, error) {
	n, err := f.File.WriteAt(p, off)
	f.fs.mu.Lock()
	if strings.HasSuffix(f.name, segmentSuffix) || strings.HasSuffix(f.name, spareSuffix) {
		f.end = max(f.end, off+int64(n))
	}
	f.fs.mu.Unlock()
	return n, err
}

func (f *dropFile) Datasync() error {
	err := f.File.Datasync()
	f.fs.mu.Lock()
	if f.fs.ends == nil {
		f.fs.ends = make(map[string]int64)
	}
	f.fs.ends[f.name] = f.end
	f.fs.mu.Unlock()
	return err
}

func (f *dropFile) DropCache(off, n int64) error {
	f.fs.mu.Lock()
	f.fs.drops = append(f.fs.drops, dropCall{name: f.name, off: off, n: n, end: f.fs.ends[f.name]})
	f.fs.mu.Unlock()
	return f.File.(cacheDropper).DropCache(off, n)
}

// bigEvents are n events of about 1 KiB each. (Not storetest.Events: its sequence numbers
// would grow the events of the conformance suite that runs after this test.)
func bigEvents(stream string, n int) []domain.Envelope {
	es := make([]domain.Envelope, n)
	pad := strings.Repeat("x", 900)
	for i := range es {
		es[i] = domain.Envelope{EventID: storetest.NewEventID(), Stream: stream, Type: domain.TypeInvoiceIssued,
			SchemaVersion: 1, EffectiveOn: domain.MustDate("2026-11-02"), Actor: "cache_test",
			Data: json.RawMessage(fmt.Sprintf(`{"invoice_id":"F-%d","note":%q}`, i, pad))}
	}
	return es
}

// The writer drops the pages of what it wrote from the page cache once they are durable and
// more than cacheKeepBytes behind the end of the log: in order, without overlap, never
// within the last cacheKeepBytes of a segment's durable writes; earlier segments whole once
// the log is far enough past them. What was dropped still reads back the same (from the
// disk). With KeepWrittenInCache nothing is dropped.
func TestDropBehind(t *testing.T) {
	for _, keep := range []bool{false, true} {
		t.Run(fmt.Sprintf("keep=%t", keep), func(t *testing.T) {
			fsys := &dropFS{}
			dir := t.TempDir()
			s, err := Open(dir, Options{FS: fsys, SegmentBytes: 24 << 20, KeepWrittenInCache: keep})
			require.NoError(t, err)
			ctx := context.Background()
			var want []domain.Envelope
			for i := range 90 { // ~90 MiB: four segments of 24 MiB, the last one 16+ MiB into it
				evs := bigEvents(fmt.Sprintf("s-%d", i%4), 1000)
				_, err := s.Append(ctx, eventstore.AppendRequest{Stream: evs[0].Stream, ExpectedVersion: eventstore.AnyVersion, Events: evs})
				require.NoError(t, err)
				want = append(want, evs...)
			}
			var got []domain.Envelope
			for len(got) < len(want) {
				page, err := s.ReadAll(ctx, uint64(len(got))+1, 0)
				require.NoError(t, err)
				require.NotEmpty(t, page)
				got = append(got, page...)
			}
			require.Equal(t, len(want), len(got))
			for i := range want {
				if string(want[i].Data) != string(got[i].Data) {
					t.Fatalf("position %d: data %.80s, want %.80s", i+1, got[i].Data, want[i].Data)
				}
			}
			require.NoError(t, s.Close())

			fsys.mu.Lock()
			defer fsys.mu.Unlock()
			if keep {
				assert.Empty(t, fsys.drops)
				return
			}
			require.NotEmpty(t, fsys.drops)
			next := map[string]int64{}
			whole := map[string]bool{}
			for _, d := range fsys.drops {
				assert.Equal(t, next[d.name], d.off, "%s: drops follow each other", d.name)
				assert.Positive(t, d.n)
				assert.LessOrEqual(t, d.off+d.n, d.end, "%s: only durable bytes are dropped", d.name)
				if d.off+d.n > d.end-cacheKeepBytes {
					whole[d.name] = true // an earlier segment, dropped to its end
				}
				next[d.name] = d.off + d.n
			}
			assert.Len(t, next, 4, "each of the four segments dropped")
			assert.Len(t, whole, 3, "the three earlier segments dropped to their end")
		})
	}
}
