package ledger

import (
	_ "embed"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/encours/encours/domain"
)

// frReferenceRatesCSV is /work/shared/data/fr_late_payment_reference_rate_by_semester.csv,
// copied unchanged: the ECB main refinancing rate in force on 1 January and 1 July of each
// half-year since 2009, and that rate + 10 points (Code de commerce L441-10).
//
//go:embed fr_late_payment_reference_rate_by_semester.csv
var frReferenceRatesCSV string

// ErrNoReferenceRate: a late day falls in a half-year the rate table does not cover.
var ErrNoReferenceRate = errors.New("no late-payment reference rate")

// indemnityEURMinor is the fixed recovery indemnity of L441-10 (D441-5): 40 EUR per late
// invoice.
const indemnityEURMinor = 40_00

// penaltyRowsMax bounds the rate table read from a file (two rows a year).
const penaltyRowsMax = 1000

// RateTable is the late-payment penalty rate per half-year, in basis points.
type RateTable struct {
	starts []domain.Date // 1 January or 1 July, increasing, consecutive
	bp     []int64
}

// ParsePenaltyRates reads a table in the format of fr_late_payment_reference_rate_by_semester.csv
// (semester_start, ecb_mro_rate_pct, penalty_rate_pct_ecb_plus_10), taking the penalty rate
// column. Rates have at most two decimals, so a percentage is an exact number of basis points.
func ParsePenaltyRates(r io.Reader) (*RateTable, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = 3
	head, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("ledger: penalty rates header: %w", err)
	}
	if head[0] != "semester_start" || head[2] != "penalty_rate_pct_ecb_plus_10" {
		return nil, fmt.Errorf("ledger: penalty rates header %v", head)
	}
	t := &RateTable{}
	for row := 2; ; row++ {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("ledger: penalty rates row %d: %w", row, err)
		}
		if row > penaltyRowsMax {
			return nil, fmt.Errorf("ledger: penalty rates: more than %d rows", penaltyRowsMax)
		}
		d, err := domain.ParseDate(rec[0])
		if err != nil {
			return nil, fmt.Errorf("ledger: penalty rates row %d: %w", row, err)
		}
		if _, mo, day := d.Civil(); day != 1 || (mo != time.January && mo != time.July) {
			return nil, fmt.Errorf("ledger: penalty rates row %d: %s is not 1 January or 1 July", row, d)
		}
		if n := len(t.starts); n > 0 && !semesterStart(t.starts[n-1].AddMonths(6)).Equal(d) {
			return nil, fmt.Errorf("ledger: penalty rates row %d: %s does not follow %s", row, d, t.starts[n-1])
		}
		bp, err := domain.ParseDecimal(strings.TrimSpace(rec[2]), 2)
		if err != nil || bp < 0 {
			return nil, fmt.Errorf("ledger: penalty rates row %d: rate %q", row, rec[2])
		}
		t.starts = append(t.starts, d)
		t.bp = append(t.bp, bp)
	}
	if len(t.starts) == 0 {
		return nil, fmt.Errorf("ledger: penalty rates: empty table")
	}
	return t, nil
}

// DefaultPenaltyRates returns the embedded French table (ECB MRO + 10 points, 2009–2026-H1).
// It is parsed once; a RateTable is read-only, so it is shared.
func DefaultPenaltyRates() *RateTable { return defaultPenaltyRates() }

var defaultPenaltyRates = sync.OnceValue(func() *RateTable {
	t, err := ParsePenaltyRates(strings.NewReader(frReferenceRatesCSV))
	invariant(err == nil, "embedded penalty rates: %v", err)
	return t
})

// semesterStart returns 1 January or 1 July of d's half-year.
func semesterStart(d domain.Date) domain.Date {
	y, mo, _ := d.Civil()
	if mo >= time.July {
		mo = time.July
	} else {
		mo = time.January
	}
	s, err := domain.DateOf(y, mo, 1)
	invariant(err == nil, "semester start of %s", d)
	return s
}

