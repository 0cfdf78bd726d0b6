package ingest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/encours/encours/domain"
	"github.com/encours/encours/eventstore"
	"github.com/encours/encours/handlers/command"
)

// The bulk path (see the package doc).
const (
	// rowCommandsMax is the most commands a row maps to (register, invoice, dispute,
	// payment, resolution), each deciding one event (domain.DecideEvent).
	rowCommandsMax = 5
	// batchRowsMax is the rows of one customer appended together: at most
	// eventstore.AppendEventsMax events. A batch is cut by rows, never by events, so that the
	// same file always gives the same batches and the same idempotency keys.
	batchRowsMax = eventstore.AppendEventsMax / rowCommandsMax
	// bulkWorkers append batches concurrently (one customer's batches on one worker, in
	// order), so that appends share the store's group commits: the more batches wait for a
	// group, the fewer fdatasyncs for the file (BenchmarkImport's events/sync).
	// bulkQueueMax bounds the batches waiting per worker.
	bulkWorkers   = 32
	bulkQueueMax  = 4
	progressEvery = 100_000
)

// Run imports the CSV that open returns (opened once). It reads the file in one streaming
// pass that maps and checks every row and spreads the good ones over partition files by
// customer; then it decides every partition's customers in memory, appending nothing but
// keeping the decided batches, encoded (in memory up to a bound, then in a file); then, when
// no row was refused (or opts.Continue holds back the customers with a refused row), it
// appends the kept batches. A file with a bad row appends nothing unless opts.Continue is
// set.
func Run(ctx context.Context, l Ledger, open func() (io.ReadCloser, error), f Format, opts Options) (Report, error) {
	if l == nil || open == nil || f == nil {
		panic("ingest: Run needs a ledger, a file and a format")
	}
	rep := Report{DryRun: opts.DryRun}
	im := &importer{l: l, f: f, opts: opts, rep: &rep, rejected: map[domain.CustomerID]bool{},
		fingerprint: fmt.Sprintf("%s|%+v", f.Name(), f), seed: maphash.MakeSeed()}
	sp, err := newSpill(opts.TempDir, partitionsFor(opts.SizeHint))
	if err != nil {
		return rep, err
	}
	defer sp.remove()
	im.spill = sp
	defer im.sortErrors()
	if err := im.read(ctx, open); err != nil {
		return rep, err
	}
	if err := im.checkIDs(ctx); err != nil {
		return rep, err
	}
	if !opts.DryRun {
		im.prepared = newPreparedLog(sp.dir, opts.batchMemoryBytes)
		defer im.prepared.close()
	}
	if err := im.decide(ctx); err != nil {
		return rep, err
	}
	if rep.RejectedRows > 0 && !opts.Continue {
		return rep, fmt.Errorf("%w: %d of %d rows are invalid, nothing was appended", ErrRejected, rep.RejectedRows, rep.Rows)
	}
	if opts.DryRun {
		return rep, nil
	}
	return rep, im.append(ctx)
}

// importer is the state of one Run.
type importer struct {
	l     Ledger
	f     Format
	opts  Options
	rep   *Report
	spill *spill
	// rows maps a row's fields as the format's Map does (by position, with the columns
	// resolved once, when the format can bind to the header). Safe for concurrent use.
	rows     rowMapper
	rejected map[domain.CustomerID]bool // customers with a refused row: held back whole
	prepared *preparedLog               // the batches decided by the validate pass (nil: dry run)
	// rejectedRows counts the rows of the customers held back, known once each is decided;
	// they are the append pass's Skipped.
	rejectedRows int
	decided      int    // rows the validate pass decided
	fingerprint  string // the format and its mapping, hashed into batch keys
	seed         maphash.Seed
	start        time.Time
	// mu guards rep, rejected and the callbacks while partitions are decided concurrently.
	mu sync.Mutex
}

func (im *importer) progress(pass string, rows int) {
	im.mu.Lock()
	defer im.mu.Unlock()
	im.progressLocked(pass, rows)
}

