package eventstore

import (
	"crypto/rand"
	"encoding/hex"
	"sync"
	"time"
)

// EventIDs makes UUIDv7 event ids (RFC 9562 §5.7; design §Events: event_id): 48 bits of Unix
// milliseconds from the caller's clock, a 12-bit counter in rand_a that keeps one
// generator's ids strictly increasing even when the clock stands still (a manual clock) or
// steps back (RFC 9562 §6.2, method 1), and 62 random bits from crypto/rand. The zero value
// is ready; it is safe for concurrent use.
type EventIDs struct {
	mu     sync.Mutex
	lastMS int64
	seq    uint16 // 12 bits used
}

const eventIDSeqMax = 0xfff

// New returns the next id at instant now.
func (g *EventIDs) New(now time.Time) string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never returns an error (Go 1.24+)

	ms := now.UnixMilli()
	g.mu.Lock()
	if ms <= g.lastMS {
		ms = g.lastMS
		if g.seq == eventIDSeqMax {
			ms++ // counter exhausted: borrow the next millisecond
			g.seq = uint16(b[6]&0x07)<<8 | uint16(b[7])
		} else {
			g.seq++
		}
	} else {
		// A fresh millisecond starts the counter at a random value in its lower half, which
		// leaves at least 2048 increments before it must borrow.
		g.seq = uint16(b[6]&0x07)<<8 | uint16(b[7])
	}
	g.lastMS = ms
	seq := g.seq
	g.mu.Unlock()

	b[0], b[1], b[2] = byte(ms>>40), byte(ms>>32), byte(ms>>24)
	b[3], b[4], b[5] = byte(ms>>16), byte(ms>>8), byte(ms)
	b[6] = 0x70 | byte(seq>>8)&0x0f // version 7
	b[7] = byte(seq)
	b[8] = b[8]&0x3f | 0x80 // variant 10

	var out [36]byte
	hex.Encode(out[0:8], b[0:4])
	out[8] = '-'
	hex.Encode(out[9:13], b[4:6])
	out[13] = '-'
	hex.Encode(out[14:18], b[6:8])
	out[18] = '-'
	hex.Encode(out[19:23], b[8:10])
	out[23] = '-'
	hex.Encode(out[24:36], b[10:16])
	return string(out[:])
}
