package embedded

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/encours/encours/domain"
	"github.com/encours/encours/eventstore"
)

// A recovery checkpoint saves what Open otherwise rebuilds by reading and hashing the whole
// log: the stream and idempotency indexes, the head, and each segment's record offsets. Close
// writes it; Open loads it when it matches the segment files and scans only the records after
// it, so a restart costs the tail, not the log. Verify never reads it.
//
// Layout (little-endian), followed by the CRC-32C of everything before:
//
//	magic "ENCR" | format u8 | head position u64 | head hash [32] | recorded_at ns i64 |
//	segments uvarint, each: first u64 | end u64 | offsets uvarint | offsets u32… |
//	streams uvarint, each: name | positions uvarint | positions as uvarint deltas… |
//	keys uvarint, each: key | request hash | stream | version uvarint | position uvarint |
//	    event ids uvarint | ids…
//
// Strings are a uvarint length then the bytes.
//
// Trust: the checkpoint is used only if its CRC holds, its format is this one, its segments
// are the first segment files of the directory under the same names, the positions it
// indexes are contiguous from 1 to its head, and the record it names as the head is, in the
// segment file at the offset it gives, whole, CRC-valid, hashing to the head hash it saved.
// A checkpoint of another store, of a log that was cut or rewritten, or a damaged one fails
// one of these and Open falls back to the full scan, logging why. It does not re-check the
// records before its head: that is Verify's job (encours verify), which reads every record.
const (
	checkpointFileName = "recovery.checkpoint"
	checkpointTmpName  = "recovery.checkpoint.new"
	checkpointMagic    = "ENCR"
	checkpointFormat   = 1
)

// checkpoint is a decoded recovery checkpoint.
type checkpoint struct {
	head            eventstore.Head
	recordedAtNanos int64
	segs            []checkpointSegment
	streams         map[string]*streamIndex
	idem            map[string]idemEntry
}

type checkpointSegment struct {
	first   uint64
	end     int64
	offsets []uint32
}

// encodeCheckpoint encodes the committed state. The caller holds mu (or owns the store).
func encodeCheckpoint(segs []*segment, streams map[string]*streamIndex, idem map[string]idemEntry,
	head eventstore.Head, recordedAtNanos int64) []byte {
	n := 64
	for _, seg := range segs {
		n += 24 + 4*len(seg.offsets)
	}
	b := make([]byte, 0, n+int(head.Position)+len(streams)*32)
	b = append(b, checkpointMagic...)
	b = append(b, checkpointFormat)
	b = binary.LittleEndian.AppendUint64(b, head.Position)
	b = append(b, head.Hash[:]...)
	b = binary.LittleEndian.AppendUint64(b, uint64(recordedAtNanos))
	b = binary.AppendUvarint(b, uint64(len(segs)))
	for _, seg := range segs {
		b = binary.LittleEndian.AppendUint64(b, seg.first)
		b = binary.LittleEndian.AppendUint64(b, uint64(seg.end))
		b = binary.AppendUvarint(b, uint64(len(seg.offsets)))
		for _, o := range seg.offsets {
			b = binary.LittleEndian.AppendUint32(b, o)
		}
	}
	str := func(b []byte, s string) []byte { return append(binary.AppendUvarint(b, uint64(len(s))), s...) }
	b = binary.AppendUvarint(b, uint64(len(streams)))
	for name, si := range streams {
		b = str(b, name)
		b = binary.AppendUvarint(b, uint64(len(si.positions)))
		prev := uint64(0)
		for _, p := range si.positions {
			b = binary.AppendUvarint(b, p-prev)
			prev = p
		}
	}
	b = binary.AppendUvarint(b, uint64(len(idem)))
	for key, e := range idem {
		b = str(b, key)
		b = str(b, string(e.requestHash))
		b = str(b, e.result.Stream)
		b = binary.AppendUvarint(b, e.result.StreamVersion)
		b = binary.AppendUvarint(b, e.result.Position)
		b = binary.AppendUvarint(b, uint64(e.eventIDs()))
		for j := range e.eventIDs() {
			b = e.appendEventID(b, j) // as str: its length, then its bytes
		}
	}
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

// ckDecoder reads what encodeCheckpoint wrote; the first error sticks, and every count is
// checked against the bytes left so a damaged count never makes it allocate much.
type ckDecoder struct {
	b   []byte
	err error
}

func (d *ckDecoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%s at %d bytes from the end", what, len(d.b))
	}
}

