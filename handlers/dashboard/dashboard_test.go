package dashboard_test

import (
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/encours/encours/handlers/dashboard"
)

func TestRoutes(t *testing.T) {
	var patterns []string
	for _, r := range dashboard.Routes() {
		require.NotNil(t, r.Handler, r.Pattern)
		patterns = append(patterns, r.Pattern)
	}
	assert.Equal(t, []string{"GET /{$}", "GET /assets/{path...}"}, patterns)
}

func get(t *testing.T, h http.Handler, path string) *http.Response {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	return rec.Result()
}

func TestHandler(t *testing.T) {
	h := dashboard.Handler()
	cases := []struct {
		name, path string
		status     int
		mediaType  string
	}{
		{"the page", "/", http.StatusOK, "text/html"},
		{"a module", "/assets/js/app.js", http.StatusOK, "text/javascript"},
		{"the style", "/assets/app.css", http.StatusOK, "text/css"},
		{"no directory listing", "/assets/js/", http.StatusNotFound, ""},
		{"no assets root", "/assets/", http.StatusNotFound, ""},
		{"no dot file", "/assets/.hidden", http.StatusNotFound, ""},
		{"nothing else", "/index.html", http.StatusNotFound, ""},
		{"an unknown asset", "/assets/nope.js", http.StatusNotFound, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := get(t, h, tc.path)
			assert.Equal(t, tc.status, res.StatusCode, "GET %s", tc.path)
			if tc.status != http.StatusOK {
				return
			}
			assert.True(t, strings.HasPrefix(res.Header.Get("Content-Type"), tc.mediaType), "GET %s: Content-Type %q, want %s", tc.path, res.Header.Get("Content-Type"), tc.mediaType)
			assert.Contains(t, res.Header.Get("Content-Security-Policy"), "script-src 'self'")
			assert.Equal(t, "nosniff", res.Header.Get("X-Content-Type-Options"))
		})
	}
}

// TestMountedPublic mounts the dashboard in the whole API as the daemon does: the page and
// its assets need no token, and the exact "/" pattern leaves every other path to the API,
// which still answers 401 without a token.
func TestMountedPublic(t *testing.T) {
	d := startDaemon(t, withoutAlerts)
	for path, want := range map[string]int{
		"/":                  http.StatusOK,
		"/assets/js/app.js":  http.StatusOK,
		"/v1/portfolio":      http.StatusUnauthorized,
		"/v1/no-such-route":  http.StatusUnauthorized,
		"/favicon.ico":       http.StatusUnauthorized,
		"/assets/nope.js":    http.StatusNotFound,
		"/index.html":        http.StatusUnauthorized,
		"/openapi.json":      http.StatusUnauthorized,
		"/assets/../go.mod":  http.StatusUnauthorized, // cleaned to /go.mod: not a route
		"/assets/app.css?x=": http.StatusOK,
	} {
		res, err := http.Get(d.URL + path)
		require.NoError(t, err)
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		assert.Equal(t, want, res.StatusCode, "GET %s without a token", path)
	}
}

// webFiles returns the dashboard's files as served, read from the package directory.
func webFiles(t *testing.T) map[string]string {
	t.Helper()
	files := map[string]string{}
	require.NoError(t, fs.WalkDir(os.DirFS("web"), ".", func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		b, err := os.ReadFile(filepath.Join("web", p))
		files[p] = string(b)
		return err
	}))
	return files
}

// TestAssetsSafe greps the dashboard for what it must never do: build markup from strings
// (customer names and alert messages come from outside), evaluate strings as code, or load
// anything from another origin.
func TestAssetsSafe(t *testing.T) {
	forbidden := regexp.MustCompile(`\.innerHTML|\.outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function\(|setTimeout\(['"\x60]|javascript:`)
	external := regexp.MustCompile(`(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}`)
	for name, text := range webFiles(t) {
		for i, line := range strings.Split(text, "\n") {
			if m := forbidden.FindString(line); m != "" {
				t.Errorf("%s:%d: %s", name, i+1, m)
			}
			for _, m := range external.FindAllString(line, -1) {
				if m != "http://www.w3.org" { // the SVG namespace, not a request
					t.Errorf("%s:%d: reference to another origin %s", name, i+1, m)
				}
			}
		}
	}
}

// TestModulesResolve checks that every relative import of every module names an embedded
// file, so that a typo fails here and not only in a browser.
func TestModulesResolve(t *testing.T) {
	files := webFiles(t)
	importRE := regexp.MustCompile(`(?m)^import [^;]*? from '([^']+)';|^import '([^']+)';`)
	h := dashboard.Handler()
	for name, text := range files {
		if !strings.HasSuffix(name, ".js") {
			continue
		}
		for _, m := range importRE.FindAllStringSubmatch(text, -1) {
			spec := m[1] + m[2]
			require.True(t, strings.HasPrefix(spec, "./") || strings.HasPrefix(spec, "../"), "%s imports %s: only relative modules", name, spec)
			target := "/" + filepath.ToSlash(filepath.Join(filepath.Dir(name), spec))
			assert.Equal(t, http.StatusOK, get(t, h, target).StatusCode, "%s imports %s (%s)", name, spec, target)
		}
	}
	for _, ref := range regexp.MustCompile(`(?:src|href)="(/assets/[^"]+)"`).FindAllStringSubmatch(files["index.html"], -1) {
		assert.Equal(t, http.StatusOK, get(t, h, ref[1]).StatusCode, "index.html refers to %s", ref[1])
	}
}
