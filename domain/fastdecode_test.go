package domain

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
)

// fastTypes are the types decodeFast reads.
var fastTypes = []string{TypeInvoiceIssued, TypePaymentReceived, TypeCustomerRegistered}

// checkFastMatchesJSON fails when decodeFast accepts data and encoding/json does not give
// the very same event.
func checkFastMatchesJSON(t *testing.T, typ string, data []byte) (fast bool) {
	t.Helper()
	got, ok := decodeFast(typ, data, false, nil)
	view, viewOK := decodeFast(typ, data, true, nil)
	var slab EventSlab
	slab.allocs = make([]Allocation, 1, 2) // an allocation decoded before: lists are carved after it
	inSlab, slabOK := decodeFast(typ, data, true, &slab)
	if ok != viewOK || ok != slabOK {
		t.Fatalf("%s %s: the fast decoder accepts it %t, as a view %t, in a slab %t", typ, data, ok, viewOK, slabOK)
	}
	if !ok {
		return false
	}
	want, err := decodeJSON(typ, eventFactories[typ], data)
	if err != nil {
		t.Fatalf("%s %s: the fast decoder accepted what encoding/json refuses: %v", typ, data, err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s %s:\nfast %#v\njson %#v", typ, data, got, want)
	}
	if !reflect.DeepEqual(view, want) {
		t.Fatalf("%s %s:\nview %#v\njson %#v", typ, data, view, want)
	}
	if reflect.TypeOf(inSlab).Kind() != reflect.Pointer {
		t.Fatalf("%s %s: %T from a slab, want a pointer", typ, data, inSlab)
	}
	if !reflect.DeepEqual(deref(inSlab), want) {
		t.Fatalf("%s %s:\nslab %#v\njson %#v", typ, data, inSlab, want)
	}
	return true
}

func money(minor int64, ccy Currency) Money { return Money{Minor: minor, Ccy: ccy} }

// randomFastEvent is a random event of a type decodeFast reads, with the optional fields,
// null and empty lists, negative and large amounts and other currencies it must handle.
func randomFastEvent(rng *rand.Rand) Event {
	ccy := []Currency{"EUR", "USD", "GBP", "CHF", "JPY", ""}[rng.IntN(6)]
	amt := func() Money {
		v := rng.Int64N(1 << 40)
		switch rng.IntN(5) {
		case 0:
			v = -v
		case 1:
			v = 0
		case 2:
			v = 999_999_999_999_999_999 // 18 digits: the longest the fast path reads
		}
		return money(v, ccy)
	}
	date := func() Date { return DateFromDays(int32(rng.IntN(40_000))) }
	id := func(p string) string { return fmt.Sprintf("%s%d", p, rng.IntN(1e6)) }
	opt := func(s string) string {
		if rng.IntN(2) == 0 {
			return ""
		}
		return s
	}
	switch rng.IntN(3) {
	case 0:
		inv := id("F")
		num := inv
		if rng.IntN(2) == 0 {
			num = id("N-")
		}
		return InvoiceIssued{InvoiceID: InvoiceID(inv), Number: num, Amount: amt(), IssueDate: date(), DueDate: date(), Terms: opt("net30")}
	case 1:
		var allocs []Allocation
		switch n := rng.IntN(4); n {
		case 0: // nil: encoded as null
		case 1:
			allocs = []Allocation{}
		default:
			for range n {
				allocs = append(allocs, Allocation{InvoiceID: InvoiceID(id("F")), Amount: amt()})
			}
		}
		return PaymentReceived{PaymentID: PaymentID(id("P")), Amount: amt(), ReceivedOn: date(), Allocations: allocs,
			Unallocated: amt(), Reference: opt("VIR 42")}
	default:
		terms := []Terms{Net(30), Net(0), {Kind: TermsEndOfMonth}, {Kind: TermsEndOfMonthNet, Days: 45}, Net(365)}[rng.IntN(5)]
		return CustomerRegistered{CustomerID: CustomerID(id("C")), Name: opt("ACME SAS"), Country: "FR",
			Sector: opt("C25"), Segment: opt("sme"), Currency: ccy, Terms: terms, CreditLimit: amt(), RegisteredOn: date()}
	}
}

// TestDecodeFastMatchesJSON: on what EncodeEvent writes, the fast decoder is taken and gives
// exactly encoding/json's event.
func TestDecodeFastMatchesJSON(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for range 20_000 {
		ev := randomFastEvent(rng)
		data, err := EncodeEvent(ev)
		if err != nil {
			t.Fatal(err)
		}
		if !checkFastMatchesJSON(t, ev.EventType(), data) {
			t.Fatalf("%s %s: the fast decoder gave up on EncodeEvent's bytes", ev.EventType(), data)
		}
		back, err := DecodeEvent(ev.EventType(), CurrentSchemaVersion, data)
		if err != nil || !reflect.DeepEqual(back, ev) {
			t.Fatalf("%s: DecodeEvent gave %#v, %v; want %#v", data, back, err, ev)
		}
	}
}

// TestDecodeFastGivesUp: every form the fast path does not read goes to encoding/json,
// which accepts or refuses it as before.
func TestDecodeFastGivesUp(t *testing.T) {
	for _, c := range []struct{ typ, data string }{
		{TypeInvoiceIssued, `{"number":"I","invoice_id":"I","amount":{"amount":5,"currency":"EUR"},"issue_date":"2024-01-01","due_date":"2024-01-31"}`},
		{TypeInvoiceIssued, `{"invoice_id":"I\u0041","number":"I","amount":{"amount":5,"currency":"EUR"},"issue_date":"2024-01-01","due_date":"2024-01-31"}`},
		{TypeInvoiceIssued, `{"invoice_id":"I","number":"I","amount":{"amount":05,"currency":"EUR"},"issue_date":"2024-01-01","due_date":"2024-01-31"}`},
		{TypeInvoiceIssued, `{"invoice_id":"I","number":"I","amount":{"amount":5.0,"currency":"EUR"},"issue_date":"2024-01-01","due_date":"2024-01-31"}`},
		{TypeInvoiceIssued, `{"invoice_id":"I","number":"I","amount":{"amount":5,"currency":"EUR"},"issue_date":"2024-02-30","due_date":"2024-01-31"}`},
		{TypeInvoiceIssued, `{"invoice_id":"I","number":"I","amount":{"amount":5,"currency":"EUR"},"issue_date":null,"due_date":"2024-01-31"}`},
		{TypeInvoiceIssued, `{"invoice_id":"I","number":"I","amount":{"amount":5,"currency":"EUR"},"issue_date":"2024-01-01","due_date":"2024-01-31"} `},
		{TypeInvoiceIssued, `{"invoice_id":"I","number":"I","amount":{"amount":5,"currency":"EUR"},"issue_date":"2024-01-01","due_date":"2024-01-31","x":1}`},
		{TypeInvoiceIssued, `{"invoice_id":"Ié","number":"I","amount":{"amount":5,"currency":"EUR"},"issue_date":"2024-01-01","due_date":"2024-01-31"}`},
		{TypeInvoiceIssued, `{"invoice_id":"I","number":"I","amount":{"amount":1234567890123456789,"currency":"EUR"},"issue_date":"2024-01-01","due_date":"2024-01-31"}`},
		{TypePaymentReceived, `{"payment_id":"P","amount":{"amount":-0,"currency":"EUR"},"received_on":"2024-01-01","allocations":null,"unallocated":{"amount":0,"currency":""}}`},
		{TypePaymentReceived, `{"payment_id":"P","amount":{"amount":5,"currency":"EUR"},"received_on":"2024-01-01","allocations":[{"invoice_id":"I","amount":{"amount":5,"currency":"EUR"}},],"unallocated":{"amount":0,"currency":""}}`},
		{TypeCustomerRegistered, `{"customer_id":"C1","name":"N","country":"FR","currency":"EUR","terms":"net-30","credit_limit":{"amount":5,"currency":"EUR"},"registered_on":"2024-01-01"}`},
	} {
		if _, ok := decodeFast(c.typ, []byte(c.data), false, nil); ok {
			t.Errorf("the fast decoder took %s", c.data)
		}
	}
}

// FuzzDecodeFast: whatever the bytes, the fast decoder either gives up or gives exactly what
// encoding/json gives.
func FuzzDecodeFast(f *testing.F) {
	rng := rand.New(rand.NewPCG(3, 4))
	for range 30 {
		ev := randomFastEvent(rng)
		data, err := EncodeEvent(ev)
		if err != nil {
			f.Fatal(err)
		}
		for i, typ := range fastTypes {
			if typ == ev.EventType() {
				f.Add(uint8(i), data)
			}
		}
	}
	f.Fuzz(func(t *testing.T, typ uint8, data []byte) {
		checkFastMatchesJSON(t, fastTypes[int(typ)%len(fastTypes)], data)
	})
}

// BenchmarkDecodeEventView decodes into a slab what a projection's catch-up decodes most: a
// customer's registration, invoices and payments as EncodeEvent writes them.
func BenchmarkDecodeEventView(b *testing.B) {
	type rec struct {
		typ  string
		data []byte
	}
	var recs []rec
	add := func(ev Event) {
		data, err := EncodeEvent(ev)
		if err != nil {
			b.Fatal(err)
		}
		recs = append(recs, rec{ev.EventType(), data})
	}
	eur := func(v int64) Money { return Money{Minor: v, Ccy: "EUR"} }
	issue := MustDate("2024-03-07")
	add(CustomerRegistered{CustomerID: "C00012345", Name: "Customer 00012345 SAS", Country: "FR", Sector: "C25",
		Segment: "sme", Currency: "EUR", Terms: Net(30), CreditLimit: eur(5_000_000), RegisteredOn: MustDate("2024-01-01")})
	for j := range 20 {
		inv := InvoiceID(fmt.Sprintf("F00012345-%03d", j))
		amount := eur(int64(10_000 + j*1013))
		add(InvoiceIssued{InvoiceID: inv, Number: string(inv), Amount: amount, IssueDate: issue.AddDays(j), DueDate: issue.AddDays(j + 30)})
		if j%2 == 1 {
			add(PaymentReceived{PaymentID: PaymentID("P" + string(inv)), Amount: amount, ReceivedOn: issue.AddDays(25 + j),
				Allocations: []Allocation{{InvoiceID: inv, Amount: amount}}, Unallocated: eur(0)})
		}
	}
	var slab EventSlab
	for b.Loop() {
		slab.Reset()
		for _, r := range recs {
			if _, ok := decodeFast(r.typ, r.data, true, &slab); !ok {
				b.Fatalf("the fast decoder refused %s", r.data)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(recs)), "ns/event")
}

// TestFastTypesAreRegistered pins what decodeEvent relies on when it tries the fast decoder
// before the factories' map: every type the fast decoder reads is a registered type, so an
// unknown type can never be decoded by it instead of refused.
func TestFastTypesAreRegistered(t *testing.T) {
	for _, typ := range fastTypes {
		if _, ok := eventFactories[typ]; !ok {
			t.Errorf("the fast decoder reads %s, which eventFactories does not register", typ)
		}
	}
	for _, typ := range []string{"NoSuchEvent", TypeCreditLimitChanged} {
		if _, ok := decodeFast(typ, []byte(`{}`), false, nil); ok {
			t.Errorf("the fast decoder accepted type %s", typ)
		}
	}
}
