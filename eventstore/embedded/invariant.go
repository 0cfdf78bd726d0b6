package embedded

import "fmt"

// broken panics because an invariant of this package does not hold: a programmer's bug,
// never bad input or a damaged disk (those are errors: ErrInvalidAppend, ErrCorrupt)
// (style §8). Callers test the condition themselves, `if !(ok) { broken(...) }`, so that on
// the hot paths where most checks sit the arguments are boxed only when it fails.
func broken(format string, args ...any) {
	panic("eventstore/embedded: invariant broken: " + fmt.Sprintf(format, args...))
}
