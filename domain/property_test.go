package domain_test

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/encours/encours/domain"
)

// TestPropertyRandomHistories drives the aggregate with random command sequences and checks
// what must hold after every event, whatever the history:
//   - exposure = open invoice total − unallocated cash − open credit (design §Metrics), and
//     each total equals the sum over the items (invoices, payments, credit notes);
//   - no invoice's open amount is negative or above its amount, and open + settled +
//     written off = amount (checkInvariants);
//   - every event survives its JSON encoding (DecodeEvent(EncodeEvent(e)) == e);
//   - folding the decoded events from scratch gives the same state as the incremental
//     evolution: every accessor, and the whole struct.
//
// Method: each history uses its own seeded PCG, so a failure names a reproducible seed. The
// generator looks at the state to make mostly valid commands (real invoice ids, amounts up to
// what is open) with a share of wrong ones (unknown ids, too much, back-dated), so both
// acceptance and refusal paths run. A refused command must be a *domain.Error that is not
// internal, and must leave the state untouched.
func TestPropertyRandomHistories(t *testing.T) {
	histories, steps := 300, 60
	if testing.Short() {
		histories = 40
	}
	var accepted, refused, events int
	codes := map[string]int{}
	types := map[string]int{}
	for seed := range histories {
		g := &historyGen{rng: rand.New(rand.NewPCG(uint64(seed), 0xE7C0_0125)), today: day("2025-01-01")}
		c := domain.NewCustomer()
		var log []domain.Event
		for step := range steps {
			cmd := g.next(c, step)
			before := domain.Fold(log)
			got, err := domain.Decide(c, cmd)
			if err != nil {
				require.Truef(t, reflect.DeepEqual(before, c), "seed %d step %d: refused %T mutated the state", seed, step, cmd)
				var de *domain.Error
				require.ErrorAsf(t, err, &de, "seed %d step %d: %T refused with a non-domain error", seed, step, cmd)
				require.NotEqualf(t, domain.KindInternal, de.Kind, "seed %d step %d: %+v: %v", seed, step, cmd, err)
				refused++
				codes[de.Code]++
				continue
			}
			accepted++
			for _, e := range got {
				domain.Evolve(c, e)
				b, err := domain.EncodeEvent(e)
				require.NoError(t, err)
				back, err := domain.DecodeEvent(e.EventType(), domain.CurrentSchemaVersion, b)
				require.NoErrorf(t, err, "seed %d step %d: decode %s", seed, step, b)
				require.Equalf(t, e, back, "seed %d step %d: JSON round trip", seed, step)
				log = append(log, back)
				types[e.EventType()]++
				events++
				checkInvariants(t, c)
				if t.Failed() {
					t.Fatalf("seed %d step %d: invariant broken after %s", seed, step, e.EventType())
				}
			}
			if step%10 == 9 || step == steps-1 {
				requireSameState(t, c, domain.Fold(log), fmt.Sprintf("seed %d step %d", seed, step))
			}
		}
	}
	t.Logf("%d histories: %d commands accepted, %d refused, %d events; events by type %v; refusals by code %v",
		histories, accepted, refused, events, types, codes)
	assert.Greater(t, accepted, refused, "the generator should mostly produce valid commands")
	for _, typ := range []string{domain.TypeInvoiceIssued, domain.TypePaymentReceived, domain.TypePaymentAllocated,
		domain.TypePaymentReversed, domain.TypeCreditNoteIssued, domain.TypeInvoiceWrittenOff, domain.TypePaymentPlanAgreed,
		domain.TypeInvoiceDisputed, domain.TypeDisputeResolved, domain.TypeReminderSent, domain.TypePromiseToPayRecorded} {
		assert.Positivef(t, types[typ], "no %s in %d histories", typ, histories)
	}
}

