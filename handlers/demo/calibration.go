package demo

import (
	"bytes"
	_ "embed"
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
)

// Calibration on the IBM accounts-receivable sample (IBM Watson Analytics "WA_Fn-UseC_-
// Accounts-Receivable", 2,466 settled invoices of 100 customers, 2012-01 to 2013-12, net 30
// days; a byte copy with md5 a6fe553143f93981315a6e90298edc47 is testdata/
// ibm_accounts_receivable.csv, attribution: IBM). TestCalibrationIsDerivedFromIBMSample
// recomputes every number below and data/ibm_payer_profiles.csv from that copy; run it with
// -update to rewrite the profiles file after a change of method. The sample is probably
// curated by IBM for tutorials (README of /shared/data): it gives the shapes, not the
// absolute amounts, which are small and have no currency.
//
// Definitions used by the derivation (the sample's own columns):
//   - DBT (days beyond terms, design §Metrics) of an invoice = SettledDate − DueDate, negative
//     when paid early. The sample's DaysLate column is max(0, DBT), so DaysToSettle − 30 is
//     used instead: it keeps early payments.
//   - Late: DBT > 0.
const (
	// ibmInvoices, ibmInvoicesLate and ibmInvoicesDisputed are row counts: all rows; rows with
	// DaysLate > 0; rows with Disputed = "Yes".
	ibmInvoices         = 2466
	ibmInvoicesLate     = 877 // 35.6 % paid late
	ibmInvoicesDisputed = 561 // 22.7 % disputed

	// ibmAmountMeanCents and ibmAmountSDCents: mean and population standard deviation of
	// InvoiceAmount (59.8959 and 20.4317), in hundredths.
	ibmAmountMeanCents = 5990
	ibmAmountSDCents   = 2043

	// ibmDaysLateMeanCentidays: mean DaysLate of the late invoices (8,489 days / 877 = 9.68).
	ibmDaysLateMeanCentidays = 968

	// ibmDisputeDelayTenths: how much later a disputed invoice is paid than its customer's
	// undisputed ones, in tenths of a day. For each customer with at least two undisputed
	// invoices, each disputed invoice's DBT minus the mean DBT of that customer's undisputed
	// invoices; the mean of those 474 differences is 14.52 days.
	ibmDisputeDelayTenths = 145

	// ibmInvoicesPerMonthMilli: mean over the 100 customers of their invoicing rate
	// (invoices − 1) / (last − first invoice date in days) × 30.4375, in thousandths: 1.120
	// invoices per customer per month. The same rate per customer is in the profiles.
	ibmInvoicesPerMonthMilli = 1120

	// ibmTermsDays: DueDate − InvoiceDate, the same on every row.
	ibmTermsDays = 30
)

// ibmAmountQuantilesCents are the 0 %, 5 %, 10 %, …, 100 % quantiles of InvoiceAmount in
// hundredths (linear interpolation between order statistics, "type 7"). An invoice amount is
// drawn by inverse transform: a uniform position on [0, 20) picks a segment and interpolates
// linearly inside it. The drawn mean is 60.36 (Σ (q[i] + q[i+1]) / 2 / 20), 0.8 % above the
// sample's 59.90: the top segment (92.35 to 128.28) is spread evenly where the sample has a
// thin tail. Finer quantiles would close the gap; 0.8 % is well inside what a demo needs.
var ibmAmountQuantilesCents = [21]int64{
	526, 2440, 3287, 3861, 4326, 4640, 4983, 5279, 5581, 5819,
	6056, 6282, 6536, 6809, 7091, 7377, 7701, 8147, 8594, 9235,
	12828,
}

