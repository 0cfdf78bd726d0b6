package httpapi

import (
	"cmp"
	"encoding/json"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/encours/encours/handlers/auth"
)

// The API description (GET /openapi.json, OpenAPI 3.1) is built here from two sources kept
// apart on purpose: operations documents each route by hand, and the route table says what
// is served and which roles may use it. TestOpenAPI checks that the two name the same
// routes, and sends every example body to a real server, which must accept it.

// schema is a JSON Schema (2020-12, as OpenAPI 3.1 uses) as plain data.
type schema = map[string]any

// operation documents one route.
type operation struct {
	summary, description string
	tag                  string
	// pathExamples gives an example for each path wildcard ({id}); with example, a request
	// the server accepts (the examples tell one customer's story, in the order of
	// TestOpenAPI).
	pathExamples map[string]string
	query        []param
	idempotent   bool   // takes Idempotency-Key
	body         schema // request body; nil: none
	example      string // JSON of an example body
	success      int
	response     schema // success body; nil: none
	responseType string // media type of the success body; default application/json
	errors       []int  // error statuses besides 401, 403, 429 (routes with a token) and 500
}

// param is a query parameter.
type param struct {
	name, description string
	schema            schema
}

// Schema helpers. A property name ending in "!" is required.
func object(props ...any) schema {
	invariant(len(props)%2 == 0, "object: odd number of arguments")
	properties := schema{}
	required := []string{}
	for i := 0; i < len(props); i += 2 {
		name := props[i].(string)
		if n, ok := strings.CutSuffix(name, "!"); ok {
			name = n
			required = append(required, n)
		}
		properties[name] = props[i+1]
	}
	s := schema{"type": "object", "properties": properties, "additionalProperties": false}
	if len(required) > 0 {
		s["required"] = required
	}
	return s
}

func str(d string) schema { return schema{"type": "string", "description": d} }

func id(d string) schema {
	return schema{"type": "string", "pattern": `^[A-Za-z0-9._:-]{1,128}$`, "description": d}
}

func date(d string) schema { return schema{"type": "string", "format": "date", "description": d} }

func instant(d string) schema {
	return schema{"type": "string", "format": "date-time", "description": d}
}

func amount(d string) schema {
	return schema{"type": "integer", "format": "int64", "description": d + " (minor units, an integer: 125000 EUR is 1 250,00 EUR)"}
}

func integer(d string, lo, hi int64) schema {
	return schema{"type": "integer", "minimum": lo, "maximum": hi, "description": d}
}

func boolean(d string) schema { return schema{"type": "boolean", "description": d} }

func currency(d string) schema {
	return schema{"type": "string", "pattern": "^[A-Z]{3}$", "description": d + " (ISO 4217)"}
}

func enum(d string, values ...string) schema {
	return schema{"type": "string", "enum": values, "description": d}
}

func array(items schema, d string) schema {
	return schema{"type": "array", "items": items, "description": d}
}

func ref(name string) schema { return schema{"$ref": "#/components/schemas/" + name} }

func nullable(s schema) schema { return schema{"oneOf": []any{s, schema{"type": "null"}}} }

// today marks the optional business dates that default to the daemon's clock.
const today = " (default: today)"

var (
	allocations = array(ref("Allocation"), "amounts applied to invoices; absent or empty: oldest due first, the rest stays on account")
	writeErrors = []int{400, 404, 409, 413, 415, 422}
	readErrors  = []int{400, 404}
	asOfParam   = param{"as_of", "business date the figures are computed at (default: today)", date("")}
	knownAt     = param{"known_at", "only the events recorded at or before this instant (default: now)", instant("")}
	fromParam   = param{"from", "first position (or stream version) to return, 1-based", schema{"type": "integer", "minimum": 0}}
	limitParam  = param{"limit", "page size", schema{"type": "integer", "minimum": 1, "maximum": eventsLimitMax, "default": eventsLimitDefault}}
)

