package ledger

import (
	"encoding/csv"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/encours/encours/domain"
)

// ibmCSV is the IBM Watson Analytics accounts-receivable sample (/work/shared/data/README.md):
// 2,466 invoices of 100 customers, every one settled, 30-day terms.
const ibmCSV = "/work/shared/data/ibm_accounts_receivable.csv"

type ibmRow struct {
	country, customer, number string
	issued, due, settled      time.Time // the test's own dates, independent of domain.Date
	amountMinor               int64
	disputed                  bool
	daysToSettle, daysLate    int
}

// ibmCountries maps the sample's numeric country codes to ISO 3166 user-assigned codes
// (XA…XE): the data names no real country, and the domain wants two letters.
var ibmCountries = map[string]string{"391": "XA", "406": "XB", "770": "XC", "818": "XD", "897": "XE"}

func readIBM(t *testing.T) []ibmRow {
	t.Helper()
	f, err := os.Open(ibmCSV)
	if os.IsNotExist(err) {
		t.Skipf("%s not present", ibmCSV)
	}
	require.NoError(t, err)
	defer f.Close()
	r := csv.NewReader(f)
	r.FieldsPerRecord = 12
	head, err := r.Read()
	require.NoError(t, err)
	require.Equal(t, "countryCode", head[0])
	usDate := func(s string) time.Time {
		v, err := time.Parse("1/2/2006", s)
		require.NoError(t, err, "date %q", s)
		return v
	}
	var rows []ibmRow
	for {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		amount, err := domain.ParseDecimal(rec[6], 2) // "55.94" -> 5594 cents, never a float
		require.NoError(t, err, "amount %q", rec[6])
		dts, err := strconv.Atoi(rec[10])
		require.NoError(t, err)
		late, err := strconv.Atoi(rec[11])
		require.NoError(t, err)
		rows = append(rows, ibmRow{
			country: rec[0], customer: rec[1], number: rec[3],
			issued: usDate(rec[4]), due: usDate(rec[5]), settled: usDate(rec[8]),
			amountMinor: amount, disputed: rec[7] == "Yes", daysToSettle: dts, daysLate: late,
		})
	}
	return rows
}

func dateOf(t time.Time) domain.Date { return domain.DateOfTime(t) }

// ibmLog builds the sample's events through the domain's own commands (domain.Decide and
// domain.Evolve, as the command shell does): a customer is registered on its first invoice
// date; each row is an invoice (its number, with leading zeros, as id and number), a dispute
// opened on the invoice date when Disputed=Yes and resolved on the settlement date, and a
// payment on the settlement date allocated to that invoice. Commands run in date order across
// customers, so the log is recorded as it happened.
func ibmLog(t *testing.T, rows []ibmRow) *logBuilder {
	t.Helper()
	type step struct {
		on   time.Time
		kind int // register, invoice, dispute, resolve, payment: that order on one day
		row  *ibmRow
	}
	first := map[string]time.Time{}
	var steps []step
	for i := range rows {
		r := &rows[i]
		if f, ok := first[r.customer]; !ok || r.issued.Before(f) {
			first[r.customer] = r.issued
		}
		steps = append(steps, step{r.issued, 1, r}, step{r.settled, 4, r})
		if r.disputed {
			steps = append(steps, step{r.issued, 2, r}, step{r.settled, 3, r})
		}
	}
	for _, r := range rows {
		if first[r.customer].Equal(r.issued) {
			first[r.customer] = time.Time{} // one registration step per customer
			rr := r
			steps = append(steps, step{r.issued, 0, &rr})
		}
	}
	slices.SortStableFunc(steps, func(a, b step) int {
		if c := a.on.Compare(b.on); c != 0 {
			return c
		}
		if a.kind != b.kind {
			return a.kind - b.kind
		}
		return strings.Compare(a.row.number, b.row.number)
	})
	log := newLog()
	custs := map[string]*domain.Customer{}
	for i, s := range steps {
		r := s.row
		id := domain.CustomerID(r.customer)
		on := dateOf(s.on)
		amount := eur(r.amountMinor)
		var cmd domain.Command
		switch s.kind {
		case 0:
			custs[r.customer] = domain.NewCustomer()
			cmd = domain.RegisterCustomer{CustomerID: id, Name: "IBM sample " + r.customer, Country: ibmCountries[r.country],
				Segment: "cc" + r.country, Currency: "EUR", Terms: domain.Net(30), CreditLimit: eur(0), On: on}
		case 1:
			cmd = domain.IssueInvoice{CustomerID: id, InvoiceID: domain.InvoiceID(r.number), Number: r.number, Amount: amount,
				IssueDate: on, DueDate: dateOf(r.due)}
		case 2:
			cmd = domain.DisputeInvoice{CustomerID: id, InvoiceID: domain.InvoiceID(r.number), On: on}
		case 3:
			cmd = domain.ResolveDispute{CustomerID: id, InvoiceID: domain.InvoiceID(r.number), On: on, Outcome: "settled"}
		case 4:
			cmd = domain.RecordPayment{CustomerID: id, PaymentID: domain.PaymentID("PAY-" + r.number), Amount: amount, ReceivedOn: on,
				Allocations: []domain.Allocation{{InvoiceID: domain.InvoiceID(r.number), Amount: amount}}}
		}
		c := custs[r.customer]
		evs, err := domain.Decide(c, cmd)
		require.NoError(t, err, "row %s step %d", r.number, s.kind)
		for _, ev := range evs {
			domain.Evolve(c, ev)
			log.add(t, id, ev, recordedOn(on, i))
		}
	}
	return log
}