// payerProfile is one IBM customer's payment behaviour, which a generated customer borrows
// whole (bootstrap by customer): drawing the four figures together keeps their correlation
// (customers who dispute more are not the ones who pay earliest, r = −0.10 in the sample),
// which drawing them apart would lose; the late share then matches the sample's (35.6 %)
// where independent draws give 39 %.
type payerProfile struct {
	// dbtMeanTenths and dbtSDTenths are the mean and sample standard deviation of the
	// customer's DBT after removing the dispute delay from its disputed invoices (DBT −
	// ibmDisputeDelay on those), in tenths of a day: its own baseline and spread.
	dbtMeanTenths int32
	dbtSDTenths   int32
	// disputePerMille is the share of its invoices that were disputed.
	disputePerMille int32
	// invoicesPerMonthMilli is its invoicing rate, as for ibmInvoicesPerMonthMilli.
	invoicesPerMonthMilli int32
	// invoices is its number of invoices in the sample (15..36), kept for the record.
	invoices int32
}

//go:embed data/ibm_payer_profiles.csv
var ibmPayerProfilesCSV []byte

// ibmPayerProfiles are the 100 profiles, sorted by baseline then spread.
var ibmPayerProfiles = mustParseProfiles(ibmPayerProfilesCSV)

// profilesHeader is the header line of data/ibm_payer_profiles.csv.
var profilesHeader = []string{"dbt_mean_tenths", "dbt_sd_tenths", "dispute_per_mille", "invoices_per_month_milli", "invoices"}

// ibmCustomers is the number of customers in the sample, hence of profiles.
const ibmCustomers = 100

func mustParseProfiles(b []byte) []payerProfile {
	ps, err := parseProfiles(b)
	if err != nil {
		panic(fmt.Sprintf("demo: embedded data/ibm_payer_profiles.csv: %v", err))
	}
	return ps
}

// parseProfiles reads the profiles file; the embedded copy is checked at init and by
// TestCalibrationIsDerivedFromIBMSample.
func parseProfiles(b []byte) ([]payerProfile, error) {
	r := csv.NewReader(bytes.NewReader(b))
	r.FieldsPerRecord = len(profilesHeader)
	header, err := r.Read()
	if err != nil {
		return nil, fmt.Errorf("read header: %w", err)
	}
	for i, h := range profilesHeader {
		if header[i] != h {
			return nil, fmt.Errorf("column %d is %q, want %q", i+1, header[i], h)
		}
	}
	var out []payerProfile
	for line := 2; line <= ibmCustomers+2; line++ { // bounded: one row per customer
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		var v [5]int32
		for i, s := range rec {
			n, err := strconv.ParseInt(s, 10, 32)
			if err != nil {
				return nil, fmt.Errorf("line %d, %s: %w", line, profilesHeader[i], err)
			}
			v[i] = int32(n)
		}
		p := payerProfile{v[0], v[1], v[2], v[3], v[4]}
		if p.dbtSDTenths < 0 || p.disputePerMille < 0 || p.disputePerMille > 1000 || p.invoicesPerMonthMilli <= 0 {
			return nil, fmt.Errorf("line %d: profile %+v out of range", line, p)
		}
		out = append(out, p)
	}
	if len(out) != ibmCustomers {
		return nil, fmt.Errorf("%d profiles, want %d", len(out), ibmCustomers)
	}
	return out, nil
}

// formatProfiles writes profiles as parseProfiles reads them.
func formatProfiles(ps []payerProfile) []byte {
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	_ = w.Write(profilesHeader)
	for _, p := range ps {
		_ = w.Write([]string{
			strconv.Itoa(int(p.dbtMeanTenths)), strconv.Itoa(int(p.dbtSDTenths)),
			strconv.Itoa(int(p.disputePerMille)), strconv.Itoa(int(p.invoicesPerMonthMilli)),
			strconv.Itoa(int(p.invoices)),
		})
	}
	w.Flush()
	return buf.Bytes()
}

// seasonPercent is the invoicing intensity of each calendar month in percent of the
// customer's mean rate (index 0 is January). The IBM sample is flat (90 to 125 invoices a
// month); the demo adds the pattern French B2B suppliers see: a December peak (year-end
// deliveries), an August trough (summer closure), a quieter May (bank holidays) and a busy
// autumn. The twelve sum to 1200, so the yearly mean rate stays calibrated.
var seasonPercent = [12]int32{95, 95, 105, 100, 95, 105, 95, 60, 110, 110, 110, 120}

// seasonPercentMax is the largest entry of seasonPercent (thinning bound).
const seasonPercentMax = 120
