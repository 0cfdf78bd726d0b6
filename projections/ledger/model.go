package ledger

import (
	"errors"
	"fmt"
	"iter"
	"strings"
	"time"

	"github.com/encours/encours/domain"
)

// Errors callers tell apart with errors.Is. Apply wraps them with the position and event.
var (
	// ErrGap: the envelope is not the one right after the model's position. The engine
	// re-subscribes from Position()+1; a gap is never skipped.
	ErrGap = errors.New("position gap")
	// ErrInconsistent: the event contradicts the model (an unknown customer or invoice, an
	// allocation above the open amount, a currency other than the customer's). Events are
	// checked by domain.Decide before they are appended, so this means a bug or a damaged
	// log: the model is left unchanged and the engine stops rather than show wrong figures.
	ErrInconsistent = errors.New("event inconsistent with the ledger")
	// ErrOutOfOrder: Replay was given envelopes whose positions do not increase.
	ErrOutOfOrder = errors.New("envelopes out of position order")
)

// internMax bounds the table of interned profile strings (countries, sectors, segments,
// currencies, insurers, agencies): these sets are small in practice, and beyond the bound a
// string is simply kept as decoded, so memory stays proportional to the data either way.
const internMax = 4096

// entryKind says what moved an invoice's open amount.
type entryKind uint8

const (
	entryCash     entryKind = iota + 1 // cash from a payment, applied at receipt or later
	entryCredit                        // a credit note, applied at issue or later from standing credit
	entryWriteOff                      // loss recognised (InvoiceWrittenOff)
	entryReopen                        // a payment reversal re-opening cash; amount is negative
)

// entry is one dated change of an invoice's open amount: the settlement history. Keeping it
// dated is what lets the metrics compute AR at any earlier date (opening AR of CEI) and the
// days to pay of each settled amount. 24 bytes.
type entry struct {
	amount int64       // minor units taken off the open amount (negative: re-opened)
	on     domain.Date // business date of the change (the event's effective date)
	paidOn domain.Date // cash: the day the customer paid (payment received_on); otherwise on
	src    int32       // payment index (cash, reopen), credit-note index (credit), -1 (write-off)
	kind   entryKind
}

// Invoice flags.
const (
	invDisputed   uint8 = 1 << iota // an open dispute (InvoiceDisputed, not yet DisputeResolved)
	invWrittenOff                   // InvoiceWrittenOff seen
)

// invoice is compact on purpose (target: ≤ 200 B per open invoice, index included): dates are
// 4-byte day numbers, the customer and plan are indexes, and the settlement history is nil
// until something is settled.
type invoice struct {
	id            domain.InvoiceID
	number        string // shares id's bytes when equal, as in most imports
	entries       []entry
	amount        int64
	open          int64 // amount − Σ entries.amount
	cust          int32
	plan          int32 // 1 + index in Model.plans; 0: not under a payment plan
	issue         domain.Date
	due           domain.Date
	disputedOn    domain.Date
	remindedOn    domain.Date
	reminderLevel uint8
	flags         uint8
}

func (v *invoice) disputed() bool   { return v.flags&invDisputed != 0 }
func (v *invoice) writtenOff() bool { return v.flags&invWrittenOff != 0 }

// payment is cash received. Its allocations live as cash entries of the invoices they settled.
type payment struct {
	id          domain.PaymentID
	amount      int64
	unallocated int64 // still on account
	cust        int32
	received    domain.Date
	reversedOn  domain.Date // zero unless reversed
}

func (p *payment) reversed() bool { return !p.reversedOn.IsZero() }

// creditNote is a credit note: AppliedToInvoice at issue, the rest standing as customer credit
// until PaymentAllocated applies it.
type creditNote struct {
	id       domain.CreditNoteID
	amount   int64
	standing int64
	cust     int32
	invoice  int32 // index of the invoice it was issued against, -1 none
	issue    domain.Date
}

type instalment struct {
	due    domain.Date
	amount int64
}

// plan is a payment plan: its instalments replace the due dates of its invoices (design
// §Events, PaymentPlanAgreed) for aging, overdue and the cash-in forecast.
type plan struct {
	id              string
	instalments     []instalment
	openAtAgreement int64 // Σ open of its invoices when agreed: what the instalments schedule
	cust            int32
	agreedOn        domain.Date
}

type promise struct {
	id          string
	amount      int64
	promisedFor domain.Date
	recordedOn  domain.Date
}

type rating struct {
	agency string
	grade  string
	score  int32
	on     domain.Date
}

// customer is one customer's slice of the ledger (target: ≤ 1 KiB each). Amount fields are in
// the customer's currency; the running totals are kept by Apply and re-derived by check.
type customer struct {
	totals      *totals // m.totals[currency], found once (move runs several times an event)
	id          domain.CustomerID
	name        string
	country     string
	sector      string
	segment     string
	currency    domain.Currency
	insurer     string
	rating      rating
	invoices    []int32
	payments    []int32
	creditNotes []int32
	// The tags (docTag) of the ids in invoices, payments and creditNotes, in the same order,
	// while a list is scanned (at most docScanMax long; nil beyond, when the index has it).
	// A decoded snapshot has none: they are built at the customer's first lookup.
	invoiceTags, paymentTags, creditNoteTags []uint64

	promises []promise
	terms    domain.Terms
	limit    int64
	covered  int64 // credit-insurance cover
	// Running totals (design §Metrics, exposure = openInvoices − unallocated − standingCredit).
	openInvoices    int64
	unallocated     int64
	standingCredit  int64
	registeredOn    domain.Date
	declarationDays int32 // credit insurance: declare unpaid invoices this many days after due
	reversals       uint32
	disputes        uint32 // disputes ever opened
	writeOffs       uint32
	reminders       uint32
}

type ratePoint struct {
	on domain.Date
	e9 int64 // units of the reporting currency per unit, × 1e9
}

// docKey finds an invoice, payment or credit note: their ids are unique within a customer's
// stream (domain.Decide), not necessarily across customers.
type docKey struct {
	cust int32
	id   string
}

// replayState is set on a model built by Replay.
type replayState struct {
	asOf    domain.Date
	knownAt time.Time
	// pending holds registrations effective after asOf, for customers whose earlier-dated
	// facts were recorded after them (an import of history): the customer is materialised
	// when its first fact effective at asOf arrives.
	pending map[domain.CustomerID]domain.CustomerRegistered
	skipped int         // references the replay could not follow as recorded (ReplayAdjustments)
	seen    uint64      // position of the last envelope read, kept or not (ReplaySeen)
	seenAt  domain.Hash // its hash (ReplaySeenHash)
}

