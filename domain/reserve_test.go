package domain_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/encours/encours/domain"
)

// Reserve changes nothing a customer says, before or after more events are folded.
func TestReserveChangesNothing(t *testing.T) {
	given := history(issued("F1", 10000, "2026-01-05", "2026-02-04"), received("P1", 4000, "2026-01-20", alloc("F1", 4000)))
	plain, reserved := domain.Fold(given), domain.Fold(given)
	reserved.Reserve(50, 20)
	assert.Equal(t, plain, reserved)
	reserved.Reserve(3, 3) // too few to bother: a no-op
	for i := range 30 {
		inv := fmt.Sprintf("G%d", i)
		for _, e := range []domain.Event{issued(inv, 1000, "2026-02-01", "2026-03-03"), received("Q"+inv, 1000, "2026-02-10", alloc(inv, 1000))} {
			domain.Evolve(plain, e)
			domain.Evolve(reserved, e)
		}
	}
	assert.Equal(t, plain, reserved)
	assert.Equal(t, mustInvoice(t, plain, "G7"), mustInvoice(t, reserved, "G7"))
	checkInvariants(t, reserved)
}
