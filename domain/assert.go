package domain

import "fmt"

// assert panics when a programmer's invariant is broken. It never checks user input: bad input
// is an *Error returned by Decide (style §8). Its arguments are boxed on every call, whether
// or not ok holds: on a hot path (Evolve) test the condition and call broken instead.
func assert(ok bool, format string, args ...any) {
	if !ok {
		broken(format, args...)
	}
}

// broken panics because a programmer's invariant does not hold. It never checks user input:
// bad input is an *Error returned by Decide (style §8). Callers test the condition
// themselves, `if !(ok) { broken(...) }`, so that the arguments are boxed only when it
// fails: Evolve runs for every event folded, and an assert(ok, format, args...) boxed its
// arguments on every call.
func broken(format string, args ...any) {
	panic("domain: invariant broken: " + fmt.Sprintf(format, args...))
}
