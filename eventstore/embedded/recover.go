package embedded

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"hash"
	"hash/crc32"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/encours/encours/domain"
	"github.com/encours/encours/eventstore"
)

// Recovery says what Open (or Verify) found at the end of the log. The zero value means the
// log ended cleanly.
type Recovery struct {
	TornTail bool   // the log ended in a torn tail, which was dropped
	Segment  string // the segment that held it
	// Offset is where the dropped bytes start: the end of the last whole append.
	Offset int64
	// Position is the first position dropped. It was never acknowledged: an append is
	// acknowledged only once all of its records are synced.
	Position uint64
	// EventsDropped counts CRC-valid records of an append whose last record was missing or
	// damaged: an append is all-or-nothing, so they go with it.
	EventsDropped int
	// BytesDiscarded is the number of bytes from Offset to the last non-zero byte.
	BytesDiscarded int64
	// Repaired says the bytes were zeroed and synced (never with Options.ReadOnly).
	Repaired bool
}

// Limits of the recovery scan.
const (
	// scanWindowBytes is what the scanner reads per ReadAt; a record larger than this is
	// read whole.
	scanWindowBytes = 1 << 20
	// progressEvery is how often (in events) Verify reports progress.
	progressEvery = 1 << 16
	// ctxCheckEvery is how often (in records) the scan looks at its context.
	ctxCheckEvery = 1 << 10
)

type scanResult struct {
	segs            []*segment
	streams         map[string]*streamIndex
	idem            map[string]idemEntry
	head            eventstore.Head
	recordedAtNanos int64
	recovery        Recovery
}

// scanner reads a store's directory, checks every record, builds the in-memory indexes and
// (unless read-only) repairs a torn tail. Open and Verify both use it, so what Verify accepts
// is exactly what Open accepts.
type scanner struct {
	fs       FS
	dir      string
	readOnly bool
	log      *slog.Logger
	progress func(pos uint64)
	// useCheckpoint lets the scan start from the directory's recovery checkpoint (Open);
	// Verify leaves it false and reads every record.
	useCheckpoint bool

	res     scanResult
	h       hash.Hash
	pending []pendingRecord // records of the append being read, until its commit record
	records uint64
	// scanned counts the records decoded and hashed; checkpointAt is the head position of
	// the checkpoint the scan started from, 0 if none.
	scanned, checkpointAt uint64
}

type pendingRecord struct {
	e   domain.Envelope
	off int64
}

func (sc *scanner) scan(ctx context.Context) (res scanResult, err error) {
	names, err := sc.fs.ReadDirNames(sc.dir)
	if err != nil {
		return res, err
	}
	sc.h = sha256.New()
	sc.res = scanResult{streams: make(map[string]*streamIndex), idem: make(map[string]idemEntry)}
	defer func() {
		if err != nil {
			for _, seg := range sc.res.segs {
				seg.f.Close()
			}
		}
	}()
	var segNames []string
	for _, name := range names {
		switch {
		case strings.HasSuffix(name, spareSuffix):
			// A spare segment being prepared when the process stopped: never part of the log.
			if !sc.readOnly {
				if err := sc.fs.Remove(filepath.Join(sc.dir, name)); err != nil {
					return sc.res, err
				}
			}
		case strings.HasSuffix(name, segmentSuffix):
			if _, ok := parseSegmentName(name); !ok {
				return sc.res, &CorruptError{Segment: name, Reason: "not a segment name (20 digits, the first position)"}
			}
			segNames = append(segNames, name) // sorted by name, hence by first position
		}
	}
	var ck *checkpoint
	if sc.useCheckpoint {
		ck = sc.loadCheckpoint(segNames)
	}
	if ck != nil {
		sc.res.streams, sc.res.idem = ck.streams, ck.idem
		sc.checkpointAt = ck.head.Position
	}
	for i, name := range segNames {
		last := i == len(segNames)-1
		first, _ := parseSegmentName(name)
		flag := os.O_RDONLY
		if last && !sc.readOnly {
			flag = os.O_RDWR
		}
		f, err := sc.fs.OpenFile(filepath.Join(sc.dir, name), flag, 0)
		if err != nil {
			return sc.res, err
		}
		seg := &segment{first: first, name: name, f: f}
		sc.res.segs = append(sc.res.segs, seg)
		if want := sc.res.head.Position + 1; first != want {
			return sc.res, &CorruptError{Segment: name, Position: want,
				Reason: fmt.Sprintf("segment starts at position %d, want %d: positions %d..%d are missing", first, want, want, first-1)}
		}
		start := int64(0)
		if ck != nil && i < len(ck.segs) {
			// Indexed by the checkpoint: only the records after its end are read.
			cs := ck.segs[i]
			seg.offsets, seg.end, start = cs.offsets, cs.end, cs.end
			if i == len(ck.segs)-1 {
				sc.res.head, sc.res.recordedAtNanos = ck.head, ck.recordedAtNanos
			} else {
				sc.res.head = eventstore.Head{Position: cs.first + uint64(len(cs.offsets)) - 1}
				if seg.capBytes, err = f.Size(); err != nil {
					return sc.res, err
				}
				continue
			}
		}
		if err := sc.scanSegment(ctx, seg, start, last); err != nil {
			return sc.res, err
		}
		if !last && len(seg.offsets) == 0 {
			return sc.res, &CorruptError{Segment: name, Position: first, Reason: "empty segment before the last one"}
		}
	}
	if sc.progress != nil {
		sc.progress(sc.res.head.Position)
	}
	return sc.res, nil
}

