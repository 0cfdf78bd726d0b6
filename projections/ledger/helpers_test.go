package ledger

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/encours/encours/domain"
)

// logBuilder appends events to an in-memory log as the store would: gap-free positions from
// 1, per-stream versions, effective_on from the event's business date, a recorded_at that
// never goes back, and the hash chain.
type logBuilder struct {
	envs     []domain.Envelope
	versions map[string]uint64
	clock    time.Time
	prev     domain.Hash
	scratch  []byte
}

func newLog() *logBuilder {
	return &logBuilder{versions: map[string]uint64{}, clock: time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)}
}

// streamOf returns the stream an event belongs to.
func streamOf(cust domain.CustomerID, ev domain.Event) string {
	if _, ok := ev.(domain.ExchangeRatesPublished); ok {
		return domain.RatesStream
	}
	return domain.CustomerStream(cust)
}

// add appends ev, recorded at the later of the log's clock and the given instant (zero: one
// second after the previous event).
func (l *logBuilder) add(t testing.TB, cust domain.CustomerID, ev domain.Event, recorded time.Time) domain.Envelope {
	t.Helper()
	data, err := domain.EncodeEvent(ev)
	require.NoError(t, err)
	if recorded.IsZero() || recorded.Before(l.clock) {
		recorded = l.clock.Add(time.Second)
	}
	l.clock = recorded
	stream := streamOf(cust, ev)
	l.versions[stream]++
	e := domain.Envelope{
		EventID:       fmt.Sprintf("ev-%d", len(l.envs)+1),
		Stream:        stream,
		StreamVersion: l.versions[stream],
		Position:      uint64(len(l.envs) + 1),
		Type:          ev.EventType(),
		SchemaVersion: domain.CurrentSchemaVersion,
		EffectiveOn:   ev.Effective(),
		RecordedAt:    recorded.UTC(),
		Actor:         "test",
		Data:          data,
	}
	l.scratch = domain.Seal(&e, l.prev, l.scratch)
	l.prev = e.Hash
	l.envs = append(l.envs, e)
	return e
}

func eur(minor int64) domain.Money { return domain.Money{Minor: minor, Ccy: "EUR"} }

func d(s string) domain.Date { return domain.MustDate(s) }

// farFuture is a known-at instant after every test event.
var farFuture = time.Date(2999, 1, 1, 0, 0, 0, 0, time.UTC)

// dump writes the whole model in a canonical text form: customers sorted by id, everything
// by value (indexes resolved to ids), positions left out. Two models built from the same
// facts, in any grouping, dump the same.
func dump(m *Model) string {
	var b strings.Builder
	ids := make([]domain.CustomerID, 0, m.customers.len())
	for i := range int32(m.customers.len()) {
		ids = append(ids, m.customers.at(i).id)
	}
	slices.SortFunc(ids, func(a, b domain.CustomerID) int { return strings.Compare(string(a), string(b)) })
	fmt.Fprintf(&b, "reporting %s\n", m.reporting)
	for _, c := range sortedCurrencies(m.rates) {
		fmt.Fprintf(&b, "rates %s %v\n", c, m.rates[c])
	}
	for _, id := range ids {
		c := m.customers.at(m.customerIndex[id])
		fmt.Fprintf(&b, "customer %s %q %s/%s/%s %s %v limit=%d cover=%s:%d/%d open=%d unalloc=%d credit=%d rating=%+v counts=%d/%d/%d/%d promises=%+v\n",
			c.id, c.name, c.country, c.sector, c.segment, c.currency, c.terms, c.limit, c.insurer, c.covered,
			c.declarationDays, c.openInvoices, c.unallocated, c.standingCredit, c.rating,
			c.reversals, c.disputes, c.writeOffs, c.reminders, c.promises)
		for _, ii := range c.invoices {
			v := m.invoices.at(ii)
			planID := ""
			if v.plan != 0 {
				p := &m.plans[v.plan-1]
				planID = fmt.Sprintf("%s@%d%v", p.id, p.openAtAgreement, p.instalments)
			}
			fmt.Fprintf(&b, "  invoice %s %q %d open=%d %s..%s disp=%s rem=%d@%s flags=%d plan=%s\n",
				v.id, v.number, v.amount, v.open, v.issue, v.due, v.disputedOn, v.reminderLevel, v.remindedOn, v.flags, planID)
			for _, en := range v.entries {
				src := "-"
				switch en.kind {
				case entryCash, entryReopen:
					src = string(m.payments.at(en.src).id)
				case entryCredit:
					src = string(m.creditNotes.at(en.src).id)
				}
				fmt.Fprintf(&b, "    %s %d on=%s paid=%s src=%s\n", en.kind, en.amount, en.on, en.paidOn, src)
			}
		}
		for _, pi := range c.payments {
			p := m.payments.at(pi)
			fmt.Fprintf(&b, "  payment %s %d unalloc=%d %s rev=%s\n", p.id, p.amount, p.unallocated, p.received, p.reversedOn)
		}
		for _, ni := range c.creditNotes {
			n := m.creditNotes.at(ni)
			inv := ""
			if n.invoice >= 0 {
				inv = string(m.invoices.at(n.invoice).id)
			}
			fmt.Fprintf(&b, "  credit %s %d standing=%d on %s %s\n", n.id, n.amount, n.standing, inv, n.issue)
		}
	}
	return b.String()
}
