package embedded

import (
	"fmt"
	"syscall"
)

// Dropping what the writer wrote from the page cache, behind it.
//
// Every page of new log data makes the kernel allocate a page-cache page. On this project's
// machine (a virtual machine whose host takes back the guest's free memory) a page allocated
// from memory the host took back costs ~4× one the kernel freed a moment ago: in one process,
// 100-event appends from 32 writers ran at 690..730 ns/event for their first ~250 MB, then
// at 1.2..2.1 µs as the system time per event grew from ~120 to ~800 ns
// (`encours bench`'s machine row "write into new page-cache pages" measures the rate).
// Nothing the log wrote is read again soon except its most recent part: subscriptions, the
// live projections and the command service's id directory follow the head. So, once a
// group is durable, the writer tells the kernel (posix_fadvise DONTNEED) that the segment's
// pages more than cacheKeepBytes behind its end are not needed: they are clean (synced),
// the kernel frees them at once, and the next writes reuse them while they are still
// backed. The same runs then stayed at 640..970 ns/event, system time 90..440 ns.
//
// Readers of older positions (a replay from the start, an audit read) read them from the
// disk, as after a reboot. Options.KeepWrittenInCache turns the dropping off.
const (
	cacheKeepBytes     = 16 << 20 // the log's last 16 MiB stay cached for the readers that follow it
	cacheDropStepBytes = 1 << 20  // drop in steps of at least this much: one system call a MiB of log
)

// cacheDropper is a File that can drop a range of its pages from the page cache (osFile).
type cacheDropper interface {
	DropCache(off, n int64) error
}

// dropBehind drops seg's pages from the page cache up to cacheKeepBytes behind end, a durable
// end of the log in seg, once at least cacheDropStepBytes more can go; and the whole of each
// earlier segment the writer wrote to once the log is cacheKeepBytes past its end.
// Writer-only. A failure is harmless (the pages stay cached): it is logged and dropping
// stops.
func (s *Store) dropBehind(seg *segment, end int64) {
	if s.keepCache {
		return
	}
	w := &s.w
	logEnd := int64(s.stats.bytes.Load()) // bytes written since Open: a position along the log
	if n := len(w.cached); n == 0 || w.cached[n-1].seg != seg {
		w.cached = append(w.cached, cachedSegment{seg: seg})
	}
	w.cached[len(w.cached)-1].logEnd = logEnd
	for len(w.cached) > 1 && logEnd-w.cached[0].logEnd >= cacheKeepBytes {
		old := w.cached[0].seg
		w.cached = w.cached[1:]
		s.drop(old, old.end)
	}
	if end-cacheKeepBytes-seg.droppedTo >= cacheDropStepBytes {
		s.drop(seg, end-cacheKeepBytes)
	}
}

// cachedSegment is a segment the writer wrote to and has not dropped whole, with the log's
// end (in bytes written since Open) when it last wrote to it.
type cachedSegment struct {
	seg    *segment
	logEnd int64
}

// drop drops seg's pages from droppedTo to to.
func (s *Store) drop(seg *segment, to int64) {
	d, ok := seg.f.(cacheDropper)
	if !ok || to <= seg.droppedTo || s.keepCache {
		return
	}
	if err := d.DropCache(seg.droppedTo, to-seg.droppedTo); err != nil {
		s.keepCache = true
		s.log.Warn("eventstore: cannot drop written pages from the page cache; keeping them", "segment", seg.name, "err", err)
		return
	}
	seg.droppedTo = to
}

// posixFadvDontneed is POSIX_FADV_DONTNEED on Linux.
const posixFadvDontneed = 4

// DropCache advises the kernel that [off, off+n) of the file is not needed (fadvise64
// POSIX_FADV_DONTNEED): its clean pages leave the page cache.
func (o osFile) DropCache(off, n int64) error {
	_, _, errno := syscall.Syscall6(syscall.SYS_FADVISE64, o.f.Fd(), uintptr(off), uintptr(n), posixFadvDontneed, 0, 0)
	if errno != 0 {
		return fmt.Errorf("fadvise %s: %w", o.f.Name(), errno)
	}
	return nil
}
