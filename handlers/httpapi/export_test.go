package httpapi

import "net/http"

// Patterns returns the API's own route patterns, in table order (h is what New returns).
func Patterns(h http.Handler) []string {
	a := h.(*api)
	var out []string
	for _, rt := range a.routes() {
		out = append(out, rt.pattern)
	}
	return out
}
