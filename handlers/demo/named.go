package demo

import (
	"cmp"
	"math/rand/v2"
	"slices"
	"strconv"

	"github.com/encours/encours/domain"
)

// The named customers tell fixed stories, each placed relative to End ("E-49" below is 49
// days before End) so that alert tests can name the dates, amounts and figures they expect.
// They use their own fixed random source (namedSeed), never Config.Seed, and ignore weekends
// so that every figure is exact. All of them are registered on the first day of the history
// and invoiced before their story by a steady "baseline" of regular invoices going back to
// that day; every story date is within the last 330 days, so one year of history suffices.
//
// ACME (sme, FR, C25, EUR, net 30; journey 2). Monthly invoices paid 2 days early on
// average (DBT −2, −3, −1, −2, … over every four; exactly −2.0 over the last 12 months),
// then its last four paid invoices later and later: DBT +5, +9, +13, +18 (paid E-104, E-70,
// E-36, E-1). One extra invoice (issued E-81, due E-51, 14 612.40 EUR) stays unpaid, with
// reminders E-44, E-30, E-6: its insurance declaration deadline (Allianz Trade, 60 days) is
// E+9. Limit raised from 30 000 to 45 000 EUR on E-300; at End the exposure is 39 220.00
// EUR, utilisation 87.2 %.
//
// SILENT (corporate, DE, C24, EUR, net 45). An invoice every 14 days (last on E-2), paid 3
// days late on average (DBT 3, 2, 4, 3, …) until it stops paying: no payment is dated on or
// after E-92 (the last is on E-93), while invoicing goes on: the ten invoices issued E-128,
// E-114, …, E-2 stay unpaid, the oldest due E-83; exposure ends above its 250 000 EUR limit. Reminders
// up to formal notice on the unpaid invoices. No dispute, no drift, ratings unchanged: only
// silent non-payment (and, late, the limit) can see it.
//
// PLAN (sme, FR, F43, EUR, net 30). Three invoices (E-190, E-160, E-130) fall overdue, one
// part-paid (2 000 EUR on E-140), dunned up to formal notice; on E-100 a payment plan
// PLAN-PLAN-1 spreads their 20 378.30 EUR over four instalments due E-90, E-60, E-30 and
// E+30; the first is paid on time, the second two days late (E-58), the third is missed.
// The limit is cut from 25 000 to 15 000 EUR on E-100.
//
// PROMISE (sme, FR, H49, EUR, net 30). Pays 8 days late on average. Promise PTP-PROMISE-1
// (recorded E-70 for E-60, invoice issued E-110) is kept (paid E-61); promise PTP-PROMISE-2
// (recorded E-22 for E-12, 5 215.40 EUR, invoice issued E-75) is broken: unpaid at End.
//
// BOUNCE (sme, ES, F41, EUR, net 60). One payment of two invoices (18 180.50 EUR, E-58) is
// reversed on E-52 (direct debit returned) and paid again on E-35; another (E-28) is
// reversed on E-10 and not paid again by End.
//
// DISPUTE (corporate, FR, G46, EUR, net 45). An invoice every 15 days paid about on time,
// and: an invoice short-paid by 150 EUR (E-283) whose rest is written off (E-240); a volume
// rebate credit note (E-300) allocated to an invoice (E-290); an overpayment (E-214) left on
// account and allocated to the next invoice (E-213); four disputes: cancelled by a full
// credit note (E-200 → E-180), upheld with a 20 % credit note (E-160 → E-130, rest paid
// E-120), rejected (E-100 → E-85, paid E-80), and one still open at End (since E-40).

// namedSeed seeds the named customers' amounts: their stories are the same for every seed.
const namedSeed = 20260101

// script is a named customer's story under construction.
type script struct {
	id         domain.CustomerID
	ccy        domain.Currency
	start, end domain.Date
	rng        *rand.Rand
	entries    []scripted // in date order once built (sorted, stable: same-day order is causal)
	next       int        // the next entry to schedule

	invoices, payments, creditNotes, promises, plans int
}