func (d *ckDecoder) take(n int) []byte {
	if d.err != nil {
		return nil
	}
	if n < 0 || n > len(d.b) {
		d.fail("truncated")
		return nil
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}

func (d *ckDecoder) u64() uint64 {
	if v := d.take(8); v != nil {
		return binary.LittleEndian.Uint64(v)
	}
	return 0
}

func (d *ckDecoder) uv() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail("uvarint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

// count reads a number of items each at least minBytes long.
func (d *ckDecoder) count(minBytes int) int {
	n := d.uv()
	if n > uint64(len(d.b)/minBytes) {
		d.fail("count")
		return 0
	}
	return int(n)
}

func (d *ckDecoder) str() string { return string(d.take(d.count(1))) }

func decodeCheckpoint(b []byte) (*checkpoint, error) {
	if len(b) < len(checkpointMagic)+1+4 || string(b[:len(checkpointMagic)]) != checkpointMagic {
		return nil, errors.New("not a recovery checkpoint")
	}
	if f := b[len(checkpointMagic)]; f != checkpointFormat {
		return nil, fmt.Errorf("checkpoint format %d, want %d", f, checkpointFormat)
	}
	body := b[:len(b)-4]
	if crc32.Checksum(body, castagnoli) != binary.LittleEndian.Uint32(b[len(body):]) {
		return nil, errors.New("checkpoint checksum mismatch")
	}
	d := &ckDecoder{b: body[len(checkpointMagic)+1:]}
	ck := &checkpoint{}
	ck.head.Position = d.u64()
	copy(ck.head.Hash[:], d.take(len(ck.head.Hash)))
	ck.recordedAtNanos = int64(d.u64())
	ck.segs = make([]checkpointSegment, d.count(17))
	for i := range ck.segs {
		seg := &ck.segs[i]
		seg.first, seg.end = d.u64(), int64(d.u64())
		raw := d.take(4 * d.count(4))
		seg.offsets = make([]uint32, len(raw)/4)
		for j := range seg.offsets {
			seg.offsets[j] = binary.LittleEndian.Uint32(raw[4*j:])
		}
	}
	ns := d.count(2)
	ck.streams = make(map[string]*streamIndex, ns)
	for range ns {
		name := d.str()
		si := &streamIndex{positions: make([]uint64, d.count(1))}
		prev := uint64(0)
		for j := range si.positions {
			prev += d.uv()
			si.positions[j] = prev
		}
		if _, dup := ck.streams[name]; dup {
			d.fail("duplicate stream")
		}
		ck.streams[name] = si
	}
	ck.idem = decodeIdem(d)
	if d.err == nil && len(d.b) != 0 {
		d.fail("trailing bytes")
	}
	if d.err != nil {
		return nil, d.err
	}
	return ck, nil
}

// decodeIdem reads the idempotency entries, a store's largest part when every append carries
// a key (a command from the API or an import): often hundreds of thousands. It reads them in
// two passes: the first sums their bytes, the second cuts each entry's key, stream, request
// hash and packed event ids from two shared blocks, one string and one byte slice, instead
// of five to eight allocations per entry (~1.3 µs per entry decoded before, most of a
// restart's Open). The blocks hold exactly those bytes; the entries only read them.
func decodeIdem(d *ckDecoder) map[string]idemEntry {
	nk := d.count(5)
	start := d.b
	var strBytes, rawBytes int
	for range nk { // first pass: sizes only
		strBytes += len(d.take(d.count(1))) // key
		rawBytes += len(d.take(d.count(1))) // request hash
		strBytes += len(d.take(d.count(1))) // stream
		d.uv()
		d.uv()
		ids := d.count(1)
		for range ids {
			id := d.take(d.count(1))
			if len(id) == uuidStringLen {
				rawBytes += uuidBytesLen
			}
		}
	}
	if d.err != nil {
		return nil
	}
	d.b = start
	strBuf, raw := make([]byte, 0, strBytes), make([]byte, 0, rawBytes)
	type entry struct {
		key, stream [2]int // offsets in strBuf
		e           idemEntry
		ids         []string // when not all canonical UUIDs
	}
	entries := make([]entry, nk)
	for i := range entries {
		en := &entries[i]
		en.key = [2]int{len(strBuf), 0}
		strBuf = append(strBuf, d.take(d.count(1))...)
		en.key[1] = len(strBuf)
		h := d.take(d.count(1))
		raw = append(raw, h...)
		en.e.requestHash = raw[len(raw)-len(h) : len(raw) : len(raw)]
		en.stream = [2]int{len(strBuf), 0}
		strBuf = append(strBuf, d.take(d.count(1))...)
		en.stream[1] = len(strBuf)
		en.e.result.StreamVersion = d.uv()
		en.e.result.Position = d.uv()
		n := d.count(1)
		from := len(raw)
		for j := range n {
			id := d.take(d.count(1))
			if en.ids != nil {
				en.ids = append(en.ids, string(id))
				continue
			}
			var ok bool
			if raw, ok = appendUUID(raw, string(id)); !ok { // not all UUIDs: kept as strings
				en.ids = make([]string, 0, n)
				for k := range j {
					en.ids = append(en.ids, string(appendUUIDString(nil, raw[from+k*uuidBytesLen:from+(k+1)*uuidBytesLen])))
				}
				en.ids = append(en.ids, string(id))
				raw = raw[:from]
			}
		}
		if en.ids == nil {
			en.e.packed = raw[from:len(raw):len(raw)]
		}
	}
	if d.err != nil {
		return nil
	}
	strs := string(strBuf)
	idem := make(map[string]idemEntry, nk)
	for i := range entries {
		en := &entries[i]
		en.e.result.Stream = strs[en.stream[0]:en.stream[1]]
		if en.ids != nil {
			en.e.result.EventIDs, en.e.packed = en.ids, nil
		}
		idem[strs[en.key[0]:en.key[1]]] = en.e
	}
	return idem
}

// check verifies that ck describes a log whose segment files are the first of segNames: its
// segment names, contiguous positions from 1 to its head in both the offsets and the stream
// index, and its head record, read back from the file, with the hash and position it saved.
func (ck *checkpoint) check(fsys FS, dir string, segNames []string) error {
	if len(ck.segs) == 0 || ck.head.Position == 0 {
		return errors.New("checkpoint of an empty log")
	}
	if len(ck.segs) > len(segNames) {
		return fmt.Errorf("checkpoint has %d segments, the directory %d", len(ck.segs), len(segNames))
	}
	next := uint64(1)
	for i, seg := range ck.segs {
		if name := segmentName(seg.first); name != segNames[i] {
			return fmt.Errorf("checkpoint segment %s, directory has %s", name, segNames[i])
		}
		if seg.first != next || len(seg.offsets) == 0 {
			return fmt.Errorf("checkpoint segment %s: first position %d with %d records, want %d", segNames[i], seg.first, len(seg.offsets), next)
		}
		next += uint64(len(seg.offsets))
	}
	if next != ck.head.Position+1 {
		return fmt.Errorf("checkpoint segments end at position %d, its head is %d", next-1, ck.head.Position)
	}
	total := uint64(0)
	for _, si := range ck.streams {
		total += uint64(len(si.positions))
	}
	if total != ck.head.Position {
		return fmt.Errorf("checkpoint streams index %d events, its head is %d", total, ck.head.Position)
	}
	last := ck.segs[len(ck.segs)-1]
	name := segNames[len(ck.segs)-1]
	f, err := fsys.OpenFile(filepath.Join(dir, name), os.O_RDONLY, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	size, err := f.Size()
	if err != nil {
		return err
	}
	start := int64(last.offsets[len(last.offsets)-1])
	if last.end > size || start+recordHeaderBytes > last.end {
		return fmt.Errorf("checkpoint head record at [%d,%d) of %s, a %d-byte file", start, last.end, name, size)
	}
	rec := make([]byte, last.end-start)
	if _, err := f.ReadAt(rec, start); err != nil {
		return err
	}
	h := parseHeader(rec)
	if h.magic != magicCommit || !h.lenValid() || recordHeaderBytes+int64(h.payloadLen) != int64(len(rec)) {
		return fmt.Errorf("no commit record at offset %d of %s", start, name)
	}
	payload := rec[recordHeaderBytes:]
	if crc32.Checksum(payload, castagnoli) != h.crc {
		return fmt.Errorf("record at offset %d of %s fails its CRC", start, name)
	}
	var e domain.Envelope
	if err := decodePayload(sha256.New(), payload, &e, false); err != nil {
		return fmt.Errorf("record at offset %d of %s: %v", start, name, err)
	}
	if e.Position != ck.head.Position || e.Hash != ck.head.Hash || e.RecordedAt.UnixNano() != ck.recordedAtNanos {
		return fmt.Errorf("record at offset %d of %s is position %d hash %s, the checkpoint's head is %d hash %s",
			start, name, e.Position, e.Hash, ck.head.Position, ck.head.Hash)
	}
	return nil
}

// loadCheckpoint returns the directory's checkpoint if it can be trusted for segNames, or nil
// after logging why the whole log will be scanned.
func (sc *scanner) loadCheckpoint(segNames []string) *checkpoint {
	path := filepath.Join(sc.dir, checkpointFileName)
	b, err := readWholeFile(sc.fs, path)
	if errors.Is(err, fs.ErrNotExist) {
		if len(segNames) > 0 {
			sc.log.Info("eventstore: no recovery checkpoint, scanning the whole log", "dir", sc.dir)
		}
		return nil
	}
	var ck *checkpoint
	if err == nil {
		ck, err = decodeCheckpoint(b)
	}
	if err == nil {
		err = ck.check(sc.fs, sc.dir, segNames)
	}
	if err != nil {
		sc.log.Warn("eventstore: recovery checkpoint not used, scanning the whole log", "dir", sc.dir, "reason", err.Error())
		return nil
	}
	return ck
}

func readWholeFile(fsys FS, path string) ([]byte, error) {
	f, err := fsys.OpenFile(path, os.O_RDONLY, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	size, err := f.Size()
	if err != nil {
		return nil, err
	}
	b := make([]byte, size)
	if _, err := f.ReadAt(b, 0); err != nil {
		return nil, err
	}
	return b, nil
}

// writeCheckpoint writes the store's committed state as its recovery checkpoint: a new file,
// synced, renamed over the old one, the directory synced. The store is closed for appends.
func (s *Store) writeCheckpoint() error {
	s.mu.RLock()
	if s.head.Position == 0 || s.head.Position == s.recoveryCheckpoint {
		// Nothing to save, or nothing appended since Open read this very checkpoint.
		s.mu.RUnlock()
		return nil
	}
	b := encodeCheckpoint(s.segs, s.streams, s.idem, s.head, s.w.recordedAtNanos)
	s.mu.RUnlock()
	tmp := filepath.Join(s.dir, checkpointTmpName)
	f, err := s.fs.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	_, err = f.WriteAt(b, 0)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = s.fs.Rename(tmp, filepath.Join(s.dir, checkpointFileName))
	}
	if err != nil {
		s.fs.Remove(tmp)
		return err
	}
	return s.fs.SyncDir(s.dir)
}
