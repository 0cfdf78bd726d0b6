//go:build race

package ledger

// raceEnabled shrinks the property tests under the race detector, which slows them about
// tenfold (the package keeps to its 30 s budget on a shared 2-core machine).
const raceEnabled = true