type scripted struct {
	on  domain.Date
	cmd domain.Command
}

// inv is an invoice a script issued.
type inv struct {
	id     domain.InvoiceID
	number string
	issue  domain.Date
	due    domain.Date
	minor  int64
}

// alloc is an amount of a payment applied to an invoice.
type alloc struct {
	to    inv
	minor int64
}

func newScript(id domain.CustomerID, ccy domain.Currency, start, end domain.Date, n int) *script {
	return &script{id: id, ccy: ccy, start: start, end: end, rng: rand.New(rand.NewPCG(namedSeed, uint64(n)))}
}

// e returns the date days before End.
func (s *script) e(days int) domain.Date { return s.end.AddDays(-days) }

func (s *script) money(minor int64) domain.Money { return domain.Money{Minor: minor, Ccy: s.ccy} }

// add appends a command; commands after End are dropped (they have not happened yet).
func (s *script) add(on domain.Date, cmd domain.Command) {
	if on.After(s.end) {
		return
	}
	assertf(!on.Before(s.start), "%s: command on %s before the history starts on %s", s.id, on, s.start)
	s.entries = append(s.entries, scripted{on: on, cmd: cmd})
}

func (s *script) register(name, country, sector, segment string, termsDays int, limitMinor int64) {
	s.add(s.start, domain.RegisterCustomer{
		CustomerID: s.id, Name: name, Country: country, Sector: sector, Segment: segment,
		Currency: s.ccy, Terms: domain.Net(termsDays), CreditLimit: s.money(limitMinor), On: s.start,
	})
}

func (s *script) insure(on domain.Date, insurer string, coveredMinor int64, declarationDays int) {
	s.add(on, domain.ChangeInsuranceCover{
		CustomerID: s.id, Insurer: insurer, Covered: s.money(coveredMinor), DeclarationDays: declarationDays, On: on,
	})
}

func (s *script) changeLimit(on domain.Date, limitMinor int64, reason string) {
	s.add(on, domain.ChangeCreditLimit{CustomerID: s.id, Limit: s.money(limitMinor), Reason: reason, ApprovedBy: "credit committee", On: on})
}

// ratings records a yearly rating from the history's start to anchor, the last one with
// lastScore and the earlier ones with score.
func (s *script) ratings(anchor domain.Date, score, lastScore int) {
	var dates []domain.Date
	for d, i := anchor, 0; !d.Before(s.start.AddDays(5)) && i < YearsMax+1; d, i = d.AddDays(-365), i+1 {
		dates = append(dates, d)
	}
	for i := len(dates) - 1; i >= 0; i-- {
		sc := score
		if i == 0 {
			sc = lastScore
		}
		s.add(dates[i], domain.RecordRating{CustomerID: s.id, Agency: "Creditsafe", Score: sc, Grade: creditsafeGrade(sc), On: dates[i]})
	}
}

func (s *script) invoice(issue domain.Date, termsDays int, minor int64) inv {
	s.invoices++
	n := strconv.Itoa(s.invoices)
	y, _, _ := issue.Civil()
	v := inv{
		id:     domain.InvoiceID("INV-" + string(s.id) + "-" + n),
		number: "F" + strconv.Itoa(y) + "-" + string(s.id) + "-" + n,
		issue:  issue, due: issue.AddDays(termsDays), minor: minor,
	}
	s.add(issue, domain.IssueInvoice{
		CustomerID: s.id, InvoiceID: v.id, Number: v.number, Amount: s.money(minor), IssueDate: issue, DueDate: v.due,
	})
	return v
}

func (s *script) pay(on domain.Date, allocs ...alloc) domain.PaymentID {
	var total int64
	as := make([]domain.Allocation, len(allocs))
	for i, a := range allocs {
		as[i] = domain.Allocation{InvoiceID: a.to.id, Amount: s.money(a.minor)}
		total += a.minor
	}
	return s.payAmount(on, total, as, allocs[0].to.number)
}

