package embedded

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/encours/encours/eventstore"
)

// Limits (style §8). Each says what happens when it is reached.
const (
	// appendQueueMax is the number of Append calls waiting for the writer. Full: Append blocks
	// (back-pressure on the callers) until there is room or its ctx ends. 1024 is 32 groups of
	// 32 writers, far more than one fdatasync's worth of waiting callers.
	appendQueueMax = 1024
	// groupAppendsMax and groupEventsMax bound one group commit (one write + one fdatasync).
	// The writer stops taking calls into a group once either is reached; the rest wait for
	// the next group. 16 384 events of ~250 bytes is a 4 MiB write, a few ms of disk time, so
	// a full group keeps p99 latency bounded.
	groupAppendsMax = 1024
	groupEventsMax  = 16_384
	// lingerMax bounds how long the writer waits, right after answering a group, for those
	// callers to come back before it closes the next group (see collect). 50 µs is half of
	// an fdatasync on the development machine (p50 ~100 µs): the most a caller that does
	// not come back can cost the others.
	lingerMax = 50 * time.Microsecond
	// groupBufferKeepBytesMax: the writer's encode buffer is kept between groups up to this
	// size, and dropped after a group that needed more (a few appends of large events).
	groupBufferKeepBytesMax = 16 << 20
	// subscribeBufferMax is the events buffered between a subscription's goroutine and its
	// consumer. Full: the goroutine waits for the consumer; memory stays bounded.
	subscribeBufferMax = 256
	// subscribeBatchMax is the events one catch-up read of a subscription returns.
	subscribeBatchMax = 256
	// readBytesMax bounds the record bytes one ReadAll or ReadStream call reads; it returns
	// fewer than limit events (at least one) rather than more bytes.
	readBytesMax = 16 << 20

	// SegmentBytesDefault is the default Options.SegmentBytes.
	SegmentBytesDefault = 64 << 20
	segmentBytesMin     = 4 << 10
	segmentBytesMax     = 1 << 30 // offsets in the position index are uint32
)

// ErrReadOnly is returned by Append on a store opened with Options.ReadOnly.
var ErrReadOnly = errors.New("event store opened read-only")

// Options configure Open. The zero value is valid: wall clock, 64 MiB segments, no logging,
// the operating system's files, read-write.
type Options struct {
	// Clock gives RecordedAt. Default time.Now. The store keeps RecordedAt non-decreasing
	// with the position even if the clock steps back, so "known at T" is a prefix of the log.
	Clock func() time.Time
	// SegmentBytes is the size of a new segment file; an append whose records do not fit in
	// one segment is refused (ErrInvalidAppend). Default SegmentBytesDefault; 4 KiB .. 1 GiB.
	SegmentBytes int64
	// Logger receives recovery warnings and failures. Default: discard.
	Logger *slog.Logger
	// FS is a test hook: the file layer to use instead of the operating system's, so tests
	// can inject write and fdatasync faults. Leave nil in production.
	FS FS
	// ReadOnly opens the store for reading only: nothing is repaired, created or written
	// (Append returns ErrReadOnly), and a shared lock lets it run beside other readers.
	ReadOnly bool
	// KeepWrittenInCache keeps what the writer writes in the page cache. By default, pages
	// more than 16 MiB behind the end of the log are dropped from it once durable, so that
	// new writes reuse them (see cache.go); readers of older positions then read the disk.
	KeepWrittenInCache bool
}

// Stats are cumulative counters since Open, for metrics.
type Stats struct {
	Appends  uint64 // appends acknowledged (replays excluded)
	Replays  uint64 // appends answered with an earlier result for their idempotency key
	Rejected uint64 // appends refused: wrong version, key reused, invalid, cancelled, failed
	Events   uint64 // events appended
	Groups   uint64 // groups written, synced and published (a group all refused, or failed, is not one)
	// Direct is the groups (written or all refused) an Append committed in its own goroutine,
	// having found the writer idle and nothing queued; the writer goroutine committed the
	// others. A direct group may still be synced by the syncer (pipelined commit).
	Direct uint64
	Syncs  uint64 // fdatasync calls on segments
	Bytes  uint64 // record bytes written to segments
	// RecoveryScanned is the number of records Open read and hashed; RecoveryCheckpoint is
	// the head position of the recovery checkpoint Open started from (0: none, the whole
	// log was scanned).
	RecoveryScanned    uint64
	RecoveryCheckpoint uint64
}

