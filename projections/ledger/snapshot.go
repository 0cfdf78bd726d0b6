package ledger

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/encours/encours/domain"
)

// snapshotFormat is the first bytes of a snapshot; bump the version (and the engine's
// projection version) when the layout below changes.
//
// Layout: magic | version u8 | string bytes length uvarint | string bytes | fields. Every
// string's bytes are in the one block, in field order; the fields hold their lengths. The
// decoder turns the block into one string and slices each id, name and code out of it: one
// allocation instead of one per string (version 1 interleaved them, and its decode spent a
// sixth of its time allocating strings).
const (
	snapshotMagic   = "ENCL"
	snapshotVersion = 2
)

// ErrBadSnapshot: the snapshot bytes are damaged or of another format.
var ErrBadSnapshot = errors.New("bad ledger snapshot")

type encoder struct{ b, strs []byte }

func (e *encoder) u(v uint64)      { e.b = binary.AppendUvarint(e.b, v) }
func (e *encoder) i(v int64)       { e.b = binary.AppendVarint(e.b, v) }
func (e *encoder) d(v domain.Date) { e.i(int64(v.Days())) }
func (e *encoder) s(v string)      { e.u(uint64(len(v))); e.strs = append(e.strs, v...) }
func (e *encoder) byte1(v uint8)   { e.b = append(e.b, v) }
func (e *encoder) count(n int)     { e.u(uint64(n)) }
func (e *encoder) raw(p []byte)    { e.b = append(e.b, p...) }
func (e *encoder) i32(v int32)     { e.i(int64(v)) }
func (e *encoder) bool1(v bool) {
	if v {
		e.byte1(1)
	} else {
		e.byte1(0)
	}
}
func (e *encoder) ccy(v domain.Currency) { e.s(string(v)) }

// MarshalBinary encodes the model (a live model only: a replay is rebuilt, never stored).
// The running totals and indexes are not stored: UnmarshalBinary re-derives them from the
// detail, and checks the result.
func (m *Model) MarshalBinary() ([]byte, error) {
	if m.replay != nil {
		return nil, fmt.Errorf("ledger: a replayed model is not snapshotted")
	}
	e := &encoder{b: make([]byte, 0, 64+m.invoices.len()*32+len(m.customers)*64),
		strs: make([]byte, 0, m.invoices.len()*16+len(m.customers)*48)}
	e.u(m.position)
	e.raw(m.hash[:])
	e.ccy(m.reporting)
	ccys := sortedCurrencies(m.rates)
	e.count(len(ccys))
	for _, c := range ccys {
		e.ccy(c)
		e.count(len(m.rates[c]))
		for _, p := range m.rates[c] {
			e.d(p.on)
			e.i(p.e9)
		}
	}
	e.count(len(m.customers))
	for i := range m.customers {
		c := &m.customers[i]
		e.s(string(c.id))
		e.s(c.name)
		e.s(c.country)
		e.s(c.sector)
		e.s(c.segment)
		e.ccy(c.currency)
		e.s(c.insurer)
		e.s(c.rating.agency)
		e.s(c.rating.grade)
		e.i(int64(c.rating.score))
		e.d(c.rating.on)
		e.byte1(uint8(c.terms.Kind))
		e.i(int64(c.terms.Days))
		e.i(c.limit)
		e.i(c.covered)
		e.d(c.registeredOn)
		e.i32(c.declarationDays)
		e.u(uint64(c.reversals))
		e.u(uint64(c.disputes))
		e.u(uint64(c.writeOffs))
		e.u(uint64(c.reminders))
		e.count(len(c.promises))
		for _, p := range c.promises {
			e.s(p.id)
			e.i(p.amount)
			e.d(p.promisedFor)
			e.d(p.recordedOn)
		}
	}
	e.count(m.invoices.len())
	for i := range int32(m.invoices.len()) {
		v := m.invoices.at(i)
		e.i32(v.cust)
		e.s(string(v.id))
		e.bool1(v.number == string(v.id))
		if v.number != string(v.id) {
			e.s(v.number)
		}
		e.i(v.amount)
		e.i32(v.plan)
		e.d(v.issue)
		e.d(v.due)
		e.d(v.disputedOn)
		e.d(v.remindedOn)
		e.byte1(v.reminderLevel)
		e.byte1(v.flags)
		e.count(len(v.entries))
		for _, en := range v.entries {
			e.i(en.amount)
			e.d(en.on)
			e.d(en.paidOn)
			e.i32(en.src)
			e.byte1(uint8(en.kind))
		}
	}
	e.count(m.payments.len())
	for i := range int32(m.payments.len()) {
		p := m.payments.at(i)
		e.i32(p.cust)
		e.s(string(p.id))
		e.i(p.amount)
		e.i(p.unallocated)
		e.d(p.received)
		e.d(p.reversedOn)
	}
	e.count(m.creditNotes.len())
	for i := range int32(m.creditNotes.len()) {
		n := m.creditNotes.at(i)
		e.i32(n.cust)
		e.s(string(n.id))
		e.i(n.amount)
		e.i(n.standing)
		e.i32(n.invoice)
		e.d(n.issue)
	}
	e.count(len(m.plans))
	for i := range m.plans {
		p := &m.plans[i]
		e.i32(p.cust)
		e.s(p.id)
		e.d(p.agreedOn)
		e.i(p.openAtAgreement)
		e.count(len(p.instalments))
		for _, in := range p.instalments {
			e.d(in.due)
			e.i(in.amount)
		}
	}
	out := make([]byte, 0, len(snapshotMagic)+1+binary.MaxVarintLen64+len(e.strs)+len(e.b))
	out = append(out, snapshotMagic...)
	out = append(out, snapshotVersion)
	out = binary.AppendUvarint(out, uint64(len(e.strs)))
	out = append(out, e.strs...)
	return append(out, e.b...), nil
}

