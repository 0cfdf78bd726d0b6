package ingest

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"unsafe"
)

// Partitions of an import (see the package doc: how memory stays bounded).
const (
	// partitionBytes is the CSV volume one partition holds: its rows and its customers'
	// folded states are all that the decide passes keep in memory at once.
	partitionBytes = 16 << 20
	partitionsMax  = 256 // with importRowsMax, at most ~40 000 rows a partition
	// partitionsUnknownSize is the count when the size is unknown (a chunked HTTP body).
	partitionsUnknownSize = 64
	spillBufferBytes      = 32 << 10
	spillRecordFieldsMax  = columnsMax
)

// partitionsFor picks the partition count for a file of size bytes (0 or less: unknown).
func partitionsFor(size int64) int {
	if size <= 0 {
		return partitionsUnknownSize
	}
	return int(min(partitionsMax, max(1, (size+partitionBytes-1)/partitionBytes)))
}

// Record kinds in a customer partition.
const (
	spillRow byte = 1 // a row that mapped to commands: its raw fields
	spillBad byte = 2 // a refused row: one field, its customer id, to hold the customer back
	// spillParsed is a row with the form the read pass parsed it into (writeParsed): the
	// decide pass reads that instead of parsing the row again.
	spillParsed byte = 3
)

// spill is the set of partition files of one import: rows by customer, ids by id. Each file
// is written once, in file order, then read back whole.
type spill struct {
	dir       string
	customers []*spillFile
	ids       []*spillFile
}

type spillFile struct {
	path string
	f    *os.File
	w    *bufio.Writer
	buf  []byte
	// records and fields count what was written, so that readAll allocates the records and
	// their fields once each for the file, not one fields slice per record.
	records, fields int
}

func newSpill(tempDir string, n int) (*spill, error) {
	dir, err := os.MkdirTemp(tempDir, "encours-import-*")
	if err != nil {
		return nil, fmt.Errorf("import: partition directory: %w", err)
	}
	s := &spill{dir: dir}
	for i := range n {
		for _, set := range []struct {
			files  *[]*spillFile
			prefix string
		}{{&s.customers, "customers"}, {&s.ids, "ids"}} {
			path := filepath.Join(dir, fmt.Sprintf("%s-%03d", set.prefix, i))
			f, err := os.Create(path)
			if err != nil {
				s.remove()
				return nil, fmt.Errorf("import: partition file: %w", err)
			}
			*set.files = append(*set.files, &spillFile{path: path, f: f, w: bufio.NewWriterSize(f, spillBufferBytes)})
		}
	}
	return s, nil
}

// remove deletes the partition files.
func (s *spill) remove() {
	for _, set := range [][]*spillFile{s.customers, s.ids} {
		for _, f := range set {
			if f.f != nil {
				_ = f.f.Close()
			}
		}
	}
	_ = os.RemoveAll(s.dir)
}

// finish flushes and closes every file: they are only read from now on.
func (s *spill) finish() error {
	for _, set := range [][]*spillFile{s.customers, s.ids} {
		for _, f := range set {
			if err := f.w.Flush(); err != nil {
				return fmt.Errorf("import: write partition: %w", err)
			}
			if err := f.f.Close(); err != nil {
				return fmt.Errorf("import: write partition: %w", err)
			}
			f.f = nil
		}
	}
	return nil
}

// write appends one record: kind, row, then each field length-prefixed.
func (f *spillFile) write(kind byte, row int, fields ...string) error {
	b := append(f.buf[:0], kind)
	b = binary.AppendUvarint(b, uint64(row)) //nolint:gosec // a row number is positive
	b = binary.AppendUvarint(b, uint64(len(fields)))
	for _, v := range fields {
		b = binary.AppendUvarint(b, uint64(len(v)))
		b = append(b, v...)
	}
	f.buf = b
	f.records++
	f.fields += len(fields)
	_, err := f.w.Write(b)
	return err
}

// writeID appends an id record, as write(spillRow, row, string(kind), prefix+id, cust)
// would, without building prefix+id.
func (f *spillFile) writeID(row int, kind byte, prefix, id, cust string) error {
	b := append(f.buf[:0], spillRow)
	b = binary.AppendUvarint(b, uint64(row)) //nolint:gosec // a row number is positive
	b = binary.AppendUvarint(b, 3)
	b = append(binary.AppendUvarint(b, 1), kind)
	b = binary.AppendUvarint(b, uint64(len(prefix)+len(id)))
	b = append(append(b, prefix...), id...)
	b = binary.AppendUvarint(b, uint64(len(cust)))
	b = append(b, cust...)
	f.buf = b
	f.records++
	f.fields += 3
	_, err := f.w.Write(b)
	return err
}