// Model is the ledger read model. It is not safe for concurrent use: the engine serialises
// Apply and reads. The zero value is not usable; call New.
type Model struct {
	position uint64
	hash     domain.Hash

	customers   chunks[customer]
	invoices    chunks[invoice]
	payments    chunks[payment]
	creditNotes chunks[creditNote]
	plans       []plan

	customerIndex   map[domain.CustomerID]int32
	invoiceIndex    map[docKey]int32
	paymentIndex    map[docKey]int32
	creditNoteIndex map[docKey]int32

	totals map[domain.Currency]*totals // the portfolio aggregates, per currency

	reporting domain.Currency // from ExchangeRatesPublished
	rates     map[domain.Currency][]ratePoint

	strs map[string]string
	ids  stringBlock // the copies of the ids and names kept
	// lastCustomer is the customer customerOf found last (-1 none yet).
	lastCustomer int32
	replay       *replayState
	// allocScratch is checkAllocations' result, reused: read only by its caller, before
	// the next event.
	allocScratch []allocation
}

// New returns an empty model at position 0.
func New() *Model {
	return &Model{
		customerIndex:   make(map[domain.CustomerID]int32),
		invoiceIndex:    make(map[docKey]int32),
		paymentIndex:    make(map[docKey]int32),
		creditNoteIndex: make(map[docKey]int32),
		rates:           make(map[domain.Currency][]ratePoint),
		lastCustomer:    -1,
		strs:            make(map[string]string),
		totals:          make(map[domain.Currency]*totals),
	}
}

// totals are the running sums of one currency's customers: the portfolio aggregates, kept
// by Apply so that the portfolio's exposure is O(1) to read (dashboards, metrics), and
// re-derived by check.
type totals struct {
	customers      int
	openInvoices   int64
	unallocated    int64
	standingCredit int64
}

func (m *Model) totalsOf(ccy domain.Currency) *totals {
	t := m.totals[ccy]
	if t == nil {
		t = &totals{}
		m.totals[ccy] = t
	}
	return t
}

// move changes a customer's running totals, and the portfolio's with them: every change of
// open invoices, unallocated cash or standing credit goes through here.
func (m *Model) move(ci int32, open, unallocated, standing int64) {
	c := m.customers.at(ci)
	c.openInvoices += open
	c.unallocated += unallocated
	c.standingCredit += standing
	t := c.totals
	if t == nil { // the first move since the customer was registered or decoded
		t = m.totalsOf(c.currency)
		c.totals = t
	}
	t.openInvoices += open
	t.unallocated += unallocated
	t.standingCredit += standing
}

// Totals are the portfolio's running aggregates in one currency (design §Metrics, exposure:
// open invoice amounts − unallocated cash − open credit notes), read in O(1).
type Totals struct {
	Currency        domain.Currency `json:"currency"`
	Customers       int             `json:"customers"`
	OpenInvoices    domain.Money    `json:"open_invoices"`
	UnallocatedCash domain.Money    `json:"unallocated_cash"`
	OpenCreditNotes domain.Money    `json:"open_credit_notes"`
	Exposure        domain.Money    `json:"exposure"`
}

// Totals returns the portfolio's running aggregates, one per currency, sorted.
func (m *Model) Totals() []Totals {
	out := make([]Totals, 0, len(m.totals))
	for _, ccy := range sortedCurrencies(m.totals) {
		t := m.totals[ccy]
		out = append(out, Totals{
			Currency: ccy, Customers: t.customers,
			OpenInvoices: money(t.openInvoices, ccy), UnallocatedCash: money(t.unallocated, ccy),
			OpenCreditNotes: money(t.standingCredit, ccy),
			Exposure:        money(t.openInvoices-t.unallocated-t.standingCredit, ccy),
		})
	}
	return out
}

// Position returns the position of the last envelope applied (0: none).
func (m *Model) Position() uint64 { return m.position }

// Hash returns the chain hash of the envelope at Position (zero when none).
func (m *Model) Hash() domain.Hash { return m.hash }

// ReplayedAsOf returns the as-of date and known-at instant of a model built by Replay, and
// ok false for a live model.
func (m *Model) ReplayedAsOf() (asOf domain.Date, knownAt time.Time, ok bool) {
	if m.replay == nil {
		return domain.Date{}, time.Time{}, false
	}
	return m.replay.asOf, m.replay.knownAt, true
}

// ReplayAdjustments returns how many references a replay could not follow as recorded: an
// allocation to an invoice dated after the as-of date or above what was open then (kept on
// account or standing), a dispute or write-off of such an invoice. Zero for a live model.
func (m *Model) ReplayAdjustments() int {
	if m.replay == nil {
		return 0
	}
	return m.replay.skipped
}

// Apply applies one envelope. It is idempotent by position: an envelope at or below Position
// is ignored; one beyond Position+1 is ErrGap. An event the model cannot apply is an error and
// leaves the model unchanged (Position included).
func (m *Model) Apply(e domain.Envelope) error {
	if e.Position <= m.position {
		return nil
	}
	if e.Position != m.position+1 {
		return fmt.Errorf("ledger: apply position %d after %d: %w", e.Position, m.position, ErrGap)
	}
	if !ledgerStream(e.Stream) {
		m.position, m.hash = e.Position, e.Hash
		return nil
	}
	ev, err := domain.DecodeEvent(e.Type, e.SchemaVersion, e.Data)
	if err != nil {
		return fmt.Errorf("ledger: decode position %d: %w", e.Position, err)
	}
	if err := m.applyEvent(e.Stream, ev); err != nil {
		return fmt.Errorf("ledger: apply position %d (%s on %s): %w", e.Position, e.Type, e.Stream, err)
	}
	m.position, m.hash = e.Position, e.Hash
	return nil
}

// ApplyDecoded is Apply for an envelope whose data the caller has already decoded into ev
// (domain.DecodeEvent or DecodeEventView of e.Type, e.SchemaVersion, e.Data, the latter's
// pointers into an EventSlab included): the engine decodes on another core while this one
// applies. ev is ignored for envelopes Apply would
// not decode. The model copies every string it keeps, so e and ev may alias a buffer the
// caller reuses once ApplyDecoded returns.
func (m *Model) ApplyDecoded(e *domain.Envelope, ev domain.Event) error {
	if e.Position <= m.position {
		return nil
	}
	if e.Position != m.position+1 {
		return fmt.Errorf("ledger: apply position %d after %d: %w", e.Position, m.position, ErrGap)
	}
	if !ledgerStream(e.Stream) {
		m.position, m.hash = e.Position, e.Hash
		return nil
	}
	if err := m.applyEvent(e.Stream, ev); err != nil {
		return fmt.Errorf("ledger: apply position %d (%s on %s): %w", e.Position, e.Type, e.Stream, err)
	}
	m.position, m.hash = e.Position, e.Hash
	return nil
}