// Store is the embedded event store. It implements eventstore.Store; every method is safe for
// concurrent use.
type Store struct {
	dir      string
	fs       FS
	log      *slog.Logger
	clock    func() time.Time
	segBytes int64
	readOnly bool
	// keepCache: the writer leaves written pages in the page cache (Options.KeepWrittenInCache,
	// or after a failed drop). Owned, after Open, by whoever syncs: the writer, or the syncer
	// while a group is in flight (append.go).
	keepCache bool
	lock      *os.File
	recovery  Recovery
	// What Open's scan did, for Stats.
	recoveryScanned, recoveryCheckpoint uint64

	// The append path: Append sends calls on reqs under sendMu's read lock; Close closes reqs
	// under its write lock, so no send ever races the close.
	sendMu     sync.RWMutex
	sendClosed bool
	reqs       chan *appendCall
	failure    atomic.Pointer[error] // set once by the writer: fail-stop
	writing    sync.Mutex            // held by whoever commits a group: runWriter or an Append
	queued     atomic.Int64          // calls sent on reqs and not yet taken into a group
	// lastGroupCalls is the calls of the last group committed (answeredCalls, for Append).
	lastGroupCalls atomic.Int32
	w              writer // guarded by writing
	writerDone     chan struct{}
	// The pipelined commit (append.go): groups written and handed to the syncer, how many are
	// in flight (handed over and not yet answered), flights to reuse, the syncer's end.
	flights     chan *flight
	inflight    atomic.Int64
	freeFlights chan *flight
	syncerDone  chan struct{}
	// forcePipeline hands every written group to the syncer (tests of the pipelined commit).
	forcePipeline bool

	// The committed index, written by the writer (under mu) after each fdatasync and read
	// by everyone. Only acknowledged events are in it.
	mu      sync.RWMutex
	segs    []*segment
	streams map[string]*streamIndex
	idem    map[string]idemEntry
	head    eventstore.Head
	commitC chan struct{} // closed and replaced at each commit: the broadcast for subscriptions

	// Readers hold fileMu's read lock while they use segment files; Close takes the write
	// lock to close them.
	fileMu      sync.RWMutex
	filesClosed bool

	// Background goroutines (the spare-segment preparer, subscriptions) end when stop is
	// closed; Close waits for them on wg. subMu orders wg.Add against Close's wg.Wait.
	stop       chan struct{}
	wg         sync.WaitGroup
	subMu      sync.Mutex
	subsClosed bool
	spareWant  chan struct{}
	spareReady chan spare

	closeOnce sync.Once
	closeErr  error

	stats struct {
		appends, replays, rejected, events, groups, syncs, bytes, direct atomic.Uint64
	}
}

var _ eventstore.Store = (*Store)(nil)

// segment is one segment file. offsets and end are guarded by Store.mu.
type segment struct {
	first    uint64 // position of its first record (its name)
	name     string
	f        File
	capBytes int64    // records are written below this offset
	offsets  []uint32 // offsets[i] is the record of position first+i
	end      int64    // end of the last committed record
	zeroedTo int64    // the writer has written zeros up to here (see zeroAhead); writer-owned
	// droppedTo: the pages before it were dropped from the page cache (dropBehind); owned by
	// whoever syncs, as keepCache.
	droppedTo int64
}

type streamIndex struct {
	positions []uint64 // positions[v-1] is the event of version v: Version == len(positions)
}

