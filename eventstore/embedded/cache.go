package embedded

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// Dropping what the writer wrote from the page cache, behind it.
//
// Every page of new log data makes the kernel allocate a page-cache page. On this project's
// machine (a virtual machine whose host takes back the guest's free memory) a page allocated
// from memory the host took back costs far more than one the kernel freed a moment ago: the
// first write of a 1 GiB file ran at 320..430 MB/s, a rewrite of its pages at 8.5..9.9 GB/s
// (`encours bench`'s machine row "write into new page-cache pages" measures both). In one
// process, 100-event appends from 32 writers ran at 690..730 ns/event for their first
// ~250 MB, then at 1.2..2.1 µs as the system time per event grew from ~120 to ~1,000 ns.
// Nothing the log wrote is read again soon except its most recent part: subscriptions, the
// live projections and the command service's id directory follow the head. So, once a
// group is durable, the writer tells the kernel (posix_fadvise DONTNEED) that the segment's
// pages more than cacheKeepBytes behind its end are not needed: they are clean (synced),
// the kernel frees them at once, and the next writes reuse them while they are still
// backed. The same runs then stayed at 585..822 ns/event, system time 58..181 ns.
//
// Readers of older positions (a replay from the start, an audit read) read them from the
// disk, as after a reboot. Options.KeepWrittenInCache turns the dropping off.
const (
	cacheKeepBytes     = 16 << 20 // the log's last 16 MiB stay cached for the readers that follow it
	cacheDropStepBytes = 1 << 20  // drop in steps of at least this much: one system call a MiB of log
	// cacheDropPassBytesMax bounds what one pass drops, so that the first pass after Open
	// (which finds the resumed segment's written part all cached) stays short.
	cacheDropPassBytesMax = 8 << 20
)

// cacheDropper is a File that can drop a range of its pages from the page cache (osFile).
type cacheDropper interface {
	DropCache(off, n int64) error
}

// noteDurable records that seg is durable up to end (a chunk, synced). Whoever syncs (the
// writer, or the syncer while a group is in flight: append.go) calls it for each chunk of a
// group, and dropBehind once the group is answered, so that the drops never delay an
// acknowledgement. Only by whoever syncs.
func (s *Store) noteDurable(seg *segment, end int64) {
	if s.keepCache {
		return
	}
	w := &s.w
	logEnd := int64(s.stats.bytes.Load()) // bytes written since Open: a position along the log
	if n := len(w.cached); n == 0 || w.cached[n-1].seg != seg {
		w.cached = append(w.cached, cachedSegment{seg: seg})
	}
	c := &w.cached[len(w.cached)-1]
	c.end, c.logEnd = end, logEnd
}

// dropBehind drops from the page cache the pages of the newest segment the writer wrote
// that lie more than cacheKeepBytes behind its durable end, once at least
// cacheDropStepBytes more can go, and the whole durable part of each earlier segment once
// the log is cacheKeepBytes past it; at most cacheDropPassBytesMax a pass. Only by whoever
// syncs. A failure is harmless (the pages stay cached): it is logged and dropping stops.
func (s *Store) dropBehind() {
	w := &s.w
	if s.keepCache || len(w.cached) == 0 {
		return
	}
	budget := int64(cacheDropPassBytesMax)
	last := w.cached[len(w.cached)-1]
	for len(w.cached) > 1 && last.logEnd-w.cached[0].logEnd >= cacheKeepBytes && budget > 0 {
		old := w.cached[0]
		n := s.drop(old.seg, old.end, budget)
		budget -= n
		// Done with it when dropped whole, or when nothing can be dropped (not a
		// cacheDropper, a failure). Otherwise the budget ran out: the next pass goes on.
		if n == 0 || old.seg.droppedTo >= pageFloor(old.end) {
			w.cached = w.cached[1:]
		}
	}
	if to := last.end - cacheKeepBytes; to-last.seg.droppedTo >= cacheDropStepBytes && budget > 0 {
		s.drop(last.seg, to, budget)
	}
}

// cachedSegment is a segment the writer wrote to and has not dropped whole: its durable end,
// and the log's end (in bytes written since Open) when it was last written.
type cachedSegment struct {
	seg         *segment
	end, logEnd int64
}

// drop drops seg's pages from droppedTo towards to, page-aligned (the kernel keeps a partial
// page) and at most budget bytes; it returns how many it dropped.
func (s *Store) drop(seg *segment, to, budget int64) int64 {
	to = pageFloor(min(to, seg.droppedTo+budget))
	d, ok := seg.f.(cacheDropper)
	if !ok || to <= seg.droppedTo || s.keepCache {
		return 0
	}
	if err := d.DropCache(seg.droppedTo, to-seg.droppedTo); err != nil {
		s.keepCache = true
		s.log.Warn("eventstore: cannot drop written pages from the page cache; keeping them", "segment", seg.name, "err", err)
		return 0
	}
	n := to - seg.droppedTo
	seg.droppedTo = to
	return n
}

// pageFloor rounds off down to a multiple of the page size.
func pageFloor(off int64) int64 {
	return off &^ int64(os.Getpagesize()-1)
}

// DropCache advises the kernel that [off, off+n) of the file is not needed
// (POSIX_FADV_DONTNEED): its clean pages leave the page cache.
func (o osFile) DropCache(off, n int64) error {
	if err := unix.Fadvise(int(o.f.Fd()), off, n, unix.FADV_DONTNEED); err != nil {
		return fmt.Errorf("fadvise %s: %w", o.f.Name(), err)
	}
	return nil
}
