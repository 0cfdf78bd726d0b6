package domain

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"
	"unsafe"
)

// Hash is a SHA-256 digest in the log's hash chain.
type Hash [32]byte

// String is lower-case hex.
func (h Hash) String() string { return hex.EncodeToString(h[:]) }

// IsZero reports whether h is all zeros (the genesis prev_hash).
func (h Hash) IsZero() bool { return h == Hash{} }

// MarshalJSON writes lower-case hex.
func (h Hash) MarshalJSON() ([]byte, error) { return []byte(`"` + h.String() + `"`), nil }

// UnmarshalJSON reads 64 hex digits.
func (h *Hash) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := ParseHash(s)
	if err != nil {
		return err
	}
	*h = v
	return nil
}

// ParseHash reads 64 hex digits.
func ParseHash(s string) (Hash, error) {
	var h Hash
	if len(s) != 64 {
		return h, Errorf(KindInvalid, CodeInvalidField, "hash %q: want 64 hex digits", s)
	}
	if _, err := hex.Decode(h[:], []byte(s)); err != nil {
		return h, Errorf(KindInvalid, CodeInvalidField, "hash %q: %v", s, err)
	}
	return h, nil
}

// Envelope is one stored event with its metadata (design §Events, envelope). The store assigns
// StreamVersion, Position, RecordedAt, PrevHash and Hash at append; the command shell fills
// the rest. StreamVersion and Position are 1-based: the first event of a stream has version 1
// and the first event of the log has position 1, so 0 means "nothing yet".
type Envelope struct {
	EventID        string          `json:"event_id"`
	Stream         string          `json:"stream"`
	StreamVersion  uint64          `json:"stream_version"`
	Position       uint64          `json:"position"`
	Type           string          `json:"type"`
	SchemaVersion  uint16          `json:"schema_version"`
	EffectiveOn    Date            `json:"effective_on"`
	RecordedAt     time.Time       `json:"recorded_at"`
	Actor          string          `json:"actor"`
	CorrelationID  string          `json:"correlation_id,omitempty"`
	CausationID    string          `json:"causation_id,omitempty"`
	IdempotencyKey string          `json:"idempotency_key,omitempty"`
	RequestHash    []byte          `json:"-"` // SHA-256 of the request behind IdempotencyKey; first event of an append only
	Data           json.RawMessage `json:"data"`
	PrevHash       Hash            `json:"prev_hash"`
	Hash           Hash            `json:"hash"`
}

// canonicalFormat is the first byte of an event's canonical bytes; bump it (and keep a
// decoder for the old one) if the layout below ever changes.
const canonicalFormat byte = 1

// Limits on the canonical fields, so that a decoder never allocates from an attacker's length.
const (
	canonicalStringMax = 1 << 10  // ids, stream names, actor, keys
	canonicalDataMax   = 1 << 20  // one event's JSON data
	CanonicalSizeMax   = 11 << 20 // an encoded event can never be larger than this
)

// AppendCanonical appends the canonical bytes of e to buf: every field except Hash, in a fixed
// order with fixed-width integers and length-prefixed bytes, so the same event always gives
// the same bytes (the hash chain and the embedded store's record payload both use them).
//
//	format u8 | position u64 | stream_version u64 | recorded_at unix-nanos i64 |
//	effective_on days i32 | schema_version u16 | prev_hash [32] |
//	event_id, stream, type, actor, correlation_id, causation_id, idempotency_key: uvarint len + bytes |
//	request_hash: uvarint len + bytes | data: uvarint len + bytes
func AppendCanonical(buf []byte, e *Envelope) []byte {
	buf = append(buf, canonicalFormat)
	buf = binary.BigEndian.AppendUint64(buf, e.Position)
	buf = binary.BigEndian.AppendUint64(buf, e.StreamVersion)
	buf = binary.BigEndian.AppendUint64(buf, uint64(e.RecordedAt.UnixNano()))
	buf = binary.BigEndian.AppendUint32(buf, uint32(e.EffectiveOn.Days()))
	buf = binary.BigEndian.AppendUint16(buf, e.SchemaVersion)
	buf = append(buf, e.PrevHash[:]...)
	for _, s := range [...]string{e.EventID, e.Stream, e.Type, e.Actor, e.CorrelationID, e.CausationID, e.IdempotencyKey} {
		buf = binary.AppendUvarint(buf, uint64(len(s)))
		buf = append(buf, s...)
	}
	buf = binary.AppendUvarint(buf, uint64(len(e.RequestHash)))
	buf = append(buf, e.RequestHash...)
	buf = binary.AppendUvarint(buf, uint64(len(e.Data)))
	buf = append(buf, e.Data...)
	return buf
}

// DecodeCanonical reads canonical bytes written by AppendCanonical into e (Hash is left
// untouched). Strings and Data are copied, so b may be reused. Any malformation is an
// *Error with code malformed_event; it never panics.
func DecodeCanonical(b []byte, e *Envelope) error { return decodeCanonical(b, e, false) }

// DecodeCanonicalView is DecodeCanonical without the copies: e's strings, RequestHash and
// Data alias b, which must not change while e (or a string taken from it) is in use. It is
// for a reader that decodes a whole page of records from one buffer it keeps unchanged,
// and applies them before reusing it (a projection's catch-up): a replay of millions of
// events then allocates nothing per envelope. Whoever keeps a string beyond that copies it.
func DecodeCanonicalView(b []byte, e *Envelope) error { return decodeCanonical(b, e, true) }