// Open opens (creating it if needed) the store in dir, recovering it: every record is
// checked, a torn tail is truncated (see Recovered), and damage anywhere else is an error
// wrapping eventstore.ErrCorrupt that names the position, segment and offset.
func Open(dir string, opts Options) (*Store, error) {
	s := &Store{
		dir:      dir,
		fs:       opts.FS,
		log:      opts.Logger,
		clock:    opts.Clock,
		segBytes: opts.SegmentBytes,
		readOnly: opts.ReadOnly,

		keepCache: opts.KeepWrittenInCache,
	}
	if s.fs == nil {
		s.fs = osFS{}
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.clock == nil {
		s.clock = time.Now
	}
	if s.segBytes == 0 {
		s.segBytes = SegmentBytesDefault
	}
	if s.segBytes < segmentBytesMin || s.segBytes > segmentBytesMax {
		return nil, fmt.Errorf("open event store %s: segment size %d bytes, want %d..%d",
			dir, s.segBytes, segmentBytesMin, segmentBytesMax)
	}
	if !s.readOnly {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("open event store: %w", err)
		}
	}
	lock, err := lockDir(dir, s.readOnly)
	if err != nil {
		return nil, fmt.Errorf("open event store %s: lock: %w", dir, err)
	}
	s.lock = lock

	sc := scanner{fs: s.fs, dir: dir, readOnly: s.readOnly, log: s.log, useCheckpoint: true}
	res, err := sc.scan(context.Background())
	if err != nil {
		s.unlock()
		return nil, fmt.Errorf("open event store %s: %w", dir, err)
	}
	s.segs, s.streams, s.idem, s.head = res.segs, res.streams, res.idem, res.head
	s.recovery = res.recovery
	s.recoveryScanned, s.recoveryCheckpoint = sc.scanned, sc.checkpointAt
	if sc.checkpointAt > 0 {
		s.log.Info("eventstore: opened from the recovery checkpoint", "dir", dir,
			"checkpoint", sc.checkpointAt, "head", res.head.Position, "records_scanned", sc.scanned)
	}
	s.commitC = make(chan struct{})
	s.stop = make(chan struct{})
	if s.readOnly {
		return s, nil
	}

	s.w = writer{
		next:            res.head.Position + 1,
		prev:            res.head.Hash,
		recordedAtNanos: res.recordedAtNanos,
		hasher:          sha256.New(),
		pendingVersions: make(map[string]uint64),
		pendingKeys:     make(map[string]pendingKey),
	}
	if n := len(s.segs); n > 0 {
		// The last segment goes on to its own size, or to SegmentBytes if it is shorter
		// (written before with smaller segments, or cut short): WriteAt extends it.
		last := s.segs[n-1]
		last.capBytes = max(last.capBytes, s.segBytes)
		s.w.seg, s.w.off = last, last.end
	}
	s.reqs = make(chan *appendCall, appendQueueMax)
	s.writerDone = make(chan struct{})
	s.flights = make(chan *flight, flightsMax)
	s.freeFlights = make(chan *flight, flightsMax+2)
	s.syncerDone = make(chan struct{})
	s.spareWant = make(chan struct{}, 1)
	s.spareReady = make(chan spare, 1)
	s.wg.Add(1)
	go s.runPreparer() // ends when stop is closed (Close)
	s.spareWant <- struct{}{}
	go s.runWriter() // ends when reqs is closed (Close); Close waits on writerDone
	go s.runSyncer() // ends when runWriter closes flights; Close waits on syncerDone
	return s, nil
}

// Recovered reports what Open found at the end of the log: a torn tail it dropped (and
// zeroed, unless read-only), or the zero Recovery when the log ended cleanly.
func (s *Store) Recovered() Recovery { return s.recovery }

// Dir is the store's directory.
func (s *Store) Dir() string { return s.dir }

// Stats returns the store's counters.
func (s *Store) Stats() Stats {
	return Stats{
		Appends:  s.stats.appends.Load(),
		Replays:  s.stats.replays.Load(),
		Rejected: s.stats.rejected.Load(),
		Events:   s.stats.events.Load(),
		Groups:   s.stats.groups.Load(),
		Direct:   s.stats.direct.Load(),
		Syncs:    s.stats.syncs.Load(),
		Bytes:    s.stats.bytes.Load(),

		RecoveryScanned:    s.recoveryScanned,
		RecoveryCheckpoint: s.recoveryCheckpoint,
	}
}

// Failed returns the error that put the store in the failed state, or nil.
func (s *Store) Failed() error {
	if p := s.failure.Load(); p != nil {
		return *p
	}
	return nil
}

