package ledger

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/encours/encours/domain"
)

// benchLog builds a log of customers, each registered, with invoices, and paid in full on
// every other one: 1 + invoices + invoices/2 events per customer, half the invoices open.
func benchLog(tb testing.TB, customers, invoices int) *logBuilder {
	l := newLog()
	for i := range customers {
		id := domain.CustomerID(fmt.Sprintf("C%07d", i))
		l.add(tb, id, domain.CustomerRegistered{CustomerID: id, Name: fmt.Sprintf("Customer %07d SAS", i), Country: "FR",
			Sector: []string{"C25", "G46", "F43"}[i%3], Segment: []string{"sme", "corporate"}[i%2], Currency: "EUR",
			Terms: domain.Net(30), CreditLimit: eur(5_000_000), RegisteredOn: d("2024-01-01")}, time.Time{})
		for j := range invoices {
			inv := domain.InvoiceID(fmt.Sprintf("F%07d-%04d", i, j))
			issue := d("2024-01-01").AddDays((i + j*3) % 300)
			amount := eur(int64(10_000 + (i*37+j*101)%500_000))
			l.add(tb, id, domain.InvoiceIssued{InvoiceID: inv, Number: string(inv), Amount: amount, IssueDate: issue, DueDate: issue.AddDays(30)}, time.Time{})
			if j%2 == 1 {
				l.add(tb, id, domain.PaymentReceived{PaymentID: domain.PaymentID("P" + string(inv)), Amount: amount, ReceivedOn: issue.AddDays(25 + j%20),
					Allocations: []domain.Allocation{{InvoiceID: inv, Amount: amount}}, Unallocated: eur(0)}, time.Time{})
			}
		}
	}
	return l
}

// BenchmarkApply measures apply throughput on one core (Projections issue item 6): envelopes
// as the store delivers them, JSON decoding included.
func BenchmarkApply(b *testing.B) {
	l := benchLog(b, 1000, 20)
	b.ResetTimer()
	start := time.Now()
	for b.Loop() {
		m := New()
		for _, e := range l.envs {
			if err := m.Apply(e); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(len(l.envs)*b.N)/time.Since(start).Seconds(), "events/s")
}

// BenchmarkApplyDecoded is BenchmarkApply without the JSON decoding: the read model's own
// cost per event.
func BenchmarkApplyDecoded(b *testing.B) {
	l := benchLog(b, 1000, 20)
	evs := make([]domain.Event, len(l.envs))
	for i, e := range l.envs {
		ev, err := domain.DecodeEvent(e.Type, e.SchemaVersion, e.Data)
		if err != nil {
			b.Fatal(err)
		}
		evs[i] = ev
	}
	b.ResetTimer()
	start := time.Now()
	for b.Loop() {
		m := New()
		for i, ev := range evs {
			if err := m.applyEvent(l.envs[i].Stream, ev); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(len(evs)*b.N)/time.Since(start).Seconds(), "events/s")
}

func heapInUse() uint64 {
	var ms runtime.MemStats
	for range 2 {
		runtime.GC()
	}
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// BenchmarkMemory reports the live heap per customer (registered, no invoices) and per open
// invoice (Projections issue item 1 targets: ≤ 1 KiB per customer, ≤ 200 B per open
// invoice), measured with runtime.MemStats after loading them, indexes included.
func BenchmarkMemory(b *testing.B) {
	const customers, invoicesEach = 20_000, 10
	custLog := benchLog(b, customers, 0)
	var invLog []domain.Envelope
	{
		l := newLog()
		l.envs = append(l.envs, custLog.envs...)
		l.prev = custLog.prev
		for i := range customers {
			id := domain.CustomerID(fmt.Sprintf("C%07d", i))
			for j := range invoicesEach {
				inv := domain.InvoiceID(fmt.Sprintf("F%07d-%04d", i, j))
				issue := d("2024-01-01").AddDays((i + j) % 300)
				l.add(b, id, domain.InvoiceIssued{InvoiceID: inv, Number: string(inv), Amount: eur(123_456), IssueDate: issue, DueDate: issue.AddDays(30)}, time.Time{})
			}
		}
		invLog = l.envs[len(custLog.envs):]
	}
	for b.Loop() {
		base := heapInUse()
		m := New()
		for _, e := range custLog.envs {
			if err := m.Apply(e); err != nil {
				b.Fatal(err)
			}
		}
		withCustomers := heapInUse()
		for _, e := range invLog {
			if err := m.Apply(e); err != nil {
				b.Fatal(err)
			}
		}
		withInvoices := heapInUse()
		b.ReportMetric(float64(withCustomers-base)/customers, "B/customer")
		b.ReportMetric(float64(withInvoices-withCustomers)/float64(customers*invoicesEach), "B/open-invoice")
		runtime.KeepAlive(m)
	}
}

// BenchmarkSnapshot measures encoding and decoding the model's snapshot (the engine's
// checkpoint) for 10 000 customers and 200 000 invoices, half open.
func BenchmarkSnapshot(b *testing.B) {
	l := benchLog(b, 10_000, 20)
	m := New()
	for _, e := range l.envs {
		if err := m.Apply(e); err != nil {
			b.Fatal(err)
		}
	}
	data, err := m.MarshalBinary()
	if err != nil {
		b.Fatal(err)
	}
	b.Run("encode", func(b *testing.B) {
		for b.Loop() {
			if _, err := m.MarshalBinary(); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(len(data))/(1<<20), "MiB")
	})
	b.Run("decode", func(b *testing.B) {
		for b.Loop() {
			var x Model
			if err := x.UnmarshalBinary(data); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(len(l.envs)), "events-in-log")
	})
}

// BenchmarkFigures measures the portfolio figures and the per-customer breakdown over
// 10 000 customers and 200 000 invoices.
func BenchmarkFigures(b *testing.B) {
	l := benchLog(b, 10_000, 20)
	m := New()
	for _, e := range l.envs {
		if err := m.Apply(e); err != nil {
			b.Fatal(err)
		}
	}
	asOf := d("2024-10-31")
	b.Run("portfolio", func(b *testing.B) {
		for b.Loop() {
			if _, err := ComputeFigures(m, Portfolio(), asOf, Config{}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("by-customer", func(b *testing.B) {
		for b.Loop() {
			if _, err := GroupFigures(m, ByCustomer, asOf, Config{}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("penalties", func(b *testing.B) {
		for b.Loop() {
			if _, err := Penalties(m, Portfolio(), asOf, PenaltyPolicy{}); err != nil {
				b.Fatal(err)
			}
		}
	})
}
