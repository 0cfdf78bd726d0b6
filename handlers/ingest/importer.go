package ingest

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/encours/encours/domain"
	"github.com/encours/encours/eventstore"
	"github.com/encours/encours/handlers/command"
)

// Ledger is what the importer needs of the write side (the command service).
type Ledger interface {
	// Execute decides and appends one command (the Applier).
	Execute(ctx context.Context, cmd domain.Command, meta command.Meta) (command.Result, error)
	// CustomerState returns the current state of a customer as a copy the caller owns (an
	// unregistered customer when the log has none), to decide rows against the log.
	CustomerState(ctx context.Context, id domain.CustomerID) (*domain.Customer, error)
	// KeyUsed reports whether an idempotency key was already used: its rows were imported.
	KeyUsed(ctx context.Context, key string) (bool, error)
	// InvoiceCustomer and PaymentCustomer name the customer an id already belongs to in the
	// log: an id is unique across customers.
	InvoiceCustomer(ctx context.Context, id domain.InvoiceID) (domain.CustomerID, bool, error)
	PaymentCustomer(ctx context.Context, id domain.PaymentID) (domain.CustomerID, bool, error)
	// AppendPrepared appends events decided in memory against a customer's state at version
	// and encoded by command.Prepare, in one append with an idempotency key (the bulk path).
	AppendPrepared(ctx context.Context, id domain.CustomerID, version uint64, events []command.Prepared, meta command.Meta) (eventstore.AppendResult, error)
}

// Options tune one import.
type Options struct {
	DryRun   bool // validate every row, append nothing
	Continue bool // append the customers whose rows are all valid; report the others' rows
	Actor    string
	// Progress, when set, is called every progressEvery rows and once at the end of each pass.
	Progress func(Progress)
	// Rejects, when set, receives every rejected row (in the order they are found, which
	// is not always the file's).
	Rejects func(RowError)
	// SizeHint is the file's size in bytes when known (0: unknown). It sets how many
	// partitions the rows are spread over, so that each holds about partitionBytes.
	SizeHint int64
	// TempDir holds the partition files while the import runs ("": the system's).
	TempDir string
	// batchMemoryBytes bounds the decided batches kept in memory (0: preparedMemoryBytesMax);
	// tests lower it to exercise the batch file.
	batchMemoryBytes int
}

// Progress is reported while an import runs.
type Progress struct {
	Pass    string // "read", "validate" or "append"
	Rows    int    // rows done in this pass
	Total   int    // rows in the file, once the read pass is over (0 before)
	Elapsed time.Duration
}

// Report says what an import did.
type Report struct {
	Rows              int        `json:"rows"`
	Customers         int        `json:"customers"`
	Commands          int        `json:"commands"`
	Appended          int        `json:"events_appended"`    // events appended (one per command)
	Batches           int        `json:"batches"`            // appends made, up to eventstore.AppendEventsMax events each
	AlreadyPresent    int        `json:"already_present"`    // rows whose batch had been appended before: nothing appended
	Skipped           int        `json:"skipped"`            // customers already registered, rows of rejected customers
	RejectedRows      int        `json:"rejected_rows"`      // rows refused
	RejectedCustomers int        `json:"rejected_customers"` // customers held back under --continue
	Errors            []RowError `json:"rejects,omitempty"`  // the refusals of the first rowErrorsListMax rows, in row order
	DryRun            bool       `json:"dry_run"`
}

// ErrRejected is returned (wrapped) when rows were refused and nothing was appended.
var ErrRejected = errors.New("import refused")

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