// payAmount records a payment of total with explicit allocations (the rest stays on account).
func (s *script) payAmount(on domain.Date, total int64, as []domain.Allocation, reference string) domain.PaymentID {
	s.payments++
	id := domain.PaymentID("PAY-" + string(s.id) + "-" + strconv.Itoa(s.payments))
	s.add(on, domain.RecordPayment{
		CustomerID: s.id, PaymentID: id, Amount: s.money(total), ReceivedOn: on, Allocations: as, Reference: reference,
	})
	return id
}

func (s *script) reverse(on domain.Date, id domain.PaymentID, reason string) {
	s.add(on, domain.ReversePayment{CustomerID: s.id, PaymentID: id, On: on, Reason: reason})
}

func (s *script) remindAt(v inv, on domain.Date, level int) {
	s.add(on, domain.SendReminder{CustomerID: s.id, InvoiceID: v.id, Level: level, Channel: reminderChannels[level-1], On: on})
}

// remind sends the usual dunning steps on v strictly before until (its payment, or the
// day after End when it stays open).
func (s *script) remind(v inv, until domain.Date) {
	for i, off := range reminderOffsetsDays {
		if d := v.due.AddDays(off); d.Before(until) {
			s.remindAt(v, d, i+1)
		}
	}
}

func (s *script) dispute(v inv, on domain.Date, reason string) {
	s.add(on, domain.DisputeInvoice{CustomerID: s.id, InvoiceID: v.id, On: on, Reason: reason})
}

func (s *script) resolve(v inv, on domain.Date, outcome, note string) {
	s.add(on, domain.ResolveDispute{CustomerID: s.id, InvoiceID: v.id, On: on, Outcome: outcome, Note: note})
}

// creditNote issues a credit note on v (or standing credit when v is the zero inv).
func (s *script) creditNote(v inv, on domain.Date, minor int64, reason string) domain.CreditNoteID {
	s.creditNotes++
	id := domain.CreditNoteID("CN-" + string(s.id) + "-" + strconv.Itoa(s.creditNotes))
	s.add(on, domain.IssueCreditNote{CustomerID: s.id, CreditNoteID: id, InvoiceID: v.id, Amount: s.money(minor), IssueDate: on, Reason: reason})
	return id
}

// baseline issues an invoice every everyDays days back from latest to the history's start
// (the first at least firstGapDays after it), amounts uniform in [minMinor, maxMinor], each
// paid at due + dbt[k mod len] where k counts from the latest invoice backwards (so the
// pattern's mean holds over the most recent invoices whatever the start), with the usual
// reminders before payment. No payment is dated on or after stopPaying (zero: never); the
// invoices left unpaid are dunned until End.
func (s *script) baseline(latest domain.Date, everyDays, termsDays int, minMinor, maxMinor int64, dbt []int, stopPaying domain.Date) []inv {
	const firstGapDays = 3
	var issues []domain.Date
	for d, i := latest, 0; !d.Before(s.start.AddDays(firstGapDays)); d, i = d.AddDays(-everyDays), i+1 {
		assertf(i <= YearsMax*366, "%s: baseline loop", s.id)
		issues = append(issues, d)
	}
	out := make([]inv, 0, len(issues))
	for k := len(issues) - 1; k >= 0; k-- {
		v := s.invoice(issues[k], termsDays, minMinor+s.rng.Int64N(maxMinor-minMinor+1))
		paidOn := v.due.AddDays(dbt[k%len(dbt)])
		if !stopPaying.IsZero() && !paidOn.Before(stopPaying) {
			s.remind(v, s.end.AddDays(1))
		} else {
			s.remind(v, paidOn)
			s.pay(paidOn, alloc{v, v.minor})
		}
		out = append(out, v)
	}
	return out
}

