package domain

// Command is a request to change one customer's stream. Decide turns it into events or a
// typed *Error; the command shell in handlers does the I/O around it.
type Command interface {
	// Customer names the stream the command acts on.
	Customer() CustomerID
}

// RegisterCustomer opens a customer (POST /v1/customers).
type RegisterCustomer struct {
	CustomerID  CustomerID
	Name        string
	Country     string
	Sector      string
	Segment     string
	Currency    Currency
	Terms       Terms
	CreditLimit Money
	On          Date
}

// ChangeCreditLimit sets a new limit (POST /v1/customers/{id}/credit-limit).
type ChangeCreditLimit struct {
	CustomerID CustomerID
	Limit      Money
	Reason     string
	ApprovedBy string
	On         Date
}

// IssueInvoice records an invoice (POST /v1/invoices). A zero DueDate means "from the
// customer's default terms".
type IssueInvoice struct {
	CustomerID CustomerID
	InvoiceID  InvoiceID
	Number     string
	Amount     Money
	IssueDate  Date
	DueDate    Date
}

// IssueCreditNote reduces InvoiceID (when set) and stands as customer credit for the rest
// (POST /v1/credit-notes).
type IssueCreditNote struct {
	CustomerID   CustomerID
	CreditNoteID CreditNoteID
	InvoiceID    InvoiceID
	Amount       Money
	IssueDate    Date
	Reason       string
}

// RecordPayment records cash received (POST /v1/payments). No allocations: oldest due first;
// whatever is left stays unallocated on account.
type RecordPayment struct {
	CustomerID  CustomerID
	PaymentID   PaymentID
	Amount      Money
	ReceivedOn  Date
	Allocations []Allocation
	Reference   string
}

// AllocatePayment applies cash on account (PaymentID) or standing credit (CreditNoteID) to
// invoices. No allocations: oldest due first, up to what is available.
type AllocatePayment struct {
	CustomerID   CustomerID
	PaymentID    PaymentID
	CreditNoteID CreditNoteID
	On           Date
	Allocations  []Allocation
}

// ReversePayment undoes a payment (POST /v1/payments/{id}/reversal).
type ReversePayment struct {
	CustomerID CustomerID
	PaymentID  PaymentID
	On         Date
	Reason     string
}

// DisputeInvoice (POST /v1/invoices/{id}/dispute).
type DisputeInvoice struct {
	CustomerID CustomerID
	InvoiceID  InvoiceID
	On         Date
	Reason     string
}

// ResolveDispute (POST /v1/invoices/{id}/dispute-resolution).
type ResolveDispute struct {
	CustomerID CustomerID
	InvoiceID  InvoiceID
	On         Date
	Outcome    string
	Note       string
}

// WriteOffInvoice writes off the open amount of an invoice (POST /v1/invoices/{id}/write-off).
type WriteOffInvoice struct {
	CustomerID CustomerID
	InvoiceID  InvoiceID
	On         Date
	Reason     string
}

// AgreePaymentPlan (POST /v1/customers/{id}/payment-plans).
type AgreePaymentPlan struct {
	CustomerID  CustomerID
	PlanID      string
	InvoiceIDs  []InvoiceID
	Instalments []Instalment
	On          Date
}

// RecordPromise records a promise to pay (POST /v1/customers/{id}/promises).
type RecordPromise struct {
	CustomerID  CustomerID
	PromiseID   string
	Amount      Money
	PromisedFor Date
	InvoiceIDs  []InvoiceID
	On          Date
	Note        string
}

// SendReminder records a dunning step (POST /v1/customers/{id}/reminders).
type SendReminder struct {
	CustomerID CustomerID
	InvoiceID  InvoiceID
	Level      int
	Channel    string
	On         Date
}

// RecordRating records an agency's rating (POST /v1/customers/{id}/ratings).
type RecordRating struct {
	CustomerID CustomerID
	Agency     string
	Score      int
	Grade      string
	On         Date
}

// ChangeInsuranceCover sets the credit-insurance cover (POST /v1/customers/{id}/insurance).
type ChangeInsuranceCover struct {
	CustomerID      CustomerID
	Insurer         string
	Covered         Money
	DeclarationDays int
	On              Date
}

func (c RegisterCustomer) Customer() CustomerID     { return c.CustomerID }
func (c ChangeCreditLimit) Customer() CustomerID    { return c.CustomerID }
func (c IssueInvoice) Customer() CustomerID         { return c.CustomerID }
func (c IssueCreditNote) Customer() CustomerID      { return c.CustomerID }
func (c RecordPayment) Customer() CustomerID        { return c.CustomerID }
func (c AllocatePayment) Customer() CustomerID      { return c.CustomerID }
func (c ReversePayment) Customer() CustomerID       { return c.CustomerID }
func (c DisputeInvoice) Customer() CustomerID       { return c.CustomerID }
func (c ResolveDispute) Customer() CustomerID       { return c.CustomerID }
func (c WriteOffInvoice) Customer() CustomerID      { return c.CustomerID }
func (c AgreePaymentPlan) Customer() CustomerID     { return c.CustomerID }
func (c RecordPromise) Customer() CustomerID        { return c.CustomerID }
func (c SendReminder) Customer() CustomerID         { return c.CustomerID }
func (c RecordRating) Customer() CustomerID         { return c.CustomerID }
func (c ChangeInsuranceCover) Customer() CustomerID { return c.CustomerID }
