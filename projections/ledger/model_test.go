package ledger

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/encours/encours/domain"
)

// smallLog is a registered EUR customer with one invoice and one payment on it.
func smallLog(t *testing.T) *logBuilder {
	t.Helper()
	l := newLog()
	l.add(t, "A", domain.CustomerRegistered{CustomerID: "A", Name: "A", Country: "FR", Currency: "EUR", Terms: domain.Net(30), CreditLimit: eur(100_00), RegisteredOn: d("2024-01-01")}, time.Time{})
	l.add(t, "A", domain.InvoiceIssued{InvoiceID: "I1", Number: "I1", Amount: eur(50_00), IssueDate: d("2024-01-02"), DueDate: d("2024-02-01")}, time.Time{})
	l.add(t, "A", domain.PaymentReceived{PaymentID: "P1", Amount: eur(20_00), ReceivedOn: d("2024-01-10"),
		Allocations: []domain.Allocation{{InvoiceID: "I1", Amount: eur(20_00)}}, Unallocated: eur(0)}, time.Time{})
	return l
}

func TestApplyPositions(t *testing.T) {
	l := smallLog(t)
	cases := []struct {
		name    string
		feed    []int // indexes into the log
		wantErr error
		wantPos uint64
	}{
		{"in order", []int{0, 1, 2}, nil, 3},
		{"a repeat is ignored", []int{0, 1, 1, 0, 2}, nil, 3},
		{"a gap is refused", []int{0, 2}, ErrGap, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := New()
			var err error
			for _, i := range tc.feed {
				if err = m.Apply(l.envs[i]); err != nil {
					break
				}
			}
			if tc.wantErr == nil {
				require.NoError(t, err)
			} else {
				require.ErrorIs(t, err, tc.wantErr)
			}
			assert.Equal(t, tc.wantPos, m.Position(), "got position %d, want %d", m.Position(), tc.wantPos)
			assert.Equal(t, l.envs[tc.wantPos-1].Hash, m.Hash())
		})
	}
}

// TestApplyRefusesInconsistentEvents checks that an event contradicting the model is refused
// and leaves it exactly as it was (position included), so the engine can stop on it.
func TestApplyRefusesInconsistentEvents(t *testing.T) {
	cases := []struct {
		name string
		cust domain.CustomerID
		ev   domain.Event
	}{
		{"allocation above the open amount", "A", domain.PaymentReceived{PaymentID: "P2", Amount: eur(40_00), ReceivedOn: d("2024-01-11"),
			Allocations: []domain.Allocation{{InvoiceID: "I1", Amount: eur(10_00)}, {InvoiceID: "I1", Amount: eur(30_00)}}, Unallocated: eur(0)}},
		{"allocation to an unknown invoice", "A", domain.PaymentReceived{PaymentID: "P2", Amount: eur(10_00), ReceivedOn: d("2024-01-11"),
			Allocations: []domain.Allocation{{InvoiceID: "NOPE", Amount: eur(10_00)}}, Unallocated: eur(0)}},
		{"payment amounts that do not add up", "A", domain.PaymentReceived{PaymentID: "P2", Amount: eur(10_00), ReceivedOn: d("2024-01-11"), Unallocated: eur(5_00)}},
		{"an invoice issued twice", "A", domain.InvoiceIssued{InvoiceID: "I1", Number: "I1", Amount: eur(1), IssueDate: d("2024-01-02"), DueDate: d("2024-02-01")}},
		{"a payment received twice", "A", domain.PaymentReceived{PaymentID: "P1", Amount: eur(10_00), ReceivedOn: d("2024-01-11"), Unallocated: eur(10_00)}},
		{"an event for an unregistered customer", "B", domain.InvoiceIssued{InvoiceID: "I9", Number: "I9", Amount: eur(1), IssueDate: d("2024-01-02"), DueDate: d("2024-02-01")}},
		{"another currency", "A", domain.InvoiceIssued{InvoiceID: "I9", Number: "I9", Amount: domain.Money{Minor: 1, Ccy: "USD"}, IssueDate: d("2024-01-02"), DueDate: d("2024-02-01")}},
		{"a reversal re-opening more than was paid", "A", domain.PaymentReversed{PaymentID: "P1", Amount: eur(20_00), ReversedOn: d("2024-01-12"),
			Reopened: []domain.Allocation{{InvoiceID: "I1", Amount: eur(25_00)}}, UnallocatedRemoved: eur(-5_00)}},
		{"a write-off above the open amount", "A", domain.InvoiceWrittenOff{InvoiceID: "I1", Amount: eur(31_00), WrittenOffOn: d("2024-03-01")}},
		{"a credit note applying more than is open", "A", domain.CreditNoteIssued{CreditNoteID: "CN", Amount: eur(40_00), AppliedToInvoice: eur(31_00), InvoiceID: "I1", IssueDate: d("2024-01-05")}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			l := smallLog(t)
			m := New()
			for _, e := range l.envs {
				require.NoError(t, m.Apply(e))
			}
			before := dump(m)
			err := m.Apply(l.add(t, tc.cust, tc.ev, time.Time{}))
			require.ErrorIs(t, err, ErrInconsistent)
			assert.Equal(t, before, dump(m), "the model changed")
			assert.Equal(t, uint64(3), m.Position())
			require.NoError(t, m.check())
			for i, v := range m.invoices.all {
				got, ok := m.invoiceOf(v.cust, v.id)
				assert.True(t, ok && got == int32(i), "index of invoice %s: %d, want %d", v.id, got, i)
			}
		})
	}
}