func (im *importer) progressLocked(pass string, rows int) {
	if im.opts.Progress != nil {
		total := 0
		if pass != "read" {
			total = im.rep.Rows
		}
		im.opts.Progress(Progress{Pass: pass, Rows: rows, Total: total, Elapsed: time.Since(im.start)})
	}
}

// reject records a refused row; cust, when known, is held back whole.
func (im *importer) reject(re RowError, cust domain.CustomerID) {
	im.mu.Lock()
	defer im.mu.Unlock()
	im.rep.RejectedRows++
	im.rep.Errors = append(im.rep.Errors, re)
	if len(im.rep.Errors) >= 2*rowErrorsListMax {
		im.sortErrors()
	}
	if cust != "" && !im.rejected[cust] {
		im.rejected[cust] = true
		im.rep.RejectedCustomers++
	}
	if im.opts.Rejects != nil {
		im.opts.Rejects(re)
	}
}

// sortErrors keeps the rowErrorsListMax refusals of the lowest rows, in row order: the
// partitions are decided one after the other, so refusals are found out of order.
func (im *importer) sortErrors() {
	slices.SortStableFunc(im.rep.Errors, func(a, b RowError) int { return a.Row - b.Row })
	if len(im.rep.Errors) > rowErrorsListMax {
		im.rep.Errors = slices.Clip(im.rep.Errors[:rowErrorsListMax])
	}
}

func (im *importer) partition(key string, n int) int {
	return int(maphash.String(im.seed, key) % uint64(n)) //nolint:gosec // n is a small positive count
}

// idPartition is the id partition of the id prefix+id of kind ('i' or 'p').
func (im *importer) idPartition(kind byte, prefix, id string, n int) int {
	var h maphash.Hash
	h.SetSeed(im.seed)
	_ = h.WriteByte(kind)
	_, _ = h.WriteString(prefix)
	_, _ = h.WriteString(id)
	return int(h.Sum64() % uint64(n)) //nolint:gosec // n is a small positive count
}

// rowMapper maps the rows of one file: a format bound to the file's header.
type rowMapper interface {
	// check checks a row as the format's Map does, with the same refusals, and says whose
	// it is and the invoice and payment ids it introduces, without building its commands.
	// It may append to parsed a compact form of what it parsed (parsedMapper), returned
	// then, so that appendCommands builds the commands from it instead of the fields.
	check(row int, fields []string, ids *rowIDs, parsed []byte) ([]byte, error)
	// appendCommands appends the commands Map returns for the row of customer cust to dst:
	// from parsed, what check appended for the row, or from its fields when parsed is "".
	// Without register, it may leave out the registration of the row's customer (the
	// customer is registered already: Decide would not see it), and says how many commands it
	// left out. A payment command's allocations may use allocs (one at least, or nil), so
	// that the commands hold what they hold only until allocs is used again.
	appendCommands(dst []domain.Command, row int, cust string, fields []string, parsed string, register bool, allocs []domain.Allocation) (_ []domain.Command, omitted int, _ error)
}

// rowIDs are the customer of a row and the invoice and payment ids it introduces.
type rowIDs struct {
	cust domain.CustomerID
	n    int
	ids  [rowCommandsMax]rowID
}

// rowID is an invoice ('i') or payment ('p') id, prefix+id (kept apart: no concatenation).
type rowID struct {
	kind       byte
	prefix, id string
}

func (r *rowIDs) add(kind byte, prefix, id string) {
	r.ids[r.n] = rowID{kind: kind, prefix: prefix, id: id}
	r.n++
}

// mapMapper is the rowMapper of a format that does not bind to a header: its Map, through
// the reader's getter.
type mapMapper struct {
	f Format
	r *Reader
}

func (m mapMapper) check(row int, fields []string, ids *rowIDs, parsed []byte) ([]byte, error) {
	cmds, err := m.f.Map(row, m.r.getter(fields))
	if err != nil {
		return parsed, err
	}
	if len(cmds) == 0 || len(cmds) > rowCommandsMax {
		invariant(false, "format %s mapped row %d to %d commands", m.f.Name(), row, len(cmds))
	}
	ids.cust = cmds[0].Customer()
	for _, c := range cmds {
		if c.Customer() != ids.cust {
			invariant(false, "format %s mapped row %d to commands of two customers", m.f.Name(), row)
		}
		switch c := c.(type) {
		case domain.IssueInvoice:
			ids.add('i', "", string(c.InvoiceID))
		case domain.RecordPayment:
			ids.add('p', "", string(c.PaymentID))
		}
	}
	return parsed, nil
}

