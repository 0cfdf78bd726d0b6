package ingest

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/encours/encours/domain"
)

// Limits on an import (style §8: every input has a named bound).
const (
	importRowsMax    = 10_000_000 // data rows per file; more is refused (a split file is easy, a runaway one is not)
	fieldBytesMax    = 1 << 10    // one CSV field
	columnsMax       = 64
	rowErrorsListMax = 1000 // errors kept for a report; the count goes on
)

// RowError names the row (1-based, header is row 1) and field of a refused input line.
type RowError struct {
	Row    int    `json:"row"`
	Field  string `json:"field,omitempty"`
	Code   string `json:"code"`
	Reason string `json:"reason"`
}

func (e *RowError) Error() string {
	if e.Field == "" {
		return fmt.Sprintf("row %d: %s", e.Row, e.Reason)
	}
	return fmt.Sprintf("row %d, field %s: %s", e.Row, e.Field, e.Reason)
}

// Record is one command decided from one row, with the idempotency key that makes its
// re-import a no-op.
type Record struct {
	Row     int
	Key     string
	Command domain.Command
}

// Format maps one CSV layout to commands.
type Format interface {
	// Name is the --format value.
	Name() string
	// Columns are the required header names, in any order.
	Columns() []string
	// Map turns one row (by header name) into commands, in the order they must apply.
	Map(row int, get func(col string) string) ([]domain.Command, error)
}

// Formats are the presets by name.
var Formats = map[string]Format{
	"generic": genericFormat{},
	"ibm-ar":  ibmFormat{},
}

// Reader streams Records from a CSV file: memory stays bounded by one row whatever the file
// size. It accepts a UTF-8 BOM, CRLF line ends and quoted fields with newlines.
type Reader struct {
	format  Format
	cr      *csv.Reader
	cols    map[string]int
	row     int
	records int // data rows read, the header excluded
	rowsMax int // importRowsMax; tests lower it
}

// NewReader reads the header and checks it against the format.
func NewReader(r io.Reader, f Format) (*Reader, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	if bom, _ := br.Peek(3); bytes.Equal(bom, []byte{0xEF, 0xBB, 0xBF}) {
		_, _ = br.Discard(3)
	}
	cr := csv.NewReader(br)
	cr.ReuseRecord = true
	cr.FieldsPerRecord = 0 // the header fixes it
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, &RowError{Row: 1, Code: "empty_file", Reason: "the file is empty: want a header row"}
	}
	if err != nil {
		return nil, csvError(1, err)
	}
	if len(header) > columnsMax {
		return nil, &RowError{Row: 1, Code: "too_many_columns", Reason: fmt.Sprintf("%d columns, at most %d", len(header), columnsMax)}
	}
	cols := make(map[string]int, len(header))
	for i, h := range header {
		h = strings.TrimSpace(h)
		if !utf8.ValidString(h) {
			return nil, &RowError{Row: 1, Code: "invalid_utf8", Reason: fmt.Sprintf("column %d: header is not valid UTF-8", i+1)}
		}
		if _, dup := cols[h]; dup {
			return nil, &RowError{Row: 1, Field: h, Code: "duplicate_column", Reason: "column appears twice"}
		}
		cols[h] = i
	}
	for _, want := range f.Columns() {
		if _, ok := cols[want]; !ok {
			return nil, &RowError{Row: 1, Field: want, Code: "missing_column", Reason: fmt.Sprintf("the %s format needs a %q column", f.Name(), want)}
		}
	}
	return &Reader{format: f, cr: cr, cols: cols, row: 1, rowsMax: importRowsMax}, nil
}

// Next returns the records of the next row, io.EOF after the last, or a *RowError for a bad
// row (the reader can go on to the next row after a *RowError).
func (r *Reader) Next() ([]Record, error) {
	_, cmds, err := r.next()
	if err != nil {
		return nil, err
	}
	recs := make([]Record, len(cmds))
	for i, c := range cmds {
		recs[i] = Record{Row: r.row, Key: recordKey(r.format.Name(), c), Command: c}
	}
	return recs, nil
}