// namedScripts builds the six stories between start and end, in portfolio order.
// Each is materialised whole (a few hundred commands a year at most) and sorted by date;
// commands of the same day keep the order the story adds them in, which is causal.
func namedScripts(start, end domain.Date) []*script {
	ss := []*script{
		scriptACME(newScript(CustomerACME, "EUR", start, end, 1)),
		scriptSilent(newScript(CustomerSilent, "EUR", start, end, 2)),
		scriptPlan(newScript(CustomerPlan, "EUR", start, end, 3)),
		scriptPromise(newScript(CustomerPromise, "EUR", start, end, 4)),
		scriptBounce(newScript(CustomerBounce, "EUR", start, end, 5)),
		scriptDispute(newScript(CustomerDispute, "EUR", start, end, 6)),
	}
	for i, s := range ss {
		assertf(s.id == NamedCustomers()[i], "named customer %d is %s", i, s.id)
		slices.SortStableFunc(s.entries, func(a, b scripted) int { return cmp.Compare(a.on.Days(), b.on.Days()) })
	}
	return ss
}

func scriptACME(s *script) *script {
	const terms = 30
	s.register("Acme Industrie SAS", "FR", "C25", "sme", terms, 30_000_00)
	s.insure(s.start.AddDays(10), "Allianz Trade", 40_000_00, 60)
	s.ratings(s.e(200), 74, 69)
	s.changeLimit(s.e(300), 45_000_00, "annual review: volume growth")
	s.baseline(s.e(169), 30, terms, 10_800_00, 13_200_00, []int{-2, -3, -1, -2}, domain.Date{})

	// The drift: the last four paid invoices, DBT +5, +9, +13, +18.
	d1 := s.invoice(s.e(139), terms, 12_480_00)
	s.pay(s.e(104), alloc{d1, d1.minor})
	d2 := s.invoice(s.e(109), terms, 11_960_00)
	s.remindAt(d2, s.e(72), 1)
	s.pay(s.e(70), alloc{d2, d2.minor})
	x := s.invoice(s.e(81), terms, 14_612_40) // unpaid: insurance declaration due E+9
	s.remindAt(x, s.e(44), 1)
	s.remindAt(x, s.e(30), 2)
	s.remindAt(x, s.e(6), 3)
	d3 := s.invoice(s.e(79), terms, 12_875_00)
	s.remindAt(d3, s.e(42), 1)
	s.pay(s.e(36), alloc{d3, d3.minor})
	d4 := s.invoice(s.e(49), terms, 13_140_00)
	s.remindAt(d4, s.e(12), 1)
	s.pay(s.e(1), alloc{d4, d4.minor})
	s.invoice(s.e(19), terms, 12_348_00)
	s.invoice(s.e(3), terms, 12_259_60)
	return s
}

func scriptSilent(s *script) *script {
	const terms = 45
	s.register("Silberstahl Handels GmbH", "DE", "C24", "corporate", terms, 250_000_00)
	s.insure(s.start.AddDays(15), "Coface", 200_000_00, 90)
	s.ratings(s.e(40), 76, 76)
	s.baseline(s.e(2), 14, terms, 24_000_00, 38_000_00, []int{3, 2, 4, 3}, s.e(92))
	return s
}

