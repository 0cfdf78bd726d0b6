package embedded

import "fmt"

// invariant panics when an invariant of this package is broken: a programmer's bug, never bad
// input or a damaged disk (those are errors: ErrInvalidAppend, ErrCorrupt) (style §8).
func invariant(ok bool, format string, args ...any) {
	if !ok {
		panic("eventstore/embedded: invariant broken: " + fmt.Sprintf(format, args...))
	}
}
