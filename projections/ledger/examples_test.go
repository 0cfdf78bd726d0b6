package ledger

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/encours/encours/domain"
)

// TestWorkedExamples runs every worked example in testdata/examples: a small history written
// as one event per line, then `at DATE` blocks of expected figures, each with the arithmetic
// beside it. Goal: each metric of design §Metrics checked against figures a person computed
// by hand. Method: the events are appended to an in-memory log; each `at` block replays the
// log as of its date (Replay, known at the end of time) and looks the expected values up, by
// JSON path, in one document holding every report, so the JSON field names are checked too.
// When a block's date is on or after every event, the incrementally applied live model must
// give the same document.
//
// The format (amounts in the customer's currency, decimals as written; dates YYYY-MM-DD):
//
//	customer ID CCY [limit=A] [country=FR] [sector=S] [segment=S] [terms=net30] [on=D]
//	invoice CUST INV A issued=D due=D [number=N]
//	credit-note CUST CN A on=D [invoice=INV applied=A]
//	payment CUST PAY A on=D [INV:A ...]            the rest stays unallocated
//	allocate CUST PAY on=D INV:A ...                cash on account applied later
//	allocate-credit CUST CN on=D INV:A ...          standing credit applied later
//	reverse CUST PAY on=D [INV:A ...]               re-opens; the payment's rest leaves the account
//	dispute|resolve CUST INV on=D
//	write-off CUST INV A on=D
//	plan CUST PLAN on=D invoices=I1,I2 D:A ...
//	limit CUST A on=D
//	cover CUST INSURER A days=N on=D
//	rates REPORTING on=D CCY=R ...                  R with up to 9 decimals
//	config [aging=0,30,...] [provision=bp,...] [period=D..D] [forecast_weeks=N] [warn_days=N] [contract_rate_bp=N] [statement_from=D]
//	at D
//	expect PATH VALUE                               PATH: dotted JSON path, array indexes numeric
func TestWorkedExamples(t *testing.T) {
	files, err := filepath.Glob("testdata/examples/*.txt")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".txt"), func(t *testing.T) { runExample(t, f) })
	}
}

type exampleConfig struct {
	cfg           Config
	forecastWeeks int
	warnDays      int
	policy        PenaltyPolicy
	statementFrom domain.Date // the statements' period start (zero: since the first movement)
}

func runExample(t *testing.T, path string) {
	fh, err := os.Open(path)
	require.NoError(t, err)
	defer fh.Close()
	log := newLog()
	ccyOf := map[domain.CustomerID]domain.Currency{}
	ec := exampleConfig{forecastWeeks: 8, warnDays: 15}
	var doc any
	var at domain.Date
	sc := bufio.NewScanner(fh)
	for ln := 1; sc.Scan(); ln++ {
		line := sc.Text()
		if i := strings.Index(line, "#"); i >= 0 {
			line = line[:i]
		}
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		where := path + ":" + strconv.Itoa(ln)
		switch f[0] {
		case "config":
			parseConfig(t, where, f[1:], &ec)
		case "at":
			require.Len(t, f, 2, where)
			at = d(f[1])
			doc = exampleDoc(t, where, log, at, ec)
		case "expect":
			require.GreaterOrEqual(t, len(f), 3, where)
			require.NotNil(t, doc, "%s: expect before at", where)
			got, ok := lookup(doc, f[1])
			if !assert.True(t, ok, "%s: no %s in the document", where, f[1]) {
				continue
			}
			want := strings.Join(f[2:], " ")
			gotJSON, _ := json.Marshal(got)
			if s, isStr := got.(string); isStr && !strings.HasPrefix(want, `"`) {
				assert.Equal(t, want, s, "%s: %s as of %s", where, f[1], at)
			} else {
				assert.Equal(t, want, string(gotJSON), "%s: %s as of %s", where, f[1], at)
			}
		default:
			cust, ev := parseEvent(t, where, f, ccyOf)
			log.add(t, cust, ev, time.Time{})
		}
	}
	require.NoError(t, sc.Err())
}

