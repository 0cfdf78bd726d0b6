package embedded

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/encours/encours/eventstore"
	"github.com/encours/encours/eventstore/storetest"
)

// faultFS is the operating system's file layer with faults on segment files: while a fault
// is armed, every WriteAt or Datasync of a .seg file returns it (a write may first write all
// but its last 5 bytes). It counts the Datasync calls on segments.
type faultFS struct {
	osFS
	datasyncs atomic.Int64
	mu        sync.Mutex
	writeErr  error
	shortErr  bool // the failing write writes all but its last 5 bytes first
	syncErr   error
	files     map[string]*faultFile
	entered   chan struct{} // closed when a held Datasync starts
	release   chan struct{} // a held Datasync waits for it to close
}

// holdSync makes the next segment Datasync close entered, then wait for release.
func (f *faultFS) holdSync(entered, release chan struct{}) {
	f.mu.Lock()
	f.entered, f.release = entered, release
	f.mu.Unlock()
}

func (f *faultFS) OpenFile(name string, flag int, perm fs.FileMode) (File, error) {
	file, err := f.osFS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	ff := &faultFile{File: file, fs: f, name: name}
	f.mu.Lock()
	if f.files == nil {
		f.files = make(map[string]*faultFile)
	}
	f.files[name] = ff
	f.mu.Unlock()
	return ff, nil
}

// Rename follows the file: a spare (.tmp, exempt from faults while it is zero-filled)
// becomes a segment under the same open File.
func (f *faultFS) Rename(oldpath, newpath string) error {
	if err := f.osFS.Rename(oldpath, newpath); err != nil {
		return err
	}
	f.mu.Lock()
	if ff := f.files[oldpath]; ff != nil {
		ff.name = newpath
		f.files[newpath] = ff
		delete(f.files, oldpath)
	}
	f.mu.Unlock()
	return nil
}

func (f *faultFS) armWrite(err error, short bool) {
	f.mu.Lock()
	f.writeErr, f.shortErr = err, short
	f.mu.Unlock()
}

func (f *faultFS) armSync(err error) {
	f.mu.Lock()
	f.syncErr = err
	f.mu.Unlock()
}

func (f *faultFS) faults() (writeErr error, short bool, syncErr error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.writeErr, f.shortErr, f.syncErr
}

type faultFile struct {
	File
	fs   *faultFS
	name string
}

func (f *faultFile) isSegment() bool {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	return strings.HasSuffix(f.name, segmentSuffix)
}

func (f *faultFile) WriteAt(p []byte, off int64) (int, error) {
	if err, short, _ := f.fs.faults(); err != nil && f.isSegment() {
		n := 0
		if short && len(p) > 5 {
			n, _ = f.File.WriteAt(p[:len(p)-5], off) // the last record torn, the others whole
		}
		return n, &fs.PathError{Op: "write", Path: f.name, Err: err}
	}
	return f.File.WriteAt(p, off)
}

func (f *faultFile) Datasync() error {
	if !f.isSegment() {
		return f.File.Datasync()
	}
	f.fs.datasyncs.Add(1)
	f.fs.mu.Lock()
	entered, release := f.fs.entered, f.fs.release
	f.fs.entered, f.fs.release = nil, nil
	f.fs.mu.Unlock()
	if entered != nil {
		close(entered)
		<-release
	}
	if _, _, err := f.fs.faults(); err != nil {
		return &fs.PathError{Op: "fdatasync", Path: f.name, Err: err}
	}
	return f.File.Datasync()
}