// requireSameState compares an incrementally evolved customer with a fresh fold, accessor by
// accessor (so a failure says what differs), then as a whole.
func requireSameState(t *testing.T, got, want *domain.Customer, where string) {
	t.Helper()
	require.Equal(t, want.Version(), got.Version(), where)
	require.Equal(t, want.Registered(), got.Registered(), where)
	require.Equal(t, want.Profile(), got.Profile(), where)
	require.Equal(t, want.Exposure(), got.Exposure(), where)
	require.Equal(t, want.OpenInvoiceTotal(), got.OpenInvoiceTotal(), where)
	require.Equal(t, want.UnallocatedCash(), got.UnallocatedCash(), where)
	require.Equal(t, want.OpenCredit(), got.OpenCredit(), where)
	require.Equal(t, want.OpenItems(), got.OpenItems(), where)
	require.Equal(t, want.Invoices(), got.Invoices(), where)
	require.Equal(t, want.Payments(), got.Payments(), where)
	require.Equal(t, want.CreditNotes(), got.CreditNotes(), where)
	require.Equal(t, want.Plans(), got.Plans(), where)
	require.Equal(t, want.Promises(), got.Promises(), where)
	require.Equal(t, want.Reminders(), got.Reminders(), where)
	require.Truef(t, reflect.DeepEqual(want, got), "%s: states differ beyond the accessors", where)
}

// historyGen makes the next command of a random history from the current state.
type historyGen struct {
	rng   *rand.Rand
	today domain.Date
	n     int // sequence for fresh ids
}

func (g *historyGen) id(prefix string) string {
	g.n++
	return fmt.Sprintf("%s%d", prefix, g.n)
}

// pick returns a random element of xs, or zero when xs is empty.
func pick[T any](g *historyGen, xs []T) (T, bool) {
	var zero T
	if len(xs) == 0 {
		return zero, false
	}
	return xs[g.rng.IntN(len(xs))], true
}

// chance is true with probability p percent.
func (g *historyGen) chance(p int) bool { return g.rng.IntN(100) < p }

// amount is between 1 and max minor units; sometimes a little more than max, to be refused.
func (g *historyGen) amount(maxMinor int64) int64 {
	if maxMinor < 1 {
		maxMinor = 1
	}
	if g.chance(5) {
		return maxMinor + 1 + g.rng.Int64N(100)
	}
	return 1 + g.rng.Int64N(maxMinor)
}