// exampleDoc builds the document of every report as of at.
func exampleDoc(t *testing.T, where string, log *logBuilder, at domain.Date, ec exampleConfig) any {
	t.Helper()
	m, err := ReplaySlice(log.envs, at, farFuture)
	require.NoError(t, err, where)
	require.NoError(t, m.check(), where)
	doc := buildDoc(t, where, m, at, ec)
	// When nothing is dated after at, the live model must tell the same story.
	latest := true
	for _, e := range log.envs {
		if e.EffectiveOn.After(at) {
			latest = false
		}
	}
	if latest {
		live := New()
		for _, e := range log.envs {
			require.NoError(t, live.Apply(e), where)
		}
		assert.Equal(t, dump(m), dump(live), "%s: replay and live models differ", where)
		assert.Equal(t, doc, buildDoc(t, where, live, at, ec), "%s: replay and live figures differ", where)
	}
	return doc
}

func buildDoc(t *testing.T, where string, m *Model, at domain.Date, ec exampleConfig) any {
	t.Helper()
	out := map[string]any{}
	port, err := ComputeFigures(m, Portfolio(), at, ec.cfg)
	require.NoError(t, err, where)
	out["portfolio"] = port
	for name, dim := range map[string]Dimension{"customers": ByCustomer, "segments": BySegment, "sectors": BySector, "countries": ByCountry, "currencies": ByCurrency} {
		groups, err := GroupFigures(m, dim, at, ec.cfg)
		require.NoError(t, err, where)
		byKey := map[string]Figures{}
		for _, g := range groups {
			byKey[g.Key] = g
			// Aging buckets sum to the open invoice total (Projections issue item 3).
			var sum int64
			for _, b := range g.Aging {
				sum += b.Amount.Minor
			}
			require.Equal(t, g.OpenInvoices.Minor, sum, "%s: %s %s aging sum", where, name, g.Key)
		}
		out[name] = byKey
	}
	invoices := map[string]map[string]InvoiceView{}
	profiles := map[string]Profile{}
	sims := map[string]DefaultSimulation{}
	statements := map[string]Statement{}
	for _, id := range CustomerIDs(m, Portfolio()) {
		ivs, err := CustomerInvoices(m, id, at, false)
		require.NoError(t, err, where)
		invoices[string(id)] = map[string]InvoiceView{}
		for _, iv := range ivs {
			invoices[string(id)][string(iv.InvoiceID)] = iv
		}
		profiles[string(id)], err = CustomerProfile(m, id)
		require.NoError(t, err, where)
		sims[string(id)], err = SimulateDefault(m, id, at, ec.cfg)
		require.NoError(t, err, where)
		statements[string(id)], err = CustomerStatement(m, id, ec.statementFrom, at)
		require.NoError(t, err, where)
	}
	out["invoices"], out["profiles"], out["default"], out["statements"] = invoices, profiles, sims, statements
	out["concentration"], err = Concentration(m, Portfolio(), at)
	require.NoError(t, err, where)
	out["penalties"], err = Penalties(m, Portfolio(), at, ec.policy)
	require.NoError(t, err, where)
	out["totals"] = m.Totals()
	out["lme"] = PaymentTermFindings(m, Portfolio(), at)
	out["deadlines"] = InsuranceDeadlines(m, Portfolio(), at, ec.warnDays)
	out["forecast"], err = CashForecast(m, Portfolio(), at, ec.forecastWeeks)
	require.NoError(t, err, where)
	// Through JSON, as the API will show it.
	b, err := json.Marshal(out)
	require.NoError(t, err, where)
	var doc any
	require.NoError(t, json.Unmarshal(b, &doc), where)
	return doc
}

func lookup(doc any, path string) (any, bool) {
	cur := doc
	for _, seg := range strings.Split(path, ".") {
		switch v := cur.(type) {
		case map[string]any:
			next, ok := v[seg]
			if !ok {
				return nil, false
			}
			cur = next
		case []any:
			i, err := strconv.Atoi(seg)
			if err != nil || i < 0 || i >= len(v) {
				return nil, false
			}
			cur = v[i]
		default:
			return nil, false
		}
	}
	return cur, true
}

