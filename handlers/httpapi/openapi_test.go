package httpapi_test

import (
	"encoding/json"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/encours/encours/handlers/auth"
	"github.com/encours/encours/handlers/httpapi"
)

// exampleOrder is the story the request examples of /openapi.json tell, in order: one
// customer from registration to write-off. Every operation with a request body is in it.
var exampleOrder = []string{
	"POST /v1/customers",
	"POST /v1/customers/{id}/credit-limit",
	"POST /v1/invoices",
	"POST /v1/credit-notes",
	"POST /v1/credit-notes/{id}/allocations",
	"POST /v1/payments",
	"POST /v1/payments/{id}/allocations",
	"POST /v1/payments/{id}/reversal",
	"POST /v1/customers/{id}/reminders",
	"POST /v1/invoices/{id}/dispute",
	"POST /v1/invoices/{id}/dispute-resolution",
	"POST /v1/customers/{id}/payment-plans",
	"POST /v1/customers/{id}/promises",
	"POST /v1/customers/{id}/ratings",
	"POST /v1/customers/{id}/insurance",
	"POST /v1/invoices/{id}/write-off",
	"POST /v1/tokens",
	"POST /v1/clock",
}

type openAPIDoc struct {
	OpenAPI    string                                `json:"openapi"`
	Paths      map[string]map[string]json.RawMessage `json:"paths"`
	Components struct {
		Schemas         map[string]json.RawMessage `json:"schemas"`
		Responses       map[string]json.RawMessage `json:"responses"`
		SecuritySchemes map[string]json.RawMessage `json:"securitySchemes"`
	} `json:"components"`
}

type openAPIOperation struct {
	Parameters []struct {
		Name     string `json:"name"`
		In       string `json:"in"`
		Required bool   `json:"required"`
		Example  string `json:"example"`
	} `json:"parameters"`
	RequestBody *struct {
		Content map[string]struct {
			Example json.RawMessage `json:"example"`
		} `json:"content"`
	} `json:"requestBody"`
	Responses map[string]json.RawMessage `json:"responses"`
	Security  *[]any                     `json:"security"`
	Roles     []string                   `json:"x-encours-roles"`
}

// TestOpenAPI reads GET /openapi.json from a real server and checks it against the route
// table: every registered route is documented and every documented route is registered;
// each operation documents its success, its path parameters with examples, the access
// refusals unless public, and only references that resolve; the roles it names are the
// ones the server enforces (TestRoleMatrix). Then every example body is sent, in the
// story's order, to a server on the embedded store, which must answer the documented
// success; the reads' path examples must then resolve too.
func TestOpenAPI(t *testing.T) {
	h := newHarness(t)
	writer, _ := h.issue(auth.RoleWriter, "erp") // any role reads the description
	r := h.as(writer).get("/openapi.json")
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	assert.Equal(t, "application/json; charset=utf-8", r.header.Get("Content-Type"))
	var doc openAPIDoc
	r.decode(t, &doc)
	assert.Equal(t, "3.1.0", doc.OpenAPI)
	assert.Contains(t, doc.Components.SecuritySchemes, "bearer")

	// Every $ref resolves.
	for _, m := range regexp.MustCompile(`"\$ref":\s*"#/components/(schemas|responses)/([^"]+)"`).FindAllStringSubmatch(string(r.body), -1) {
		table := doc.Components.Schemas
		if m[1] == "responses" {
			table = doc.Components.Responses
		}
		assert.Contains(t, table, m[2], "$ref %s/%s", m[1], m[2])
	}

	ops := map[string]openAPIOperation{}
	var documented []string
	for path, item := range doc.Paths {
		for method, raw := range item {
			pattern := strings.ToUpper(method) + " " + path
			documented = append(documented, pattern)
			var op openAPIOperation
			require.NoError(t, json.Unmarshal(raw, &op), pattern)
			ops[pattern] = op
		}
	}
	assert.ElementsMatch(t, httpapi.Patterns(newHandler(t)), documented, "documented routes = registered routes")

	wildcards := regexp.MustCompile(`\{([a-z_]+)\}`)
	for pattern, op := range ops {
		success := false
		for code := range op.Responses {
			if c, _ := strconv.Atoi(code); c >= 200 && c < 300 {
				success = true
			}
		}
		assert.True(t, success, "%s documents its success", pattern)
		assert.Contains(t, op.Responses, "500", pattern)
		public := op.Security != nil && len(*op.Security) == 0
		if public {
			assert.Len(t, op.Roles, len(auth.Roles()), "%s: public, every role", pattern)
		} else {
			for _, s := range []string{"401", "403", "429"} {
				assert.Contains(t, op.Responses, s, pattern)
			}
			assert.NotEmpty(t, op.Roles, pattern)
		}
		for _, m := range wildcards.FindAllStringSubmatch(pattern, -1) {
			i := slices.IndexFunc(op.Parameters, func(p struct {
				Name     string `json:"name"`
				In       string `json:"in"`
				Required bool   `json:"required"`
				Example  string `json:"example"`
			}) bool {
				return p.Name == m[1] && p.In == "path"
			})
			if assert.GreaterOrEqual(t, i, 0, "%s documents {%s}", pattern, m[1]) {
				assert.True(t, op.Parameters[i].Required)
				assert.NotEmpty(t, op.Parameters[i].Example)
			}
		}
		if op.RequestBody != nil {
			assert.Contains(t, exampleOrder, pattern, "%s has an example body: it must be in the story", pattern)
		}
	}

	// The story: every example body is accepted, on a fresh server.
	story := newHarness(t)
	send := func(pattern string, body []byte) response {
		t.Helper()
		method, path, _ := strings.Cut(pattern, " ")
		op := ops[pattern]
		for _, p := range op.Parameters {
			if p.In == "path" {
				path = strings.ReplaceAll(path, "{"+p.Name+"}", p.Example)
			}
		}
		return story.do(method, path, body)
	}
	successOf := func(op openAPIOperation) int {
		for code := range op.Responses {
			if c, _ := strconv.Atoi(code); c >= 200 && c < 300 {
				return c
			}
		}
		return 0
	}
	for _, pattern := range exampleOrder {
		op, ok := ops[pattern]
		require.True(t, ok, "%s is documented", pattern)
		require.NotNil(t, op.RequestBody, "%s has a request body", pattern)
		example := op.RequestBody.Content["application/json"].Example
		require.NotEmpty(t, example, "%s has an example", pattern)
		r := send(pattern, example)
		assert.Equal(t, successOf(op), r.status, "%s %s: %s", pattern, example, r.body)
	}
	// The reads' examples name what the story made (DELETE /v1/tokens/{id} cannot: token ids
	// are random).
	for pattern, op := range ops {
		if !strings.HasPrefix(pattern, "GET ") {
			continue
		}
		r := send(pattern, nil)
		assert.Equal(t, successOf(op), r.status, "%s: %s", pattern, r.body)
	}
}
