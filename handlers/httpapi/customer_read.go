package httpapi

import (
	"net/http"
	"time"

	"github.com/encours/encours/domain"
)

// customerView is the answer of GET /v1/customers/{id}. Amounts are bare integers in minor
// units of "currency". Its position (limit, exposure, open items) is the command side's
// folded state as of today, or the read models' at an earlier as_of date
// (CustomerDetails.AsOf); the read models add aging, DSO, signals and alerts.
type customerView struct {
	ID           domain.CustomerID `json:"id"`
	Name         string            `json:"name"`
	Country      string            `json:"country"`
	Sector       string            `json:"sector,omitempty"`
	Segment      string            `json:"segment,omitempty"`
	Currency     domain.Currency   `json:"currency"`
	Terms        domain.Terms      `json:"terms"`
	TermsDays    int               `json:"terms_days"`
	RegisteredOn domain.Date       `json:"registered_on"`
	CreditLimit  int64             `json:"credit_limit"`
	// Exposure (encours): open invoice amounts − unallocated cash − open credit notes
	// (design §Metrics).
	Exposure int64 `json:"exposure"`
	// UtilisationBP is exposure / credit limit in basis points (10 000 = 100 %), rounded half
	// up; null when the limit is zero (extend no more credit: any exposure is a breach).
	UtilisationBP    *int64         `json:"utilisation_bp"`
	OpenInvoiceTotal int64          `json:"open_invoice_total"`
	UnallocatedCash  int64          `json:"unallocated_cash"`
	OpenCredit       int64          `json:"open_credit"`
	OverdueTotal     int64          `json:"overdue_total"`
	DisputedTotal    int64          `json:"disputed_total"`
	OpenItems        []openItemView `json:"open_items"`
	Insurer          string         `json:"insurer,omitempty"`
	InsuredCover     int64          `json:"insured_cover"`
	DeclarationDays  int            `json:"declaration_days,omitempty"`
	Rating           *ratingView    `json:"rating,omitempty"`
	AsOf             domain.Date    `json:"as_of"`
	KnownAt          *time.Time     `json:"known_at,omitempty"`
	StreamVersion    uint64         `json:"stream_version"`
	// The read models' view of the customer, when the daemon provides them
	// (Options.CustomerDetails): aging, DSO, days to pay and beyond terms, risk score and
	// its factors, open alerts (design §API v1, GET /v1/customers/{id}).
	*CustomerDetails
}

// CustomerDetails are what read models add to GET /v1/customers/{id}. Each is any JSON
// value; nil ones are left out.
type CustomerDetails struct {
	Aging      any `json:"aging,omitempty"`
	DSO        any `json:"dso,omitempty"`
	Payments   any `json:"payments,omitempty"`
	RiskScore  any `json:"risk_score,omitempty"`
	Signals    any `json:"signals,omitempty"`
	OpenAlerts any `json:"open_alerts,omitempty"`
	// Basis names the log position the read models were at.
	Basis any `json:"basis,omitempty"`
	// AsOf, when set, holds the customer's position at a business date before today, from
	// the read models: it replaces the command side's current one, which knows only today
	// (the design's as-of rule: what was true on D, effective_on <= D).
	AsOf *CustomerAsOf `json:"-"`
}

// CustomerAsOf is a customer's position at a past business date. Amounts are minor units of
// the customer's currency; OpenItems are the invoices open at that date.
type CustomerAsOf struct {
	CreditLimit      int64
	Exposure         int64
	OpenInvoiceTotal int64
	UnallocatedCash  int64
	OpenCredit       int64
	InsuredCover     int64
	OpenItems        []OpenItemAsOf
}

// OpenItemAsOf is one invoice open at a past business date.
type OpenItemAsOf struct {
	InvoiceID  domain.InvoiceID
	Number     string
	Amount     int64
	OpenAmount int64
	IssueDate  domain.Date
	DueDate    domain.Date
	Disputed   bool
	PlanID     string
}

type openItemView struct {
	InvoiceID   domain.InvoiceID `json:"invoice_id"`
	Number      string           `json:"number"`
	Amount      int64            `json:"amount"`
	OpenAmount  int64            `json:"open_amount"`
	IssueDate   domain.Date      `json:"issue_date"`
	DueDate     domain.Date      `json:"due_date"`
	DaysOverdue int              `json:"days_overdue"` // 0 when not yet due at as_of
	Disputed    bool             `json:"disputed"`
	PlanID      string           `json:"plan_id,omitempty"`
}

type ratingView struct {
	Agency  string      `json:"agency"`
	Score   int         `json:"score"`
	Grade   string      `json:"grade,omitempty"`
	RatedOn domain.Date `json:"rated_on"`
}