// Replay builds a fresh model as of a business date and a system instant ("correct first",
// Projections issue item 2): it applies only the envelopes with effective_on ≤ asOf and
// recorded_at ≤ knownAt, in position order. The metrics then evaluate aging, overdue and
// deadlines at asOf. Live reads at today use the incrementally maintained model instead.
//
// Facts filtered out by date can leave references dangling (a payment effective at asOf
// allocated to an invoice dated later): such an allocation is kept as cash on account and a
// credit note's as standing credit, which is what the customer had as of that day.
func Replay(envs iter.Seq[domain.Envelope], asOf domain.Date, knownAt time.Time) (*Model, error) {
	m := NewReplay(asOf, knownAt)
	if err := m.replayFeed(envs); err != nil {
		return nil, err
	}
	return m, nil
}

// ReplayMore continues a model built by Replay with the envelopes appended since: envs
// starts after ReplaySeen and is in position order. Replay applies the envelopes it keeps in
// position order and nothing else, so the model is the one a fresh Replay of the longer log
// would build (TestReplayMoreEqualsReplay). On an error the model is in an unknown state and
// must be dropped.
func (m *Model) ReplayMore(envs iter.Seq[domain.Envelope]) error {
	if m.replay == nil {
		return errors.New("ledger: ReplayMore on a model not built by Replay")
	}
	return m.replayFeed(envs)
}

// ReplaySeen returns the position of the last envelope a replayed model has read, kept or
// not (Position is the last one kept: recorded by the known-at instant).
func (m *Model) ReplaySeen() uint64 {
	if m.replay == nil {
		return m.position
	}
	return m.replay.seen
}

func (m *Model) replayFeed(envs iter.Seq[domain.Envelope]) error {
	for e := range envs {
		var ev domain.Event
		if err := m.replayStep(e, &ev); err != nil {
			return err
		}
	}
	return nil
}

// replayStep is Replay's treatment of one envelope. *ev is e's decoded event once decoded:
// nil on the first call for e, so that ReplayMany decodes each envelope once for all its
// models (the models only read the event).
func (m *Model) replayStep(e domain.Envelope, ev *domain.Event) error {
	if e.Position <= m.replay.seen {
		return fmt.Errorf("ledger: replay position %d after %d: %w", e.Position, m.replay.seen, ErrOutOfOrder)
	}
	m.replay.seen, m.replay.seenAt = e.Position, e.Hash
	if e.RecordedAt.After(m.replay.knownAt) {
		return nil
	}
	m.position, m.hash = e.Position, e.Hash
	if !ledgerStream(e.Stream) {
		return nil
	}
	later := e.EffectiveOn.After(m.replay.asOf)
	if later && e.Type != domain.TypeCustomerRegistered {
		return nil
	}
	if *ev == nil {
		decoded, err := domain.DecodeEvent(e.Type, e.SchemaVersion, e.Data)
		if err != nil {
			return fmt.Errorf("ledger: replay decode position %d: %w", e.Position, err)
		}
		*ev = decoded
	}
	if later {
		// Kept until the customer's first fact: a copy, as ev may alias a page the caller
		// reuses (ReplayApply).
		var r domain.CustomerRegistered
		switch v := (*ev).(type) {
		case domain.CustomerRegistered:
			r = cloneRegistered(v)
		case *domain.CustomerRegistered: // from ReplayApply (domain.EventSlab)
			r = cloneRegistered(*v)
		}
		m.replay.pending[r.CustomerID] = r
		return nil
	}
	if err := m.applyEvent(e.Stream, *ev); err != nil {
		return fmt.Errorf("ledger: replay position %d (%s on %s): %w", e.Position, e.Type, e.Stream, err)
	}
	return nil
}

// ReplayApply is Replay's treatment of the next envelope, for a caller that feeds a model
// built by NewReplay envelope by envelope: the engine's catch-up (engine.LedgerAsOf), which
// reads and decodes on other cores. ev is e's event when the caller decoded it, nil
// otherwise. e and ev may alias a buffer the caller reuses once ReplayApply returns: the
// model copies what it keeps.
func (m *Model) ReplayApply(e *domain.Envelope, ev domain.Event) error {
	if m.replay == nil {
		return errors.New("ledger: ReplayApply on a model not built by NewReplay")
	}
	return m.replayStep(*e, &ev)
}

// ReplayApplyAll is ReplayApply for several models built by NewReplay (ReplayMany's dates),
// e's event decoded at most once for all of them.
func ReplayApplyAll(ms []*Model, e *domain.Envelope, ev domain.Event) error {
	for _, m := range ms {
		if m.replay == nil {
			return errors.New("ledger: ReplayApplyAll on a model not built by NewReplay")
		}
		if err := m.replayStep(*e, &ev); err != nil {
			return fmt.Errorf("as of %s: %w", m.replay.asOf, err)
		}
	}
	return nil
}

// NewReplay returns an empty model that Replay's rules will build as of asOf and known at
// knownAt, fed with ReplayMore or ReplayApply.
func NewReplay(asOf domain.Date, knownAt time.Time) *Model {
	m := New()
	m.replay = &replayState{asOf: asOf, knownAt: knownAt, pending: make(map[domain.CustomerID]domain.CustomerRegistered)}
	return m
}

// ReplaySeenHash is the hash of the envelope at ReplaySeen (zero before any).
func (m *Model) ReplaySeenHash() domain.Hash {
	if m.replay == nil {
		return m.hash
	}
	return m.replay.seenAt
}

// cloneRegistered copies r's strings, which may alias a reused buffer.
func cloneRegistered(r domain.CustomerRegistered) domain.CustomerRegistered {
	r.CustomerID = domain.CustomerID(strings.Clone(string(r.CustomerID)))
	r.Name, r.Country = strings.Clone(r.Name), strings.Clone(r.Country)
	r.Sector, r.Segment = strings.Clone(r.Sector), strings.Clone(r.Segment)
	r.Currency = domain.Currency(strings.Clone(string(r.Currency)))
	r.CreditLimit.Ccy = domain.Currency(strings.Clone(string(r.CreditLimit.Ccy)))
	return r
}

// ReplayMany is Replay for several as-of dates at once, known at the same instant: one pass
// over envs, each envelope decoded once for all the models (a dashboard's month ends). The
// models are those Replay would build for each date (TestReplayManyEqualsReplay).
func ReplayMany(envs iter.Seq[domain.Envelope], asOfs []domain.Date, knownAt time.Time) ([]*Model, error) {
	ms := make([]*Model, len(asOfs))
	for i, d := range asOfs {
		ms[i] = NewReplay(d, knownAt)
	}
	for e := range envs {
		var ev domain.Event
		for _, m := range ms {
			if err := m.replayStep(e, &ev); err != nil {
				return nil, fmt.Errorf("as of %s: %w", m.replay.asOf, err)
			}
		}
	}
	return ms, nil
}

// ReplaySlice is Replay over a slice in position order.
func ReplaySlice(envs []domain.Envelope, asOf domain.Date, knownAt time.Time) (*Model, error) {
	return Replay(func(yield func(domain.Envelope) bool) {
		for _, e := range envs {
			if !yield(e) {
				return
			}
		}
	}, asOf, knownAt)
}

