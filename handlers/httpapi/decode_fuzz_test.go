package httpapi

import (
	"context"
	"errors"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/encours/encours/domain"
	"github.com/encours/encours/handlers/command"
)

// FuzzWriteDecoders feeds arbitrary bodies to the request decoders of the routes that need
// no service (style §7, fuzz the decoders). Checks: no panic, and every refusal is a
// *domain.Error with a code, so the API always answers in its error shape with a 4xx.
func FuzzWriteDecoders(f *testing.F) {
	seeds := []string{
		`{"id":"ACME","name":"Acme","country":"FR","currency":"EUR","terms_days":30,"credit_limit":5000000}`,
		`{"customer_id":"ACME","invoice_id":"I1","number":"1","amount":125000,"currency":"EUR","issue_date":"2026-11-02","due_date":"2026-12-02"}`,
		`{"customer_id":"ACME","payment_id":"P1","amount":1,"currency":"EUR","received_on":"2026-11-02","allocations":[{"invoice_id":"I1","amount":1}]}`,
		`{"amount":1e400}`, `{"amount":-0}`, `{"allocations":[null,{}]}`, `{"issue_date":"2026-02-29"}`,
		`[]`, `{`, `{"a":1}`, `{"amount":"1"}`, `{"currency":null}`, `{} {}`,
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	a := &api{clock: command.NewManualClock(testNowForFuzz)}
	builders := []builder{a.buildRegisterCustomer, a.buildIssueInvoice, a.buildRecordPayment, a.buildIssueCreditNote}
	f.Fuzz(func(t *testing.T, body []byte) {
		if !utf8.Valid(body) {
			return // readBody refuses it before any decoder runs
		}
		for i, build := range builders {
			cmd, err := build(context.Background(), nil, body)
			if err == nil {
				if cmd == nil {
					t.Fatalf("builder %d: nil command and nil error for %q", i, body)
				}
				continue
			}
			var de *domain.Error
			if !errors.As(err, &de) || de.Code == "" || statusOf(err) >= 500 {
				t.Fatalf("builder %d: refusal %v (%T) for %q is not a 4xx *domain.Error", i, err, err, body)
			}
		}
	})
}

var testNowForFuzz = time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
