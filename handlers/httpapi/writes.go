package httpapi

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"net/http"
	"regexp"
	"strconv"
	"sync"

	"github.com/encours/encours/domain"
	"github.com/encours/encours/handlers/command"
)

// Request bodies of the write routes (design §API v1). Amounts are bare JSON integers in
// minor units of the request's "currency" (or, where the currency is optional, of the
// customer's currency); dates are "YYYY-MM-DD". A business date that is optional ("…_on")
// defaults to today by the server's clock. Every field is a rawValue so that its JSON type
// is checked with its full path in the error.

// POST /v1/customers
type registerCustomerRequest struct {
	ID           rawValue `json:"id"`
	Name         rawValue `json:"name"`
	Country      rawValue `json:"country"`
	Sector       rawValue `json:"sector"`
	Segment      rawValue `json:"segment"`
	Currency     rawValue `json:"currency"`
	TermsDays    rawValue `json:"terms_days"`
	CreditLimit  rawValue `json:"credit_limit"`
	RegisteredOn rawValue `json:"registered_on"`
}

// POST /v1/customers/{id}/credit-limit
type creditLimitRequest struct {
	Amount     rawValue `json:"amount"`
	Currency   rawValue `json:"currency"`
	Reason     rawValue `json:"reason"`
	ApprovedBy rawValue `json:"approved_by"`
	ChangedOn  rawValue `json:"changed_on"`
}

// POST /v1/invoices
type invoiceRequest struct {
	CustomerID rawValue `json:"customer_id"`
	InvoiceID  rawValue `json:"invoice_id"`
	Number     rawValue `json:"number"`
	Amount     rawValue `json:"amount"`
	Currency   rawValue `json:"currency"`
	IssueDate  rawValue `json:"issue_date"`
	DueDate    rawValue `json:"due_date"`
}

// allocationRequest is one element of "allocations".
type allocationRequest struct {
	InvoiceID rawValue `json:"invoice_id"`
	Amount    rawValue `json:"amount"`
}

// POST /v1/payments
type paymentRequest struct {
	CustomerID  rawValue            `json:"customer_id"`
	PaymentID   rawValue            `json:"payment_id"`
	Amount      rawValue            `json:"amount"`
	Currency    rawValue            `json:"currency"`
	ReceivedOn  rawValue            `json:"received_on"`
	Allocations []allocationRequest `json:"allocations"`
	Reference   rawValue            `json:"reference"`
}

// POST /v1/credit-notes
type creditNoteRequest struct {
	CustomerID   rawValue `json:"customer_id"`
	CreditNoteID rawValue `json:"credit_note_id"`
	InvoiceID    rawValue `json:"invoice_id"`
	Amount       rawValue `json:"amount"`
	Currency     rawValue `json:"currency"`
	IssueDate    rawValue `json:"issue_date"`
	Reason       rawValue `json:"reason"`
}

// POST /v1/payments/{id}/reversal
type reversalRequest struct {
	ReversedOn rawValue `json:"reversed_on"`
	Reason     rawValue `json:"reason"`
}

// POST /v1/payments/{id}/allocations and /v1/credit-notes/{id}/allocations
type allocateRequest struct {
	Allocations []allocationRequest `json:"allocations"`
	Currency    rawValue            `json:"currency"`
	AllocatedOn rawValue            `json:"allocated_on"`
}

// POST /v1/invoices/{id}/dispute
type disputeRequest struct {
	DisputedOn rawValue `json:"disputed_on"`
	Reason     rawValue `json:"reason"`
}

// POST /v1/invoices/{id}/dispute-resolution
type resolutionRequest struct {
	ResolvedOn rawValue `json:"resolved_on"`
	Outcome    rawValue `json:"outcome"`
	Note       rawValue `json:"note"`
}

// POST /v1/invoices/{id}/write-off
type writeOffRequest struct {
	WrittenOffOn rawValue `json:"written_off_on"`
	Reason       rawValue `json:"reason"`
}

// instalmentRequest is one element of "instalments".
type instalmentRequest struct {
	DueDate rawValue `json:"due_date"`
	Amount  rawValue `json:"amount"`
}

