package command

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"

	"github.com/encours/encours/domain"
	"github.com/encours/encours/eventstore"
)

// idKind is the kind of id the directory maps to a customer.
type idKind uint8

const (
	idInvoice idKind = iota
	idPayment
	idCreditNote
	idKinds
)

// directoryScanPagesMax bounds one catch-up: at ReadLimitMax events a page, a log of up to
// ten billion events. A longer log is a broken invariant, not a state to loop on forever.
const directoryScanPagesMax = 1_000_000

// owner is the customer an id belongs to. pending marks a claim made by a command that has
// not appended yet: it keeps two concurrent commands of two customers from both taking the id.
type owner struct {
	customer domain.CustomerID
	pending  bool
}

// directory maps invoice, payment and credit-note ids to their customer. It follows the log:
// catchUp reads every event after the last one it indexed, so it is complete at start (the
// first catch-up reads the whole log once, or the events after its snapshot: Warm) and it sees what other processes appended as soon
// as a lookup misses.
type directory struct {
	store eventStore

	catchMu sync.Mutex // one catch-up at a time; never held with a customer lock taken after it

	mu       sync.RWMutex
	position uint64 // last log position indexed
	ids      [idKinds]map[string]*owner
	savedAt  uint64         // position of the snapshot last loaded or written (0: none)
	stats    DirectoryStats // EventsRead and how the snapshot was used; Position is read from position
}

func newDirectory(store eventStore) *directory {
	d := &directory{store: store}
	for k := range d.ids {
		d.ids[k] = make(map[string]*owner)
	}
	return d
}

// lookup returns the customer of id, catching up with the log once on a miss.
func (d *directory) lookup(ctx context.Context, k idKind, id string) (domain.CustomerID, bool, error) {
	if c, ok := d.committed(k, id); ok {
		return c, true, nil
	}
	if err := d.catchUp(ctx); err != nil {
		return "", false, err
	}
	c, ok := d.committed(k, id)
	return c, ok, nil
}

func (d *directory) committed(k idKind, id string) (domain.CustomerID, bool) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	o, ok := d.ids[k][id]
	if !ok || o.pending {
		return "", false
	}
	return o.customer, true
}

