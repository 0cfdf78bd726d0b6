package domain

import "fmt"

// assert panics when a programmer's invariant is broken. It never checks user input: bad input
// is an *Error returned by Decide (style §8).
func assert(ok bool, format string, args ...any) {
	if !ok {
		panic("domain: invariant broken: " + fmt.Sprintf(format, args...))
	}
}
