//go:build race

package demo

// raceEnabled: the race detector slows the generator several times; timing checks skip.
const raceEnabled = true
