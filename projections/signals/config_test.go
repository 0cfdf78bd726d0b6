package signals

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestConfigExampleFile: the documented example file loads, its defaults equal the built-in
// ones, and a segment replaces only the fields it names.
func TestConfigExampleFile(t *testing.T) {
	cfg, err := LoadConfig("testdata/signals-config.json")
	require.NoError(t, err)
	def := DefaultConfig()
	assert.Equal(t, def.Default, cfg.Default, "the example spells out the defaults")
	assert.Equal(t, def.Portfolio, cfg.Portfolio)
	assert.Equal(t, def.Dunning, cfg.Dunning)
	sme := cfg.For("sme")
	assert.Equal(t, int64(7500), sme.Limit.WarningBP)
	assert.Equal(t, int64(10_000), sme.Limit.CriticalBP, "kept from the default")
	assert.Equal(t, 7, sme.Silent.ToleranceDays)
	assert.Equal(t, 30, sme.Silent.CriticalDays, "kept from the default")
	assert.False(t, cfg.For("public").Deadlines.TermsBeyondCap)
	assert.Equal(t, &cfg.Default, cfg.For("unknown-segment"))
}

func TestConfigRefusals(t *testing.T) {
	cases := []struct{ name, json string }{
		{"unknown field", `{"default": {"payment_drift": {"h_sigma": 4}}}`},
		{"unknown section", `{"thresholds": {}}`},
		{"h below k", `{"default": {"payment_drift": {"k_sigma_bp": 50000}}}`},
		{"arm above baseline", `{"segments": {"sme": {"payment_drift": {"arm_after_payments": 200}}}}`},
		{"weights not 100 %", `{"default": {"risk_score": {"weights_bp": {"payment": 9000}}}}`},
		{"limit warning above critical", `{"default": {"credit_limit": {"warning_bp": 12000}}}`},
		{"dunning levels not increasing", `{"dunning": {"steps": [{"level": 2, "channel": "email", "after_due_days": 1}, {"level": 1, "channel": "letter", "after_due_days": 15}]}}`},
		{"empty dunning plan", `{"dunning": {"steps": []}}`},
		{"trailing data", `{} {}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseConfig([]byte(tc.json))
			assert.Error(t, err)
		})
	}
	_, err := ParseConfig([]byte(`{}`))
	assert.NoError(t, err, "an empty file means the defaults")
}

func TestSeverityJSON(t *testing.T) {
	for _, s := range []Severity{SeverityInfo, SeverityWarning, SeverityCritical} {
		b, err := s.MarshalJSON()
		require.NoError(t, err)
		var back Severity
		require.NoError(t, back.UnmarshalJSON(b))
		assert.Equal(t, s, back)
	}
	var s Severity
	assert.Error(t, s.UnmarshalJSON([]byte(`"fatal"`)))
	_, err := Severity(0).MarshalJSON()
	assert.Error(t, err)
}