// ledgerStream reports whether a stream can hold facts the ledger shows: customer streams
// and the exchange rates. Every other stream (alerts-*, system-tokens, and whatever system
// streams come next, possibly with event types outside the domain catalogue) moves no money:
// the ledger counts its positions without decoding it.
func ledgerStream(stream string) bool {
	return strings.HasPrefix(stream, domain.CustomerStreamPrefix) || stream == domain.RatesStream
}

func inconsistent(format string, args ...any) error {
	return fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), ErrInconsistent)
}

func (m *Model) intern(s string) string {
	if s == "" {
		return ""
	}
	if v, ok := m.strs[s]; ok {
		return v
	}
	s = strings.Clone(s) // s may alias a page the engine reuses (ApplyDecoded)
	if len(m.strs) < internMax {
		m.strs[s] = s
	}
	return s
}

func (m *Model) lenient() bool { return m.replay != nil }

// customerOf resolves the customer of a customer stream, materialising a pending registration
// in a replay. ok is false for streams that are not customer streams (alerts, system-rates).
func (m *Model) customerOf(stream string) (int32, bool, error) {
	id, isCustomer := strings.CutPrefix(stream, domain.CustomerStreamPrefix)
	if !isCustomer {
		return -1, false, nil
	}
	// A customer's events mostly come together (one append, one import row): the last
	// customer found is compared first, which is cheaper than hashing the id.
	if ci := m.lastCustomer; ci >= 0 && int(ci) < m.customers.len() && string(m.customers.at(ci).id) == id {
		return ci, true, nil
	}
	if ci, ok := m.customerIndex[domain.CustomerID(id)]; ok {
		m.lastCustomer = ci
		return ci, true, nil
	}
	if m.lenient() {
		if r, ok := m.replay.pending[domain.CustomerID(id)]; ok {
			delete(m.replay.pending, domain.CustomerID(id))
			return m.register(r), true, nil
		}
	}
	return -1, true, inconsistent("no customer registered on stream %s", stream)
}

func (m *Model) register(r domain.CustomerRegistered) int32 {
	ci := m.customers.append(customer{
		id:           domain.CustomerID(m.ids.clone(string(r.CustomerID))),
		name:         m.ids.clone(r.Name),
		country:      m.intern(r.Country),
		sector:       m.intern(r.Sector),
		segment:      m.intern(r.Segment),
		currency:     domain.Currency(m.intern(string(r.Currency))),
		terms:        r.Terms,
		limit:        r.CreditLimit.Minor,
		registeredOn: r.RegisteredOn,
	})
	m.customerIndex[m.customers.at(ci).id] = ci
	m.totalsOf(m.customers.at(ci).currency).customers++
	return ci
}

// sameCcy checks that an amount is in the customer's currency.
func (m *Model) sameCcy(ci int32, what string, a domain.Money) error {
	if c := m.customers.at(ci); a.Ccy != c.currency {
		return inconsistent("%s in %s, customer %s in %s", what, a.Ccy, c.id, c.currency)
	}
	return nil
}

// docScanMax: a customer's invoices (payments, credit notes) are found by scanning its own
// list while it holds at most this many, and through the model's index (invoiceIndex…)
// beyond. Most customers stay below it, so the indexes hold only the few large customers'
// documents: a snapshot load then inserts almost nothing (inserting every document's key
// was most of the load: ~1M keys per 1M events, each a cache miss), and the model is
// smaller. A scan of 32 ids costs about one lookup in a map of millions.
const docScanMax = 32

func (m *Model) invoiceOf(ci int32, id domain.InvoiceID) (int32, bool) {
	c := m.customers.at(ci)
	return m.docOf(m.invoiceIndex, ci, c.invoices, &c.invoiceTags, string(id), func(i int32) string { return string(m.invoices.at(i).id) })
}

func (m *Model) paymentOf(ci int32, id domain.PaymentID) (int32, bool) {
	c := m.customers.at(ci)
	return m.docOf(m.paymentIndex, ci, c.payments, &c.paymentTags, string(id), func(i int32) string { return string(m.payments.at(i).id) })
}

func (m *Model) creditNoteOf(ci int32, id domain.CreditNoteID) (int32, bool) {
	c := m.customers.at(ci)
	return m.docOf(m.creditNoteIndex, ci, c.creditNotes, &c.creditNoteTags, string(id), func(i int32) string { return string(m.creditNotes.at(i).id) })
}

// docOf finds the document id among customer ci's list (see docScanMax): through index
// beyond docScanMax, else by scanning the list's tags, which are contiguous, and comparing
// the ids only where the tags match (a new document's check that it is not a duplicate
// compares none).
func (m *Model) docOf(index map[docKey]int32, ci int32, list []int32, tags *[]uint64, id string, idOf func(int32) string) (int32, bool) {
	if len(list) > docScanMax {
		i, ok := index[docKey{ci, id}]
		return i, ok
	}
	if len(*tags) != len(list) {
		*tags = buildTags(list, idOf)
	}
	want := docTag(id)
	for k, t := range *tags {
		if t == want && idOf(list[k]) == id {
			return list[k], true
		}
	}
	return -1, false
}

// buildTags returns the tags of list's documents: after a snapshot's decode, which keeps
// none (building every customer's would lengthen a restart), at the first lookup.
func buildTags(list []int32, idOf func(int32) string) []uint64 {
	if len(list) == 0 {
		return nil
	}
	t := make([]uint64, len(list), max(len(list), docTagsFirstCap))
	for k, i := range list {
		t[k] = docTag(idOf(i))
	}
	return t
}

// docTag is a document id's tag: equal ids have equal tags. It is the id's last 8 bytes, or
// a shorter id's bytes and length: the ids of one customer's documents mostly have one
// length and differ in their last digits.
func docTag(s string) uint64 {
	if len(s) < 8 {
		t := uint64(len(s)) << 56
		for i := range len(s) {
			t |= uint64(s[i]) << (8 * i)
		}
		return t
	}
	s = s[len(s)-8:]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}

// docTagsFirstCap is the capacity a customer's tags start with.
const docTagsFirstCap = 4

// indexDocs is called after document id was added to customer ci's list: while the list is
// at most docScanMax long its tags follow it; beyond, its documents are in index (all of
// them when it has just crossed) and the tags are dropped.
func indexDocs(index map[docKey]int32, ci int32, list []int32, tags *[]uint64, id string, idOf func(int32) string) {
	switch {
	case len(list) <= docScanMax:
		switch {
		case len(*tags) != len(list)-1: // not built yet (a decoded snapshot)
			*tags = buildTags(list, idOf)
		case *tags == nil:
			*tags = make([]uint64, 0, docTagsFirstCap) // not 1, 2, 4…: fewer allocations
			fallthrough
		default:
			*tags = append(*tags, docTag(id))
		}
	case len(list) == docScanMax+1:
		*tags = nil
		for _, i := range list {
			index[docKey{ci, idOf(i)}] = i
		}
	default:
		index[docKey{ci, id}] = list[len(list)-1]
	}
}