// write documents a write route: a JSON body, Idempotency-Key, 201 with the append result.
func write(summary string, pathExamples map[string]string, body schema, example string) operation {
	return operation{summary: summary, tag: "writes", pathExamples: pathExamples, idempotent: true, body: body,
		example: example, success: http.StatusCreated, response: ref("Appended"), errors: writeErrors}
}

var acme = map[string]string{"id": "ACME"}

// operations documents every route, by ServeMux pattern.
var operations = map[string]operation{
	"POST /v1/customers": write("Register a customer", nil, object(
		"id!", id("customer id"), "name!", str("legal name"), "country!", str("ISO 3166-1 alpha-2"),
		"sector", str("NACE Rev. 2 code"), "segment", str("e.g. sme, corporate, public"), "currency!", currency("account currency"),
		"terms_days!", integer("payment terms, net days", 0, 365), "credit_limit!", amount("credit limit; 0: extend no more credit"),
		"registered_on", date("registration date"+today)),
		`{"id":"ACME","name":"Acme SAS","country":"FR","sector":"C25","segment":"sme","currency":"EUR","terms_days":30,"credit_limit":5000000,"registered_on":"2026-01-02"}`),
	"POST /v1/customers/{id}/credit-limit": write("Change a customer's credit limit", acme, object(
		"amount!", amount("new limit; 0: extend no more credit"), "currency", currency("default: the customer's"),
		"reason!", str("why"), "approved_by", str("who approved it"), "changed_on", date("date of the change"+today)),
		`{"amount":6000000,"reason":"annual review","approved_by":"dcf","changed_on":"2026-01-05"}`),
	"POST /v1/invoices": write("Record an invoice", nil, object(
		"customer_id!", id("customer"), "invoice_id!", id("invoice id, unique across customers"), "number!", str("invoice number"),
		"amount!", amount("invoice amount"), "currency!", currency("must be the customer's"), "issue_date!", date("issue date"),
		"due_date", date("due date (default: from the customer's terms)")),
		`{"customer_id":"ACME","invoice_id":"INV-2026-001","number":"F-2026-001","amount":125000,"currency":"EUR","issue_date":"2026-01-05","due_date":"2026-02-04"}`),
	"POST /v1/credit-notes": write("Record a credit note", nil, object(
		"customer_id!", id("customer"), "credit_note_id!", id("credit note id"), "invoice_id", id("the invoice it reduces; none: customer credit"),
		"amount!", amount("credit amount"), "currency!", currency("must be the customer's"), "issue_date!", date("issue date"), "reason", str("why")),
		`{"customer_id":"ACME","credit_note_id":"CN-2026-001","amount":5000,"currency":"EUR","issue_date":"2026-01-20","reason":"volume rebate"}`),
	"POST /v1/credit-notes/{id}/allocations": write("Apply a credit note's standing credit to invoices", map[string]string{"id": "CN-2026-001"}, object(
		"allocations", allocations, "currency", currency("default: the customer's"), "allocated_on", date("date of the allocation"+today)),
		`{"allocations":[{"invoice_id":"INV-2026-001","amount":5000}],"allocated_on":"2026-01-21"}`),
	"POST /v1/payments": write("Record a payment", nil, object(
		"customer_id!", id("customer"), "payment_id!", id("payment id, unique across customers"), "amount!", amount("cash received"),
		"currency!", currency("must be the customer's"), "received_on!", date("value date"), "allocations", allocations, "reference", str("bank reference")),
		`{"customer_id":"ACME","payment_id":"PAY-2026-001","amount":50000,"currency":"EUR","received_on":"2026-02-03","allocations":[{"invoice_id":"INV-2026-001","amount":30000}],"reference":"VIR 0042"}`),
	"POST /v1/payments/{id}/allocations": write("Apply a payment's cash on account to invoices", map[string]string{"id": "PAY-2026-001"}, object(
		"allocations", allocations, "currency", currency("default: the customer's"), "allocated_on", date("date of the allocation"+today)),
		`{"allocations":[{"invoice_id":"INV-2026-001","amount":20000}],"allocated_on":"2026-02-05"}`),
	"POST /v1/payments/{id}/reversal": write("Reverse a payment (bounced, recalled): what it settled opens again", map[string]string{"id": "PAY-2026-001"}, object(
		"reversed_on", date("date of the reversal"+today), "reason", str("why")),
		`{"reversed_on":"2026-02-10","reason":"bounced"}`),
	"POST /v1/customers/{id}/reminders": write("Record a dunning reminder", acme, object(
		"invoice_id!", id("invoice"), "level!", integer("dunning level", 1, 9), "channel!", enum("channel", "email", "letter", "phone", "formal_notice"),
		"sent_on", date("date sent"+today)),
		`{"invoice_id":"INV-2026-001","level":1,"channel":"email","sent_on":"2026-02-12"}`),
	"POST /v1/invoices/{id}/dispute": write("Dispute an invoice: excluded from dunning", map[string]string{"id": "INV-2026-001"}, object(
		"disputed_on", date("date of the dispute"+today), "reason", str("why")),
		`{"disputed_on":"2026-02-15","reason":"damaged goods"}`),
	"POST /v1/invoices/{id}/dispute-resolution": write("Resolve an invoice's dispute", map[string]string{"id": "INV-2026-001"}, object(
		"resolved_on", date("date of the resolution"+today), "outcome", str("e.g. upheld, rejected, settled"), "note", str("note")),
		`{"resolved_on":"2026-02-25","outcome":"rejected","note":"photos show no damage"}`),
	"POST /v1/customers/{id}/payment-plans": write("Agree a payment plan replacing invoices' due dates", acme, object(
		"plan_id!", id("plan id"), "invoice_ids!", array(id("invoice"), "invoices the plan covers"),
		"instalments!", array(ref("Instalment"), "instalments; they total the invoices' open amount"),
		"currency", currency("default: the customer's"), "agreed_on", date("date agreed"+today)),
		`{"plan_id":"PL-1","invoice_ids":["INV-2026-001"],"instalments":[{"due_date":"2026-04-01","amount":60000},{"due_date":"2026-05-01","amount":60000}],"agreed_on":"2026-03-01"}`),
	"POST /v1/customers/{id}/promises": write("Record a promise to pay", acme, object(
		"promise_id!", id("promise id"), "amount!", amount("amount promised"), "currency", currency("default: the customer's"),
		"promised_for!", date("date promised"), "invoice_ids", array(id("invoice"), "invoices it concerns"), "note", str("note"),
		"recorded_on", date("date the promise was made"+today)),
		`{"promise_id":"PR-1","amount":60000,"promised_for":"2026-04-01","invoice_ids":["INV-2026-001"],"note":"CFO on the phone","recorded_on":"2026-03-01"}`),
	"POST /v1/customers/{id}/ratings": write("Record a credit agency's rating", acme, object(
		"agency!", str("agency"), "score!", integer("score, higher is safer", 0, 100), "grade", str("the agency's own grade"),
		"rated_on", date("date of the rating"+today)),
		`{"agency":"Banque de France","score":72,"grade":"4+","rated_on":"2026-02-01"}`),
	"POST /v1/customers/{id}/insurance": write("Set the credit insurer's cover", acme, object(
		"insurer", str("insurer (required when covered > 0)"), "covered!", amount("covered amount; 0: no cover"),
		"currency", currency("default: the customer's"), "declaration_days!", integer("days after due to declare an unpaid invoice", 1, 365),
		"changed_on", date("date of the change"+today)),
		`{"insurer":"Allianz Trade","covered":3000000,"declaration_days":60,"changed_on":"2026-02-01"}`),
	"POST /v1/invoices/{id}/write-off": write("Write an invoice off: the loss is recognised, the invoice stays in history", map[string]string{"id": "INV-2026-001"}, object(
		"written_off_on", date("date of the write-off"+today), "reason", str("why")),
		`{"written_off_on":"2026-03-02","reason":"insolvency"}`),

	"GET /v1/customers/{id}": {summary: "A customer's position", tag: "reads", pathExamples: acme,
		description: "Profile, credit limit, exposure (open invoices − unallocated cash − open credit), utilisation, open items with days overdue at as_of, insurance, latest rating.",
		query:       []param{asOfParam, knownAt}, success: http.StatusOK, response: ref("Customer"), errors: readErrors},
	"GET /v1/customers/{id}/events": {summary: "A customer's events, by stream version", tag: "reads", pathExamples: acme,
		query: []param{fromParam, limitParam}, success: http.StatusOK, response: ref("StreamPage"), errors: readErrors},
	"GET /v1/events": {summary: "The whole log, by position", tag: "reads",
		description: "Every stream, system streams included; caught up when next > head.",
		query:       []param{fromParam, limitParam}, success: http.StatusOK, response: ref("LogPage"), errors: []int{400}},

	"POST /v1/tokens": {summary: "Issue an access token", tag: "tokens",
		description: "The answer is the only time the token is shown (Cache-Control: no-store). No Idempotency-Key: a lost answer is mended by revoking and issuing again.",
		body:        object("role!", enum("what the token may do", rolesOf()...), "name!", schema{"type": "string", "pattern": `^[A-Za-z0-9._@:+-]{1,64}$`, "description": "unique among active tokens; the actor of the events it records"}),
		example:     `{"role":"reader","name":"grafana"}`, success: http.StatusCreated, response: ref("IssuedToken"), errors: []int{400, 409, 413, 415}},
	"GET /v1/tokens": {summary: "List the issued tokens, revoked ones included, without secrets", tag: "tokens",
		query: []param{
			{"limit", "page size", schema{"type": "integer", "minimum": 1, "maximum": tokensLimitMax, "default": tokensLimitDefault}},
			{"offset", "tokens to skip", schema{"type": "integer", "minimum": 0, "default": 0}}},
		success: http.StatusOK, response: object("tokens!", array(ref("Token"), "in issue order"),
			"total!", schema{"type": "integer", "description": "tokens in all pages"},
			"next_offset!", schema{"type": []string{"integer", "null"}, "description": "offset of the next page; null on the last"}),
		errors: []int{400}},
	"DELETE /v1/tokens/{id}": {summary: "Revoke a token", tag: "tokens", pathExamples: map[string]string{"id": "tok_3Yd1fQq0kL2v9cXe"},
		success: http.StatusOK, response: ref("Token"), errors: []int{400, 404, 409}},

	"GET /metrics": {summary: "Prometheus series", tag: "operations", success: http.StatusOK,
		response: schema{"type": "string"}, responseType: "text/plain; version=0.0.4"},
	"GET /openapi.json": {summary: "This description", tag: "operations", success: http.StatusOK,
		response: schema{"type": "object"}},
	"GET /healthz": {summary: "Liveness: the process serves", tag: "operations", success: http.StatusOK,
		response: object("status!", enum("", "ok"))},
	"GET /readyz": {summary: "Readiness: the store is open, readable and not failed", tag: "operations", success: http.StatusOK,
		response: object("status!", enum("", "ready"), "position!", integer("last committed position", 0, 1<<62)), errors: []int{503}},
	"POST /v1/clock": {summary: "Set the manual clock (encoursd --clock manual only; 404 otherwise)", tag: "operations",
		body: object("date!", date("the new today: the clock moves to its midnight UTC")), example: `{"date":"2026-03-02"}`,
		success: http.StatusOK, response: object("date!", date(""), "now!", instant("")), errors: []int{400, 404, 413, 415}},
}

