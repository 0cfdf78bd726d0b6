package dashboard_test

import (
	"cmp"
	"fmt"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// What the browser test reads of the API (only the fields it compares).

type money struct {
	Amount   int64  `json:"amount"`
	Currency string `json:"currency"`
}

type figures struct {
	Currency          string `json:"currency"`
	Customers         int    `json:"customers"`
	OpenItems         int    `json:"open_items"`
	OverdueItems      int    `json:"overdue_items"`
	Exposure          money  `json:"exposure"`
	CreditLimit       money  `json:"credit_limit"`
	UtilisationBP     *int64 `json:"utilisation_bp"`
	Overdue           money  `json:"overdue"`
	InsuredExposure   money  `json:"insured_exposure"`
	UninsuredExposure money  `json:"uninsured_exposure"`
	Aging             []struct {
		Label  string `json:"label"`
		Amount money  `json:"amount"`
		Items  int    `json:"items"`
	} `json:"aging"`
	DSO struct {
		Period    *int64 `json:"dso_period_centidays"`
		Countback *int64 `json:"dso_countback_centidays"`
		BPDSO     *int64 `json:"bpdso_centidays"`
		ADD       *int64 `json:"add_centidays"`
	} `json:"dso"`
	CEI struct {
		BP *int64 `json:"cei_bp"`
	} `json:"cei"`
}

type basis struct {
	AsOf     string `json:"as_of"`
	Position uint64 `json:"position"`
	Live     bool   `json:"live"`
}

type portfolioAnswer struct {
	Basis basis `json:"basis"`
	Data  struct {
		Figures       *figures `json:"figures"`
		Concentration *struct {
			Top1  int64 `json:"top1_share_bp"`
			Top5  int64 `json:"top5_share_bp"`
			Top10 int64 `json:"top10_share_bp"`
			HHI   int64 `json:"hhi_bp"`
			Top   []struct {
				CustomerID string `json:"customer_id"`
				Exposure   money  `json:"exposure"`
				ShareBP    int64  `json:"share_bp"`
			} `json:"top"`
		} `json:"concentration"`
		ByCurrency []figures `json:"by_currency"`
	} `json:"data"`
}

type customerRow struct {
	CustomerID    string `json:"customer_id"`
	Name          string `json:"name"`
	Exposure      money  `json:"exposure"`
	CreditLimit   money  `json:"credit_limit"`
	UtilisationBP *int64 `json:"utilisation_bp"`
	Overdue       money  `json:"overdue"`
	OpenItems     int    `json:"open_items"`
}

type customersAnswer struct {
	Basis basis `json:"basis"`
	Data  struct {
		Customers []customerRow `json:"customers"`
		Total     int           `json:"total"`
	} `json:"data"`
}

type alert struct {
	AlertID    string `json:"alert_id"`
	CustomerID string `json:"customer_id"`
	Severity   string `json:"severity"`
	Status     string `json:"status"`
	Position   uint64 `json:"position"`
	RaisedOn   string `json:"raised_on"`
	ResolvedOn string `json:"resolved_on"`
	// Resolution by hand (POST /v1/alerts/{id}/resolve).
	ResolvedReason  string `json:"resolved_reason"`
	ResolvedComment string `json:"resolved_comment"`
	ResolvedBy      string `json:"resolved_by"`
	Explanation     struct {
		Summary string `json:"summary"`
	} `json:"explanation"`
	Escalations []struct {
		On string `json:"on"`
	} `json:"escalations"`
	Acks []struct {
		Comment string `json:"comment"`
		On      string `json:"acked_on"`
	} `json:"acknowledgements"`
}

type alertsAnswer struct {
	Alerts []alert `json:"alerts"`
}

type signalsAnswer struct {
	RiskScore struct {
		Score       int64 `json:"score"`
		Centipoints int64 `json:"centipoints"`
		Factors     []struct {
			Name         string `json:"name"`
			Contribution int64  `json:"contribution_centipoints"`
		} `json:"factors"`
	} `json:"risk_score"`
	Signals []struct {
		Rule string `json:"rule"`
	} `json:"signals"`
}

func alertIDs(as []alert) []string {
	ids := make([]string, len(as))
	for i, a := range as {
		ids[i] = a.AlertID
	}
	return ids
}

// opt renders an optional integer as the page's <data value> does: "" for null.
func opt(v *int64) string {
	if v == nil {
		return ""
	}
	return strconv.FormatInt(*v, 10)
}

func itoa[T int | int64 | uint64](v T) string { return fmt.Sprint(v) }

// fields reads the <data value> (or the text) of every [data-field] under the first element
// matching scope, the first of each name.
func (b *browser) fields(scope string) map[string]string {
	b.t.Helper()
	got := eval[map[string]string](b, fmt.Sprintf(`(() => {
		const root = document.querySelector(%q);
		if (!root) return null;
		const out = {};
		for (const el of root.querySelectorAll('[data-field]')) {
			const k = el.dataset.field;
			if (!(k in out)) out[k] = el.hasAttribute('value') ? el.getAttribute('value') : el.textContent;
		}
		return out;
	})()`, scope))
	require.NotNil(b.t, got, "no element %s", scope)
	return got
}

// row is one table row: its key (a data attribute) and its fields.
type row struct {
	Key    string            `json:"key"`
	Fields map[string]string `json:"fields"`
}

// rows reads the rows of a table: the data attribute key of each tbody row, and its fields.
func (b *browser) rows(table, key string) []row {
	b.t.Helper()
	return eval[[]row](b, fmt.Sprintf(`[...document.querySelectorAll(%q)].map((tr) => {
		const fields = {};
		for (const el of tr.querySelectorAll('[data-field]')) {
			if (!(el.dataset.field in fields)) fields[el.dataset.field] = el.hasAttribute('value') ? el.getAttribute('value') : el.textContent;
		}
		return { key: tr.dataset[%q] || '', fields };
	})`, table+" tbody tr", key))
}

// clickAndWait clicks an element and waits until page has rendered again for asOf.
func (b *browser) clickAndWait(sel, page, asOf string) {
	b.t.Helper()
	b.do(chromedp.Evaluate[chromedp.Void](`delete document.getElementById('main').dataset.ready`),
		chromedp.Click(chromedp.CSS(sel)))
	b.waitReady(page, asOf)
}

// checkContrast fails on text below the WCAG contrast minimum (testdata/contrast.js).
func checkContrast(t *testing.T, b *browser) {
	t.Helper()
	script, err := os.ReadFile("testdata/contrast.js")
	require.NoError(t, err)
	assert.Empty(t, eval[[]string](b, string(script)), "text below the contrast minimum")
}

// euros formats minor units of EUR as the page does in en-US: "€2,160,863.59".
func euros(minor int64) string {
	sign := ""
	if minor < 0 {
		sign, minor = "-", -minor
	}
	units := strconv.FormatInt(minor/100, 10)
	var grouped []string
	for len(units) > 3 {
		grouped = append([]string{units[len(units)-3:]}, grouped...)
		units = units[:len(units)-3]
	}
	grouped = append([]string{units}, grouped...)
	return fmt.Sprintf("%s€%s.%02d", sign, strings.Join(grouped, ","), minor%100)
}

func TestEuros(t *testing.T) {
	for minor, want := range map[int64]string{0: "€0.00", 5: "€0.05", 216086359: "€2,160,863.59", -416: "-€4.16", 100000: "€1,000.00"} {
		assert.Equal(t, want, euros(minor), "euros(%d)", minor)
	}
}

func checkKPIs(t *testing.T, b *browser, scope string, f figures) {
	t.Helper()
	got := b.fields(scope)
	want := map[string]string{
		"exposure": itoa(f.Exposure.Amount), "credit-limit": itoa(f.CreditLimit.Amount), "utilisation": opt(f.UtilisationBP),
		"overdue": itoa(f.Overdue.Amount), "overdue-items": itoa(f.OverdueItems), "open-items": itoa(f.OpenItems), "customers": itoa(f.Customers),
		"dso-period": opt(f.DSO.Period), "dso-countback": opt(f.DSO.Countback), "bpdso": opt(f.DSO.BPDSO), "add": opt(f.DSO.ADD),
		"cei": opt(f.CEI.BP), "insured": itoa(f.InsuredExposure.Amount), "uninsured": itoa(f.UninsuredExposure.Amount),
	}
	for k, v := range want {
		assert.Equal(t, v, got[k], "%s %s", scope, k)
	}
	if f.Currency == "EUR" {
		text := eval[string](b, fmt.Sprintf(`document.querySelector(%q).textContent`, scope+` [data-field="exposure"]`))
		assert.Equal(t, euros(f.Exposure.Amount), text, "total exposure as shown")
	}
}

func checkAging(t *testing.T, b *browser, table string, f figures) {
	t.Helper()
	got := b.rows(table, "bucket")
	require.Len(t, got, len(f.Aging), "aging buckets in %s", table)
	for i, bk := range f.Aging {
		assert.Equal(t, bk.Label, got[i].Key)
		assert.Equal(t, itoa(bk.Amount.Amount), got[i].Fields["amount"], "bucket %s", bk.Label)
		assert.Equal(t, itoa(bk.Items), got[i].Fields["items"], "bucket %s items", bk.Label)
	}
}

// trendDates is the month ends of the trend, computed here independently of the page: the
// eleven month ends before asOf's month, then asOf.
func trendDates(t *testing.T, asOf string) []string {
	t.Helper()
	d, err := time.Parse(time.DateOnly, asOf)
	require.NoError(t, err)
	var out []string
	for k := -11; k <= -1; k++ {
		out = append(out, time.Date(d.Year(), d.Month()+time.Month(k)+1, 0, 0, 0, 0, 0, time.UTC).Format(time.DateOnly))
	}
	return append(out, asOf)
}

func checkTrend(t *testing.T, b *browser, d *daemon, asOf string) {
	t.Helper()
	dates := trendDates(t, asOf)
	got := b.rows(`[data-table="dso-trend"]`, "asOf")
	require.Len(t, got, len(dates), "DSO trend points")
	for i, day := range dates {
		var pf portfolioAnswer
		d.get(t, "/v1/portfolio", fmtQ("as_of", day), &pf)
		require.NotNil(t, pf.Data.Figures)
		assert.Equal(t, day, got[i].Key)
		assert.Equal(t, opt(pf.Data.Figures.DSO.Period), got[i].Fields["dso-period"], "period DSO at %s", day)
		assert.Equal(t, opt(pf.Data.Figures.DSO.Countback), got[i].Fields["dso-countback"], "countback DSO at %s", day)
	}
	// The chart draws both series, a point for each month that has a figure.
	assert.Equal(t, 2, eval[int](b, `document.querySelectorAll('#dso-trend svg.chart path').length`))
}

func checkConcentration(t *testing.T, b *browser, pf portfolioAnswer) {
	t.Helper()
	c := pf.Data.Concentration
	require.NotNil(t, c)
	got := b.fields("#concentration .kpis")
	assert.Equal(t, itoa(c.Top1), got["top1"])
	assert.Equal(t, itoa(c.Top5), got["top5"])
	assert.Equal(t, itoa(c.Top10), got["top10"])
	assert.Equal(t, itoa(c.HHI), got["hhi"])
	rows := b.rows(`[data-table="top10"]`, "customerId")
	require.Len(t, rows, min(10, len(c.Top)))
	for i, r := range rows {
		assert.Equal(t, c.Top[i].CustomerID, r.Key, "top %d", i+1)
		assert.Equal(t, itoa(c.Top[i].Exposure.Amount), r.Fields["exposure"], "top %d", i+1)
		assert.Equal(t, itoa(c.Top[i].ShareBP), r.Fields["share"], "top %d", i+1)
	}
}

var severityRank = map[string]int{"critical": 0, "warning": 1, "info": 2}

// checkAlertsPanel compares the open alerts and the riskiest customers with the API, and
// returns the riskiest customer: of those with an open alert, the lowest risk score.
func checkAlertsPanel(t *testing.T, b *browser, d *daemon) string {
	t.Helper()
	var open alertsAnswer
	d.get(t, "/v1/alerts", fmtQ("status", "open"), &open)
	require.NotEmpty(t, open.Alerts, "the demo portfolio raises alerts")
	got := b.fields("#open-alerts")
	critical := 0
	for _, a := range open.Alerts {
		if a.Severity == "critical" {
			critical++
		}
	}
	assert.Equal(t, itoa(len(open.Alerts)), got["alerts-open"])
	assert.Equal(t, itoa(critical), got["alerts-critical"])
	sorted := slices.Clone(open.Alerts)
	slices.SortStableFunc(sorted, func(x, y alert) int {
		return cmp.Or(cmp.Compare(severityRank[x.Severity], severityRank[y.Severity]), cmp.Compare(y.Position, x.Position))
	})
	shown := eval[[]string](b, `[...document.querySelectorAll('[data-list="open-alerts"] > li')].map((li) => li.dataset.alertId)`)
	assert.Equal(t, alertIDs(sorted[:min(10, len(sorted))]), shown, "the worst and newest alerts first")
	reasons := eval[[]string](b, `[...document.querySelectorAll('[data-list="open-alerts"] > li')].map((li) => li.querySelector('.alert-reason')?.textContent ?? '')`)
	for i, a := range sorted[:len(reasons)] {
		want := ""
		if a.Explanation.Summary != "" {
			want = "Why: " + a.Explanation.Summary
		}
		assert.Equal(t, want, reasons[i], "reason of %s", a.AlertID)
	}

	type candidate struct {
		id          string
		critical    int
		centipoints int64
		score       int64
	}
	byID := map[string]*candidate{}
	for _, a := range open.Alerts {
		if a.CustomerID == "" {
			continue
		}
		c := byID[a.CustomerID]
		if c == nil {
			c = &candidate{id: a.CustomerID}
			byID[a.CustomerID] = c
		}
		if a.Severity == "critical" {
			c.critical++
		}
	}
	require.LessOrEqual(t, len(byID), 50, "the page reads at most 50 risk scores; the test compares them all")
	var all []*candidate
	for _, c := range byID {
		var s signalsAnswer
		d.get(t, "/v1/customers/"+url.PathEscape(c.id)+"/signals", nil, &s)
		c.centipoints, c.score = s.RiskScore.Centipoints, s.RiskScore.Score
		all = append(all, c)
	}
	slices.SortFunc(all, func(x, y *candidate) int {
		return cmp.Or(cmp.Compare(x.centipoints, y.centipoints), cmp.Compare(y.critical, x.critical), strings.Compare(x.id, y.id))
	})
	ranked := eval[[]string](b, `[...document.querySelectorAll('[data-list="riskiest"] > li')].map((li) => li.dataset.customerId)`)
	require.NotEmpty(t, ranked)
	for i, id := range ranked {
		assert.Equal(t, all[i].id, id, "riskiest #%d", i+1)
	}
	assert.Equal(t, itoa(all[0].score), b.fields(`[data-list="riskiest"] > li:first-child`)["risk-score"])
	return all[0].id
}

type customerAnswer struct {
	ID            string `json:"id"`
	Name          string `json:"name"`
	Currency      string `json:"currency"`
	CreditLimit   int64  `json:"credit_limit"`
	Exposure      int64  `json:"exposure"`
	UtilisationBP *int64 `json:"utilisation_bp"`
	OverdueTotal  int64  `json:"overdue_total"`
	DisputedTotal int64  `json:"disputed_total"`
	OpenItems     []struct {
		InvoiceID   string `json:"invoice_id"`
		OpenAmount  int64  `json:"open_amount"`
		DaysOverdue int    `json:"days_overdue"`
	} `json:"open_items"`
}

type eventsAnswer struct {
	Events []struct {
		Position    uint64 `json:"position"`
		Type        string `json:"type"`
		EffectiveOn string `json:"effective_on"`
	} `json:"events"`
	Next uint64 `json:"next"`
}

// checkCustomer compares the customer page with the API: figures, open items, penalties,
// risk score and signals, and the story entry by entry.
func checkCustomer(t *testing.T, b *browser, d *daemon, id, today string) {
	t.Helper()
	path := "/v1/customers/" + url.PathEscape(id)
	var c customerAnswer
	d.get(t, path, nil, &c)
	assert.Equal(t, c.Name, eval[string](b, `document.querySelector('h1').textContent`))
	got := b.fields(".kpis")
	assert.Equal(t, itoa(c.Exposure), got["exposure"])
	assert.Equal(t, itoa(c.CreditLimit), got["credit-limit"])
	assert.Equal(t, opt(c.UtilisationBP), got["utilisation"])
	assert.Equal(t, itoa(c.OverdueTotal), got["overdue"])
	assert.Equal(t, itoa(c.DisputedTotal), got["disputed"])
	if c.Currency == "EUR" {
		assert.Equal(t, euros(c.Exposure), eval[string](b, `document.querySelector('.kpis [data-field="exposure"]').textContent`))
	}

	items := b.rows(`[data-table="open-items"]`, "invoiceId")
	require.Len(t, items, len(c.OpenItems), "open items")
	want := map[string][2]string{}
	for _, it := range c.OpenItems {
		want[it.InvoiceID] = [2]string{itoa(it.OpenAmount), itoa(it.DaysOverdue)}
	}
	for _, r := range items {
		assert.Equal(t, want[r.Key], [2]string{r.Fields["open"], r.Fields["days-late"]}, "open item %s", r.Key)
	}

	var pen struct {
		Data struct {
			LateInvoices int `json:"late_invoices"`
		} `json:"data"`
	}
	d.get(t, "/v1/penalties", fmtQ("customer_id", id), &pen)
	assert.Equal(t, itoa(pen.Data.LateInvoices), b.fields(`[data-field="penalties"]`)["late-invoices"])

	var alerts []alert
	if d.Alerts { // the risk score and signals come with alerting
		var s signalsAnswer
		d.get(t, path+"/signals", nil, &s)
		assert.Equal(t, itoa(s.RiskScore.Score), b.fields("#risk-score")["risk-score"])
		factors := b.rows(`[data-table="risk-factors"]`, "factor")
		require.Len(t, factors, len(s.RiskScore.Factors))
		for i, f := range s.RiskScore.Factors {
			assert.Equal(t, f.Name, factors[i].Key)
			assert.Equal(t, itoa(f.Contribution), factors[i].Fields["contribution"], "factor %s", f.Name)
		}
		var rules []string
		for _, sg := range s.Signals {
			rules = append(rules, sg.Rule)
		}
		assert.Equal(t, rules, eval[[]string](b, `[...document.querySelectorAll('[data-list="signals"] > li')].map((li) => li.dataset.rule)`))
		var as alertsAnswer
		d.get(t, "/v1/alerts", fmtQ("customer_id", id), &as)
		alerts = as.Alerts
	}

	// The story: every event of the customer's stream to today, and its alerts' events.
	var wantEvents []string
	for from := uint64(1); ; { // bounded: each page advances from
		var page eventsAnswer
		d.get(t, path+"/events", fmtQ("from", itoa(from), "limit", "1000"), &page)
		for _, e := range page.Events {
			if e.EffectiveOn <= today {
				wantEvents = append(wantEvents, itoa(e.Position))
			}
		}
		if len(page.Events) < 1000 {
			break
		}
		from = page.Next
	}
	wantAlertEntries := 0
	for _, a := range alerts {
		for _, on := range []string{a.RaisedOn, a.ResolvedOn} {
			if on != "" && on <= today {
				wantAlertEntries++
			}
		}
		for _, e := range a.Escalations {
			if e.On <= today {
				wantAlertEntries++
			}
		}
		for _, k := range a.Acks {
			if k.On <= today {
				wantAlertEntries++
			}
		}
	}
	if eval[bool](b, `document.querySelector('#story button:not(.chip)') !== null`) {
		b.do(chromedp.Click(chromedp.CSS(`#story button:not(.chip)`)))
	}
	gotEvents := eval[[]string](b, `[...document.querySelectorAll('[data-list="timeline"] > li[data-source="event"]')].map((li) => li.dataset.position)`)
	assert.ElementsMatch(t, wantEvents, gotEvents, "events of the story")
	assert.Equal(t, wantAlertEntries, eval[int](b, `document.querySelectorAll('[data-list="timeline"] > li[data-source="alert"]').length`), "alert entries of the story")
	dates := eval[[]string](b, `[...document.querySelectorAll('[data-list="timeline"] > li time')].map((e) => e.getAttribute('datetime'))`)
	assert.True(t, slices.IsSortedFunc(dates, func(x, y string) int { return strings.Compare(y, x) }), "newest first")
}

// checkCustomerHistory compares the customer page's 12-month balance and utilisation with
// GET /v1/customers?customer_id=&as_of= at each month end, and checks that both series are
// drawn.
func checkCustomerHistory(t *testing.T, b *browser, d *daemon, id, asOf string) {
	t.Helper()
	dates := trendDates(t, asOf)
	got := b.rows(`[data-table="customer-history"]`, "asOf")
	require.Len(t, got, len(dates), "history points")
	for i, day := range dates {
		var ans customersAnswer
		d.get(t, "/v1/customers", fmtQ("customer_id", id, "as_of", day), &ans)
		assert.Equal(t, day, got[i].Key)
		want := map[string]string{}
		if len(ans.Data.Customers) == 1 {
			c := ans.Data.Customers[0]
			require.Equal(t, id, c.CustomerID)
			want = map[string]string{"exposure": itoa(c.Exposure.Amount), "credit-limit": itoa(c.CreditLimit.Amount),
				"utilisation": opt(c.UtilisationBP), "overdue": itoa(c.Overdue.Amount)}
		}
		assert.Equal(t, want, got[i].Fields, "%s on %s", id, day)
	}
	assert.Equal(t, 2, eval[int](b, `document.querySelectorAll('#customer-history svg.chart path').length`), "exposure and limit drawn")
}

// checkCustomerRows compares the customers table with GET /v1/customers?q.
func checkCustomerRows(t *testing.T, b *browser, d *daemon, q url.Values) {
	t.Helper()
	var ans customersAnswer
	d.get(t, "/v1/customers", q, &ans)
	rows := b.rows(`[data-table="customers"]`, "customerId")
	require.Len(t, rows, len(ans.Data.Customers), "rows for %s", q.Encode())
	for i, c := range ans.Data.Customers {
		r := rows[i]
		assert.Equal(t, c.CustomerID, r.Key, "row %d for %s", i, q.Encode())
		assert.Equal(t, map[string]string{
			"exposure": itoa(c.Exposure.Amount), "credit-limit": itoa(c.CreditLimit.Amount), "utilisation": opt(c.UtilisationBP),
			"overdue": itoa(c.Overdue.Amount), "open-items": itoa(c.OpenItems),
		}, map[string]string{
			"exposure": r.Fields["exposure"], "credit-limit": r.Fields["credit-limit"], "utilisation": r.Fields["utilisation"],
			"overdue": r.Fields["overdue"], "open-items": r.Fields["open-items"],
		}, "customer %s", c.CustomerID)
	}
	assert.Equal(t, itoa(ans.Data.Total), b.fields(".pager")["total"])
}

// quietCustomer returns a customer in EUR with exposure, under 80 % of its limit, and no
// open alert.
func quietCustomer(t *testing.T, d *daemon) (string, int64) {
	t.Helper()
	var list customersAnswer
	d.get(t, "/v1/customers", fmtQ("sort", "exposure", "limit", "100"), &list)
	for _, c := range list.Data.Customers {
		if c.Exposure.Currency != "EUR" || c.Exposure.Amount < 10_000 || c.UtilisationBP == nil || *c.UtilisationBP >= 8000 {
			continue
		}
		var open alertsAnswer
		d.get(t, "/v1/alerts", fmtQ("status", "open", "customer_id", c.CustomerID), &open)
		if len(open.Alerts) == 0 {
			return c.CustomerID, c.Exposure.Amount
		}
	}
	t.Fatal("no customer without alerts to raise one on")
	return "", 0
}