// scanSegment reads seg's records up to the first that is not whole and valid, then decides
// what follows: zeros (a clean end), a torn tail (the last segment, no valid record after),
// or corruption.
//
// The scan starts at offset start: 0, or the end of the records a checkpoint indexed (they
// are then in seg.offsets and the indexes, and the scanner's head is the last of them).
func (sc *scanner) scanSegment(ctx context.Context, seg *segment, start int64, last bool) error {
	size, err := seg.f.Size()
	if err != nil {
		return err
	}
	seg.capBytes = size
	r := segReader{f: seg.f, size: size}
	res := &sc.res
	next, prev, recordedAt := res.head.Position+1, res.head.Hash, res.recordedAtNanos
	sc.pending = sc.pending[:0]
	off, committedEnd := start, start
	for {
		if sc.records++; sc.records%ctxCheckEvery == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		if off+recordHeaderBytes > size {
			break
		}
		hb, err := r.bytes(off, recordHeaderBytes)
		if err != nil {
			return err
		}
		h := parseHeader(hb)
		if !h.magicValid() || !h.lenValid() || off+recordHeaderBytes+int64(h.payloadLen) > size {
			break // zeros (the end) or damage: decided below
		}
		payload, err := r.bytes(off+recordHeaderBytes, int(h.payloadLen))
		if err != nil {
			return err
		}
		if crc32.Checksum(payload, castagnoli) != h.crc {
			break
		}
		// A CRC-valid record: it is what the writer wrote, so anything wrong with it now is
		// corruption, never a tear.
		corrupt := func(format string, args ...any) error {
			return &CorruptError{Segment: seg.name, Offset: off, Position: next, Reason: fmt.Sprintf(format, args...)}
		}
		var e domain.Envelope
		sc.scanned++
		if err := decodePayload(sc.h, payload, &e, false); err != nil {
			return corrupt("%v", err)
		}
		switch {
		case e.Position != next:
			return corrupt("record holds position %d", e.Position)
		case e.PrevHash != prev:
			return corrupt("broken hash link: prev_hash %s, previous event's hash %s", e.PrevHash, prev)
		case e.RecordedAt.UnixNano() < recordedAt:
			return corrupt("recorded_at %s before the previous event's", e.RecordedAt)
		case len(sc.pending) >= eventstore.AppendEventsMax:
			return corrupt("append of more than %d records", eventstore.AppendEventsMax)
		}
		sc.pending = append(sc.pending, pendingRecord{e: e, off: off})
		next, prev, recordedAt = next+1, e.Hash, e.RecordedAt.UnixNano()
		off += recordHeaderBytes + int64(h.payloadLen)
		if h.magic == magicCommit {
			if err := sc.commit(seg); err != nil {
				return err
			}
			committedEnd = off
		}
	}
	seg.end = committedEnd
	framedAt, lastNonZero, err := searchTail(seg.f, size, off)
	if err != nil {
		return err
	}
	if framedAt >= 0 {
		return &CorruptError{Segment: seg.name, Offset: off, Position: next,
			Reason: fmt.Sprintf("invalid record followed by a valid record at offset %d", framedAt)}
	}
	tailEnd := max(off, lastNonZero+1)
	if tailEnd == committedEnd {
		return nil // a clean end: zeros after the last commit record
	}
	if !last {
		// Name the record that is damaged or missing: the one the scan stopped at.
		return &CorruptError{Segment: seg.name, Offset: off, Position: next,
			Reason: "damaged or missing record at the end of a segment that is not the last"}
	}
	dropped := res.head.Position + 1
	rec := Recovery{TornTail: true, Segment: seg.name, Offset: committedEnd, Position: dropped,
		EventsDropped: len(sc.pending), BytesDiscarded: tailEnd - committedEnd}
	if !sc.readOnly {
		if err := writeZeros(seg.f, committedEnd, tailEnd); err != nil {
			return fmt.Errorf("truncate torn tail of %s: %w", seg.name, err)
		}
		if err := seg.f.Sync(); err != nil {
			return fmt.Errorf("truncate torn tail of %s: sync: %w", seg.name, err)
		}
		rec.Repaired = true
		sc.log.Warn("eventstore: torn tail truncated", "segment", seg.name, "offset", committedEnd,
			"position", dropped, "events_dropped", rec.EventsDropped, "bytes_discarded", rec.BytesDiscarded)
	}
	res.recovery = rec
	return nil
}

