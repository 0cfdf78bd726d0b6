package ledger

import "unsafe"

// mapEntryBytes is what one entry of the model's index maps costs on average: key, value,
// control byte, and the slack of a map's groups at a typical load.
const mapEntryBytes = 56

// ApproxBytes estimates the heap the model holds: its arrays at capacity, the per-customer
// and per-invoice slices, the ids' bytes and the index maps. It walks every customer and
// invoice (a few ms per million), so callers use it to bound caches of models
// (reports' replay cache), not per event. TestApproxBytes keeps it within a factor of the
// heap measured with runtime.MemStats.
func (m *Model) ApproxBytes() uint64 {
	n := uintptr(unsafe.Sizeof(*m))
	n += chunkBytes(&m.customers)
	m.customers.all(func(_ int32, c *customer) bool {
		n += uintptr(cap(c.invoices)+cap(c.payments)+cap(c.creditNotes)) * 4
		n += uintptr(cap(c.invoiceTags)+cap(c.paymentTags)+cap(c.creditNoteTags)) * 8
		n += uintptr(cap(c.promises)) * unsafe.Sizeof(promise{})
		n += uintptr(len(c.id) + len(c.name))
		return true
	})
	n += chunkBytes(&m.invoices)
	m.invoices.all(func(_ int32, v *invoice) bool {
		n += uintptr(cap(v.entries)) * unsafe.Sizeof(entry{})
		n += uintptr(len(v.id))
		if len(v.number) > 0 && unsafe.StringData(v.number) != unsafe.StringData(string(v.id)) {
			n += uintptr(len(v.number))
		}
		return true
	})
	n += chunkBytes(&m.payments)
	m.payments.all(func(_ int32, p *payment) bool { n += uintptr(len(p.id)); return true })
	n += chunkBytes(&m.creditNotes)
	m.creditNotes.all(func(_ int32, c *creditNote) bool { n += uintptr(len(c.id)); return true })
	n += uintptr(cap(m.plans)) * unsafe.Sizeof(plan{})
	for i := range m.plans {
		n += uintptr(cap(m.plans[i].instalments))*unsafe.Sizeof(instalment{}) + uintptr(len(m.plans[i].id))
	}
	entries := len(m.customerIndex) + len(m.invoiceIndex) + len(m.paymentIndex) + len(m.creditNoteIndex) + len(m.strs)
	n += uintptr(entries) * mapEntryBytes
	for _, pts := range m.rates {
		n += uintptr(cap(pts)) * unsafe.Sizeof(ratePoint{})
	}
	return uint64(n)
}

// chunkBytes is the memory of a chunked array's chunks, filled or not.
func chunkBytes[T any](a *chunks[T]) uintptr {
	var zero T
	n := 0
	for _, c := range a.c {
		n += cap(c)
	}
	return uintptr(n) * unsafe.Sizeof(zero)
}
