package domain_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/encours/encours/domain"
)

// TestDateRoundTrip walks 1900..2999 every 97 days (a step prime to 7 and to the month
// lengths, so it lands on every weekday and many month ends) and checks parse∘format = id,
// agreement with time.Time's calendar, and that the day number advances by exactly 97.
func TestDateRoundTrip(t *testing.T) {
	first, last := day("1900-01-01"), day("2999-12-31")
	ref := time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC)
	n := 0
	for d := first; !d.After(last); d = d.AddDays(97) {
		s := d.String()
		back, err := domain.ParseDate(s)
		require.NoErrorf(t, err, "ParseDate(%q)", s)
		require.Truef(t, d.Equal(back), "ParseDate(%q) = %s", s, back)
		want := ref.AddDate(0, 0, n*97).Format(time.DateOnly)
		require.Equalf(t, want, s, "1900-01-01 + %d days", n*97)
		y, m, dd := d.Civil()
		again, err := domain.DateOf(y, m, dd)
		require.NoError(t, err)
		require.Equal(t, d, again)
		require.True(t, d.Valid())
		n++
	}
	assert.Equal(t, 4142, n, "dates visited") // ⌊401 766 days / 97⌋ + 1
	assert.Equal(t, int32(-25567), first.Days(), "1900-01-01 is day -25567 since 1970")
	assert.Equal(t, int32(0), day("1970-01-01").Days())
}

func TestParseDateInvalid(t *testing.T) {
	bad := []string{
		"2025-02-29", "2023-02-29", "1900-02-29", "2100-02-29", "2025-04-31", "2025-13-01",
		"2025-00-10", "2025-01-00", "2025-01-32", "1899-12-31", "3000-01-01", "2025-1-01",
		"2025/01/01", "20250101", "2025-01-01T00:00:00Z", "", " 2025-01-01", "+025-01-01", "2025-0a-01",
	}
	for _, s := range bad {
		d, err := domain.ParseDate(s)
		assert.Equalf(t, domain.CodeInvalidDate, domain.ErrorCode(err), "ParseDate(%q): got %s, %v", s, d, err)
	}
	good := []string{"2024-02-29", "2000-02-29", "1904-02-29", "1900-01-01", "2999-12-31"}
	for _, s := range good {
		d, err := domain.ParseDate(s)
		if assert.NoErrorf(t, err, "ParseDate(%q)", s) {
			assert.Equal(t, s, d.String())
		}
	}
}

func TestDateZeroAndValid(t *testing.T) {
	var z domain.Date
	assert.True(t, z.IsZero())
	assert.False(t, z.Valid(), "the zero date is no date")
	assert.Equal(t, "", z.String())
	assert.False(t, day("2025-01-01").IsZero())
	assert.False(t, day("2999-12-31").AddDays(1).Valid())
	assert.False(t, day("1900-01-01").AddDays(-1).Valid())
	assert.True(t, domain.DateOfTime(time.Date(2025, 3, 1, 23, 30, 0, 0, time.FixedZone("X", -3600))).Equal(day("2025-03-02")), "UTC date of an instant")
	assert.True(t, domain.DateFromDays(day("2025-05-17").Days()).Equal(day("2025-05-17")))
}

// TestAddMonths: the same day n months later, clamped to the target month's end.
func TestAddMonths(t *testing.T) {
	cases := []struct {
		from   string
		months int
		want   string
	}{
		{"2025-01-31", 1, "2025-02-28"},
		{"2024-01-31", 1, "2024-02-29"},
		{"2025-03-31", 1, "2025-04-30"},
		{"2025-01-15", 1, "2025-02-15"},
		{"2025-12-31", 2, "2026-02-28"},
		{"2025-03-31", -1, "2025-02-28"},
		{"2025-01-31", -2, "2024-11-30"},
		{"2025-05-31", -12, "2024-05-31"},
		{"2024-02-29", 12, "2025-02-28"},
		{"2024-02-29", 48, "2028-02-29"},
		{"2025-06-10", 0, "2025-06-10"},
	}
	for _, tc := range cases {
		got := day(tc.from).AddMonths(tc.months)
		assert.Equalf(t, tc.want, got.String(), "%s + %d months", tc.from, tc.months)
	}
}

func TestStartAndEndOfMonth(t *testing.T) {
	cases := []struct{ in, start, end string }{
		{"2025-02-10", "2025-02-01", "2025-02-28"},
		{"2024-02-29", "2024-02-01", "2024-02-29"},
		{"2025-12-01", "2025-12-01", "2025-12-31"},
		{"2025-04-30", "2025-04-01", "2025-04-30"},
		{"1900-02-15", "1900-02-01", "1900-02-28"},
	}
	for _, tc := range cases {
		assert.Equalf(t, tc.start, day(tc.in).StartOfMonth().String(), "StartOfMonth(%s)", tc.in)
		assert.Equalf(t, tc.end, day(tc.in).EndOfMonth().String(), "EndOfMonth(%s)", tc.in)
	}
}

func TestDaysUntil(t *testing.T) {
	cases := []struct {
		from, to string
		want     int
	}{
		{"2025-01-01", "2025-01-31", 30},
		{"2025-01-31", "2025-01-01", -30},
		{"2025-02-28", "2025-03-01", 1},
		{"2024-02-28", "2024-03-01", 2},
		{"2024-01-01", "2025-01-01", 366},
		{"2025-01-01", "2026-01-01", 365},
		{"1900-01-01", "2000-01-01", 36524},
		{"2025-06-10", "2025-06-10", 0},
	}
	for _, tc := range cases {
		assert.Equalf(t, tc.want, day(tc.from).DaysUntil(day(tc.to)), "%s until %s", tc.from, tc.to)
	}
	a, b := day("2025-01-01"), day("2025-01-02")
	assert.True(t, a.Before(b))
	assert.True(t, b.After(a))
	assert.False(t, a.Equal(b))
}

func TestDateJSON(t *testing.T) {
	type holder struct {
		D domain.Date `json:"d"`
	}
	b, err := json.Marshal(holder{D: day("2025-03-31")})
	require.NoError(t, err)
	assert.Equal(t, `{"d":"2025-03-31"}`, string(b))
	b, err = json.Marshal(holder{})
	require.NoError(t, err)
	assert.Equal(t, `{"d":null}`, string(b), "the zero date is null")
	var h holder
	require.NoError(t, json.Unmarshal([]byte(`{"d":"2024-02-29"}`), &h))
	assert.Equal(t, day("2024-02-29"), h.D)
	h = holder{D: day("2025-01-01")}
	require.NoError(t, json.Unmarshal([]byte(`{"d":null}`), &h))
	assert.True(t, h.D.IsZero())
	for _, in := range []string{`{"d":"2025-02-29"}`, `{"d":20250101}`, `{"d":"2025-01-01T00:00:00Z"}`} {
		err := json.Unmarshal([]byte(in), &h)
		assert.Equalf(t, domain.CodeInvalidDate, domain.ErrorCode(err), "Unmarshal(%s)", in)
	}
}

// BenchmarkDateMarshalJSON: every event carries dates, so their encoding is on the path of
// every append (and of every row of a bulk import).
func BenchmarkDateMarshalJSON(b *testing.B) {
	d := day("2026-03-09")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := json.Marshal(d); err != nil {
			b.Fatal(err)
		}
	}
}