// POST /v1/customers/{id}/payment-plans
type planRequest struct {
	PlanID      rawValue            `json:"plan_id"`
	InvoiceIDs  []rawValue          `json:"invoice_ids"`
	Instalments []instalmentRequest `json:"instalments"`
	Currency    rawValue            `json:"currency"`
	AgreedOn    rawValue            `json:"agreed_on"`
}

// POST /v1/customers/{id}/promises
type promiseRequest struct {
	PromiseID   rawValue   `json:"promise_id"`
	Amount      rawValue   `json:"amount"`
	Currency    rawValue   `json:"currency"`
	PromisedFor rawValue   `json:"promised_for"`
	InvoiceIDs  []rawValue `json:"invoice_ids"`
	Note        rawValue   `json:"note"`
	RecordedOn  rawValue   `json:"recorded_on"`
}

// POST /v1/customers/{id}/reminders
type reminderRequest struct {
	InvoiceID rawValue `json:"invoice_id"`
	Level     rawValue `json:"level"`
	Channel   rawValue `json:"channel"`
	SentOn    rawValue `json:"sent_on"`
}

// POST /v1/customers/{id}/ratings
type ratingRequest struct {
	Agency  rawValue `json:"agency"`
	Score   rawValue `json:"score"`
	Grade   rawValue `json:"grade"`
	RatedOn rawValue `json:"rated_on"`
}

// POST /v1/customers/{id}/insurance
type insuranceRequest struct {
	Insurer         rawValue `json:"insurer"`
	Covered         rawValue `json:"covered"`
	Currency        rawValue `json:"currency"`
	DeclarationDays rawValue `json:"declaration_days"`
	ChangedOn       rawValue `json:"changed_on"`
}

// builder turns a request into a command; body has passed readBody.
type builder func(ctx context.Context, r *http.Request, body []byte) (domain.Command, error)

// handleWrite is the shell of every write route: idempotency key, body, command, Execute,
// and the 201 answer {"stream", "stream_version", "position", "event_ids"[, "warnings"]}.
func (a *api) handleWrite(build builder) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		key, err := idempotencyKey(r)
		if err != nil {
			a.writeError(w, r, err)
			return
		}
		body, err := a.readBody(w, r)
		if err != nil {
			a.writeError(w, r, err)
			return
		}
		cmd, err := build(ctx, r, body)
		if err != nil {
			a.writeError(w, r, err)
			return
		}
		meta := command.Meta{Actor: principalOf(ctx).Name, CorrelationID: correlationID(ctx), IdempotencyKey: key}
		if key != "" {
			meta.RequestHash = requestHash(r, body)
		}
		res, err := a.svc.Execute(ctx, cmd, meta)
		if err != nil {
			a.writeError(w, r, err)
			return
		}
		if res.Replayed {
			w.Header().Set("Idempotent-Replayed", "true")
		}
		if res.EventIDs == nil {
			res.EventIDs = []string{}
		}
		if b, ok := appendResultJSON(res); ok {
			writeBytes(w, http.StatusCreated, b)
			return
		}
		writeJSON(w, http.StatusCreated, res)
	}
}

// appendResultJSON is writeJSON's body for a Result without warnings whose strings need no
// escaping (stream names and event ids always), built without reflection: the same bytes
// json.Marshal gives plus the newline. ok is false for any other Result, which writeJSON
// then encodes.
func appendResultJSON(res command.Result) (b []byte, ok bool) {
	if len(res.Warnings) > 0 || !domain.PlainJSON(res.Stream) {
		return nil, false
	}
	n := 80 + len(res.Stream)
	for _, id := range res.EventIDs {
		if !domain.PlainJSON(id) {
			return nil, false
		}
		n += len(id) + 3
	}
	b = make([]byte, 0, n)
	b = append(b, `{"stream":"`...)
	b = append(b, res.Stream...)
	b = append(b, `","stream_version":`...)
	b = strconv.AppendUint(b, res.StreamVersion, 10)
	b = append(b, `,"position":`...)
	b = strconv.AppendUint(b, res.Position, 10)
	b = append(b, `,"event_ids":[`...)
	for i, id := range res.EventIDs {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '"')
		b = append(b, id...)
		b = append(b, '"')
	}
	return append(b, "]}\n"...), true
}

