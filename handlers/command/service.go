package command

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"sync"
	"time"

	"github.com/encours/encours/domain"
	"github.com/encours/encours/eventstore"
)

// eventStore is what the command service needs of the event-store port (style §2: the
// consumer declares the narrow interface).
type eventStore interface {
	Append(ctx context.Context, req eventstore.AppendRequest) (eventstore.AppendResult, error)
	ReadStream(ctx context.Context, stream string, fromVersion uint64, limit int) ([]domain.Envelope, error)
	ReadAll(ctx context.Context, fromPosition uint64, limit int) ([]domain.Envelope, error)
	LookupIdempotency(ctx context.Context, key string) (eventstore.AppendResult, []byte, bool, error)
}

const (
	// appendRetriesMax bounds the reload-decide-append rounds after a lost optimistic-
	// concurrency race (style §4, §8). Inside one process commands on a customer are
	// serialised, so a race needs another writer on the same store; five rounds absorb a
	// burst of them, and the client then gets version_conflict and may retry.
	appendRetriesMax = 5
	// appendRetryBackoffMax is the ceiling of the jittered pause between two rounds.
	appendRetryBackoffMax = 20 * time.Millisecond
	// customersCachedDefault bounds the folded states kept in memory when Options leaves it
	// zero. A folded customer with a few hundred invoices is tens of kilobytes; 100 000 of
	// them fit a daemon's memory, and a miss only costs re-reading one stream.
	customersCachedDefault = 100_000
	// streamPagesMax bounds one stream read: ReadLimitMax events a page, a hundred million
	// events in one customer's stream at most, far beyond any real customer.
	streamPagesMax = 10_000
)

// Options tune a Service. The zero value is usable.
type Options struct {
	// CustomersCachedMax bounds the folded customer states kept in memory (0: 100 000). When
	// full, an arbitrary entry is dropped; it is re-read from the store when next needed.
	CustomersCachedMax int
	// DirectorySnapshot, when set, is the file of the id directory's snapshot: Warm starts
	// from it and reads only the events after it; SaveDirectory writes it.
	DirectorySnapshot string
}

// Meta is what a caller says about a command besides the command itself; it ends up in the
// envelope of every event the command produces (design §Events, envelope).
type Meta struct {
	Actor         string // who asked; "unknown" when empty
	CorrelationID string
	CausationID   string
	// IdempotencyKey, when set, makes the command take effect at most once: a later Execute
	// with the same key and RequestHash returns the first Result and decides nothing; with
	// another RequestHash it is refused with idempotency_key_reused.
	IdempotencyKey string
	// RequestHash identifies "the same request" behind IdempotencyKey (the HTTP API hashes the
	// method, route, path values and body). Required with IdempotencyKey.
	RequestHash []byte
}

// Warning is something the caller should know about an accepted command: the events were
// appended, but a rule says they deserve attention (an invoice above the credit limit is
// recorded, because it is a fact, and flagged).
type Warning struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Warning codes.
const (
	WarnCreditLimitExceeded    = "credit_limit_exceeded"
	WarnTermsBeyondLegalCap    = "payment_terms_beyond_legal_cap"
	warnTermsBeyondLegalCapFmt = "invoice %s is due on %s, beyond 60 days from issue and 45 days end of month (LME cap)"
)

// Result is where a command's events landed, the events themselves and any warnings. Its
// JSON form is the API's 201 body: {"stream", "stream_version", "position", "event_ids"} plus
// "warnings" when there are any.
type Result struct {
	eventstore.AppendResult
	Events   []domain.Event `json:"-"`
	Warnings []Warning      `json:"warnings,omitempty"`
}

