package domain

import (
	"encoding/json"
	"fmt"
	"time"
)

// Date is a civil calendar date with no time zone (issue, due, payment and as-of dates). It is
// stored as days since 1970-01-01 plus dateBias, so that the zero value is no valid date and
// means "not given" (IsZero); valid dates run from 1900-01-01 to 2999-12-31.
type Date struct{ n int32 }

// dateBias keeps the zero value outside the valid range (it is about year -768).
const dateBias = 1_000_000

// IsZero reports whether d is the zero value, "no date given".
func (d Date) IsZero() bool { return d.n == 0 }

// dateFirst and dateLast bound the valid range, 1900-01-01 ..= 2999-12-31.
var (
	dateFirst = int32(daysFromCivil(1900, 1, 1)) + dateBias
	dateLast  = int32(daysFromCivil(2999, 12, 31)) + dateBias
)

// Valid reports whether d is a date within 1900-01-01 ..= 2999-12-31, the range ParseDate
// reads back. Arithmetic (AddDays, AddMonths) can step outside it; such a date would marshal
// but never decode, so Decide refuses it before it reaches an event.
func (d Date) Valid() bool { return d.n >= dateFirst && d.n <= dateLast }

// DateOf returns the date y-m-d, refusing impossible dates (2025-02-30).
func DateOf(y int, m time.Month, d int) (Date, error) {
	if y < 1900 || y > 2999 || m < 1 || m > 12 || d < 1 || d > daysIn(y, m) {
		return Date{}, Errorf(KindInvalid, CodeInvalidDate, "%04d-%02d-%02d is not a valid date", y, int(m), d)
	}
	return Date{n: monthStarts[(y-1900)*12+int(m)-1] + int32(d-1) + dateBias}, nil
}

// monthStarts holds the day number (days since 1970-01-01) of the first day of every month
// from 1900 to 2999, the range DateOf accepts: decoders read millions of dates.
var monthStarts = func() (t [1100 * 12]int32) {
	for i := range t {
		t[i] = int32(daysFromCivil(1900+i/12, i%12+1, 1))
	}
	return t
}()

// MustDate is DateOf for constants in tests and examples; it panics on an invalid date.
func MustDate(s string) Date {
	d, err := ParseDate(s)
	if err != nil {
		panic(err)
	}
	return d
}

// ParseDate reads YYYY-MM-DD strictly (zero-padded, no time, no zone).
func ParseDate(s string) (Date, error) {
	if len(s) != 10 || s[4] != '-' || s[7] != '-' {
		return Date{}, Errorf(KindInvalid, CodeInvalidDate, "date %q must be YYYY-MM-DD", s)
	}
	y, ok1 := atoiDigits(s[0:4])
	m, ok2 := atoiDigits(s[5:7])
	d, ok3 := atoiDigits(s[8:10])
	if !ok1 || !ok2 || !ok3 {
		return Date{}, Errorf(KindInvalid, CodeInvalidDate, "date %q must be YYYY-MM-DD", s)
	}
	return DateOf(y, time.Month(m), d)
}

// DateFromDays rebuilds a Date from its stored day number (storage and codecs only).
func DateFromDays(days int32) Date { return Date{n: days + dateBias} }

// DateOfTime returns the UTC calendar date of an instant.
func DateOfTime(t time.Time) Date {
	y, m, d := t.UTC().Date()
	return Date{n: int32(daysFromCivil(y, int(m), d)) + dateBias}
}

// Days returns the stored day number (days since 1970-01-01).
func (d Date) Days() int32 { return d.n - dateBias }

// Civil returns year, month, day.
func (d Date) Civil() (int, time.Month, int) {
	y, m, dd := civilFromDays(int64(d.n - dateBias))
	return y, time.Month(m), dd
}

// String formats YYYY-MM-DD.
func (d Date) String() string {
	if d.IsZero() {
		return ""
	}
	return string(d.appendISO(make([]byte, 0, 10)))
}