// TestApplyIgnoresSystemStreams: alert and system streams move no money, and may carry types
// outside the catalogue; the ledger only counts their positions, so the engine never stops
// on them.
func TestApplyIgnoresSystemStreams(t *testing.T) {
	l := smallLog(t)
	data, err := domain.EncodeEvent(domain.AlertAcknowledged{AlertID: "a1", AckedOn: d("2024-01-03")})
	require.NoError(t, err)
	alert := domain.Envelope{Stream: domain.AlertStream("A"), Position: 4, Type: domain.TypeAlertAcknowledged,
		SchemaVersion: domain.CurrentSchemaVersion, EffectiveOn: d("2024-01-03"), Data: data}
	m := New()
	for _, e := range l.envs {
		require.NoError(t, m.Apply(e))
	}
	before := dump(m)
	require.NoError(t, m.Apply(alert))
	assert.Equal(t, uint64(4), m.Position())
	foreign := domain.Envelope{Stream: "system-something", Position: 5, Type: "SomethingNotInTheCatalogue",
		SchemaVersion: 7, EffectiveOn: d("2024-01-03"), Data: []byte(`{"x":1}`)}
	require.NoError(t, m.Apply(foreign), "a type outside the catalogue on a system stream")
	assert.Equal(t, uint64(5), m.Position())
	assert.Equal(t, before, dump(m))
	r, err := ReplaySlice(append(l.envs, alert, foreign), d("2024-12-31"), farFuture)
	require.NoError(t, err)
	assert.Equal(t, uint64(5), r.Position())
	assert.Equal(t, before, dump(r))
}

func TestReplayFiltersByDateAndKnowledge(t *testing.T) {
	l := smallLog(t)
	recorded := l.envs[2].RecordedAt
	cases := []struct {
		name     string
		asOf     domain.Date
		knownAt  time.Time
		wantOpen int64
	}{
		{"before the payment's date", d("2024-01-09"), farFuture, 50_00},
		{"on the payment's date", d("2024-01-10"), farFuture, 30_00},
		{"known before the payment was recorded", d("2024-12-31"), recorded.Add(-time.Nanosecond), 50_00},
		{"known when it was recorded", d("2024-12-31"), recorded, 30_00},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m, err := ReplaySlice(l.envs, tc.asOf, tc.knownAt)
			require.NoError(t, err)
			f, err := ComputeFigures(m, CustomerScope("A"), tc.asOf, Config{})
			require.NoError(t, err)
			assert.Equal(t, tc.wantOpen, f.OpenInvoices.Minor, "as of %s known at %s", tc.asOf, tc.knownAt)
			asOf, knownAt, ok := m.ReplayedAsOf()
			assert.True(t, ok)
			assert.Equal(t, tc.asOf, asOf)
			assert.Equal(t, tc.knownAt, knownAt)
		})
	}
	_, err := ReplaySlice([]domain.Envelope{l.envs[0], l.envs[2], l.envs[1]}, d("2024-12-31"), farFuture)
	require.ErrorIs(t, err, ErrOutOfOrder)
}

