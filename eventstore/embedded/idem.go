package embedded

import (
	"encoding/binary"

	"github.com/encours/encours/eventstore"
)

// idemEntry is what the index keeps of an append made with an idempotency key: its result,
// to answer a retry, and its request hash. The result's event ids are most of it — one per
// event of the log appended with a key, which is every event of a bulk import — so when they
// are all canonical UUID strings (what eventstore.EventIDs makes) they are kept packed, 16
// bytes each in one slice, rather than as strings (36 bytes, a 16-byte header and an
// allocation each, and a pointer for the garbage collector to trace).
type idemEntry struct {
	result      eventstore.AppendResult // EventIDs is nil when packed holds them
	packed      []byte                  // the event ids, uuidBytesLen bytes each
	requestHash []byte
}

const (
	uuidBytesLen  = 16
	uuidStringLen = 36
)

// newIdemEntry makes the entry of an append's result; it keeps nothing of res's slices.
func newIdemEntry(res eventstore.AppendResult, requestHash []byte) idemEntry {
	e := prepareIdemEntry(len(res.EventIDs), func(i int) string { return res.EventIDs[i] }, requestHash)
	e.setResult(res)
	return e
}

// prepareIdemEntry makes an entry's event ids (n, the i-th given by id) and request hash,
// copies of them; setResult completes it. Append prepares it in the caller's goroutine, so
// that the writer, which serialises every append, only sets the result (packing the ids of a
// batch of 1,000 events was a fifth of the writer's CPU in a bulk import).
func prepareIdemEntry(n int, id func(i int) string, requestHash []byte) idemEntry {
	e := idemEntry{requestHash: append([]byte(nil), requestHash...)}
	packed := make([]byte, 0, uuidBytesLen*n)
	for i := range n {
		var ok bool
		if packed, ok = appendUUID(packed, id(i)); !ok {
			e.result.EventIDs = make([]string, n)
			for i := range n {
				e.result.EventIDs[i] = id(i)
			}
			return e
		}
	}
	e.packed = packed
	return e
}

// setResult sets the result the entry answers with, but for its event ids (prepared).
func (e *idemEntry) setResult(res eventstore.AppendResult) {
	ids := e.result.EventIDs
	e.result = res
	e.result.EventIDs = ids
}

// appendResult returns the stored result with its event ids, a copy the caller owns.
func (e *idemEntry) appendResult() eventstore.AppendResult {
	r := e.result
	if e.packed == nil {
		r.EventIDs = append([]string(nil), r.EventIDs...)
		return r
	}
	r.EventIDs = make([]string, len(e.packed)/uuidBytesLen)
	var buf [uuidStringLen]byte
	for i := range r.EventIDs {
		r.EventIDs[i] = string(appendUUIDString(buf[:0], e.packed[i*uuidBytesLen:(i+1)*uuidBytesLen]))
	}
	return r
}

// eventIDs is the count of the result's event ids; appendEventID appends the i-th to b
func (e *idemEntry) eventIDs() int {
	if e.packed == nil {
		return len(e.result.EventIDs)
	}
	return len(e.packed) / uuidBytesLen
}

// (length-prefixed, as a checkpoint holds strings).
func (e *idemEntry) appendEventID(b []byte, i int) []byte {
	if e.packed == nil {
		id := e.result.EventIDs[i]
		return append(binary.AppendUvarint(b, uint64(len(id))), id...)
	}
	b = binary.AppendUvarint(b, uuidStringLen)
	return appendUUIDString(b, e.packed[i*uuidBytesLen:(i+1)*uuidBytesLen])
}

// appendUUID appends the 16 bytes of id when id is a canonical UUID string (lower-case hex,
// dashes at 8, 13, 18 and 23), which appendUUIDString gives back exactly; ok is false
// otherwise, and b is then returned unchanged.
func appendUUID(b []byte, id string) (_ []byte, ok bool) {
	if len(id) != uuidStringLen {
		return b, false
	}
	n := len(b)
	for i := 0; i < uuidStringLen; {
		if i == 8 || i == 13 || i == 18 || i == 23 {
			if id[i] != '-' {
				return b[:n], false
			}
			i++
			continue
		}
		hi, ok1 := lowerHex(id[i])
		lo, ok2 := lowerHex(id[i+1])
		if !ok1 || !ok2 {
			return b[:n], false
		}
		b = append(b, hi<<4|lo)
		i += 2
	}
	return b, true
}

func lowerHex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}

// appendUUIDString appends the canonical string of a 16-byte UUID.
func appendUUIDString(b, u []byte) []byte {
	const digits = "0123456789abcdef"
	for i, x := range u[:uuidBytesLen] {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			b = append(b, '-')
		}
		b = append(b, digits[x>>4], digits[x&0xf])
	}
	return b
}
