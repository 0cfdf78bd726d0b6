package httpapi

import "net/http"

// route is one served route: its ServeMux pattern ("METHOD /path/{wildcard}") and handler.
// routes is the one list of them: New registers exactly these, and the API description and
// its tests are checked against it.
type route struct {
	pattern string
	handler http.Handler
}

// routes lists every route the API serves.
func (a *api) routes() []route {
	write := func(pattern string, build builder) route {
		return route{pattern, a.handleWrite(build)}
	}
	fn := func(pattern string, h http.HandlerFunc) route { return route{pattern, h} }
	return []route{
		write("POST /v1/customers", a.buildRegisterCustomer),
		write("POST /v1/customers/{id}/credit-limit", a.buildChangeCreditLimit),
		write("POST /v1/invoices", a.buildIssueInvoice),
		write("POST /v1/payments", a.buildRecordPayment),
		write("POST /v1/credit-notes", a.buildIssueCreditNote),
		write("POST /v1/payments/{id}/reversal", a.buildReversePayment),
		write("POST /v1/payments/{id}/allocations", a.buildAllocatePayment),
		write("POST /v1/credit-notes/{id}/allocations", a.buildAllocateCreditNote),
		write("POST /v1/invoices/{id}/dispute", a.buildDisputeInvoice),
		write("POST /v1/invoices/{id}/dispute-resolution", a.buildResolveDispute),
		write("POST /v1/invoices/{id}/write-off", a.buildWriteOffInvoice),
		write("POST /v1/customers/{id}/payment-plans", a.buildAgreePaymentPlan),
		write("POST /v1/customers/{id}/promises", a.buildRecordPromise),
		write("POST /v1/customers/{id}/reminders", a.buildSendReminder),
		write("POST /v1/customers/{id}/ratings", a.buildRecordRating),
		write("POST /v1/customers/{id}/insurance", a.buildChangeInsuranceCover),

		fn("GET /v1/customers/{id}", a.handleCustomer),
		fn("GET /v1/customers/{id}/events", a.handleCustomerEvents),
		fn("GET /v1/events", a.handleEvents),

		fn("GET /healthz", a.handleHealthz),
		fn("GET /readyz", a.handleReadyz),
		fn("POST /v1/clock", a.handleSetClock), // 404 unless the clock is manual
	}
}
