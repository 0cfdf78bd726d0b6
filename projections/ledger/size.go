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
	n += uintptr(cap(m.customers)) * unsafe.Sizeof(customer{})
	for i := range m.customers {
		c := &m.customers[i]
		n += uintptr(cap(c.invoices)+cap(c.payments)+cap(c.creditNotes)) * 4
		n += uintptr(cap(c.promises)) * unsafe.Sizeof(promise{})
		n += uintptr(len(c.id) + len(c.name))
	}
	n += uintptr(cap(m.invoices)) * unsafe.Sizeof(invoice{})
	for i := range m.invoices {
		v := &m.invoices[i]
		n += uintptr(cap(v.entries)) * unsafe.Sizeof(entry{})
		n += uintptr(len(v.id))
		if len(v.number) > 0 && unsafe.StringData(v.number) != unsafe.StringData(string(v.id)) {
			n += uintptr(len(v.number))
		}
	}
	n += uintptr(cap(m.payments)) * unsafe.Sizeof(payment{})
	for i := range m.payments {
		n += uintptr(len(m.payments[i].id))
	}
	n += uintptr(cap(m.creditNotes)) * unsafe.Sizeof(creditNote{})
	for i := range m.creditNotes {
		n += uintptr(len(m.creditNotes[i].id))
	}
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