// handleCustomer serves GET /v1/customers/{id}?as_of=YYYY-MM-DD&known_at=RFC3339. as_of
// (default today) is the date days overdue are counted to; known_at folds only the events
// recorded at or before that instant.
func (a *api) handleCustomer(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	q := r.URL.Query()
	asOf := a.today()
	if s := q.Get("as_of"); s != "" {
		if asOf, err = domain.ParseDate(s); err != nil {
			a.writeError(w, r, invalid(codeInvalidQuery, "as_of", "as_of %q: want YYYY-MM-DD", clip(s)))
			return
		}
	}
	var view customerView
	var found bool
	if s := q.Get("known_at"); s != "" {
		knownAt, perr := time.Parse(time.RFC3339Nano, s)
		if perr != nil {
			a.writeError(w, r, invalid(codeInvalidQuery, "known_at", "known_at %q: want an RFC 3339 instant", clip(s)))
			return
		}
		c, ok, ferr := a.svc.CustomerAt(r.Context(), domain.CustomerID(id), knownAt)
		if ferr != nil {
			a.writeError(w, r, ferr)
			return
		}
		if found = ok; ok {
			view = customerViewOf(c, asOf)
			k := knownAt.UTC()
			view.KnownAt = &k
		}
	} else {
		err = a.svc.ViewCustomer(r.Context(), domain.CustomerID(id), func(c *domain.Customer) error {
			if found = c.Registered(); found {
				view = customerViewOf(c, asOf)
			}
			return nil
		})
		if err != nil {
			a.writeError(w, r, err)
			return
		}
	}
	if !found {
		a.writeError(w, r, domain.FieldErrorf(domain.KindNotFound, domain.CodeUnknownCustomer, "id", "customer %s is not registered", id))
		return
	}
	if a.customerDetails != nil {
		d, err := a.customerDetails(r, domain.CustomerID(id), asOf, view.KnownAt)
		if err != nil {
			a.writeError(w, r, err)
			return
		}
		view.CustomerDetails = d
		if d != nil && d.AsOf != nil && asOf.Before(a.today()) {
			view.setAsOf(*d.AsOf)
		}
	}
	writeJSON(w, http.StatusOK, view)
}

// setAsOf replaces the position (limit, exposure, open items and their totals) with the
// one at the view's as_of date; the profile fields stay as known now.
func (v *customerView) setAsOf(p CustomerAsOf) {
	v.CreditLimit, v.Exposure, v.OpenInvoiceTotal = p.CreditLimit, p.Exposure, p.OpenInvoiceTotal
	v.UnallocatedCash, v.OpenCredit, v.InsuredCover = p.UnallocatedCash, p.OpenCredit, p.InsuredCover
	v.UtilisationBP = utilisationBP(v.Exposure, v.CreditLimit)
	v.OverdueTotal, v.DisputedTotal, v.OpenItems = 0, 0, make([]openItemView, 0, len(p.OpenItems))
	for _, it := range p.OpenItems {
		v.addOpenItem(openItemView{InvoiceID: it.InvoiceID, Number: it.Number, Amount: it.Amount, OpenAmount: it.OpenAmount,
			IssueDate: it.IssueDate, DueDate: it.DueDate, Disputed: it.Disputed, PlanID: it.PlanID})
	}
}

// utilisationBP is exposure / credit limit (design §Metrics) in basis points, rounded half
// up; nil when the limit is not positive.
func utilisationBP(exposure, limit int64) *int64 {
	if limit <= 0 {
		return nil
	}
	bp, err := domain.MulDiv(exposure, 10_000, limit, domain.RoundHalfUp)
	if err != nil {
		return nil
	}
	return &bp
}

// addOpenItem appends o, counting its days overdue at the view's as_of date and adding it to
// the overdue and disputed totals.
func (v *customerView) addOpenItem(o openItemView) {
	if d := o.DueDate.DaysUntil(v.AsOf); d > 0 {
		o.DaysOverdue = d
		v.OverdueTotal += o.OpenAmount // open amounts sum to at most OpenInvoiceTotal: no overflow
	}
	if o.Disputed {
		v.DisputedTotal += o.OpenAmount
	}
	v.OpenItems = append(v.OpenItems, o)
}

func customerViewOf(c *domain.Customer, asOf domain.Date) customerView {
	p := c.Profile()
	v := customerView{
		ID: p.ID, Name: p.Name, Country: p.Country, Sector: p.Sector, Segment: p.Segment,
		Currency: p.Currency, Terms: p.Terms, TermsDays: p.Terms.Days, RegisteredOn: p.RegisteredOn,
		CreditLimit:      p.CreditLimit.Minor,
		Exposure:         c.Exposure().Minor,
		OpenInvoiceTotal: c.OpenInvoiceTotal().Minor,
		UnallocatedCash:  c.UnallocatedCash().Minor,
		OpenCredit:       c.OpenCredit().Minor,
		Insurer:          p.Insurer, InsuredCover: p.InsuredCover.Minor, DeclarationDays: p.DeclarationDays,
		AsOf: asOf, StreamVersion: c.Version(),
		OpenItems: []openItemView{},
	}
	v.UtilisationBP = utilisationBP(v.Exposure, v.CreditLimit)
	if p.Rating != nil {
		v.Rating = &ratingView{Agency: p.Rating.Agency, Score: p.Rating.Score, Grade: p.Rating.Grade, RatedOn: p.Rating.RatedOn}
	}
	for _, it := range c.OpenItems() {
		v.addOpenItem(openItemView{
			InvoiceID: it.InvoiceID, Number: it.Number, Amount: it.Amount.Minor, OpenAmount: it.Open.Minor,
			IssueDate: it.IssueDate, DueDate: it.DueDate, Disputed: it.Disputed, PlanID: it.PlanID,
		})
	}
	return v
}
