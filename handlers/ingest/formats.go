package ingest

import (
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/encours/encours/domain"
)

// genericFormat is one row per invoice, as most ERPs export an open-items or invoice
// register, with an optional settlement. Amounts are decimals in major units ("1250.00"),
// dates YYYY-MM-DD. Documented in the README ("Importing a ledger"). A Mapping (--mapping
// mapping.yaml) renames its columns and changes its date layout and amount scale; the zero
// value is the layout below.
//
//	required: customer_id, invoice_id, issue_date, due_date, amount, currency
//	optional: customer_name, country, segment, sector, terms_days, credit_limit,
//	          invoice_number (default: invoice_id), disputed (yes/no), paid_date, paid_amount
type genericFormat struct {
	cols        map[string]string // generic field -> the file's column; absent: same name
	dateLayout  string            // Go layout of dates; "": YYYY-MM-DD
	amountScale int               // decimal places implied in the file's amounts (0: "1250.00")
}

func (genericFormat) Name() string { return "generic" }

// genericRequired are the generic layout's required fields.
var genericRequired = []string{"customer_id", "invoice_id", "issue_date", "due_date", "amount", "currency"}

// col is the file's column holding a generic field.
func (g genericFormat) col(field string) string {
	if c, ok := g.cols[field]; ok {
		return c
	}
	return field
}

func (g genericFormat) Columns() []string {
	out := make([]string, len(genericRequired))
	for i, f := range genericRequired {
		out[i] = g.col(f)
	}
	return out
}

// genericField indexes genericFields (same order): a row is parsed from its fields by it, so
// that a mapper bound to a file's header (bind) finds each field's column once per file, not
// with two map lookups per field and row (12 % of an import's CPU).
type genericField int

const (
	gCustomerID genericField = iota
	gInvoiceID
	gIssueDate
	gDueDate
	gAmount
	gCurrency
	gCustomerName
	gCountry
	gSegment
	gSector
	gTermsDays
	gCreditLimit
	gInvoiceNumber
	gDisputed
	gPaidDate
	gPaidAmount
	genericFieldsCount
)

// bind returns the row mapper for the file whose header is cols (column name -> index): it
// reads a row by position, with the columns of the format's fields resolved once.
func (g genericFormat) bind(cols map[string]int) rowMapper {
	invariant(len(genericFields) == int(genericFieldsCount), "%d generic fields, %d named", genericFieldsCount, len(genericFields))
	b := &genericBound{g: g}
	for f, name := range genericFields {
		i, ok := cols[g.col(name)]
		if !ok {
			i = -1
		}
		b.idx[f] = i
	}
	return b
}

// genericBound is the generic format bound to one file's header.
type genericBound struct {
	g   genericFormat
	idx [genericFieldsCount]int // the column of each generic field, -1 when the file has none
}

// values reads a row's generic fields, trimmed ("" for a column the file or the row lacks).
func (b *genericBound) values(fields []string, v *genericValues) {
	for f, i := range b.idx {
		if i >= 0 && i < len(fields) {
			v[f] = trimSpace(fields[i])
		} else {
			v[f] = ""
		}
	}
}

// trimSpace is strings.TrimSpace, without the call for the usual field, which has no space
// (nor any byte outside printable ASCII) at either end.
func trimSpace(s string) string {
	if s == "" {
		return s
	}
	if first, last := s[0], s[len(s)-1]; first > ' ' && first < 0x80 && last > ' ' && last < 0x80 {
		return s
	}
	return strings.TrimSpace(s)
}

func (b *genericBound) check(row int, fields []string, ids *rowIDs, parsed []byte) ([]byte, error) {
	var v genericValues
	b.values(fields, &v)
	var r genericRow
	if err := b.g.parse(row, &v, &r); err != nil {
		return parsed, err
	}
	ids.cust = r.cust
	ids.add('i', "", string(r.inv))
	if r.paid {
		ids.add('p', paymentIDPrefix, string(r.inv))
	}
	return r.appendParsed(parsed), nil
}

func (b *genericBound) appendCommands(dst []domain.Command, row int, cust string, fields []string, parsed string, register bool, allocs []domain.Allocation) ([]domain.Command, int, error) {
	var r genericRow
	if parsed != "" {
		if !r.readParsed(cust, parsed) {
			return dst, 0, fmt.Errorf("import: row %d: damaged parsed row in a partition", row)
		}
	} else {
		var v genericValues
		b.values(fields, &v)
		if err := b.g.parse(row, &v, &r); err != nil {
			return dst, 0, err
		}
	}
	if !register {
		return r.appendCommands(dst, false, allocs), 1, nil
	}
	return r.appendCommands(dst, true, allocs), 0, nil
}