// The variable fields of the canonical layout, in order: seven strings, the request hash and
// the data, with their names (for errors) and largest lengths.
const (
	canonicalStrings = 7
	canonicalFields  = canonicalStrings + 2
)

var (
	canonicalFieldNames = [canonicalFields]string{"event_id", "stream", "type", "actor", "correlation_id",
		"causation_id", "idempotency_key", "request_hash", "data"}
	canonicalFieldMax = [canonicalFields]uint64{canonicalStringMax, canonicalStringMax, canonicalStringMax,
		canonicalStringMax, canonicalStringMax, canonicalStringMax, canonicalStringMax, sha256.Size, canonicalDataMax}
)

func decodeCanonical(b []byte, e *Envelope, view bool) error {
	const fixed = 1 + 8 + 8 + 8 + 4 + 2 + 32
	if len(b) < fixed {
		return Errorf(KindInvalid, CodeMalformedEvent, "canonical event: %d bytes, want at least %d", len(b), fixed)
	}
	if b[0] != canonicalFormat {
		return Errorf(KindInvalid, CodeMalformedEvent, "canonical event: format %d, want %d", b[0], canonicalFormat)
	}
	e.Position = binary.BigEndian.Uint64(b[1:])
	e.StreamVersion = binary.BigEndian.Uint64(b[9:])
	e.RecordedAt = time.Unix(0, int64(binary.BigEndian.Uint64(b[17:]))).UTC()
	e.EffectiveOn = DateFromDays(int32(binary.BigEndian.Uint32(b[25:])))
	e.SchemaVersion = binary.BigEndian.Uint16(b[29:])
	copy(e.PrevHash[:], b[31:63])
	// The nine variable fields are read as offsets into b: the seven strings, then copied
	// (unless view) with one allocation: a replay decodes millions of envelopes, and seven
	// small allocations each cost more than the few length bytes the shared copy also holds.
	var bounds [canonicalFields][2]int
	p := fixed
	for i := range canonicalFields {
		var n uint64
		k := 1
		if p < len(b) && b[p] < 0x80 { // the usual one-byte length
			n = uint64(b[p])
		} else {
			n, k = binary.Uvarint(b[p:])
			// k must also be the minimal length of n: Uvarint accepts padded encodings (0x80
			// 0x00 for 0), and two byte strings for one event would not be canonical.
			if k <= 0 || k != uvarintLen(n) {
				return Errorf(KindInvalid, CodeMalformedEvent, "canonical event: bad length for %s", canonicalFieldNames[i])
			}
		}
		if n > canonicalFieldMax[i] || n > uint64(len(b)-p-k) {
			return Errorf(KindInvalid, CodeMalformedEvent, "canonical event: bad length for %s", canonicalFieldNames[i])
		}
		p += k
		bounds[i] = [2]int{p, p + int(n)}
		p += int(n)
	}
	strStart, strEnd := bounds[0][0], bounds[canonicalStrings-1][1]
	var all string
	if view && strEnd > strStart {
		all = unsafe.String(&b[strStart], strEnd-strStart)
	} else {
		all = string(b[strStart:strEnd])
	}
	for i, f := range [canonicalStrings]*string{&e.EventID, &e.Stream, &e.Type, &e.Actor, &e.CorrelationID, &e.CausationID, &e.IdempotencyKey} {
		*f = all[bounds[i][0]-strStart : bounds[i][1]-strStart]
	}
	rh := b[bounds[7][0]:bounds[7][1]:bounds[7][1]]
	e.RequestHash = nil
	if len(rh) > 0 {
		e.RequestHash = rh
		if !view {
			e.RequestHash = append([]byte(nil), rh...)
		}
	}
	data := b[bounds[8][0]:bounds[8][1]:bounds[8][1]]
	if view {
		e.Data = json.RawMessage(data)
	} else {
		e.Data = append(json.RawMessage(nil), data...)
	}
	if p != len(b) {
		return Errorf(KindInvalid, CodeMalformedEvent, "canonical event: %d trailing bytes", len(b)-p)
	}
	return nil
}

// uvarintLen is the number of bytes binary.AppendUvarint writes for n.
func uvarintLen(n uint64) int {
	k := 1
	for ; n >= 0x80; n >>= 7 {
		k++
	}
	return k
}

// ChainHash returns SHA-256(prev ‖ canonical), the hash of an event whose canonical bytes are
// canonical and whose predecessor in the global log has hash prev (design §Events: prev_hash,
// hash). The first event of the log has prev = the zero Hash.
func ChainHash(prev Hash, canonical []byte) Hash {
	h := sha256.New()
	h.Write(prev[:])
	h.Write(canonical)
	var out Hash
	h.Sum(out[:0])
	return out
}

// Seal sets e.PrevHash to prev and e.Hash to the chain hash of e's canonical bytes, reusing
// scratch for the encoding; it returns the (possibly grown) scratch buffer.
func Seal(e *Envelope, prev Hash, scratch []byte) []byte {
	e.PrevHash = prev
	scratch = AppendCanonical(scratch[:0], e)
	e.Hash = ChainHash(prev, scratch)
	return scratch
}

// VerifyHash reports an error when e's stored hash is not the chain hash of its bytes.
func VerifyHash(e *Envelope, scratch []byte) error {
	scratch = AppendCanonical(scratch[:0], e)
	if got := ChainHash(e.PrevHash, scratch); got != e.Hash {
		return fmt.Errorf("position %d: hash %s does not match its bytes (%s)", e.Position, e.Hash, got)
	}
	return nil
}