// Row is the number (a physical line, 1-based) of the row Next or next last read.
func (r *Reader) Row() int { return r.row }

// next reads one row: its raw fields (valid until the next call), the commands the format
// maps it to, and a *RowError for a bad row. fields is set whenever the CSV line parsed,
// even when its content is refused, so that the caller can tell whose row it was.
func (r *Reader) next() (fields []string, cmds []domain.Command, err error) {
	fields, err = r.scan()
	if err != nil {
		return fields, nil, err
	}
	cmds, err = r.format.Map(r.row, r.getter(fields))
	return fields, cmds, err
}

// scan is next without the mapping: it reads one row and checks its shape (CSV, row count,
// UTF-8, field sizes). fields, valid until the next call, is set as for next.
func (r *Reader) scan() (fields []string, err error) {
	fields, err = r.cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, io.EOF
	}
	r.row++
	if err != nil {
		// FieldPos is only defined for a record Read returned; a parse error names its own
		// line (csvError).
		return nil, csvError(r.row, err)
	}
	if line, _ := r.cr.FieldPos(0); line > 0 {
		r.row = line // physical line of the row's start, so quoted newlines keep numbers honest
	}
	r.records++
	if r.records > r.rowsMax {
		return fields, &RowError{Row: r.row, Code: "too_many_rows", Reason: fmt.Sprintf("more than %d rows; split the file", r.rowsMax)}
	}
	for i, v := range fields {
		if !utf8.ValidString(v) {
			return fields, &RowError{Row: r.row, Field: r.colName(i), Code: "invalid_utf8", Reason: "not valid UTF-8"}
		}
		if len(v) > fieldBytesMax {
			return fields, &RowError{Row: r.row, Field: r.colName(i), Code: "field_too_long", Reason: fmt.Sprintf("%d bytes, at most %d", len(v), fieldBytesMax)}
		}
	}
	return fields, nil
}

// getter reads a row's fields by column name, trimmed.
func (r *Reader) getter(fields []string) func(col string) string {
	return func(col string) string {
		i, ok := r.cols[col]
		if !ok || i >= len(fields) {
			return ""
		}
		return strings.TrimSpace(fields[i])
	}
}

func (r *Reader) colName(i int) string {
	for name, j := range r.cols {
		if j == i {
			return name
		}
	}
	return fmt.Sprintf("column %d", i+1)
}

func csvError(row int, err error) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		code := "malformed_csv"
		if errors.Is(pe.Err, csv.ErrFieldCount) {
			code = "wrong_column_count"
		}
		return &RowError{Row: pe.StartLine, Code: code, Reason: pe.Err.Error()}
	}
	// Not the file's fault: the source failed (a client gone mid-upload, a body above its
	// limit, a disk error). The import stops with it rather than reporting a row.
	return fmt.Errorf("read row %d: %w", row, err)
}

// recordKey derives the idempotency key of a command from its content: re-importing the
// same row gives the same key (the store answers with the first result and appends
// nothing), while a changed row gets a new key and goes through Decide again.
func recordKey(format string, c domain.Command) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s|%T|%+v", format, c, c)
	return "import:" + hex.EncodeToString(h.Sum(nil)[:16])
}

// fieldError turns a domain error or a parse failure into a RowError naming the column.
func fieldError(row int, col string, err error) *RowError {
	code := domain.ErrorCode(err)
	reason := err.Error()
	var de *domain.Error
	if errors.As(err, &de) {
		reason = de.Message
	}
	return &RowError{Row: row, Field: col, Code: code, Reason: reason}
}

// parseUSDate reads M/D/YYYY without zero padding (the ibm-ar preset).
func parseUSDate(s string) (domain.Date, error) {
	t, err := time.Parse("1/2/2006", s)
	if err != nil {
		return domain.Date{}, domain.Errorf(domain.KindInvalid, domain.CodeInvalidDate, "date %q: want M/D/YYYY", s)
	}
	return domain.DateOf(t.Year(), t.Month(), t.Day())
}