// TestIBMSample loads the real sample (Projections issue item 5d). Goal: the ledger's own
// days to pay and days beyond terms reproduce every row's DaysToSettle and DaysLate
// (DaysLate = max(0, DBT)); and the portfolio DSO (period and countback) and aging as of
// 2013-12-31 equal figures computed here, independently, from the raw rows with the time
// package and plain integer arithmetic.
func TestIBMSample(t *testing.T) {
	rows := readIBM(t)
	require.Len(t, rows, 2466)
	log := ibmLog(t, rows)

	live := New()
	for _, e := range log.envs {
		require.NoError(t, live.Apply(e))
	}
	require.NoError(t, live.check())
	customers, invoices, payments, _ := live.Counts()
	assert.Equal(t, 100, customers)
	assert.Equal(t, 2466, invoices)
	assert.Equal(t, 2466, payments)

	// Every row's DaysToSettle and DaysLate, from the ledger's own per-invoice figures.
	end := d("2014-12-31")
	views := map[string]InvoiceView{}
	for _, id := range CustomerIDs(live, Portfolio()) {
		ivs, err := CustomerInvoices(live, id, end, false)
		require.NoError(t, err)
		for _, iv := range ivs {
			views[iv.Number] = iv
		}
	}
	require.Len(t, views, 2466)
	var settledMinor, dtsNum, lateNum int64
	for _, r := range rows {
		iv, ok := views[r.number]
		require.True(t, ok, "invoice %s", r.number)
		require.NotNil(t, iv.DaysToPayCentidays, "invoice %s", r.number)
		require.NotNil(t, iv.DBTCentidays, "invoice %s", r.number)
		assert.Equal(t, int64(r.daysToSettle)*100, *iv.DaysToPayCentidays, "invoice %s: days to pay", r.number)
		dbt := *iv.DBTCentidays
		assert.Zero(t, dbt%100, "invoice %s: one settlement, whole days", r.number)
		assert.Equal(t, int64(r.daysLate), max(dbt/100, 0), "invoice %s: DaysLate = max(0, DBT)", r.number)
		settledMinor += r.amountMinor
		dtsNum += r.amountMinor * int64(r.daysToSettle)
		lateNum += r.amountMinor * int64(r.settled.Sub(r.due).Hours()/24)
	}
	all, err := ComputeFigures(live, Portfolio(), end, Config{})
	require.NoError(t, err)
	assert.Equal(t, settledMinor, all.Payments.SettledAmount.Minor)
	assert.Equal(t, halfUp(dtsNum*100, settledMinor), *all.Payments.DaysToPayCentidays)
	assert.Equal(t, halfUp(lateNum*100, settledMinor), *all.Payments.DBTCentidays)
	t.Logf("IBM sample, all history: days to pay %s, DBT %s (amount-weighted, %d invoices, %s EUR settled)",
		centi(*all.Payments.DaysToPayCentidays), centi(*all.Payments.DBTCentidays), len(rows), domain.FormatMinor(settledMinor, 2))

	// As of 2013-12-31, from a replay of the log (settlements after that day are left out).
	asOf := d("2013-12-31")
	asOfT := time.Date(2013, 12, 31, 0, 0, 0, 0, time.UTC)
	m, err := ReplaySlice(log.envs, asOf, farFuture)
	require.NoError(t, err)
	require.Zero(t, m.ReplayAdjustments())
	f, err := ComputeFigures(m, Portfolio(), asOf, Config{})
	require.NoError(t, err)

	// Independently: AR = invoices issued by the date and settled after it; credit sales of
	// 2013-10-01..2013-12-31 (92 days); sales per calendar month; aging by days past due.
	periodStart := time.Date(2013, 10, 1, 0, 0, 0, 0, time.UTC)
	var ar, sales, current int64
	monthly := map[time.Time]int64{}
	aging := make([]int64, 6)
	bounds := []int{0, 30, 60, 90, 120}
	for _, r := range rows {
		if !r.issued.After(asOfT) {
			monthly[time.Date(r.issued.Year(), r.issued.Month(), 1, 0, 0, 0, 0, time.UTC)] += r.amountMinor
		}
		if !r.issued.Before(periodStart) && !r.issued.After(asOfT) {
			sales += r.amountMinor
		}
		if r.issued.After(asOfT) || !r.settled.After(asOfT) {
			continue
		}
		ar += r.amountMinor
		dpd := int(asOfT.Sub(r.due).Hours() / 24)
		b := len(bounds)
		for i, ub := range bounds {
			if dpd <= ub {
				b = i
				break
			}
		}
		aging[b] += r.amountMinor
		if dpd <= 0 {
			current += r.amountMinor
		}
	}
	periodDays := int64(asOfT.Sub(periodStart).Hours()/24) + 1
	require.Equal(t, int64(92), periodDays)
	wantDSO := halfUp(ar*periodDays*100, sales)
	// Countback: Dec, Nov, Oct, … whole months (the end date is a month end).
	var wantCountback int64
	left := ar
	for month := time.Date(2013, 12, 1, 0, 0, 0, 0, time.UTC); left > 0; month = month.AddDate(0, -1, 0) {
		days := int64(month.AddDate(0, 1, 0).Sub(month).Hours() / 24)
		s := monthly[month]
		if s > 0 && left <= s {
			wantCountback += halfUp(left*days*100, s)
			break
		}
		wantCountback += days * 100
		left -= s
	}

	assert.Equal(t, ar, f.DSO.ARClosing.Minor, "AR at 2013-12-31")
	assert.Equal(t, sales, f.DSO.CreditSales.Minor, "credit sales Oct–Dec 2013")
	assert.Equal(t, wantDSO, *f.DSO.PeriodCentidays, "DSO, period method")
	assert.Equal(t, wantCountback, *f.DSO.CountbackCentidays, "DSO, countback")
	assert.Equal(t, halfUp(current*periodDays*100, sales), *f.DSO.BestPossibleCentidays, "BPDSO")
	for i, b := range f.Aging {
		assert.Equal(t, aging[i], b.Amount.Minor, "aging bucket %s", b.Label)
	}

	t.Logf("IBM sample as of 2013-12-31: AR %s EUR, credit sales 2013-10-01..12-31 %s EUR",
		domain.FormatMinor(ar, 2), domain.FormatMinor(sales, 2))
	t.Logf("  DSO period %s days, countback %s days, BPDSO %s, ADD %s, CEI %s %%",
		centi(*f.DSO.PeriodCentidays), centi(*f.DSO.CountbackCentidays), centi(*f.DSO.BestPossibleCentidays),
		centi(*f.DSO.ADDCentidays), centi(*f.CEI.CEIBP))
	var line []string
	for _, b := range f.Aging {
		line = append(line, fmt.Sprintf("%s %s (%d)", b.Label, domain.FormatMinor(b.Amount.Minor, 2), b.Items))
	}
	t.Logf("  aging: %s", strings.Join(line, ", "))
}

// halfUp returns a / b rounded half away from zero, for b > 0: the test's own rounding.
func halfUp(a, b int64) int64 {
	if a < 0 {
		return -halfUp(-a, b)
	}
	return (2*a + b) / (2 * b)
}

func centi(v int64) string { return domain.FormatMinor(v, 2) }