func rolesOf() []string {
	var out []string
	for _, r := range auth.Roles() {
		out = append(out, string(r))
	}
	return out
}

// components are the shared schemas.
func components() schema {
	appendResult := object(
		"stream!", str("customer-<id>"), "stream_version!", integer("version of the last event appended", 1, 1<<62),
		"position!", integer("log position of the last event appended", 1, 1<<62), "event_ids!", array(str("UUIDv7"), "ids of the events appended"),
		"warnings", array(ref("Warning"), "the events were recorded but deserve attention"))
	token := object("token_id!", str("public id"), "role!", enum("", rolesOf()...), "name!", str("the events' actor"),
		"issued_by!", str("actor who issued it"), "issued_at!", instant(""), "revoked!", boolean(""),
		"revoked_by", str("actor who revoked it"), "revoked_at", instant(""))
	issued := object("token_id!", str("public id"), "role!", enum("", rolesOf()...), "name!", str("the events' actor"),
		"issued_by!", str("actor who issued it"), "issued_at!", instant(""), "revoked!", boolean(""),
		"token!", schema{"type": "string", "pattern": `^enc_[A-Za-z0-9_-]{43}$`, "description": "the bearer token, shown this once"})
	envelope := object(
		"event_id!", str("UUIDv7"), "stream!", str(""), "stream_version!", integer("", 1, 1<<62), "position!", integer("", 1, 1<<62),
		"type!", str("event type, e.g. InvoiceIssued"), "schema_version!", integer("", 1, 65535), "effective_on!", date("business date"),
		"recorded_at!", instant("system time"), "actor!", str("who recorded it: the token's name"), "correlation_id", str(""),
		"causation_id", str(""), "idempotency_key", str(""), "data!", schema{"type": "object", "description": "the event's fields"},
		"prev_hash!", str("SHA-256 of the previous event, hex"), "hash!", str("SHA-256 over prev_hash and this event's canonical bytes, hex"))
	openItem := object("invoice_id!", id(""), "number!", str(""), "amount!", amount(""), "open_amount!", amount(""),
		"issue_date!", date(""), "due_date!", date(""), "days_overdue!", integer("0 when not due at as_of", 0, 1<<31),
		"disputed!", boolean(""), "plan_id", str("payment plan covering it"))
	customer := object("id!", id(""), "name!", str(""), "country!", str(""), "sector", str(""), "segment", str(""),
		"currency!", currency(""), "terms!", str("e.g. net30"), "terms_days!", integer("", 0, 365), "registered_on!", date(""),
		"credit_limit!", amount(""), "exposure!", amount("open invoices − unallocated cash − open credit"),
		"utilisation_bp!", nullable(schema{"type": "integer", "description": "exposure / limit in basis points; null when the limit is 0"}),
		"open_invoice_total!", amount(""), "unallocated_cash!", amount(""), "open_credit!", amount(""),
		"overdue_total!", amount(""), "disputed_total!", amount(""), "open_items!", array(openItem, ""),
		"insurer", str(""), "insured_cover!", amount(""), "declaration_days", integer("", 1, 365),
		"rating", object("agency!", str(""), "score!", integer("", 0, 100), "grade", str(""), "rated_on!", date("")),
		"as_of!", date(""), "known_at", instant(""), "stream_version!", integer("", 0, 1<<62))
	return schema{
		"schemas": schema{
			"Error": object("error!", object("code!", str("snake_case code clients switch on"), "message!", str("for people"),
				"field", str("the offending field, e.g. allocations[0].amount"))),
			"Warning":     object("code!", enum("", "credit_limit_exceeded", "payment_terms_beyond_legal_cap"), "message!", str("")),
			"Appended":    appendResult,
			"Allocation":  object("invoice_id!", id("invoice"), "amount!", amount("amount applied")),
			"Instalment":  object("due_date!", date("due date"), "amount!", amount("instalment amount")),
			"Customer":    customer,
			"Envelope":    envelope,
			"LogPage":     object("events!", array(ref("Envelope"), ""), "next!", integer("position to ask for next", 1, 1<<62), "head!", integer("last committed position", 0, 1<<62)),
			"StreamPage":  object("events!", array(ref("Envelope"), ""), "next!", integer("stream version to ask for next", 1, 1<<62)),
			"Token":       token,
			"IssuedToken": issued,
		},
		"responses": errorResponses(),
		"securitySchemes": schema{
			"bearer": schema{"type": "http", "scheme": "bearer", "description": "a token from POST /v1/tokens (enc_…), or the daemon's ENCOURS_ADMIN_TOKEN"},
		},
	}
}