func (m mapMapper) appendCommands(dst []domain.Command, row int, _ string, fields []string, _ string, _ bool, _ []domain.Allocation) ([]domain.Command, int, error) {
	cmds, err := m.f.Map(row, m.r.getter(fields))
	return append(dst, cmds...), 0, err
}

// read is the streaming pass: every row is parsed, checked and mapped to commands; a good row
// goes, with its customer id first, to its customer's partition, and the ids it introduces to
// their id partitions.
func (im *importer) read(ctx context.Context, open func() (io.ReadCloser, error)) error {
	im.start = time.Now()
	rc, err := open()
	if err != nil {
		return err
	}
	defer rc.Close()
	r, err := NewReader(rc, im.f)
	if err != nil {
		var re *RowError
		if errors.As(err, &re) {
			im.reject(*re, "")
			return fmt.Errorf("%w: %v", ErrRejected, err)
		}
		return err
	}
	im.rows = mapMapper{f: im.f, r: r}
	if b, ok := im.f.(interface {
		bind(cols map[string]int) rowMapper
	}); ok {
		im.rows = b.bind(r.cols)
	}
	custCol := columnFor(im.f, "customer_id")
	nc, ni := len(im.spill.customers), len(im.spill.ids)
	rec := make([]string, 0, columnsMax+1)
	chunks, recycle, stop := scanChunks(r)
	defer stop() // before rc.Close: the scanner reads rc until it is stopped
	var ids rowIDs
	var parsed []byte
	for chunk := range chunks {
		if err := ctx.Err(); err != nil {
			return err
		}
		for i := range chunk.rows {
			row := &chunk.rows[i]
			if errors.Is(row.err, io.EOF) {
				break
			}
			fields := chunk.fields[row.from:row.to:row.to]
			err := row.err
			ids.n = 0
			if err == nil {
				parsed, err = im.rows.check(row.row, fields, &ids, parsed[:0])
			}
			im.rep.Rows++
			if im.rep.Rows%progressEvery == 0 {
				im.progress("read", im.rep.Rows)
			}
			if err != nil {
				var re *RowError
				if !errors.As(err, &re) {
					return err
				}
				var cust domain.CustomerID
				if row.to > row.from {
					cust = domain.CustomerID(r.getter(fields)(custCol))
				}
				im.reject(*re, cust)
				continue
			}
			cust := string(ids.cust)
			rec = append(append(rec[:0], cust), fields...)
			part := im.spill.customers[im.partition(cust, nc)]
			if len(parsed) > 0 {
				err = part.writeParsed(row.row, parsed, rec...)
			} else {
				err = part.write(spillRow, row.row, rec...)
			}
			if err != nil {
				return fmt.Errorf("import: write partition: %w", err)
			}
			for _, id := range ids.ids[:ids.n] {
				if err := im.spill.ids[im.idPartition(id.kind, id.prefix, id.id, ni)].writeID(row.row, id.kind, id.prefix, id.id, cust); err != nil {
					return fmt.Errorf("import: write partition: %w", err)
				}
			}
		}
		recycle(chunk)
	}
	im.progress("read", im.rep.Rows)
	return im.spill.finish()
}

// scanChunkRows is the rows the scanner hands over at once, and scanChunksQueued the chunks
// it may read ahead: a few hundred kilobytes of CSV.
const (
	scanChunkRows    = 512
	scanChunksQueued = 4
)

// scanChunk is rows scanned (parsed and checked for shape, not mapped) in file order.
type scanChunk struct {
	rows   []scannedRow
	fields []string // every row's fields, back to back
}

