package ledger

import (
	"fmt"
	"math/big"
	"slices"
	"strings"

	"github.com/encours/encours/domain"
)

// forecastWeeksMax bounds the cash-in forecast (two years of weeks).
const forecastWeeksMax = 104

// customerDBT returns a customer's days beyond terms, amount-weighted over its cash paid by
// asOf (design §Metrics, DBT), in hundredths of a day; ok false when it never paid.
func (m *Model) customerDBT(c *customer, asOf domain.Date) (int64, bool) {
	var settled int64
	var dbt wide
	for _, ii := range c.invoices {
		v := m.invoices.at(ii)
		for _, en := range v.entries {
			if en.kind != entryCash || m.payments.at(en.src).reversed() || en.paidOn.After(asOf) {
				continue
			}
			settled += en.amount
			dbt.addMul(en.amount, int64(v.due.DaysUntil(en.paidOn)))
		}
	}
	if settled == 0 {
		return 0, false
	}
	return divRound(dbt.big(), 100, settled)
}

// ForecastWeek is the cash expected in one week [Start, End].
type ForecastWeek struct {
	Start  domain.Date  `json:"start"`
	End    domain.Date  `json:"end"`
	Amount domain.Money `json:"amount"`
	Items  int          `json:"items"`
}

// Forecast is the weekly cash-in forecast of a scope.
type Forecast struct {
	AsOf     domain.Date     `json:"as_of"`
	Currency domain.Currency `json:"currency"`
	Weeks    []ForecastWeek  `json:"weeks"`
	// Later is expected after the last week; Disputed is left out (a disputed invoice is
	// not expected to be paid as scheduled).
	Later       domain.Money `json:"later"`
	Disputed    domain.Money `json:"disputed"`
	PerCurrency []Forecast   `json:"per_currency,omitempty"`
}

// CashForecast returns the cash expected per week from asOf (weeks of 7 days, the first
// starting at asOf): each open amount (an invoice, or a plan's instalment) is expected on its
// due date shifted by its customer's own amount-weighted DBT, rounded half-up to whole days
// (Projections issue item 3; a customer who never paid is expected on the due date). What is
// expected before asOf — already late beyond the customer's habit — falls in the first week.
func CashForecast(m *Model, s Scope, asOf domain.Date, weeks int) (Forecast, error) {
	if weeks < 1 || weeks > forecastWeeksMax {
		return Forecast{}, fmt.Errorf("ledger: forecast of %d weeks: want 1..%d", weeks, forecastWeeksMax)
	}
	type acc struct {
		weeks         []int64
		items         []int
		later, disput int64
	}
	per := make(map[domain.Currency]*acc)
	var lines []scheduleLine
	for ci := range int32(m.customers.len()) {
		c := m.customers.at(ci)
		if !s.has(c) {
			continue
		}
		a := per[c.currency]
		if a == nil {
			a = &acc{weeks: make([]int64, weeks), items: make([]int, weeks)}
			per[c.currency] = a
		}
		shift := int64(0)
		if dbt, ok := m.customerDBT(c, asOf); ok {
			shift, _ = ratio(dbt, 1, 100)
		}
		lines = m.schedule(c, lines)
		for _, l := range lines {
			if m.invoices.at(l.inv).disputed() && l.plan == 0 {
				a.disput += l.amount
				continue
			}
			w := asOf.DaysUntil(l.due.AddDays(int(shift))) / 7
			switch {
			case w < 0:
				w = 0
			case w >= weeks:
				a.later += l.amount
				continue
			}
			a.weeks[w] += l.amount
			a.items[w]++
		}
	}
	mk := func(a *acc, ccy domain.Currency) Forecast {
		f := Forecast{AsOf: asOf, Currency: ccy, Later: money(a.later, ccy), Disputed: money(a.disput, ccy)}
		for i := range weeks {
			start := asOf.AddDays(7 * i)
			f.Weeks = append(f.Weeks, ForecastWeek{Start: start, End: start.AddDays(6), Amount: money(a.weeks[i], ccy), Items: a.items[i]})
		}
		return f
	}
	ccys := sortedCurrencies(per)
	switch len(ccys) {
	case 0:
		return mk(&acc{weeks: make([]int64, weeks), items: make([]int, weeks)}, m.reporting), nil
	case 1:
		return mk(per[ccys[0]], ccys[0]), nil
	}
	total := &acc{weeks: make([]int64, weeks), items: make([]int, weeks)}
	var parts []Forecast
	for _, ccy := range ccys {
		cn, err := m.conversionAt(ccy, asOf)
		if err != nil {
			return Forecast{}, fmt.Errorf("forecast: %w", err)
		}
		a := per[ccy]
		for i := range weeks {
			total.weeks[i] += cn.apply(a.weeks[i])
			total.items[i] += a.items[i]
		}
		total.later += cn.apply(a.later)
		total.disput += cn.apply(a.disput)
		parts = append(parts, mk(a, ccy))
	}
	f := mk(total, m.reporting)
	f.PerCurrency = parts
	return f, nil
}