// commit adds the pending records (one whole append, ending with its commit record) to the
// indexes, checking what holds for every append: one stream, contiguous versions, one
// idempotency key used once, its request hash on the first event only.
func (sc *scanner) commit(seg *segment) error {
	res := &sc.res
	first := &sc.pending[0].e
	stream, key := first.Stream, first.IdempotencyKey
	si := res.streams[stream]
	if si == nil {
		si = &streamIndex{}
		// The decoded strings of a record share one allocation (domain.DecodeCanonical):
		// the index keeps its own copy of the name, not the record's whole block.
		res.streams[strings.Clone(stream)] = si
	}
	ids := make([]string, 0, len(sc.pending))
	for i := range sc.pending {
		p := &sc.pending[i]
		e := &p.e
		corrupt := func(format string, args ...any) error {
			return &CorruptError{Segment: seg.name, Offset: p.off, Position: e.Position, Reason: fmt.Sprintf(format, args...)}
		}
		switch {
		case e.Stream != stream:
			return corrupt("append mixes streams %q and %q", stream, e.Stream)
		case e.IdempotencyKey != key:
			return corrupt("append mixes idempotency keys %q and %q", key, e.IdempotencyKey)
		case i == 0 && key != "" && len(e.RequestHash) != requestHashBytesLen:
			return corrupt("idempotency key %q with a request hash of %d bytes", key, len(e.RequestHash))
		case (i > 0 || key == "") && len(e.RequestHash) != 0:
			return corrupt("unexpected request hash")
		case e.StreamVersion != uint64(len(si.positions))+1:
			return corrupt("stream %q version %d, want %d", stream, e.StreamVersion, len(si.positions)+1)
		case i == 0 && key != "" && res.idem[key].requestHash != nil:
			return corrupt("idempotency key %q used again (first at position %d)", key, res.idem[key].result.Position)
		}
		si.positions = append(si.positions, e.Position)
		seg.offsets = append(seg.offsets, uint32(p.off))
		ids = append(ids, strings.Clone(e.EventID))
	}
	last := &sc.pending[len(sc.pending)-1].e
	if key != "" {
		res.idem[key] = newIdemEntry(eventstore.AppendResult{Stream: stream, StreamVersion: last.StreamVersion,
			Position: last.Position, EventIDs: ids}, first.RequestHash)
	}
	before := res.head.Position
	res.head = eventstore.Head{Position: last.Position, Hash: last.Hash}
	res.recordedAtNanos = last.RecordedAt.UnixNano()
	if sc.progress != nil && before/progressEvery != last.Position/progressEvery {
		sc.progress(last.Position)
	}
	sc.pending = sc.pending[:0]
	return nil
}

// segReader reads a segment through a window, so that a scan makes one ReadAt per
// scanWindowBytes instead of two per record.
type segReader struct {
	f     File
	size  int64
	buf   []byte
	start int64
	n     int
}

// bytes returns size-checked bytes [off, off+n); they are valid until the next call.
func (r *segReader) bytes(off int64, n int) ([]byte, error) {
	if off < 0 || off+int64(n) > r.size {
		broken("read [%d,+%d) of a %d-byte segment", off, n, r.size)
	}
	if off >= r.start && off+int64(n) <= r.start+int64(r.n) {
		return r.buf[off-r.start:][:n], nil
	}
	want := int(min(int64(max(n, scanWindowBytes)), r.size-off))
	if cap(r.buf) < want {
		r.buf = make([]byte, want)
	}
	r.buf = r.buf[:want]
	if _, err := r.f.ReadAt(r.buf, off); err != nil {
		r.n = 0
		return nil, err
	}
	r.start, r.n = off, want
	return r.buf[:n], nil
}

