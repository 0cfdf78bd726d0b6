package reports

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/encours/encours/domain"
	"github.com/encours/encours/projections/engine"
	"github.com/encours/encours/projections/ledger"
)

// replayCache keeps replayed models by (as-of date, known-at instant) and brings a kept
// model up to date by replaying only the envelopes appended since it was built
// (ledger.Model.ReplayMore). A replay keeps the envelopes with effective_on ≤ as of and
// recorded_at ≤ known at, in position order, and nothing else depends on the rest of the
// log, so a kept model continued to the head is the model a full replay of the head would
// build: the figures and their basis (position, chain hash) are the same
// (ledger.TestReplayMoreEqualsReplay, TestReplayCacheFollowsTheLog).
//
// Memory is bounded by the models' estimated heap (ledger.Model.ApproxBytes) summed over the
// kept models; the least recently used model goes first. A model whose continuation fails is
// dropped, never served.
type replayCache struct {
	mu      sync.Mutex
	budget  uint64 // bytes
	held    uint64 // Σ size over entries
	tick    uint64
	entries map[replayKey]*replayEntry
}

type replayKey struct {
	asOf    domain.Date
	knownAt int64 // UnixNano of the known-at instant
}

// replayEntry is one kept model. Its mutex serialises the continuation and the reads of that
// model; reads of other dates go on in parallel.
type replayEntry struct {
	mu   sync.Mutex
	m    *ledger.Model // nil until built, or after a failure
	size uint64        // ApproxBytes accounted in held (under replayCache.mu); 0 when none
	used uint64        // tick of the last use (under replayCache.mu)
}

func newReplayCache(budget uint64) *replayCache {
	return &replayCache{budget: budget, entries: make(map[replayKey]*replayEntry)}
}

func (c *replayCache) setBudget(bytes uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.budget = bytes
	c.evictLocked(nil)
}

// with calls fn with the model as of asOf known at knownAt, continued to the log's head.
func (c *replayCache) with(ctx context.Context, src engine.Reader, asOf domain.Date, knownAt time.Time, fn func(*ledger.Model) error) error {
	key := replayKey{asOf: asOf, knownAt: knownAt.UnixNano()}
	c.mu.Lock()
	e := c.entries[key]
	if e == nil {
		e = &replayEntry{}
		c.entries[key] = e
	}
	c.tick++
	e.used = c.tick
	c.mu.Unlock()

	e.mu.Lock()
	defer e.mu.Unlock()
	var err error
	if e.m == nil {
		e.m, err = engine.LedgerAsOf(ctx, src, asOf, knownAt)
		if err != nil {
			err = fmt.Errorf("replay as of %s: %w", asOf, err)
		}
	} else {
		var readErr error
		err = e.m.ReplayMore(engine.Envelopes(ctx, src, e.m.ReplaySeen()+1, &readErr))
		if readErr != nil {
			err = readErr
		}
		if err != nil {
			err = fmt.Errorf("replay as of %s, continued from %d: %w", asOf, e.m.ReplaySeen(), err)
		}
	}
	if err != nil {
		e.m = nil
		c.account(key, e, 0)
		return err
	}
	m := e.m
	c.account(key, e, max(1, m.ApproxBytes()))
	return fn(m)
}

// account records entry e's size and evicts what the budget no longer holds. An entry with
// no model (size 0), or one larger than the whole budget, leaves the cache (its current
// reader keeps its model until fn returns).
func (c *replayCache) account(key replayKey, e *replayEntry, size uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries[key] != e { // evicted meanwhile
		return
	}
	c.held = c.held - e.size + size
	e.size = size
	if size == 0 || size > c.budget {
		c.removeLocked(key, e)
		return
	}
	c.evictLocked(e)
}

// evictLocked drops least recently used entries other than keep until the budget holds.
func (c *replayCache) evictLocked(keep *replayEntry) {
	for c.held > c.budget {
		var oldKey replayKey
		var old *replayEntry
		for k, e := range c.entries {
			if e != keep && e.size > 0 && (old == nil || e.used < old.used) {
				oldKey, old = k, e
			}
		}
		if old == nil {
			if keep != nil && c.held > c.budget {
				for k, e := range c.entries {
					if e == keep {
						c.removeLocked(k, e)
						break
					}
				}
			}
			return
		}
		c.removeLocked(oldKey, old)
	}
}

func (c *replayCache) removeLocked(key replayKey, e *replayEntry) {
	c.held -= e.size
	e.size = 0
	delete(c.entries, key)
}

// put keeps m for key unless a model is kept for it already or the budget cannot hold it;
// it reports whether m was kept.
func (c *replayCache) put(key replayKey, m *ledger.Model) bool {
	size := max(1, m.ApproxBytes())
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.entries[key]; ok || c.held+size > c.budget {
		return false
	}
	c.tick++
	c.entries[key] = &replayEntry{m: m, size: size, used: c.tick}
	c.held += size
	return true
}

// MonthEnds returns the n month ends before today's month, oldest first: the past dates of
// the dashboard's 12-month trends (its twelfth point is today).
func MonthEnds(today domain.Date, n int) []domain.Date {
	out := make([]domain.Date, n)
	for i := range n {
		out[i] = today.StartOfMonth().AddMonths(i - n).EndOfMonth()
	}
	return out
}

// Warm replays the log once for dates (as known now) and keeps the models the budget holds,
// so that the first reads of those dates are served at once: encoursd warms the dashboard's
// month ends when its ledger projection is ready. With a live projection its size bounds
// the models' (a past date holds at most what today holds), and only the latest dates that
// fit are built. It returns the dates kept.
func (l *Ledger) Warm(ctx context.Context, dates []domain.Date) ([]domain.Date, error) {
	c := l.cache
	kt := time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC) // as With: everything recorded so far
	c.mu.Lock()
	room := c.budget - min(c.budget, c.held)
	todo := make([]domain.Date, 0, len(dates))
	for _, d := range dates {
		if _, ok := c.entries[replayKey{d, kt.UnixNano()}]; !ok {
			todo = append(todo, d)
		}
	}
	c.mu.Unlock()
	if l.live != nil && l.live.Ready() && len(todo) > 0 {
		var each uint64
		l.live.View(func(m *ledger.Model) { each = max(1, m.ApproxBytes()) })
		slices.SortFunc(todo, func(a, b domain.Date) int { return cmp.Compare(a.Days(), b.Days()) })
		if fit := int(room / each); fit < len(todo) {
			todo = todo[len(todo)-fit:]
		}
	}
	if len(todo) == 0 {
		return nil, nil
	}
	ms, err := engine.LedgerAsOfMany(ctx, l.store, todo, kt)
	if err != nil {
		return nil, fmt.Errorf("warm %d dates: %w", len(todo), err)
	}
	var kept []domain.Date
	for i, m := range ms {
		if c.put(replayKey{todo[i], kt.UnixNano()}, m) {
			kept = append(kept, todo[i])
		}
	}
	return kept, nil
}
