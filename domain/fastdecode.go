package domain

import (
	"encoding/binary"
	"time"
	"unsafe"
)

// A decoder without reflection for the events a replay meets most (InvoiceIssued,
// PaymentReceived, CustomerRegistered), used by DecodeEvent before encoding/json.
//
// It reads only the exact bytes EncodeEvent (json.Marshal) writes for them: the struct's
// fields in declaration order, no white space, strings without escapes and in ASCII,
// integers without leading zeros. Anything else (another order, an escape, an unknown
// field, a null date, a value the strict parsers refuse) makes it give up, and DecodeEvent
// decodes the same bytes with encoding/json as before, errors included. So the result is
// always what encoding/json gives, only faster (FuzzDecodeFast checks exactly that), and the
// stored bytes, hence the hash chain, are unchanged: JSON stays the record's format.

// decodeFast decodes data of an event of type typ at the current schema version, or says it
// cannot (ok false) and the caller must use encoding/json.
// With view, its strings alias data (DecodeEventView); with a slab, the event is a pointer
// into it.
func decodeFast(typ string, data []byte, view bool, slab *EventSlab) (ev Event, ok bool) {
	s := jscan{b: data, ok: true, view: view, slab: slab}
	switch typ {
	case TypeInvoiceIssued:
		var e InvoiceIssued
		s.litKey(&keyInvoiceID)
		id := s.raw()
		e.InvoiceID = InvoiceID(s.string(id))
		s.litKey(&keyNumber)
		e.Number = s.strSame(id, string(e.InvoiceID))
		s.litKey(&keyAmount)
		e.Amount = s.money()
		s.litKey(&keyIssueDate)
		e.IssueDate = s.date()
		s.litKey(&keyDueDate)
		e.DueDate = s.date()
		if s.optKey(&keyTerms) {
			e.Terms = s.str()
		}
		s.litByte('}')
		if slab != nil {
			slab.invoices = append(slab.invoices, e)
			ev = &slab.invoices[len(slab.invoices)-1]
		} else {
			ev = e
		}
	case TypePaymentReceived:
		var e PaymentReceived
		s.litKey(&keyPaymentID)
		e.PaymentID = PaymentID(s.str())
		s.litKey(&keyAmount)
		e.Amount = s.money()
		s.litKey(&keyReceivedOn)
		e.ReceivedOn = s.date()
		s.litKey(&keyAllocations)
		e.Allocations = s.allocations()
		s.litKey(&keyUnallocated)
		e.Unallocated = s.money()
		if s.optKey(&keyReference) {
			e.Reference = s.str()
		}
		s.litByte('}')
		if slab != nil {
			slab.payments = append(slab.payments, e)
			ev = &slab.payments[len(slab.payments)-1]
		} else {
			ev = e
		}
	case TypeCustomerRegistered:
		var e CustomerRegistered
		s.litKey(&keyCustomerID)
		e.CustomerID = CustomerID(s.str())
		s.litKey(&keyName)
		e.Name = s.str()
		s.litKey(&keyCountry)
		e.Country = s.str()
		if s.optKey(&keySector) {
			e.Sector = s.str()
		}
		if s.optKey(&keySegment) {
			e.Segment = s.str()
		}
		s.litKey(&keyCurrency)
		e.Currency = s.currency()
		s.litKey(&keyTerms)
		e.Terms = s.terms()
		s.litKey(&keyCreditLimit)
		e.CreditLimit = s.money()
		s.lit(`,"registered_on":`)
		e.RegisteredOn = s.date()
		s.litByte('}')
		if slab != nil {
			slab.customers = append(slab.customers, e)
			ev = &slab.customers[len(slab.customers)-1]
		} else {
			ev = e
		}
	default:
		return nil, false
	}
	if !s.ok || s.i != len(s.b) {
		return nil, false
	}
	return ev, true
}

// jscan reads the bytes json.Marshal writes; ok turns false at the first thing it does not
// expect, and every later call is then a no-op.
type jscan struct {
	b    []byte
	i    int
	ok   bool
	view bool       // strings alias b (DecodeEventView)
	slab *EventSlab // allocations carved from it, when not nil
}

// EventSlab holds the events DecodeEventView decodes when given one, so that a page of
// events costs a few allocations rather than one or two per event. Reset reuses it: the
// events decoded into it before must no longer be in use.
type EventSlab struct {
	invoices  []InvoiceIssued
	payments  []PaymentReceived
	customers []CustomerRegistered
	allocs    []Allocation
}