func sortedCurrencies[V any](m map[domain.Currency]V) []domain.Currency {
	out := make([]domain.Currency, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// CustomerShare is one customer's share of the scope's exposure.
type CustomerShare struct {
	CustomerID domain.CustomerID `json:"customer_id"`
	Exposure   domain.Money      `json:"exposure"`
	ShareBP    int64             `json:"share_bp"`
}

// ConcentrationFigures is design §Metrics, concentration: the share of the top 1/5/10
// customers in total exposure, and the Herfindahl–Hirschman index of exposure shares. Only
// positive exposures count (a customer in credit is no risk). Shares are in basis points;
// HHIBP is Σ share² in basis points of 1, i.e. the usual 0–10 000 scale.
type ConcentrationFigures struct {
	AsOf          domain.Date     `json:"as_of"`
	Currency      domain.Currency `json:"currency"`
	TotalExposure domain.Money    `json:"total_exposure"`
	Customers     int             `json:"customers"` // with a positive exposure
	Top1ShareBP   int64           `json:"top1_share_bp"`
	Top5ShareBP   int64           `json:"top5_share_bp"`
	Top10ShareBP  int64           `json:"top10_share_bp"`
	HHIBP         int64           `json:"hhi_bp"`
	Top           []CustomerShare `json:"top"`
}

type exposureOf struct {
	id  domain.CustomerID
	exp int64
}

// exposures returns the positive exposures of scope s in one currency (converted at asOf
// when the scope mixes currencies), excluding skip.
func (m *Model) exposures(s Scope, asOf domain.Date, skip domain.CustomerID) ([]exposureOf, domain.Currency, error) {
	var ccy domain.Currency
	mixed := false
	for ci := range int32(m.customers.len()) {
		c := m.customers.at(ci)
		if !s.has(c) {
			continue
		}
		if ccy == "" {
			ccy = c.currency
		} else if c.currency != ccy {
			mixed = true
		}
	}
	if mixed {
		ccy = m.reporting
	}
	var out []exposureOf
	for ci := range int32(m.customers.len()) {
		c := m.customers.at(ci)
		if !s.has(c) || c.id == skip {
			continue
		}
		e := c.exposure()
		if e <= 0 {
			continue
		}
		if mixed {
			cn, err := m.conversionAt(c.currency, asOf)
			if err != nil {
				return nil, "", fmt.Errorf("concentration: %w", err)
			}
			e = cn.apply(e)
		}
		out = append(out, exposureOf{c.id, e})
	}
	slices.SortFunc(out, func(a, b exposureOf) int {
		if a.exp != b.exp {
			if a.exp > b.exp {
				return -1
			}
			return 1
		}
		return strings.Compare(string(a.id), string(b.id))
	})
	return out, ccy, nil
}

// Concentration returns the concentration of scope s at asOf (design §Metrics).
func Concentration(m *Model, s Scope, asOf domain.Date) (ConcentrationFigures, error) {
	exps, ccy, err := m.exposures(s, asOf, "")
	if err != nil {
		return ConcentrationFigures{}, err
	}
	return concentrationOf(exps, ccy, asOf), nil
}

func concentrationOf(exps []exposureOf, ccy domain.Currency, asOf domain.Date) ConcentrationFigures {
	f := ConcentrationFigures{AsOf: asOf, Currency: ccy, Customers: len(exps), Top: []CustomerShare{}}
	var total int64
	for _, e := range exps {
		total += e.exp
	}
	f.TotalExposure = money(total, ccy)
	if total == 0 {
		return f
	}
	top := func(k int) int64 {
		var t int64
		for _, e := range exps[:min(k, len(exps))] {
			t += e.exp
		}
		v, _ := ratio(t, 10_000, total)
		return v
	}
	f.Top1ShareBP, f.Top5ShareBP, f.Top10ShareBP = top(1), top(5), top(10)
	// HHI = Σ (e_i / T)² = Σ e_i² / T², here × 10 000 and rounded once, half-up.
	num := new(big.Int)
	for _, e := range exps {
		b := big.NewInt(e.exp)
		num.Add(num, b.Mul(b, b))
	}
	t := big.NewInt(total)
	hhi, ok := divRoundBig(num.Mul(num, big.NewInt(10_000)), t.Mul(t, t))
	invariant(ok, "hhi")
	f.HHIBP = hhi
	for _, e := range exps[:min(10, len(exps))] {
		share, _ := ratio(e.exp, 10_000, total)
		f.Top = append(f.Top, CustomerShare{CustomerID: e.id, Exposure: money(e.exp, ccy), ShareBP: share})
	}
	return f
}

// divRoundBig returns num / den for non-negative operands, half-up.
func divRoundBig(num, den *big.Int) (int64, bool) {
	if den.Sign() == 0 {
		return 0, false
	}
	q, r := new(big.Int).QuoRem(num, den, new(big.Int))
	if r.Lsh(r, 1).Cmp(den) >= 0 {
		q.Add(q, big.NewInt(1))
	}
	return q.Int64(), q.IsInt64()
}

// DefaultSimulation is "if customer X defaults today" (Projections issue item 3): what the
// portfolio loses, what the insurer covers, the provision it calls for, and the
// concentration of what is left.
type DefaultSimulation struct {
	CustomerID domain.CustomerID `json:"customer_id"`
	AsOf       domain.Date       `json:"as_of"`
	Currency   domain.Currency   `json:"currency"` // the customer's currency, for the amounts below
	// ExposureLost is the customer's exposure, when positive.
	ExposureLost domain.Money `json:"exposure_lost"`
	// InsuredPart is the part of it the credit insurance covers; UninsuredLoss the rest.
	InsuredPart   domain.Money `json:"insured_part"`
	UninsuredLoss domain.Money `json:"uninsured_loss"`
	// ProvisionBefore is the customer's provision suggestion today; ProvisionAfter is 100 %
	// of the uninsured loss; ProvisionIncrease the difference.
	ProvisionBefore     domain.Money         `json:"provision_before"`
	ProvisionAfter      domain.Money         `json:"provision_after"`
	ProvisionIncrease   domain.Money         `json:"provision_increase"`
	ConcentrationBefore ConcentrationFigures `json:"concentration_before"`
	ConcentrationAfter  ConcentrationFigures `json:"concentration_after"`
}

// SimulateDefault simulates the default of customer id at asOf over the whole portfolio.
func SimulateDefault(m *Model, id domain.CustomerID, asOf domain.Date, cfg Config) (DefaultSimulation, error) {
	ci, ok := m.customerIndex[id]
	if !ok {
		return DefaultSimulation{}, fmt.Errorf("ledger: customer %q: %w", id, ErrUnknownCustomer)
	}
	c := m.customers.at(ci)
	f, err := ComputeFigures(m, CustomerScope(id), asOf, cfg)
	if err != nil {
		return DefaultSimulation{}, err
	}
	lost := max(c.exposure(), 0)
	insured := min(lost, max(c.covered, 0))
	sim := DefaultSimulation{
		CustomerID: id, AsOf: asOf, Currency: c.currency,
		ExposureLost: money(lost, c.currency), InsuredPart: money(insured, c.currency),
		UninsuredLoss: money(lost-insured, c.currency), ProvisionBefore: f.Provision.Total,
		ProvisionAfter:    money(lost-insured, c.currency),
		ProvisionIncrease: money(lost-insured-f.Provision.Total.Minor, c.currency),
	}
	if sim.ConcentrationBefore, err = Concentration(m, Portfolio(), asOf); err != nil {
		return DefaultSimulation{}, err
	}
	exps, ccy, err := m.exposures(Portfolio(), asOf, id)
	if err != nil {
		return DefaultSimulation{}, err
	}
	sim.ConcentrationAfter = concentrationOf(exps, ccy, asOf)
	return sim, nil
}
