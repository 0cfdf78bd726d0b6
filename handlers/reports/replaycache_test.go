package reports

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/encours/encours/domain"
	"github.com/encours/encours/handlers/command"
	"github.com/encours/encours/projections/engine"
	"github.com/encours/encours/projections/ledger"
)

// countingReader counts the envelopes read from the log.
type countingReader struct {
	engine.Reader
	mu   sync.Mutex
	read int
}

func (c *countingReader) ReadAll(ctx context.Context, from uint64, limit int) ([]domain.Envelope, error) {
	page, err := c.Reader.ReadAll(ctx, from, limit)
	c.mu.Lock()
	c.read += len(page)
	c.mu.Unlock()
	return page, err
}

func (c *countingReader) reads() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.read
}

// figuresOf renders a model's portfolio figures and aging at asOf with its basis.
func figuresOf(t *testing.T, m *ledger.Model, b Basis) string {
	t.Helper()
	f, err := ledger.ComputeFigures(m, ledger.Portfolio(), b.AsOf, ledger.Config{})
	require.NoError(t, err)
	per, err := ledger.GroupFigures(m, ledger.ByCustomer, b.AsOf, ledger.Config{})
	require.NoError(t, err)
	out, err := json.Marshal(struct {
		Basis     Basis
		Figures   any
		Customers any
	}{b, f, per})
	require.NoError(t, err)
	return string(out)
}

// TestReplayCacheFollowsTheLog: a past-date read served from a kept model continued with the
// events appended since equals a fresh replay of the whole log (figures and basis), for a
// late posting effective before the date, one after it, and as known at an instant; the
// continuation reads only the new envelopes; a budget of 0 keeps nothing.
func TestReplayCacheFollowsTheLog(t *testing.T) {
	ctx := context.Background()
	st, jan10 := newLog(t)
	src := &countingReader{Reader: st}
	l := NewLedger(nil, src)
	fresh := NewLedger(nil, st)
	fresh.SetReplayCache(0)
	today := domain.MustDate("2026-01-12")
	dec31 := domain.MustDate("2025-12-31")
	read := func(l *Ledger, asOf domain.Date, knownAt *time.Time) string {
		var out string
		require.NoError(t, l.With(ctx, asOf, today, knownAt, func(m *ledger.Model, b Basis) error {
			out = figuresOf(t, m, b)
			return nil
		}))
		return out
	}
	check := func(what string) {
		t.Helper()
		for _, knownAt := range []*time.Time{nil, &jan10} {
			assert.Equal(t, read(fresh, dec31, knownAt), read(l, dec31, knownAt), "%s, known at %v", what, knownAt)
		}
	}
	check("first read")
	head, err := st.Head(ctx)
	require.NoError(t, err)
	before := src.reads()
	check("second read, nothing appended")
	assert.Equal(t, before, src.reads(), "a kept model with nothing new reads nothing")

	svc := command.New(st, &stepClock{t: time.Date(2026, 1, 12, 10, 0, 0, 0, time.UTC)}, command.Options{})
	issue := func(id string, on string) {
		_, err := svc.Execute(ctx, domain.IssueInvoice{CustomerID: "ACME", InvoiceID: domain.InvoiceID(id), Number: id,
			Amount: domain.Money{Minor: 7700, Ccy: "EUR"}, IssueDate: domain.MustDate(on), DueDate: domain.MustDate(on).AddDays(10)}, command.Meta{Actor: "late"})
		require.NoError(t, err)
	}
	issue("F2", "2025-12-10") // effective before 31 December: the past date changes
	issue("F3", "2026-01-11") // after it: the past date keeps its figures, the basis moves on
	before = src.reads()
	withLate := read(l, dec31, nil)
	assert.Equal(t, read(fresh, dec31, nil), withLate)
	assert.Contains(t, withLate, `"position":`+jsonUint(head.Position+2))
	assert.Equal(t, 2, src.reads()-before, "the continuation read only the two new envelopes")
	check("after two late postings")

	// A budget of 0 keeps no model: every read replays the whole log.
	l.SetReplayCache(0)
	before = src.reads()
	read(l, dec31, nil)
	read(l, dec31, nil)
	assert.Equal(t, 2*int(head.Position+2), src.reads()-before)
}