// Service is the command service: load, decide, append (design §The flow of one event).
// It is safe for concurrent use.
type Service struct {
	store eventStore
	clock Clock
	ids   *uuidGen
	dir   *directory
	// dirSnapshot is Options.DirectorySnapshot; Warm writes it after reading at least
	// dirSnapshotEvery events (directorySnapshotEvery; tests lower it).
	dirSnapshot      string
	dirSnapshotEvery uint64

	locksMu sync.Mutex
	locks   map[domain.CustomerID]*customerLock // the customers with a command or view under way

	cacheMu   sync.Mutex
	cache     map[domain.CustomerID]*domain.Customer // each entry guarded by its customer's lock
	cachedMax int
}

// New returns a command service over store. It panics when store or clock is nil: a missing
// dependency is a wiring error and must fail before the first request (style §4).
func New(store eventStore, clock Clock, opts Options) *Service {
	if store == nil {
		panic("command.New: nil event store")
	}
	if clock == nil {
		panic("command.New: nil clock")
	}
	if opts.CustomersCachedMax < 0 {
		panic("command.New: negative CustomersCachedMax")
	}
	if opts.CustomersCachedMax == 0 {
		opts.CustomersCachedMax = customersCachedDefault
	}
	return &Service{
		store:            store,
		clock:            clock,
		ids:              &uuidGen{clock: clock},
		dir:              newDirectory(store),
		dirSnapshot:      opts.DirectorySnapshot,
		dirSnapshotEvery: directorySnapshotEvery,
		locks:            make(map[domain.CustomerID]*customerLock),
		cache:            make(map[domain.CustomerID]*domain.Customer),
		cachedMax:        opts.CustomersCachedMax,
	}
}

// Warm builds the invoice, payment and credit-note directory before the first request: from
// its snapshot (Options.DirectorySnapshot) and the events after it when the snapshot is
// usable, else by reading the whole log once, so that the first request does not pay for it
// and a damaged log is reported at start.
func (s *Service) Warm(ctx context.Context) error {
	if s.dirSnapshot != "" {
		return s.warmFromSnapshot(ctx)
	}
	return s.dir.catchUp(ctx)
}

// Execute decides cmd against its customer's current state and appends the resulting events.
//
// Refusals are *domain.Error: the domain's own (Decide), unknown_invoice / unknown_payment
// when a command names only an invoice or payment this log does not hold, duplicate_invoice
// (and _payment, _credit_note) when the id belongs to another customer,
// idempotency_key_reused, and version_conflict after appendRetriesMax lost races. Any other
// error is internal.
func (s *Service) Execute(ctx context.Context, cmd domain.Command, meta Meta) (Result, error) {
	cmd, ok := commandValue(cmd)
	if !ok {
		return Result{}, errors.New("execute: nil command")
	}
	if meta.IdempotencyKey != "" && len(meta.RequestHash) == 0 {
		return Result{}, fmt.Errorf("execute %T: idempotency key without a request hash", cmd)
	}
	if meta.Actor == "" {
		meta.Actor = "unknown"
	}
	// Fast path for a retry: the stored result, without resolving or deciding anything.
	if res, done, err := s.replayed(ctx, meta); done || err != nil {
		return res, err
	}
	cmd, err := s.resolveCustomer(ctx, cmd)
	if err != nil {
		return Result{}, err
	}
	id := cmd.Customer()
	if id == "" {
		return Result{}, domain.FieldErrorf(domain.KindInvalid, domain.CodeMissingField, "customer_id", "the command names no customer")
	}

	defer s.lock(id)()

	// Again under the customer's lock: a concurrent retry with the same key may have appended
	// between the fast path and here, and deciding again would refuse it as a duplicate.
	if res, done, err := s.replayed(ctx, meta); done || err != nil {
		return res, err
	}
	claim, err := s.claimID(ctx, cmd)
	if err != nil {
		return Result{}, err
	}
	res, err := s.decideAppend(ctx, id, cmd, meta)
	if err != nil || res.Replayed {
		claim.release()
		return res, err
	}
	claim.commit()
	return res, nil
}