// RateBP returns the penalty rate in force on day d: the rate of its half-year (L441-10: the
// ECB rate in force on 1 January applies to the first half-year, on 1 July to the second).
func (t *RateTable) RateBP(d domain.Date) (int64, bool) {
	s := semesterStart(d)
	i, ok := slices.BinarySearchFunc(t.starts, s, func(a, b domain.Date) int { return int(a.Days() - b.Days()) })
	if !ok {
		return 0, false
	}
	return t.bp[i], true
}

// PenaltyPolicy sets how penalties are computed. The zero value is the law's default.
type PenaltyPolicy struct {
	Rates *RateTable // nil: DefaultPenaltyRates()
	// ContractualRateBP, when positive, replaces the legal rate for every invoice (the
	// contract may set its own rate, at least three times the legal interest rate).
	ContractualRateBP int64
	// CustomerRateBP replaces the rate for one customer's invoices; it wins over both.
	CustomerRateBP map[domain.CustomerID]int64
}

// PenaltySegment is a run of late days at one rate.
type PenaltySegment struct {
	From   domain.Date `json:"from"`
	To     domain.Date `json:"to"`
	Days   int         `json:"days"`
	RateBP int64       `json:"rate_bp"`
}

// PenaltyPiece is an amount that was overdue from the day after the due date to the day it
// was paid (Settled) or to the as-of date.
type PenaltyPiece struct {
	Amount   domain.Money     `json:"amount"`
	From     domain.Date      `json:"from"`
	To       domain.Date      `json:"to"`
	Days     int              `json:"days"`
	Settled  bool             `json:"settled"`
	Segments []PenaltySegment `json:"segments"`
}

// PenaltyLine is the L441-10 claim on one late invoice.
type PenaltyLine struct {
	CustomerID domain.CustomerID `json:"customer_id"`
	InvoiceID  domain.InvoiceID  `json:"invoice_id"`
	Number     string            `json:"number"`
	DueDate    domain.Date       `json:"due_date"`
	Disputed   bool              `json:"disputed"`
	Pieces     []PenaltyPiece    `json:"pieces"`
	Interest   domain.Money      `json:"interest"`
	Indemnity  domain.Money      `json:"indemnity"`
}

// PenaltyReport is the claims of a scope at an as-of date. Interest is per currency (the
// invoices' own); the indemnity is in EUR.
type PenaltyReport struct {
	AsOf           domain.Date    `json:"as_of"`
	Lines          []PenaltyLine  `json:"lines"`
	LateInvoices   int            `json:"late_invoices"`
	InterestTotals []domain.Money `json:"interest_totals"`
	IndemnityTotal domain.Money   `json:"indemnity_total"`
}

// Penalties computes the late-payment penalties of the invoices of scope s at asOf (design
// §Metrics, late-payment penalties; Code de commerce L441-10): simple interest at the
// contractual rate, by default the table's rate (ECB MRO + 10 points per half-year), on the
// overdue amount, for each day from the day after the due date to the payment date (or asOf
// while unpaid), on an actual/365 basis, computed in basis points and integers and rounded
// once, half-up, per invoice; plus the 40 EUR recovery indemnity per late invoice.
//
// How the history is read: cash counts from the day the customer paid it (received_on, even
// when allocated later); a reversed payment never paid anything; a credit note corrects the
// invoice, so the credited amount was never owed and bears no interest; a write-off stops the
// interest on what it wrote off on its date. The original due date applies under a payment
// plan: the plan reschedules collection, not the debt's lateness.
func Penalties(m *Model, s Scope, asOf domain.Date, pol PenaltyPolicy) (PenaltyReport, error) {
	if pol.Rates == nil {
		pol.Rates = DefaultPenaltyRates()
	}
	rep := PenaltyReport{AsOf: asOf, Lines: []PenaltyLine{}, IndemnityTotal: money(0, "EUR")}
	totals := make(map[domain.Currency]int64)
	for ci := range int32(m.customers.len()) {
		c := m.customers.at(ci)
		if !s.has(c) {
			continue
		}
		rate := func(d domain.Date) (int64, bool) { return pol.Rates.RateBP(d) }
		if r, ok := pol.CustomerRateBP[c.id]; ok && r > 0 {
			rate = func(domain.Date) (int64, bool) { return r, true }
		} else if pol.ContractualRateBP > 0 {
			rate = func(domain.Date) (int64, bool) { return pol.ContractualRateBP, true }
		}
		for _, ii := range c.invoices {
			line, late, err := m.penaltyLine(c, m.invoices.at(ii), asOf, rate)
			if err != nil {
				return PenaltyReport{}, err
			}
			if !late {
				continue
			}
			rep.Lines = append(rep.Lines, line)
			rep.LateInvoices++
			totals[c.currency] += line.Interest.Minor
			rep.IndemnityTotal.Minor += line.Indemnity.Minor
		}
	}
	for ccy, v := range totals {
		rep.InterestTotals = append(rep.InterestTotals, money(v, ccy))
	}
	slices.SortFunc(rep.InterestTotals, func(a, b domain.Money) int { return strings.Compare(string(a.Ccy), string(b.Ccy)) })
	return rep, nil
}