// applyEvent applies one decoded event of stream. Each case checks everything first and only
// then mutates, so an error leaves the model unchanged.
func (m *Model) applyEvent(stream string, ev domain.Event) error {
	switch e := ev.(type) {
	case domain.CustomerRegistered:
		return m.applyRegistered(stream, e)
	case *domain.CustomerRegistered: // from ApplyDecoded (domain.EventSlab)
		return m.applyRegistered(stream, *e)
	case domain.ExchangeRatesPublished:
		return m.applyRates(e)
	}
	ci, isCustomer, err := m.customerOf(stream)
	if !isCustomer {
		// Alert and system streams (alerts-*, system-tokens) move no money: the ledger
		// only counts their positions.
		return nil
	}
	if err != nil {
		return err
	}
	c := m.customers.at(ci)
	switch e := ev.(type) {
	case domain.CreditLimitChanged:
		if err := m.sameCcy(ci, "credit limit", e.Limit); err != nil {
			return err
		}
		c.limit = e.Limit.Minor
	case domain.InvoiceIssued:
		return m.applyInvoice(ci, e)
	case *domain.InvoiceIssued: // from ApplyDecoded (domain.EventSlab)
		return m.applyInvoice(ci, *e)
	case domain.CreditNoteIssued:
		return m.applyCreditNote(ci, e)
	case domain.PaymentReceived:
		return m.applyPayment(ci, e)
	case *domain.PaymentReceived: // from ApplyDecoded (domain.EventSlab)
		return m.applyPayment(ci, *e)
	case domain.PaymentAllocated:
		return m.applyAllocated(ci, e)
	case domain.PaymentReversed:
		return m.applyReversed(ci, e)
	case domain.InvoiceDisputed:
		ii, ok := m.invoiceOf(ci, e.InvoiceID)
		if !ok {
			return m.dangling("dispute of unknown invoice %s", e.InvoiceID)
		}
		v := m.invoices.at(ii)
		if !v.disputed() {
			c.disputes++
		}
		v.flags |= invDisputed
		v.disputedOn = e.DisputedOn
	case domain.DisputeResolved:
		ii, ok := m.invoiceOf(ci, e.InvoiceID)
		if !ok {
			return m.dangling("dispute resolution of unknown invoice %s", e.InvoiceID)
		}
		m.invoices.at(ii).flags &^= invDisputed
	case domain.PaymentPlanAgreed:
		return m.applyPlan(ci, e)
	case domain.PromiseToPayRecorded:
		if err := m.sameCcy(ci, "promise", e.Amount); err != nil {
			return err
		}
		c.promises = append(c.promises, promise{id: strings.Clone(e.PromiseID), amount: e.Amount.Minor, promisedFor: e.PromisedFor, recordedOn: e.RecordedOn})
	case domain.ReminderSent:
		ii, ok := m.invoiceOf(ci, e.InvoiceID)
		if !ok {
			return m.dangling("reminder for unknown invoice %s", e.InvoiceID)
		}
		v := m.invoices.at(ii)
		v.reminderLevel = uint8(min(max(e.Level, 0), 255))
		v.remindedOn = e.SentOn
		c.reminders++
	case domain.InvoiceWrittenOff:
		return m.applyWriteOff(ci, e)
	case domain.ExternalRatingReceived:
		c.rating = rating{agency: m.intern(e.Agency), grade: m.intern(e.Grade), score: int32(e.Score), on: e.RatedOn}
	case domain.CreditInsuranceCoverChanged:
		if err := m.sameCcy(ci, "insurance cover", e.Covered); err != nil {
			return err
		}
		c.insurer = m.intern(e.Insurer)
		c.covered = e.Covered.Minor
		c.declarationDays = int32(e.DeclarationDays)
	case domain.AlertRaised, domain.AlertResolved, domain.AlertAcknowledged:
		// alerts live on alerts-* streams; one on a customer stream is a misfiled event
		return inconsistent("%s on customer stream %s", ev.EventType(), stream)
	default:
		// A type the ledger does not know might move money: stop rather than show wrong
		// figures (bump engine.LedgerVersion with the code that handles it).
		return inconsistent("event type %s not handled by the ledger", ev.EventType())
	}
	return nil
}

// dangling reports a reference to a fact the model does not hold: an error in a live model,
// and in a replay a fact filtered out by date, which is skipped and counted.
func (m *Model) dangling(format string, args ...any) error {
	if m.lenient() {
		m.replay.skipped++
		return nil
	}
	return inconsistent(format, args...)
}

func (m *Model) applyRegistered(stream string, e domain.CustomerRegistered) error {
	if stream != domain.CustomerStream(e.CustomerID) {
		return inconsistent("customer %s registered on stream %s", e.CustomerID, stream)
	}
	if _, dup := m.customerIndex[e.CustomerID]; dup {
		return inconsistent("customer %s registered twice", e.CustomerID)
	}
	if !e.Currency.Valid() || (!e.CreditLimit.IsZero() && e.CreditLimit.Ccy != e.Currency) {
		return inconsistent("customer %s: currency %q, limit in %q", e.CustomerID, e.Currency, e.CreditLimit.Ccy)
	}
	m.register(e)
	return nil
}

func (m *Model) applyRates(e domain.ExchangeRatesPublished) error {
	if m.reporting != "" && e.Reporting != m.reporting {
		return inconsistent("rates to %s after rates to %s: one reporting currency per ledger", e.Reporting, m.reporting)
	}
	for _, r := range e.Rates {
		if r.E9 <= 0 {
			return inconsistent("rate %s on %s is %d", r.Currency, e.RatesOn, r.E9)
		}
	}
	m.reporting = domain.Currency(m.intern(string(e.Reporting)))
	for _, r := range e.Rates {
		ccy := domain.Currency(m.intern(string(r.Currency)))
		pts := m.rates[ccy]
		// Keep points sorted by date; a republication for the same date replaces the rate.
		i := len(pts)
		for i > 0 && pts[i-1].on.After(e.RatesOn) {
			i--
		}
		if i > 0 && pts[i-1].on.Equal(e.RatesOn) {
			pts[i-1].e9 = r.E9
		} else {
			pts = append(pts, ratePoint{})
			copy(pts[i+1:], pts[i:])
			pts[i] = ratePoint{on: e.RatesOn, e9: r.E9}
		}
		m.rates[ccy] = pts
	}
	return nil
}

