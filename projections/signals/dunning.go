package signals

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/encours/encours/domain"
	"github.com/encours/encours/projections/ledger"
)

// Proposal is the next reminder the dunning plan proposes for one overdue invoice.
type Proposal struct {
	CustomerID  domain.CustomerID `json:"customer_id"`
	InvoiceID   domain.InvoiceID  `json:"invoice_id"`
	Number      string            `json:"number"`
	DueDate     domain.Date       `json:"due_date"`
	DaysPastDue int               `json:"days_past_due"`
	Open        domain.Money      `json:"open"`
	LastLevel   int               `json:"last_level"` // level of the last reminder sent, 0: none
	Level       int               `json:"level"`
	Channel     string            `json:"channel"`
	Date        domain.Date       `json:"date"`    // due date + the step's days
	DueNow      bool              `json:"due_now"` // Date is on or before the as-of date
}

// Worklist proposes the next reminder of every overdue invoice at asOf (the Early-warning
// signals issue, dunning worklist): for each invoice open and past due, not disputed, not
// under a payment plan and not written off, the first step of plan whose level is above the
// last reminder sent (ReminderSent), dated its due date + the step's days. Invoices whose
// every level was sent get no proposal. The list is sorted by date, customer and invoice.
func Worklist(m *ledger.Model, asOf domain.Date, plan DunningPlan) ([]Proposal, error) {
	if err := plan.Validate(); err != nil {
		return nil, err
	}
	out := []Proposal{}
	for _, id := range ledger.CustomerIDs(m, ledger.Portfolio()) {
		invs, err := ledger.CustomerInvoices(m, id, asOf, true)
		if err != nil {
			return nil, fmt.Errorf("signals: worklist: %w", err)
		}
		for i := range invs {
			v := &invs[i]
			open := openAt(v, asOf)
			if open <= 0 || v.DaysPastDue < 1 || v.Disputed || v.PlanID != "" || v.WrittenOff {
				continue
			}
			k := slices.IndexFunc(plan.Steps, func(s DunningStep) bool { return s.Level > v.ReminderLevel })
			if k < 0 {
				continue
			}
			s := plan.Steps[k]
			d := v.DueDate.AddDays(s.AfterDueDays)
			out = append(out, Proposal{CustomerID: id, InvoiceID: v.InvoiceID, Number: v.Number, DueDate: v.DueDate,
				DaysPastDue: v.DaysPastDue, Open: domain.Money{Minor: open, Ccy: v.Amount.Ccy}, LastLevel: v.ReminderLevel,
				Level: s.Level, Channel: s.Channel, Date: d, DueNow: !d.After(asOf)})
		}
	}
	slices.SortStableFunc(out, func(a, b Proposal) int {
		return cmp.Or(-a.Date.DaysUntil(b.Date), strings.Compare(string(a.CustomerID), string(b.CustomerID)),
			strings.Compare(string(a.InvoiceID), string(b.InvoiceID)))
	})
	return out, nil
}
