package reports

import (
	"errors"
	"log/slog"
	"net/http"
	"slices"

	"github.com/encours/encours/domain"
	"github.com/encours/encours/handlers/auth"
	"github.com/encours/encours/projections/ledger"
)

// PartialHTTP serves the reads of a projection worker (encoursd --role projector): the
// customers of the partitions it owns, from its ledger.Partial, as of a date. Portfolio
// figures are not served here: no single worker holds the whole portfolio.
type PartialHTTP struct {
	view  func(fn func(p *ledger.Partial))
	clock clock
	log   *slog.Logger
	err   *HTTP // for params and writeError only
}

// NewPartialHTTP returns the routes over view (projections/worker's Worker.View).
func NewPartialHTTP(view func(fn func(p *ledger.Partial)), c clock, logger *slog.Logger) *PartialHTTP {
	if view == nil || c == nil {
		panic("reports: NewPartialHTTP needs a view and a clock")
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &PartialHTTP{view: view, clock: c, log: logger, err: &HTTP{clock: c, log: logger}}
}

// HeldCustomer is one line of GET /v1/projection/customers.
type HeldCustomer struct {
	CustomerID    domain.CustomerID `json:"customer_id"`
	StreamVersion uint64            `json:"stream_version"` // the last version of customer-<id> applied here
	Exposure      domain.Money      `json:"exposure"`
	Overdue       domain.Money      `json:"overdue"`
	OpenItems     int               `json:"open_items"`
}

// HeldCustomerDetail is GET /v1/projection/customers/{id}.
type HeldCustomerDetail struct {
	HeldCustomer
	Figures      ledger.Figures       `json:"figures"`
	OpenInvoices []ledger.InvoiceView `json:"open_invoices"`
}

// Routes lists the worker's read routes.
func (h *PartialHTTP) Routes() []Route {
	asOf := "as_of: business date YYYY-MM-DD (default today)"
	return []Route{
		{"GET /v1/projection/customers", auth.PermRead, h.customers,
			"The customers this projection worker holds, with the stream version applied and their exposure", []string{asOf}, nil},
		{"GET /v1/projection/customers/{id}", auth.PermRead, h.customer,
			"One customer held by this projection worker: figures and open invoices", []string{asOf}, map[string]string{"id": "ACME"}},
	}
}

func held(p *ledger.Partial, id domain.CustomerID, asOf domain.Date) (HeldCustomer, ledger.Figures, error) {
	f, err := ledger.ComputeFigures(p.Model(), ledger.CustomerScope(id), asOf, ledger.Config{})
	if err != nil {
		return HeldCustomer{}, f, err
	}
	return HeldCustomer{CustomerID: id, StreamVersion: p.StreamVersion(domain.CustomerStream(id)), Exposure: f.Exposure,
		Overdue: f.Overdue, OpenItems: f.OpenItems}, f, nil
}

func (h *PartialHTTP) customers(w http.ResponseWriter, r *http.Request) {
	p, err := h.err.params(r)
	if err != nil {
		h.err.writeError(w, r, err)
		return
	}
	rows := []HeldCustomer{}
	h.view(func(part *ledger.Partial) {
		ids := ledger.CustomerIDs(part.Model(), ledger.Portfolio())
		slices.Sort(ids)
		for _, id := range ids {
			row, _, ferr := held(part, id, p.asOf)
			if ferr != nil {
				err = ferr
				return
			}
			rows = append(rows, row)
		}
	})
	if err != nil {
		h.err.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, struct {
		AsOf      domain.Date    `json:"as_of"`
		Customers []HeldCustomer `json:"customers"`
	}{p.asOf, rows})
}

func (h *PartialHTTP) customer(w http.ResponseWriter, r *http.Request) {
	p, err := h.err.params(r)
	if err != nil {
		h.err.writeError(w, r, err)
		return
	}
	id := domain.CustomerID(r.PathValue("id"))
	var d HeldCustomerDetail
	h.view(func(part *ledger.Partial) {
		if part.StreamVersion(domain.CustomerStream(id)) == 0 {
			err = &domain.Error{Kind: domain.KindNotFound, Code: "customer_not_held",
				Message: "this projection worker holds no event of customer " + string(id) + " (another worker owns its partition, or it has none)"}
			return
		}
		d.HeldCustomer, d.Figures, err = held(part, id, p.asOf)
		if err != nil {
			return
		}
		d.OpenInvoices, err = ledger.CustomerInvoices(part.Model(), id, p.asOf, true)
	})
	if errors.Is(err, ledger.ErrUnknownCustomer) {
		err = &domain.Error{Kind: domain.KindNotFound, Code: "customer_not_held", Message: "customer " + string(id) + " is not registered in the events held here"}
	}
	if err != nil {
		h.err.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, d)
}
