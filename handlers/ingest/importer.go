package ingest

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/encours/encours/domain"
	"github.com/encours/encours/handlers/command"
)

// Ledger is what the importer needs of the write side.
type Ledger interface {
	// Execute decides and appends one command (the command service).
	Execute(ctx context.Context, cmd domain.Command, meta command.Meta) (command.Result, error)
	// CustomerState returns the current state of a customer as a copy the caller owns (an
	// unregistered customer when the log has none), to validate rows against the log.
	CustomerState(ctx context.Context, id domain.CustomerID) (*domain.Customer, error)
	// KeyUsed reports whether an idempotency key was already used: its row was imported.
	KeyUsed(ctx context.Context, key string) (bool, error)
}

// Options tune one import.
type Options struct {
	DryRun   bool // validate every row, append nothing
	Continue bool // append the customers whose rows are all valid; report the others' rows
	Actor    string
	// Progress, when set, is called every progressEvery rows and once at the end of each pass.
	Progress func(Progress)
	// Rejects, when set with Continue, receives one CSV line per rejected row.
	Rejects func(RowError)
}

// Progress is reported while an import runs.
type Progress struct {
	Pass    string // "validate" or "append"
	Rows    int
	Elapsed time.Duration
}

// Report says what an import did.
type Report struct {
	Rows              int        `json:"rows"`
	Commands          int        `json:"commands"`
	Appended          int        `json:"appended"`           // commands that appended events
	AlreadyPresent    int        `json:"already_present"`    // commands whose idempotency key had been used: nothing appended
	Skipped           int        `json:"skipped"`            // customers already registered, rows of rejected customers
	RejectedRows      int        `json:"rejected_rows"`      // rows refused
	RejectedCustomers int        `json:"rejected_customers"` // customers held back under --continue
	Errors            []RowError `json:"errors,omitempty"`   // the first rowErrorsListMax refusals
	DryRun            bool       `json:"dry_run"`
}

// ErrRejected is returned (wrapped) when rows were refused and nothing was appended.
var ErrRejected = errors.New("import refused")

const progressEvery = 10_000

// Run imports the CSV that open returns, in two passes over it: the first decodes every row
// and decides every command against an in-memory copy of the customers' state (nothing is
// appended), the second appends through the command service with each command's
// idempotency key. A file with a bad row appends nothing unless opts.Continue is set.
func Run(ctx context.Context, l Ledger, open func() (io.ReadCloser, error), f Format, opts Options) (Report, error) {
	if l == nil || open == nil || f == nil {
		panic("ingest: Run needs a ledger, a file and a format")
	}
	rep := Report{DryRun: opts.DryRun}
	rejected, err := validate(ctx, l, open, f, opts, &rep)
	if err != nil {
		return rep, err
	}
	if rep.RejectedRows > 0 && !opts.Continue {
		return rep, fmt.Errorf("%w: %d of %d rows are invalid, nothing was appended", ErrRejected, rep.RejectedRows, rep.Rows)
	}
	if opts.DryRun {
		return rep, nil
	}
	return rep, apply(ctx, l, open, f, opts, rejected, &rep)
}

// validate is the first pass. It returns the customers with at least one refused row.
func validate(ctx context.Context, l Ledger, open func() (io.ReadCloser, error), f Format, opts Options, rep *Report) (map[domain.CustomerID]bool, error) {
	rc, err := open()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	r, err := NewReader(rc, f)
	if err != nil {
		var re *RowError
		if errors.As(err, &re) {
			rep.RejectedRows++
			rep.Errors = append(rep.Errors, *re)
			return nil, fmt.Errorf("%w: %v", ErrRejected, err)
		}
		return nil, err
	}
	states := map[domain.CustomerID]*domain.Customer{}
	rejected := map[domain.CustomerID]bool{}
	reject := func(re RowError, cust domain.CustomerID) {
		rep.RejectedRows++
		if len(rep.Errors) < rowErrorsListMax {
			rep.Errors = append(rep.Errors, re)
		}
		if cust != "" && !rejected[cust] {
			rejected[cust] = true
			rep.RejectedCustomers++
		}
		if opts.Rejects != nil {
			opts.Rejects(re)
		}
	}
	start := time.Now()
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		recs, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		rep.Rows++
		if opts.Progress != nil && rep.Rows%progressEvery == 0 {
			opts.Progress(Progress{Pass: "validate", Rows: rep.Rows, Elapsed: time.Since(start)})
		}
		var re *RowError
		if errors.As(err, &re) {
			reject(*re, "")
			continue
		}
		if err != nil {
			return nil, err
		}
		// Decide the row's commands in order against the customer's state folded so far. A
		// refused command rejects its customer: later rows of that customer may be refused
		// because of it, and are reported too.
		for _, rec := range recs {
			rep.Commands++
			id := rec.Command.Customer()
			c, ok := states[id]
			if !ok {
				if c, err = l.CustomerState(ctx, id); err != nil {
					return nil, err
				}
				states[id] = c
			}
			if _, isReg := rec.Command.(domain.RegisterCustomer); isReg && c.Registered() {
				continue
			}
			used, err := l.KeyUsed(ctx, rec.Key)
			if err != nil {
				return nil, err
			}
			if used {
				continue // imported before: its events are already in c
			}
			events, err := domain.Decide(c, rec.Command)
			if err != nil {
				if domain.ErrorKind(err) == domain.KindInternal {
					return nil, err
				}
				reject(*fieldError(rec.Row, columnOf(f, err), err), id)
				break
			}
			for _, e := range events {
				domain.Evolve(c, e)
			}
		}
	}
	if opts.Progress != nil {
		opts.Progress(Progress{Pass: "validate", Rows: rep.Rows, Elapsed: time.Since(start)})
	}
	return rejected, nil
}