// Reset empties the slab for the next page.
func (s *EventSlab) Reset() {
	clear(s.invoices)
	clear(s.payments)
	clear(s.customers)
	clear(s.allocs)
	s.invoices, s.payments, s.customers, s.allocs = s.invoices[:0], s.payments[:0], s.customers[:0], s.allocs[:0]
}

func (s *jscan) lit(l string) {
	if s.ok && !s.opt(l) {
		s.ok = false
	}
}

// opt consumes l if it comes next.
func (s *jscan) opt(l string) bool {
	if !s.ok || len(s.b)-s.i < len(l) || string(s.b[s.i:s.i+len(l)]) != l {
		return false
	}
	s.i += len(l)
	return true
}

// A key is a literal of 8 to 16 bytes (a field's name with its quotes, comma and colon),
// held as its first and last eight bytes, which overlap when it is shorter than 16: matching
// it is two loads and two comparisons, where comparing strings calls memequal (a third of
// the decoder's time before). BenchmarkDecodeEventView: 162 → 122 ns per event.
type key struct {
	first, last uint64
	n           int
}

func newKey(l string) key {
	if len(l) < 8 || len(l) > 16 {
		panic("domain: a key is 8 to 16 bytes: " + l)
	}
	return key{binary.LittleEndian.Uint64([]byte(l)), binary.LittleEndian.Uint64([]byte(l[len(l)-8:])), len(l)}
}

var (
	keyInvoiceID   = newKey(`{"invoice_id":`)
	keyNumber      = newKey(`,"number":`)
	keyAmount      = newKey(`,"amount":`)
	keyIssueDate   = newKey(`,"issue_date":`)
	keyDueDate     = newKey(`,"due_date":`)
	keyTerms       = newKey(`,"terms":`)
	keyPaymentID   = newKey(`{"payment_id":`)
	keyReceivedOn  = newKey(`,"received_on":`)
	keyAllocations = newKey(`,"allocations":`)
	keyUnallocated = newKey(`,"unallocated":`)
	keyReference   = newKey(`,"reference":`)
	keyCustomerID  = newKey(`{"customer_id":`)
	keyName        = newKey(`,"name":`)
	keyCountry     = newKey(`,"country":`)
	keySector      = newKey(`,"sector":`)
	keySegment     = newKey(`,"segment":`)
	keyCurrency    = newKey(`,"currency":`)
	keyCreditLimit = newKey(`,"credit_limit":`)
	keyMoneyAmount = newKey(`{"amount":`)
	keyEURTail     = newKey(`,"currency":"EUR`) // then "}
)

// hasKey reports whether k comes next.
func (s *jscan) hasKey(k *key) bool {
	if !s.ok || len(s.b)-s.i < k.n {
		return false
	}
	return binary.LittleEndian.Uint64(s.b[s.i:]) == k.first && binary.LittleEndian.Uint64(s.b[s.i+k.n-8:]) == k.last
}

// litKey consumes k, which must come next. (Written with optKey, the decoder measured 131..133
// ns/event in BenchmarkDecodeEventView against 116..123 as it is.)
func (s *jscan) litKey(k *key) {
	if !s.hasKey(k) {
		s.ok = false
		return
	}
	s.i += k.n
}

// optKey consumes k if it comes next.
func (s *jscan) optKey(k *key) bool {
	if !s.hasKey(k) {
		return false
	}
	s.i += k.n
	return true
}

// litByte consumes c, which must come next.
func (s *jscan) litByte(c byte) {
	if !s.optByte(c) {
		s.ok = false
	}
}

// optByte consumes c if it comes next.
func (s *jscan) optByte(c byte) bool {
	if !s.ok || s.i >= len(s.b) || s.b[s.i] != c {
		return false
	}
	s.i++
	return true
}

// raw reads a JSON string without escapes, in ASCII, and returns its bytes (aliasing b).
func (s *jscan) raw() []byte {
	if !s.ok || s.i >= len(s.b) || s.b[s.i] != '"' {
		s.ok = false
		return nil
	}
	for j := s.i + 1; j < len(s.b); j++ {
		switch c := s.b[j]; {
		case c == '"':
			v := s.b[s.i+1 : j]
			s.i = j + 1
			return v
		case c == '\\' || c < 0x20 || c >= 0x80:
			s.ok = false // an escape, an invalid control byte or UTF-8: encoding/json decides
			return nil
		}
	}
	s.ok = false
	return nil
}

func (s *jscan) str() string { return s.string(s.raw()) }

// string returns v, one of raw's results, as a string: a copy, or with view its bytes.
func (s *jscan) string(v []byte) string {
	if s.view && len(v) > 0 {
		return unsafe.String(unsafe.SliceData(v), len(v))
	}
	return string(v)
}