// TestReplayMaterialisesLateRegistrations: an import registers a customer today and records
// its history dated years back; a replay as of a past date must still find the customer.
func TestReplayMaterialisesLateRegistrations(t *testing.T) {
	l := newLog()
	l.add(t, "OLD", domain.CustomerRegistered{CustomerID: "OLD", Name: "Old", Country: "FR", Currency: "EUR", Terms: domain.Net(30), CreditLimit: eur(0), RegisteredOn: d("2024-06-01")}, time.Time{})
	l.add(t, "OLD", domain.InvoiceIssued{InvoiceID: "H1", Number: "H1", Amount: eur(10_00), IssueDate: d("2013-01-02"), DueDate: d("2013-02-01")}, time.Time{})
	l.add(t, "NEW", domain.CustomerRegistered{CustomerID: "NEW", Name: "New", Country: "FR", Currency: "EUR", Terms: domain.Net(30), CreditLimit: eur(0), RegisteredOn: d("2024-06-01")}, time.Time{})
	m, err := ReplaySlice(l.envs, d("2013-12-31"), farFuture)
	require.NoError(t, err)
	assert.Equal(t, []domain.CustomerID{"OLD"}, CustomerIDs(m, Portfolio()), "only customers with facts as of the date")
	f, err := ComputeFigures(m, Portfolio(), d("2013-12-31"), Config{})
	require.NoError(t, err)
	assert.Equal(t, int64(10_00), f.OpenInvoices.Minor)
}

func TestFiguresRefuseMissingRatesAndBadConfig(t *testing.T) {
	l := smallLog(t)
	l.add(t, "U", domain.CustomerRegistered{CustomerID: "U", Name: "U", Country: "US", Currency: "USD", Terms: domain.Net(30), CreditLimit: domain.Money{Ccy: "USD"}, RegisteredOn: d("2024-01-01")}, time.Time{})
	m, err := ReplaySlice(l.envs, d("2024-03-01"), farFuture)
	require.NoError(t, err)
	_, err = ComputeFigures(m, Portfolio(), d("2024-03-01"), Config{})
	require.ErrorIs(t, err, ErrMissingRate)
	_, err = ComputeFigures(m, CustomerScope("U"), d("2024-03-01"), Config{})
	require.NoError(t, err, "one currency needs no rate")
	_, err = ComputeFigures(m, CustomerScope("nobody"), d("2024-03-01"), Config{})
	require.ErrorIs(t, err, ErrUnknownCustomer)
	for _, cfg := range []Config{
		{AgingBoundsDays: []int{1, 30}},
		{AgingBoundsDays: []int{0, 30, 30}},
		{AgingBoundsDays: []int{0, 30}, ProvisionBP: []int64{0, 100}},
		{ProvisionBP: []int64{0, 0, 0, 0, 0, 10_001}},
	} {
		_, err = ComputeFigures(m, CustomerScope("A"), d("2024-03-01"), cfg)
		assert.Error(t, err, "config %+v", cfg)
	}
}

func TestPenaltyRates(t *testing.T) {
	tab := DefaultPenaltyRates()
	cases := []struct {
		day    string
		want   int64
		wantOK bool
	}{
		{"2009-01-01", 1250, true},
		{"2023-06-30", 1250, true},
		{"2023-07-01", 1400, true},
		{"2025-12-31", 1215, true},
		{"2026-06-30", 1215, true},
		{"2008-12-31", 0, false},
		{"2026-07-01", 0, false},
	}
	for _, tc := range cases {
		got, ok := tab.RateBP(d(tc.day))
		assert.Equal(t, tc.wantOK, ok, "day %s", tc.day)
		assert.Equal(t, tc.want, got, "day %s: got %d, want %d", tc.day, got, tc.want)
	}
	for _, bad := range []string{
		"semester_start,ecb_mro_rate_pct,penalty_rate_pct_ecb_plus_10\n2024-02-01,1,11\n",
		"semester_start,ecb_mro_rate_pct,penalty_rate_pct_ecb_plus_10\n2024-01-01,1,11\n2025-01-01,1,11\n",
		"semester_start,ecb_mro_rate_pct,penalty_rate_pct_ecb_plus_10\n2024-01-01,1,11.005\n",
		"semester_start,ecb_mro_rate_pct,penalty_rate_pct_ecb_plus_10\n",
		"date,rate\n",
	} {
		_, err := ParsePenaltyRates(strings.NewReader(bad))
		assert.Error(t, err, "table %q", bad)
	}
	// A late day outside the table is refused, not guessed.
	l := newLog()
	l.add(t, "A", domain.CustomerRegistered{CustomerID: "A", Name: "A", Country: "FR", Currency: "EUR", Terms: domain.Net(30), CreditLimit: eur(0), RegisteredOn: d("2026-01-01")}, time.Time{})
	l.add(t, "A", domain.InvoiceIssued{InvoiceID: "I", Number: "I", Amount: eur(1_00), IssueDate: d("2026-05-01"), DueDate: d("2026-05-31")}, time.Time{})
	m, err := ReplaySlice(l.envs, d("2026-08-01"), farFuture)
	require.NoError(t, err)
	_, err = Penalties(m, Portfolio(), d("2026-08-01"), PenaltyPolicy{})
	require.ErrorIs(t, err, ErrNoReferenceRate)
	_, err = Penalties(m, Portfolio(), d("2026-08-01"), PenaltyPolicy{CustomerRateBP: map[domain.CustomerID]int64{"A": 1000}})
	require.NoError(t, err, "a contractual rate needs no table")
}