// appendISO appends d as YYYY-MM-DD (fmt's "%04d-%02d-%02d", without its cost: dates are
// written into every event's data).
func (d Date) appendISO(b []byte) []byte {
	y, m, dd := d.Civil()
	if y < 0 || y > 9999 {
		return fmt.Appendf(b, "%04d-%02d-%02d", y, int(m), dd)
	}
	mo := int(m)
	return append(b, byte('0'+y/1000), byte('0'+y/100%10), byte('0'+y/10%10), byte('0'+y%10), '-',
		byte('0'+mo/10), byte('0'+mo%10), '-', byte('0'+dd/10), byte('0'+dd%10))
}

// AddDays returns d + n days.
func (d Date) AddDays(n int) Date { return Date{n: d.n + int32(n)} }

// DaysUntil returns the number of days from d to o (o - d): positive when o is later.
func (d Date) DaysUntil(o Date) int { return int(o.n - d.n) }

// Before, After and Equal compare two dates.
func (d Date) Before(o Date) bool { return d.n < o.n }
func (d Date) After(o Date) bool  { return d.n > o.n }
func (d Date) Equal(o Date) bool  { return d.n == o.n }

// EndOfMonth returns the last day of d's month.
func (d Date) EndOfMonth() Date {
	y, m, _ := d.Civil()
	return DateFromDays(int32(daysFromCivil(y, int(m), daysIn(y, m))))
}

// StartOfMonth returns the first day of d's month.
func (d Date) StartOfMonth() Date {
	y, m, _ := d.Civil()
	return DateFromDays(int32(daysFromCivil(y, int(m), 1)))
}

// AddMonths returns the same day n months later, clamped to the end of the target month
// (2025-01-31 + 1 month = 2025-02-28).
func (d Date) AddMonths(n int) Date {
	y, m, dd := d.Civil()
	total := y*12 + int(m) - 1 + n
	ny, nm := total/12, time.Month(total%12+1)
	if dd > daysIn(ny, nm) {
		dd = daysIn(ny, nm)
	}
	return DateFromDays(int32(daysFromCivil(ny, int(nm), dd)))
}

// MarshalJSON writes "YYYY-MM-DD".
func (d Date) MarshalJSON() ([]byte, error) {
	if d.IsZero() {
		return []byte("null"), nil
	}
	return d.appendJSON(make([]byte, 0, 12)), nil
}

// appendJSON appends what MarshalJSON returns.
func (d Date) appendJSON(b []byte) []byte {
	if d.IsZero() {
		return append(b, "null"...)
	}
	b = append(b, '"')
	return append(d.appendISO(b), '"')
}

// UnmarshalJSON reads "YYYY-MM-DD" strictly.
func (d *Date) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*d = Date{}
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return Errorf(KindInvalid, CodeInvalidDate, "date must be a string YYYY-MM-DD")
	}
	v, err := ParseDate(s)
	if err != nil {
		return err
	}
	*d = v
	return nil
}

func daysIn(y int, m time.Month) int {
	switch m {
	case time.February:
		if y%4 == 0 && (y%100 != 0 || y%400 == 0) {
			return 29
		}
		return 28
	case time.April, time.June, time.September, time.November:
		return 30
	}
	return 31
}

func atoiDigits(s string) (int, bool) {
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		n = n*10 + int(s[i]-'0')
	}
	return n, true
}

// daysFromCivil and civilFromDays are Howard Hinnant's proleptic Gregorian algorithms.
func daysFromCivil(y, m, d int) int64 {
	if m <= 2 {
		y--
	}
	era := y / 400
	if y < 0 && y%400 != 0 {
		era--
	}
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return int64(era)*146097 + int64(doe) - 719468
}

func civilFromDays(z int64) (int, int, int) {
	z += 719468
	era := z / 146097
	if z < 0 && z%146097 != 0 {
		era--
	}
	doe := z - era*146097
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365
	y := yoe + era*400
	doy := doe - (365*yoe + yoe/4 - yoe/100)
	mp := (5*doy + 2) / 153
	d := doy - (153*mp+2)/5 + 1
	m := mp + 3
	if m > 12 {
		m -= 12
	}
	if m <= 2 {
		y++
	}
	return int(y), int(m), int(d)
}
