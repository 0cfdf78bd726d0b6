package domain_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/encours/encours/domain"
)

// sampleEvents has one event of every type of the catalogue, every field set. Their JSON is
// kept in testdata/events/<Type>.json (TestEventSamples, -update) and seeds FuzzDecodeEvent.
func sampleEvents() []domain.Event {
	inst := []domain.Instalment{{Due: day("2025-04-30"), Amount: eur(15_000)}, {Due: day("2025-05-31"), Amount: eur(15_000)}}
	return []domain.Event{
		registered(),
		domain.CreditLimitChanged{Limit: eur(250_000), Previous: eur(100_000), Reason: "annual review", ApprovedBy: "dcf", ChangedOn: day("2025-03-01")},
		domain.InvoiceIssued{InvoiceID: "I1", Number: "F-2025-001", Amount: eur(125_000), IssueDate: day("2025-01-10"), DueDate: day("2025-02-09"), Terms: "net30"},
		domain.CreditNoteIssued{CreditNoteID: "CN1", InvoiceID: "I1", Amount: eur(10_000), AppliedToInvoice: eur(6_000), IssueDate: day("2025-02-15"), Reason: "damaged goods"},
		domain.PaymentReceived{PaymentID: "P1", Amount: eur(30_000), ReceivedOn: day("2025-01-25"), Allocations: []domain.Allocation{alloc("I1", 10_000)}, Unallocated: eur(20_000), Reference: "VIR 0042"},
		domain.PaymentAllocated{PaymentID: "P1", AllocatedOn: day("2025-02-10"), Allocations: []domain.Allocation{alloc("I3", 5_000)}},
		domain.PaymentReversed{PaymentID: "P1", Amount: eur(30_000), ReversedOn: day("2025-02-20"), Reason: "bounced",
			Reopened: []domain.Allocation{alloc("I1", 10_000), alloc("I3", 5_000)}, UnallocatedRemoved: eur(15_000)},
		domain.InvoiceDisputed{InvoiceID: "I2", DisputedOn: day("2025-02-01"), Reason: "quantity short"},
		domain.DisputeResolved{InvoiceID: "I2", ResolvedOn: day("2025-02-20"), Outcome: "rejected", Note: "delivery note signed"},
		domain.PaymentPlanAgreed{PlanID: "PL1", InvoiceIDs: []domain.InvoiceID{"I1", "I2"}, Instalments: inst, AgreedOn: day("2025-03-01")},
		domain.PromiseToPayRecorded{PromiseID: "PR1", Amount: eur(10_000), PromisedFor: day("2025-03-15"), InvoiceIDs: []domain.InvoiceID{"I1"}, RecordedOn: day("2025-03-01"), Note: "CFO on the phone"},
		domain.ReminderSent{InvoiceID: "I1", Level: 2, Channel: "letter", SentOn: day("2025-02-20")},
		domain.InvoiceWrittenOff{InvoiceID: "I2", Amount: eur(20_000), WrittenOffOn: day("2025-06-30"), Reason: "liquidation"},
		domain.ExternalRatingReceived{Agency: "Banque de France", Score: 72, Grade: "4+", RatedOn: day("2025-02-01")},
		domain.CreditInsuranceCoverChanged{Insurer: "Allianz Trade", Covered: eur(80_000), DeclarationDays: 90, ChangedOn: day("2025-02-01")},
		domain.ExchangeRatesPublished{Reporting: "EUR", RatesOn: day("2025-02-03"), Rates: []domain.Rate{{Currency: "USD", E9: 963_400_000}, {Currency: "GBP", E9: 1_198_700_000}}, Source: "ECB"},
		domain.AlertRaised{AlertID: "A1", CustomerID: custID, Rule: "limit", Subject: "C1", Severity: "warning", Message: "exposure at 85 % of the limit",
			Explanation: json.RawMessage(`{"exposure":85000,"limit":100000}`), TriggerPosition: 42, RaisedOn: day("2025-02-03")},
		domain.AlertResolved{AlertID: "A1", Reason: "exposure back under 80 %", ResolvedOn: day("2025-02-10")},
		domain.AlertAcknowledged{AlertID: "A1", Comment: "called the customer", AckedOn: day("2025-02-04")},
		domain.TokenIssued{TokenID: "tok_c2FtcGxlLXRva2Vu", Role: "writer", Name: "erp-sap", Hash: domain.Hash{0: 0xab, 31: 0xcd},
			IssuedBy: "admin", IssuedOn: day("2025-01-02")},
		domain.TokenRevoked{TokenID: "tok_c2FtcGxlLXRva2Vu", RevokedBy: "admin", RevokedOn: day("2025-06-30")},
	}
}

// TestEventSamples keeps testdata/events/*.json in step with the catalogue: one file per
// event type, each decoding back to the sample. A change here is a change of the stored
// schema: it needs an upcaster (style §5).
func TestEventSamples(t *testing.T) {
	samples := sampleEvents()
	var types []string
	for _, e := range samples {
		types = append(types, e.EventType())
		b, err := domain.EncodeEvent(e)
		require.NoError(t, err)
		// Stored as EncodeEvent writes it (compact: raw JSON such as AlertRaised.Explanation
		// keeps its layout through a decode), plus a newline.
		stored := string(b) + "\n"
		path := filepath.Join("testdata", "events", e.EventType()+".json")
		if *update {
			require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
			require.NoError(t, os.WriteFile(path, []byte(stored), 0o644))
		}
		want, err := os.ReadFile(path)
		require.NoError(t, err, "run go test ./domain -run EventSamples -update")
		assert.Equal(t, string(want), stored, e.EventType())
		back, err := domain.DecodeEvent(e.EventType(), domain.CurrentSchemaVersion, want)
		require.NoError(t, err)
		assert.Equal(t, e, back)
	}
	all := domain.EventTypes()
	slices.Sort(all)
	slices.Sort(types)
	assert.Equal(t, all, types, "one sample per event type")
}

