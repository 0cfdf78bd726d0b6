package httpapi

import (
	"net/http"
	"strconv"
	"time"

	"github.com/encours/encours/domain"
	"github.com/encours/encours/handlers/auth"
)

// tokenRequest is the body of POST /v1/tokens.
type tokenRequest struct {
	Role rawValue `json:"role"`
	Name rawValue `json:"name"`
}

// tokenView is a token as GET /v1/tokens lists it: never its secret, nor its hash.
type tokenView struct {
	TokenID   string     `json:"token_id"`
	Role      auth.Role  `json:"role"`
	Name      string     `json:"name"`
	IssuedBy  string     `json:"issued_by"`
	IssuedAt  time.Time  `json:"issued_at"`
	Revoked   bool       `json:"revoked"`
	RevokedBy string     `json:"revoked_by,omitempty"`
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
}

func tokenViewOf(t auth.Token) tokenView {
	v := tokenView{TokenID: t.ID, Role: t.Role, Name: t.Name, IssuedBy: t.IssuedBy, IssuedAt: t.IssuedAt.UTC(), Revoked: t.Revoked(), RevokedBy: t.RevokedBy}
	if t.Revoked() {
		at := t.RevokedAt.UTC()
		v.RevokedAt = &at
	}
	return v
}

// issuedToken is the answer of POST /v1/tokens: the only time the token itself is shown.
type issuedToken struct {
	tokenView
	Token string `json:"token"`
}

// tokensOff refuses the token routes when the daemon runs without authentication.
func (a *api) tokensOff(w http.ResponseWriter, r *http.Request) bool {
	if a.tokens != nil {
		return false
	}
	a.writeError(w, r, domain.Errorf(domain.KindNotFound, codeRouteNotFound, "%s is served only with authentication on (encoursd --auth on)", r.Pattern))
	return true
}

// handleIssueToken serves POST /v1/tokens {"role", "name"}: 201 with the token, shown once.
// It takes no Idempotency-Key: a retry could not be answered with the same token, which is
// not kept, so a lost answer is mended by revoking and issuing again.
func (a *api) handleIssueToken(w http.ResponseWriter, r *http.Request) {
	if a.tokensOff(w, r) {
		return
	}
	if len(r.Header.Values("Idempotency-Key")) > 0 {
		a.writeError(w, r, invalid(codeInvalidHeader, "Idempotency-Key", "POST /v1/tokens takes no Idempotency-Key: the token is shown once and not kept"))
		return
	}
	body, err := a.readBody(w, r)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	var req tokenRequest
	if err := decodeStrict(body, &req); err != nil {
		a.writeError(w, r, err)
		return
	}
	var f fields
	if !req.Role.present() {
		f.fail(invalid(domain.CodeMissingField, "role", "role is required"))
	}
	role := f.str("role", req.Role)
	name := f.str("name", req.Name)
	if f.err != nil {
		a.writeError(w, r, f.err)
		return
	}
	secret, tok, err := a.tokens.Issue(r.Context(), auth.Role(role), name, principalOf(r.Context()), correlationID(r.Context()))
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store") // RFC 6749 §5.1: an answer with a credential
	writeJSON(w, http.StatusCreated, issuedToken{tokenView: tokenViewOf(tok), Token: secret})
}

// tokenList is the answer of GET /v1/tokens.
type tokenList struct {
	Tokens     []tokenView `json:"tokens"`
	Total      int         `json:"total"`
	NextOffset *int        `json:"next_offset"`
}

// Pages of GET /v1/tokens: limit 1..tokensLimitMax (default tokensLimitDefault), offset.
const (
	tokensLimitDefault = 100
	tokensLimitMax     = 1000
)

// handleListTokens serves GET /v1/tokens: every issued token, revoked ones included, in
// issue order, without secrets. The bootstrap admin token is configuration, not listed.
func (a *api) handleListTokens(w http.ResponseWriter, r *http.Request) {
	if a.tokensOff(w, r) {
		return
	}
	q := r.URL.Query()
	limit, offset := tokensLimitDefault, 0
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > tokensLimitMax {
			a.writeError(w, r, invalid(codeInvalidQuery, "limit", "limit %q: want 1..%d", clip(v), tokensLimitMax))
			return
		}
		limit = n
	}
	if v := q.Get("offset"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			a.writeError(w, r, invalid(codeInvalidQuery, "offset", "offset %q: want a whole number, 0 or more", clip(v)))
			return
		}
		offset = n
	}
	tokens, err := a.tokens.List(r.Context())
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	page := tokens[min(offset, len(tokens)):min(offset+limit, len(tokens))]
	out := tokenList{Tokens: make([]tokenView, len(page)), Total: len(tokens)}
	for i, t := range page {
		out.Tokens[i] = tokenViewOf(t)
	}
	if next := offset + len(page); len(page) > 0 && next < len(tokens) {
		out.NextOffset = &next
	}
	writeJSON(w, http.StatusOK, out)
}

// handleRevokeToken serves DELETE /v1/tokens/{id}: 200 with the token as now listed.
func (a *api) handleRevokeToken(w http.ResponseWriter, r *http.Request) {
	if a.tokensOff(w, r) {
		return
	}
	id, err := pathID(r)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	tok, err := a.tokens.Revoke(r.Context(), id, principalOf(r.Context()), correlationID(r.Context()))
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, tokenViewOf(tok))
}
