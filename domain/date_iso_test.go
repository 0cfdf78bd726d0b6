package domain

import (
	"fmt"
	"testing"
)

// Date.String and MarshalJSON write what fmt's "%04d-%02d-%02d" writes, for every day of the
// years dates are met in, at the ends of the valid range, and beyond it.
func TestDateISOIsFmt(t *testing.T) {
	check := func(d Date) {
		t.Helper()
		y, m, dd := d.Civil()
		want := fmt.Sprintf("%04d-%02d-%02d", y, int(m), dd)
		if got := d.String(); got != want {
			t.Fatalf("String() = %q, want %q", got, want)
		}
		if got, err := d.MarshalJSON(); err != nil || string(got) != `"`+want+`"` {
			t.Fatalf("MarshalJSON() = %s, %v; want %q", got, err, want)
		}
	}
	start := MustDate("1999-12-25")
	for i := range 366 * 40 {
		check(start.AddDays(i))
	}
	check(MustDate("1900-01-01"))
	check(MustDate("2999-12-31"))
	check(MustDate("1900-01-01").AddDays(-700_000)) // no valid date, but String says something
	check(MustDate("2999-12-31").AddDays(3_000_000))
}

func BenchmarkDateMarshalJSON(b *testing.B) {
	d := MustDate("2026-02-04")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := d.MarshalJSON(); err != nil {
			b.Fatal(err)
		}
	}
}
