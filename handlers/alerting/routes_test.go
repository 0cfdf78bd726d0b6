package alerting

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/encours/encours/domain"
	"github.com/encours/encours/projections/signals"
)

// TestReadRoutes: the alert list and its filters, one alert, a customer's signals with its
// risk score, the dunning worklist, and refusals in the API's error shape.
func TestReadRoutes(t *testing.T) {
	r := newRig(t, t.TempDir(), rigOptions{today: d("2024-03-01")})
	raiseLimitAlerts(r, "R", 2)
	r.invoice("R00", 1_000_00, d("2024-01-01")) // due 2024-01-31: overdue at 2024-03-01
	r.tick(d("2024-03-02"))

	var list struct {
		Alerts []Alert `json:"alerts"`
	}
	require.Equal(t, http.StatusOK, r.do("GET", "/v1/alerts?status=open&rule=credit_limit", nil, &list))
	require.Len(t, list.Alerts, 1)
	assert.Equal(t, "R00:credit_limit:R00:1", list.Alerts[0].AlertID)
	require.Equal(t, http.StatusOK, r.do("GET", "/v1/alerts?status=resolved", nil, &list))
	require.Len(t, list.Alerts, 1)
	assert.Equal(t, "R01", string(list.Alerts[0].CustomerID))
	require.Equal(t, http.StatusOK, r.do("GET", "/v1/alerts?customer_id=R00&min_severity=critical", nil, &list))
	for _, a := range list.Alerts {
		assert.Equal(t, "critical", a.Severity)
	}
	var one Alert
	require.Equal(t, http.StatusOK, r.do("GET", "/v1/alerts/R00:credit_limit:R00:1", nil, &one))
	assert.Equal(t, StatusOpen, one.Status)

	var rep signals.CustomerReport
	require.Equal(t, http.StatusOK, r.do("GET", "/v1/customers/R00/signals?as_of=2024-03-02", nil, &rep))
	assert.Equal(t, domain.CustomerID("R00"), rep.CustomerID)
	assert.NotEmpty(t, rep.Score.Factors)
	assert.NotEmpty(t, rep.Signals)

	var dun struct {
		AsOf      domain.Date        `json:"as_of"`
		Proposals []signals.Proposal `json:"proposals"`
	}
	require.Equal(t, http.StatusOK, r.do("GET", "/v1/dunning", nil, &dun))
	assert.Equal(t, d("2024-03-02"), dun.AsOf, "defaults to the evaluator's business date")
	require.Len(t, dun.Proposals, 1)
	assert.Equal(t, "email", dun.Proposals[0].Channel, "31 days past due, nothing sent: level 1 first")
	assert.Equal(t, 1, dun.Proposals[0].Level)

	var e errorBody
	for _, bad := range []string{"/v1/alerts?status=maybe", "/v1/alerts?rule=vibes", "/v1/alerts?min_severity=x",
		"/v1/alerts?limit=0", "/v1/dunning?as_of=2024-13-01"} {
		assert.Equal(t, http.StatusBadRequest, r.do("GET", bad, nil, &e), bad)
		assert.Equal(t, "invalid_query", e.Error.Code, bad)
	}
	assert.Equal(t, http.StatusNotFound, r.do("GET", "/v1/alerts/nope", nil, &e))
	assert.Equal(t, http.StatusNotFound, r.do("GET", "/v1/customers/NOPE/signals", nil, &e))
	assert.Equal(t, "unknown_customer", e.Error.Code)
}

// TestRoutesTable: every route has a method, a pattern and one of the two roles, and the
// writes need credit_manager.
func TestRoutesTable(t *testing.T) {
	r := newRig(t, t.TempDir(), rigOptions{})
	mux := http.NewServeMux()
	for _, rt := range Routes(r.ev, r.dl, RoutesOptions{}) {
		assert.Contains(t, []string{RoleReader, RoleCreditManager}, rt.Role, rt.Pattern)
		if rt.Method != http.MethodGet {
			assert.Equal(t, RoleCreditManager, rt.Role, rt.Method+" "+rt.Pattern)
		}
		mux.HandleFunc(rt.Method+" "+rt.Pattern, rt.Handler) // panics on a conflict
	}
}

// TestListsPaginate: the alert, subscription and dead-letter lists answer pages of limit
// from offset, with the total and the next page's offset (null on the last), and the pages
// together are the whole list, in order, once each.
func TestListsPaginate(t *testing.T) {
	r := newRig(t, t.TempDir(), rigOptions{today: d("2024-03-01")})
	raiseLimitAlerts(r, "P", 5) // P00..P04: five alerts, two of them resolved
	var all struct {
		Alerts     []Alert `json:"alerts"`
		Total      int     `json:"total"`
		NextOffset *int    `json:"next_offset"`
	}
	require.Equal(t, http.StatusOK, r.do("GET", "/v1/alerts", nil, &all))
	require.Len(t, all.Alerts, 5)
	assert.Equal(t, 5, all.Total)
	assert.Nil(t, all.NextOffset)

	var ids []string
	for offset := 0; ; {
		var page struct {
			Alerts     []Alert `json:"alerts"`
			Total      int     `json:"total"`
			NextOffset *int    `json:"next_offset"`
		}
		require.Equal(t, http.StatusOK, r.do("GET", fmt.Sprintf("/v1/alerts?limit=2&offset=%d", offset), nil, &page))
		assert.Equal(t, 5, page.Total)
		for _, a := range page.Alerts {
			ids = append(ids, a.AlertID)
		}
		if page.NextOffset == nil {
			assert.Len(t, page.Alerts, 1, "5 = 2 + 2 + 1")
			break
		}
		assert.Equal(t, offset+2, *page.NextOffset)
		offset = *page.NextOffset
	}
	var want []string
	for _, a := range all.Alerts {
		want = append(want, a.AlertID)
	}
	assert.Equal(t, want, ids, "the pages make the whole list, newest first")

	for i := range 3 {
		require.Equal(t, http.StatusCreated, r.do("POST", "/v1/subscriptions", map[string]any{"channel": "sse",
			"filter": map[string]any{"customer_ids": []string{fmt.Sprintf("P%02d", i)}}}, nil))
	}
	var subs struct {
		Subscriptions []Subscription `json:"subscriptions"`
		Total         int            `json:"total"`
		NextOffset    *int           `json:"next_offset"`
	}
	require.Equal(t, http.StatusOK, r.do("GET", "/v1/subscriptions?limit=2&offset=1", nil, &subs))
	assert.Len(t, subs.Subscriptions, 2)
	assert.Equal(t, 3, subs.Total)
	assert.Nil(t, subs.NextOffset)
	require.Equal(t, http.StatusOK, r.do("GET", "/v1/subscriptions?offset=9", nil, &subs))
	assert.Empty(t, subs.Subscriptions, "past the end: an empty page")

	var e errorBody
	for _, bad := range []string{"/v1/alerts?offset=-1", "/v1/alerts?offset=x", "/v1/subscriptions?limit=0",
		"/v1/subscriptions?limit=1001", "/v1/dead-letters?offset=-3"} {
		assert.Equal(t, http.StatusBadRequest, r.do("GET", bad, nil, &e), bad)
		assert.Equal(t, "invalid_query", e.Error.Code, bad)
	}
}
