package domain

import "fmt"

// broken panics because a programmer's invariant does not hold. It never checks user input:
// bad input is an *Error returned by Decide (style §8). Callers test the condition
// themselves, `if !(ok) { broken(...) }`, so that the arguments are boxed only when it
// fails: Evolve runs for every event folded, and an assert(ok, format, args...) boxed its
// arguments on every call.
func broken(format string, args ...any) {
	panic("domain: invariant broken: " + fmt.Sprintf(format, args...))
}