func (g *historyGen) next(c *domain.Customer, step int) domain.Command {
	g.today = g.today.AddDays(g.rng.IntN(4))
	if step == 0 {
		return registerCmd(func(r *domain.RegisterCustomer) {
			r.On = g.today
			r.Terms = []domain.Terms{domain.Net(30), domain.Net(0), {Kind: domain.TermsEndOfMonth}, {Kind: domain.TermsEndOfMonthNet, Days: 45}}[g.rng.IntN(4)]
		})
	}
	invoices := c.Invoices()
	var open []domain.InvoiceView
	for _, inv := range invoices {
		if inv.Open.IsPositive() {
			open = append(open, inv)
		}
	}
	inv, _ := pick(g, invoices)
	openInv, haveOpen := pick(g, open)
	payments := c.Payments()
	pay, havePay := pick(g, payments)
	on := g.today
	if g.chance(5) {
		on = on.AddDays(-g.rng.IntN(60)) // back-dated: may precede an issue date
	}
	if !haveOpen && g.chance(50) {
		openInv = inv
	}
	switch r := g.rng.IntN(100); {
	case r < 28:
		id := g.id("I")
		if len(invoices) > 0 && g.chance(3) {
			id = string(inv.InvoiceID) // duplicate
		}
		number := "N-" + id
		if len(invoices) > 0 && g.chance(3) {
			number = inv.Number
		}
		cmd := domain.IssueInvoice{CustomerID: custID, InvoiceID: domain.InvoiceID(id), Number: number,
			Amount: eur(1 + g.rng.Int64N(50_000)), IssueDate: on}
		if g.chance(60) {
			cmd.DueDate = on.AddDays(g.rng.IntN(95) - 3) // now and then due before issue
		}
		return cmd
	case r < 48:
		cmd := domain.RecordPayment{CustomerID: custID, PaymentID: domain.PaymentID(g.id("P")),
			Amount: eur(1 + g.rng.Int64N(60_000)), ReceivedOn: on}
		if havePay && g.chance(3) {
			cmd.PaymentID = pay.PaymentID
		}
		if g.chance(50) {
			var total int64
			for k := g.rng.IntN(3) + 1; k > 0 && len(open) > 0; k-- {
				o, _ := pick(g, open)
				a := g.amount(o.Open.Minor)
				cmd.Allocations = append(cmd.Allocations, domain.Allocation{InvoiceID: o.InvoiceID, Amount: eur(a)})
				total += a
			}
			if total > 0 && g.chance(80) {
				cmd.Amount = eur(total + g.rng.Int64N(3)*g.rng.Int64N(10_000)) // mostly enough
			}
		}
		return cmd
	case r < 58:
		cmd := domain.AllocatePayment{CustomerID: custID, On: on}
		notes := c.CreditNotes()
		if n, ok := pick(g, notes); ok && g.chance(30) {
			cmd.CreditNoteID = n.CreditNoteID
		} else if havePay {
			cmd.PaymentID = pay.PaymentID
			for _, p := range payments { // prefer a payment with cash on account
				if p.Unallocated.IsPositive() && !p.Reversed && g.chance(70) {
					cmd.PaymentID = p.PaymentID
					break
				}
			}
		} else {
			cmd.PaymentID = "P-none"
		}
		if haveOpen && g.chance(50) {
			cmd.Allocations = []domain.Allocation{{InvoiceID: openInv.InvoiceID, Amount: eur(g.amount(openInv.Open.Minor / 2))}}
		}
		return cmd
	case r < 64:
		id := domain.PaymentID("P-none")
		if havePay {
			id = pay.PaymentID
		}
		return domain.ReversePayment{CustomerID: custID, PaymentID: id, On: on, Reason: "bounced"}
	case r < 72:
		cmd := domain.IssueCreditNote{CustomerID: custID, CreditNoteID: domain.CreditNoteID(g.id("CN")),
			Amount: eur(1 + g.rng.Int64N(20_000)), IssueDate: on}
		if len(invoices) > 0 && g.chance(70) {
			cmd.InvoiceID = openInv.InvoiceID
		}
		return cmd
	case r < 77:
		return domain.DisputeInvoice{CustomerID: custID, InvoiceID: inv.InvoiceID, On: on, Reason: "quality"}
	case r < 81:
		for _, i := range invoices {
			if i.Disputed && g.chance(70) {
				return domain.ResolveDispute{CustomerID: custID, InvoiceID: i.InvoiceID, On: on, Outcome: "settled"}
			}
		}
		return domain.ResolveDispute{CustomerID: custID, InvoiceID: inv.InvoiceID, On: on}
	case r < 85:
		return domain.WriteOffInvoice{CustomerID: custID, InvoiceID: openInv.InvoiceID, On: on.AddDays(90)}
	case r < 88:
		ids := []domain.InvoiceID{openInv.InvoiceID}
		total := openInv.Open.Minor
		if o, ok := pick(g, open); ok && o.InvoiceID != openInv.InvoiceID && g.chance(50) {
			ids = append(ids, o.InvoiceID)
			total += o.Open.Minor
		}
		if g.chance(10) {
			total++ // a plan that does not add up
		}
		var ins []domain.Instalment
		parts := int64(g.rng.IntN(3) + 1)
		for k := int64(0); k < parts; k++ {
			share := total / parts
			if k == parts-1 {
				share = total - share*(parts-1)
			}
			ins = append(ins, domain.Instalment{Due: on.AddDays(30 * int(k+1)), Amount: eur(share)})
		}
		return domain.AgreePaymentPlan{CustomerID: custID, PlanID: g.id("PL"), InvoiceIDs: ids, Instalments: ins, On: on}
	case r < 91:
		cmd := domain.RecordPromise{CustomerID: custID, PromiseID: g.id("PR"), Amount: eur(1 + g.rng.Int64N(20_000)),
			PromisedFor: on.AddDays(g.rng.IntN(20) - 2), On: on}
		if haveOpen && g.chance(50) {
			cmd.InvoiceIDs = []domain.InvoiceID{openInv.InvoiceID}
		}
		return cmd
	case r < 95:
		channel, _ := pick(g, []string{"email", "letter", "phone", "formal_notice", "sms"})
		return domain.SendReminder{CustomerID: custID, InvoiceID: openInv.InvoiceID, Level: g.rng.IntN(11), Channel: channel, On: on}
	case r < 97:
		return domain.RecordRating{CustomerID: custID, Agency: "Agency", Score: g.rng.IntN(110) - 5, On: on}
	case r < 99:
		return domain.ChangeCreditLimit{CustomerID: custID, Limit: eur(g.rng.Int64N(500_000) - 1_000), Reason: "review", On: on}
	default:
		return domain.ChangeInsuranceCover{CustomerID: custID, Insurer: "Insurer", Covered: eur(g.rng.Int64N(200_000)),
			DeclarationDays: g.rng.IntN(400), On: on}
	}
}
