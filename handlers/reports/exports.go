package reports

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/encours/encours/domain"
	"github.com/encours/encours/projections/engine"
	"github.com/encours/encours/projections/ledger"
)

// Report names an export.
type Report string

// The exports (CLI `encours replay --report`, API `GET /v1/exports/{report}`).
const (
	ReportAging   Report = "aging"   // aged balance per customer
	ReportLedger  Report = "ledger"  // per-customer figures: exposure, limit, overdue, DSO, DBT
	ReportJournal Report = "journal" // the events behind the figures, in log order
	// ReportStatement is one customer's statement of account (Request.CustomerID).
	ReportStatement Report = "statement"
)

// Format is csv or json.
type Format string

// The formats.
const (
	FormatCSV  Format = "csv"
	FormatJSON Format = "json"
)

// Version is the software version written in every manifest; set by cmd at build time.
var Version = "dev"

// Manifest travels with an export: what it was computed from and how, and the SHA-256 of its
// bytes, so that an auditor can re-run the same parameters later and compare (Audit issue).
type Manifest struct {
	Report  Report      `json:"report"`
	Format  Format      `json:"format"`
	AsOf    domain.Date `json:"as_of"`
	KnownAt *time.Time  `json:"known_at,omitempty"`
	// CustomerID and From are the statement's parameters.
	CustomerID domain.CustomerID `json:"customer_id,omitempty"`
	From       *domain.Date      `json:"from,omitempty"`
	Position   uint64            `json:"position"`
	ChainHash  domain.Hash       `json:"chain_hash"`
	Software   string            `json:"software"`
	SHA256     string            `json:"sha256"`
	Bytes      int               `json:"bytes"`
}

// Export renders report as of asOf, known at knownAt (nil: everything recorded), from a
// replay of the log, and returns its bytes and manifest. The same log, parameters and
// software give the same bytes: rows are sorted, numbers are integers, nothing depends on
// the clock.
func Export(ctx context.Context, store engine.Reader, report Report, format Format, asOf domain.Date, knownAt *time.Time) ([]byte, Manifest, error) {
	return ExportRequest(ctx, store, Request{Report: report, Format: format, AsOf: asOf, KnownAt: knownAt})
}

// Request is what an export is asked for: the report, its format, the business date, the
// knowledge time (nil: everything recorded) and, for a statement, the customer and the
// period start (zero: since the first movement).
type Request struct {
	Report     Report
	Format     Format
	AsOf       domain.Date
	KnownAt    *time.Time
	CustomerID domain.CustomerID
	From       domain.Date
}

// ExportRequest is Export with every parameter, the statement's included; the manifest
// records them all.
func ExportRequest(ctx context.Context, store engine.Reader, req Request) ([]byte, Manifest, error) {
	report, format, asOf, knownAt := req.Report, req.Format, req.AsOf, req.KnownAt
	if format != FormatCSV && format != FormatJSON {
		return nil, Manifest{}, domain.FieldErrorf(domain.KindInvalid, "invalid_query", "format", "format %q: want csv or json", format)
	}
	var out []byte
	var basis Basis
	man := Manifest{Report: report, Format: format, AsOf: asOf, KnownAt: knownAt}
	if report == ReportStatement {
		if req.CustomerID == "" {
			return nil, Manifest{}, domain.FieldErrorf(domain.KindInvalid, domain.CodeMissingField, "customer_id", "a statement needs customer_id")
		}
		doc, b, err := statement(ctx, store, req.CustomerID, req.From, asOf, knownAt)
		if err == nil {
			out, err = renderStatement(doc, format)
		}
		if err != nil {
			return nil, Manifest{}, err
		}
		man.CustomerID, man.From = req.CustomerID, doc.From
		return out, sealManifest(man, b, out), nil
	}
	l := NewLedger(nil, store)
	err := l.With(ctx, asOf, domain.Date{}, knownAt, func(m *ledger.Model, b Basis) error {
		basis = b
		var err error
		switch report {
		case ReportAging:
			out, err = renderAging(m, asOf, format)
		case ReportLedger:
			out, err = renderLedger(m, asOf, format)
		case ReportJournal:
			out, err = renderJournal(ctx, store, asOf, knownAt, b.Position, format)
		default:
			err = domain.FieldErrorf(domain.KindInvalid, "unknown_report", "report", "unknown report %q (want aging, ledger, journal or statement)", report)
		}
		return err
	})
	if err != nil {
		return nil, Manifest{}, err
	}
	return out, sealManifest(man, basis, out), nil
}