// commandValue returns the value a command pointer points to (*domain.IssueInvoice as
// domain.IssueInvoice), so that the type switches here see one form; ok is false for nil.
func commandValue(cmd domain.Command) (domain.Command, bool) {
	if cmd == nil {
		return nil, false
	}
	v := reflect.ValueOf(cmd)
	if v.Kind() != reflect.Pointer {
		return cmd, true
	}
	if v.IsNil() {
		return nil, false
	}
	c, ok := v.Elem().Interface().(domain.Command)
	return c, ok
}

// decideAppend runs the load-decide-append rounds; the caller holds the customer's lock.
func (s *Service) decideAppend(ctx context.Context, id domain.CustomerID, cmd domain.Command, meta Meta) (Result, error) {
	stream := domain.CustomerStream(id)
	for attempt := 0; ; attempt++ {
		state, err := s.stateLocked(ctx, id)
		if err != nil {
			return Result{}, err
		}
		events, err := domain.Decide(state, cmd)
		if err != nil {
			return Result{}, err
		}
		if len(events) == 0 {
			// Nothing to record (the domain found the command already satisfied).
			return Result{AppendResult: eventstore.AppendResult{Stream: stream, StreamVersion: state.Version(), EventIDs: []string{}}}, nil
		}
		prepared, err := prepareAll(events)
		if err != nil {
			return Result{}, err
		}
		causes, err := s.causations(ctx, stream, prepared, meta)
		if err != nil {
			return Result{}, err
		}
		req := s.preparedRequest(stream, state.Version(), prepared, meta, causes)
		linkWithinRequest(&req, prepared)
		res, err := s.store.Append(ctx, req)
		switch {
		case err == nil && res.Replayed:
			// Another request with the same key won the race inside the store.
			return s.replayResult(ctx, res)
		case err == nil:
			invariant(res.StreamVersion == state.Version()+uint64(len(events)),
				"append to %s at v%d of %d events landed at v%d", stream, state.Version(), len(events), res.StreamVersion)
			s.dir.indexAppended(events, req.Events, res.Position)
			for _, e := range events {
				domain.Evolve(state, e)
			}
			return Result{AppendResult: res, Events: events, Warnings: warningsFor(state, events)}, nil
		case errors.Is(err, eventstore.ErrWrongVersion):
			s.forgetLocked(id) // another writer appended: re-read the stream
			if attempt+1 >= appendRetriesMax {
				return Result{}, domain.Errorf(domain.KindConflict, domain.CodeVersionConflict,
					"customer %s changed %d times while this command was decided; retry", id, appendRetriesMax)
			}
			if err := pause(ctx, attempt); err != nil {
				return Result{}, err
			}
		case errors.Is(err, eventstore.ErrIdempotencyKeyReused):
			return Result{}, keyReusedError(meta.IdempotencyKey)
		default:
			// The state may or may not have been appended (a failed fsync): forget it.
			s.forgetLocked(id)
			return Result{}, fmt.Errorf("append %s at v%d: %w", stream, state.Version(), err)
		}
	}
}

