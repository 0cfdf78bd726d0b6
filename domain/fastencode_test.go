package domain

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"testing"
)

// encodeFast writes json.Marshal's bytes for every event it takes, takes the ones the write
// path and the bulk import record, and gives way on strings json.Marshal escapes; AppendEvent
// appends the same bytes.
func TestEncodeFastIsMarshal(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	taken := 0
	for i := range 20_000 {
		ev := randomFastEvent(rng)
		switch i % 5 {
		case 3:
			ev = InvoiceDisputed{InvoiceID: InvoiceID(fmt.Sprint("F", i)), DisputedOn: DateFromDays(int32(rng.IntN(40_000))),
				Reason: []string{"", "imported as disputed"}[rng.IntN(2)]}
		case 4:
			ev = DisputeResolved{InvoiceID: InvoiceID(fmt.Sprint("F", i)), ResolvedOn: DateFromDays(int32(rng.IntN(40_000))),
				Outcome: []string{"", "settled"}[rng.IntN(2)], Note: []string{"", "n"}[rng.IntN(2)]}
		}
		want, err := json.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		got, ok := encodeFast(ev)
		if !ok {
			t.Fatalf("encodeFast(%#v) gave way", ev)
		}
		taken++
		if string(got) != string(want) {
			t.Fatalf("encodeFast(%#v) = %s, json.Marshal %s", ev, got, want)
		}
		if data, err := EncodeEvent(ev); err != nil || string(data) != string(want) {
			t.Fatalf("EncodeEvent(%#v) = %s, %v; want %s", ev, data, err, want)
		}
		if data, err := AppendEvent([]byte("x"), ev); err != nil || string(data) != "x"+string(want) {
			t.Fatalf("AppendEvent(x, %#v) = %s, %v; want x%s", ev, data, err, want)
		}
	}
	if taken == 0 {
		t.Fatal("no invoice taken")
	}
	zeroDates := InvoiceIssued{InvoiceID: "F1", Number: "1", Amount: Money{Minor: -5, Ccy: "EUR"}}
	if got, ok := encodeFast(zeroDates); !ok || string(got) != `{"invoice_id":"F1","number":"1","amount":{"amount":-5,"currency":"EUR"},"issue_date":null,"due_date":null}` {
		t.Errorf("encodeFast(%#v) = %s, %v", zeroDates, got, ok)
	}
	for _, ev := range []Event{
		InvoiceIssued{InvoiceID: "F<1>", Number: "1"}, InvoiceIssued{InvoiceID: "F1", Number: `a"b`},
		InvoiceIssued{InvoiceID: "F1", Number: "é"}, InvoiceIssued{InvoiceID: "F1", Number: "1", Terms: "a&b"},
		InvoiceIssued{InvoiceID: "F1", Number: "1", Amount: Money{Ccy: "E\u2028"}},
		PaymentReceived{PaymentID: "P1", Allocations: []Allocation{{InvoiceID: "F\n1"}}},
		PaymentReceived{PaymentID: "P1", Reference: "a<b"},
		CustomerRegistered{CustomerID: "C1", Name: "Müller"}, CustomerRegistered{CustomerID: "C1", Terms: Terms{Kind: 9}},
		InvoiceDisputed{InvoiceID: "F1", Reason: "\"no\""}, DisputeResolved{InvoiceID: "F1", Note: "a\\b"},
		CreditLimitChanged{Reason: "r"}, &InvoiceIssued{InvoiceID: "F1"},
	} {
		if got, ok := encodeFast(ev); ok {
			t.Errorf("encodeFast(%#v) = %s, want it to give way to json.Marshal", ev, got)
		}
		want, wantErr := json.Marshal(ev)
		got, err := AppendEvent([]byte("x"), ev)
		if (err != nil) != (wantErr != nil) || (err == nil && string(got) != "x"+string(want)) {
			t.Errorf("AppendEvent(x, %#v) = %s, %v; json.Marshal %s, %v", ev, got, err, want, wantErr)
		}
	}
}

func BenchmarkEncodeInvoiceIssued(b *testing.B) {
	ev := InvoiceIssued{InvoiceID: "F-10000-63-1234", Number: "F-10000-63-1234", Amount: Money{Minor: 12_345, Ccy: "EUR"},
		IssueDate: MustDate("2026-01-05"), DueDate: MustDate("2026-02-04")}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := EncodeEvent(ev); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEncodeImportEvents encodes the five events a generic import row decides.
func BenchmarkEncodeImportEvents(b *testing.B) {
	eur := func(m int64) Money { return Money{Minor: m, Ccy: "EUR"} }
	evs := []Event{
		CustomerRegistered{CustomerID: "C0000042", Name: "Customer 42", Country: "FR", Segment: "sme", Currency: "EUR",
			Terms: Net(30), CreditLimit: eur(12_000_000), RegisteredOn: MustDate("2022-01-03")},
		InvoiceIssued{InvoiceID: "INV000000042", Number: "F-000000042", Amount: eur(12_345), IssueDate: MustDate("2022-01-03"), DueDate: MustDate("2022-02-02")},
		InvoiceDisputed{InvoiceID: "INV000000042", DisputedOn: MustDate("2022-01-03"), Reason: "imported as disputed"},
		PaymentReceived{PaymentID: "pay-INV000000042", Amount: eur(12_345), ReceivedOn: MustDate("2022-02-01"),
			Allocations: []Allocation{{InvoiceID: "INV000000042", Amount: eur(12_345)}}, Unallocated: eur(0)},
		DisputeResolved{InvoiceID: "INV000000042", ResolvedOn: MustDate("2022-02-01"), Outcome: "settled"},
	}
	b.ReportAllocs()
	for b.Loop() {
		for _, e := range evs {
			if _, err := EncodeEvent(e); err != nil {
				b.Fatal(err)
			}
		}
	}
}