// Goal: a failed write or fdatasync is never acknowledged, fails the store for good (no
// fsync retry: PostgreSQL's fsyncgate), keeps acknowledged events readable and never shows
// the failed ones, and a reopen on healthy files comes back clean.
//
// What the reopen finds depends on what reached the file. A fdatasync fault after a whole
// write leaves the group's records complete and valid in the page cache, so the reopen keeps
// them: recovery cannot tell an unacknowledged append from an acknowledged one, and either
// outcome is safe for a request that was never acknowledged (its client retries with its
// idempotency key, which then replays). A write that fails short leaves its whole appends
// and a torn last one, which the reopen drops; a write that fails before writing leaves
// nothing. No part of an append is ever kept without the rest.
func TestFaultFailsStop(t *testing.T) {
	for _, tc := range []struct {
		name         string
		arm          func(f *faultFS)
		cause        error
		kept         bool // some unacknowledged appends, whole, are in the log after reopen
		none         bool // no unacknowledged event is
		wantTornTail bool
	}{
		{"EIO on fdatasync after a whole write", func(f *faultFS) { f.armSync(syscall.EIO) }, syscall.EIO, true, false, false},
		{"ENOSPC on write, nothing written", func(f *faultFS) { f.armWrite(syscall.ENOSPC, false) }, syscall.ENOSPC, false, true, false},
		{"EIO on write, written short", func(f *faultFS) { f.armWrite(syscall.EIO, true) }, syscall.EIO, false, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			ffs := &faultFS{}
			s, err := Open(dir, Options{FS: ffs, SegmentBytes: 1 << 20})
			require.NoError(t, err)
			defer s.Close()
			ctx := context.Background()
			for i := range 3 {
				_, err := s.Append(ctx, eventstore.AppendRequest{Stream: "customer-A", ExpectedVersion: int64(2 * i), Events: storetest.Events("customer-A", 2)})
				require.NoError(t, err)
			}
			acked, err := s.ReadAll(ctx, 1, 0)
			require.NoError(t, err)
			headBefore, _ := s.Head(ctx)
			sub, err := s.Subscribe(ctx, headBefore.Position+1)
			require.NoError(t, err)

			tc.arm(ffs)
			// Several appenders at once, so that the fault hits a group of them.
			const appenders = 8
			var wg sync.WaitGroup
			errs := make([]error, appenders)
			for i := range appenders {
				wg.Add(1)
				go func() {
					defer wg.Done()
					st := fmt.Sprintf("customer-B%d", i)
					_, errs[i] = s.Append(ctx, eventstore.AppendRequest{Stream: st, ExpectedVersion: 0, IdempotencyKey: "k-" + st,
						RequestHash: storetest.RequestHash(st), Events: storetest.Events(st, 3)})
				}()
			}
			wg.Wait()
			for i, err := range errs {
				require.Error(t, err, "appender %d was acknowledged during the fault", i)
				assert.ErrorIs(t, err, eventstore.ErrFailed, "appender %d", i)
			}
			assert.ErrorIs(t, errors.Join(errs...), tc.cause, "the cause is named")
			require.ErrorIs(t, s.Failed(), tc.cause)

			// Disarmed, the store still refuses: it never retries a failed sync.
			ffs.armSync(nil)
			ffs.armWrite(nil, false)
			syncs := s.Stats().Syncs
			_, err = s.Append(ctx, eventstore.AppendRequest{Stream: "customer-C", ExpectedVersion: 0, Events: storetest.Events("customer-C", 1)})
			require.ErrorIs(t, err, eventstore.ErrFailed)
			assert.Equal(t, syncs, s.Stats().Syncs, "syncs after the store failed")

			// Reads serve exactly what was acknowledged.
			got, err := s.ReadAll(ctx, 1, 0)
			require.NoError(t, err)
			assert.Equal(t, acked, got, "events after the fault")
			headAfter, err := s.Head(ctx)
			require.NoError(t, err)
			assert.Equal(t, headBefore, headAfter)
			_, _, found, err := s.LookupIdempotency(ctx, "k-customer-B0")
			require.NoError(t, err)
			assert.False(t, found, "idempotency key of an unacknowledged append")
			select {
			case e := <-sub.C():
				t.Fatalf("subscription delivered unacknowledged position %d", e.Position)
			default:
			}
			require.NoError(t, s.Close())

			r, err := Open(dir, Options{})
			require.NoError(t, err, "reopen on healthy files")
			defer r.Close()
			assert.Equal(t, tc.wantTornTail, r.Recovered().TornTail, "recovered: %+v", r.Recovered())
			all, err := r.ReadAll(ctx, 1, 0)
			require.NoError(t, err)
			require.Equal(t, acked, all[:len(acked)], "acknowledged events after reopen")
			// What follows comes from the group the fault hit (and, with the pipelined
			// commit, a group written while it synced; later calls were refused without a
			// write), and only as whole appends of 3 events each.
			extra := all[len(acked):]
			require.Zero(t, len(extra)%3, "got %d unacknowledged events, want whole appends of 3", len(extra))
			for i := 0; i < len(extra); i += 3 {
				for j, e := range extra[i : i+3] {
					assert.Equal(t, extra[i].Stream, e.Stream)
					assert.Equal(t, uint64(j+1), e.StreamVersion)
				}
			}
			if tc.kept {
				assert.NotEmpty(t, extra, "the failed group's whole appends")
			}
			if tc.none {
				assert.Empty(t, extra, "unacknowledged appends after reopen")
			}
			_, err = r.Append(ctx, eventstore.AppendRequest{Stream: "customer-C", ExpectedVersion: 0, Events: storetest.Events("customer-C", 1)})
			require.NoError(t, err, "append after reopen")
		})
	}
}

// Goal: group commit really groups. Method: 32 appenders of single events; the fault layer
// counts fdatasyncs, which must be far fewer than appends.
func TestGroupCommitGroups(t *testing.T) {
	const writers = 32
	perWriter := 50
	if testing.Short() {
		perWriter = 20
	}
	ffs := &faultFS{}
	s, err := Open(t.TempDir(), Options{FS: ffs})
	require.NoError(t, err)
	defer s.Close()
	var wg sync.WaitGroup
	errs := make([]error, writers)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st := fmt.Sprintf("customer-%d", w)
			for i := range perWriter {
				if _, err := s.Append(context.Background(), eventstore.AppendRequest{Stream: st, ExpectedVersion: int64(i), Events: storetest.Events(st, 1)}); err != nil {
					errs[w] = err
					return
				}
			}
		}()
	}
	wg.Wait()
	require.NoError(t, errors.Join(errs...))
	appends := int64(writers * perWriter)
	syncs := ffs.datasyncs.Load()
	st := s.Stats()
	t.Logf("%d appends, %d fdatasyncs, %d groups: %.1f appends per sync", appends, syncs, st.Groups, float64(appends)/float64(syncs))
	assert.Equal(t, uint64(syncs), st.Syncs, "Stats().Syncs against the file layer's count")
	assert.Equal(t, uint64(appends), st.Appends)
	assert.Equal(t, uint64(appends), st.Events)
	assert.LessOrEqual(t, syncs*4, appends, "got %d syncs for %d appends, want at most a quarter", syncs, appends)
}
