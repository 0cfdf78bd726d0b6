package httpapi

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"

	"github.com/encours/encours/eventstore"
	"github.com/encours/encours/handlers/command"
)

// appendResultJSON must give json.Marshal's bytes (and writeJSON's newline), and give way to
// it for anything it does not write itself.
func TestAppendResultJSONIsMarshal(t *testing.T) {
	for _, res := range []command.Result{
		{AppendResult: eventstore.AppendResult{Stream: "customer-ACME", StreamVersion: 7, Position: 1234567890123, EventIDs: []string{"0190b6a2-7c1e-7e2a-9d7a-3c1f2b4a5d6e"}}},
		{AppendResult: eventstore.AppendResult{Stream: "customer-A", StreamVersion: 0, Position: 0, EventIDs: []string{}}},
		{AppendResult: eventstore.AppendResult{Stream: "customer-A", StreamVersion: 3, Position: 9, EventIDs: []string{"a", "b", "c"}}},
	} {
		got, ok := appendResultJSON(res)
		want, err := json.Marshal(res)
		if err != nil {
			t.Fatal(err)
		}
		if !ok || string(got) != string(want)+"\n" {
			t.Errorf("appendResultJSON(%+v) = %q, %v; want %q", res, got, ok, want)
		}
	}
	for _, res := range []command.Result{
		{AppendResult: eventstore.AppendResult{Stream: "customer-<A>", EventIDs: []string{}}},
		{AppendResult: eventstore.AppendResult{Stream: "customer-A", EventIDs: []string{`q"uote`}}},
		{AppendResult: eventstore.AppendResult{Stream: "customer-é", EventIDs: []string{}}},
		{AppendResult: eventstore.AppendResult{Stream: "customer-A", EventIDs: []string{}}, Warnings: []command.Warning{{Code: "c", Message: "m"}}},
	} {
		if got, ok := appendResultJSON(res); ok {
			t.Errorf("appendResultJSON(%+v) = %q, want it to give way to json.Marshal", res, got)
		}
	}
}

// decodeFlat, where it answers, must fill a request exactly as the full decoder does, and
// leave to it every body the full decoder refuses.
func TestDecodeFlatMatchesDecoder(t *testing.T) {
	for i, body := range []string{
		`{"customer_id":"C1","invoice_id":"I1","number":"N1","amount":125000,"currency":"EUR","issue_date":"2026-01-05","due_date":"2026-02-04"}`,
		" \n{ \"amount\" : -0 , \"currency\":null,\"number\":\"a\\\"b\"}\t",
		`{"amount":{"x":[1,2,{"y":null}]},"number":[1,"2"],"currency":true}`,
		`{}`,
		`{"amount":1,"amount":2}`,
		`{"Amount":1}`,
		`{"unknown":1}`,
		`{"amount":1} {}`,
		`{"amount":01}`,
		`[]`,
		`{"amount":{"x":1,"x":2}}`,
		`{"\u0061mount":5}`,
		`"text"`,
		`{"amount":1,}`,
		``,
	} {
		ok := checkDecodeFlat(t, []byte(body))
		if wantFast := i < 4; ok != wantFast {
			t.Errorf("decodeFlat(%q) answered %v, want %v", body, ok, wantFast)
		}
	}
	var pay paymentRequest
	if decodeFlat([]byte(`{"amount":1}`), &pay) {
		t.Error("decodeFlat took a request type with a slice field")
	}
}

func FuzzDecodeFlat(f *testing.F) {
	f.Add([]byte(`{"customer_id":"C1","invoice_id":"I1","number":"N1","amount":125000,"currency":"EUR","issue_date":"2026-01-05","due_date":"2026-02-04"}`))
	f.Add([]byte(`{"amount":{"x":[1,2,{"y":null}]},"number":[1,"2"],"currency":true}`))
	f.Add([]byte(`{"amount":1,"amount":2}`))
	f.Fuzz(func(t *testing.T, body []byte) { checkDecodeFlat(t, body) })
}

// checkDecodeFlat fails t when decodeFlat's answer for body differs from the full decoder's,
// and reports whether decodeFlat answered.
func checkDecodeFlat(t *testing.T, body []byte) bool {
	t.Helper()
	{
		var fast invoiceRequest
		ok := decodeFlat(body, &fast)
		var slow invoiceRequest
		err := decodeStrictSlow(body, &slow)
		if ok && err != nil {
			t.Errorf("decodeFlat accepted %q, the decoder refuses it: %v", body, err)
		}
		if ok && !reflect.DeepEqual(fast, slow) {
			t.Errorf("decodeFlat(%q) = %+v, decoder %+v", body, fast, slow)
		}
		if !ok && !reflect.DeepEqual(fast, invoiceRequest{}) {
			t.Errorf("decodeFlat(%q) gave way but changed the request: %+v", body, fast)
		}
		return ok
	}
}

// decodeStrictSlow is decodeStrict without its fast path.
func decodeStrictSlow(body []byte, v any) error {
	saved := flatDisabled
	flatDisabled = true
	defer func() { flatDisabled = saved }()
	return decodeStrict(body, v)
}

// requestHash must hash what it always hashed (each part length-prefixed, in order), or every
// idempotency key stored before would read as reused with another request.
func TestRequestHashParts(t *testing.T) {
	r := httptest.NewRequest(http.MethodPost, "/v1/invoices/I-1/dispute", nil)
	r.Pattern = "POST /v1/invoices/{id}/dispute"
	r.SetPathValue("id", "I-1")
	body := []byte(`{"reason":"damaged"}`)
	h := sha256.New()
	for _, p := range []string{"encours-request-v1", "POST", r.Pattern, "id", "I-1", string(body)} {
		h.Write(binary.AppendUvarint(nil, uint64(len(p))))
		h.Write([]byte(p))
	}
	if got, want := requestHash(r, body), h.Sum(nil); !bytes.Equal(got, want) {
		t.Fatalf("requestHash = %x, want %x", got, want)
	}
}
