package command

import (
	"sync"
	"time"

	"github.com/encours/encours/domain"
)

// Clock gives the current instant (style §6: time comes in from outside). "Today" is the UTC
// calendar date of Now.
type Clock interface {
	Now() time.Time
}

// WallClock is the system clock, in UTC.
type WallClock struct{}

// Now returns time.Now in UTC.
func (WallClock) Now() time.Time { return time.Now().UTC() }

// ManualClock is a clock that stands still until it is set: tests and demos (encoursd
// --clock manual, POST /v1/clock) move it from one business day to the next. It is safe for
// concurrent use.
type ManualClock struct {
	mu  sync.Mutex
	now time.Time
}

// NewManualClock returns a clock showing start.
func NewManualClock(start time.Time) *ManualClock { return &ManualClock{now: start.UTC()} }

// Now returns the instant last set.
func (c *ManualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Set moves the clock to t (forwards or backwards).
func (c *ManualClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t.UTC()
}

// SetDate moves the clock to midnight UTC of d.
func (c *ManualClock) SetDate(d domain.Date) {
	y, m, day := d.Civil()
	c.Set(time.Date(y, m, day, 0, 0, 0, 0, time.UTC))
}

// Today returns the UTC calendar date of clock's current instant.
func Today(clock Clock) domain.Date { return domain.DateOfTime(clock.Now()) }