// idempotencyKeyBytesMax bounds the Idempotency-Key header; the store keeps keys in its
// canonical event bytes, whose strings are at most 1 KiB.
const idempotencyKeyBytesMax = 255

// idempotencyKey returns the Idempotency-Key header: 1..255 bytes of visible ASCII.
func idempotencyKey(r *http.Request) (string, error) {
	vs := r.Header.Values("Idempotency-Key")
	if len(vs) == 0 {
		return "", nil
	}
	k := vs[0]
	if len(vs) > 1 || k == "" || len(k) > idempotencyKeyBytesMax || !visibleASCII(k) {
		return "", invalid(codeInvalidHeader, "Idempotency-Key", "Idempotency-Key must be one value of 1..%d visible ASCII characters", idempotencyKeyBytesMax)
	}
	return k, nil
}

func visibleASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

var wildcardRE = regexp.MustCompile(`\{([A-Za-z_][A-Za-z0-9_]*)(\.\.\.)?\}`)

// requestHash identifies "the same request" behind an idempotency key: SHA-256 over the
// method, the route pattern, the path values in pattern order and the raw body, each
// length-prefixed so that no two requests share their bytes.
func requestHash(r *http.Request, body []byte) []byte {
	// One buffer holding what is hashed, then one sum: the parts are a few short strings
	// and the body.
	buf := make([]byte, 0, 64+len(r.Method)+2*len(r.Pattern)+len(body))
	part := func(s string) {
		buf = binary.AppendUvarint(buf, uint64(len(s)))
		buf = append(buf, s...)
	}
	part("encours-request-v1")
	part(r.Method)
	part(r.Pattern)
	for _, name := range patternWildcards(r.Pattern) {
		part(name)
		part(r.PathValue(name))
	}
	buf = binary.AppendUvarint(buf, uint64(len(body)))
	buf = append(buf, body...)
	sum := sha256.Sum256(buf)
	return sum[:]
}

// wildcardsCache holds patternWildcards' answer per route pattern: the patterns are the
// routes', a fixed few.
var wildcardsCache sync.Map // pattern → []string, never written to after

// patternWildcards returns the names of a route pattern's {wildcards}, in order.
func patternWildcards(pattern string) []string {
	if v, ok := wildcardsCache.Load(pattern); ok {
		return v.([]string)
	}
	var names []string
	for _, m := range wildcardRE.FindAllStringSubmatch(pattern, -1) {
		names = append(names, m[1])
	}
	v, _ := wildcardsCache.LoadOrStore(pattern, names)
	return v.([]string)
}

// pathID returns the {id} path value, refusing a malformed id before it reaches a lookup.
func pathID(r *http.Request) (string, error) {
	id := r.PathValue("id")
	if err := domain.ValidateID(id); err != nil {
		return "", invalid(domain.CodeInvalidID, "id", "path id %q: %s", clip(id), err.(*domain.Error).Message)
	}
	return id, nil
}

// pathRequest reads a write addressed by a path id: the id (pathID) and then the body,
// decoded strictly into a T.
func pathRequest[T any](r *http.Request, body []byte) (string, T, error) {
	var req T
	id, err := pathID(r)
	if err == nil {
		err = decodeStrict(body, &req)
	}
	return id, req, err
}

// customerCurrency returns the currency of a registered customer, "" otherwise (the command
// is then refused by Decide as unknown_customer before its amounts are looked at).
func (a *api) customerCurrency(ctx context.Context, id domain.CustomerID) (domain.Currency, error) {
	var ccy domain.Currency
	err := a.svc.ViewCustomer(ctx, id, func(c *domain.Customer) error {
		ccy = c.Currency()
		return nil
	})
	return ccy, err
}

func money(minor int64, ccy domain.Currency) domain.Money {
	return domain.Money{Minor: minor, Ccy: ccy}
}

func (f *fields) allocations(reqs []allocationRequest, ccy domain.Currency) []domain.Allocation {
	if reqs == nil {
		return nil
	}
	out := make([]domain.Allocation, len(reqs))
	for i, ar := range reqs {
		p := "allocations[" + strconv.Itoa(i) + "]"
		out[i] = domain.Allocation{
			InvoiceID: domain.InvoiceID(f.str(p+".invoice_id", ar.InvoiceID)),
			Amount:    money(f.amount(p+".amount", ar.Amount, true), ccy),
		}
	}
	return out
}

