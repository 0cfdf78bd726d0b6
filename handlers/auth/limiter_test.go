package auth

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// A bucket of 3 at 2 a second: three requests at once pass, the fourth waits half a second;
// half a second later one more passes; each key has its own bucket; a zero rate is no limit.
func TestLimiter(t *testing.T) {
	now := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	l := NewLimiter(Rate{PerSecond: 2, Burst: 3})
	l.now = func() time.Time { return now }
	for i := range 3 {
		ok, _ := l.Allow("a")
		assert.True(t, ok, "request %d", i)
	}
	ok, wait := l.Allow("a")
	assert.False(t, ok)
	assert.Equal(t, 500*time.Millisecond, wait)
	ok, _ = l.Allow("b")
	assert.True(t, ok, "another token has its own bucket")

	now = now.Add(500 * time.Millisecond)
	ok, _ = l.Allow("a")
	assert.True(t, ok)
	ok, _ = l.Allow("a")
	assert.False(t, ok)

	now = now.Add(time.Hour)
	for i := range 3 {
		ok, _ := l.Allow("a")
		assert.True(t, ok, "refilled to the burst, no more: request %d", i)
	}
	ok, _ = l.Allow("a")
	assert.False(t, ok)

	off := NewLimiter(Rate{})
	for range 10 {
		ok, _ := off.Allow("a")
		assert.True(t, ok)
	}
	assert.Panics(t, func() { NewLimiter(Rate{PerSecond: 1}) }, "a positive rate needs a burst")
	assert.Panics(t, func() { NewLimiter(Rate{PerSecond: -1, Burst: 1}) })
}