// Flags of a genericRow's parsed form.
const (
	parsedDisputed   = 1 << iota
	parsedPaid       // paidOn and paidAmount follow the dates
	parsedNameIsCust // the customer's name is its id (none in the file)
	parsedNumberIsID // the invoice number is its id (none in the file)
)

// appendParsed appends the parsed form of r that readParsed reads back, without its
// customer id (the partition record's first field): what the read pass parsed, so that the
// validate pass need not parse the row again.
func (r *genericRow) appendParsed(b []byte) []byte {
	flags := byte(0)
	if r.disputed {
		flags |= parsedDisputed
	}
	if r.paid {
		flags |= parsedPaid
	}
	if r.name == string(r.cust) {
		flags |= parsedNameIsCust
	}
	if r.number == string(r.inv) {
		flags |= parsedNumberIsID
	}
	b = append(b, flags)
	b = appendParsedString(b, string(r.ccy))
	b = binary.AppendVarint(b, int64(r.terms.Days))
	b = binary.AppendVarint(b, r.limit.Minor)
	b = binary.AppendVarint(b, r.amount.Minor)
	// A date as its day number: Date{}.DaysUntil(d), read back with Date{}.AddDays.
	b = binary.AppendVarint(b, int64(domain.Date{}.DaysUntil(r.issue)))
	b = binary.AppendVarint(b, int64(domain.Date{}.DaysUntil(r.due)))
	b = appendParsedString(b, string(r.inv))
	if r.paid {
		b = binary.AppendVarint(b, int64(domain.Date{}.DaysUntil(r.paidOn)))
		b = binary.AppendVarint(b, r.paidAmount.Minor)
		// The payment id, built here once rather than on each read (an allocation).
		b = binary.AppendUvarint(b, uint64(len(paymentIDPrefix)+len(r.inv)))
		b = append(append(b, paymentIDPrefix...), r.inv...)
	}
	if flags&parsedNameIsCust == 0 {
		b = appendParsedString(b, r.name)
	}
	b = appendParsedString(b, r.country)
	b = appendParsedString(b, r.sector)
	b = appendParsedString(b, r.segment)
	if flags&parsedNumberIsID == 0 {
		b = appendParsedString(b, r.number)
	}
	return b
}

func appendParsedString(b []byte, s string) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}

// readParsed reads back into r the parsed form appendParsed wrote for the row of customer
// cust; its strings share p's bytes. It reports false when p is damaged.
func (r *genericRow) readParsed(cust, p string) bool {
	d := parsedReader{s: p, ok: true}
	flags := d.byte()
	r.cust = domain.CustomerID(cust)
	r.disputed, r.paid = flags&parsedDisputed != 0, flags&parsedPaid != 0
	r.ccy = domain.Currency(d.string())
	r.terms = domain.Net(int(d.varint()))
	r.limit = domain.Money{Minor: d.varint(), Ccy: r.ccy}
	r.amount = domain.Money{Minor: d.varint(), Ccy: r.ccy}
	r.issue = domain.Date{}.AddDays(int(d.varint()))
	r.due = domain.Date{}.AddDays(int(d.varint()))
	r.inv = domain.InvoiceID(d.string())
	r.paidOn, r.paidAmount, r.payID = domain.Date{}, domain.Money{}, ""
	if r.paid {
		r.paidOn = domain.Date{}.AddDays(int(d.varint()))
		r.paidAmount = domain.Money{Minor: d.varint(), Ccy: r.ccy}
		r.payID = domain.PaymentID(d.string())
	}
	r.name = cust
	if flags&parsedNameIsCust == 0 {
		r.name = d.string()
	}
	r.country, r.sector, r.segment = d.string(), d.string(), d.string()
	r.number = string(r.inv)
	if flags&parsedNumberIsID == 0 {
		r.number = d.string()
	}
	return d.ok && d.i == len(p)
}

// parsedReader reads a parsed form; ok turns false at the first damaged value.
type parsedReader struct {
	s  string
	i  int
	ok bool
}

func (d *parsedReader) byte() byte {
	if d.i >= len(d.s) {
		d.ok = false
		return 0
	}
	d.i++
	return d.s[d.i-1]
}

func (d *parsedReader) varint() int64 {
	x, n := uvarint(d.s[d.i:])
	if n <= 0 {
		d.ok = false
		return 0
	}
	d.i += n
	return int64(x>>1) ^ -int64(x&1) //nolint:gosec // zig-zag, as binary.AppendVarint wrote it
}