func parseConfig(t *testing.T, where string, args []string, ec *exampleConfig) {
	for _, a := range args {
		k, v, ok := strings.Cut(a, "=")
		require.True(t, ok, "%s: %q", where, a)
		switch k {
		case "aging":
			ec.cfg.AgingBoundsDays = nil
			for _, x := range strings.Split(v, ",") {
				n, err := strconv.Atoi(x)
				require.NoError(t, err, where)
				ec.cfg.AgingBoundsDays = append(ec.cfg.AgingBoundsDays, n)
			}
		case "provision":
			ec.cfg.ProvisionBP = nil
			for _, x := range strings.Split(v, ",") {
				n, err := strconv.ParseInt(x, 10, 64)
				require.NoError(t, err, where)
				ec.cfg.ProvisionBP = append(ec.cfg.ProvisionBP, n)
			}
		case "period":
			a, b, ok := strings.Cut(v, "..")
			require.True(t, ok, where)
			ec.cfg.Period = Period{Start: d(a), End: d(b)}
		case "forecast_weeks":
			n, err := strconv.Atoi(v)
			require.NoError(t, err, where)
			ec.forecastWeeks = n
		case "warn_days":
			n, err := strconv.Atoi(v)
			require.NoError(t, err, where)
			ec.warnDays = n
		case "statement_from":
			ec.statementFrom = d(v)
		case "contract_rate_bp":
			n, err := strconv.ParseInt(v, 10, 64)
			require.NoError(t, err, where)
			ec.policy.ContractualRateBP = n
		default:
			t.Fatalf("%s: unknown config %q", where, k)
		}
	}
}

