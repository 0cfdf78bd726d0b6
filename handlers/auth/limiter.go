package auth

import (
	"math"
	"sync"
	"time"
)

// Rate is a token bucket's refill rate and size.
type Rate struct {
	PerSecond float64 // requests a second, sustained; 0 disables the limit
	Burst     int     // requests at once after a quiet spell; at least 1 when PerSecond > 0
}

// DefaultRate is generous: a busy ERP feed or dashboard stays far below it, and it only
// stops a runaway client from starving the others.
var DefaultRate = Rate{PerSecond: 2000, Burst: 4000}

// bucketsMax bounds the buckets kept: one per token, issued or bootstrap.
const bucketsMax = tokensMax + 1

// Limiter is a token bucket per key (a token id). It is safe for concurrent use.
type Limiter struct {
	rate Rate
	now  func() time.Time

	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

// NewLimiter returns a limiter at rate r. It panics on a negative rate or, with a positive
// rate, a burst below 1 (wiring errors: flags are checked before).
func NewLimiter(r Rate) *Limiter {
	if r.PerSecond < 0 || math.IsNaN(r.PerSecond) || math.IsInf(r.PerSecond, 0) || (r.PerSecond > 0 && r.Burst < 1) {
		panic("auth.NewLimiter: want PerSecond >= 0 and, when positive, Burst >= 1")
	}
	return &Limiter{rate: r, now: time.Now, buckets: make(map[string]*bucket)}
}

// Allow takes one request from key's bucket. When the bucket is empty it answers false and
// how long until the next request would be allowed.
func (l *Limiter) Allow(key string) (bool, time.Duration) {
	if l.rate.PerSecond == 0 {
		return true, 0
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets[key]
	if !ok {
		if len(l.buckets) >= bucketsMax {
			l.dropFullLocked(now)
		}
		b = &bucket{tokens: float64(l.rate.Burst), last: now}
		l.buckets[key] = b
	}
	if elapsed := now.Sub(b.last); elapsed > 0 {
		b.tokens = min(float64(l.rate.Burst), b.tokens+elapsed.Seconds()*l.rate.PerSecond)
		b.last = now
	}
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	wait := time.Duration((1 - b.tokens) / l.rate.PerSecond * float64(time.Second))
	return false, wait
}

// dropFullLocked forgets the buckets that have refilled: they behave as new ones. Keys are
// token ids, at most bucketsMax of them, so this only runs with a full registry.
func (l *Limiter) dropFullLocked(now time.Time) {
	for k, b := range l.buckets {
		if b.tokens+now.Sub(b.last).Seconds()*l.rate.PerSecond >= float64(l.rate.Burst) {
			delete(l.buckets, k)
		}
	}
}