func (a *api) buildRegisterCustomer(_ context.Context, _ *http.Request, body []byte) (domain.Command, error) {
	var req registerCustomerRequest
	if err := decodeStrict(body, &req); err != nil {
		return nil, err
	}
	var f fields
	ccy := f.currency("currency", req.Currency, true, "")
	cmd := domain.RegisterCustomer{
		CustomerID:  domain.CustomerID(f.str("id", req.ID)),
		Name:        f.str("name", req.Name),
		Country:     f.str("country", req.Country),
		Sector:      f.str("sector", req.Sector),
		Segment:     f.str("segment", req.Segment),
		Currency:    ccy,
		Terms:       domain.Net(f.smallInt("terms_days", req.TermsDays, true)),
		CreditLimit: money(f.amount("credit_limit", req.CreditLimit, true), ccy),
		On:          f.date("registered_on", req.RegisteredOn, a.today()),
	}
	return cmd, f.err
}

func (a *api) buildChangeCreditLimit(ctx context.Context, r *http.Request, body []byte) (domain.Command, error) {
	id, req, err := pathRequest[creditLimitRequest](r, body)
	if err != nil {
		return nil, err
	}
	def, err := a.customerCurrency(ctx, domain.CustomerID(id))
	if err != nil {
		return nil, err
	}
	var f fields
	ccy := f.currency("currency", req.Currency, false, def)
	cmd := domain.ChangeCreditLimit{
		CustomerID: domain.CustomerID(id),
		Limit:      money(f.amount("amount", req.Amount, true), ccy),
		Reason:     f.str("reason", req.Reason),
		ApprovedBy: f.str("approved_by", req.ApprovedBy),
		On:         f.date("changed_on", req.ChangedOn, a.today()),
	}
	return cmd, f.err
}

func (a *api) buildIssueInvoice(_ context.Context, _ *http.Request, body []byte) (domain.Command, error) {
	var req invoiceRequest
	if err := decodeStrict(body, &req); err != nil {
		return nil, err
	}
	var f fields
	cmd := domain.IssueInvoice{
		CustomerID: domain.CustomerID(f.str("customer_id", req.CustomerID)),
		InvoiceID:  domain.InvoiceID(f.str("invoice_id", req.InvoiceID)),
		Number:     f.str("number", req.Number),
		Amount:     money(f.amount("amount", req.Amount, true), f.currency("currency", req.Currency, true, "")),
		IssueDate:  f.date("issue_date", req.IssueDate, domain.Date{}),
		DueDate:    f.date("due_date", req.DueDate, domain.Date{}), // absent: from the customer's terms
	}
	return cmd, f.err
}

func (a *api) buildRecordPayment(_ context.Context, _ *http.Request, body []byte) (domain.Command, error) {
	var req paymentRequest
	if err := decodeStrict(body, &req); err != nil {
		return nil, err
	}
	var f fields
	ccy := f.currency("currency", req.Currency, true, "")
	cmd := domain.RecordPayment{
		CustomerID:  domain.CustomerID(f.str("customer_id", req.CustomerID)),
		PaymentID:   domain.PaymentID(f.str("payment_id", req.PaymentID)),
		Amount:      money(f.amount("amount", req.Amount, true), ccy),
		ReceivedOn:  f.date("received_on", req.ReceivedOn, domain.Date{}),
		Allocations: f.allocations(req.Allocations, ccy),
		Reference:   f.str("reference", req.Reference),
	}
	return cmd, f.err
}

func (a *api) buildIssueCreditNote(_ context.Context, _ *http.Request, body []byte) (domain.Command, error) {
	var req creditNoteRequest
	if err := decodeStrict(body, &req); err != nil {
		return nil, err
	}
	var f fields
	cmd := domain.IssueCreditNote{
		CustomerID:   domain.CustomerID(f.str("customer_id", req.CustomerID)),
		CreditNoteID: domain.CreditNoteID(f.str("credit_note_id", req.CreditNoteID)),
		InvoiceID:    domain.InvoiceID(f.str("invoice_id", req.InvoiceID)),
		Amount:       money(f.amount("amount", req.Amount, true), f.currency("currency", req.Currency, true, "")),
		IssueDate:    f.date("issue_date", req.IssueDate, domain.Date{}),
		Reason:       f.str("reason", req.Reason),
	}
	return cmd, f.err
}

