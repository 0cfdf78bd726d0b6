package signals

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/encours/encours/domain"
	"github.com/encours/encours/projections/ledger"
)

// book writes a log of domain events for tests: each event becomes an envelope on its
// customer's stream at the next position, and feeds a ledger model and facts as it goes,
// so that a test can evaluate between any two events.
type book struct {
	t     testing.TB
	envs  []domain.Envelope
	vers  map[string]uint64
	m     *ledger.Model
	f     *Facts
	seq   int
	terms map[domain.CustomerID]int
}

func newBook(t testing.TB) *book {
	t.Helper()
	return &book{t: t, vers: map[string]uint64{}, m: ledger.New(), f: NewFacts(), terms: map[domain.CustomerID]int{}}
}

func eur(minor int64) domain.Money { return domain.Money{Minor: minor, Ccy: "EUR"} }

func d(s string) domain.Date { return domain.MustDate(s) }

// add appends ev on the stream of customer c and returns its position.
func (b *book) add(c domain.CustomerID, ev domain.Event) uint64 {
	b.t.Helper()
	data, err := domain.EncodeEvent(ev)
	require.NoError(b.t, err)
	stream := domain.CustomerStream(c)
	b.vers[stream]++
	e := domain.Envelope{EventID: fmt.Sprintf("e%d", len(b.envs)+1), Stream: stream, StreamVersion: b.vers[stream],
		Position: uint64(len(b.envs) + 1), Type: ev.EventType(), SchemaVersion: domain.CurrentSchemaVersion,
		EffectiveOn: ev.Effective(), Actor: "test", Data: json.RawMessage(data)}
	b.envs = append(b.envs, e)
	require.NoError(b.t, b.m.Apply(e), "ledger apply %s", e.Type)
	require.NoError(b.t, b.f.Apply(e), "facts apply %s", e.Type)
	return e.Position
}

func (b *book) register(c domain.CustomerID, segment string, termsDays int, limit int64, on domain.Date) uint64 {
	b.terms[c] = termsDays
	return b.add(c, domain.CustomerRegistered{CustomerID: c, Name: string(c), Country: "FR", Segment: segment,
		Currency: "EUR", Terms: domain.Net(termsDays), CreditLimit: eur(limit), RegisteredOn: on})
}

// invoice issues an invoice on its customer's terms and returns its id.
func (b *book) invoice(c domain.CustomerID, amount int64, issue domain.Date) domain.InvoiceID {
	b.seq++
	id := domain.InvoiceID(fmt.Sprintf("%s-I%d", c, b.seq))
	b.add(c, domain.InvoiceIssued{InvoiceID: id, Number: string(id), Amount: eur(amount), IssueDate: issue,
		DueDate: issue.AddDays(b.terms[c])})
	return id
}

// pay records a payment allocated to the given invoices and returns its id and position.
func (b *book) pay(c domain.CustomerID, on domain.Date, allocs ...domain.Allocation) (domain.PaymentID, uint64) {
	b.seq++
	id := domain.PaymentID(fmt.Sprintf("%s-P%d", c, b.seq))
	var sum int64
	for _, a := range allocs {
		sum += a.Amount.Minor
	}
	p := b.add(c, domain.PaymentReceived{PaymentID: id, Amount: eur(sum), ReceivedOn: on, Allocations: allocs, Unallocated: eur(0)})
	return id, p
}

func alloc(id domain.InvoiceID, amount int64) domain.Allocation {
	return domain.Allocation{InvoiceID: id, Amount: eur(amount)}
}

// evaluate evaluates every customer and the portfolio at asOf with cfg (default: defaults).
func (b *book) evaluate(asOf domain.Date, cfg *Config) []Signal {
	b.t.Helper()
	if cfg == nil {
		c := DefaultConfig()
		cfg = &c
	}
	s, err := Evaluate(b.m, b.f, asOf, cfg, EvaluateAll())
	require.NoError(b.t, err)
	return s
}

// find returns the signal of rule (and subject, when given) of customer c.
func find(sigs []Signal, c domain.CustomerID, rule string, subject ...string) (Signal, bool) {
	for _, s := range sigs {
		if s.CustomerID == c && s.Rule == rule && (len(subject) == 0 || s.Subject == subject[0]) {
			return s, true
		}
	}
	return Signal{}, false
}

func figure(fs []Figure, name string) (int64, bool) {
	for _, f := range fs {
		if f.Name == name {
			return f.Value, true
		}
	}
	return 0, false
}
