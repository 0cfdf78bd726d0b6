package ledger

import (
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/encours/encours/domain"
)

// snapshotFormat is the first bytes of a snapshot; bump the version (and the engine's
// projection version) when the layout below changes.
//
// Layout: magic | version u8 | parts. A part is string bytes length uvarint | fields length
// uvarint | string bytes | fields. Every string's bytes are in its part's block, in field
// order; the fields hold their lengths. The decoder turns a block into one string and slices
// each id, name and code out of it: one allocation instead of one per string (version 1
// interleaved them, and its decode spent a sixth of its time allocating strings).
//
// The first part holds the position, the rates and the numbers of customers and invoices;
// then one part with the customers; one part per chunkLen invoices (the last one fewer);
// one part with the payments, credit notes and plans. The parts after the first decode in
// parallel, the invoices straight into their chunks, so a restart's decode uses every core
// (version 2 was one part; version 3 decoded the customers before the other parts).
const (
	snapshotMagic   = "ENCL"
	snapshotVersion = 4
)

// ErrBadSnapshot: the snapshot bytes are damaged or of another format.
var ErrBadSnapshot = errors.New("bad ledger snapshot")

type encoder struct{ b, strs []byte }

// flush appends the part encoded since the last flush to out.
func (e *encoder) flush(out []byte) []byte {
	out = binary.AppendUvarint(out, uint64(len(e.strs)))
	out = binary.AppendUvarint(out, uint64(len(e.b)))
	out = append(out, e.strs...)
	out = append(out, e.b...)
	e.b, e.strs = e.b[:0], e.strs[:0]
	return out
}

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
	e := &encoder{b: make([]byte, 0, 64+chunkLen*64+m.customers.len()*64),
		strs: make([]byte, 0, chunkLen*32+m.customers.len()*48)}
	out := make([]byte, 0, 64+m.invoices.len()*48+m.payments.len()*32+m.customers.len()*112)
	out = append(out, snapshotMagic...)
	out = append(out, snapshotVersion)
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
	e.count(m.customers.len())
	e.count(m.invoices.len())
	out = e.flush(out)
	for i := range int32(m.customers.len()) {
		c := m.customers.at(i)
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
	out = e.flush(out)
	for i := range int32(m.invoices.len()) {
		if i > 0 && i%chunkLen == 0 {
			out = e.flush(out)
		}
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
	if m.invoices.len() > 0 {
		out = e.flush(out)
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
	return e.flush(out), nil
}

// decoder reads what encoder wrote. The first error sticks; every count is checked against
// the bytes left, so damaged input never makes it allocate much.
type decoder struct {
	raw  []byte // a part's string bytes until begin
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
// its indexes and running totals, and checking references and totals. The invoice parts and
// the last part are decoded in parallel, one goroutine per core.
func (m *Model) UnmarshalBinary(b []byte) error {
	top := &decoder{b: b}
	if string(top.bytes(len(snapshotMagic))) != snapshotMagic || top.byte1() != snapshotVersion {
		return fmt.Errorf("%w: not a ledger snapshot of format %d", ErrBadSnapshot, snapshotVersion)
	}
	d := top.part()
	if top.err != nil {
		return top.err
	}
	d.begin()
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
	customers, invoices := d.u(), d.u()
	if customers > uint64(len(top.b)/20) { // a customer takes at least 20 bytes
		d.fail("customer count")
	}
	if invoices > uint64(len(top.b)/12) { // an invoice takes at least 12 bytes
		d.fail("invoice count")
	}
	d.end()
	if d.err != nil {
		return d.err
	}
	// The parts' bounds first (cheap), then their contents in parallel: the customers, the
	// invoice parts, the last part.
	custs := top.part()
	parts := make([]*decoder, 0, (invoices+chunkLen-1)/chunkLen+1)
	for range (invoices + chunkLen - 1) / chunkLen {
		parts = append(parts, top.part())
	}
	last := top.part()
	if top.err == nil && len(top.b) != 0 {
		top.fail("trailing bytes")
	}
	if top.err != nil {
		return top.err
	}
	n.customers.resize(int(customers))
	n.invoices.resize(int(invoices))
	nc := int32(customers)
	workers := max(1, min(runtime.GOMAXPROCS(0), snapshotDecodersMax, len(parts)+2))
	// Each worker's sums per customer of open invoices; the last part's of cash on
	// account and standing credit: only the customers' job writes the customers.
	open := make([][]int64, workers)
	unallocated, standing := make([]int64, nc), make([]int64, nc)
	var next atomic.Int64
	decode := func(w int) {
		var pool []entry
		for k := int(next.Add(1) - 1); k <= len(parts)+1; k = int(next.Add(1) - 1) {
			switch k {
			case 0:
				n.decodeCustomers(custs)
			case len(parts) + 1:
				n.decodeLastPart(last, nc, unallocated, standing)
			default:
				if open[w] == nil {
					open[w] = make([]int64, nc)
				}
				pool = n.decodeInvoicePart(parts[k-1], k-1, nc, pool, open[w])
			}
		}
	}
	var wg sync.WaitGroup
	for w := 1; w < workers; w++ {
		wg.Add(1)
		go func() { // ends when every part is taken
			defer wg.Done()
			decode(w)
		}()
	}
	decode(0)
	wg.Wait()
	for _, p := range append(append([]*decoder{custs}, parts...), last) {
		if p.err != nil {
			return p.err
		}
	}
	for ci := range nc { // the portfolio totals: below
		c := n.customers.at(ci)
		c.unallocated, c.standingCredit = unallocated[ci], standing[ci]
		for _, sums := range open {
			if sums != nil {
				c.openInvoices += sums[ci]
			}
		}
	}
	// Each customer's documents, in document order, carved from one array per kind; only
	// the lists longer than docScanMax go into the indexes.
	// The three are independent: the payments' and credit notes' beside the invoices';
	// then that goroutine checks the references while this one derives and checks the
	// totals (both only read the documents).
	var invs, pays, cns [][]int32
	var refsErr error
	grouped := make(chan struct{})
	wg.Add(1)
	go func() { // ends after two counting sorts and the references' check
		defer wg.Done()
		pays = groupByCustomer(n.customers.len(), n.payments.len(), func(i int) int32 { return n.payments.at(int32(i)).cust })
		cns = groupByCustomer(n.customers.len(), n.creditNotes.len(), func(i int) int32 { return n.creditNotes.at(int32(i)).cust })
		close(grouped)
		refsErr = n.checkReferences()
	}()
	invs = groupByCustomer(n.customers.len(), n.invoices.len(), func(i int) int32 { return n.invoices.at(int32(i)).cust })
	<-grouped
	for ci := range int32(n.customers.len()) {
		c := n.customers.at(ci)
		t := n.totalsOf(c.currency)
		t.openInvoices += c.openInvoices
		t.unallocated += c.unallocated
		t.standingCredit += c.standingCredit
		c.invoices, c.payments, c.creditNotes = invs[ci], pays[ci], cns[ci]
		indexAll(n.invoiceIndex, int32(ci), c.invoices, func(i int32) string { return string(n.invoices.at(i).id) })
		indexAll(n.paymentIndex, int32(ci), c.payments, func(i int32) string { return string(n.payments.at(i).id) })
		indexAll(n.creditNoteIndex, int32(ci), c.creditNotes, func(i int32) string { return string(n.creditNotes.at(i).id) })
	}
	checkErr := n.check() // does not follow the references being checked meanwhile
	wg.Wait()
	if refsErr != nil {
		return refsErr
	}
	for c := range n.rates {
		if !slices.IsSortedFunc(n.rates[c], func(a, b ratePoint) int { return int(a.on.Days() - b.on.Days()) }) {
			return fmt.Errorf("%w: rates of %s out of order", ErrBadSnapshot, c)
		}
	}
	if checkErr != nil {
		return fmt.Errorf("%w: %v", ErrBadSnapshot, checkErr)
	}
	*m = *n
	return nil
}

// checkReferences checks the references the metrics follow blindly, once: each invoice's
// plan and the payment or credit note of each of its entries.
func (n *Model) checkReferences() error {
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
	return nil
}

// snapshotDecodersMax bounds the goroutines of a snapshot's decode.
const snapshotDecodersMax = 8

// part reads the bounds of the next part and returns its decoder (begin makes its strings);
// a part beyond the bytes left fails d.
func (d *decoder) part() *decoder {
	ns, nb := d.u(), d.u()
	if d.err == nil && (ns > uint64(len(d.b)) || nb > uint64(len(d.b))-ns) {
		d.fail("part length")
	}
	if d.err != nil {
		return &decoder{err: d.err}
	}
	p := &decoder{raw: d.b[:ns:ns], b: d.b[ns : ns+nb : ns+nb]}
	d.b = d.b[ns+nb:]
	return p
}

// begin turns the part's string bytes into the one string its strings are sliced from.
func (d *decoder) begin() {
	d.strs, d.raw = string(d.raw), nil
}

// end fails d unless all of its part was read.
func (d *decoder) end() {
	if d.err == nil && (len(d.b) != 0 || len(d.strs) != 0) {
		d.fail("trailing bytes")
	}
}

func custOK(d *decoder, ci, customers int32) bool {
	if ci < 0 || ci >= customers {
		d.fail("customer index")
		return false
	}
	return true
}

// decodeCustomers decodes the customers' part into n.customers, sized beforehand, and
// indexes them. It runs beside the other parts' decoding, which do not touch the customers.
func (n *Model) decodeCustomers(d *decoder) {
	d.begin()
	// Indexes sized once: growing them entry by entry was most of the decode time.
	n.customerIndex = make(map[domain.CustomerID]int32, n.customers.len())
	for i := range int32(n.customers.len()) {
		c := n.customers.at(i)
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
	d.end()
}

// decodeInvoicePart decodes the invoices of part k into their chunk, adding their open
// amounts to open (one per customer). Entries are carved from pool, which it returns.
func (n *Model) decodeInvoicePart(d *decoder, k int, customers int32, pool []entry, open []int64) []entry {
	d.begin()
	invs := n.invoices.c[k][:min(chunkLen, n.invoices.n-k*chunkLen)]
	for i := range invs {
		v := &invs[i]
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
			if len(pool) < k {
				pool = make([]entry, max(k, entriesBlock))
			}
			v.entries, pool = pool[:k:k], pool[k:]
			for j := range v.entries {
				v.entries[j] = entry{amount: d.i(), on: d.d(), paidOn: d.d(), src: d.i32(), kind: entryKind(d.byte1())}
			}
		}
		v.open = v.amount
		for _, en := range v.entries {
			v.open -= en.amount
		}
		if !custOK(d, v.cust, customers) {
			break
		}
		open[v.cust] += v.open
	}
	d.end()
	return pool
}

// decodeLastPart decodes the payments, credit notes and plans, summing their amounts on
// account and standing per customer. It runs beside the other parts' decoding.
func (n *Model) decodeLastPart(d *decoder, customers int32, unallocated, standing []int64) {
	d.begin()
	n.payments.resize(d.count(6))
	for i := range int32(n.payments.len()) {
		p := n.payments.at(i)
		p.cust = d.i32()
		p.id = domain.PaymentID(d.s())
		p.amount, p.unallocated = d.i(), d.i()
		p.received, p.reversedOn = d.d(), d.d()
		if !custOK(d, p.cust, customers) {
			break
		}
		unallocated[p.cust] += p.unallocated
	}
	n.creditNotes.resize(d.count(6))
	for i := range int32(n.creditNotes.len()) {
		cn := n.creditNotes.at(i)
		cn.cust = d.i32()
		cn.id = domain.CreditNoteID(d.s())
		cn.amount, cn.standing = d.i(), d.i()
		cn.invoice = d.i32()
		cn.issue = d.d()
		if !custOK(d, cn.cust, customers) {
			break
		}
		if cn.invoice < -1 || cn.invoice >= int32(n.invoices.len()) {
			d.fail("credit note invoice")
			break
		}
		standing[cn.cust] += cn.standing
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
		custOK(d, p.cust, customers)
	}
	d.end()
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