// writeParsed appends a row with its parsed form: kind spillParsed, row, the length of
// what write would have written after the row number (its raw bytes, which a batch key
// hashes: the same with or without the parsed form), those bytes, then parsed,
// length-prefixed. The record's fields are not split when it is read back (readAll): only
// its first, the customer id.
func (f *spillFile) writeParsed(row int, parsed []byte, fields ...string) error {
	raw := uvarintLen(uint64(len(fields)))
	for _, v := range fields {
		raw += uvarintLen(uint64(len(v))) + len(v)
	}
	b := append(f.buf[:0], spillParsed)
	b = binary.AppendUvarint(b, uint64(row)) //nolint:gosec // a row number is positive
	b = binary.AppendUvarint(b, uint64(raw)) //nolint:gosec // a length
	b = binary.AppendUvarint(b, uint64(len(fields)))
	for _, v := range fields {
		b = binary.AppendUvarint(b, uint64(len(v)))
		b = append(b, v...)
	}
	b = binary.AppendUvarint(b, uint64(len(parsed)))
	b = append(b, parsed...)
	f.buf = b
	f.records++
	_, err := f.w.Write(b)
	return err
}

func uvarintLen(x uint64) int {
	n := 1
	for ; x >= 0x80; x >>= 7 {
		n++
	}
	return n
}

// spilled is one record read back. fields are substrings of the partition's contents; raw
// is the record's bytes after its row number (what a batch's idempotency key hashes). A
// spillParsed record has no fields but its customer id (cust, also fields[0] of the
// others) and its parsed form.
type spilled struct {
	kind   byte
	row    int
	raw    string
	cust   string
	parsed string
	fields []string
}

// readAll reads a partition file back in the order it was written.
func (f *spillFile) readAll() ([]spilled, error) {
	data, err := os.ReadFile(f.path)
	if err != nil {
		return nil, fmt.Errorf("import: read partition: %w", err)
	}
	// Every field is a substring of the file's contents, read once and never written again:
	// the string shares data's bytes instead of copying the partition.
	s := unsafe.String(unsafe.SliceData(data), len(data))
	out := make([]spilled, 0, f.records)
	backing := make([]string, f.fields)
	for i := 0; i < len(s); {
		kind := s[i]
		i++
		row, n := uvarint(s[i:])
		if n <= 0 {
			return nil, fmt.Errorf("import: partition %s: damaged at byte %d", f.path, i)
		}
		i += n
		if kind == spillParsed {
			rec, next, ok := readParsed(s, i)
			if !ok {
				return nil, fmt.Errorf("import: partition %s: damaged at byte %d", f.path, i)
			}
			rec.row = int(row) //nolint:gosec // written from an int
			out = append(out, rec)
			i = next
			continue
		}
		start := i
		count, n := uvarint(s[i:])
		if n <= 0 || count > spillRecordFieldsMax {
			return nil, fmt.Errorf("import: partition %s: damaged at byte %d", f.path, i)
		}
		i += n
		if count > uint64(len(backing)) {
			backing = make([]string, max(count, 1024)) // more than written: the file is damaged, the parse says where
		}
		fields := backing[:count:count]
		backing = backing[count:]
		for k := range fields {
			l, n := uvarint(s[i:])
			if n <= 0 || l > uint64(len(s)-i-n) {
				return nil, fmt.Errorf("import: partition %s: damaged at byte %d", f.path, i)
			}
			i += n
			fields[k] = s[i : i+int(l)]
			i += int(l)
		}
		rec := spilled{kind: kind, row: int(row), raw: s[start:i], fields: fields} //nolint:gosec // written from an int
		if len(fields) > 0 {
			rec.cust = fields[0]
		}
		out = append(out, rec)
	}
	return out, nil
}

// readParsed reads a spillParsed record from s[i:] (after its row number) and says where
// the next begins.
func readParsed(s string, i int) (spilled, int, bool) {
	l, n := uvarint(s[i:])
	if n <= 0 || l > uint64(len(s)-i-n) {
		return spilled{}, 0, false
	}
	i += n
	raw := s[i : i+int(l)]
	i += int(l)
	// The customer id: the raw bytes' first field.
	count, n := uvarint(raw)
	if n <= 0 || count == 0 {
		return spilled{}, 0, false
	}
	cl, m := uvarint(raw[n:])
	if m <= 0 || cl > uint64(len(raw)-n-m) {
		return spilled{}, 0, false
	}
	cust := raw[n+m : n+m+int(cl)]
	l, n = uvarint(s[i:])
	if n <= 0 || l > uint64(len(s)-i-n) {
		return spilled{}, 0, false
	}
	i += n
	return spilled{kind: spillParsed, raw: raw, cust: cust, parsed: s[i : i+int(l)]}, i + int(l), true
}

func uvarint(s string) (uint64, int) {
	var x uint64
	var shift uint
	for i := 0; i < len(s) && i < binary.MaxVarintLen64; i++ {
		b := s[i]
		if b < 0x80 {
			return x | uint64(b)<<shift, i + 1
		}
		x |= uint64(b&0x7f) << shift
		shift += 7
	}
	return 0, 0
}
