package domain_test

import (
	"fmt"
	"testing"

	"github.com/encours/encours/domain"
)

// BenchmarkFold folds a customer of 50 invoices, 40 of them paid and 4 disputed: the shape of
// a bulk import's customer, whose every event goes through Evolve.
func BenchmarkFold(b *testing.B) {
	eur := func(minor int64) domain.Money { return domain.Money{Minor: minor, Ccy: "EUR"} }
	on := domain.MustDate("2025-01-06")
	events := []domain.Event{domain.CustomerRegistered{CustomerID: "C1", Name: "C1", Country: "FR", Currency: "EUR",
		Terms: domain.Net(30), CreditLimit: eur(10_000_000), RegisteredOn: on}}
	for i := range 50 {
		id := domain.InvoiceID(fmt.Sprintf("I%d", i))
		day := on.AddDays(i)
		events = append(events, domain.InvoiceIssued{InvoiceID: id, Number: string(id), Amount: eur(100_000), IssueDate: day, DueDate: day.AddDays(30)})
		if i%10 == 3 {
			events = append(events, domain.InvoiceDisputed{InvoiceID: id, DisputedOn: day, Reason: "imported"})
		} else if i%5 != 4 {
			events = append(events, domain.PaymentReceived{PaymentID: domain.PaymentID("P" + string(id)), Amount: eur(100_000), ReceivedOn: day.AddDays(20),
				Allocations: []domain.Allocation{{InvoiceID: id, Amount: eur(100_000)}}, Unallocated: eur(0)})
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		domain.Fold(events)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(events)), "ns/event")
}

// BenchmarkDecidePayment decides a payment allocated to one invoice, as a bulk import does
// for every settled row.
func BenchmarkDecidePayment(b *testing.B) {
	eur := func(minor int64) domain.Money { return domain.Money{Minor: minor, Ccy: "EUR"} }
	on := domain.MustDate("2025-01-06")
	c := domain.Fold([]domain.Event{
		domain.CustomerRegistered{CustomerID: "C1", Name: "C1", Country: "FR", Currency: "EUR", Terms: domain.Net(30), CreditLimit: eur(10_000_000), RegisteredOn: on},
		domain.InvoiceIssued{InvoiceID: "I1", Number: "I1", Amount: eur(100_000), IssueDate: on, DueDate: on.AddDays(30)},
	})
	cmd := domain.RecordPayment{CustomerID: "C1", PaymentID: "P1", Amount: eur(100_000), ReceivedOn: on.AddDays(20),
		Allocations: []domain.Allocation{{InvoiceID: "I1", Amount: eur(100_000)}}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := domain.Decide(c, cmd); err != nil {
			b.Fatal(err)
		}
	}
}
