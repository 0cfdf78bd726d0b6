package ingest

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func postImport(t *testing.T, h http.Handler, query, contentType, body string) (*httptest.ResponseRecorder, ImportAnswer) {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, "/v1/import"+query, strings.NewReader(body))
	req.Header.Set("Content-Type", contentType)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var ans ImportAnswer
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &ans), rec.Body.String())
	return rec, ans
}

// TestHTTPImport: POST /v1/import answers the summary; an invalid file is 422 with every
// refusal's row, field and reason, and appends nothing; a second post appends nothing.
func TestHTTPImport(t *testing.T) {
	svc, st := newLedger(t)
	routes := NewHTTP(svc, func(*http.Request) string { return "erp" }, nil, t.TempDir()).Routes()
	require.Len(t, routes, 1)
	assert.Equal(t, "POST /v1/import", routes[0].Pattern)
	h := routes[0].Handler
	good := genericHeader + "ACME,Acme SAS,FR,EUR,F1,F-1,2026-01-05,2026-02-04,1250.00,2026-02-10,,no\n" +
		"BETA,Beta SA,FR,EUR,B1,B-1,2026-01-05,2026-02-04,10.00,,,yes\n"
	bad := genericHeader + "ACME,Acme SAS,FR,EUR,F1,F-1,2026-01-05,2026-02-04,1250.00,,,no\n" +
		"BETA,,FR,EUR,B1,B-1,2026-01-05,2026-01-04,10.00,,,\n"

	rec, ans := postImport(t, h, "?format=generic", "text/csv", bad)
	assert.Equal(t, http.StatusUnprocessableEntity, rec.Code)
	require.NotNil(t, ans.Error)
	assert.Equal(t, CodeImportRejected, ans.Error.Code)
	assert.Equal(t, "due_date", ans.Error.Field)
	require.Len(t, ans.Errors, 1)
	assert.Equal(t, 3, ans.Errors[0].Row)
	assert.Equal(t, "due_before_issue", ans.Errors[0].Code)
	assert.Zero(t, headPosition(t, st), "a refused file appends nothing")

	rec, ans = postImport(t, h, "?dry_run=true", "text/csv; charset=utf-8", good)
	assert.Equal(t, http.StatusOK, rec.Code)
	assert.True(t, ans.DryRun)
	assert.Zero(t, headPosition(t, st), "a dry run appends nothing")

	rec, ans = postImport(t, h, "", "text/csv", good)
	assert.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	assert.Nil(t, ans.Error)
	assert.Equal(t, 2, ans.Rows)
	assert.Equal(t, 2, ans.Customers)
	assert.Equal(t, 6, ans.Appended) // 2 registrations, 2 invoices, 1 payment, 1 dispute
	pos := headPosition(t, st)
	assert.Equal(t, uint64(6), pos)
	c, ok, err := svc.Customer(t.Context(), "BETA")
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, int64(1000), c.Exposure().Minor)

	rec, ans = postImport(t, h, "", "text/csv", good)
	assert.Equal(t, http.StatusOK, rec.Code)
	assert.Zero(t, ans.Appended)
	assert.Equal(t, 2, ans.AlreadyPresent)
	assert.Equal(t, pos, headPosition(t, st))

	// With continue, the valid customer is appended and the other's rows listed.
	rec, ans = postImport(t, h, "?continue=true", "text/csv", genericHeader+
		"GAMMA,,FR,EUR,G1,G-1,2026-01-05,2026-02-04,10.00,,,\n"+
		"DELTA,,FR,EUR,D1,D-1,2026-01-05,2026-01-04,10.00,,,\n")
	assert.Equal(t, http.StatusOK, rec.Code)
	assert.Equal(t, 1, ans.RejectedCustomers)
	require.Len(t, ans.Errors, 1)
	assert.Equal(t, 3, ans.Errors[0].Row)
	assert.Equal(t, pos+2, headPosition(t, st))
}

// TestHTTPImportRefusesRequests: the request's own mistakes, each with its status and code.
func TestHTTPImportRefusesRequests(t *testing.T) {
	svc, st := newLedger(t)
	h := NewHTTP(svc, func(*http.Request) string { return "erp" }, nil, t.TempDir())
	h.bodyBytesMax = 4096
	for _, tc := range []struct {
		name, query, contentType, body string
		status                         int
		code, field                    string
	}{
		{"json body", "", "application/json", "{}", http.StatusUnsupportedMediaType, codeUnsupportedMediaType, ""},
		{"odd charset", "", "text/csv; charset=latin1", genericHeader, http.StatusUnsupportedMediaType, codeUnsupportedMediaType, ""},
		{"unknown format", "?format=sap", "text/csv", genericHeader, http.StatusBadRequest, codeInvalidQuery, "format"},
		{"bad dry_run", "?dry_run=maybe", "text/csv", genericHeader, http.StatusBadRequest, codeInvalidQuery, "dry_run"},
		{"bad continue", "?continue=2", "text/csv", genericHeader, http.StatusBadRequest, codeInvalidQuery, "continue"},
		{"empty body", "", "text/csv", "", http.StatusUnprocessableEntity, CodeImportRejected, ""},
		{"body above the limit", "", "text/csv", genericHeader + strings.Repeat("ACME,Acme SAS,FR,EUR,F1,F-1,2026-01-05,2026-02-04,1250.00,2026-02-10,,no\n", 100), http.StatusRequestEntityTooLarge, codeBodyTooLarge, ""},
		{"ibm file as generic", "", "text/csv", "countryCode,customerID\n", http.StatusUnprocessableEntity, CodeImportRejected, "customer_id"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec, ans := postImport(t, h.Routes()[0].Handler, tc.query, tc.contentType, tc.body)
			assert.Equal(t, tc.status, rec.Code, rec.Body.String())
			require.NotNil(t, ans.Error)
			assert.Equal(t, tc.code, ans.Error.Code)
			assert.Equal(t, tc.field, ans.Error.Field)
			assert.NotEmpty(t, ans.Error.Message)
			assert.Zero(t, headPosition(t, st))
		})
	}
}