// strSame is str, sharing prev's bytes when the value equals prevRaw (an invoice number equal
// to its id, as in most imports).
func (s *jscan) strSame(prevRaw []byte, prev string) string {
	v := s.raw()
	if string(v) == string(prevRaw) {
		return prev
	}
	return s.string(v)
}

// currency reads a currency code without allocating for the common ones.
func (s *jscan) currency() Currency {
	v := s.raw()
	switch string(v) {
	case "":
		return ""
	case "EUR":
		return "EUR"
	case "USD":
		return "USD"
	case "GBP":
		return "GBP"
	case "CHF":
		return "CHF"
	}
	return Currency(s.string(v))
}

// int reads a JSON integer as json.Marshal writes an int64 (no leading zero, no exponent, no
// fraction), of at most 18 digits so it cannot overflow.
func (s *jscan) int() int64 {
	if !s.ok {
		return 0
	}
	j, neg := s.i, false
	if j < len(s.b) && s.b[j] == '-' {
		neg = true
		j++
	}
	start := j
	var v int64
	for j < len(s.b) && s.b[j] >= '0' && s.b[j] <= '9' {
		v = v*10 + int64(s.b[j]-'0')
		j++
	}
	n := j - start
	if n == 0 || n > 18 || (n > 1 && s.b[start] == '0') || (neg && v == 0) {
		s.ok = false
		return 0
	}
	if j < len(s.b) && (s.b[j] == '.' || s.b[j] == 'e' || s.b[j] == 'E') {
		s.ok = false
		return 0
	}
	s.i = j
	if neg {
		v = -v
	}
	return v
}

func (s *jscan) money() Money {
	s.litKey(&keyMoneyAmount)
	v := s.int()
	// Most amounts are in euros: their tail is one comparison with a constant.
	if s.hasKey(&keyEURTail) && len(s.b)-s.i >= keyEURTail.n+2 && s.b[s.i+keyEURTail.n] == '"' && s.b[s.i+keyEURTail.n+1] == '}' {
		s.i += keyEURTail.n + 2 // ,"currency":"EUR"}
		return Money{Minor: v, Ccy: "EUR"}
	}
	s.litKey(&keyCurrency)
	c := s.currency()
	s.litByte('}')
	return Money{Minor: v, Ccy: c}
}

// date reads "YYYY-MM-DD" as ParseDate does; a null or an invalid date is left to
// encoding/json (and Date.UnmarshalJSON), which says why. It reads the twelve bytes in
// place: ten digits and dashes between quotes are exactly what raw would return.
func (s *jscan) date() Date {
	if !s.ok || len(s.b)-s.i < 12 {
		s.ok = false
		return Date{}
	}
	v := s.b[s.i : s.i+12 : s.i+12]
	d0, d1, d2, d3 := v[1]-'0', v[2]-'0', v[3]-'0', v[4]-'0'
	m0, m1, dd0, dd1 := v[6]-'0', v[7]-'0', v[9]-'0', v[10]-'0'
	if v[0] != '"' || v[5] != '-' || v[8] != '-' || v[11] != '"' ||
		d0 > 9 || d1 > 9 || d2 > 9 || d3 > 9 || m0 > 9 || m1 > 9 || dd0 > 9 || dd1 > 9 {
		s.ok = false
		return Date{}
	}
	out, err := DateOf(int(d0)*1000+int(d1)*100+int(d2)*10+int(d3), time.Month(int(m0)*10+int(m1)), int(dd0)*10+int(dd1))
	if err != nil {
		s.ok = false
		return Date{}
	}
	s.i += 12
	return out
}

func (s *jscan) terms() Terms {
	v := s.raw()
	if !s.ok {
		return Terms{}
	}
	t, err := ParseTerms(string(v))
	if err != nil {
		s.ok = false
		return Terms{}
	}
	return t
}

// allocations reads null (nil), [] (empty, as encoding/json makes it) or a list.
func (s *jscan) allocations() []Allocation {
	if s.opt(`null`) {
		return nil
	}
	s.litByte('[')
	out := []Allocation{}
	if s.optByte(']') {
		return out
	}
	start := 0
	if s.slab != nil {
		start = len(s.slab.allocs)
		out = s.slab.allocs
	}
	for s.ok {
		var a Allocation
		s.litKey(&keyInvoiceID)
		a.InvoiceID = InvoiceID(s.str())
		s.litKey(&keyAmount)
		a.Amount = s.money()
		s.litByte('}')
		out = append(out, a)
		if !s.optByte(',') {
			break
		}
	}
	s.litByte(']')
	if s.slab != nil {
		s.slab.allocs = out
		out = out[start:len(out):len(out)] // capped: an append by the caller copies
	}
	return out
}
