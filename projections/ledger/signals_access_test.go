package ledger

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/encours/encours/domain"
)

// TestSignalsAccess checks the accessors of signals_access.go against the package's own
// figures: CustomersFigures gives what GroupFigures gives for those customers, and the DSO
// history at the as-of date is ComputeFigures' period DSO.
func TestSignalsAccess(t *testing.T) {
	l := newLog()
	eur := func(v int64) domain.Money { return domain.Money{Minor: v, Ccy: "EUR"} }
	day := domain.MustDate
	for _, c := range []domain.CustomerID{"A", "B"} {
		l.add(t, c, domain.CustomerRegistered{CustomerID: c, Name: string(c), Country: "FR", Currency: "EUR",
			Terms: domain.Net(30), CreditLimit: eur(100_000_00), RegisteredOn: day("2024-01-01")}, time.Time{})
		l.add(t, c, domain.InvoiceIssued{InvoiceID: "I1", Number: "I1", Amount: eur(10_000_00), IssueDate: day("2024-01-05"), DueDate: day("2024-02-04")}, time.Time{})
		l.add(t, c, domain.InvoiceIssued{InvoiceID: "I2", Number: "I2", Amount: eur(5_000_00), IssueDate: day("2024-02-05"), DueDate: day("2024-03-06")}, time.Time{})
	}
	l.add(t, "A", domain.PaymentReceived{PaymentID: "P1", Amount: eur(10_000_00), ReceivedOn: day("2024-02-10"),
		Allocations: []domain.Allocation{{InvoiceID: "I1", Amount: eur(10_000_00)}}, Unallocated: eur(0)}, time.Time{})
	m := New()
	for _, e := range l.envs {
		require.NoError(t, m.Apply(e))
	}
	asOf := day("2024-03-31")

	all, err := GroupFigures(m, ByCustomer, asOf, Config{})
	require.NoError(t, err)
	some, err := CustomersFigures(m, []domain.CustomerID{"B", "A"}, asOf, Config{})
	require.NoError(t, err)
	assert.Equal(t, []Figures{all[1], all[0]}, some)
	_, err = CustomersFigures(m, []domain.CustomerID{"Z"}, asOf, Config{})
	assert.True(t, errors.Is(err, ErrUnknownCustomer))

	pf, err := ComputeFigures(m, Portfolio(), asOf, Config{})
	require.NoError(t, err)
	pts, err := PortfolioDSOHistory(m, []domain.Date{asOf, day("2024-01-31")})
	require.NoError(t, err)
	assert.Equal(t, pf.DSO.PeriodCentidays, pts[0].Centidays, "today's point is the period DSO")
	assert.Equal(t, int64(20_000_00), pts[1].ARClosing.Minor, "both I1 open on 2024-01-31: A paid in February")

}