func (d *parsedReader) string() string {
	l, n := uvarint(d.s[d.i:])
	if n <= 0 || l > uint64(len(d.s)-d.i-n) {
		d.ok = false
		return ""
	}
	d.i += n + int(l)
	return d.s[d.i-int(l) : d.i]
}

func (g genericFormat) parseDate(s string) (domain.Date, error) {
	if g.dateLayout == "" {
		return domain.ParseDate(s)
	}
	t, err := time.Parse(g.dateLayout, s)
	if err != nil {
		return domain.Date{}, domain.Errorf(domain.KindInvalid, domain.CodeInvalidDate, "date %q: want the layout %s", s, g.dateLayout)
	}
	return domain.DateOf(t.Year(), t.Month(), t.Day())
}

func (g genericFormat) money(row int, field, s string, ccy domain.Currency) (domain.Money, error) {
	m, err := money(row, g.col(field), s, ccy)
	if err != nil || g.amountScale == 0 {
		return m, err
	}
	div := int64(1)
	for range g.amountScale {
		div *= 10
	}
	if m.Minor%div != 0 {
		return domain.Money{}, &RowError{Row: row, Field: g.col(field), Code: domain.CodeInvalidField,
			Reason: fmt.Sprintf("amount %s with amount_scale %d is finer than %s's minor unit", s, g.amountScale, ccy)}
	}
	m.Minor /= div
	if m.Minor == 0 {
		return domain.Money{}, &RowError{Row: row, Field: g.col(field), Code: domain.CodeAmountNotPositive, Reason: "amount " + s + " must be positive"}
	}
	return m, nil
}

func (g genericFormat) Map(row int, getCol func(string) string) ([]domain.Command, error) {
	var v genericValues
	for f, name := range genericFields {
		v[f] = getCol(g.col(name))
	}
	var r genericRow
	if err := g.parse(row, &v, &r); err != nil {
		return nil, err
	}
	return r.appendCommands(make([]domain.Command, 0, rowCommandsMax), true, nil), nil
}

// genericValues are a row's generic fields, trimmed, by genericField.
type genericValues [genericFieldsCount]string

// genericRow is one row of the generic layout, parsed and checked: the commands it maps to
// are built from it (appendCommands), so that checking a row builds nothing.
type genericRow struct {
	cust                                   domain.CustomerID
	inv                                    domain.InvoiceID
	name, country, sector, segment, number string
	ccy                                    domain.Currency
	terms                                  domain.Terms
	limit, amount, paidAmount              domain.Money
	issue, due, paidOn                     domain.Date
	disputed, paid                         bool
	// payID is the payment id of a paid row read from its parsed form; "" otherwise, and
	// appendCommands builds it (paymentIDPrefix and the invoice id).
	payID domain.PaymentID
}

// parse reads and checks the generic fields v of a row into r; a refusal names the row and
// the file's column.
func (g genericFormat) parse(row int, v *genericValues, r *genericRow) error {
	ccy, err := domain.ParseCurrency(v[gCurrency])
	if err != nil {
		return fieldError(row, g.col("currency"), err)
	}
	r.ccy = ccy
	r.cust = domain.CustomerID(v[gCustomerID])
	if r.issue, err = requiredDate(row, g.col("issue_date"), v[gIssueDate], g.parseDate); err != nil {
		return err
	}
	if r.due, err = requiredDate(row, g.col("due_date"), v[gDueDate], g.parseDate); err != nil {
		return err
	}
	if r.amount, err = g.money(row, "amount", v[gAmount], ccy); err != nil {
		return err
	}
	r.terms = domain.Net(r.issue.DaysUntil(r.due))
	if s := v[gTermsDays]; s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 || n > 365 {
			return &RowError{Row: row, Field: g.col("terms_days"), Code: domain.CodeInvalidTerms, Reason: "want a whole number of days, 0 to 365"}
		}
		r.terms = domain.Net(n)
	} else if r.terms.Days < 0 {
		r.terms = domain.Net(0) // due before issue: Decide refuses the invoice with due_before_issue
	}
	r.limit = domain.Zero(ccy)
	if s := v[gCreditLimit]; s != "" {
		if r.limit, err = g.money(row, "credit_limit", s, ccy); err != nil {
			return err
		}
	}
	r.name = v[gCustomerName]
	if r.name == "" {
		r.name = string(r.cust)
	}
	r.country = v[gCountry]
	if r.country == "" {
		r.country = "FR"
	}
	r.sector, r.segment = v[gSector], v[gSegment]
	r.number = v[gInvoiceNumber]
	if r.number == "" {
		r.number = v[gInvoiceID]
	}
	r.inv = domain.InvoiceID(v[gInvoiceID])
	if r.disputed, err = yesNo(row, g.col("disputed"), v[gDisputed]); err != nil {
		return err
	}
	if s := v[gPaidDate]; s != "" {
		r.paid = true
		if r.paidOn, err = requiredDate(row, g.col("paid_date"), s, g.parseDate); err != nil {
			return err
		}
		r.paidAmount = r.amount
		if s := v[gPaidAmount]; s != "" {
			if r.paidAmount, err = g.money(row, "paid_amount", s, ccy); err != nil {
				return err
			}
		}
	}
	return nil
}

