package httpapi

import (
	"context"
	"errors"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/encours/encours/domain"
	"github.com/encours/encours/handlers/auth"
)

// Codes of the access-control refusals.
const (
	codeUnauthenticated = "unauthenticated" // 401: no token, or one that authenticates nothing
	codeForbidden       = "forbidden"       // 403: the token's role may not use the route
	codeRateLimited     = "rate_limited"    // 429: the token's bucket is empty
)

// Reasons of an access refusal, the values of encours_auth_failures_total's reason label.
const (
	reasonMissing   = "missing"   // no Authorization header
	reasonMalformed = "malformed" // not "Bearer <token>", or not a token's shape
	reasonUnknown   = "unknown"   // a token's shape, but no token issued or configured
	reasonRevoked   = "revoked"
	reasonForbidden = "forbidden" // authenticated, but the role may not
)

// authReasons lists every reason, so that their series exist from the start.
var authReasons = []string{reasonMissing, reasonMalformed, reasonUnknown, reasonRevoked, reasonForbidden}

// principalOf returns who the request acts as (set by guard).
func principalOf(ctx context.Context) auth.Principal {
	if info := infoOf(ctx); info != nil {
		return info.principal
	}
	return auth.Principal{}
}

// guard wraps a route's handler with authentication, the rate limit and the route's
// permission, in that order: a refused request never reaches the handler, so it decodes
// nothing and appends nothing.
func (a *api) guard(rt route) http.Handler {
	invariant(rt.perm != 0, "route %s has no permission", rt.pattern)
	if rt.perm == auth.PermPublic {
		return rt.handler
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, ok := a.authenticate(w, r)
		if !ok {
			return
		}
		if !p.Role.May(rt.perm) {
			a.metrics.authFailure(reasonForbidden)
			a.writeError(w, r, domain.Errorf(domain.KindInvalid, codeForbidden, "role %s may not %s (roles allowed: %s)",
				p.Role, rt.pattern, rolesText(auth.RolesWith(rt.perm))))
			return
		}
		if info := infoOf(r.Context()); info != nil {
			info.principal = p
			rt.handler.ServeHTTP(w, r)
			return
		}
		rt.handler.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), requestInfoKey{}, &requestInfo{principal: p})))
	})
}

// authenticate finds who the request acts as and takes one request from its rate-limit
// bucket. When it answers false it has written the refusal: 401 with WWW-Authenticate, or
// 429 with Retry-After. Without a token registry (authentication off) every request acts as
// the configured actor with the admin role, unlimited.
func (a *api) authenticate(w http.ResponseWriter, r *http.Request) (auth.Principal, bool) {
	if a.tokens == nil {
		return auth.Principal{Name: a.actor, Role: auth.RoleAdmin}, true
	}
	secret, reason := bearerToken(r.Header)
	var p auth.Principal
	if reason == "" {
		var err error
		p, err = a.tokens.Authenticate(r.Context(), secret)
		switch {
		case errors.Is(err, auth.ErrMalformedToken):
			reason = reasonMalformed
		case errors.Is(err, auth.ErrUnknownToken):
			reason = reasonUnknown
		case errors.Is(err, auth.ErrRevokedToken):
			reason = reasonRevoked
		case err != nil:
			invariant(false, "Authenticate gave an unexpected error: %v", err)
		}
	}
	if reason != "" {
		a.metrics.authFailure(reason)
		// RFC 6750 §3: the scheme, and error="invalid_token" when a token was sent. The
		// message never says whether a token exists or was revoked.
		challenge := `Bearer realm="encours"`
		msg := "this route needs an Authorization: Bearer <token> header"
		if reason != reasonMissing {
			challenge += `, error="invalid_token"`
			msg = "the bearer token is malformed, unknown or revoked"
		}
		w.Header().Set("WWW-Authenticate", challenge)
		a.writeError(w, r, domain.Errorf(domain.KindInvalid, codeUnauthenticated, "%s", msg))
		return auth.Principal{}, false
	}
	if ok, wait := a.limiter.Allow(p.TokenID); !ok {
		w.Header().Set("Retry-After", strconv.Itoa(int(max(1, math.Ceil(wait.Seconds())))))
		a.writeError(w, r, domain.Errorf(domain.KindInvalid, codeRateLimited, "token %s is over its rate limit; retry after %s", p.TokenID, wait.Round(time.Millisecond)))
		return auth.Principal{}, false
	}
	return p, true
}

// bearerToken reads "Authorization: Bearer <token>" (the scheme is case-insensitive, RFC
// 7235 §2.1); reason is reasonMissing or reasonMalformed when it cannot.
func bearerToken(h http.Header) (token, reason string) {
	vs := h.Values("Authorization")
	switch {
	case len(vs) == 0:
		return "", reasonMissing
	case len(vs) > 1:
		return "", reasonMalformed
	}
	scheme, token, ok := strings.Cut(vs[0], " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" || !visibleASCII(token) {
		return "", reasonMalformed
	}
	return token, ""
}

func rolesText(roles []auth.Role) string {
	s := make([]string, len(roles))
	for i, r := range roles {
		s[i] = string(r)
	}
	return strings.Join(s, ", ")
}

// ActorOf names who a request acts as: the authenticated token's name (or the configured
// actor when authentication is off). Routes mounted through Options.Extra record it on the
// events they append. Empty outside a guarded route.
func ActorOf(r *http.Request) string { return principalOf(r.Context()).Name }
