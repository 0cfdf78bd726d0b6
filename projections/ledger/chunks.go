package ledger

import (
	"fmt"
	"strings"
	"unsafe"
)

// chunkShift sets the length of a chunk of the model's big arrays: 4096 elements.
const (
	chunkShift = 12
	chunkLen   = 1 << chunkShift
	chunkMask  = chunkLen - 1
)

// chunks is an append-only array kept in fixed-size chunks (the model's invoices, payments
// and credit notes). Appending never moves what is there: a slice that doubles copies and
// clears ever larger arrays while it grows, and each copy writes every pointer of the old
// one again under the GC's write barrier; a replay of millions of invoices spent about a
// sixth of its time there. at is two loads.
//
// Only the first chunk grows by doubling, from chunkFirstLen to chunkLen, so that a small
// model (a customer's replay, a test, a fuzz input) does not allocate and clear a whole
// chunk of each array: an element's address is stable once the array holds chunkLen
// elements, and callers never keep one across an append to the same array.
type chunks[T any] struct {
	c [][]T // every chunk but the first has chunkLen elements; those from n on are zero
	n int
}

// chunkFirstLen is the first chunk's length before it doubles.
const chunkFirstLen = 16

// len returns the number of elements.
func (a *chunks[T]) len() int { return a.n }

// at returns element i, which must be below len.
func (a *chunks[T]) at(i int32) *T {
	if uint(i) >= uint(a.n) {
		panic(fmt.Sprintf("ledger: index %d out of range [0:%d]", i, a.n))
	}
	return &a.c[i>>chunkShift][i&chunkMask]
}

// append adds v and returns its index.
func (a *chunks[T]) append(v T) int32 {
	switch {
	case len(a.c) == 0:
		a.c = append(a.c, make([]T, chunkFirstLen))
	case len(a.c) == 1 && a.n == len(a.c[0]) && a.n < chunkLen: // the first chunk doubles
		grown := make([]T, min(2*a.n, chunkLen))
		copy(grown, a.c[0])
		a.c[0] = grown
	case a.n == len(a.c)*chunkLen:
		a.c = append(a.c, make([]T, chunkLen))
	}
	i := a.n
	a.c[i>>chunkShift][i&chunkMask] = v
	a.n++
	return int32(i)
}

// resize sets the length to n zero elements (a snapshot's decode fills them).
func (a *chunks[T]) resize(n int) {
	a.c, a.n = nil, n
	if n > 0 && n < chunkLen { // one first chunk, doubled up to n
		l := chunkFirstLen
		for l < n {
			l *= 2
		}
		a.c = append(a.c, make([]T, min(l, chunkLen)))
		return
	}
	for left := n; left > 0; left -= chunkLen {
		a.c = append(a.c, make([]T, min(left, chunkLen), chunkLen)[:chunkLen])
	}
}

// all yields every element's index and address in order.
func (a *chunks[T]) all(yield func(int32, *T) bool) {
	for i := range a.n {
		if !yield(int32(i), &a.c[i>>chunkShift][i&chunkMask]) {
			return
		}
	}
}

// Strings the model keeps (ids, names) are copied into blocks of stringBlockBytes, a string
// longer than stringOwnMax into its own allocation: one allocation per block rather than one
// per string, and the GC marks a block once however many ids point into it. The model only
// grows, so a block lives as long as the model, as its strings would anyway.
const (
	stringBlockBytes = 64 << 10
	stringOwnMax     = 1 << 10
)

// stringBlock is the block being filled.
type stringBlock struct {
	b []byte // len: bytes used; never re-sliced below what a string was given
}

// clone returns a copy of s that does not alias s's bytes.
func (sb *stringBlock) clone(s string) string {
	if len(s) == 0 {
		return ""
	}
	if len(s) > stringOwnMax {
		return strings.Clone(s)
	}
	if cap(sb.b)-len(sb.b) < len(s) {
		sb.b = make([]byte, 0, stringBlockBytes)
	}
	start := len(sb.b)
	sb.b = append(sb.b, s...)
	return unsafe.String(&sb.b[start], len(s))
}