// scannedRow is one row of a chunk: its number, its fields (chunk.fields[from:to]) and its
// refusal, if any. A row with err io.EOF ends the file; any error that is not a *RowError
// ends the scan.
type scannedRow struct {
	row      int
	from, to int
	err      error
}

// scanChunks runs r.scan on its own goroutine, so that parsing the CSV overlaps with mapping
// and spilling the rows on the caller's (the read pass's two halves, on the two cores). The
// chunks come in file order; the channel is closed after the last. The caller hands a chunk
// it is done with to recycle, which the scanner fills again instead of allocating a new one.
// stop ends the goroutine and waits for it, whether or not the chunks were all received (at
// most one row's read: it checks for stop before each row).
func scanChunks(r *Reader) (chunks <-chan *scanChunk, recycle func(*scanChunk), stop func()) {
	out := make(chan *scanChunk, scanChunksQueued)
	free := make(chan *scanChunk, scanChunksQueued+2)
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // ends at the end of the file, a source error, or stop
		defer wg.Done()
		defer close(out)
		for {
			var c *scanChunk
			select {
			case c = <-free:
				c.rows, c.fields = c.rows[:0], c.fields[:0]
			default:
				c = &scanChunk{rows: make([]scannedRow, 0, scanChunkRows), fields: make([]string, 0, scanChunkRows*len(r.cols))}
			}
			last := false
			for len(c.rows) < scanChunkRows && !last {
				select {
				case <-done: // the read pass failed: stop at this row, not at the chunk's end
					return
				default:
				}
				fields, err := r.scan()
				from := len(c.fields)
				c.fields = append(c.fields, fields...) // the strings stay; the slice is reused by r
				c.rows = append(c.rows, scannedRow{row: r.row, from: from, to: len(c.fields), err: err})
				last = err != nil && !isRowError(err) // io.EOF or the source failed
			}
			select {
			case out <- c:
			case <-done:
				return
			}
			if last {
				return
			}
		}
	}()
	var once sync.Once
	recycle = func(c *scanChunk) {
		select {
		case free <- c:
		default: // enough spare chunks
		}
	}
	return out, recycle, func() {
		once.Do(func() { close(done) })
		wg.Wait()
	}
}

// isRowError reports whether err is a refused row (the scan goes on after it).
func isRowError(err error) bool {
	var re *RowError
	return errors.As(err, &re)
}

// checkIDs refuses an invoice or payment id that two customers of the file use, or that the
// log already gives to another customer (ids are unique across customers; one customer's
// duplicates are the domain's to refuse). An id lives in one id partition, so the partitions
// are checked independently, on up to GOMAXPROCS goroutines (at most decideWorkersMax), each
// holding one partition in memory.
func (im *importer) checkIDs(ctx context.Context) error {
	return eachPartition(ctx, im.spill.ids, func() func(context.Context, *spillFile) error {
		return im.checkIDPartition
	})
}

// checkIDPartition checks the ids of one id partition, in file order: the first customer
// to use an id in the file owns it, unless the log gives it to another.
func (im *importer) checkIDPartition(ctx context.Context, part *spillFile) error {
	recs, err := part.readAll()
	if err != nil {
		return err
	}
	// The first customer of each invoice id and each payment id, in file order.
	invoices, payments := make(map[string]string, len(recs)), make(map[string]string, len(recs)/2)
	for _, rec := range recs {
		if len(rec.fields) != 3 {
			invariant(false, "id record of %d fields", len(rec.fields))
		}
		kind, id, cust := rec.fields[0], rec.fields[1], rec.fields[2]
		owners := invoices
		if kind == "p" {
			owners = payments
		}
		owner, seen := owners[id]
		if !seen {
			owners[id] = cust
			var logOwner domain.CustomerID
			var found bool
			if kind == "i" {
				logOwner, found, err = im.l.InvoiceCustomer(ctx, domain.InvoiceID(id))
			} else {
				logOwner, found, err = im.l.PaymentCustomer(ctx, domain.PaymentID(id))
			}
			if err != nil {
				return err
			}
			if !found || string(logOwner) == cust {
				continue
			}
		} else if owner == cust {
			continue
		}
		code, what := domain.CodeDuplicateInvoice, "invoice"
		if kind == "p" {
			code, what = domain.CodeDuplicatePayment, "payment"
		}
		im.reject(RowError{Row: rec.row, Field: columnFor(im.f, "invoice_id"), Code: code,
			Reason: fmt.Sprintf("%s %s is already recorded for another customer", what, id)}, domain.CustomerID(cust))
	}
	return nil
}

