package main

import (
	"net/http"

	"github.com/encours/encours/handlers/httpapi"
)

// handlerBuilt is called with the daemon's HTTP handler once it is built, before it serves:
// tests reach the real route table through it (TestDaemonRoleMatrix, TestDaemonOpenAPI).
var handlerBuilt = func(http.Handler) {}

// The API description of the routes other packages serve (httpapi.Options.Extra): their
// success bodies, query parameters and error statuses, which documentExtras adds to the
// routes by pattern. TestDaemonOpenAPI fails for a served route this table misses.
type extraDoc struct {
	response     map[string]any
	responseType string
	errors       []int
	params       map[string]map[string]any
	body         map[string]any
	example      string
	success      int // when the route's own differs from what the wiring assumed
}

type jschema = map[string]any

func jobject(props ...any) jschema {
	properties := jschema{}
	var required []string
	for i := 0; i+1 < len(props); i += 2 {
		name := props[i].(string)
		if len(name) > 1 && name[len(name)-1] == '!' {
			name = name[:len(name)-1]
			required = append(required, name)
		}
		properties[name] = props[i+1]
	}
	s := jschema{"type": "object", "properties": properties}
	if required != nil {
		s["required"] = required
	}
	return s
}

func jstr(d string) jschema          { return jschema{"type": "string", "description": d} }
func jint(d string) jschema          { return jschema{"type": "integer", "description": d} }
func jdate(d string) jschema         { return jschema{"type": "string", "format": "date", "description": d} }
func jarray(items jschema) jschema   { return jschema{"type": "array", "items": items} }
func jnullable(s jschema) jschema    { return jschema{"oneOf": []any{s, jschema{"type": "null"}}} }
func jenum(values ...string) jschema { return jschema{"type": "string", "enum": values} }
func jrange(lo, hi int) jschema      { return jschema{"type": "integer", "minimum": lo, "maximum": hi} }
func jpattern(p, d string) jschema   { return jschema{"type": "string", "pattern": p, "description": d} }
func jdescribed(d string) jschema    { return jschema{"type": "object", "description": d} }
func jmoney(d string) jschema {
	return jobject("amount!", jint(d+" (minor units)"), "currency!", jstr("ISO 4217"))
}
func answer(data jschema) jschema { return jobject("basis!", basisSchema, "data!", data) }

// jlist is a page of a list: {key: [items], total, next_offset}.
func jlist(key string, items jschema) jschema {
	return jobject(key+"!", jarray(items), "total!", jint("items in all pages"),
		"next_offset!", jschema{"type": []string{"integer", "null"}, "description": "offset of the next page; null on the last"})
}

// pageParams are the schemas of a list's limit and offset.
func pageParams(maxLimit int) map[string]map[string]any {
	return map[string]map[string]any{"limit": jrange(1, maxLimit), "offset": jschema{"type": "integer", "minimum": 0}}
}

var (
	basisSchema = jobject("as_of!", jdate("business date of the figures"), "known_at", jschema{"type": "string", "format": "date-time"},
		"position!", jint("last log position the figures include"), "chain_hash!", jstr("hash of the event at position"),
		"live!", jschema{"type": "boolean", "description": "the running projection, not a replay"})
	figuresSchema = jobject("dimension!", jstr(""), "key!", jstr(""), "as_of!", jdate(""), "currency!", jstr(""),
		"customers!", jint(""), "open_invoices!", jmoney(""), "unallocated_cash!", jmoney(""), "open_credit_notes!", jmoney(""),
		"exposure!", jmoney("open invoices − unallocated cash − open credit notes"), "credit_limit!", jmoney(""),
		"utilisation_bp!", jnullable(jint("exposure / limit, basis points")), "overdue!", jmoney(""),
		"aging!", jarray(jobject("label!", jstr("not_due, 1-30, …, over_120"), "amount!", jmoney(""), "items!", jint(""))),
		"dso!", jdescribed("DSO period and countback, BPDSO, ADD (hundredths of a day)"), "cei!", jdescribed("collection effectiveness index"),
		"payments!", jdescribed("days to pay and days beyond terms"), "provision!", jdescribed("suggested provision"))
	alertSchema = jobject("alert_id!", jstr(""), "customer_id!", jstr(""), "rule!", jstr(""), "subject!", jstr(""),
		"severity!", jenum("info", "warning", "critical"), "status!", jenum("open", "acknowledged", "resolved"), "message!", jstr(""),
		"explanation", jdescribed("baseline, current value, threshold, the events that moved it"), "trigger_position!", jint(""),
		"raised_on!", jdate(""), "acknowledgements!", jarray(jdescribed("who acknowledged it, when, with what comment")))
	subscriptionSchema = jobject("subscription_id!", jstr(""), "channel!", jenum("webhook", "sse", "kafka"), "url", jstr(""),
		"filter!", jdescribed("customer_ids, segments, rules, min_severity"), "created_on!", jdate(""), "created_by!", jstr(""),
		"checkpoint!", jint(""), "dead_letters!", jint(""))
	dateParam    = jschema{"type": "string", "format": "date"}
	instantParam = jschema{"type": "string", "format": "date-time"}
	readParams   = map[string]map[string]any{"as_of": dateParam, "known_at": instantParam, "from": dateParam,
		"format": jenum("json", "csv"), "limit": jrange(1, 500), "offset": jschema{"type": "integer", "minimum": 0},
		"sort": jenum("id", "exposure"), "weeks": jrange(1, 104)}
)

