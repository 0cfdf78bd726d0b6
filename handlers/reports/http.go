package reports

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/encours/encours/domain"
	"github.com/encours/encours/handlers/auth"
	"github.com/encours/encours/projections/engine"
	"github.com/encours/encours/projections/ledger"
)

// Route is one served route with the permission it needs; handlers/httpapi mounts them.
type Route struct {
	Pattern    string
	Permission auth.Permission
	Handler    http.HandlerFunc
	Summary    string
	Query      []string // "name: description", for the API description
	// PathExamples gives an example for each path wildcard, for the API description.
	PathExamples map[string]string
}

// clock gives today's date.
type clock interface{ Now() time.Time }

// HTTP serves the ledger's reads.
type HTTP struct {
	ledger *Ledger
	store  engine.Reader
	clock  clock
	log    *slog.Logger
}

// NewHTTP returns the read routes over l, the log and a clock; internal errors are logged to
// logger (nil: discarded) and never shown to clients.
func NewHTTP(l *Ledger, store engine.Reader, c clock, logger *slog.Logger) *HTTP {
	if l == nil || store == nil || c == nil {
		panic("reports: NewHTTP needs a ledger, the log and a clock")
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &HTTP{ledger: l, store: store, clock: c, log: logger}
}

// forecastWeeksMax bounds GET /v1/forecast?weeks=.
const forecastWeeksMax = 104

// Routes lists the read routes (design §API v1: reads take as_of and known_at).
func (h *HTTP) Routes() []Route {
	asOf := "as_of: business date YYYY-MM-DD (default today)"
	knownAt := "known_at: RFC 3339 instant; only events recorded by then count (default now)"
	return []Route{
		{"GET /v1/customers", auth.PermRead, h.customers,
			"Customers with their exposure, limit, utilisation and overdue, paginated", []string{asOf, knownAt,
				"sort: id (default) or exposure (largest first)", "segment: only this segment", "customer_id: only this customer (its figures at each as_of: the dashboard's 12-month history)",
				"limit: 1 to 500 (default 50)", "offset: rows to skip (default 0)"}, nil},
		{"GET /v1/portfolio", auth.PermRead, h.portfolio,
			"Portfolio totals, aging, DSO (period, countback), BPDSO, ADD, CEI, concentration, by segment", []string{asOf, knownAt}, nil},
		{"GET /v1/aging", auth.PermRead, h.aging,
			"Aged balance per customer", []string{asOf, knownAt, "format: json or csv"}, nil},
		{"GET /v1/forecast", auth.PermRead, h.forecast,
			"Weekly cash-in forecast from due dates shifted by each customer's DBT", []string{asOf, knownAt, "weeks: 1 to 104 (default 13)"}, nil},
		{"GET /v1/simulations/default", auth.PermRead, h.simulateDefault,
			"If this customer defaulted today: exposure lost, insured part, provision, concentration after", []string{"customer_id: the customer", asOf, knownAt}, nil},
		{"GET /v1/penalties", auth.PermRead, h.penalties,
			"Late-payment penalties (Code de commerce L441-10) per late invoice", []string{"customer_id: one customer (default all)", asOf, knownAt}, nil},
		{"GET /v1/exports/{report}", auth.PermAudit, h.export,
			"Deterministic export (aging, ledger, journal, statement) with its manifest in X-Encours-Manifest", []string{asOf, knownAt, "format: csv or json",
				"customer_id: the customer (statement only, required)", "from: first business date of the statement's period, YYYY-MM-DD (statement only; default: since the first movement)"},
			map[string]string{"report": "aging"}},
	}
}

// params are as_of and known_at, validated.
type params struct {
	asOf    domain.Date
	today   domain.Date
	knownAt *time.Time
}

func (h *HTTP) params(r *http.Request) (params, error) {
	p := params{today: domain.DateOfTime(h.clock.Now())}
	p.asOf = p.today
	q := r.URL.Query()
	if s := q.Get("as_of"); s != "" {
		d, err := domain.ParseDate(s)
		if err != nil {
			return p, &domain.Error{Kind: domain.KindInvalid, Code: "invalid_query", Field: "as_of", Message: "as_of must be YYYY-MM-DD"}
		}
		p.asOf = d
	}
	if s := q.Get("known_at"); s != "" {
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return p, &domain.Error{Kind: domain.KindInvalid, Code: "invalid_query", Field: "known_at", Message: "known_at must be an RFC 3339 instant"}
		}
		t = t.UTC()
		p.knownAt = &t
	}
	return p, nil
}

// serve runs fn on the model the request asks for and writes its answer with the basis.
func (h *HTTP) serve(w http.ResponseWriter, r *http.Request, fn func(m *ledger.Model, p params) (any, error)) {
	h.serveOn(w, r, h.ledger.With, fn)
}