// decide runs over the customer partitions: each partition's rows are grouped by customer
// in file order and decided against the customer's state read from the log, batchRowsMax
// rows at a time. A batch whose key was used before was imported before and is skipped (its
// events are in the state read from the log); the others' events are encoded and kept for
// the append pass, unless the import is a dry run.
func (im *importer) decide(ctx context.Context) error {
	im.start = time.Now()
	done := 0
	err := im.decidePartitions(ctx, &done)
	if err == nil {
		im.decided = done
		im.progress("validate", done)
	}
	return err
}

// append appends the batches the validate pass kept, in the order it decided them (a
// customer's in file order), skipping the customers held back.
func (im *importer) append(ctx context.Context) error {
	im.start = time.Now()
	im.rep.Skipped += im.rejectedRows
	ap := newAppender(ctx, im.l, im.opts.Actor)
	done := 0
	err := im.prepared.each(func(b *preparedBatch) error {
		before := done / progressEvery
		done += b.rows
		if done/progressEvery != before {
			im.progress("append", done)
		}
		if im.rejected[b.cust] { // read-only once the validate pass is over
			return nil
		}
		return ap.submit(b)
	})
	appended, batches, replayed, cerr := ap.close()
	im.rep.Appended += appended
	im.rep.Batches += batches
	im.rep.AlreadyPresent += replayed
	if err == nil {
		err = cerr
	}
	if err == nil {
		im.progress("append", im.decided)
	}
	return err
}

// decideWorkersMax bounds the partitions decided at once: each holds one partition in memory.
const decideWorkersMax = 4

// tally counts what deciding one partition did; partitions are decided concurrently and
// merge their tallies into the report.
type tally struct {
	rows, customers, commands, skipped, alreadyPresent, rejectedRows int
}

// decidePartitions decides the customer partitions on up to GOMAXPROCS goroutines (at most
// decideWorkersMax): a customer lives in one partition, so its batches stay in order.
func (im *importer) decidePartitions(ctx context.Context, done *int) error {
	return eachPartition(ctx, im.spill.customers, func() func(context.Context, *spillFile) error {
		sc := &decideScratch{} // one per goroutine
		return func(ctx context.Context, part *spillFile) error {
			var t tally
			err := im.decidePartition(ctx, part, &t, sc)
			im.mu.Lock()
			im.rep.Customers += t.customers
			im.rep.Commands += t.commands
			im.rep.Skipped += t.skipped
			im.rep.AlreadyPresent += t.alreadyPresent
			im.rejectedRows += t.rejectedRows
			before := *done / progressEvery
			*done += t.rows
			if *done/progressEvery != before {
				im.progressLocked("validate", *done)
			}
			im.mu.Unlock()
			return err
		}
	})
}

// eachPartition runs a worker on each of parts, on up to GOMAXPROCS goroutines (at most
// decideWorkersMax: each holds one partition in memory). newWorker makes one goroutine's
// worker (its own scratch). The first error cancels the partitions not started yet and is
// returned.
func eachPartition(ctx context.Context, parts []*spillFile, newWorker func() func(context.Context, *spillFile) error) error {
	workers := min(runtime.GOMAXPROCS(0), decideWorkersMax, len(parts))
	next := make(chan *spillFile)
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		work := newWorker()
		go func() { // ends when next is closed
			defer wg.Done()
			for part := range next {
				if ctx.Err() != nil {
					continue // drain after a failure
				}
				if err := work(ctx, part); err != nil {
					cancel(err)
				}
			}
		}()
	}
