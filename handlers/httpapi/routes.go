package httpapi

import (
	"net/http"

	"github.com/encours/encours/handlers/auth"
)

// route is one served route: its ServeMux pattern ("METHOD /path/{wildcard}"), the
// permission it requires (handlers/auth holds which roles have it) and its handler. routes
// is the one list of them: New registers exactly these, and the API description and its
// tests are checked against it.
type route struct {
	pattern string
	perm    auth.Permission
	handler http.Handler
}

// routes lists every route the API serves. A route the dashboard will serve as static
// assets is auth.PermPublic; the data it reads is auth.PermRead.
func (a *api) routes() []route {
	write := func(pattern string, perm auth.Permission, build builder) route {
		return route{pattern, perm, a.handleWrite(build)}
	}
	fn := func(pattern string, perm auth.Permission, h http.HandlerFunc) route { return route{pattern, perm, h} }
	const (
		public   = auth.PermPublic
		read     = auth.PermRead
		record   = auth.PermRecord
		register = auth.PermRegister
		credit   = auth.PermCredit
		audit    = auth.PermAudit
		admin    = auth.PermAdmin
	)
	return []route{
		write("POST /v1/customers", register, a.buildRegisterCustomer),
		write("POST /v1/customers/{id}/credit-limit", credit, a.buildChangeCreditLimit),
		write("POST /v1/invoices", record, a.buildIssueInvoice),
		write("POST /v1/payments", record, a.buildRecordPayment),
		write("POST /v1/credit-notes", record, a.buildIssueCreditNote),
		write("POST /v1/payments/{id}/reversal", record, a.buildReversePayment),
		write("POST /v1/payments/{id}/allocations", record, a.buildAllocatePayment),
		write("POST /v1/credit-notes/{id}/allocations", record, a.buildAllocateCreditNote),
		write("POST /v1/invoices/{id}/dispute", record, a.buildDisputeInvoice),
		write("POST /v1/invoices/{id}/dispute-resolution", record, a.buildResolveDispute),
		write("POST /v1/invoices/{id}/write-off", record, a.buildWriteOffInvoice),
		write("POST /v1/customers/{id}/payment-plans", credit, a.buildAgreePaymentPlan),
		write("POST /v1/customers/{id}/promises", credit, a.buildRecordPromise),
		write("POST /v1/customers/{id}/reminders", record, a.buildSendReminder),
		write("POST /v1/customers/{id}/ratings", credit, a.buildRecordRating),
		write("POST /v1/customers/{id}/insurance", credit, a.buildChangeInsuranceCover),

		fn("GET /v1/customers/{id}", read, a.handleCustomer),
		fn("GET /v1/customers/{id}/events", read, a.handleCustomerEvents),
		// The whole log holds every stream, system-tokens and every actor included: the
		// auditor's read ("reads everything"), not a dashboard query.
		fn("GET /v1/events", audit, a.handleEvents),

		fn("POST /v1/tokens", admin, a.handleIssueToken),
		fn("GET /v1/tokens", admin, a.handleListTokens),
		fn("DELETE /v1/tokens/{id}", admin, a.handleRevokeToken),

		fn("GET /metrics", read, a.handleMetrics),
		fn("GET /openapi.json", auth.PermAuthenticated, a.handleOpenAPI),
		fn("GET /healthz", public, a.handleHealthz),
		fn("GET /readyz", public, a.handleReadyz),
		fn("POST /v1/clock", admin, a.handleSetClock), // 404 unless the clock is manual
	}
}

// Served returns every route h serves, Extra included, with the permission each needs, in
// registration order (h is what New returns): what access and API-description tests of a
// whole daemon check against.
func Served(h http.Handler) map[string]auth.Permission {
	a, ok := h.(*api)
	if !ok {
		panic("httpapi.Served: not a handler made by New")
	}
	out := make(map[string]auth.Permission, len(a.served))
	for _, rt := range a.served {
		out[rt.pattern] = rt.perm
	}
	return out
}