// errorStatuses describes each error status and the codes it carries.
var errorStatuses = map[int]string{
	400: "the request cannot be read: invalid_json, invalid_utf8, unknown_field, invalid_field, missing_field, invalid_date, unknown_currency, amount_overflow, invalid_id, invalid_header, invalid_query",
	401: "no valid bearer token: unauthenticated (WWW-Authenticate: Bearer)",
	403: "the token's role may not use this route: forbidden",
	404: "the subject does not exist: unknown_customer, unknown_invoice, unknown_payment, unknown_credit_note, unknown_token, route_not_found",
	409: "the command contradicts the current state: duplicate_invoice, customer_exists, allocation_exceeds_open_amount, already_disputed, idempotency_key_reused, token_name_taken, token_already_revoked, version_conflict (retry)",
	413: "body above 1 MiB: body_too_large",
	415: "Content-Type is not application/json: unsupported_media_type",
	422: "a well-formed command the domain refuses: due_before_issue, currency_mismatch, amount_not_positive, date_before_issue, date_out_of_order",
	429: "the token is over its request budget: rate_limited (Retry-After)",
	500: "anything else: internal (details only in the daemon's log)",
	503: "the event store is unavailable: not_ready",
}

func errorResponses() schema {
	out := schema{}
	for status, d := range errorStatuses {
		out[strconv.Itoa(status)] = schema{"description": d,
			"content": schema{"application/json": schema{"schema": ref("Error")}}}
	}
	return out
}