func (a *api) buildReversePayment(_ context.Context, r *http.Request, body []byte) (domain.Command, error) {
	id, req, err := pathRequest[reversalRequest](r, body)
	if err != nil {
		return nil, err
	}
	var f fields
	cmd := domain.ReversePayment{
		PaymentID: domain.PaymentID(id), // the customer comes from the service's directory
		On:        f.date("reversed_on", req.ReversedOn, a.today()),
		Reason:    f.str("reason", req.Reason),
	}
	return cmd, f.err
}

func (a *api) buildAllocatePayment(ctx context.Context, r *http.Request, body []byte) (domain.Command, error) {
	id, err := pathID(r)
	if err != nil {
		return nil, err
	}
	customer, _, err := a.svc.PaymentCustomer(ctx, domain.PaymentID(id))
	if err != nil {
		return nil, err
	}
	cmd, err := a.buildAllocate(ctx, customer, body)
	if err != nil {
		return nil, err
	}
	cmd.PaymentID = domain.PaymentID(id)
	return cmd, nil
}

func (a *api) buildAllocateCreditNote(ctx context.Context, r *http.Request, body []byte) (domain.Command, error) {
	id, err := pathID(r)
	if err != nil {
		return nil, err
	}
	customer, _, err := a.svc.CreditNoteCustomer(ctx, domain.CreditNoteID(id))
	if err != nil {
		return nil, err
	}
	cmd, err := a.buildAllocate(ctx, customer, body)
	if err != nil {
		return nil, err
	}
	cmd.CreditNoteID = domain.CreditNoteID(id)
	return cmd, nil
}

// buildAllocate reads an allocation request; customer (when known) gives the default
// currency, and Execute fills the customer from the payment's or credit note's id.
func (a *api) buildAllocate(ctx context.Context, customer domain.CustomerID, body []byte) (domain.AllocatePayment, error) {
	var req allocateRequest
	if err := decodeStrict(body, &req); err != nil {
		return domain.AllocatePayment{}, err
	}
	var def domain.Currency
	if customer != "" {
		var err error
		if def, err = a.customerCurrency(ctx, customer); err != nil {
			return domain.AllocatePayment{}, err
		}
	}
	var f fields
	ccy := f.currency("currency", req.Currency, false, def)
	cmd := domain.AllocatePayment{
		On:          f.date("allocated_on", req.AllocatedOn, a.today()),
		Allocations: f.allocations(req.Allocations, ccy),
	}
	return cmd, f.err
}

func (a *api) buildDisputeInvoice(_ context.Context, r *http.Request, body []byte) (domain.Command, error) {
	id, req, err := pathRequest[disputeRequest](r, body)
	if err != nil {
		return nil, err
	}
	var f fields
	cmd := domain.DisputeInvoice{
		InvoiceID: domain.InvoiceID(id),
		On:        f.date("disputed_on", req.DisputedOn, a.today()),
		Reason:    f.str("reason", req.Reason),
	}
	return cmd, f.err
}

func (a *api) buildResolveDispute(_ context.Context, r *http.Request, body []byte) (domain.Command, error) {
	id, req, err := pathRequest[resolutionRequest](r, body)
	if err != nil {
		return nil, err
	}
	var f fields
	cmd := domain.ResolveDispute{
		InvoiceID: domain.InvoiceID(id),
		On:        f.date("resolved_on", req.ResolvedOn, a.today()),
		Outcome:   f.str("outcome", req.Outcome),
		Note:      f.str("note", req.Note),
	}
	return cmd, f.err
}

func (a *api) buildWriteOffInvoice(_ context.Context, r *http.Request, body []byte) (domain.Command, error) {
	id, req, err := pathRequest[writeOffRequest](r, body)
	if err != nil {
		return nil, err
	}
	var f fields
	cmd := domain.WriteOffInvoice{
		InvoiceID: domain.InvoiceID(id),
		On:        f.date("written_off_on", req.WrittenOffOn, a.today()),
		Reason:    f.str("reason", req.Reason),
	}
	return cmd, f.err
}