// Workers of an Applier. Records of one customer go to one worker, in submission order, so
// a customer's commands apply in the order they were validated; different customers append
// concurrently and share the store's group commits.
const (
	applyWorkers  = 32
	applyQueueMax = 256 // records waiting per worker; full: Submit waits
	hashSeedFNV   = 2166136261
	hashPrimeFNV  = 16777619
)

// Counts say what an Applier did.
type Counts struct {
	Appended       int // commands that appended events
	AlreadyPresent int // commands whose idempotency key had been used: nothing appended
	Skipped        int // registrations of customers that already existed
}

// Applier appends records through a Ledger concurrently across customers and in order
// within each. The first failure stops it; Close reports it.
type Applier struct {
	ctx    context.Context
	cancel context.CancelCauseFunc
	queues []chan Record
	wg     sync.WaitGroup
	mu     sync.Mutex // guards counts
	counts Counts
}

// NewApplier starts the workers; they end at Close. actor is recorded on every event.
func NewApplier(ctx context.Context, l Ledger, actor string) *Applier {
	if l == nil {
		panic("ingest: NewApplier needs a ledger")
	}
	a := &Applier{queues: make([]chan Record, applyWorkers)}
	a.ctx, a.cancel = context.WithCancelCause(ctx)
	for i := range a.queues {
		a.queues[i] = make(chan Record, applyQueueMax)
		a.wg.Add(1)
		go a.work(l, actor, a.queues[i]) // ends when its queue is closed and drained
	}
	return a
}

func (a *Applier) work(l Ledger, actor string, q <-chan Record) {
	defer a.wg.Done()
	for rec := range q {
		if a.ctx.Err() != nil {
			continue // drain after a failure
		}
		res, err := l.Execute(a.ctx, rec.Command, command.Meta{Actor: actor, IdempotencyKey: rec.Key, RequestHash: keyHash(rec.Key)})
		a.mu.Lock()
		switch {
		case err == nil && res.Replayed:
			a.counts.AlreadyPresent++
		case err == nil:
			a.counts.Appended++
		case domain.ErrorCode(err) == domain.CodeCustomerExists:
			a.counts.Skipped++ // registered before, by hand or by another file
		default:
			a.cancel(fmt.Errorf("row %d: %w", rec.Row, err))
		}
		a.mu.Unlock()
	}
}

// Submit queues one record; it waits while the customer's worker is busy and returns the
// failure that stopped the Applier, if any.
func (a *Applier) Submit(rec Record) error {
	select {
	case a.queues[workerOf(rec.Command.Customer())] <- rec:
		return nil
	case <-a.ctx.Done():
		return context.Cause(a.ctx)
	}
}

// Close waits for every queued record and returns the counts and the first failure.
func (a *Applier) Close() (Counts, error) {
	for _, q := range a.queues {
		close(q)
	}
	a.wg.Wait()
	err := context.Cause(a.ctx)
	a.cancel(nil)
	return a.counts, err
}

// apply is the second pass: every command of every accepted customer, in file order per
// customer.
func apply(ctx context.Context, l Ledger, open func() (io.ReadCloser, error), f Format, opts Options, rejected map[domain.CustomerID]bool, rep *Report) error {
	rc, err := open()
	if err != nil {
		return err
	}
	defer rc.Close()
	r, err := NewReader(rc, f)
	if err != nil {
		return err
	}
	a := NewApplier(ctx, l, opts.Actor)
	registered := map[domain.CustomerID]bool{}
	start := time.Now()
	rows := 0
	var submitErr error
read:
	for {
		recs, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		rows++
		if opts.Progress != nil && rows%progressEvery == 0 {
			opts.Progress(Progress{Pass: "append", Rows: rows, Elapsed: time.Since(start)})
		}
		if err != nil {
			continue // refused in the first pass and reported there
		}
		for _, rec := range recs {
			id := rec.Command.Customer()
			if rejected[id] {
				rep.Skipped++
				continue
			}
			if _, isReg := rec.Command.(domain.RegisterCustomer); isReg {
				if registered[id] {
					rep.Skipped++
					continue
				}
				registered[id] = true
			}
			if submitErr = a.Submit(rec); submitErr != nil {
				break read
			}
		}
	}
	counts, err := a.Close()
	rep.Appended += counts.Appended
	rep.AlreadyPresent += counts.AlreadyPresent
	rep.Skipped += counts.Skipped
	if err != nil {
		return err
	}
	if opts.Progress != nil {
		opts.Progress(Progress{Pass: "append", Rows: rows, Elapsed: time.Since(start)})
	}
	return nil
}

// workerOf spreads customers over the workers (FNV-1a of the id).
func workerOf(id domain.CustomerID) int {
	h := uint32(hashSeedFNV)
	for i := 0; i < len(id); i++ {
		h ^= uint32(id[i])
		h *= hashPrimeFNV
	}
	return int(h % applyWorkers)
}

// keyHash is the request hash stored with an import key: the key is itself derived from the
// row's content, so hashing it is enough to tell "the same row" apart.
func keyHash(key string) []byte {
	h := sha256.Sum256([]byte(key))
	return h[:]
}

// columnOf maps the request field a domain error names to the format's column.
func columnOf(f Format, err error) string {
	var de *domain.Error
	if !errors.As(err, &de) {
		return ""
	}
	field, _, _ := strings.Cut(de.Field, "[") // allocations[0].amount -> allocations
	if m, ok := f.(interface{ Column(field string) string }); ok {
		return m.Column(field)
	}
	return field
}
