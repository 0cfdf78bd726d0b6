package ingest

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"unsafe"

	"github.com/encours/encours/domain"
	"github.com/encours/encours/handlers/command"
)

// The batches the validate pass decided, kept for the append pass (see the package doc).
const (
	// preparedMemoryBytesMax is the encoded batches kept in memory: beyond it they go to a
	// file in the import's partition directory, so that the importer's memory stays flat
	// whatever the file's size, and a small import (an HTTP upload) touches no disk for them.
	preparedMemoryBytesMax = 8 << 20
	// preparedFlushBytes is the buffer written to the file at once once it is used.
	preparedFlushBytes = 1 << 20
	// preparedRecordBytesMax bounds one batch record read back: AppendEventsMax events of at
	// most a row's worth of fields each, with room to spare; a larger length is damage.
	preparedRecordBytesMax = 64 << 20
)

// preparedBatch is one customer's batch as the validate pass decided it: the events, encoded,
// with the stream version they were decided at and the batch's idempotency key.
type preparedBatch struct {
	cust    domain.CustomerID
	version uint64
	key     string
	row     int // first row of the batch, to name a failure
	rows    int // rows of the batch, for progress
	events  []command.Prepared
}

// preparedLog holds the decided batches in the order they were decided (a customer's in
// order: one goroutine decides a customer): in memory up to preparedMemoryBytesMax, then in
// a file. It is written by the validate pass's goroutines, then read once.
type preparedLog struct {
	mu        sync.Mutex
	path      string
	memoryMax int      // preparedMemoryBytesMax; tests lower it
	f         *os.File // nil while everything fits in buf
	buf       []byte   // records not yet written to f (all of them while f is nil)
	rec       []byte   // scratch for one record
	n         int      // batches written
}

func newPreparedLog(dir string, memoryMax int) *preparedLog {
	if memoryMax <= 0 {
		memoryMax = preparedMemoryBytesMax
	}
	return &preparedLog{path: filepath.Join(dir, "batches"), memoryMax: memoryMax}
}

// add appends one batch record: its length, then the batch.
func (p *preparedLog) add(b *preparedBatch) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	r := p.rec[:0]
	r = appendString(r, string(b.cust))
	r = binary.AppendUvarint(r, b.version)
	r = appendString(r, b.key)
	r = binary.AppendUvarint(r, uint64(b.row))  //nolint:gosec // a row number is positive
	r = binary.AppendUvarint(r, uint64(b.rows)) //nolint:gosec // a count is positive
	r = binary.AppendUvarint(r, uint64(len(b.events)))
	for i := range b.events {
		e := &b.events[i]
		r = appendString(r, e.Type)
		r = binary.AppendVarint(r, int64(e.EffectiveOn.Days()))
		r = binary.AppendUvarint(r, uint64(len(e.Data)))
		r = append(r, e.Data...)
		r = appendString(r, e.Document)
		r = appendString(r, e.CorrectsType)
		r = appendString(r, e.CorrectsID)
	}
	p.rec = r
	p.buf = binary.AppendUvarint(p.buf, uint64(len(r)))
	p.buf = append(p.buf, r...)
	p.n++
	if p.f == nil && len(p.buf) > p.memoryMax {
		f, err := os.Create(p.path)
		if err != nil {
			return fmt.Errorf("import: batch file: %w", err)
		}
		p.f = f
	}
	if p.f != nil && len(p.buf) >= preparedFlushBytes {
		return p.flushLocked()
	}
	return nil
}

func (p *preparedLog) flushLocked() error {
	if _, err := p.f.Write(p.buf); err != nil {
		return fmt.Errorf("import: write batch file: %w", err)
	}
	p.buf = p.buf[:0]
	if cap(p.buf) > 2*preparedFlushBytes {
		p.buf = nil // the memory-only phase grew it: give it back
	}
	return nil
}