func scriptPlan(s *script) *script {
	const terms = 30
	s.register("Menuiserie Martin SARL", "FR", "F43", "sme", terms, 25_000_00)
	s.ratings(s.e(60), 61, 42)
	s.baseline(s.e(220), 30, terms, 4_800_00, 7_200_00, []int{6, 8, 5, 7}, domain.Date{})

	p1 := s.invoice(s.e(190), terms, 7_340_00)
	p2 := s.invoice(s.e(160), terms, 6_915_50)
	s.pay(s.e(140), alloc{p1, 2_000_00})
	p3 := s.invoice(s.e(130), terms, 8_122_80)
	agreed := s.e(100)
	s.remind(p1, agreed.AddDays(1)) // up to the formal notice on the day of the agreement
	s.remind(p2, agreed)
	s.changeLimit(agreed, 15_000_00, "payment plan agreed: exposure capped")

	open := (p1.minor - 2_000_00) + p2.minor + p3.minor
	instalment := mulDiv(open, 1, 4)
	dues := []domain.Date{s.e(90), s.e(60), s.e(30), s.end.AddDays(30)}
	ins := make([]domain.Instalment, len(dues))
	for i, d := range dues {
		ins[i] = domain.Instalment{Due: d, Amount: s.money(instalment)}
	}
	ins[len(ins)-1].Amount = s.money(open - 3*instalment)
	s.plans++
	s.add(agreed, domain.AgreePaymentPlan{
		CustomerID: s.id, PlanID: "PLAN-" + string(s.id) + "-" + strconv.Itoa(s.plans),
		InvoiceIDs: []domain.InvoiceID{p1.id, p2.id, p3.id}, Instalments: ins, On: agreed,
	})
	// Instalments settle the plan's invoices oldest first.
	s.pay(s.e(90), alloc{p1, instalment})
	s.pay(s.e(58), alloc{p1, p1.minor - 2_000_00 - instalment}, alloc{p2, 2*instalment - (p1.minor - 2_000_00)})
	// The third instalment (E-30) is missed.

	n1 := s.invoice(s.e(80), terms, 3_150_00)
	s.pay(s.e(45), alloc{n1, n1.minor})
	n2 := s.invoice(s.e(50), terms, 2_980_00)
	s.remind(n2, s.end.AddDays(1))
	s.invoice(s.e(20), terms, 1_860_00)
	return s
}

func scriptPromise(s *script) *script {
	const terms = 30
	s.register("Transports Rouge SAS", "FR", "H49", "sme", terms, 15_000_00)
	s.ratings(s.e(100), 58, 58)
	s.baseline(s.e(140), 30, terms, 3_900_00, 5_100_00, []int{8, 10, 6, 8}, domain.Date{})

	k := s.invoice(s.e(110), terms, 4_870_00)
	s.remind(k, s.e(61))
	s.promise(s.e(70), s.e(60), k)
	s.pay(s.e(61), alloc{k, k.minor})

	b := s.invoice(s.e(75), terms, 5_215_40)
	s.remindAt(b, s.e(38), 1)
	s.remindAt(b, s.e(24), 2)
	s.promise(s.e(22), s.e(12), b) // broken: never paid
	s.remindAt(b, s.e(10), 3)

	c1 := s.invoice(s.e(45), terms, 4_410_00)
	s.remind(c1, s.end.AddDays(1))
	s.invoice(s.e(15), terms, 4_655_00)
	return s
}

func (s *script) promise(on, promisedFor domain.Date, v inv) {
	s.promises++
	s.add(on, domain.RecordPromise{
		CustomerID: s.id, PromiseID: "PTP-" + string(s.id) + "-" + strconv.Itoa(s.promises),
		Amount: s.money(v.minor), PromisedFor: promisedFor, InvoiceIDs: []domain.InvoiceID{v.id}, On: on,
		Note: "promised by phone",
	})
}

