package embedded

import (
	"encoding/binary"
	"fmt"
	"hash"
	"hash/crc32"
	"strconv"
	"strings"

	"github.com/encours/encours/domain"
	"github.com/encours/encours/eventstore"
)

// Record framing (see doc.go). Both magics have no zero byte, so a zero-filled (preallocated,
// never written) region never looks like a record, and they are bitwise complements, so no
// flip of fewer than 32 bits turns one into the other.
const (
	magicCommit   uint32 = 0xE1C05EA1 // the last record of an append: its commit point
	magicContinue uint32 = ^magicCommit

	recordHeaderBytes = 12 // magic, payload length, CRC-32C
	hashBytes         = 32

	// canonicalFixedBytes is the fixed part of domain's canonical layout (format, position,
	// version, recorded_at, effective_on, schema_version, prev_hash); the variable part adds
	// at least one length byte for each of its nine fields.
	canonicalFixedBytes = 1 + 8 + 8 + 8 + 4 + 2 + 32
	payloadBytesMin     = canonicalFixedBytes + 9 + hashBytes
	payloadBytesMax     = domain.CanonicalSizeMax + hashBytes
)

// Field limits of domain.DecodeCanonical (canonicalStringMax, canonicalDataMax, sha256.Size),
// mirrored here because an event the decoder would refuse must never be written: it would be
// unreadable, i.e. lost. TestFieldLimitsMatchDecoder pins them to the decoder.
const (
	fieldBytesMax       = 1 << 10
	dataBytesMax        = 1 << 20
	requestHashBytesLen = 32
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Segment files.
const (
	segmentSuffix  = ".seg"
	spareSuffix    = ".tmp"
	lockFileName   = "LOCK"
	segmentNameLen = 20 + len(segmentSuffix)
)

func segmentName(first uint64) string { return fmt.Sprintf("%020d%s", first, segmentSuffix) }

// parseSegmentName returns the first position a segment file name carries.
func parseSegmentName(name string) (uint64, bool) {
	if len(name) != segmentNameLen || !strings.HasSuffix(name, segmentSuffix) {
		return 0, false
	}
	n, err := strconv.ParseUint(name[:20], 10, 64)
	if err != nil || n == 0 {
		return 0, false
	}
	return n, true
}

func uvarintLen(n int) int {
	l := 1
	for n >= 0x80 {
		n >>= 7
		l++
	}
	return l
}

// recordBytes is the exact size of e's record, given the idempotency key and request hash the
// store will write into it. The writer asserts the encoding it produces has this size.
func recordBytes(e *domain.Envelope, idempotencyKey string, requestHash []byte) int {
	n := recordHeaderBytes + canonicalFixedBytes + hashBytes
	for _, l := range [...]int{len(e.EventID), len(e.Stream), len(e.Type), len(e.Actor),
		len(e.CorrelationID), len(e.CausationID), len(idempotencyKey), len(requestHash), len(e.Data)} {
		n += uvarintLen(l) + l
	}
	return n
}

// recordHeader is a decoded record header.
type recordHeader struct {
	magic      uint32
	payloadLen uint32
	crc        uint32
}

func parseHeader(b []byte) recordHeader {
	return recordHeader{
		magic:      binary.BigEndian.Uint32(b[0:]),
		payloadLen: binary.BigEndian.Uint32(b[4:]),
		crc:        binary.BigEndian.Uint32(b[8:]),
	}
}

func (h recordHeader) magicValid() bool { return h.magic == magicCommit || h.magic == magicContinue }

func (h recordHeader) lenValid() bool {
	return h.payloadLen >= payloadBytesMin && h.payloadLen <= payloadBytesMax
}

// decodePayload decodes a record's payload (whose CRC the caller checked, or checks when this
// fails: a hashed read) into e, including
// its stored hash, and checks that hash against the bytes with h (domain.ChainHash, without
// its allocation): a CRC-valid record whose hash does not match was written wrong, which is
// corruption, never a tear. A nil h skips the check (ReadAllUnhashed). With view, e's
// strings and data alias payload (domain.DecodeCanonicalView, for ReadPage).
func decodePayload(h hash.Hash, payload []byte, e *domain.Envelope, view bool) error {
	canon := payload[:len(payload)-hashBytes]
	decode := domain.DecodeCanonical
	if view {
		decode = domain.DecodeCanonicalView
	}
	if err := decode(canon, e); err != nil {
		return err
	}
	copy(e.Hash[:], payload[len(canon):])
	if h == nil {
		return nil // ReadAllUnhashed: the CRC covered the stored hash
	}
	var got domain.Hash
	h.Reset()
	h.Write(e.PrevHash[:])
	h.Write(canon)
	h.Sum(got[:0])
	if got != e.Hash {
		return fmt.Errorf("stored hash %s, bytes hash to %s", e.Hash, got)
	}
	return nil
}

// CorruptError says where stored bytes are damaged (other than a torn tail). It wraps
// eventstore.ErrCorrupt.
type CorruptError struct {
	Segment  string // segment file name
	Offset   int64  // byte offset of the damaged record in it
	Position uint64 // the position the damaged record holds or should hold
	Reason   string
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("%v: position %d, segment %s at offset %d: %s",
		eventstore.ErrCorrupt, e.Position, e.Segment, e.Offset, e.Reason)
}

// Unwrap makes errors.Is(err, eventstore.ErrCorrupt) hold.
func (e *CorruptError) Unwrap() error { return eventstore.ErrCorrupt }