// each calls fn with every batch, in the order they were added, until fn fails. The batch
// and its strings are fn's to keep.
func (p *preparedLog) each(fn func(*preparedBatch) error) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	var src *bufio.Reader
	if p.f != nil {
		if err := p.flushLocked(); err != nil {
			return err
		}
		if _, err := p.f.Seek(0, io.SeekStart); err != nil {
			return fmt.Errorf("import: read batch file: %w", err)
		}
		src = bufio.NewReaderSize(p.f, preparedFlushBytes)
	}
	mem := p.buf
	for range p.n {
		var rec []byte
		if src == nil {
			l, n := binary.Uvarint(mem)
			if n <= 0 || l > uint64(len(mem)-n) {
				return errors.New("import: batches in memory damaged")
			}
			rec, mem = mem[n:n+int(l)], mem[n+int(l):]
		} else {
			l, err := binary.ReadUvarint(src)
			if err != nil || l > preparedRecordBytesMax {
				return fmt.Errorf("import: batch file %s damaged: length %d: %v", p.path, l, err)
			}
			rec = make([]byte, l)
			if _, err := io.ReadFull(src, rec); err != nil {
				return fmt.Errorf("import: read batch file %s: %w", p.path, err)
			}
		}
		b, err := decodePrepared(rec)
		if err != nil {
			return fmt.Errorf("import: batch file %s: %w", p.path, err)
		}
		if err := fn(b); err != nil {
			return err
		}
	}
	return nil
}

// close releases the memory and the file (the directory is removed with the partitions).
func (p *preparedLog) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.buf, p.rec = nil, nil
	if p.f != nil {
		_ = p.f.Close()
		p.f = nil
	}
}

// decodePrepared reads one batch record, which nothing writes to again (each hands out
// records read once, or the memory buffer once every batch is added). The event data are
// slices of rec, and the events' strings share its bytes: they live as long as the append.
// The customer and the key are copies of their own, since the store keeps the key (its
// idempotency index) for as long as it runs, and a substring would keep the whole record
// alive with it.
func decodePrepared(rec []byte) (*preparedBatch, error) {
	s := unsafe.String(unsafe.SliceData(rec), len(rec))
	d := decoder{s: s}
	b := &preparedBatch{}
	b.cust = domain.CustomerID(strings.Clone(d.str()))
	b.version = d.uvarint()
	b.key = strings.Clone(d.str())
	b.row = int(d.uvarint())  //nolint:gosec // written from an int
	b.rows = int(d.uvarint()) //nolint:gosec // written from an int
	n := d.uvarint()
	if d.err != nil || n > uint64(len(s)) {
		return nil, errors.New("damaged batch header")
	}
	b.events = make([]command.Prepared, n)
	for i := range b.events {
		e := &b.events[i]
		e.Type = internType(d.str())
		e.EffectiveOn = domain.DateFromDays(int32(d.varint())) //nolint:gosec // written from an int32
		from, to := d.span()
		e.Data = rec[from:to:to]
		e.Document = d.str()
		e.CorrectsType = internType(d.str())
		e.CorrectsID = d.str()
	}
	if d.err != nil || d.i != len(s) {
		return nil, errors.New("damaged batch")
	}
	return b, nil
}

// internType returns the event type names as constants, so that a batch's strings keep
// nothing of the record alive but what they need.
func internType(t string) string {
	for _, k := range [...]string{domain.TypeCustomerRegistered, domain.TypeInvoiceIssued,
		domain.TypePaymentReceived, domain.TypeInvoiceDisputed, domain.TypeDisputeResolved} {
		if t == k {
			return k
		}
	}
	return t
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// decoder reads a batch record; the first failure sticks in err.
type decoder struct {
	s   string
	i   int
	err error
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := uvarint(d.s[d.i:])
	if n <= 0 {
		d.err = errors.New("bad varint")
		return 0
	}
	d.i += n
	return v
}

func (d *decoder) varint() int64 {
	u := d.uvarint()
	return int64(u>>1) ^ -int64(u&1) //nolint:gosec // zig-zag, as binary.AppendVarint writes it
}

func (d *decoder) span() (from, to int) {
	l := d.uvarint()
	if d.err != nil || l > uint64(len(d.s)-d.i) {
		d.err = errors.New("bad length")
		return d.i, d.i
	}
	from, to = d.i, d.i+int(l)
	d.i = to
	return from, to
}

func (d *decoder) str() string {
	from, to := d.span()
	return d.s[from:to]
}
