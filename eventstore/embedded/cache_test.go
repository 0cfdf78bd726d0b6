package embedded

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/encours/encours/domain"
	"github.com/encours/encours/eventstore"
	"github.com/encours/encours/eventstore/storetest"
)

// dropFS is faultFS (which follows a spare renamed into a segment) with no fault armed,
// recording each DropCache of a file with the file's durable end (the extent of its writes
// at its last fdatasync) at the time.
type dropFS struct {
	faultFS
	mu    sync.Mutex
	drops []dropCall
	ends  map[*faultFile]int64
}

type dropCall struct {
	name        string
	off, n, end int64
}

type dropFile struct {
	*faultFile
	fs  *dropFS
	end int64 // end of the writes so far
}

func (f *dropFS) OpenFile(name string, flag int, perm fs.FileMode) (File, error) {
	file, err := f.faultFS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return &dropFile{faultFile: file.(*faultFile), fs: f}, nil
}

func (f *dropFile) WriteAt(p []byte, off int64) (int, error) {
	n, err := f.faultFile.WriteAt(p, off)
	f.fs.mu.Lock()
	f.end = max(f.end, off+int64(n))
	f.fs.mu.Unlock()
	return n, err
}

func (f *dropFile) Datasync() error {
	err := f.faultFile.Datasync()
	f.fs.mu.Lock()
	if f.fs.ends == nil {
		f.fs.ends = make(map[*faultFile]int64)
	}
	f.fs.ends[f.faultFile] = f.end
	f.fs.mu.Unlock()
	return err
}

func (f *dropFile) DropCache(off, n int64) error {
	f.fs.faultFS.mu.Lock()
	name := filepath.Base(f.name) // faultFS renames it under its mu
	f.fs.faultFS.mu.Unlock()
	f.fs.mu.Lock()
	f.fs.drops = append(f.fs.drops, dropCall{name: name, off: off, n: n, end: f.fs.ends[f.faultFile]})
	f.fs.mu.Unlock()
	return f.faultFile.File.(cacheDropper).DropCache(off, n)
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
			if !keep {
				checkResidency(t, dir, segmentName(1))
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
				assert.Zero(t, (d.off+d.n)%int64(os.Getpagesize()), "%s: drops end on a page boundary", d.name)
				assert.LessOrEqual(t, d.n, int64(cacheDropPassBytesMax), "%s: a pass drops at most its budget", d.name)
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

// checkResidency asserts that most of segment name's pages left the page cache (mincore on
// a mapping of the file): the drops did drop. On a file system that has no page cache to
// drop from (tmpfs), it says so and checks nothing.
func checkResidency(t *testing.T, dir, name string) {
	t.Helper()
	var st unix.Statfs_t
	require.NoError(t, unix.Statfs(dir, &st))
	if st.Type == unix.TMPFS_MAGIC {
		t.Logf("!! %s is on tmpfs: its pages cannot leave memory, residency not checked", dir)
		return
	}
	f, err := os.Open(filepath.Join(dir, name))
	require.NoError(t, err)
	defer f.Close()
	fi, err := f.Stat()
	require.NoError(t, err)
	m, err := unix.Mmap(int(f.Fd()), 0, int(fi.Size()), unix.PROT_READ, unix.MAP_SHARED)
	require.NoError(t, err)
	defer unix.Munmap(m)
	vec := make([]byte, (len(m)+os.Getpagesize()-1)/os.Getpagesize())
	if _, _, errno := unix.Syscall(unix.SYS_MINCORE, uintptr(unsafe.Pointer(&m[0])), uintptr(len(m)), uintptr(unsafe.Pointer(&vec[0]))); errno != 0 {
		t.Fatalf("mincore: %v", errno)
	}
	resident := 0
	for _, v := range vec {
		resident += int(v & 1)
	}
	assert.Less(t, resident, len(vec)/10, "%s: %d of %d pages still cached", name, resident, len(vec))
}

// After a reopen, the writer resumes dropping on the segment it resumes, from its start.
func TestDropBehindAfterReopen(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	fill := func(s *Store, n int) {
		for i := range n {
			evs := bigEvents(fmt.Sprintf("s-%d", i%4), 1000)
			_, err := s.Append(ctx, eventstore.AppendRequest{Stream: evs[0].Stream, ExpectedVersion: eventstore.AnyVersion, Events: evs})
			require.NoError(t, err)
		}
	}
	s, err := Open(dir, Options{SegmentBytes: 64 << 20, KeepWrittenInCache: true})
	require.NoError(t, err)
	fill(s, 20) // ~20 MiB in one segment, all of it cached
	require.NoError(t, s.Close())

	fsys := &dropFS{}
	s, err = Open(dir, Options{FS: fsys, SegmentBytes: 64 << 20})
	require.NoError(t, err)
	fill(s, 12)
	require.NoError(t, s.Close())
	fsys.mu.Lock()
	defer fsys.mu.Unlock()
	require.NotEmpty(t, fsys.drops)
	first := fsys.drops[0]
	assert.Equal(t, segmentName(1), first.name)
	assert.Zero(t, first.off, "the resumed segment is dropped from its start")
	var dropped int64
	for _, d := range fsys.drops {
		dropped += d.n
	}
	assert.Greater(t, dropped, int64(12<<20), "most of the first 32 MiB less the 16 MiB kept")
	// No residency check here: Open reads the resumed segment's unwritten rest (to tell a torn
	// tail), which caches it, and pages dropped in 1 MiB steps right behind the writer are
	// not all freed at once; TestDropBehind checks a segment dropped in full.
}