var (
	magicCommitBytes   = binary.BigEndian.AppendUint32(nil, magicCommit)
	magicContinueBytes = binary.BigEndian.AppendUint32(nil, magicContinue)
	zeroWindow         = make([]byte, scanWindowBytes)
)

// searchTail looks at [from, size) of a segment, after its last valid record: it returns the
// offset of the first valid framed record there (magic, sane length, matching CRC), or -1,
// and the offset of the last non-zero byte, or -1.
func searchTail(f File, size, from int64) (framedAt, lastNonZero int64, err error) {
	win, probe := segReader{f: f, size: size}, segReader{f: f, size: size}
	lastNonZero = -1
	for w := from; w < size; {
		n := int(min(scanWindowBytes, size-w))
		b, err := win.bytes(w, n)
		if err != nil {
			return -1, -1, err
		}
		if !bytes.Equal(b, zeroWindow[:n]) {
			for i := len(b) - 1; i >= 0; i-- {
				if b[i] != 0 {
					lastNonZero = max(lastNonZero, w+int64(i))
					break
				}
			}
			for _, magic := range [][]byte{magicCommitBytes, magicContinueBytes} {
				for i := 0; ; i++ {
					k := bytes.Index(b[i:], magic)
					if k < 0 {
						break
					}
					i += k
					ok, err := probe.framedAt(w + int64(i))
					if err != nil {
						return -1, -1, err
					}
					if ok {
						return w + int64(i), lastNonZero, nil
					}
				}
			}
		}
		if w+int64(n) >= size {
			break
		}
		w += int64(n) - 3 // overlap: a magic across the boundary is found in the next window
	}
	return -1, lastNonZero, nil
}

// framedAt reports whether a whole record with a valid CRC starts at off.
func (r *segReader) framedAt(off int64) (bool, error) {
	if off+recordHeaderBytes > r.size {
		return false, nil
	}
	hb, err := r.bytes(off, recordHeaderBytes)
	if err != nil {
		return false, err
	}
	h := parseHeader(hb)
	if !h.magicValid() || !h.lenValid() || off+recordHeaderBytes+int64(h.payloadLen) > r.size {
		return false, nil
	}
	payload, err := r.bytes(off+recordHeaderBytes, int(h.payloadLen))
	if err != nil {
		return false, err
	}
	return crc32.Checksum(payload, castagnoli) == h.crc, nil
}

// Report is what Verify found.
type Report struct {
	Segments int
	Events   uint64
	Streams  int
	// Head is the last position and its hash: an auditor compares it with a head published
	// earlier, which also catches a log cut short at a segment boundary (a removed last
	// segment leaves a log that is shorter but valid).
	Head eventstore.Head
	// Tail is a torn tail at the end of the log (TornTail false when it ended cleanly). It is
	// not damage: Open drops it, and it was never acknowledged.
	Tail Recovery
}

// Verify checks the store in dir without changing anything: every record's CRC, canonical
// encoding and hash, the hash chain, contiguous positions from 1, contiguous stream
// versions, and idempotency keys used once. It calls progress (when not nil) with the last
// position checked, every 65 536 events and at the end. Damage is an error wrapping
// eventstore.ErrCorrupt (a *CorruptError) naming the first bad position. It takes the
// directory's shared lock, so it refuses to run beside a writing Store.
func Verify(ctx context.Context, dir string, progress func(pos uint64)) (Report, error) {
	if _, err := os.Stat(dir); err != nil {
		return Report{}, fmt.Errorf("verify %s: %w", dir, err)
	}
	lock, err := lockDir(dir, true)
	if err != nil {
		return Report{}, fmt.Errorf("verify %s: lock: %w", dir, err)
	}
	if lock != nil {
		defer lock.Close()
	}
	sc := scanner{fs: osFS{}, dir: dir, readOnly: true, log: slog.New(slog.DiscardHandler), progress: progress}
	res, err := sc.scan(ctx)
	if err != nil {
		return Report{}, fmt.Errorf("verify %s: %w", dir, err)
	}
	for _, seg := range res.segs {
		seg.f.Close()
	}
	return Report{Segments: len(res.segs), Events: res.head.Position, Streams: len(res.streams),
		Head: res.head, Tail: res.recovery}, nil
}