// Head returns the last acknowledged position and its hash.
func (s *Store) Head(ctx context.Context) (eventstore.Head, error) {
	if err := ctx.Err(); err != nil {
		return eventstore.Head{}, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.head, nil
}

// LastPosition is Head's position without a context or an error: what is acknowledged, read
// from memory. It lets a caller that follows the log (the command service's id directory)
// tell cheaply that there is nothing new to read.
func (s *Store) LastPosition() uint64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.head.Position
}

// LookupIdempotency returns the result of the append made with key, and its request hash.
func (s *Store) LookupIdempotency(ctx context.Context, key string) (eventstore.AppendResult, []byte, bool, error) {
	if err := ctx.Err(); err != nil {
		return eventstore.AppendResult{}, nil, false, err
	}
	s.mu.RLock()
	e, ok := s.idem[key]
	s.mu.RUnlock()
	if !ok {
		return eventstore.AppendResult{}, nil, false, nil
	}
	return e.appendResult(), append([]byte(nil), e.requestHash...), true, nil
}

func copyResult(r eventstore.AppendResult) eventstore.AppendResult {
	r.EventIDs = append([]string(nil), r.EventIDs...)
	return r
}

// Close stops accepting appends, lets those already queued be committed and answered, ends
// every subscription, and closes the files. It is safe to call more than once.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		if !s.readOnly {
			s.sendMu.Lock()
			s.sendClosed = true
			close(s.reqs)
			s.sendMu.Unlock()
			<-s.writerDone
			<-s.syncerDone
			// The log is complete up to the head: save the recovery state so that the
			// next Open scans only what is appended after it. A failed store saves
			// nothing (its files may be in doubt); a failure here costs the next Open a
			// full scan, nothing else.
			if s.Failed() == nil {
				if err := s.writeCheckpoint(); err != nil {
					s.log.Warn("eventstore: recovery checkpoint not written", "dir", s.dir, "err", err)
				}
			}
		}
		s.subMu.Lock()
		s.subsClosed = true
		s.subMu.Unlock()
		close(s.stop)
		s.wg.Wait()
		if !s.readOnly {
			select {
			case sp := <-s.spareReady:
				sp.discard(s.fs)
			default:
			}
		}
		s.fileMu.Lock()
		s.filesClosed = true
		var errs []error
		for _, seg := range s.segs {
			errs = append(errs, seg.f.Close())
		}
		s.fileMu.Unlock()
		s.unlock()
		if err := errors.Join(errs...); err != nil {
			s.closeErr = fmt.Errorf("close event store %s: %w", s.dir, err)
		}
	})
	return s.closeErr
}

func (s *Store) unlock() {
	if s.lock != nil {
		s.lock.Close() // releases the flock
		s.lock = nil
	}
}

// locate returns the segment holding position p (1 <= p <= head) and the bounds of its
// record. The caller holds mu.
func (s *Store) locate(p uint64) (*segment, int64, int64) {
	i := sort.Search(len(s.segs), func(i int) bool { return s.segs[i].first > p }) - 1
	if i < 0 {
		broken("position %d before the first segment", p)
	}
	seg := s.segs[i]
	k := p - seg.first
	if k >= uint64(len(seg.offsets)) {
		broken("position %d beyond segment %s (%d records)", p, seg.name, len(seg.offsets))
	}
	start, end := int64(seg.offsets[k]), seg.end
	if k+1 < uint64(len(seg.offsets)) {
		end = int64(seg.offsets[k+1])
	}
	return seg, start, end
}

// spare is a zero-filled, synced segment file waiting to be renamed into place.
type spare struct {
	path string
	f    File
	size int64
	err  error
}

func (sp spare) discard(fsys FS) {
	if sp.f != nil {
		sp.f.Close()
		fsys.Remove(sp.path)
	}
}

// runPreparer keeps one spare segment ready, so that a rollover costs a rename and a
// directory fsync. A spare is fallocated: its space is reserved (ENOSPC shows here, before
// the log needs it) and costs no write; the writer then zeroes ahead of itself (zeroAhead).
func (s *Store) runPreparer() {
	defer s.wg.Done()
	for n := 0; ; n++ {
		select {
		case <-s.spareWant:
		case <-s.stop:
			return
		}
		sp := s.prepareSpare(n)
		select {
		case s.spareReady <- sp:
		case <-s.stop:
			sp.discard(s.fs)
			return
		}
	}
}