// withModel gives a model as of a date and as known at an instant (Ledger.With).
type withModel func(ctx context.Context, asOf, today domain.Date, knownAt *time.Time, fn func(*ledger.Model, Basis) error) error

// serveOn is serve on the models with gives.
func (h *HTTP) serveOn(w http.ResponseWriter, r *http.Request, with withModel, fn func(m *ledger.Model, p params) (any, error)) {
	p, err := h.params(r)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	var body any
	var basis Basis
	err = with(r.Context(), p.asOf, p.today, p.knownAt, func(m *ledger.Model, b Basis) error {
		basis = b
		var err error
		body, err = fn(m, p)
		return err
	})
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	setBasis(w, basis)
	writeJSON(w, http.StatusOK, struct {
		Basis Basis `json:"basis"`
		Data  any   `json:"data"`
	}{basis, body})
}

func setBasis(w http.ResponseWriter, b Basis) {
	w.Header().Set("X-Encours-Position", strconv.FormatUint(b.Position, 10))
	w.Header().Set("X-Encours-Chain-Hash", b.ChainHash.String())
}

// portfolio: totals, aging, DSO (period, countback), BPDSO, ADD, CEI, concentration, and the
// same figures by segment (design §API v1, GET /v1/portfolio).
func (h *HTTP) portfolio(w http.ResponseWriter, r *http.Request) {
	h.serve(w, r, func(m *ledger.Model, p params) (any, error) {
		type answer struct {
			Figures       *ledger.Figures              `json:"figures"` // null when currencies cannot be totalled
			Concentration *ledger.ConcentrationFigures `json:"concentration"`
			BySegment     []ledger.Figures             `json:"by_segment"`
			ByCurrency    []ledger.Figures             `json:"by_currency"`
			Warnings      []string                     `json:"warnings"`
		}
		var a answer
		a.Warnings = []string{}
		var err error
		if a.ByCurrency, err = ledger.GroupFigures(m, ledger.ByCurrency, p.asOf, ledger.Config{}); err != nil {
			return nil, err
		}
		// A portfolio in several currencies totals in the reporting currency at the rate in
		// force at as_of (design §Events, ExchangeRatesPublished). Without a rate the totals
		// would be wrong, so they are left out and said so; the per-currency figures stand.
		fig, err := ledger.ComputeFigures(m, ledger.Portfolio(), p.asOf, ledger.Config{})
		switch {
		case errors.Is(err, ledger.ErrMissingRate):
			a.Warnings = append(a.Warnings, "no exchange rate in force at "+p.asOf.String()+" for every currency: totals, concentration and segments are left out; see by_currency ("+err.Error()+")")
			return a, nil
		case err != nil:
			return nil, err
		}
		a.Figures = &fig
		conc, err := ledger.Concentration(m, ledger.Portfolio(), p.asOf)
		if err != nil {
			return nil, err
		}
		a.Concentration = &conc
		if a.BySegment, err = ledger.GroupFigures(m, ledger.BySegment, p.asOf, ledger.Config{}); err != nil {
			return nil, err
		}
		return a, nil
	})
}

// aging: the aged balance per customer, JSON or CSV (?format=csv).
func (h *HTTP) aging(w http.ResponseWriter, r *http.Request) {
	format := Format(r.URL.Query().Get("format"))
	switch format {
	case "", FormatJSON:
		h.serve(w, r, func(m *ledger.Model, p params) (any, error) { return AgedBalance(m, p.asOf) })
	case FormatCSV:
		p, err := h.params(r)
		if err != nil {
			h.writeError(w, r, err)
			return
		}
		var out []byte
		var basis Basis
		err = h.ledger.With(r.Context(), p.asOf, p.today, p.knownAt, func(m *ledger.Model, b Basis) error {
			basis = b
			var err error
			out, err = renderAging(m, p.asOf, FormatCSV)
			return err
		})
		if err != nil {
			h.writeError(w, r, err)
			return
		}
		setBasis(w, basis)
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(out)
	default:
		h.writeError(w, r, &domain.Error{Kind: domain.KindInvalid, Code: "invalid_query", Field: "format", Message: "format must be json or csv"})
	}
}

func (h *HTTP) forecast(w http.ResponseWriter, r *http.Request) {
	weeks := 13
	if s := r.URL.Query().Get("weeks"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > forecastWeeksMax {
			h.writeError(w, r, &domain.Error{Kind: domain.KindInvalid, Code: "invalid_query", Field: "weeks", Message: "weeks must be 1 to 104"})
			return
		}
		weeks = n
	}
	h.serve(w, r, func(m *ledger.Model, p params) (any, error) {
		return ledger.CashForecast(m, ledger.Portfolio(), p.asOf, weeks)
	})
}

