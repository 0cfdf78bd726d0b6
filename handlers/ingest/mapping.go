package ingest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// Mapping adapts the generic format to a file whose columns have other names, whose dates
// have another layout or whose amounts are written in smaller units (encours import
// --mapping mapping.yaml):
//
//	columns:            # generic field: the file's column
//	  customer_id: Client
//	  invoice_id: Facture
//	  issue_date: Date
//	  due_date: Echeance
//	  amount: Montant
//	  currency: Devise
//	date_format: DD/MM/YYYY   # YYYY, MM, M, DD, D and any separator; default YYYY-MM-DD
//	amount_scale: 2           # "125000" is 1 250,00: amounts in hundredths; default 0
type Mapping struct {
	Columns     map[string]string `yaml:"columns"`
	DateFormat  string            `yaml:"date_format"`
	AmountScale int               `yaml:"amount_scale"`
}

// mappingBytesMax bounds a mapping file; a real one is a few hundred bytes.
const mappingBytesMax = 64 << 10

// amountScaleMax is the largest amount_scale: amounts in billionths of a unit at most.
const amountScaleMax = 9

// genericFields are the generic layout's fields, the keys a mapping may rename.
var genericFields = []string{"customer_id", "invoice_id", "issue_date", "due_date", "amount", "currency",
	"customer_name", "country", "segment", "sector", "terms_days", "credit_limit",
	"invoice_number", "disputed", "paid_date", "paid_amount"}

// ParseMapping reads a mapping YAML and returns the generic format it describes. Unknown keys,
// unknown generic fields, two fields mapped to one column and an unreadable date format are
// refused, naming what is wrong.
func ParseMapping(r io.Reader) (Format, error) {
	raw, err := io.ReadAll(io.LimitReader(r, mappingBytesMax+1))
	if err != nil {
		return nil, fmt.Errorf("mapping: %w", err)
	}
	if len(raw) > mappingBytesMax {
		return nil, fmt.Errorf("mapping: larger than %d bytes", mappingBytesMax)
	}
	var m Mapping
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	if err := dec.Decode(&m); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("mapping: %w", err)
	}
	g := genericFormat{cols: map[string]string{}, amountScale: m.AmountScale}
	used := map[string]string{}
	for field, column := range m.Columns {
		if !slices.Contains(genericFields, field) {
			return nil, fmt.Errorf("mapping: columns: unknown field %q (want one of %s)", field, strings.Join(genericFields, ", "))
		}
		column = strings.TrimSpace(column)
		if column == "" {
			return nil, fmt.Errorf("mapping: columns: %s: empty column name", field)
		}
		if other, dup := used[column]; dup {
			return nil, fmt.Errorf("mapping: columns: %s and %s both read column %q", other, field, column)
		}
		used[column] = field
		g.cols[field] = column
	}
	if m.AmountScale < 0 || m.AmountScale > amountScaleMax {
		return nil, fmt.Errorf("mapping: amount_scale %d: want 0 to %d", m.AmountScale, amountScaleMax)
	}
	if m.DateFormat != "" {
		if g.dateLayout, err = dateLayout(m.DateFormat); err != nil {
			return nil, fmt.Errorf("mapping: date_format: %w", err)
		}
	}
	return g, nil
}

// dateLayout turns DD/MM/YYYY-style patterns into a Go time layout.
func dateLayout(pattern string) (string, error) {
	var out strings.Builder
	var y, m, d bool
	for s := pattern; s != ""; {
		switch {
		case strings.HasPrefix(s, "YYYY"):
			out.WriteString("2006")
			s, y = s[4:], true
		case strings.HasPrefix(s, "MM"):
			out.WriteString("01")
			s, m = s[2:], true
		case strings.HasPrefix(s, "M"):
			out.WriteString("1")
			s, m = s[1:], true
		case strings.HasPrefix(s, "DD"):
			out.WriteString("02")
			s, d = s[2:], true
		case strings.HasPrefix(s, "D"):
			out.WriteString("2")
			s, d = s[1:], true
		case strings.ContainsAny(s[:1], "/-. "):
			out.WriteByte(s[0])
			s = s[1:]
		default:
			return "", fmt.Errorf("%q: unexpected %q (use YYYY, MM, M, DD, D and / - . or space)", pattern, s[:1])
		}
	}
	if !y || !m || !d {
		return "", fmt.Errorf("%q: want a year (YYYY), a month (MM or M) and a day (DD or D)", pattern)
	}
	return out.String(), nil
}