// FuzzDecodeEvent: stored event JSON never panics the decoder, every rejection is a
// *domain.Error, and what decodes re-encodes to bytes that decode to the same event and
// encode to the same bytes (decode→encode→decode is stable).
func FuzzDecodeEvent(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("testdata", "events", "*.json"))
	require.NoError(f, err)
	require.NotEmpty(f, files)
	for _, path := range files {
		b, err := os.ReadFile(path)
		require.NoError(f, err)
		typ := strings.TrimSuffix(filepath.Base(path), ".json")
		f.Add(typ, b)
		f.Add(typ, []byte("{}"))
	}
	f.Add("Nope", []byte(`{}`))
	f.Add(domain.TypeInvoiceIssued, []byte(`{"amount":{"amount":"5","currency":"EUR"}}`))
	f.Add(domain.TypeInvoiceIssued, []byte(`{"amount":{"amount":1.5,"currency":"EUR"}}`))
	f.Add(domain.TypeInvoiceIssued, []byte(`{"issue_date":"2025-02-29"} {}`))
	f.Fuzz(func(t *testing.T, typ string, data []byte) {
		e, err := domain.DecodeEvent(typ, domain.CurrentSchemaVersion, data)
		if err != nil {
			var de *domain.Error
			if !errors.As(err, &de) {
				t.Fatalf("DecodeEvent(%q, %q): got %T %v, want *domain.Error", typ, data, err, err)
			}
			return
		}
		if e.EventType() != typ {
			t.Fatalf("DecodeEvent(%q) gave a %s", typ, e.EventType())
		}
		b1, err := domain.EncodeEvent(e)
		if err != nil {
			t.Fatalf("EncodeEvent(%+v): %v", e, err)
		}
		e2, err := domain.DecodeEvent(typ, domain.CurrentSchemaVersion, b1)
		if err != nil {
			t.Fatalf("decode of re-encoded %s %s: %v", typ, b1, err)
		}
		// AlertRaised.Explanation is raw JSON kept as written; re-encoding compacts it, so
		// only its second decoding is comparable. Every other event compares at once.
		if typ != domain.TypeAlertRaised && !reflect.DeepEqual(e, e2) {
			t.Fatalf("decode→encode→decode of %s:\n got %#v\nwant %#v", data, e2, e)
		}
		b2, err := domain.EncodeEvent(e2)
		if err != nil || !bytes.Equal(b1, b2) {
			t.Fatalf("encode is not stable: %s then %s (%v)", b1, b2, err)
		}
	})
}

// FuzzDecodeCanonical: arbitrary bytes (the seeds are valid events, so mutations are bit
// flips and truncations of real ones) never panic DecodeCanonical, every rejection is a
// *domain.Error, and accepted bytes re-encode to exactly themselves: canonical means one
// encoding per event.
func FuzzDecodeCanonical(f *testing.F) {
	e := fixedEnvelope(f)
	f.Add(domain.AppendCanonical(nil, &e))
	sparse := domain.Envelope{Stream: "s", RecordedAt: time.Unix(0, 0).UTC()}
	f.Add(domain.AppendCanonical(nil, &sparse))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		var got domain.Envelope
		if err := domain.DecodeCanonical(b, &got); err != nil {
			var de *domain.Error
			if !errors.As(err, &de) {
				t.Fatalf("DecodeCanonical: got %T %v, want *domain.Error", err, err)
			}
			return
		}
		if again := domain.AppendCanonical(nil, &got); !bytes.Equal(again, b) {
			t.Fatalf("accepted bytes re-encode differently:\n got %x\nwant %x", again, b)
		}
		// The view decodes the same envelope from the same bytes, copying none of them.
		var view domain.Envelope
		if err := domain.DecodeCanonicalView(b, &view); err != nil {
			t.Fatalf("DecodeCanonicalView refuses what DecodeCanonical accepts: %v", err)
		}
		if !reflect.DeepEqual(normalized(view), normalized(got)) {
			t.Fatalf("DecodeCanonicalView:\n got %+v\nwant %+v", view, got)
		}
	})
}

// FuzzParseDecimal: what parses formats back (FormatMinor) to a string that parses to the
// same minor units; refusals are *domain.Error.
func FuzzParseDecimal(f *testing.F) {
	for _, s := range []string{"55.94", "1250", "-3", ".07", "7.", "+1.5", "92233720368547758.07", "1e3", "", "-", "0.001"} {
		f.Add(s, uint8(2))
	}
	f.Add("1250", uint8(0))
	f.Add("1.234", uint8(3))
	f.Fuzz(func(t *testing.T, s string, decimals uint8) {
		d := int(decimals % 19)
		v, err := domain.ParseDecimal(s, d)
		if err != nil {
			var de *domain.Error
			if !errors.As(err, &de) {
				t.Fatalf("ParseDecimal(%q, %d): got %T %v, want *domain.Error", s, d, err, err)
			}
			return
		}
		text := domain.FormatMinor(v, d)
		back, err := domain.ParseDecimal(text, d)
		if err != nil || back != v {
			t.Fatalf("ParseDecimal(%q, %d) = %d, formats as %q, parses back as %d, %v", s, d, v, text, back, err)
		}
	})
}

// normalized makes envelopes comparable with reflect.DeepEqual whatever the capacity and
// nil-ness of their byte fields.
func normalized(e domain.Envelope) domain.Envelope {
	if len(e.Data) == 0 {
		e.Data = nil
	}
	if len(e.RequestHash) == 0 {
		e.RequestHash = nil
	}
	return e
}