// extraDocs documents each Extra route by pattern.
var extraDocs = map[string]extraDoc{
	"GET /v1/customers": {response: answer(jobject("customers!", jarray(jobject("customer_id!", jstr(""), "name!", jstr(""),
		"segment!", jstr(""), "exposure!", jmoney(""), "credit_limit!", jmoney(""), "utilisation_bp!", jnullable(jint("")),
		"overdue!", jmoney(""), "open_items!", jint(""))), "total!", jint("customers matching"), "next_offset!", jnullable(jint("")))),
		errors: []int{400}, params: readParams},
	"GET /v1/portfolio": {response: answer(jobject("figures!", jnullable(figuresSchema), "concentration!", jnullable(jdescribed("top 1/5/10 shares, HHI")),
		"by_segment!", jnullable(jarray(figuresSchema)), "by_currency!", jarray(figuresSchema), "warnings!", jarray(jstr("")))),
		errors: []int{400, 422}, params: readParams},
	"GET /v1/aging": {response: answer(jarray(jobject("customer_id!", jstr(""), "name!", jstr(""), "currency!", jstr(""),
		"buckets!", jarray(jobject("label!", jstr(""), "amount!", jint("minor units"))), "total!", jint(""), "overdue!", jint(""), "exposure!", jint("")))),
		errors: []int{400}, params: readParams},
	"GET /v1/forecast":            {response: answer(jdescribed("weekly expected cash-in")), errors: []int{400}, params: readParams},
	"GET /v1/simulations/default": {response: answer(jdescribed("exposure lost, insured part, provision, concentration after")), errors: []int{400, 404}, params: readParams},
	"GET /v1/penalties":           {response: answer(jdescribed("L441-10 penalties per late invoice, with the indemnity")), errors: []int{400, 404}, params: readParams},
	"GET /v1/exports/{report}": {response: jschema{"type": "string", "description": "the export's bytes (CSV or JSON); its manifest is in X-Encours-Manifest"},
		responseType: "text/csv", errors: []int{400, 404}, params: readParams},
	"POST /v1/import": {response: jobject("rows!", jint("data rows read"), "customers!", jint(""), "commands!", jint(""),
		"events_appended!", jint("events appended (none on a dry run or a refused file)"), "batches!", jint("appends made"),
		"already_present!", jint("rows whose batch an earlier import appended"), "skipped!", jint(""),
		"rejected_rows!", jint(""), "rejected_customers!", jint("customers held back under continue"),
		"rejects", jarray(jobject("row!", jint("1-based data row"), "field", jstr("column"), "code!", jstr(""), "reason!", jstr(""))),
		"dry_run!", jschema{"type": "boolean"}),
		errors: []int{400, 413, 415, 422}},
	"GET /v1/alerts":                 {response: jlist("alerts", alertSchema), errors: []int{400}, params: pageParams(1000)},
	"GET /v1/alerts/stream":          {response: jstr("server-sent events, one alert event each"), responseType: "text/event-stream", errors: []int{}},
	"GET /v1/alerts/{id}":            {response: alertSchema, errors: []int{404}},
	"POST /v1/alerts/{id}/ack":       {response: alertSchema, errors: []int{400, 404, 409, 413}, body: jobject("comment", jstr("why, what was done")), example: `{"comment":"called the CFO: payment on Friday"}`},
	"POST /v1/alerts/{id}/resolve":   {response: alertSchema, errors: []int{400, 404, 409, 413}, body: jobject("comment", jstr("what settled it")), example: `{"comment":"paid by transfer, confirmed by phone"}`},
	"GET /v1/customers/{id}/signals": {response: jdescribed("the customer's signals, drift charts, risk score and its factors"), errors: []int{400, 404}, params: readParams},
	"GET /v1/dunning":                {response: jobject("as_of!", jdate(""), "proposals!", jarray(jdescribed("next reminder of an overdue invoice"))), errors: []int{400}, params: readParams},
	"POST /v1/subscriptions": {response: subscriptionSchema, errors: []int{400, 413},
		body: jobject("channel!", jenum("webhook", "sse", "kafka"), "url", jpattern("^https?://", "webhook URL"),
			"filter", jobject("customer_ids", jarray(jstr("")), "segments", jarray(jstr("")), "rules", jarray(jstr("")), "min_severity", jenum("info", "warning", "critical")),
			"secret", jstr("HMAC secret (default: a fresh one, answered once)")),
		example: `{"channel":"webhook","url":"https://chat-bridge.example.com/encours","filter":{"segments":["sme"],"min_severity":"warning"}}`},
	"GET /v1/subscriptions":                {response: jlist("subscriptions", subscriptionSchema), errors: []int{400}, params: pageParams(1000)},
	"DELETE /v1/subscriptions/{id}":        {success: http.StatusNoContent, errors: []int{404}},
	"GET /v1/dead-letters":                 {response: jlist("dead_letters", jdescribed("an alert delivery that failed every attempt")), errors: []int{400}, params: pageParams(1000)},
	"POST /v1/dead-letters/{id}/redeliver": {success: http.StatusAccepted, response: jobject("id!", jstr(""), "status!", jstr("")), errors: []int{404}},
	"GET /{$}":                             {response: jstr("the dashboard's page"), responseType: "text/html", errors: []int{}},
	"GET /assets/{path...}":                {response: jstr("a dashboard asset"), responseType: "application/octet-stream", errors: []int{404}},
}

// documentExtras adds the descriptions of extraDocs to the Extra routes.
func documentExtras(xs []httpapi.Extra) {
	for i := range xs {
		d, ok := extraDocs[xs[i].Pattern]
		if !ok {
			continue // TestDaemonOpenAPI names it
		}
		x := &xs[i]
		x.Response, x.ResponseType, x.Errors, x.Params = d.response, d.responseType, d.errors, d.params
		if d.body != nil {
			x.Body, x.Example = d.body, d.example
		}
		if d.success != 0 {
			x.Success = d.success
		}
	}
}