func (m *Model) applyInvoice(ci int32, e domain.InvoiceIssued) error {
	if e.Amount.Ccy != m.customers.at(ci).currency { // the message only when it fails: this is the hot path
		return m.sameCcy(ci, "invoice "+string(e.InvoiceID), e.Amount)
	}
	if e.Amount.Minor <= 0 || e.DueDate.Before(e.IssueDate) {
		return inconsistent("invoice %s: amount %d, issued %s, due %s", e.InvoiceID, e.Amount.Minor, e.IssueDate, e.DueDate)
	}
	if _, dup := m.invoiceOf(ci, e.InvoiceID); dup {
		return inconsistent("invoice %s issued twice", e.InvoiceID)
	}
	id := domain.InvoiceID(m.ids.clone(string(e.InvoiceID)))
	number := string(id) // share the bytes, as in most imports
	if e.Number != number {
		number = m.ids.clone(e.Number)
	}
	ii := m.invoices.append(invoice{
		id: id, number: number, amount: e.Amount.Minor, open: e.Amount.Minor,
		cust: ci, issue: e.IssueDate, due: e.DueDate,
	})
	c := m.customers.at(ci)
	c.invoices = append(c.invoices, ii)
	indexDocs(m.invoiceIndex, ci, c.invoices, &c.invoiceTags, string(id), func(i int32) string { return string(m.invoices.at(i).id) })
	m.move(ci, e.Amount.Minor, 0, 0)
	return nil
}

// docName names a document in an error message ("payment " + id), built only when one is
// written: the hot path of a replay passes it along without concatenating.
type docName struct{ kind, id string }

func (d docName) String() string { return d.kind + d.id }

// allocation is a checked allocation: the invoice index (-1 when the invoice is not in a
// replay), the amount the event names, and the amount that applies to the invoice.
type allocation struct {
	inv     int32
	amount  int64
	applied int64
}

// checkAllocations resolves allocations and checks each against the invoice's open amount,
// counting several allocations to one invoice together. In a live model an allocation above
// the open amount is ErrInconsistent. In a replay the facts are a date-filtered subset, and a
// backdated payment may name an invoice that, as of the replay date, is not issued or not
// re-opened yet: only what is open applies there and the rest is the caller's to keep on
// account (cash) or standing (credit), counted in ReplayAdjustments.
func (m *Model) checkAllocations(ci int32, what docName, allocs []domain.Allocation) ([]allocation, int64, error) {
	out := m.allocScratch[:0]
	defer func() { m.allocScratch = out[:0] }()
	var total int64
	for _, a := range allocs {
		if a.Amount.Ccy != m.customers.at(ci).currency {
			return nil, 0, m.sameCcy(ci, what.String()+" allocation", a.Amount)
		}
		if a.Amount.Minor <= 0 {
			return nil, 0, inconsistent("%s: allocation of %d to %s", what, a.Amount.Minor, a.InvoiceID)
		}
		al := allocation{inv: -1, amount: a.Amount.Minor}
		if ii, ok := m.invoiceOf(ci, a.InvoiceID); ok {
			al.inv = ii
			taken := int64(0)
			for _, o := range out {
				if o.inv == ii {
					taken += o.applied
				}
			}
			v := m.invoices.at(ii)
			al.applied = min(al.amount, max(v.open-taken, 0))
			if al.applied < al.amount && !m.lenient() {
				return nil, 0, inconsistent("%s: %d allocated to invoice %s, open %d", what, taken+al.amount, v.id, v.open)
			}
		} else if !m.lenient() {
			return nil, 0, inconsistent("%s: allocation to unknown invoice %s", what, a.InvoiceID)
		}
		if al.applied < al.amount {
			m.replay.skipped++
		}
		out = append(out, al)
		total += al.amount
	}
	return out, total, nil
}

func (m *Model) settle(ii int32, en entry) {
	v := m.invoices.at(ii)
	v.entries = append(v.entries, en)
	v.open -= en.amount
	m.move(v.cust, -en.amount, 0, 0)
	if v.open < 0 && en.kind != entryReopen { // tested before the call: its arguments would cost on every event
		invariant(false, "invoice %s open %d after %d", v.id, v.open, en.amount)
	}
}

func (m *Model) applyCreditNote(ci int32, e domain.CreditNoteIssued) error {
	if err := m.sameCcy(ci, "credit note "+string(e.CreditNoteID), e.Amount); err != nil {
		return err
	}
	if _, dup := m.creditNoteOf(ci, e.CreditNoteID); dup {
		return inconsistent("credit note %s issued twice", e.CreditNoteID)
	}
	applied := e.AppliedToInvoice.Minor
	if e.Amount.Minor <= 0 || applied < 0 || applied > e.Amount.Minor {
		return inconsistent("credit note %s: amount %d, applied %d", e.CreditNoteID, e.Amount.Minor, applied)
	}
	ii := int32(-1)
	if e.InvoiceID != "" {
		var ok bool
		if ii, ok = m.invoiceOf(ci, e.InvoiceID); !ok {
			if !m.lenient() {
				return inconsistent("credit note %s against unknown invoice %s", e.CreditNoteID, e.InvoiceID)
			}
			ii = -1
		}
	}
	switch {
	case ii < 0 && applied > 0:
		if !m.lenient() {
			return inconsistent("credit note %s applies %d to no invoice", e.CreditNoteID, applied)
		}
		m.replay.skipped++
		applied = 0 // as of the replay date the credit stands on account
	case ii >= 0 && applied > m.invoices.at(ii).open:
		if !m.lenient() {
			return inconsistent("credit note %s applies %d, invoice %s open %d", e.CreditNoteID, applied, e.InvoiceID, m.invoices.at(ii).open)
		}
		m.replay.skipped++
		applied = m.invoices.at(ii).open
	}
	ni := m.creditNotes.append(creditNote{
		id: domain.CreditNoteID(m.ids.clone(string(e.CreditNoteID))), amount: e.Amount.Minor,
		standing: e.Amount.Minor - applied, cust: ci, invoice: ii, issue: e.IssueDate,
	})
	c := m.customers.at(ci)
	c.creditNotes = append(c.creditNotes, ni)
	indexDocs(m.creditNoteIndex, ci, c.creditNotes, &c.creditNoteTags, string(m.creditNotes.at(ni).id), func(i int32) string { return string(m.creditNotes.at(i).id) })
	m.move(ci, 0, 0, e.Amount.Minor-applied)
	if applied > 0 {
		m.settle(ii, entry{amount: applied, on: e.IssueDate, paidOn: e.IssueDate, src: ni, kind: entryCredit})
	}
	return nil
}