// appendCommands appends the commands of the row, in the order they apply: register the
// customer (unless register is false), issue the invoice, dispute it, settle it (the
// payment's allocation in allocs, when it has room: see settle).
func (r *genericRow) appendCommands(dst []domain.Command, register bool, allocs []domain.Allocation) []domain.Command {
	if register {
		dst = append(dst, domain.RegisterCustomer{CustomerID: r.cust, Name: r.name, Country: r.country, Sector: r.sector,
			Segment: r.segment, Currency: r.ccy, Terms: r.terms, CreditLimit: r.limit, On: r.issue})
	}
	dst = append(dst,
		domain.IssueInvoice{CustomerID: r.cust, InvoiceID: r.inv, Number: r.number, Amount: r.amount, IssueDate: r.issue, DueDate: r.due})
	if r.disputed {
		dst = append(dst, domain.DisputeInvoice{CustomerID: r.cust, InvoiceID: r.inv, On: r.issue, Reason: "imported as disputed"})
	}
	if r.paid {
		pay := r.payID
		if pay == "" {
			pay = domain.PaymentID(paymentIDPrefix + string(r.inv))
		}
		dst = settle(dst, r.cust, r.inv, pay, r.paidOn, r.paidAmount, r.disputed, allocs)
	}
	return dst
}

// ibmFormat is the IBM accounts-receivable sample (WA_Fn-UseC_-Accounts-Receivable): one
// settled invoice per row, M/D/YYYY dates, amounts in EUR units, 30-day terms, invoice
// numbers with leading zeros kept as text.
type ibmFormat struct{}

// ibmRegisteredOn is the registration date given to the sample's customers: the file has no
// such date and is not sorted, and its first invoice is dated 2012-01-03.
var ibmRegisteredOn = domain.MustDate("2012-01-01")

// ibmCreditLimit is the limit given to the sample's customers (EUR minor units): the file has
// none; 10 000,00 EUR is well above any customer's largest open balance in the sample.
const ibmCreditLimit = 1_000_000

// ibmCountries maps the sample's anonymised numeric country codes to ISO 3166 user-assigned
// codes, so that they are never mistaken for real countries.
var ibmCountries = map[string]string{"391": "XA", "406": "XB", "770": "XC", "818": "XD", "897": "XE"}

func (ibmFormat) Name() string { return "ibm-ar" }

// ibmColumns maps the API field names the domain reports to the sample's columns.
var ibmColumns = map[string]string{
	"customer_id": "customerID", "id": "customerID", "invoice_id": "invoiceNumber", "number": "invoiceNumber",
	"issue_date": "InvoiceDate", "due_date": "DueDate", "amount": "InvoiceAmount", "currency": "InvoiceAmount",
	"received_on": "SettledDate", "allocations": "SettledDate", "country": "countryCode",
}

// Column names the file column behind a domain error's field.
func (ibmFormat) Column(field string) string {
	if c, ok := ibmColumns[field]; ok {
		return c
	}
	return field
}

// genericColumns maps the API field names the domain reports to the generic columns.
var genericColumns = map[string]string{
	"id": "customer_id", "number": "invoice_number", "name": "customer_name",
	"received_on": "paid_date", "allocations": "paid_amount", "terms": "terms_days",
}

// Column names the file column behind a domain error's field.
func (g genericFormat) Column(field string) string {
	if c, ok := genericColumns[field]; ok {
		field = c
	}
	return g.col(field)
}

func (ibmFormat) Columns() []string {
	return []string{"countryCode", "customerID", "invoiceNumber", "InvoiceDate", "DueDate", "InvoiceAmount", "Disputed", "SettledDate"}
}