func (h *HTTP) simulateDefault(w http.ResponseWriter, r *http.Request) {
	id := r.URL.Query().Get("customer_id")
	if id == "" {
		h.writeError(w, r, &domain.Error{Kind: domain.KindInvalid, Code: "missing_field", Field: "customer_id", Message: "customer_id is required"})
		return
	}
	h.serve(w, r, func(m *ledger.Model, p params) (any, error) {
		return ledger.SimulateDefault(m, domain.CustomerID(id), p.asOf, ledger.Config{})
	})
}

// penalties: the L441-10 claims per late invoice (journey 3, step 5), optionally for one
// customer.
func (h *HTTP) penalties(w http.ResponseWriter, r *http.Request) {
	scope := ledger.Portfolio()
	if id := r.URL.Query().Get("customer_id"); id != "" {
		scope = ledger.CustomerScope(domain.CustomerID(id))
	}
	h.serve(w, r, func(m *ledger.Model, p params) (any, error) {
		if scope.By == ledger.ByCustomer {
			if _, err := ledger.CustomerProfile(m, domain.CustomerID(scope.Key)); err != nil {
				return nil, err
			}
		}
		return ledger.Penalties(m, scope, p.asOf, ledger.PenaltyPolicy{})
	})
}

// export: GET /v1/exports/{report}?as_of=&known_at=&format=[&customer_id=&from=] — the same
// bytes as `encours export`, with the manifest in headers (X-Encours-Manifest carries it
// whole, as JSON).
func (h *HTTP) export(w http.ResponseWriter, r *http.Request) {
	p, err := h.params(r)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	format := Format(r.URL.Query().Get("format"))
	if format == "" {
		format = FormatCSV
	}
	if format != FormatCSV && format != FormatJSON {
		h.writeError(w, r, &domain.Error{Kind: domain.KindInvalid, Code: "invalid_query", Field: "format", Message: "format must be csv or json"})
		return
	}
	req := Request{Report: Report(r.PathValue("report")), Format: format, AsOf: p.asOf, KnownAt: p.knownAt,
		CustomerID: domain.CustomerID(r.URL.Query().Get("customer_id"))}
	if s := r.URL.Query().Get("from"); s != "" {
		d, err := domain.ParseDate(s)
		if err != nil {
			h.writeError(w, r, &domain.Error{Kind: domain.KindInvalid, Code: "invalid_query", Field: "from", Message: "from must be YYYY-MM-DD"})
			return
		}
		req.From = d
	}
	out, man, err := ExportRequest(r.Context(), h.store, req)
	if err != nil {
		h.writeError(w, r, err)
		return
	}
	mj, _ := json.Marshal(man)
	w.Header().Set("X-Encours-Manifest", string(mj))
	setBasis(w, Basis{Position: man.Position, ChainHash: man.ChainHash})
	w.Header().Set("X-Encours-Content-SHA256", man.SHA256)
	if format == FormatCSV {
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	} else {
		w.Header().Set("Content-Type", "application/json")
	}
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(out)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// writeError answers in the API's error shape; internal errors show no details to the client
// and are logged with the request's correlation id.
func (h *HTTP) writeError(w http.ResponseWriter, r *http.Request, err error) {
	status, code, msg, field := http.StatusInternalServerError, "internal", "internal error", ""
	var de *domain.Error
	switch {
	case errors.Is(err, ledger.ErrUnknownCustomer):
		status, code, msg = http.StatusNotFound, domain.CodeUnknownCustomer, "no such customer in the ledger"
	case errors.Is(err, ledger.ErrMissingRate):
		status, code, msg = http.StatusUnprocessableEntity, "missing_exchange_rate", err.Error()
	case errors.Is(err, context.Canceled):
		status, code, msg = 499, "canceled", "request canceled"
	case errors.As(err, &de) && de.Kind != domain.KindInternal:
		code, msg, field = de.Code, de.Message, de.Field
		switch de.Kind {
		case domain.KindNotFound:
			status = http.StatusNotFound
		case domain.KindConflict:
			status = http.StatusConflict
		default:
			status = http.StatusBadRequest
		}
	}
	if status == http.StatusInternalServerError {
		h.log.Error("read failed", slog.String("route", r.Pattern), slog.String("correlation_id", w.Header().Get("X-Correlation-Id")),
			slog.String("error", err.Error()))
	}
	writeJSON(w, status, struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
			Field   string `json:"field,omitempty"`
		} `json:"error"`
	}{Error: struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Field   string `json:"field,omitempty"`
	}{code, msg, field}})
}

// Pagination of GET /v1/customers.
const (
	customersLimitDefault = 50
	customersLimitMax     = 500
)