// FuzzSnapshot checks the snapshot decoder: damaged bytes are an ErrBadSnapshot, never a
// panic, and whatever decodes re-encodes to the same bytes.
func FuzzSnapshot(f *testing.F) {
	custs, evs, _ := genHistory(7, 120, d("2024-01-01"), 0)
	l := newLog()
	m := New()
	for i, ev := range evs {
		if err := m.Apply(l.add(f, custs[i], ev, time.Time{})); err != nil {
			f.Fatal(err)
		}
	}
	good, err := m.MarshalBinary()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Add([]byte("ENCL"))
	f.Fuzz(func(t *testing.T, b []byte) {
		var m Model
		err := m.UnmarshalBinary(b)
		if err != nil {
			if !errors.Is(err, ErrBadSnapshot) {
				t.Fatalf("got %v, want an ErrBadSnapshot", err)
			}
			return
		}
		again, err := m.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		var m2 Model
		if err := m2.UnmarshalBinary(again); err != nil {
			t.Fatalf("re-encoded snapshot does not decode: %v", err)
		}
		if dump(&m) != dump(&m2) {
			t.Fatal("decode → encode → decode changed the model")
		}
	})
}

func TestSnapshotRejectsDamage(t *testing.T) {
	custs, evs, _ := genHistory(3, 100, d("2024-01-01"), 0)
	l := newLog()
	m := New()
	for i, ev := range evs {
		require.NoError(t, m.Apply(l.add(t, custs[i], ev, time.Time{})))
	}
	good, err := m.MarshalBinary()
	require.NoError(t, err)
	// Every truncation is refused.
	for n := range len(good) {
		var x Model
		require.ErrorIs(t, x.UnmarshalBinary(good[:n]), ErrBadSnapshot, "truncated to %d of %d bytes", n, len(good))
	}
	// Flipped bytes are refused or decode to a consistent model; they never panic.
	for i := 0; i < len(good); i += 7 {
		b := append([]byte(nil), good...)
		b[i] ^= 0x5a
		var x Model
		if err := x.UnmarshalBinary(b); err == nil {
			require.NoError(t, x.check())
		}
	}
	r, err := ReplaySlice(l.envs, d("2024-12-31"), farFuture)
	require.NoError(t, err)
	_, err = r.MarshalBinary()
	require.Error(t, err, "a replayed model is not snapshotted")
}

// TestApplyDecodedEqualsApply: the engine's catch-up decodes events on another core and calls
// ApplyDecoded; the model must be the one Apply builds, byte for byte in its snapshot.
func TestApplyDecodedEqualsApply(t *testing.T) {
	l := benchLog(t, 50, 6)
	a, b := New(), New()
	for _, e := range l.envs {
		require.NoError(t, a.Apply(e))
		ev, err := domain.DecodeEvent(e.Type, e.SchemaVersion, e.Data)
		require.NoError(t, err)
		require.NoError(t, b.ApplyDecoded(&e, ev))
		require.NoError(t, b.ApplyDecoded(&e, ev), "idempotent by position")
	}
	sa, err := a.MarshalBinary()
	require.NoError(t, err)
	sb, err := b.MarshalBinary()
	require.NoError(t, err)
	assert.Equal(t, sa, sb)
	last := l.envs[len(l.envs)-1]
	last.Position += 2
	require.ErrorIs(t, b.ApplyDecoded(&last, nil), ErrGap)
}