feed:
	for _, part := range parts {
		select {
		case next <- part:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	return context.Cause(ctx)
}

// decidePartition decides the customers of one partition.
func (im *importer) decidePartition(ctx context.Context, part *spillFile, t *tally, sc *decideScratch) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	recs, err := part.readAll()
	if err != nil {
		return err
	}
	// Group by customer, keeping file order within each and first-seen order across.
	groups := map[string][]int32{}
	var order []string
	for i, rec := range recs {
		cust := rec.cust
		if _, ok := groups[cust]; !ok {
			order = append(order, cust)
		}
		groups[cust] = append(groups[cust], int32(i)) //nolint:gosec // a partition holds far fewer than 2^31 rows
	}
	for _, cust := range order {
		idx := groups[cust]
		if err := im.decideCustomer(ctx, domain.CustomerID(cust), recs, idx, t, sc); err != nil {
			return err
		}
		t.rows += len(idx)
	}
	return nil
}

// decideScratch is the buffers one goroutine of the validate pass reuses from batch to
// batch: nothing of them outlives a batch (preparedLog.add copies what it keeps).
type decideScratch struct {
	key      []byte             // what a batch key hashes
	cmds     []domain.Command   // one row's commands
	events   []domain.Event     // one batch's events
	data     []byte             // one batch's events, encoded back to back
	prepared []command.Prepared // one batch's events, prepared (Data in data)
	// allocs is the allocations of one row's payment command: decided (DecideEvent copies
	// them into its event) before the next row's commands are built.
	allocs [1]domain.Allocation
}

// decideCustomer decides one customer's rows (recs[idx], in file order) and keeps its
// batches for the append pass.
func (im *importer) decideCustomer(ctx context.Context, cust domain.CustomerID, recs []spilled, idx []int32, t *tally, sc *decideScratch) error {
	t.customers++
	state, err := im.l.CustomerState(ctx, cust)
	if err != nil {
		return err
	}
	// A row issues one invoice and records at most one payment: room for them all at once.
	state.Reserve(len(idx), len(idx))
	for b := 0; b < len(idx); b += batchRowsMax {
		batch := idx[b:min(b+batchRowsMax, len(idx))]
		key := im.batchKey(cust, recs, batch, sc)
		used, err := im.l.KeyUsed(ctx, key)
		if err != nil {
			return err
		}
		if used {
			t.alreadyPresent += len(batch)
			continue
		}
		version := state.Version()
		sc.events = sc.events[:0]
		for _, i := range batch {
			rec := &recs[i]
			var omitted int
			sc.cmds, omitted, err = im.rows.appendCommands(sc.cmds[:0], rec.row, rec.cust, fieldsAfter(rec.fields), rec.parsed, !state.Registered(), sc.allocs[:])
			if err != nil {
				return fmt.Errorf("import: row %d mapped in the first pass and not now: %w", rec.row, err)
			}
			t.commands += omitted // registrations of a customer registered before: skipped
			t.skipped += omitted
			for _, c := range sc.cmds {
				t.commands++
				if _, isReg := c.(domain.RegisterCustomer); isReg && state.Registered() {
					t.skipped++
					continue
				}
				ev, err := domain.DecideEvent(state, c)
				if err != nil {
					if domain.ErrorKind(err) == domain.KindInternal {
						return fmt.Errorf("row %d: %w", rec.row, err)
					}
					im.reject(*fieldError(rec.row, columnOf(im.f, err), err), cust)
					break
				}
				domain.Evolve(state, ev)
				sc.events = append(sc.events, ev)
			}
		}
		clear(sc.cmds) // the commands of the last row: nothing keeps them
		if len(sc.events) > eventstore.AppendEventsMax {
			invariant(false, "batch of %d rows decided %d events", len(batch), len(sc.events))
		}
		if im.prepared == nil || len(sc.events) == 0 || im.isRejected(cust) {
			clear(sc.events)
			continue // a dry run, or a customer held back: nothing of it will be appended
		}
		sc.data, sc.prepared = sc.data[:0], sc.prepared[:0]
		for _, e := range sc.events {
			var p command.Prepared
			if p, sc.data, err = command.PrepareAppend(sc.data, e); err != nil {
				return fmt.Errorf("row %d: %w", recs[batch[0]].row, err)
			}
			sc.prepared = append(sc.prepared, p)
		}
		clear(sc.events)
		pb := preparedBatch{cust: cust, version: version, key: key, row: recs[batch[0]].row, rows: len(batch), events: sc.prepared}
		err = im.prepared.add(&pb)
		clear(sc.prepared)
		if err != nil {
			return err
		}
	}
	if im.isRejected(cust) {
		t.rejectedRows += len(idx)
	}
	return nil
}