// CustomerRow is one line of GET /v1/customers.
type CustomerRow struct {
	CustomerID    domain.CustomerID `json:"customer_id"`
	Name          string            `json:"name"`
	Segment       string            `json:"segment"`
	Sector        string            `json:"sector"`
	Country       string            `json:"country"`
	Exposure      domain.Money      `json:"exposure"`
	CreditLimit   domain.Money      `json:"credit_limit"`
	UtilisationBP *int64            `json:"utilisation_bp"`
	Overdue       domain.Money      `json:"overdue"`
	OpenItems     int               `json:"open_items"`
	DBTCentidays  *int64            `json:"dbt_centidays"`
}

// customers lists customers, by id or by exposure, with offset pagination (the list is
// computed from one model, so pages are consistent when the basis position is the same).
func (h *HTTP) customers(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit, offset := customersLimitDefault, 0
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > customersLimitMax {
			h.writeError(w, r, &domain.Error{Kind: domain.KindInvalid, Code: "invalid_query", Field: "limit", Message: "limit must be 1 to 500"})
			return
		}
		limit = n
	}
	if v := q.Get("offset"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			h.writeError(w, r, &domain.Error{Kind: domain.KindInvalid, Code: "invalid_query", Field: "offset", Message: "offset must be a whole number"})
			return
		}
		offset = n
	}
	sortBy := q.Get("sort")
	if sortBy != "" && sortBy != "id" && sortBy != "exposure" {
		h.writeError(w, r, &domain.Error{Kind: domain.KindInvalid, Code: "invalid_query", Field: "sort", Message: "sort must be id or exposure"})
		return
	}
	segment, only := q.Get("segment"), domain.CustomerID(q.Get("customer_id"))
	with := withModel(h.ledger.With)
	if only != "" { // one customer's figures need only its own stream replayed
		with = func(ctx context.Context, asOf, today domain.Date, knownAt *time.Time, fn func(*ledger.Model, Basis) error) error {
			return h.ledger.WithCustomer(ctx, only, asOf, today, knownAt, fn)
		}
	}
	h.serveOn(w, r, with, func(m *ledger.Model, p params) (any, error) {
		var groups []ledger.Figures
		switch {
		case only == "":
			var err error
			if groups, err = ledger.GroupFigures(m, ledger.ByCustomer, p.asOf, ledger.Config{}); err != nil {
				return nil, err
			}
		default: // one customer: its figures alone; none before it was registered
			f, err := ledger.ComputeFigures(m, ledger.CustomerScope(only), p.asOf, ledger.Config{})
			if err != nil && !errors.Is(err, ledger.ErrUnknownCustomer) {
				return nil, err
			}
			if err == nil {
				f.Key = string(only)
				groups = []ledger.Figures{f}
			}
		}
		// The segment filter and the order need the figures of every customer; the profile
		// (name, sector, country) is read for the rows of the page only.
		var inSegment map[domain.CustomerID]bool
		if segment != "" {
			ids := ledger.CustomerIDs(m, ledger.Scope{By: ledger.BySegment, Key: segment})
			inSegment = make(map[domain.CustomerID]bool, len(ids))
			for _, id := range ids {
				inSegment[id] = true
			}
		}
		picked := make([]*ledger.Figures, 0, len(groups))
		for i := range groups {
			if inSegment != nil && !inSegment[domain.CustomerID(groups[i].Key)] {
				continue
			}
			picked = append(picked, &groups[i])
		}
		if sortBy == "exposure" {
			// Largest exposure first; amounts in different currencies compare by minor units,
			// which is only a display order, never a figure.
			slices.SortStableFunc(picked, func(a, b *ledger.Figures) int { return cmp.Compare(b.Exposure.Minor, a.Exposure.Minor) })
		}
		total := len(picked)
		rows := make([]CustomerRow, 0, min(limit, total))
		for _, g := range picked[min(offset, total):min(offset+limit, total)] {
			prof, err := ledger.CustomerProfile(m, domain.CustomerID(g.Key))
			if err != nil {
				return nil, err
			}
			rows = append(rows, CustomerRow{CustomerID: prof.CustomerID, Name: prof.Name, Segment: prof.Segment, Sector: prof.Sector,
				Country: prof.Country, Exposure: g.Exposure, CreditLimit: g.CreditLimit, UtilisationBP: g.UtilisationBP,
				Overdue: g.Overdue, OpenItems: g.OpenItems, DBTCentidays: g.Payments.DBTCentidays})
		}
		var next *int
		if offset+limit < total {
			n := offset + limit
			next = &n
		}
		return struct {
			Customers  []CustomerRow `json:"customers"`
			Total      int           `json:"total"`
			NextOffset *int          `json:"next_offset"`
		}{rows, total, next}, nil
	})
}