// parseEvent turns one event line into the event it describes.
func parseEvent(t *testing.T, where string, f []string, ccyOf map[domain.CustomerID]domain.Currency) (domain.CustomerID, domain.Event) {
	t.Helper()
	kv := map[string]string{}
	var pos []string
	var allocs []string
	for _, a := range f[1:] {
		if k, v, ok := strings.Cut(a, "="); ok {
			kv[k] = v
		} else if strings.Contains(a, ":") {
			allocs = append(allocs, a)
		} else {
			pos = append(pos, a)
		}
	}
	need := func(n int) {
		require.GreaterOrEqual(t, len(pos), n, "%s: %v", where, f)
	}
	date := func(k string) domain.Date {
		v, ok := kv[k]
		require.True(t, ok, "%s: %s= missing", where, k)
		return d(v)
	}
	var cust domain.CustomerID
	if f[0] != "rates" {
		need(1)
		cust = domain.CustomerID(pos[0])
	}
	amt := func(s string) domain.Money {
		ccy := ccyOf[cust]
		require.NotEmpty(t, ccy, "%s: customer %s unknown", where, cust)
		v, err := domain.ParseDecimal(s, ccy.MinorUnits())
		require.NoError(t, err, where)
		return domain.Money{Minor: v, Ccy: ccy}
	}
	allocations := func() []domain.Allocation {
		out := []domain.Allocation{}
		for _, a := range allocs {
			inv, x, _ := strings.Cut(a, ":")
			out = append(out, domain.Allocation{InvoiceID: domain.InvoiceID(inv), Amount: amt(x)})
		}
		return out
	}
	sum := func(as []domain.Allocation) int64 {
		var s int64
		for _, a := range as {
			s += a.Amount.Minor
		}
		return s
	}
	switch f[0] {
	case "customer":
		need(2)
		ccy := domain.Currency(pos[1])
		ccyOf[cust] = ccy
		terms := domain.Net(30)
		if v, ok := kv["terms"]; ok {
			var err error
			terms, err = domain.ParseTerms(v)
			require.NoError(t, err, where)
		}
		on := d("2000-01-01")
		if _, ok := kv["on"]; ok {
			on = date("on")
		}
		limit := domain.Money{Ccy: ccy}
		if v, ok := kv["limit"]; ok {
			limit = amt(v)
		}
		country := kv["country"]
		if country == "" {
			country = "FR"
		}
		return cust, domain.CustomerRegistered{CustomerID: cust, Name: "Customer " + string(cust), Country: country,
			Sector: kv["sector"], Segment: kv["segment"], Currency: ccy, Terms: terms, CreditLimit: limit, RegisteredOn: on}
	case "invoice":
		need(3)
		number := kv["number"]
		if number == "" {
			number = pos[1]
		}
		return cust, domain.InvoiceIssued{InvoiceID: domain.InvoiceID(pos[1]), Number: number, Amount: amt(pos[2]),
			IssueDate: date("issued"), DueDate: date("due")}
	case "credit-note":
		need(3)
		e := domain.CreditNoteIssued{CreditNoteID: domain.CreditNoteID(pos[1]), Amount: amt(pos[2]), IssueDate: date("on"),
			InvoiceID: domain.InvoiceID(kv["invoice"]), AppliedToInvoice: domain.Money{Ccy: ccyOf[cust]}}
		if v, ok := kv["applied"]; ok {
			e.AppliedToInvoice = amt(v)
		}
		return cust, e
	case "payment":
		need(3)
		as := allocations()
		total := amt(pos[2])
		return cust, domain.PaymentReceived{PaymentID: domain.PaymentID(pos[1]), Amount: total, ReceivedOn: date("on"),
			Allocations: as, Unallocated: domain.Money{Minor: total.Minor - sum(as), Ccy: total.Ccy}}
	case "allocate":
		need(2)
		return cust, domain.PaymentAllocated{PaymentID: domain.PaymentID(pos[1]), AllocatedOn: date("on"), Allocations: allocations()}
	case "allocate-credit":
		need(2)
		return cust, domain.PaymentAllocated{CreditNoteID: domain.CreditNoteID(pos[1]), AllocatedOn: date("on"), Allocations: allocations()}
	case "reverse":
		need(3)
		as := allocations()
		total := amt(pos[2])
		return cust, domain.PaymentReversed{PaymentID: domain.PaymentID(pos[1]), Amount: total, ReversedOn: date("on"),
			Reopened: as, UnallocatedRemoved: domain.Money{Minor: total.Minor - sum(as), Ccy: total.Ccy}}
	case "dispute":
		need(2)
		return cust, domain.InvoiceDisputed{InvoiceID: domain.InvoiceID(pos[1]), DisputedOn: date("on")}
	case "resolve":
		need(2)
		return cust, domain.DisputeResolved{InvoiceID: domain.InvoiceID(pos[1]), ResolvedOn: date("on")}
	case "write-off":
		need(3)
		return cust, domain.InvoiceWrittenOff{InvoiceID: domain.InvoiceID(pos[1]), Amount: amt(pos[2]), WrittenOffOn: date("on")}
	case "plan":
		need(2)
		e := domain.PaymentPlanAgreed{PlanID: pos[1], AgreedOn: date("on")}
		for _, id := range strings.Split(kv["invoices"], ",") {
			e.InvoiceIDs = append(e.InvoiceIDs, domain.InvoiceID(id))
		}
		for _, a := range allocs {
			due, x, _ := strings.Cut(a, ":")
			e.Instalments = append(e.Instalments, domain.Instalment{Due: d(due), Amount: amt(x)})
		}
		return cust, e
	case "limit":
		need(2)
		return cust, domain.CreditLimitChanged{Limit: amt(pos[1]), Reason: "review", ChangedOn: date("on")}
	case "cover":
		need(3)
		days, err := strconv.Atoi(kv["days"])
		require.NoError(t, err, where)
		return cust, domain.CreditInsuranceCoverChanged{Insurer: pos[1], Covered: amt(pos[2]), DeclarationDays: days, ChangedOn: date("on")}
	case "rates":
		need(1)
		e := domain.ExchangeRatesPublished{Reporting: domain.Currency(pos[0]), RatesOn: date("on")}
		for k, v := range kv {
			if k == "on" {
				continue
			}
			r, err := domain.ParseDecimal(v, 9)
			require.NoError(t, err, where)
			e.Rates = append(e.Rates, domain.Rate{Currency: domain.Currency(k), E9: r})
		}
		return "", e
	}
	t.Fatalf("%s: unknown line %q", where, f[0])
	return "", nil
}
