package demo

import (
	"cmp"
	"encoding/csv"
	"flag"
	"math"
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

var update = flag.Bool("update", false, "rewrite data/ibm_payer_profiles.csv from the IBM sample")

// ibmRow is one invoice of the IBM sample, with the figures the derivation needs.
type ibmRow struct {
	customer  string
	issue     domain.Date
	amountCts int64
	dbtDays   int // SettledDate − DueDate, negative when early
	disputed  bool
	daysLate  int
}

// readIBMSample parses testdata/ibm_accounts_receivable.csv (CRLF, US dates M/D/YYYY).
func readIBMSample(t *testing.T) []ibmRow {
	t.Helper()
	f, err := os.Open("testdata/ibm_accounts_receivable.csv")
	require.NoError(t, err)
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	require.NoError(t, err)
	require.Equal(t, []string{"countryCode", "customerID", "PaperlessDate", "invoiceNumber", "InvoiceDate",
		"DueDate", "InvoiceAmount", "Disputed", "SettledDate", "PaperlessBill", "DaysToSettle", "DaysLate"}, recs[0])
	usDate := func(s string) domain.Date {
		parts := strings.Split(s, "/")
		require.Len(t, parts, 3, "date %q", s)
		m, err1 := strconv.Atoi(parts[0])
		d, err2 := strconv.Atoi(parts[1])
		y, err3 := strconv.Atoi(parts[2])
		require.NoError(t, cmp.Or(err1, err2, err3), "date %q", s)
		v, err := domain.DateOf(y, time.Month(m), d)
		require.NoError(t, err)
		return v
	}
	rows := make([]ibmRow, 0, len(recs)-1)
	for _, r := range recs[1:] {
		cents, err := domain.ParseDecimal(r[6], 2)
		require.NoError(t, err)
		late, err := strconv.Atoi(r[11])
		require.NoError(t, err)
		issue, due, settled := usDate(r[4]), usDate(r[5]), usDate(r[8])
		require.Equal(t, ibmTermsDays, issue.DaysUntil(due), "terms of %s", r[3])
		rows = append(rows, ibmRow{
			customer: r[1], issue: issue, amountCts: cents, dbtDays: due.DaysUntil(settled),
			disputed: r[7] == "Yes", daysLate: late,
		})
	}
	return rows
}

// TestCalibrationIsDerivedFromIBMSample recomputes the constants of calibration.go and the
// payer profiles from the sample, so that every calibrated number can be traced to the data
// (style §9: each number says where it came from). With -update it rewrites the profiles
// file; the scalar constants are compared and, on a difference, the derived value is printed.
func TestCalibrationIsDerivedFromIBMSample(t *testing.T) {
	rows := readIBMSample(t)
	require.Len(t, rows, ibmInvoices)

	var late, disputed, lateDays int
	amounts := make([]float64, 0, len(rows))
	var sum float64
	for _, r := range rows {
		assert.Equal(t, max(0, r.dbtDays), r.daysLate, "DaysLate is max(0, DBT)")
		if r.daysLate > 0 {
			late++
			lateDays += r.daysLate
		}
		if r.disputed {
			disputed++
		}
		amounts = append(amounts, float64(r.amountCts))
		sum += float64(r.amountCts)
	}
	mean := sum / float64(len(rows))
	var ss float64
	for _, a := range amounts {
		ss += (a - mean) * (a - mean)
	}
	assert.Equal(t, ibmInvoicesLate, late, "late invoices")
	assert.Equal(t, ibmInvoicesDisputed, disputed, "disputed invoices")
	assert.Equal(t, int64(ibmAmountMeanCents), int64(math.Round(mean)), "amount mean (cents)")
	assert.Equal(t, int64(ibmAmountSDCents), int64(math.Round(math.Sqrt(ss/float64(len(rows))))), "amount sd (cents)")
	assert.Equal(t, int64(ibmDaysLateMeanCentidays), int64(math.Round(100*float64(lateDays)/float64(late))), "days late mean")

	slices.Sort(amounts)
	var q [21]int64
	for i := range q {
		q[i] = int64(math.Round(quantile7(amounts, float64(i)/20)))
	}
	assert.Equal(t, ibmAmountQuantilesCents, q, "amount quantiles")

	delay, profiles := deriveProfiles(rows)
	assert.Equal(t, int64(ibmDisputeDelayTenths), int64(math.Round(10*delay)), "dispute delay")
	var rateSum int64
	for _, p := range profiles {
		rateSum += int64(p.invoicesPerMonthMilli)
	}
	assert.Equal(t, int64(ibmInvoicesPerMonthMilli), int64(math.Round(float64(rateSum)/float64(len(profiles)))), "invoices per customer per month")

	got := formatProfiles(profiles)
	if *update {
		require.NoError(t, os.WriteFile("data/ibm_payer_profiles.csv", got, 0o644))
	}
	want, err := os.ReadFile("data/ibm_payer_profiles.csv")
	require.NoError(t, err)
	assert.Equal(t, string(want), string(got), "data/ibm_payer_profiles.csv is stale: go test -run Calibration -update")
	assert.Equal(t, ibmPayerProfilesCSV, want, "embedded profiles differ from the file (rebuild)")
}

// deriveProfiles returns the dispute delay (days) and one profile per customer, as documented
// on payerProfile and ibmDisputeDelayTenths.
func deriveProfiles(rows []ibmRow) (float64, []payerProfile) {
	byCustomer := map[string][]ibmRow{}
	var ids []string
	for _, r := range rows {
		if _, ok := byCustomer[r.customer]; !ok {
			ids = append(ids, r.customer)
		}
		byCustomer[r.customer] = append(byCustomer[r.customer], r)
	}
	slices.Sort(ids)

	var diffs []float64
	for _, id := range ids {
		var undisputed []float64
		for _, r := range byCustomer[id] {
			if !r.disputed {
				undisputed = append(undisputed, float64(r.dbtDays))
			}
		}
		if len(undisputed) < 2 {
			continue
		}
		base := meanOf(undisputed)
		for _, r := range byCustomer[id] {
			if r.disputed {
				diffs = append(diffs, float64(r.dbtDays)-base)
			}
		}
	}
	delay := meanOf(diffs)
	// The constant, not the unrounded mean, is what the generator adds: derive with it.
	delayUsed := float64(ibmDisputeDelayTenths) / 10

	profiles := make([]payerProfile, 0, len(ids))
	for _, id := range ids {
		rs := byCustomer[id]
		adj := make([]float64, len(rs))
		first, last := rs[0].issue, rs[0].issue
		var nDisputed int
		for i, r := range rs {
			adj[i] = float64(r.dbtDays)
			if r.disputed {
				adj[i] -= delayUsed
				nDisputed++
			}
			if r.issue.Before(first) {
				first = r.issue
			}
			if r.issue.After(last) {
				last = r.issue
			}
		}
		m := meanOf(adj)
		var ss float64
		for _, a := range adj {
			ss += (a - m) * (a - m)
		}
		sd := math.Sqrt(ss / float64(len(adj)-1))
		rate := float64(len(rs)-1) / float64(first.DaysUntil(last)) * 30.4375
		profiles = append(profiles, payerProfile{
			dbtMeanTenths:         int32(math.Round(10 * m)),
			dbtSDTenths:           int32(math.Round(10 * sd)),
			disputePerMille:       int32(math.Round(1000 * float64(nDisputed) / float64(len(rs)))),
			invoicesPerMonthMilli: int32(math.Round(1000 * rate)),
			invoices:              int32(len(rs)),
		})
	}
	slices.SortFunc(profiles, func(a, b payerProfile) int {
		return cmp.Or(cmp.Compare(a.dbtMeanTenths, b.dbtMeanTenths), cmp.Compare(a.dbtSDTenths, b.dbtSDTenths),
			cmp.Compare(a.disputePerMille, b.disputePerMille), cmp.Compare(a.invoicesPerMonthMilli, b.invoicesPerMonthMilli),
			cmp.Compare(a.invoices, b.invoices))
	})
	return delay, profiles
}

func meanOf(xs []float64) float64 {
	var s float64
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}

// quantile7 is the "type 7" quantile of sorted xs (linear between order statistics).
func quantile7(sorted []float64, p float64) float64 {
	h := float64(len(sorted)-1) * p
	i := int(h)
	if i+1 >= len(sorted) {
		return sorted[len(sorted)-1]
	}
	return sorted[i] + (sorted[i+1]-sorted[i])*(h-float64(i))
}

// TestGeneratedPortfolioMatchesIBMCalibration checks that the generated population
// reproduces the IBM figures it is calibrated on. Method: fold a portfolio through the
// domain; keep the generated customers without a scripted anomaly (drift, silence: they are
// meant to differ) and their invoices issued at least 150 days before End (all of them
// settled by then, so that late ones are not under-counted); compare the share paid late,
// the mean days late, the share disputed, the amount (rescaled to IBM units by the
// customer's own scale) and the invoicing rate with the sample's. Tolerances cover the
// sampling noise of a few thousand invoices and the demo's own additions (partial payments,
// promises, bounced payments, weekends).
func TestGeneratedPortfolioMatchesIBMCalibration(t *testing.T) {
	cfg := Config{Customers: 400, Years: 3, Seed: 11, End: testEnd} // fixed: the check is deterministic
	l := fold(t, collect(t, cfg))
	g := newGenerator(cfg)
	cutoff := cfg.End.AddDays(-150)

	var invoices, settled, late, lateDays, disputed int
	var amountIBMSum float64
	var customerMonths float64
	var issuedAll int
	var byMonth [12]int
	for i := range g.customers {
		gc := &g.customers[i]
		if !gc.driftFrom.IsZero() || !gc.silentFrom.IsZero() {
			continue
		}
		c := l.customers[gc.id]
		require.NotNil(t, c, "customer %s", gc.id)
		customerMonths += float64(c.Profile().RegisteredOn.DaysUntil(cfg.End)) / 30.4375
		for _, v := range c.Invoices() {
			issuedAll++
			_, m, _ := v.IssueDate.Civil()
			byMonth[m-1]++
			if v.IssueDate.After(cutoff) {
				continue
			}
			invoices++
			amountIBMSum += float64(v.Amount.Minor) * ibmAmountMeanCents / float64(gc.typicalMinor)
			if v.Disputes > 0 {
				disputed++
			}
			on, ok := settledOn(v)
			if !ok {
				continue
			}
			settled++
			if d := v.DueDate.DaysUntil(on); d > 0 {
				late++
				lateDays += d
			}
		}
	}
	require.Greater(t, invoices, 2000, "enough invoices to compare")
	lateShare := float64(late) / float64(settled)
	lateMean := float64(lateDays) / float64(late)
	disputeShare := float64(disputed) / float64(invoices)
	amountMean := amountIBMSum / float64(invoices) / 100
	rate := float64(issuedAll) / customerMonths
	t.Logf("%d invoices (%d settled): late %.3f (IBM %.3f), days late %.2f (IBM %.2f), disputed %.3f (IBM %.3f), "+
		"amount %.2f (IBM %.2f), invoices per customer-month %.3f (IBM %.3f), Dec/Aug %d/%d",
		invoices, settled, lateShare, float64(ibmInvoicesLate)/ibmInvoices, lateMean, float64(ibmDaysLateMeanCentidays)/100,
		disputeShare, float64(ibmInvoicesDisputed)/ibmInvoices, amountMean, float64(ibmAmountMeanCents)/100,
		rate, float64(ibmInvoicesPerMonthMilli)/1000, byMonth[11], byMonth[7])

	assert.InDelta(t, float64(ibmInvoicesLate)/ibmInvoices, lateShare, 0.03, "share paid late")
	assert.InDelta(t, float64(ibmDaysLateMeanCentidays)/100, lateMean, 1.5, "mean days late")
	assert.InDelta(t, float64(ibmInvoicesDisputed)/ibmInvoices, disputeShare, 0.03, "share disputed")
	assert.InEpsilon(t, float64(ibmAmountMeanCents)/100, amountMean, 0.03, "amount mean in IBM units")
	assert.InEpsilon(t, float64(ibmInvoicesPerMonthMilli)/1000, rate, 0.06, "invoices per customer per month")
	assert.Greater(t, float64(byMonth[11]), 1.5*float64(byMonth[7]), "December peak over August trough")
}