// sealManifest completes m with the log it was computed from, the software and the file's
// SHA-256 and length.
func sealManifest(m Manifest, b Basis, out []byte) Manifest {
	sum := sha256.Sum256(out)
	m.Position, m.ChainHash = b.Position, b.ChainHash
	m.Software, m.SHA256, m.Bytes = "encours "+Version, hex.EncodeToString(sum[:]), len(out)
	return m
}

// AgingRow is one customer's aged balance.
type AgingRow struct {
	CustomerID domain.CustomerID `json:"customer_id"`
	Name       string            `json:"name"`
	Segment    string            `json:"segment"`
	Currency   domain.Currency   `json:"currency"`
	Buckets    []BucketAmount    `json:"buckets"`
	Total      int64             `json:"total"`   // open invoices, minor units
	Overdue    int64             `json:"overdue"` // minor units
	Exposure   int64             `json:"exposure"`
}

// BucketAmount is one aging bucket of a row.
type BucketAmount struct {
	Label  string `json:"label"`
	Amount int64  `json:"amount"`
}

// AgedBalance returns the aged balance per customer at asOf, sorted by customer id (design
// §Metrics, aging: open amounts by days past due at the as-of date). Customers with nothing
// open and no exposure are left out, as in any aged-balance report.
func AgedBalance(m *ledger.Model, asOf domain.Date) ([]AgingRow, error) {
	groups, err := ledger.GroupFigures(m, ledger.ByCustomer, asOf, ledger.Config{})
	if err != nil {
		return nil, err
	}
	rows := make([]AgingRow, 0, len(groups))
	for _, g := range groups {
		if g.OpenInvoices.Minor == 0 && g.Exposure.Minor == 0 {
			continue
		}
		id := domain.CustomerID(g.Key)
		p, err := ledger.CustomerProfile(m, id)
		if err != nil {
			return nil, err
		}
		r := AgingRow{CustomerID: id, Name: p.Name, Segment: p.Segment, Currency: g.Currency,
			Total: g.OpenInvoices.Minor, Overdue: g.Overdue.Minor, Exposure: g.Exposure.Minor}
		for _, b := range g.Aging {
			r.Buckets = append(r.Buckets, BucketAmount{Label: b.Label, Amount: b.Amount.Minor})
		}
		rows = append(rows, r)
	}
	return rows, nil
}

func renderAging(m *ledger.Model, asOf domain.Date, format Format) ([]byte, error) {
	rows, err := AgedBalance(m, asOf)
	if err != nil {
		return nil, err
	}
	if format == FormatJSON {
		return marshalLines(struct {
			AsOf domain.Date `json:"as_of"`
			Rows []AgingRow  `json:"rows"`
		}{asOf, rows})
	}
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	header := []string{"customer_id", "name", "segment", "currency"}
	if len(rows) > 0 {
		for _, b := range rows[0].Buckets {
			header = append(header, b.Label)
		}
	}
	header = append(header, "total", "overdue", "exposure")
	_ = w.Write(header)
	for _, r := range rows {
		dec := r.Currency.MinorUnits()
		rec := []string{string(r.CustomerID), r.Name, r.Segment, string(r.Currency)}
		for _, b := range r.Buckets {
			rec = append(rec, domain.FormatMinor(b.Amount, dec))
		}
		rec = append(rec, domain.FormatMinor(r.Total, dec), domain.FormatMinor(r.Overdue, dec), domain.FormatMinor(r.Exposure, dec))
		_ = w.Write(rec)
	}
	w.Flush()
	return buf.Bytes(), w.Error()
}

