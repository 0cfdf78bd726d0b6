package domain

import (
	"fmt"
	"strconv"
	"strings"
)

// TermsKind is how a due date follows from an issue date.
type TermsKind uint8

const (
	TermsNet           TermsKind = iota + 1 // issue + N days
	TermsEndOfMonth                         // end of the issue month (N = 0)
	TermsEndOfMonthNet                      // end of the issue month, then + N days
)

// Terms are payment terms: "net30", "eom", "eom+45".
type Terms struct {
	Kind TermsKind
	Days int
}

// termsDaysMax bounds payment terms: beyond a year is a data error, not a contract.
const termsDaysMax = 365

// Net returns net-N-days terms.
func Net(days int) Terms { return Terms{Kind: TermsNet, Days: days} }

// ParseTerms reads "net30", "eom" or "eom+45".
func ParseTerms(s string) (Terms, error) {
	in := s
	bad := func() error { // built only when needed: a replay parses terms in every registration
		return FieldErrorf(KindInvalid, CodeInvalidTerms, "terms", "terms %q: want netN, eom or eom+N", in)
	}
	var t Terms
	switch {
	case strings.HasPrefix(s, "net"):
		t.Kind = TermsNet
		s = s[3:]
	case s == "eom":
		return Terms{Kind: TermsEndOfMonth}, nil
	case strings.HasPrefix(s, "eom+"):
		t.Kind = TermsEndOfMonthNet
		s = s[4:]
	default:
		return Terms{}, bad()
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 || n > termsDaysMax || s == "" || s[0] == '+' {
		return Terms{}, bad()
	}
	t.Days = n
	return t, nil
}

// Validate refuses unknown kinds and days outside 0..365.
func (t Terms) Validate() error {
	if t.Kind < TermsNet || t.Kind > TermsEndOfMonthNet || t.Days < 0 || t.Days > termsDaysMax {
		return FieldErrorf(KindInvalid, CodeInvalidTerms, "terms", "invalid terms %v", t)
	}
	return nil
}

// DueDate returns the due date of an invoice issued on issue under t.
func (t Terms) DueDate(issue Date) Date {
	switch t.Kind {
	case TermsNet:
		return issue.AddDays(t.Days)
	case TermsEndOfMonth:
		return issue.EndOfMonth()
	case TermsEndOfMonthNet:
		return issue.EndOfMonth().AddDays(t.Days)
	}
	panic(fmt.Sprintf("domain: DueDate on invalid terms %+v", t))
}

// String formats terms as ParseTerms reads them.
func (t Terms) String() string {
	switch t.Kind {
	case TermsNet:
		return "net" + strconv.Itoa(t.Days)
	case TermsEndOfMonth:
		return "eom"
	case TermsEndOfMonthNet:
		return "eom+" + strconv.Itoa(t.Days)
	}
	return fmt.Sprintf("terms(%d,%d)", t.Kind, t.Days)
}

// MarshalJSON writes the ParseTerms form, and null for the zero Terms ("not given", as a
// zero Date), so that whatever UnmarshalJSON accepts encodes back to something it accepts.
// Other invalid terms are an error rather than a string no decoder reads.
func (t Terms) MarshalJSON() ([]byte, error) {
	if t == (Terms{}) {
		return []byte("null"), nil
	}
	if err := t.Validate(); err != nil {
		return nil, err
	}
	return []byte(strconv.Quote(t.String())), nil
}

// UnmarshalJSON reads the ParseTerms form; null is the zero Terms.
func (t *Terms) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*t = Terms{}
		return nil
	}
	s, err := strconv.Unquote(string(b))
	if err != nil {
		return FieldErrorf(KindInvalid, CodeInvalidTerms, "terms", "terms must be a string such as \"net30\"")
	}
	v, err := ParseTerms(s)
	if err != nil {
		return err
	}
	*t = v
	return nil
}

// ExceedsLMECap reports whether terms run beyond the French LME cap for an invoice issued on
// issue: more than 60 days from issue, or more than 45 days end of month (design §Metrics,
// payment-term compliance). The 45-days-end-of-month limit is read as end of the month of
// (issue + 45 days), the more common of the two accepted computations.
func ExceedsLMECap(issue, due Date) bool {
	cap60 := issue.AddDays(60)
	cap45eom := issue.AddDays(45).EndOfMonth()
	limit := cap60
	if cap45eom.After(limit) {
		limit = cap45eom
	}
	return due.After(limit)
}