// decoder reads what encoder wrote. The first error sticks; every count is checked against
// the bytes left, so damaged input never makes it allocate much.
type decoder struct {
	b    []byte
	strs string // the string block, consumed by s
	err  error
}

func (d *decoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s at %d bytes from the end", ErrBadSnapshot, what, len(d.b))
	}
}

func (d *decoder) u() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail("uvarint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) i() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail("varint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) i32() int32 {
	v := d.i()
	if v != int64(int32(v)) {
		d.fail("int32")
	}
	return int32(v)
}

func (d *decoder) d() domain.Date {
	v := d.i()
	if v != int64(int32(v)) {
		d.fail("date")
	}
	return domain.DateFromDays(int32(v))
}

func (d *decoder) bytes(n int) []byte {
	if d.err != nil {
		return nil
	}
	if n < 0 || n > len(d.b) {
		d.fail("length")
		return nil
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) s() string {
	n := d.u()
	if n > uint64(len(d.strs)) {
		d.fail("string length")
		return ""
	}
	v := d.strs[:n]
	d.strs = d.strs[n:]
	return v
}
func (d *decoder) byte1() uint8 {
	b := d.bytes(1)
	if b == nil {
		return 0
	}
	return b[0]
}
func (d *decoder) ccy() domain.Currency { return domain.Currency(d.s()) }

// count reads a number of items each at least minBytes long.
func (d *decoder) count(minBytes int) int {
	n := d.u()
	if n > uint64(len(d.b)/max(minBytes, 1)) {
		d.fail("count")
		return 0
	}
	return int(n)
}

// UnmarshalBinary replaces m with a model decoded from MarshalBinary's bytes, re-deriving
// its indexes and running totals, and checking references and totals.
func (m *Model) UnmarshalBinary(b []byte) error {
	d := &decoder{b: b}
	if string(d.bytes(len(snapshotMagic))) != snapshotMagic || d.byte1() != snapshotVersion {
		return fmt.Errorf("%w: not a ledger snapshot of format %d", ErrBadSnapshot, snapshotVersion)
	}
	d.strs = string(d.bytes(d.count(1)))
	n := New()
	n.position = d.u()
	copy(n.hash[:], d.bytes(len(n.hash)))
	n.reporting = domain.Currency(n.intern(string(d.ccy())))
	for range d.count(2) {
		c := domain.Currency(n.intern(string(d.ccy())))
		pts := make([]ratePoint, d.count(2))
		for i := range pts {
			pts[i] = ratePoint{on: d.d(), e9: d.i()}
		}
		n.rates[c] = pts
	}
	n.customers = make([]customer, d.count(20))
	// Indexes sized once: growing them entry by entry was most of the decode time.
	n.customerIndex = make(map[domain.CustomerID]int32, len(n.customers))
	for i := range n.customers {
		c := &n.customers[i]
		c.id = domain.CustomerID(d.s())
		c.name = d.s()
		c.country = n.intern(d.s())
		c.sector = n.intern(d.s())
		c.segment = n.intern(d.s())
		c.currency = domain.Currency(n.intern(d.s()))
		c.insurer = n.intern(d.s())
		c.rating.agency = n.intern(d.s())
		c.rating.grade = n.intern(d.s())
		c.rating.score = int32(d.i())
		c.rating.on = d.d()
		c.terms.Kind = domain.TermsKind(d.byte1())
		c.terms.Days = int(d.i())
		c.limit = d.i()
		c.covered = d.i()
		c.registeredOn = d.d()
		c.declarationDays = d.i32()
		c.reversals = uint32(d.u())
		c.disputes = uint32(d.u())
		c.writeOffs = uint32(d.u())
		c.reminders = uint32(d.u())
		if k := d.count(4); k > 0 {
			c.promises = make([]promise, k)
			for j := range c.promises {
				c.promises[j] = promise{id: d.s(), amount: d.i(), promisedFor: d.d(), recordedOn: d.d()}
			}
		}
		if _, dup := n.customerIndex[c.id]; dup {
			d.fail("duplicate customer")
		}
		n.customerIndex[c.id] = int32(i)
		n.totalsOf(c.currency).customers++
	}
	nc := int32(len(n.customers))
	custOK := func(ci int32) bool {
		if ci < 0 || ci >= nc {
			d.fail("customer index")
			return false
		}
		return true
	}
	n.invoices.resize(d.count(12))
	var entryPool []entry
	for i := range int32(n.invoices.len()) {
		v := n.invoices.at(i)
		v.cust = d.i32()
		v.id = domain.InvoiceID(d.s())
		if d.byte1() == 1 {
			v.number = string(v.id)
		} else {
			v.number = d.s()
		}
		v.amount = d.i()
		v.plan = d.i32()
		v.issue, v.due, v.disputedOn, v.remindedOn = d.d(), d.d(), d.d(), d.d()
		v.reminderLevel = d.byte1()
		v.flags = d.byte1()
		if k := d.count(6); k > 0 {
			// Carved from a shared block (one allocation per entriesBlock entries rather
			// than one per invoice), capped so that a later append copies.
			if len(entryPool) < k {
				entryPool = make([]entry, max(k, entriesBlock))
			}
			v.entries, entryPool = entryPool[:k:k], entryPool[k:]
			for j := range v.entries {
				v.entries[j] = entry{amount: d.i(), on: d.d(), paidOn: d.d(), src: d.i32(), kind: entryKind(d.byte1())}
			}
		}
		v.open = v.amount
		for _, en := range v.entries {
			v.open -= en.amount
		}
		if !custOK(v.cust) {
			break
		}
		n.customers[v.cust].openInvoices += v.open // the portfolio totals: after the loops
	}
	n.payments.resize(d.count(6))
	for i := range int32(n.payments.len()) {
		p := n.payments.at(i)
		p.cust = d.i32()
		p.id = domain.PaymentID(d.s())
		p.amount, p.unallocated = d.i(), d.i()
		p.received, p.reversedOn = d.d(), d.d()
		if !custOK(p.cust) {
			break
		}
		n.customers[p.cust].unallocated += p.unallocated
	}
	n.creditNotes.resize(d.count(6))
	for i := range int32(n.creditNotes.len()) {
		cn := n.creditNotes.at(i)
		cn.cust = d.i32()
		cn.id = domain.CreditNoteID(d.s())
		cn.amount, cn.standing = d.i(), d.i()
		cn.invoice = d.i32()
		cn.issue = d.d()
		if !custOK(cn.cust) {
			break
		}
		if cn.invoice < -1 || cn.invoice >= int32(n.invoices.len()) {
			d.fail("credit note invoice")
			break
		}
		n.customers[cn.cust].standingCredit += cn.standing
	}
	n.plans = make([]plan, d.count(5))
	for i := range n.plans {
		p := &n.plans[i]
		p.cust = d.i32()
		p.id = d.s()
		p.agreedOn = d.d()
		p.openAtAgreement = d.i()
		p.instalments = make([]instalment, d.count(2))
		for j := range p.instalments {
			p.instalments[j] = instalment{due: d.d(), amount: d.i()}
		}
		if len(p.instalments) == 0 {
			d.fail("plan without instalments")
		}
		custOK(p.cust)
	}
	if d.err == nil && (len(d.b) != 0 || len(d.strs) != 0) {
		d.fail("trailing bytes")
	}
	if d.err != nil {
		return d.err
	}
	// Each customer's documents, in document order, carved from one array per kind; only
	// the lists longer than docScanMax go into the indexes.
	invs := groupByCustomer(len(n.customers), n.invoices.len(), func(i int) int32 { return n.invoices.at(int32(i)).cust })
	pays := groupByCustomer(len(n.customers), n.payments.len(), func(i int) int32 { return n.payments.at(int32(i)).cust })
	cns := groupByCustomer(len(n.customers), n.creditNotes.len(), func(i int) int32 { return n.creditNotes.at(int32(i)).cust })
	for ci := range n.customers {
		c := &n.customers[ci]
		t := n.totalsOf(c.currency)
		t.openInvoices += c.openInvoices
		t.unallocated += c.unallocated
		t.standingCredit += c.standingCredit
		c.invoices, c.payments, c.creditNotes = invs[ci], pays[ci], cns[ci]
		indexAll(n.invoiceIndex, int32(ci), c.invoices, func(i int32) string { return string(n.invoices.at(i).id) })
		indexAll(n.paymentIndex, int32(ci), c.payments, func(i int32) string { return string(n.payments.at(i).id) })
		indexAll(n.creditNoteIndex, int32(ci), c.creditNotes, func(i int32) string { return string(n.creditNotes.at(i).id) })
	}
	// References the metrics follow blindly: check them once here.
	for i := range int32(n.invoices.len()) {
		v := n.invoices.at(i)
		if v.plan < 0 || int(v.plan) > len(n.plans) {
			return fmt.Errorf("%w: invoice %s plan %d", ErrBadSnapshot, v.id, v.plan)
		}
		for _, en := range v.entries {
			ok := false
			switch en.kind {
			case entryCash, entryReopen:
				ok = en.src >= 0 && int(en.src) < n.payments.len()
			case entryCredit:
				ok = en.src >= 0 && int(en.src) < n.creditNotes.len()
			case entryWriteOff:
				ok = en.src == -1
			}
			if !ok {
				return fmt.Errorf("%w: invoice %s entry %v from %d", ErrBadSnapshot, v.id, en.kind, en.src)
			}
		}
	}
	for c := range n.rates {
		if !slices.IsSortedFunc(n.rates[c], func(a, b ratePoint) int { return int(a.on.Days() - b.on.Days()) }) {
			return fmt.Errorf("%w: rates of %s out of order", ErrBadSnapshot, c)
		}
	}
	if err := n.check(); err != nil {
		return fmt.Errorf("%w: %v", ErrBadSnapshot, err)
	}
	*m = *n
	return nil
}

// entriesBlock is how many invoice entries UnmarshalBinary allocates at once.
const entriesBlock = 4096

// groupByCustomer returns, for each of customers, the indexes i < docs whose custOf(i) is
// that customer, in increasing order: every list is a slice of one shared array (a counting
// sort), capped at its length so that a later append copies it rather than overwrite the next
// customer's. Empty lists are nil. custOf must return indexes below customers.
func groupByCustomer(customers, docs int, custOf func(i int) int32) [][]int32 {
	counts := make([]int, customers+1)
	for i := range docs {
		counts[custOf(i)+1]++
	}
	for ci := range customers {
		counts[ci+1] += counts[ci] // counts[ci] is now where customer ci's list starts
	}
	all := make([]int32, docs)
	next := append([]int(nil), counts[:customers]...)
	for i := range docs {
		ci := custOf(i)
		all[next[ci]] = int32(i)
		next[ci]++
	}
	out := make([][]int32, customers)
	for ci := range customers {
		if lo, hi := counts[ci], counts[ci+1]; hi > lo {
			out[ci] = all[lo:hi:hi]
		}
	}
	return out
}

// indexAll puts customer ci's documents in index when the customer has more than docScanMax
// (see Model.docOf).
func indexAll(index map[docKey]int32, ci int32, list []int32, idOf func(int32) string) {
	if len(list) > docScanMax {
		for _, i := range list {
			index[docKey{ci, idOf(i)}] = i
		}
	}
}