func (m *Model) applyPayment(ci int32, e domain.PaymentReceived) error {
	what := docName{"payment ", string(e.PaymentID)} // spelled out only in an error
	if e.Amount.Ccy != m.customers.at(ci).currency {
		return m.sameCcy(ci, what.String(), e.Amount)
	}
	if e.Unallocated.Minor != 0 && e.Unallocated.Ccy != m.customers.at(ci).currency {
		return m.sameCcy(ci, what.String()+" unallocated", e.Unallocated)
	}
	if _, dup := m.paymentOf(ci, e.PaymentID); dup {
		return inconsistent("%s received twice", what)
	}
	allocs, total, err := m.checkAllocations(ci, what, e.Allocations)
	if err != nil {
		return err
	}
	if e.Amount.Minor <= 0 || e.Unallocated.Minor < 0 || total+e.Unallocated.Minor != e.Amount.Minor {
		return inconsistent("%s: amount %d ≠ allocated %d + unallocated %d", what, e.Amount.Minor, total, e.Unallocated.Minor)
	}
	pi := m.payments.append(payment{
		id: domain.PaymentID(m.ids.clone(string(e.PaymentID))), amount: e.Amount.Minor,
		unallocated: e.Unallocated.Minor, cust: ci, received: e.ReceivedOn,
	})
	p := m.payments.at(pi)
	c := m.customers.at(ci)
	c.payments = append(c.payments, pi)
	indexDocs(m.paymentIndex, ci, c.payments, &c.paymentTags, string(p.id), func(i int32) string { return string(m.payments.at(i).id) })
	m.move(ci, 0, e.Unallocated.Minor, 0)
	for _, a := range allocs {
		if a.applied > 0 {
			m.settle(a.inv, entry{amount: a.applied, on: e.ReceivedOn, paidOn: e.ReceivedOn, src: pi, kind: entryCash})
		}
		// Replay: what could not apply as of the replay date stays on account.
		p.unallocated += a.amount - a.applied
		m.move(ci, 0, a.amount-a.applied, 0)
	}
	return nil
}

func (m *Model) applyAllocated(ci int32, e domain.PaymentAllocated) error {
	if (e.PaymentID == "") == (e.CreditNoteID == "") {
		return inconsistent("allocation on %s names payment %q and credit note %q", e.AllocatedOn, e.PaymentID, e.CreditNoteID)
	}
	if e.PaymentID != "" {
		pi, ok := m.paymentOf(ci, e.PaymentID)
		if !ok {
			return m.dangling("allocation from unknown payment %s", e.PaymentID)
		}
		p := m.payments.at(pi)
		allocs, total, err := m.checkAllocations(ci, docName{"payment ", string(p.id)}, e.Allocations)
		if err != nil {
			return err
		}
		if (total > p.unallocated || p.reversed()) && !m.lenient() {
			return inconsistent("payment %s: allocating %d, %d on account, reversed %v", p.id, total, p.unallocated, p.reversed())
		}
		for _, a := range allocs {
			// Replay: never more than the payment still has on account.
			applied := min(a.applied, p.unallocated)
			if p.reversed() {
				applied = 0
			}
			if applied < a.amount && m.lenient() && a.applied == a.amount {
				m.replay.skipped++
			}
			if applied <= 0 {
				continue
			}
			p.unallocated -= applied
			m.move(ci, 0, -applied, 0)
			m.settle(a.inv, entry{amount: applied, on: e.AllocatedOn, paidOn: p.received, src: pi, kind: entryCash})
		}
		return nil
	}
	ni, ok := m.creditNoteOf(ci, e.CreditNoteID)
	if !ok {
		return m.dangling("allocation from unknown credit note %s", e.CreditNoteID)
	}
	n := m.creditNotes.at(ni)
	allocs, total, err := m.checkAllocations(ci, docName{"credit note ", string(n.id)}, e.Allocations)
	if err != nil {
		return err
	}
	if total > n.standing && !m.lenient() {
		return inconsistent("credit note %s: allocating %d, %d standing", n.id, total, n.standing)
	}
	for _, a := range allocs {
		applied := min(a.applied, n.standing)
		if applied < a.amount && m.lenient() && a.applied == a.amount {
			m.replay.skipped++
		}
		if applied <= 0 {
			continue
		}
		n.standing -= applied
		m.move(ci, 0, 0, -applied)
		m.settle(a.inv, entry{amount: applied, on: e.AllocatedOn, paidOn: e.AllocatedOn, src: ni, kind: entryCredit})
	}
	return nil
}

func (m *Model) applyReversed(ci int32, e domain.PaymentReversed) error {
	pi, ok := m.paymentOf(ci, e.PaymentID)
	if !ok {
		return m.dangling("reversal of unknown payment %s", e.PaymentID)
	}
	p := m.payments.at(pi)
	if p.reversed() {
		return inconsistent("payment %s reversed twice", p.id)
	}
	what := "reversal of " + string(p.id)
	type reopen struct {
		inv    int32
		amount int64
	}
	var reopens []reopen
	var total int64
	settled := map[int32]int64{}
	for _, a := range e.Reopened {
		if err := m.sameCcy(ci, what, a.Amount); err != nil {
			return err
		}
		if a.Amount.Minor <= 0 {
			return inconsistent("%s: re-opens %d on %s", what, a.Amount.Minor, a.InvoiceID)
		}
		total += a.Amount.Minor
		ii, ok := m.invoiceOf(ci, a.InvoiceID)
		if !ok {
			if !m.lenient() {
				return inconsistent("%s: unknown invoice %s", what, a.InvoiceID)
			}
			m.replay.skipped++
			continue
		}
		if _, seen := settled[ii]; !seen {
			settled[ii] = m.settledBy(ii, pi)
		}
		r := min(a.Amount.Minor, settled[ii])
		if r < a.Amount.Minor {
			if !m.lenient() {
				return inconsistent("%s re-opens %d on invoice %s, it settled %d", what, a.Amount.Minor, a.InvoiceID, settled[ii])
			}
			m.replay.skipped++
		}
		settled[ii] -= r
		if r > 0 {
			reopens = append(reopens, reopen{ii, r})
		}
	}
	if total+e.UnallocatedRemoved.Minor != p.amount || (e.UnallocatedRemoved.Minor != p.unallocated && !m.lenient()) {
		return inconsistent("%s: re-opens %d + removes %d, payment %d with %d on account", what, total, e.UnallocatedRemoved.Minor, p.amount, p.unallocated)
	}
	if e.UnallocatedRemoved.Minor != p.unallocated {
		m.replay.skipped++ // replay: what could not apply as of the replay date leaves with the rest
	}
	c := m.customers.at(ci)
	for _, r := range reopens {
		// The bounced cash is owed again, even on an invoice written off since: it comes
		// back into open items (as domain.Evolve does); the customer's write-off count,
		// the loss once recognised, stays.
		m.invoices.at(r.inv).flags &^= invWrittenOff
		m.settle(r.inv, entry{amount: -r.amount, on: e.ReversedOn, paidOn: e.ReversedOn, src: pi, kind: entryReopen})
	}
	// A reversed payment has nothing left on account.
	m.move(ci, 0, -p.unallocated, 0)
	p.unallocated = 0
	p.reversedOn = e.ReversedOn
	c.reversals++
	return nil
}