var wildcardNameRE = regexp.MustCompile(`\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// openAPI builds the description of the routes' operations, the roles from their
// permissions.
func openAPI(routes []route, operations map[string]operation) []byte {
	perms := map[string]auth.Permission{}
	for _, rt := range routes {
		perms[rt.pattern] = rt.perm
	}
	paths := schema{}
	patterns := make([]string, 0, len(operations))
	for p := range operations {
		patterns = append(patterns, p)
	}
	slices.Sort(patterns)
	for _, pattern := range patterns {
		op := operations[pattern]
		method, path, ok := strings.Cut(pattern, " ")
		invariant(ok, "operation %q: want \"METHOD /path\"", pattern)
		item, _ := paths[path].(schema)
		if item == nil {
			item = schema{}
			paths[path] = item
		}
		item[strings.ToLower(method)] = operationObject(pattern, path, op, perms[pattern])
	}
	doc := schema{
		"openapi": "3.1.0",
		"info": schema{
			"title":       "Encours API",
			"version":     "1",
			"description": "Event-sourced receivables ledger. JSON over HTTP in UTF-8; amounts are integers in minor units; dates are YYYY-MM-DD; instants RFC 3339 UTC. Errors are {\"error\": {\"code\", \"message\", \"field\"}}; a refused write appends nothing.",
		},
		"security":   []any{schema{"bearer": []any{}}},
		"paths":      paths,
		"components": components(),
	}
	b, err := json.MarshalIndent(doc, "", "  ")
	invariant(err == nil, "marshal the API description: %v", err)
	return append(b, '\n')
}

func operationObject(pattern, path string, op operation, perm auth.Permission) schema {
	o := schema{"operationId": operationID(pattern), "summary": op.summary, "tags": []any{op.tag}}
	roles := []string{}
	for _, r := range auth.RolesWith(perm) {
		roles = append(roles, string(r))
	}
	o["x-encours-roles"] = roles
	desc := op.description
	if perm == auth.PermPublic {
		o["security"] = []any{}
	} else {
		desc = strings.TrimSpace(desc + " Roles: " + strings.Join(roles, ", ") + ".")
	}
	if desc != "" {
		o["description"] = desc
	}
	var params []any
	for _, m := range wildcardNameRE.FindAllStringSubmatch(path, -1) {
		ex, ok := op.pathExamples[m[1]]
		invariant(ok, "operation %s: no example for {%s}", pattern, m[1])
		params = append(params, schema{"name": m[1], "in": "path", "required": true, "schema": id(""), "example": ex})
	}
	for _, q := range op.query {
		params = append(params, schema{"name": q.name, "in": "query", "required": false, "description": q.description, "schema": q.schema})
	}
	if op.idempotent {
		params = append(params, schema{"name": "Idempotency-Key", "in": "header", "required": false,
			"description": "a retry with the same key and body returns the first answer and appends nothing",
			"schema":      schema{"type": "string", "pattern": `^[!-~]{1,255}$`}})
	}
	if params != nil {
		o["parameters"] = params
	}
	if op.body != nil {
		invariant(json.Valid([]byte(op.example)), "operation %s: example is not JSON", pattern)
		o["requestBody"] = schema{"required": true, "content": schema{"application/json": schema{
			"schema": op.body, "example": json.RawMessage(op.example)}}}
	}
	responses := schema{}
	success := schema{"description": http.StatusText(op.success)}
	if op.response != nil {
		success["content"] = schema{cmp.Or(op.responseType, "application/json"): schema{"schema": op.response}}
	}
	responses[strconv.Itoa(op.success)] = success
	statuses := slices.Clone(op.errors)
	if perm != auth.PermPublic {
		statuses = append(statuses, 401, 403, 429)
	}
	statuses = append(statuses, 500)
	for _, s := range statuses {
		_, known := errorStatuses[s]
		invariant(known, "operation %s: no description of status %d", pattern, s)
		responses[strconv.Itoa(s)] = schema{"$ref": "#/components/responses/" + strconv.Itoa(s)}
	}
	o["responses"] = responses
	return o
}

// operationID is a stable name for a route: "post_v1_customers_id_credit-limit".
func operationID(pattern string) string {
	r := strings.NewReplacer(" /", "_", "/", "_", "{", "", "}", "", ".", "_")
	return strings.ToLower(r.Replace(pattern))
}

// handleOpenAPI serves GET /openapi.json.
func (a *api) handleOpenAPI(w http.ResponseWriter, _ *http.Request) {
	writeBytes(w, http.StatusOK, a.openAPI)
}

// operation documents an Extra route.
func (x Extra) operation() operation {
	op := operation{summary: x.Summary, tag: cmp.Or(x.Tag, "reads"), pathExamples: x.PathExamples,
		success: cmp.Or(x.Success, http.StatusOK), response: schema{"type": "object"}, errors: []int{400, 404},
		responseType: x.ResponseType}
	if x.Response != nil || op.success == http.StatusNoContent {
		op.response = x.Response
	}
	for _, q := range x.Query {
		name, desc, _ := strings.Cut(q, ":")
		name = strings.TrimSpace(name)
		ps := schema{"type": "string"}
		if s, ok := x.Params[name]; ok {
			ps = s
		}
		op.query = append(op.query, param{name, strings.TrimSpace(desc), ps})
	}
	if x.Body != nil {
		op.body, op.example = x.Body, x.Example
		op.errors = append(op.errors, 409, 413, 415)
	}
	if x.Errors != nil {
		op.errors = x.Errors
	}
	return op
}