// Preallocation (measured on the development machine's ext4, virtio disk; figures from
// BenchmarkFdatasync and BenchmarkAppend, medians of noisy runs on a shared 2-core VM).
//
// Writing into fallocated (unwritten) blocks makes each fdatasync that touches a new block
// commit an extent conversion to the journal: 4 KiB write + fdatasync in a loop runs at
// 5 100..5 400/s on a fallocated file, 8 100..8 500/s on a zero-filled one, 5 100..5 600/s
// when appending to the end. So zeros ahead make fdatasync faster, and small groups need it:
// 32 writers of single events ran 90..114k events/s on zero-filled segments, 45..63k on
// fallocated ones.
//
// But zero-filling whole 64 MiB segments in the background doubles the bytes written and its
// 64 MiB flush stalls the writer's fdatasyncs: batches of 500 from one writer ran 570k
// events/s with p99 9..11 ms, against 1.02..1.07M with p99 0.7..0.9 ms on fallocated
// segments; batches of 100 from 32 writers 0.8..1.3M with p99 19..32 ms against 1.7M with
// p99 3.4..3.7 ms.
//
// So: segments are fallocated, and the writer zeroes ahead of itself in zeroAheadBytes steps
// when its writes are small (below zeroAheadWriteBytesMax), in the same group as the write
// that crosses the zeroed mark. Small groups then sync into written blocks, and a run of
// large writes, which convert their own blocks once per write anyway, writes no zeros.
const (
	zeroAheadBytes         = 1 << 20
	zeroAheadWriteBytesMax = 64 << 10
)

var zeroChunk [zeroAheadBytes]byte

func (s *Store) prepareSpare(n int) spare {
	sp := spare{path: filepath.Join(s.dir, fmt.Sprintf("spare-%d%s", n, spareSuffix)), size: s.segBytes}
	f, err := s.fs.OpenFile(sp.path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		sp.err = fmt.Errorf("prepare segment: %w", err)
		return sp
	}
	sp.f = f
	if err := f.Allocate(0, sp.size); err != nil {
		sp.discard(s.fs)
		return spare{err: fmt.Errorf("prepare segment: %w", err)}
	}
	if err := f.Sync(); err != nil {
		sp.discard(s.fs)
		return spare{err: fmt.Errorf("prepare segment: sync: %w", err)}
	}
	return sp
}

func writeZeros(f File, from, to int64) error {
	for off := from; off < to; {
		n := min(int64(len(zeroChunk)), to-off)
		if _, err := f.WriteAt(zeroChunk[:n], off); err != nil {
			return err
		}
		off += n
	}
	return nil
}

// createSegment turns the spare into the segment whose first position is first, makes the
// rename durable (directory fsync), and asks the preparer for the next spare.
func (s *Store) createSegment(first uint64) (*segment, error) {
	sp := <-s.spareReady // the preparer always answers, with a file or an error
	if sp.err != nil {
		return nil, sp.err
	}
	name := segmentName(first)
	if err := s.fs.Rename(sp.path, filepath.Join(s.dir, name)); err != nil {
		sp.discard(s.fs)
		return nil, fmt.Errorf("create segment %s: %w", name, err)
	}
	seg := &segment{first: first, name: name, f: sp.f, capBytes: sp.size}
	s.mu.Lock()
	s.segs = append(s.segs, seg) // readers reach it only once head >= first
	s.mu.Unlock()
	if err := s.fs.SyncDir(s.dir); err != nil {
		return nil, fmt.Errorf("create segment %s: sync directory: %w", name, err)
	}
	s.spareWant <- struct{}{} // capacity 1, and the preparer had none pending: never blocks
	return seg, nil
}

// streamVersion is the committed version of stream. The caller holds mu (the syncer may be
// publishing).
func (s *Store) streamVersion(stream string) uint64 {
	if si, ok := s.streams[stream]; ok {
		return uint64(len(si.positions))
	}
	return 0
}