func renderLedger(m *ledger.Model, asOf domain.Date, format Format) ([]byte, error) {
	groups, err := ledger.GroupFigures(m, ledger.ByCustomer, asOf, ledger.Config{})
	if err != nil {
		return nil, err
	}
	if format == FormatJSON {
		return marshalLines(struct {
			AsOf      domain.Date      `json:"as_of"`
			Customers []ledger.Figures `json:"customers"`
		}{asOf, groups})
	}
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	_ = w.Write([]string{"customer_id", "currency", "open_invoices", "unallocated_cash", "open_credit_notes", "exposure",
		"credit_limit", "utilisation_bp", "overdue", "open_items", "overdue_items", "dso_period_centidays",
		"dso_countback_centidays", "days_to_pay_centidays", "dbt_centidays"})
	for _, g := range groups {
		dec := g.Currency.MinorUnits()
		_ = w.Write([]string{g.Key, string(g.Currency), domain.FormatMinor(g.OpenInvoices.Minor, dec),
			domain.FormatMinor(g.UnallocatedCash.Minor, dec), domain.FormatMinor(g.OpenCreditNotes.Minor, dec),
			domain.FormatMinor(g.Exposure.Minor, dec), domain.FormatMinor(g.CreditLimit.Minor, dec), optInt(g.UtilisationBP),
			domain.FormatMinor(g.Overdue.Minor, dec), strconv.Itoa(g.OpenItems), strconv.Itoa(g.OverdueItems),
			optInt(g.DSO.PeriodCentidays), optInt(g.DSO.CountbackCentidays), optInt(g.Payments.DaysToPayCentidays),
			optInt(g.Payments.DBTCentidays)})
	}
	w.Flush()
	return buf.Bytes(), w.Error()
}

// renderJournal writes the events behind the figures: every event up to position last with
// effective_on <= asOf (and recorded by knownAt, which last already bounds).
func renderJournal(ctx context.Context, store engine.Reader, asOf domain.Date, knownAt *time.Time, last uint64, format Format) ([]byte, error) {
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	if format == FormatCSV {
		_ = w.Write([]string{"position", "effective_on", "recorded_at", "stream", "stream_version", "type", "actor", "event_id", "causation_id", "hash", "data"})
	}
	var readErr error
	for e := range engine.Envelopes(ctx, store, 1, &readErr) {
		if e.Position > last {
			break
		}
		if e.EffectiveOn.After(asOf) || (knownAt != nil && e.RecordedAt.After(*knownAt)) {
			continue
		}
		e = domain.RedactSecrets(e) // webhook secrets stay in the log, out of every export
		if format == FormatJSON {
			b, err := json.Marshal(&e)
			if err != nil {
				return nil, err
			}
			buf.Write(b)
			buf.WriteByte('\n')
			continue
		}
		_ = w.Write([]string{strconv.FormatUint(e.Position, 10), e.EffectiveOn.String(), e.RecordedAt.Format(time.RFC3339Nano),
			e.Stream, strconv.FormatUint(e.StreamVersion, 10), e.Type, e.Actor, e.EventID, e.CausationID, e.Hash.String(), string(e.Data)})
	}
	if readErr != nil {
		return nil, readErr
	}
	w.Flush()
	return buf.Bytes(), w.Error()
}

func optInt(v *int64) string {
	if v == nil {
		return ""
	}
	return strconv.FormatInt(*v, 10)
}

func marshalLines(v any) ([]byte, error) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// WriteManifest writes m as indented JSON.
func WriteManifest(w io.Writer, m Manifest) error {
	b, err := marshalLines(m)
	if err != nil {
		return fmt.Errorf("manifest: %w", err)
	}
	_, err = w.Write(b)
	return err
}
