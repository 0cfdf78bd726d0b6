package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"reflect"
	"testing"
	"unicode/utf8"

	"github.com/encours/encours/domain"
)

// checkKeysByTokens is the json.Decoder token walk that checkKeys replaced, kept as the
// oracle of FuzzCheckKeys: both must refuse the same bodies with the same code and field.
func checkKeysByTokens(dec *json.Decoder, t reflect.Type) error {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	tok, err := dec.Token()
	if err != nil {
		return jsonError(err)
	}
	switch tok {
	case json.Delim('{'):
		var names map[string]reflect.Type
		if t != nil && t.Kind() == reflect.Struct {
			names = jsonFields(t)
		}
		seen := map[string]bool{}
		for dec.More() {
			kt, err := dec.Token()
			if err != nil {
				return jsonError(err)
			}
			key, _ := kt.(string)
			if seen[key] {
				return invalid(codeInvalidJSON, key, "field %q appears twice", key)
			}
			seen[key] = true
			var ft reflect.Type
			if names != nil {
				var known bool
				if ft, known = names[key]; !known {
					return invalid(codeUnknownField, key, "unknown field %q (field names are case-sensitive)", key)
				}
			}
			if err := checkKeysByTokens(dec, ft); err != nil {
				return err
			}
		}
		_, err = dec.Token()
	case json.Delim('['):
		var et reflect.Type
		if t != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) && t.Elem().Kind() != reflect.Uint8 {
			et = t.Elem()
		}
		for dec.More() {
			if err := checkKeysByTokens(dec, et); err != nil {
				return err
			}
		}
		_, err = dec.Token()
	}
	if err != nil {
		return jsonError(err)
	}
	return nil
}

var keySeeds = []string{
	`{"customer_id":"ACME","invoice_id":"I1","number":"1","amount":125000,"currency":"EUR","issue_date":"2026-11-02","due_date":"2026-12-02"}`,
	`{"customer_id":"ACME","payment_id":"P1","amount":1,"currency":"EUR","received_on":"2026-11-02","allocations":[{"invoice_id":"I1","amount":1},{"invoice_id":"I2","amount":2,"amount":3}]}`,
	`{"allocations":[{"invoice_id":"I1","Amount":1}]}`, `{"allocations":[null,{},[{"x":1,"x":2}]]}`,
	`{"amount":1,"Amount":5}`, `{"a\u006dount":1,"amount":2}`, `{"amount":{"x":1,"x":2}}`,
	` { "amount" : [ 1 , { "y" : "\"}" , "y" : 2 } ] } `, `{"number":"\\\"","number":"x"}`,
	`[]`, `"s"`, `12`, `true`, `{"customer_id":null}`, `{"é":1}`,
}

// FuzzCheckKeys checks checkKeys against the token walk on every body that decodes.
func FuzzCheckKeys(f *testing.F) {
	for _, s := range keySeeds {
		f.Add([]byte(s))
	}
	types := []reflect.Type{reflect.TypeFor[*invoiceRequest](), reflect.TypeFor[*paymentRequest](), reflect.TypeFor[map[string]any]()}
	f.Fuzz(func(t *testing.T, body []byte) {
		if !utf8.Valid(body) || !json.Valid(body) {
			return // decodeStrict runs checkKeys only on a body that decoded
		}
		for _, typ := range types {
			got := checkKeys(body, typ)
			want := checkKeysByTokens(json.NewDecoder(bytes.NewReader(body)), typ)
			if (got == nil) != (want == nil) {
				t.Fatalf("%v %q: checkKeys %v, token walk %v", typ, body, got, want)
			}
			if got == nil {
				continue
			}
			var g, w *domain.Error
			if !asDomain(got, &g) || !asDomain(want, &w) || g.Code != w.Code || g.Field != w.Field {
				t.Fatalf("%v %q: checkKeys %v, token walk %v", typ, body, got, want)
			}
		}
	})
}

func asDomain(err error, out **domain.Error) bool {
	de, ok := err.(*domain.Error)
	*out = de
	return ok
}

// BenchmarkDecodeStrict decodes the body of one POST /v1/invoices as its route does.
func BenchmarkDecodeStrict(b *testing.B) {
	body := []byte(keySeeds[0])
	b.ReportAllocs()
	for b.Loop() {
		var req invoiceRequest
		if err := decodeStrict(body, &req); err != nil {
			b.Fatal(err)
		}
	}
}

// FuzzPlainString checks plainString against json.Unmarshal: whenever it answers, it
// answers what encoding/json reads.
func FuzzPlainString(f *testing.F) {
	for _, s := range []string{`"ACME"`, `"2026-01-05"`, `"a\"b"`, `"\u00e9"`, `"é"`, `""`, `"`, `"a"b"`, `12`, "\"\x01\"", "\"\xff\""} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, v []byte) {
		got, ok := plainString(v)
		if !ok {
			return
		}
		var want string
		if err := json.Unmarshal(v, &want); err != nil || got != want {
			t.Fatalf("%q: plainString %q, json.Unmarshal %q (%v)", v, got, want, err)
		}
	})
}

// BenchmarkBuildIssueInvoice decodes and checks the body of one POST /v1/invoices as its
// route does, up to the command.
func BenchmarkBuildIssueInvoice(b *testing.B) {
	body := []byte(keySeeds[0])
	a := &api{}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := a.buildIssueInvoice(context.Background(), nil, body); err != nil {
			b.Fatal(err)
		}
	}
}