// TestReplayCacheEvictsLeastRecentlyUsed: the kept models stay within the budget in log
// events, the least recently used leaving first; concurrent reads of the same and of other
// dates give the figures of a fresh replay.
func TestReplayCacheEvictsLeastRecentlyUsed(t *testing.T) {
	ctx := context.Background()
	st, _ := newLog(t)
	kt := time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC)
	dates := []domain.Date{domain.MustDate("2025-11-30"), domain.MustDate("2025-12-31"), domain.MustDate("2026-01-10")}
	sizes := make([]uint64, len(dates))
	for i, d := range dates {
		m, err := engine.LedgerAsOf(ctx, st, d, kt)
		require.NoError(t, err)
		sizes[i] = m.ApproxBytes()
	}
	// Room for dates 0 and 1, or 0 and 2, never all three.
	budget := max(sizes[0]+sizes[1], sizes[0]+sizes[2])
	require.Greater(t, sizes[0]+sizes[1]+sizes[2], budget)
	c := newReplayCache(budget)
	use := func(d domain.Date) {
		require.NoError(t, c.with(ctx, st, d, kt, func(*ledger.Model) error { return nil }))
	}
	use(dates[0])
	use(dates[1])
	use(dates[0]) // dates[1] is now the least recently used
	use(dates[2])
	c.mu.Lock()
	_, has0 := c.entries[replayKey{dates[0], kt.UnixNano()}]
	_, has1 := c.entries[replayKey{dates[1], kt.UnixNano()}]
	_, has2 := c.entries[replayKey{dates[2], kt.UnixNano()}]
	held := c.held
	c.mu.Unlock()
	assert.True(t, has0 && has2, "the two most recent are kept")
	assert.False(t, has1, "the least recently used left")
	assert.Equal(t, sizes[0]+sizes[2], held)

	var wg sync.WaitGroup
	want := make(map[domain.Date]string)
	for _, d := range dates {
		m, err := engine.LedgerAsOf(ctx, st, d, kt)
		require.NoError(t, err)
		want[d] = figuresOf(t, m, Basis{AsOf: d})
	}
	for i := range 12 {
		wg.Go(func() {
			d := dates[i%len(dates)]
			assert.NoError(t, c.with(ctx, st, d, kt, func(m *ledger.Model) error {
				assert.Equal(t, want[d], figuresOf(t, m, Basis{AsOf: d}))
				return nil
			}))
		})
	}
	wg.Wait()
	c.mu.Lock()
	assert.LessOrEqual(t, c.held, budget)
	c.mu.Unlock()
}

// A failing log read drops the model rather than serve a half-continued one.
func TestReplayCacheDropsOnError(t *testing.T) {
	ctx := context.Background()
	st, _ := newLog(t)
	fail := &failingReader{Reader: st}
	c := newReplayCache(1 << 30)
	asOf := domain.MustDate("2025-12-31")
	kt := time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC)
	require.NoError(t, c.with(ctx, fail, asOf, kt, func(*ledger.Model) error { return nil }))
	fail.fail = true
	err := c.with(ctx, fail, asOf, kt, func(*ledger.Model) error { t.Fatal("served after a failed read"); return nil })
	require.ErrorIs(t, err, errRead)
	c.mu.Lock()
	assert.Empty(t, c.entries)
	assert.Zero(t, c.held)
	c.mu.Unlock()
}

var errRead = errors.New("disk on fire")

type failingReader struct {
	engine.Reader
	fail bool
}

func (f *failingReader) ReadAll(ctx context.Context, from uint64, limit int) ([]domain.Envelope, error) {
	if f.fail {
		return nil, errRead
	}
	return f.Reader.ReadAll(ctx, from, limit)
}

func jsonUint(v uint64) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// TestWarm: one pass builds the month ends' models; the reads that follow are served from
// them without reading the log again, with the figures of a fresh replay; a budget too
// small for them keeps none; dates already kept are not built again.
func TestWarm(t *testing.T) {
	ctx := context.Background()
	st, _ := newLog(t)
	src := &countingReader{Reader: st}
	l := NewLedger(nil, src)
	fresh := NewLedger(nil, st)
	fresh.SetReplayCache(0)
	today := domain.MustDate("2026-01-12")
	dates := MonthEnds(today, 2)
	require.Equal(t, []domain.Date{domain.MustDate("2025-11-30"), domain.MustDate("2025-12-31")}, dates)
	head, err := st.Head(ctx)
	require.NoError(t, err)

	kept, err := l.Warm(ctx, dates)
	require.NoError(t, err)
	assert.Equal(t, dates, kept)
	assert.Equal(t, int(head.Position), src.reads(), "one pass over the log for both dates")
	for _, d := range dates {
		before := src.reads()
		var got, want string
		require.NoError(t, l.With(ctx, d, today, nil, func(m *ledger.Model, b Basis) error { got = figuresOf(t, m, b); return nil }))
		require.NoError(t, fresh.With(ctx, d, today, nil, func(m *ledger.Model, b Basis) error { want = figuresOf(t, m, b); return nil }))
		assert.Equal(t, want, got, "as of %s", d)
		assert.Equal(t, before, src.reads(), "as of %s: served from the warmed model", d)
	}
	kept, err = l.Warm(ctx, dates)
	require.NoError(t, err)
	assert.Empty(t, kept, "already kept")

	// Over the embedded store itself the warm-up runs the engine's catch-up (readers on
	// every core): the same models.
	direct := NewLedger(nil, st)
	kept, err = direct.Warm(ctx, dates)
	require.NoError(t, err)
	assert.Equal(t, dates, kept)
	for _, d := range dates {
		var got, want string
		require.NoError(t, direct.With(ctx, d, today, nil, func(m *ledger.Model, b Basis) error { got = figuresOf(t, m, b); return nil }))
		require.NoError(t, fresh.With(ctx, d, today, nil, func(m *ledger.Model, b Basis) error { want = figuresOf(t, m, b); return nil }))
		assert.Equal(t, want, got, "as of %s, warmed by the catch-up", d)
	}

	small := NewLedger(nil, st)
	small.SetReplayCache(64)
	kept, err = small.Warm(ctx, dates)
	require.NoError(t, err)
	assert.Empty(t, kept, "a budget of 64 bytes holds no model")

	assert.Equal(t, []domain.Date{domain.MustDate("2025-12-31"), domain.MustDate("2026-01-31"), domain.MustDate("2026-02-28")},
		MonthEnds(domain.MustDate("2026-03-31"), 3))
}
