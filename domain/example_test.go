package domain_test

import (
	"fmt"

	"github.com/encours/encours/domain"
)

func ExampleMoney_Add() {
	invoice := domain.Money{Minor: 125_000, Ccy: "EUR"} // 1 250,00 EUR
	fee := domain.Money{Minor: 5_594, Ccy: "EUR"}
	total, err := invoice.Add(fee)
	fmt.Println(total, err)

	// Adding two currencies is an error, never a conversion.
	_, err = invoice.Add(domain.Money{Minor: 100, Ccy: "USD"})
	fmt.Println(domain.ErrorCode(err))
	// Output:
	// 1305.94 EUR <nil>
	// currency_mismatch
}

func ExampleDate_DaysUntil() {
	issued := domain.MustDate("2025-01-31")
	due := domain.Net(30).DueDate(issued)
	paid := domain.MustDate("2025-03-20")
	fmt.Println("due:", due)
	fmt.Println("days to pay:", issued.DaysUntil(paid))    // design §Metrics: payment date − issue date
	fmt.Println("days beyond terms:", due.DaysUntil(paid)) // payment date − due date
	// Output:
	// due: 2025-03-02
	// days to pay: 48
	// days beyond terms: 18
}

func ExampleDecide() {
	eur := func(minor int64) domain.Money { return domain.Money{Minor: minor, Ccy: "EUR"} }
	commands := []domain.Command{
		domain.RegisterCustomer{CustomerID: "C1", Name: "Boulangerie Martin SARL", Country: "FR",
			Currency: "EUR", Terms: domain.Net(30), CreditLimit: eur(500_000), On: domain.MustDate("2025-01-02")},
		domain.IssueInvoice{CustomerID: "C1", InvoiceID: "I1", Number: "F-2025-001", Amount: eur(125_000),
			IssueDate: domain.MustDate("2025-01-10")}, // no due date: net 30 from the customer's terms
		domain.RecordPayment{CustomerID: "C1", PaymentID: "P1", Amount: eur(150_000),
			ReceivedOn: domain.MustDate("2025-02-07")}, // no allocations: oldest due first
	}
	c := domain.NewCustomer()
	for _, cmd := range commands {
		events, err := domain.Decide(c, cmd)
		if err != nil {
			fmt.Println("refused:", err)
			return
		}
		for _, e := range events {
			domain.Evolve(c, e)
			fmt.Printf("%s on %s\n", e.EventType(), e.Effective())
		}
	}
	p, _ := c.Payment("P1")
	fmt.Println("allocated:", p.Allocations[0].InvoiceID, p.Allocations[0].Amount)
	fmt.Println("on account:", c.UnallocatedCash())
	fmt.Println("exposure:", c.Exposure(), "at version", c.Version())

	_, err := domain.Decide(c, commands[2]) // the same payment again
	fmt.Println(domain.ErrorCode(err))
	// Output:
	// CustomerRegistered on 2025-01-02
	// InvoiceIssued on 2025-01-10
	// PaymentReceived on 2025-02-07
	// allocated: I1 1250.00 EUR
	// on account: 250.00 EUR
	// exposure: -250.00 EUR at version 3
	// duplicate_payment
}