// claim reserves id for customer until the command appends (commit) or fails (release).
// An id owned, or claimed, by another customer is refused with the kind's duplicate code.
func (d *directory) claim(ctx context.Context, k idKind, id string, customer domain.CustomerID) (*claim, error) {
	if err := d.catchUp(ctx); err != nil {
		return nil, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if o, ok := d.ids[k][id]; ok {
		if o.customer != customer {
			return nil, duplicateIDError(k, id)
		}
		return &claim{d: d, k: k, id: id}, nil // same customer: Decide judges the duplicate
	}
	o := &owner{customer: customer, pending: true}
	d.ids[k][id] = o
	return &claim{d: d, k: k, id: id, own: o}, nil
}

// claim is one reservation; own is nil when the id was already this customer's.
type claim struct {
	d   *directory
	k   idKind
	id  string
	own *owner
}

// commit makes the reservation permanent after a successful append.
func (c *claim) commit() {
	if c == nil || c.own == nil {
		return
	}
	c.d.mu.Lock()
	defer c.d.mu.Unlock()
	c.own.pending = false
}

// release drops the reservation after a failed command, unless the log has meanwhile shown
// the id as someone's (a catch-up replaced the entry).
func (c *claim) release() {
	if c == nil || c.own == nil {
		return
	}
	c.d.mu.Lock()
	defer c.d.mu.Unlock()
	if c.d.ids[c.k][c.id] == c.own && c.own.pending {
		delete(c.d.ids[c.k], c.id)
	}
}

// duplicateIDError does not name the other customer: one customer's client must not learn
// who else the id belongs to.
func duplicateIDError(k idKind, id string) error {
	switch k {
	case idInvoice:
		return domain.FieldErrorf(domain.KindConflict, domain.CodeDuplicateInvoice, "invoice_id", "invoice %s is already recorded for another customer", id)
	case idPayment:
		return domain.FieldErrorf(domain.KindConflict, domain.CodeDuplicatePayment, "payment_id", "payment %s is already recorded for another customer", id)
	default:
		return domain.FieldErrorf(domain.KindConflict, domain.CodeDuplicateCreditNote, "credit_note_id", "credit note %s is already recorded for another customer", id)
	}
}

// catchUp indexes every event after the last one indexed.
func (d *directory) catchUp(ctx context.Context) error {
	// Nothing appended since the last event indexed: nothing to read. A bulk import looks up
	// millions of new ids, each a miss; a store that knows its head in memory (the embedded
	// one) answers without the catch-up's lock, which concurrent lookups would queue on.
	if hs, ok := d.store.(interface{ LastPosition() uint64 }); ok {
		d.mu.RLock()
		indexed := d.position
		d.mu.RUnlock()
		if hs.LastPosition() <= indexed {
			return nil
		}
	}
	d.catchMu.Lock()
	defer d.catchMu.Unlock()
	d.mu.RLock()
	from := d.position + 1
	d.mu.RUnlock()
	for range directoryScanPagesMax {
		page, err := d.store.ReadAll(ctx, from, eventstore.ReadLimitMax)
		if err != nil {
			return fmt.Errorf("directory: read log from %d: %w", from, err)
		}
		if len(page) == 0 {
			return nil
		}
		d.mu.Lock()
		for i := range page {
			e := &page[i]
			if e.Position != from+uint64(i) {
				d.mu.Unlock()
				return fmt.Errorf("directory: log position %d, want %d (the store must be gap-free)", e.Position, from+uint64(i))
			}
			if err := d.indexLocked(e); err != nil {
				d.mu.Unlock()
				return err
			}
			d.position = e.Position
		}
		d.stats.EventsRead += uint64(len(page))
		d.mu.Unlock()
		from = page[len(page)-1].Position + 1
		if len(page) < eventstore.ReadLimitMax {
			return nil
		}
	}
	panic(fmt.Sprintf("command: directory catch-up read more than %d pages", directoryScanPagesMax))
}

// indexAppended indexes the events of an append this service has just made (decided as
// events, appended as envs), whose last event is at position last, when they directly follow
// what the directory has indexed: what the next catch-up would do with them, without reading
// them back from the store nor decoding their data (on the write path that was a sixth of a
// request's CPU). Otherwise (another append landed in between and is not indexed yet, or a
// catch-up is under way) it leaves them to catchUp.
func (d *directory) indexAppended(events []domain.Event, envs []domain.Envelope, last uint64) {
	n := uint64(len(envs))
	if n == 0 || last < n || len(events) != len(envs) || !d.catchMu.TryLock() {
		return
	}
	defer d.catchMu.Unlock()
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.position != last-n {
		return
	}
	for i := range envs {
		e := &envs[i]
		customer, ok := strings.CutPrefix(e.Stream, domain.CustomerStreamPrefix)
		switch ev := events[i].(type) {
		case domain.InvoiceIssued:
			if ok {
				d.recordLocked(idInvoice, string(ev.InvoiceID), domain.CustomerID(customer))
			}
		case domain.PaymentReceived:
			if ok {
				d.recordLocked(idPayment, string(ev.PaymentID), domain.CustomerID(customer))
			}
		case domain.CreditNoteIssued:
			if ok {
				d.recordLocked(idCreditNote, string(ev.CreditNoteID), domain.CustomerID(customer))
			}
		default: // any other form: from its data, as the catch-up reads it
			env := *e
			env.Position = last - n + 1 + uint64(i)
			if err := d.indexLocked(&env); err != nil {
				return // the catch-up reads it from the store, and reports what it finds
			}
		}
		d.position = last - n + 1 + uint64(i)
	}
}

// idFields is the part of an event's data the directory reads. Decoding only these fields
// keeps the start-up scan cheap and tolerant of fields it does not need.
type idFields struct {
	InvoiceID    string `json:"invoice_id"`
	PaymentID    string `json:"payment_id"`
	CreditNoteID string `json:"credit_note_id"`
}

func (d *directory) indexLocked(e *domain.Envelope) error {
	customer, ok := strings.CutPrefix(e.Stream, domain.CustomerStreamPrefix)
	if !ok {
		return nil
	}
	var k idKind
	switch e.Type {
	case domain.TypeInvoiceIssued:
		k = idInvoice
	case domain.TypePaymentReceived:
		k = idPayment
	case domain.TypeCreditNoteIssued:
		k = idCreditNote
	default:
		return nil
	}
	// The events the log holds most decode without reflection (domain's fast decoder reads
	// json.Marshal's own bytes): json.Unmarshal of idFields was ~2 % of a POST's CPU, spent
	// in the catch-ups that concurrent appends cause, and most of the directory's first scan.
	if k != idCreditNote {
		if ev, err := domain.DecodeEvent(e.Type, e.SchemaVersion, e.Data); err == nil {
			switch ev := ev.(type) {
			case domain.InvoiceIssued:
				d.recordLocked(k, string(ev.InvoiceID), domain.CustomerID(customer))
				return nil
			case domain.PaymentReceived:
				d.recordLocked(k, string(ev.PaymentID), domain.CustomerID(customer))
				return nil
			}
		}
	}
	var f idFields
	if err := json.Unmarshal(e.Data, &f); err != nil {
		// The event was validated when it was appended: data that does not decode means a
		// damaged store, and deciding on a partial directory would be wrong. The position is
		// not indexed, so the next catch-up tries again and fails the same way.
		return fmt.Errorf("directory: event at position %d (%s): %w", e.Position, e.Type, err)
	}
	d.recordLocked(k, [idKinds]string{f.InvoiceID, f.PaymentID, f.CreditNoteID}[k], domain.CustomerID(customer))
	return nil
}

// recordLocked records that the log holds id, of kind k, for customer. The caller holds mu.
func (d *directory) recordLocked(k idKind, id string, customer domain.CustomerID) {
	if id == "" {
		return
	}
	switch o, ok := d.ids[k][id]; {
	case ok && o.customer == customer:
		o.pending = false
	case !ok || o.pending:
		// A pending claim of another customer loses to what the log already holds.
		d.ids[k][id] = &owner{customer: customer}
	}
	// An id committed to two customers can only come from two processes racing (the store has
	// no unique index across streams); the first one in the log keeps it.
}