// pause waits a jittered, growing time before the next round, or until ctx ends.
func pause(ctx context.Context, attempt int) error {
	ceiling := appendRetryBackoffMax * time.Duration(attempt+1) / appendRetriesMax
	t := time.NewTimer(time.Duration(rand.Int64N(int64(ceiling) + 1)))
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// CodeIdempotencyKeyReused is the code of a key used again with another request (design
// §API v1: 409 idempotency_key_reused).
const CodeIdempotencyKeyReused = "idempotency_key_reused"

func keyReusedError(key string) error {
	return domain.FieldErrorf(domain.KindConflict, CodeIdempotencyKeyReused, "Idempotency-Key",
		"idempotency key %q was already used with another request", key)
}

// replayed looks up meta's idempotency key: done is true when the key was used before with
// the same request, and res is then the first result.
func (s *Service) replayed(ctx context.Context, meta Meta) (res Result, done bool, err error) {
	if meta.IdempotencyKey == "" {
		return Result{}, false, nil
	}
	stored, hash, found, err := s.store.LookupIdempotency(ctx, meta.IdempotencyKey)
	if err != nil {
		return Result{}, false, fmt.Errorf("look up idempotency key: %w", err)
	}
	if !found {
		return Result{}, false, nil
	}
	if !bytes.Equal(hash, meta.RequestHash) {
		return Result{}, false, keyReusedError(meta.IdempotencyKey)
	}
	stored.Replayed = true
	res, err = s.replayResult(ctx, stored)
	return res, err == nil, err
}

// replayResult rebuilds the Result of an earlier append from the log: the stored append
// result, its events, and the warnings they raised, computed from the state right after them
// exactly as the first answer computed them. So a retry gets the first answer byte for byte.
func (s *Service) replayResult(ctx context.Context, stored eventstore.AppendResult) (Result, error) {
	n := uint64(len(stored.EventIDs))
	if n == 0 || n > stored.StreamVersion {
		return Result{}, fmt.Errorf("replay %s: stored result has %d events at v%d", stored.Stream, n, stored.StreamVersion)
	}
	first := stored.StreamVersion - n + 1
	var events []domain.Event
	err := s.readStream(ctx, stored.Stream, first, func(e *domain.Envelope, ev domain.Event) bool {
		if e.StreamVersion > stored.StreamVersion {
			return false
		}
		events = append(events, ev)
		return true
	})
	if err != nil {
		return Result{}, err
	}
	if uint64(len(events)) != n {
		return Result{}, fmt.Errorf("replay %s: found %d of the %d events up to v%d", stored.Stream, len(events), n, stored.StreamVersion)
	}
	stored.Replayed = true
	res := Result{AppendResult: stored, Events: events}
	if !slices.ContainsFunc(events, func(e domain.Event) bool { return e.EventType() == domain.TypeInvoiceIssued }) {
		return res, nil // warningsFor needs no state: there is nothing to warn about
	}
	// The warnings depend on the state right after the events: fold the stream up to them.
	state := domain.NewCustomer()
	err = s.readStream(ctx, stored.Stream, 1, func(e *domain.Envelope, ev domain.Event) bool {
		if e.StreamVersion > stored.StreamVersion {
			return false
		}
		domain.Evolve(state, ev)
		return true
	})
	if err != nil {
		return Result{}, err
	}
	res.Warnings = warningsFor(state, events)
	return res, nil
}

// resolveCustomer fills the customer of a command that names only an invoice or a payment
// (the routes /v1/invoices/{id}/..., /v1/payments/{id}/...), from the directory.
func (s *Service) resolveCustomer(ctx context.Context, cmd domain.Command) (domain.Command, error) {
	if cmd.Customer() != "" {
		return cmd, nil
	}
	invoice := func(id domain.InvoiceID) (domain.CustomerID, error) {
		c, ok, err := s.dir.lookup(ctx, idInvoice, string(id))
		if err == nil && !ok {
			err = domain.FieldErrorf(domain.KindNotFound, domain.CodeUnknownInvoice, "invoice_id", "unknown invoice %s", id)
		}
		return c, err
	}
	payment := func(id domain.PaymentID) (domain.CustomerID, error) {
		c, ok, err := s.dir.lookup(ctx, idPayment, string(id))
		if err == nil && !ok {
			err = domain.FieldErrorf(domain.KindNotFound, domain.CodeUnknownPayment, "payment_id", "unknown payment %s", id)
		}
		return c, err
	}
	var err error
	switch c := cmd.(type) {
	case domain.DisputeInvoice:
		c.CustomerID, err = invoice(c.InvoiceID)
		return c, err
	case domain.ResolveDispute:
		c.CustomerID, err = invoice(c.InvoiceID)
		return c, err
	case domain.WriteOffInvoice:
		c.CustomerID, err = invoice(c.InvoiceID)
		return c, err
	case domain.ReversePayment:
		c.CustomerID, err = payment(c.PaymentID)
		return c, err
	case domain.AllocatePayment:
		if c.PaymentID != "" {
			c.CustomerID, err = payment(c.PaymentID)
			return c, err
		}
		if c.CreditNoteID != "" {
			owner, ok, lerr := s.dir.lookup(ctx, idCreditNote, string(c.CreditNoteID))
			if lerr == nil && !ok {
				lerr = domain.FieldErrorf(domain.KindNotFound, domain.CodeUnknownCreditNote, "credit_note_id", "unknown credit note %s", c.CreditNoteID)
			}
			c.CustomerID = owner
			return c, lerr
		}
	}
	return cmd, nil
}

// claimID reserves the new invoice, payment or credit-note id a command introduces. A
// malformed id claims nothing: Decide refuses it with the field named.
func (s *Service) claimID(ctx context.Context, cmd domain.Command) (*claim, error) {
	var k idKind
	var id string
	switch c := cmd.(type) {
	case domain.IssueInvoice:
		k, id = idInvoice, string(c.InvoiceID)
	case domain.RecordPayment:
		k, id = idPayment, string(c.PaymentID)
	case domain.IssueCreditNote:
		k, id = idCreditNote, string(c.CreditNoteID)
	default:
		return nil, nil
	}
	if domain.ValidateID(id) != nil {
		return nil, nil
	}
	return s.dir.claim(ctx, k, id, cmd.Customer())
}

// appendRequest builds the envelopes of events decided at version; causes, when not nil,
// gives each event's causation_id (causations), otherwise meta's applies to all.
func (s *Service) appendRequest(stream string, version uint64, events []domain.Event, meta Meta, causes []string) (eventstore.AppendRequest, error) {
	prepared, err := prepareAll(events)
	if err != nil {
		return eventstore.AppendRequest{Stream: stream}, err
	}
	return s.preparedRequest(stream, version, prepared, meta, causes), nil
}

func prepareAll(events []domain.Event) ([]Prepared, error) {
	out := make([]Prepared, len(events))
	for i, e := range events {
		p, err := Prepare(e)
		if err != nil {
			return nil, err
		}
		out[i] = p
	}
	return out, nil
}

// preparedRequest builds the envelopes of prepared events decided at version; causes as for
// appendRequest.
func (s *Service) preparedRequest(stream string, version uint64, events []Prepared, meta Meta, causes []string) eventstore.AppendRequest {
	req := eventstore.AppendRequest{
		Stream:          stream,
		ExpectedVersion: int64(version), //nolint:gosec // a stream version never nears 2^63
		IdempotencyKey:  meta.IdempotencyKey,
		RequestHash:     meta.RequestHash,
		Events:          make([]domain.Envelope, len(events)),
	}
	for i := range events {
		e := &events[i]
		req.Events[i] = domain.Envelope{
			EventID:       s.ids.newID(),
			Stream:        stream,
			Type:          e.Type,
			SchemaVersion: domain.CurrentSchemaVersion,
			EffectiveOn:   e.EffectiveOn,
			Actor:         meta.Actor,
			CorrelationID: meta.CorrelationID,
			CausationID:   causation(causes, i, meta),
			Data:          e.Data,
		}
	}
	return req
}

func causation(causes []string, i int, meta Meta) string {
	if causes == nil {
		return meta.CausationID
	}
	return causes[i]
}

// warningsFor lists what an accepted command's events deserve attention for, from the state
// right after them. It depends on nothing else, so a replay computes the same list.
func warningsFor(after *domain.Customer, events []domain.Event) []Warning {
	var out []Warning
	invoiced := false
	for _, e := range events {
		inv, ok := e.(domain.InvoiceIssued)
		if !ok {
			continue
		}
		invoiced = true
		// Payment-term compliance: design §Metrics (LME cap).
		if domain.ExceedsLMECap(inv.IssueDate, inv.DueDate) {
			out = append(out, Warning{Code: WarnTermsBeyondLegalCap, Message: fmt.Sprintf(warnTermsBeyondLegalCapFmt, inv.InvoiceID, inv.DueDate)})
		}
	}
	// Limit signal: "an invoice that would breach it" (design §Early-warning signals). The
	// invoice is recorded — it is a fact — and the answer says so.
	if limit := after.CreditLimit(); invoiced && after.Exposure().Minor > limit.Minor {
		out = append(out, Warning{Code: WarnCreditLimitExceeded, Message: fmt.Sprintf("exposure %s is above the credit limit %s", after.Exposure(), limit)})
	}
	return out
}

// customerLock is one customer's lock, shared by the commands and views waiting for it.
type customerLock struct {
	mu   sync.Mutex
	refs int // holders and waiters; guarded by Service.locksMu
}

// lock takes customer id's lock and returns its release. Each customer has its own lock,
// made on demand and dropped when nobody holds or waits for it: with locks shared by stripes
// of customers, a command waited for another customer's command, fdatasync included, on any
// collision (64 clients on 256 customers spent ~1 ms per request there).
func (s *Service) lock(id domain.CustomerID) (unlock func()) {
	s.locksMu.Lock()
	l := s.locks[id]
	if l == nil {
		l = &customerLock{}
		s.locks[id] = l
	}
	l.refs++
	s.locksMu.Unlock()
	l.mu.Lock()
	return func() {
		l.mu.Unlock()
		s.locksMu.Lock()
		if l.refs--; l.refs == 0 {
			delete(s.locks, id)
		}
		s.locksMu.Unlock()
	}
}

// stateLocked returns the cached state of id, reading and folding its stream on a miss. The
// caller holds id's lock, which guards the returned state.
func (s *Service) stateLocked(ctx context.Context, id domain.CustomerID) (*domain.Customer, error) {
	s.cacheMu.Lock()
	c, ok := s.cache[id]
	s.cacheMu.Unlock()
	if ok {
		return c, nil
	}
	c, err := s.fold(ctx, id, nil)
	if err != nil {
		return nil, err
	}
	s.cacheMu.Lock()
	defer s.cacheMu.Unlock()
	if len(s.cache) >= s.cachedMax {
		for k := range s.cache { // drop an arbitrary entry: map order is random
			delete(s.cache, k)
			break
		}
	}
	s.cache[id] = c
	return c, nil
}

func (s *Service) forgetLocked(id domain.CustomerID) {
	s.cacheMu.Lock()
	defer s.cacheMu.Unlock()
	delete(s.cache, id)
}

// fold reads id's stream and folds it into a new state the caller owns. keep, when set,
// stops the fold at the first event it refuses (a prefix of the stream, for known_at reads).
func (s *Service) fold(ctx context.Context, id domain.CustomerID, keep func(*domain.Envelope) bool) (*domain.Customer, error) {
	c := domain.NewCustomer()
	var n uint64
	err := s.readStream(ctx, domain.CustomerStream(id), 1, func(e *domain.Envelope, ev domain.Event) bool {
		if keep != nil && !keep(e) {
			return false
		}
		domain.Evolve(c, ev)
		n++
		return true
	})
	if err != nil {
		return nil, err
	}
	invariant(c.Version() == n, "fold of %s: version %d after %d events", id, c.Version(), n)
	return c, nil
}

// readStream calls fn with each event of stream from version from, in version order, until
// fn returns false.
func (s *Service) readStream(ctx context.Context, stream string, from uint64, fn func(*domain.Envelope, domain.Event) bool) error {
	for range streamPagesMax {
		page, err := s.store.ReadStream(ctx, stream, from, eventstore.ReadLimitMax)
		if err != nil {
			return fmt.Errorf("read %s from v%d: %w", stream, from, err)
		}
		for i := range page {
			e := &page[i]
			if e.StreamVersion != from {
				return fmt.Errorf("read %s: version %d, want %d (stream versions must be contiguous)", stream, e.StreamVersion, from)
			}
			ev, err := domain.DecodeEvent(e.Type, e.SchemaVersion, e.Data)
			if err != nil {
				return fmt.Errorf("read %s v%d: %w", stream, e.StreamVersion, err)
			}
			if !fn(e, ev) {
				return nil
			}
			from++
		}
		if len(page) < eventstore.ReadLimitMax {
			return nil
		}
	}
	return fmt.Errorf("read %s: more than %d pages", stream, streamPagesMax)
}

// Customer returns the current state of customer id as a fresh copy the caller owns, and
// whether the customer is registered. It reads and folds the stream; read models
// (projections) are the fast path for queries.
func (s *Service) Customer(ctx context.Context, id domain.CustomerID) (*domain.Customer, bool, error) {
	c, err := s.fold(ctx, id, nil)
	if err != nil {
		return nil, false, err
	}
	return c, c.Registered(), nil
}

// CustomerAt is Customer as known at an instant: the stream's events recorded at or before
// knownAt (a prefix of the stream, since recorded_at grows with the log).
func (s *Service) CustomerAt(ctx context.Context, id domain.CustomerID, knownAt time.Time) (*domain.Customer, bool, error) {
	c, err := s.fold(ctx, id, func(e *domain.Envelope) bool { return !e.RecordedAt.After(knownAt) })
	if err != nil {
		return nil, false, err
	}
	return c, c.Registered(), nil
}

// ViewCustomer calls fn with the cached current state of customer id, under the customer's
// lock: fn must only read it and must not keep it. It is the cheap read for queries that
// need no copy.
func (s *Service) ViewCustomer(ctx context.Context, id domain.CustomerID, fn func(*domain.Customer) error) error {
	defer s.lock(id)()
	c, err := s.stateLocked(ctx, id)
	if err != nil {
		return err
	}
	return fn(c)
}

// CustomerState returns the current state of a customer as a copy the caller owns (an
// unregistered customer when the log has none). It is what handlers/ingest validates rows
// against.
func (s *Service) CustomerState(ctx context.Context, id domain.CustomerID) (*domain.Customer, error) {
	c, _, err := s.Customer(ctx, id)
	return c, err
}

// KeyUsed reports whether an idempotency key was already used.
func (s *Service) KeyUsed(ctx context.Context, key string) (bool, error) {
	_, _, found, err := s.store.LookupIdempotency(ctx, key)
	if err != nil {
		return false, fmt.Errorf("look up idempotency key: %w", err)
	}
	return found, nil
}

// InvoiceCustomer returns the customer an invoice id belongs to.
func (s *Service) InvoiceCustomer(ctx context.Context, id domain.InvoiceID) (domain.CustomerID, bool, error) {
	return s.dir.lookup(ctx, idInvoice, string(id))
}

// PaymentCustomer returns the customer a payment id belongs to.
func (s *Service) PaymentCustomer(ctx context.Context, id domain.PaymentID) (domain.CustomerID, bool, error) {
	return s.dir.lookup(ctx, idPayment, string(id))
}

// CreditNoteCustomer returns the customer a credit-note id belongs to.
func (s *Service) CreditNoteCustomer(ctx context.Context, id domain.CreditNoteID) (domain.CustomerID, bool, error) {
	return s.dir.lookup(ctx, idCreditNote, string(id))
}

// Today returns the service clock's current UTC date: the default business date of a
// command that gives none.
func (s *Service) Today() domain.Date { return Today(s.clock) }

// Clock returns the service's clock.
func (s *Service) Clock() Clock { return s.clock }

// invariant panics when a programmer's invariant is broken (style §8); it never checks input.
func invariant(ok bool, format string, args ...any) {
	if !ok {
		panic("command: invariant broken: " + fmt.Sprintf(format, args...))
	}
}