// fieldsAfter is a customer partition record's fields after its customer id: the row's
// (none when the record holds the row parsed).
func fieldsAfter(fields []string) []string {
	if len(fields) == 0 {
		return nil
	}
	return fields[1:]
}

// isRejected reports whether a customer is held back (a row of it was refused).
func (im *importer) isRejected(cust domain.CustomerID) bool {
	im.mu.Lock()
	defer im.mu.Unlock()
	return im.rejected[cust]
}

// batchKey is the idempotency key of one customer's batch: the format (with its mapping),
// the customer and the batch's rows exactly as the file holds them. Importing the same file
// again gives the same batches, so the same keys, and appends nothing.
func (im *importer) batchKey(cust domain.CustomerID, recs []spilled, batch []int32, sc *decideScratch) string {
	b := append(sc.key[:0], im.fingerprint...)
	b = append(append(b, 0), cust...)
	for _, i := range batch {
		b = append(append(b, 0), recs[i].raw...)
	}
	sc.key = b
	sum := sha256.Sum256(b)
	return "import:" + hex.EncodeToString(sum[:16])
}

// columnFor is the file column behind a generic field name.
func columnFor(f Format, field string) string {
	if m, ok := f.(interface{ Column(field string) string }); ok {
		return m.Column(field)
	}
	return field
}

// appender appends batches on bulkWorkers goroutines, one customer's in order.
type appender struct {
	ctx      context.Context
	cancel   context.CancelCauseFunc
	queues   []chan *preparedBatch
	wg       sync.WaitGroup
	mu       sync.Mutex // guards the counts
	appended int
	batches  int
	replayed int
}

func newAppender(ctx context.Context, l Ledger, actor string) *appender {
	a := &appender{queues: make([]chan *preparedBatch, bulkWorkers)}
	a.ctx, a.cancel = context.WithCancelCause(ctx)
	for i := range a.queues {
		a.queues[i] = make(chan *preparedBatch, bulkQueueMax)
		a.wg.Add(1)
		go a.work(l, actor, a.queues[i]) // ends when its queue is closed and drained
	}
	return a
}

func (a *appender) work(l Ledger, actor string, q <-chan *preparedBatch) {
	defer a.wg.Done()
	for b := range q {
		if a.ctx.Err() != nil {
			continue // drain after a failure
		}
		res, err := l.AppendPrepared(a.ctx, b.cust, b.version, b.events,
			command.Meta{Actor: actor, IdempotencyKey: b.key, RequestHash: keyHash(b.key)})
		a.mu.Lock()
		switch {
		case err != nil:
			a.cancel(fmt.Errorf("row %d: %w", b.row, err))
		case res.Replayed:
			a.replayed += b.rows
		default:
			a.appended += len(b.events)
			a.batches++
		}
		a.mu.Unlock()
	}
}

func (a *appender) submit(b *preparedBatch) error {
	select {
	case a.queues[workerOf(b.cust)%bulkWorkers] <- b:
		return nil
	case <-a.ctx.Done():
		return context.Cause(a.ctx)
	}
}

func (a *appender) close() (appended, batches, replayed int, err error) {
	for _, q := range a.queues {
		close(q)
	}
	a.wg.Wait()
	err = context.Cause(a.ctx)
	a.cancel(nil)
	return a.appended, a.batches, a.replayed, err
}

// invariant panics when a programmer's invariant is broken (style §8); it never checks input.
func invariant(ok bool, format string, args ...any) {
	if !ok {
		panic("ingest: invariant broken: " + fmt.Sprintf(format, args...))
	}
}
