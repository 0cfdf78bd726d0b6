package ledger

// Accessors written for projections/signals and the alert evaluator (handlers/alerting):
// they read the model's internals the exported views do not reach cheaply. They follow the
// same rules as the rest of the package: integers only, pure functions of the model.

import (
	"fmt"

	"github.com/encours/encours/domain"
)

// CustomersFigures returns the figures of each customer of ids at asOf, in the order given,
// as GroupFigures(m, ByCustomer, …) would for them, without a pass over the whole portfolio:
// the alert evaluator re-evaluates only the customers an event batch touched. An unknown id
// is ErrUnknownCustomer.
func CustomersFigures(m *Model, ids []domain.CustomerID, asOf domain.Date, cfg Config) ([]Figures, error) {
	cfg, err := cfg.resolve(asOf)
	if err != nil {
		return nil, err
	}
	out := make([]Figures, 0, len(ids))
	var lines []scheduleLine
	for _, id := range ids {
		ci, ok := m.customerIndex[id]
		if !ok {
			return nil, fmt.Errorf("ledger: customer %q: %w", id, ErrUnknownCustomer)
		}
		c := m.customers.at(ci)
		var cs sums
		cs, lines = m.customerSums(c, asOf, cfg, lines)
		f, err := m.combine(map[domain.Currency]*sums{c.currency: &cs}, asOf, cfg)
		if err != nil {
			return nil, fmt.Errorf("ledger: customer %q: %w", id, err)
		}
		f.Dimension, f.Key = ByCustomer.String(), string(id)
		out = append(out, f)
	}
	return out, nil
}

// DSOPoint is the portfolio's DSO, period method, at one date, computed from the dated
// history of the model (design §Metrics: "AR at period end / credit sales in the period ×
// days in the period", default period DefaultPeriod(End)).
type DSOPoint struct {
	End         domain.Date     `json:"end"`
	Currency    domain.Currency `json:"currency"`
	ARClosing   domain.Money    `json:"ar_closing"`
	CreditSales domain.Money    `json:"credit_sales"`
	// Centidays is nil when credit sales in the period are not positive.
	Centidays *int64 `json:"dso_period_centidays"`
}

// PortfolioDSOHistory returns the portfolio DSO at each date of ends, from what the model
// holds now: AR at a date is each invoice's open amount at the end of that day (its dated
// settlement history, as CEI's opening AR), so a past month end is seen as the log now tells
// it, late postings included. Several currencies are converted at each date's rate; a missing
// rate is ErrMissingRate. The portfolio DSO drift signal compares today's point with the
// mean of the trailing month ends.
func PortfolioDSOHistory(m *Model, ends []domain.Date) ([]DSOPoint, error) {
	type acc struct{ ar, sales int64 }
	per := make([]map[domain.Currency]*acc, len(ends))
	periods := make([]Period, len(ends))
	for k, d := range ends {
		per[k] = make(map[domain.Currency]*acc)
		periods[k] = DefaultPeriod(d)
	}
	for ci := range int32(m.customers.len()) {
		c := m.customers.at(ci)
		for k, d := range ends {
			a := per[k][c.currency]
			if a == nil {
				a = &acc{}
				per[k][c.currency] = a
			}
			for _, ii := range c.invoices {
				v := m.invoices.at(ii)
				a.ar += v.openAt(d)
				if inPeriod(v.issue, periods[k]) {
					a.sales += v.amount
				}
			}
			for _, ni := range c.creditNotes {
				if inPeriod(m.creditNotes.at(ni).issue, periods[k]) {
					a.sales -= m.creditNotes.at(ni).amount
				}
			}
		}
	}
	out := make([]DSOPoint, 0, len(ends))
	for k, d := range ends {
		ccys := sortedCurrencies(per[k])
		var ar, sales int64
		ccy := m.reporting
		switch len(ccys) {
		case 0:
		case 1:
			ccy = ccys[0]
			ar, sales = per[k][ccy].ar, per[k][ccy].sales
		default:
			for _, c := range ccys {
				cn, err := m.conversionAt(c, d)
				if err != nil {
					return nil, fmt.Errorf("ledger: portfolio DSO at %s: %w", d, err)
				}
				ar += cn.apply(per[k][c].ar)
				sales += cn.apply(per[k][c].sales)
			}
		}
		p := DSOPoint{End: d, Currency: ccy, ARClosing: money(ar, ccy), CreditSales: money(sales, ccy)}
		if sales > 0 {
			p.Centidays = optRatio(ar, int64(periods[k].Days())*100, sales)
		}
		out = append(out, p)
	}
	return out, nil
}
