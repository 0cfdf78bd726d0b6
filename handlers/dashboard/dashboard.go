package dashboard

import (
	"embed"
	"fmt"
	"io/fs"
	"net/http"
	"path"
	"strings"
)

// web holds the dashboard: index.html and its assets (ES modules, CSS). Embedded so the
// binary serves it on networks with no way out (design §Users: finance networks are closed):
// no CDN, no build step, nothing fetched at run time.
//
//go:embed web/index.html web/assets
var web embed.FS

// Route is one route the dashboard serves. Both are public: the page and its scripts hold
// no data; every figure is read from the API with the user's bearer token.
type Route struct {
	Pattern string
	Handler http.Handler
}

// Route patterns. "GET /{$}" is exactly "/": a bare "GET /" pattern would also match every
// GET path no other route matches, so a mistyped API path would answer the page (200, HTML,
// without a token) instead of the API's 401 or 404 error.
const (
	PatternIndex  = "GET /{$}"
	PatternAssets = "GET /assets/{path...}"
)

// Routes lists the dashboard's routes, for the API wiring to mount as public routes
// (auth.PermPublic).
func Routes() []Route {
	h := Handler()
	return []Route{{PatternIndex, h}, {PatternAssets, h}}
}

// Handler serves the dashboard: the page at GET / and its assets at GET /assets/{path...}.
// Anything else is 404.
func Handler() http.Handler {
	assets, err := fs.Sub(web, "web")
	invariant(err == nil, "embedded web directory: %v", err)
	index, err := fs.ReadFile(assets, "index.html")
	invariant(err == nil, "embedded index.html: %v", err)
	mux := http.NewServeMux()
	mux.HandleFunc(PatternIndex, func(w http.ResponseWriter, r *http.Request) {
		setSecurityHeaders(w.Header())
		// The page is small and changes with each release; always revalidated.
		w.Header().Set("Cache-Control", "no-cache")
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write(index)
	})
	files := http.FileServerFS(assets)
	mux.HandleFunc(PatternAssets, func(w http.ResponseWriter, r *http.Request) {
		p := r.PathValue("path")
		// No directory listings, no dot files; FileServerFS already refuses "..".
		if p == "" || strings.HasSuffix(p, "/") || strings.HasPrefix(path.Base(p), ".") {
			http.NotFound(w, r)
			return
		}
		setSecurityHeaders(w.Header())
		w.Header().Set("Cache-Control", "no-cache")
		files.ServeHTTP(w, r)
	})
	return mux
}

// contentSecurityPolicy allows only the page's own scripts, styles and API: no inline script
// (data is never turned into markup, and an injected <script> would not run anyway), no
// third-party origin, no framing.
const contentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"

func setSecurityHeaders(h http.Header) {
	h.Set("Content-Security-Policy", contentSecurityPolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
}

// invariant panics when a programmer's invariant is broken (style §8).
func invariant(ok bool, format string, args ...any) {
	if !ok {
		panic("dashboard: invariant broken: " + fmt.Sprintf(format, args...))
	}
}