// settledBy returns the cash payment pi still has on invoice ii.
func (m *Model) settledBy(ii, pi int32) int64 {
	var s int64
	for _, en := range m.invoices.at(ii).entries {
		if en.src == pi && (en.kind == entryCash || en.kind == entryReopen) {
			s += en.amount
		}
	}
	return s
}

func (m *Model) applyPlan(ci int32, e domain.PaymentPlanAgreed) error {
	idx := make([]int32, 0, len(e.InvoiceIDs))
	var open, scheduled int64
	for _, id := range e.InvoiceIDs {
		ii, ok := m.invoiceOf(ci, id)
		if !ok {
			if m.lenient() {
				m.replay.skipped++
				continue
			}
			return inconsistent("plan %s: unknown invoice %s", e.PlanID, id)
		}
		idx = append(idx, ii)
		open += m.invoices.at(ii).open
	}
	ins := make([]instalment, 0, len(e.Instalments))
	for _, in := range e.Instalments {
		if err := m.sameCcy(ci, "plan "+e.PlanID, in.Amount); err != nil {
			return err
		}
		if in.Amount.Minor <= 0 || (len(ins) > 0 && in.Due.Before(ins[len(ins)-1].due)) {
			return inconsistent("plan %s: instalment %d due %s", e.PlanID, in.Amount.Minor, in.Due)
		}
		ins = append(ins, instalment{due: in.Due, amount: in.Amount.Minor})
		scheduled += in.Amount.Minor
	}
	if len(ins) == 0 {
		return inconsistent("plan %s has no instalments", e.PlanID)
	}
	_ = scheduled // a schedule that differs from the open total is reconciled in schedule()
	m.plans = append(m.plans, plan{id: strings.Clone(e.PlanID), instalments: ins, openAtAgreement: open, cust: ci, agreedOn: e.AgreedOn})
	for _, ii := range idx {
		m.invoices.at(ii).plan = int32(len(m.plans))
	}
	return nil
}

func (m *Model) applyWriteOff(ci int32, e domain.InvoiceWrittenOff) error {
	ii, ok := m.invoiceOf(ci, e.InvoiceID)
	if !ok {
		return m.dangling("write-off of unknown invoice %s", e.InvoiceID)
	}
	if err := m.sameCcy(ci, "write-off", e.Amount); err != nil {
		return err
	}
	v := m.invoices.at(ii)
	amount := e.Amount.Minor
	if amount < 0 || amount > v.open {
		if !m.lenient() || amount < 0 {
			return inconsistent("write-off of %d on invoice %s, open %d", amount, v.id, v.open)
		}
		m.replay.skipped++
		amount = v.open // replay: only what is open as of the replay date can be lost
	}
	v.flags |= invWrittenOff
	m.customers.at(ci).writeOffs++
	if amount > 0 {
		m.settle(ii, entry{amount: amount, on: e.WrittenOffOn, paidOn: e.WrittenOffOn, src: -1, kind: entryWriteOff})
	}
	return nil
}

// check re-derives every running total from the detail and reports the first difference. The
// property tests call it after every event; it is O(model).
func (m *Model) check() error {
	want := map[domain.Currency]totals{}
	for ci := range int32(m.customers.len()) {
		c := m.customers.at(ci)
		t := want[c.currency]
		t.customers++
		t.openInvoices += c.openInvoices
		t.unallocated += c.unallocated
		t.standingCredit += c.standingCredit
		want[c.currency] = t
	}
	for ccy, t := range want {
		if got := m.totals[ccy]; got == nil || *got != t {
			return fmt.Errorf("portfolio totals in %s: %+v, customers give %+v", ccy, got, t)
		}
	}
	for ccy, t := range m.totals {
		if _, ok := want[ccy]; !ok && *t != (totals{}) {
			return fmt.Errorf("portfolio totals in %s without customers: %+v", ccy, *t)
		}
	}
	for ci := range int32(m.customers.len()) {
		c := m.customers.at(ci)
		var open, unalloc, standing int64
		for _, ii := range c.invoices {
			v := m.invoices.at(ii)
			s := v.amount
			for _, en := range v.entries {
				s -= en.amount
			}
			if s != v.open || v.open < 0 {
				return fmt.Errorf("invoice %s: open %d, history gives %d", v.id, v.open, s)
			}
			open += v.open
		}
		for _, pi := range c.payments {
			unalloc += m.payments.at(pi).unallocated
		}
		for _, ni := range c.creditNotes {
			standing += m.creditNotes.at(ni).standing
		}
		if open != c.openInvoices || unalloc != c.unallocated || standing != c.standingCredit {
			return fmt.Errorf("customer %s: totals %d/%d/%d, detail gives %d/%d/%d", c.id,
				c.openInvoices, c.unallocated, c.standingCredit, open, unalloc, standing)
		}
	}
	return nil
}

// checkDocTags checks that every customer's scanned lists have their tags, or none yet
// (docOf relies on them to find a document, and on their absence to call it new) and that the longer lists
// are in the indexes. The tests run it after every event of their histories and after
// snapshot decodes.
func (m *Model) checkDocTags() error {
	for ci := range int32(m.customers.len()) {
		c := m.customers.at(ci)
		for _, l := range [...]struct {
			kind  string
			list  []int32
			tags  []uint64
			index map[docKey]int32
			idOf  func(int32) string
		}{
			{"invoice", c.invoices, c.invoiceTags, m.invoiceIndex, func(i int32) string { return string(m.invoices.at(i).id) }},
			{"payment", c.payments, c.paymentTags, m.paymentIndex, func(i int32) string { return string(m.payments.at(i).id) }},
			{"credit note", c.creditNotes, c.creditNoteTags, m.creditNoteIndex, func(i int32) string { return string(m.creditNotes.at(i).id) }},
		} {
			if len(l.list) > docScanMax {
				if l.tags != nil {
					return fmt.Errorf("customer %s: %d %ss indexed, yet %d tags kept", c.id, len(l.list), l.kind, len(l.tags))
				}
				for _, i := range l.list {
					if got, ok := l.index[docKey{ci, l.idOf(i)}]; !ok || got != i {
						return fmt.Errorf("customer %s: %s %s not in the index", c.id, l.kind, l.idOf(i))
					}
				}
				continue
			}
			if l.tags == nil {
				continue // not built yet: docOf builds them
			}
			if len(l.tags) != len(l.list) {
				return fmt.Errorf("customer %s: %d %ss, %d tags", c.id, len(l.list), l.kind, len(l.tags))
			}
			for k, i := range l.list {
				if l.tags[k] != docTag(l.idOf(i)) {
					return fmt.Errorf("customer %s: %s %s has tag %x, want %x", c.id, l.kind, l.idOf(i), l.tags[k], docTag(l.idOf(i)))
				}
			}
		}
	}
	return nil
}