func scriptBounce(s *script) *script {
	const terms = 60
	s.register("Construcciones Levante S.L.", "ES", "F41", "sme", terms, 40_000_00)
	s.ratings(s.e(120), 55, 55)
	s.baseline(s.e(150), 30, terms, 8_200_00, 9_800_00, []int{4, 3, 5, 4}, domain.Date{})

	r1 := s.invoice(s.e(130), terms, 9_420_00)
	r2 := s.invoice(s.e(120), terms, 8_760_50)
	s.remindAt(r1, s.e(63), 1)
	p := s.pay(s.e(58), alloc{r1, r1.minor}, alloc{r2, r2.minor})
	s.reverse(s.e(52), p, "direct debit returned: insufficient funds")
	s.remindAt(r1, s.e(49), 2)
	s.remindAt(r2, s.e(39), 1)
	s.pay(s.e(35), alloc{r1, r1.minor}, alloc{r2, r2.minor})

	r3 := s.invoice(s.e(90), terms, 9_105_00)
	p3 := s.pay(s.e(28), alloc{r3, r3.minor})
	s.reverse(s.e(10), p3, "cheque returned unpaid")
	s.remindAt(r3, s.e(9), 1)

	s.invoice(s.e(60), terms, 8_840_00)
	s.invoice(s.e(30), terms, 9_310_00)
	return s
}

func scriptDispute(s *script) *script {
	const terms = 45
	s.register("Distrib Ouest SA", "FR", "G46", "corporate", terms, 120_000_00)
	s.insure(s.start.AddDays(20), "Atradius", 100_000_00, 60)
	s.ratings(s.e(250), 81, 81)
	s.baseline(s.e(8), 15, terms, 14_000_00, 22_000_00, []int{1, 0, 2, 1}, domain.Date{})

	// Short payment, the rest written off.
	w := s.invoice(s.e(330), terms, 21_480_00)
	s.pay(s.e(283), alloc{w, w.minor - 150_00})
	s.add(s.e(240), domain.WriteOffInvoice{CustomerID: s.id, InvoiceID: w.id, On: s.e(240), Reason: "short payment below recovery threshold"})

	// A volume rebate as standing credit, allocated to an invoice.
	v := s.invoice(s.e(305), terms, 16_400_00)
	rebate := s.creditNote(inv{}, s.e(300), 2_500_00, "annual volume rebate")
	s.add(s.e(290), domain.AllocatePayment{
		CustomerID: s.id, CreditNoteID: rebate, On: s.e(290),
		Allocations: []domain.Allocation{{InvoiceID: v.id, Amount: s.money(2_500_00)}},
	})
	s.pay(s.e(259), alloc{v, v.minor - 2_500_00})

	// An overpayment left on account, allocated to the next invoice.
	y := s.invoice(s.e(260), terms, 15_600_00)
	z := s.invoice(s.e(245), terms, 17_220_00)
	over := s.payAmount(s.e(214), 16_000_00, []domain.Allocation{{InvoiceID: y.id, Amount: s.money(y.minor)}}, y.number)
	s.add(s.e(213), domain.AllocatePayment{
		CustomerID: s.id, PaymentID: over, On: s.e(213),
		Allocations: []domain.Allocation{{InvoiceID: z.id, Amount: s.money(400_00)}},
	})
	s.pay(s.e(199), alloc{z, z.minor - 400_00})

	// Disputes: cancelled, upheld in part, rejected, open.
	dd := s.invoice(s.e(210), terms, 17_950_00)
	s.dispute(dd, s.e(200), "goods returned: order cancelled")
	s.resolve(dd, s.e(180), "upheld", "order cancelled, full credit")
	s.creditNote(dd, s.e(180), dd.minor, "cancellation of the invoice")

	da := s.invoice(s.e(170), terms, 19_240_00)
	s.dispute(da, s.e(160), "price differs from the order")
	s.resolve(da, s.e(130), "upheld", "price adjusted by 20 %")
	s.creditNote(da, s.e(130), 3_848_00, "price adjustment")
	s.pay(s.e(120), alloc{da, da.minor - 3_848_00})

	db := s.invoice(s.e(110), terms, 16_385_20)
	s.dispute(db, s.e(100), "delivery incomplete")
	s.resolve(db, s.e(85), "rejected", "proof of delivery signed")
	s.pay(s.e(80), alloc{db, db.minor})

	dc := s.invoice(s.e(50), terms, 18_770_00)
	s.dispute(dc, s.e(40), "quality claim")
	return s
}