func (m *Model) penaltyLine(c *customer, v *invoice, asOf domain.Date, rate func(domain.Date) (int64, bool)) (PenaltyLine, bool, error) {
	line := PenaltyLine{CustomerID: c.id, InvoiceID: v.id, Number: v.number, DueDate: v.due, Disputed: v.disputed()}
	if !v.due.Before(asOf) {
		return line, false, nil // nothing can be late yet
	}
	type piece struct {
		amount  int64
		to      domain.Date
		settled bool
	}
	var pieces []piece
	remaining := v.amount
	for _, en := range v.entries {
		switch en.kind {
		case entryCash:
			if m.payments.at(en.src).reversed() || en.paidOn.After(asOf) {
				continue
			}
			pieces = append(pieces, piece{en.amount, en.paidOn, true})
		case entryCredit:
			if en.on.After(asOf) {
				continue
			}
			// never owed: no piece
		case entryWriteOff:
			if en.on.After(asOf) {
				continue
			}
			pieces = append(pieces, piece{en.amount, en.on, false})
		case entryReopen:
			continue
		}
		remaining -= en.amount
	}
	if remaining > 0 {
		pieces = append(pieces, piece{remaining, asOf, false})
	}
	var num wide // Σ amount × rate_bp × days
	from := v.due.AddDays(1)
	for _, p := range pieces {
		if !p.to.After(v.due) {
			continue // paid on or before the due date
		}
		pp := PenaltyPiece{Amount: money(p.amount, c.currency), From: from, To: p.to, Days: v.due.DaysUntil(p.to), Settled: p.settled}
		// Split the late days at half-year boundaries: each half-year has its own rate.
		for d, n := from, 0; !d.After(p.to) && n < 2*400; n++ {
			segEnd := semesterStart(d).AddMonths(6).AddDays(-1)
			if segEnd.After(p.to) {
				segEnd = p.to
			}
			r, ok := rate(d)
			if !ok {
				return line, false, fmt.Errorf("ledger: penalties on invoice %s of %s, day %s: %w", v.id, c.id, d, ErrNoReferenceRate)
			}
			days := d.DaysUntil(segEnd) + 1
			pp.Segments = append(pp.Segments, PenaltySegment{From: d, To: segEnd, Days: days, RateBP: r})
			num.addMul3(p.amount, r, int64(days))
			d = segEnd.AddDays(1)
		}
		line.Pieces = append(line.Pieces, pp)
	}
	if len(line.Pieces) == 0 {
		return line, false, nil
	}
	// Actual/365 on a rate in basis points: interest = Σ amount × rate_bp × days / (10 000 × 365),
	// rounded once, half-up.
	interest, ok := divRound(num.big(), 1, 10_000*365)
	invariant(ok, "penalty interest of invoice %s overflows", v.id)
	line.Interest = money(interest, c.currency)
	line.Indemnity = money(indemnityEURMinor, "EUR")
	return line, true, nil
}
