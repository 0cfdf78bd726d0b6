package domain

import (
	"encoding/json"
	"math/rand/v2"
	"testing"
)

// encodeFast writes json.Marshal's bytes for every invoice it takes, takes the ones the
// write path records, and gives way on strings json.Marshal escapes.
func TestEncodeFastIsMarshal(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	taken := 0
	for range 20_000 {
		ev := randomFastEvent(rng)
		want, err := json.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		got, ok := encodeFast(ev)
		if _, isInvoice := ev.(InvoiceIssued); ok != isInvoice {
			t.Fatalf("encodeFast(%#v) answered %v", ev, ok)
		}
		if ok {
			taken++
			if string(got) != string(want) {
				t.Fatalf("encodeFast(%#v) = %s, json.Marshal %s", ev, got, want)
			}
		}
		if data, err := EncodeEvent(ev); err != nil || string(data) != string(want) {
			t.Fatalf("EncodeEvent(%#v) = %s, %v; want %s", ev, data, err, want)
		}
	}
	if taken == 0 {
		t.Fatal("no invoice taken")
	}
	zeroDates := InvoiceIssued{InvoiceID: "F1", Number: "1", Amount: Money{Minor: -5, Ccy: "EUR"}}
	if got, ok := encodeFast(zeroDates); !ok || string(got) != `{"invoice_id":"F1","number":"1","amount":{"amount":-5,"currency":"EUR"},"issue_date":null,"due_date":null}` {
		t.Errorf("encodeFast(%#v) = %s, %v", zeroDates, got, ok)
	}
	for _, ev := range []InvoiceIssued{
		{InvoiceID: "F<1>", Number: "1"}, {InvoiceID: "F1", Number: `a"b`}, {InvoiceID: "F1", Number: "é"},
		{InvoiceID: "F1", Number: "1", Terms: "a&b"}, {InvoiceID: "F1", Number: "1", Amount: Money{Ccy: "E\u2028"}},
	} {
		if got, ok := encodeFast(ev); ok {
			t.Errorf("encodeFast(%#v) = %s, want it to give way to json.Marshal", ev, got)
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
