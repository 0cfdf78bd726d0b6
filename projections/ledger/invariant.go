package ledger

import "fmt"

// invariant panics when an invariant the code relies on is broken (style §8). It never checks
// event content: a malformed or inconsistent event is an error returned by Apply.
func invariant(ok bool, format string, args ...any) {
	if !ok {
		panic("ledger: invariant broken: " + fmt.Sprintf(format, args...))
	}
}
