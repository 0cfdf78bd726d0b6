package domain_test

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/encours/encours/domain"
)

func TestParseTerms(t *testing.T) {
	cases := []struct {
		in   string
		want domain.Terms
		ok   bool
	}{
		{"net30", domain.Net(30), true},
		{"net0", domain.Net(0), true},
		{"net365", domain.Net(365), true},
		{"eom", domain.Terms{Kind: domain.TermsEndOfMonth}, true},
		{"eom+45", domain.Terms{Kind: domain.TermsEndOfMonthNet, Days: 45}, true},
		{"eom+0", domain.Terms{Kind: domain.TermsEndOfMonthNet, Days: 0}, true},
		{"net366", domain.Terms{}, false},
		{"net-1", domain.Terms{}, false},
		{"net+5", domain.Terms{}, false},
		{"net", domain.Terms{}, false},
		{"net 30", domain.Terms{}, false},
		{"NET30", domain.Terms{}, false},
		{"eom45", domain.Terms{}, false},
		{"eom+", domain.Terms{}, false},
		{"eom+-5", domain.Terms{}, false},
		{"eom+400", domain.Terms{}, false},
		{"30", domain.Terms{}, false},
		{"", domain.Terms{}, false},
	}
	for _, tc := range cases {
		got, err := domain.ParseTerms(tc.in)
		if !tc.ok {
			assert.Equalf(t, domain.CodeInvalidTerms, domain.ErrorCode(err), "ParseTerms(%q): got %v, %v", tc.in, got, err)
			continue
		}
		if assert.NoErrorf(t, err, "ParseTerms(%q)", tc.in) {
			assert.Equalf(t, tc.want, got, "ParseTerms(%q)", tc.in)
			assert.Equalf(t, tc.in, got.String(), "String of ParseTerms(%q)", tc.in)
			assert.NoError(t, got.Validate())
		}
	}
}

func TestTermsValidate(t *testing.T) {
	for _, bad := range []domain.Terms{{}, {Kind: 4}, domain.Net(-1), domain.Net(366), {Kind: domain.TermsEndOfMonthNet, Days: 366}} {
		assert.Equalf(t, domain.CodeInvalidTerms, domain.ErrorCode(bad.Validate()), "Validate(%+v)", bad)
	}
}

func TestTermsDueDate(t *testing.T) {
	cases := []struct {
		terms string
		issue string
		want  string
	}{
		{"net30", "2025-01-31", "2025-03-02"},
		{"net30", "2024-01-31", "2024-03-01"},
		{"net0", "2025-06-10", "2025-06-10"},
		{"net60", "2025-11-15", "2026-01-14"},
		{"eom", "2025-02-10", "2025-02-28"},
		{"eom", "2024-02-10", "2024-02-29"},
		{"eom", "2025-12-31", "2025-12-31"},
		{"eom+45", "2025-01-15", "2025-03-17"}, // 01-31 + 45
		{"eom+45", "2025-02-10", "2025-04-14"}, // 02-28 + 45
		{"eom+0", "2025-04-01", "2025-04-30"},
	}
	for _, tc := range cases {
		terms, err := domain.ParseTerms(tc.terms)
		require.NoError(t, err)
		assert.Equalf(t, tc.want, terms.DueDate(day(tc.issue)).String(), "%s issued %s", tc.terms, tc.issue)
	}
	assert.Panics(t, func() { domain.Terms{}.DueDate(day("2025-01-01")) }, "DueDate on invalid terms")
}

// TestExceedsLMECap: terms beyond both 60 days from issue and 45 days end of month are
// flagged (design §Metrics, payment-term compliance); the limit is the later of the two.
func TestExceedsLMECap(t *testing.T) {
	cases := []struct {
		issue, due string
		want       bool
	}{
		{"2025-01-15", "2025-03-16", false}, // issue + 60
		{"2025-01-15", "2025-03-31", false}, // end of month of issue + 45 (03-01) is later
		{"2025-01-15", "2025-04-01", true},
		{"2025-01-01", "2025-03-02", false}, // + 60 (03-02) is later than eom(02-15) = 02-28
		{"2025-01-01", "2025-03-03", true},
		{"2025-06-20", "2025-08-31", false}, // + 45 = 08-04 → 08-31; + 60 = 08-19
		{"2025-06-20", "2025-09-01", true},
		{"2025-06-20", "2025-06-20", false},
	}
	for _, tc := range cases {
		assert.Equalf(t, tc.want, domain.ExceedsLMECap(day(tc.issue), day(tc.due)), "issued %s, due %s", tc.issue, tc.due)
	}
}

func TestTermsJSON(t *testing.T) {
	b, err := json.Marshal(domain.Terms{Kind: domain.TermsEndOfMonthNet, Days: 45})
	require.NoError(t, err)
	assert.Equal(t, `"eom+45"`, string(b))
	var got domain.Terms
	require.NoError(t, json.Unmarshal([]byte(`"net30"`), &got))
	assert.Equal(t, domain.Net(30), got)
	// Escapes are JSON escapes: "\u006e" is n.
	require.NoError(t, json.Unmarshal([]byte(`"\u006eet45"`), &got))
	assert.Equal(t, domain.Net(45), got)
	// The zero Terms (not given) is null both ways; other invalid terms do not encode.
	b, err = json.Marshal(domain.Terms{})
	require.NoError(t, err)
	assert.Equal(t, `null`, string(b))
	got = domain.Net(30)
	require.NoError(t, json.Unmarshal([]byte(`null`), &got))
	assert.Equal(t, domain.Terms{}, got)
	_, err = json.Marshal(domain.Net(400))
	assert.Error(t, err)
	for _, in := range []string{`"net\/30"`, `30`, `"weekly"`, `{"kind":1}`, `""`} {
		err := json.Unmarshal([]byte(in), &got)
		assert.Equalf(t, domain.CodeInvalidTerms, domain.ErrorCode(err), "Unmarshal(%s)", in)
	}
}