func (a *api) buildAgreePaymentPlan(ctx context.Context, r *http.Request, body []byte) (domain.Command, error) {
	id, req, err := pathRequest[planRequest](r, body)
	if err != nil {
		return nil, err
	}
	def, err := a.customerCurrency(ctx, domain.CustomerID(id))
	if err != nil {
		return nil, err
	}
	var f fields
	ccy := f.currency("currency", req.Currency, false, def)
	instalments := make([]domain.Instalment, len(req.Instalments))
	for i, in := range req.Instalments {
		p := "instalments[" + strconv.Itoa(i) + "]"
		instalments[i] = domain.Instalment{
			Due:    f.date(p+".due_date", in.DueDate, domain.Date{}),
			Amount: money(f.amount(p+".amount", in.Amount, true), ccy),
		}
	}
	cmd := domain.AgreePaymentPlan{
		CustomerID:  domain.CustomerID(id),
		PlanID:      f.str("plan_id", req.PlanID),
		InvoiceIDs:  f.invoiceIDs("invoice_ids", req.InvoiceIDs),
		Instalments: instalments,
		On:          f.date("agreed_on", req.AgreedOn, a.today()),
	}
	return cmd, f.err
}

func (a *api) buildRecordPromise(ctx context.Context, r *http.Request, body []byte) (domain.Command, error) {
	id, req, err := pathRequest[promiseRequest](r, body)
	if err != nil {
		return nil, err
	}
	def, err := a.customerCurrency(ctx, domain.CustomerID(id))
	if err != nil {
		return nil, err
	}
	var f fields
	cmd := domain.RecordPromise{
		CustomerID:  domain.CustomerID(id),
		PromiseID:   f.str("promise_id", req.PromiseID),
		Amount:      money(f.amount("amount", req.Amount, true), f.currency("currency", req.Currency, false, def)),
		PromisedFor: f.date("promised_for", req.PromisedFor, domain.Date{}),
		InvoiceIDs:  f.invoiceIDs("invoice_ids", req.InvoiceIDs),
		Note:        f.str("note", req.Note),
		On:          f.date("recorded_on", req.RecordedOn, a.today()),
	}
	return cmd, f.err
}

func (a *api) buildSendReminder(_ context.Context, r *http.Request, body []byte) (domain.Command, error) {
	id, req, err := pathRequest[reminderRequest](r, body)
	if err != nil {
		return nil, err
	}
	var f fields
	cmd := domain.SendReminder{
		CustomerID: domain.CustomerID(id),
		InvoiceID:  domain.InvoiceID(f.str("invoice_id", req.InvoiceID)),
		Level:      f.smallInt("level", req.Level, true),
		Channel:    f.str("channel", req.Channel),
		On:         f.date("sent_on", req.SentOn, a.today()),
	}
	return cmd, f.err
}

func (a *api) buildRecordRating(_ context.Context, r *http.Request, body []byte) (domain.Command, error) {
	id, req, err := pathRequest[ratingRequest](r, body)
	if err != nil {
		return nil, err
	}
	var f fields
	cmd := domain.RecordRating{
		CustomerID: domain.CustomerID(id),
		Agency:     f.str("agency", req.Agency),
		Score:      f.smallInt("score", req.Score, true),
		Grade:      f.str("grade", req.Grade),
		On:         f.date("rated_on", req.RatedOn, a.today()),
	}
	return cmd, f.err
}

func (a *api) buildChangeInsuranceCover(ctx context.Context, r *http.Request, body []byte) (domain.Command, error) {
	id, req, err := pathRequest[insuranceRequest](r, body)
	if err != nil {
		return nil, err
	}
	def, err := a.customerCurrency(ctx, domain.CustomerID(id))
	if err != nil {
		return nil, err
	}
	var f fields
	cmd := domain.ChangeInsuranceCover{
		CustomerID:      domain.CustomerID(id),
		Insurer:         f.str("insurer", req.Insurer),
		Covered:         money(f.amount("covered", req.Covered, true), f.currency("currency", req.Currency, false, def)),
		DeclarationDays: f.smallInt("declaration_days", req.DeclarationDays, true),
		On:              f.date("changed_on", req.ChangedOn, a.today()),
	}
	return cmd, f.err
}