func (ibmFormat) Map(row int, get func(string) string) ([]domain.Command, error) {
	country, ok := ibmCountries[get("countryCode")]
	if !ok {
		return nil, &RowError{Row: row, Field: "countryCode", Code: domain.CodeInvalidField, Reason: "unknown country code " + strconv.Quote(get("countryCode"))}
	}
	cust := domain.CustomerID(get("customerID"))
	issue, err := requiredDate(row, "InvoiceDate", get("InvoiceDate"), parseUSDate)
	if err != nil {
		return nil, err
	}
	due, err := requiredDate(row, "DueDate", get("DueDate"), parseUSDate)
	if err != nil {
		return nil, err
	}
	amount, err := money(row, "InvoiceAmount", get("InvoiceAmount"), "EUR")
	if err != nil {
		return nil, err
	}
	number := get("invoiceNumber")
	inv := domain.InvoiceID(number)
	cmds := []domain.Command{
		domain.RegisterCustomer{CustomerID: cust, Name: "IBM sample customer " + string(cust), Country: country,
			Segment: "sample", Currency: "EUR", Terms: domain.Net(30),
			CreditLimit: domain.Money{Minor: ibmCreditLimit, Ccy: "EUR"}, On: ibmRegisteredOn},
		domain.IssueInvoice{CustomerID: cust, InvoiceID: inv, Number: number, Amount: amount, IssueDate: issue, DueDate: due},
	}
	disputed, err := yesNo(row, "Disputed", get("Disputed"))
	if err != nil {
		return nil, err
	}
	if disputed {
		cmds = append(cmds, domain.DisputeInvoice{CustomerID: cust, InvoiceID: inv, On: issue, Reason: "disputed in the IBM sample"})
	}
	if s := get("SettledDate"); s != "" {
		paid, err := requiredDate(row, "SettledDate", s, parseUSDate)
		if err != nil {
			return nil, err
		}
		cmds = settle(cmds, cust, inv, domain.PaymentID(paymentIDPrefix+string(inv)), paid, amount, disputed, nil)
	}
	return cmds, nil
}

// paymentIDPrefix makes a settled invoice's payment id: "pay-" and the invoice id.
const paymentIDPrefix = "pay-"

// settle appends the commands that pay an invoice with payment pay (paymentIDPrefix and
// the invoice id) on a date and close its dispute, if any, the same day: a settled
// invoice's dispute is over. The payment's one allocation is allocs[0] when allocs has
// room (a caller's scratch, reused once the command is decided), else a new slice.
func settle(dst []domain.Command, cust domain.CustomerID, inv domain.InvoiceID, pay domain.PaymentID, paid domain.Date, amount domain.Money, disputed bool, allocs []domain.Allocation) []domain.Command {
	a := domain.Allocation{InvoiceID: inv, Amount: amount}
	if len(allocs) > 0 {
		allocs = allocs[:1:1]
		allocs[0] = a
	} else {
		allocs = []domain.Allocation{a}
	}
	dst = append(dst, domain.RecordPayment{CustomerID: cust, PaymentID: pay,
		Amount: amount, ReceivedOn: paid, Allocations: allocs})
	if disputed {
		dst = append(dst, domain.ResolveDispute{CustomerID: cust, InvoiceID: inv, On: paid, Outcome: "settled"})
	}
	return dst
}

func requiredDate(row int, col, s string, parse func(string) (domain.Date, error)) (domain.Date, error) {
	if s == "" {
		return domain.Date{}, &RowError{Row: row, Field: col, Code: domain.CodeMissingField, Reason: "a date is required"}
	}
	d, err := parse(s)
	if err != nil {
		return domain.Date{}, fieldError(row, col, err)
	}
	return d, nil
}

func money(row int, col, s string, ccy domain.Currency) (domain.Money, error) {
	if s == "" {
		return domain.Money{}, &RowError{Row: row, Field: col, Code: domain.CodeMissingField, Reason: "an amount is required"}
	}
	minor, err := domain.ParseDecimal(s, ccy.MinorUnits())
	if err != nil {
		return domain.Money{}, fieldError(row, col, err)
	}
	if minor <= 0 {
		return domain.Money{}, &RowError{Row: row, Field: col, Code: domain.CodeAmountNotPositive, Reason: "amount " + s + " must be positive"}
	}
	return domain.Money{Minor: minor, Ccy: ccy}, nil
}

func yesNo(row int, col, s string) (bool, error) {
	switch strings.ToLower(s) {
	case "", "no", "n", "false", "0":
		return false, nil
	case "yes", "y", "true", "1":
		return true, nil
	}
	return false, &RowError{Row: row, Field: col, Code: domain.CodeInvalidField, Reason: "want yes or no, got " + strconv.Quote(s)}
}
