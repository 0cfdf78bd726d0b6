package auth_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/encours/encours/domain"
	"github.com/encours/encours/eventstore/embedded"
	"github.com/encours/encours/handlers/auth"
)

type fixedClock struct{ t time.Time }

func (c fixedClock) Now() time.Time { return c.t }

var testNow = time.Date(2026, 3, 2, 9, 30, 0, 0, time.UTC)

const bootstrap = "bootstrap-admin-token-for-tests-0123456789"

func openStore(t *testing.T) *embedded.Store {
	t.Helper()
	store, err := embedded.Open(t.TempDir(), embedded.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = store.Close() })
	return store
}

func openTokens(t *testing.T, store *embedded.Store) *auth.Tokens {
	t.Helper()
	tokens, err := auth.Open(context.Background(), store, auth.Options{Clock: fixedClock{testNow}, Bootstrap: bootstrap})
	require.NoError(t, err)
	return tokens
}

var admin = auth.Principal{TokenID: auth.BootstrapID, Name: auth.BootstrapName, Role: auth.RoleAdmin}

func codeOf(t *testing.T, err error) string {
	t.Helper()
	var de *domain.Error
	require.ErrorAs(t, err, &de)
	return de.Code
}

// A token's life: issued (shown once, stored only as its hash, as an event whose actor is
// the issuer), authenticating as its name and role, revoked, then refused.
func TestTokenLifecycle(t *testing.T) {
	ctx := context.Background()
	store := openStore(t)
	tokens := openTokens(t, store)

	secret, tok, err := tokens.Issue(ctx, auth.RoleWriter, "erp-sap", admin, "corr-1")
	require.NoError(t, err)
	assert.Regexp(t, `^enc_[A-Za-z0-9_-]{43}$`, secret)
	assert.Regexp(t, `^tok_[A-Za-z0-9_-]{16}$`, tok.ID)
	assert.Equal(t, auth.Token{ID: tok.ID, Role: auth.RoleWriter, Name: "erp-sap", IssuedBy: "admin", IssuedAt: tok.IssuedAt}, tok)
	assert.False(t, tok.IssuedAt.IsZero())

	p, err := tokens.Authenticate(ctx, secret)
	require.NoError(t, err)
	assert.Equal(t, auth.Principal{TokenID: tok.ID, Name: "erp-sap", Role: auth.RoleWriter}, p)

	events, err := store.ReadStream(ctx, domain.TokensStream, 1, 10)
	require.NoError(t, err)
	require.Len(t, events, 1)
	e := events[0]
	assert.Equal(t, domain.TypeTokenIssued, e.Type)
	assert.Equal(t, "admin", e.Actor)
	assert.Equal(t, "corr-1", e.CorrelationID)
	assert.Equal(t, "2026-03-02", e.EffectiveOn.String())
	assert.NotContains(t, string(e.Data), strings.TrimPrefix(secret, "enc_"), "the secret is never stored")
	sum := sha256.Sum256([]byte(secret))
	assert.Contains(t, string(e.Data), `"hash":"`+hex.EncodeToString(sum[:])+`"`, "only the SHA-256 is stored")

	revoked, err := tokens.Revoke(ctx, tok.ID, p, "corr-2")
	require.NoError(t, err)
	assert.True(t, revoked.Revoked())
	assert.Equal(t, "erp-sap", revoked.RevokedBy)
	_, err = tokens.Authenticate(ctx, secret)
	assert.ErrorIs(t, err, auth.ErrRevokedToken)

	_, err = tokens.Revoke(ctx, tok.ID, admin, "")
	assert.Equal(t, auth.CodeTokenRevoked, codeOf(t, err))
	_, err = tokens.Revoke(ctx, "tok_nope", admin, "")
	assert.Equal(t, auth.CodeUnknownToken, codeOf(t, err))
	_, err = tokens.Revoke(ctx, auth.BootstrapID, admin, "")
	assert.Equal(t, auth.CodeUnknownToken, codeOf(t, err), "the bootstrap token is configured, not issued")

	events, err = store.ReadStream(ctx, domain.TokensStream, 1, 10)
	require.NoError(t, err)
	require.Len(t, events, 2, "refusals append nothing")
	assert.Equal(t, domain.TypeTokenRevoked, events[1].Type)
	assert.Equal(t, "erp-sap", events[1].Actor)

	// A registry opened later (a restart) folds the same tokens from the log.
	again := openTokens(t, store)
	_, err = again.Authenticate(ctx, secret)
	assert.ErrorIs(t, err, auth.ErrRevokedToken)
	list, err := again.List(ctx)
	require.NoError(t, err)
	require.Len(t, list, 1)
	assert.Equal(t, revoked.RevokedAt, list[0].RevokedAt)
}

func TestAuthenticateRefusals(t *testing.T) {
	ctx := context.Background()
	tokens := openTokens(t, openStore(t))
	p, err := tokens.Authenticate(ctx, bootstrap)
	require.NoError(t, err)
	assert.Equal(t, admin, p)

	cases := []struct {
		name, secret string
		want         error
	}{
		{"empty", "", auth.ErrMalformedToken},
		{"no prefix", strings.Repeat("a", 47), auth.ErrMalformedToken},
		{"short", "enc_abc", auth.ErrMalformedToken},
		{"not base64url", "enc_" + strings.Repeat("+", 43), auth.ErrMalformedToken},
		{"well formed but never issued", auth.NewSecret(), auth.ErrUnknownToken},
		{"bootstrap with a byte more", bootstrap + "x", auth.ErrMalformedToken},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tokens.Authenticate(ctx, tc.secret)
			assert.ErrorIs(t, err, tc.want)
		})
	}
}

func TestIssueRefusals(t *testing.T) {
	ctx := context.Background()
	store := openStore(t)
	tokens := openTokens(t, store)
	_, first, err := tokens.Issue(ctx, auth.RoleReader, "dashboard", admin, "")
	require.NoError(t, err)

	cases := []struct {
		name     string
		role     auth.Role
		token    string
		code     string
		wantKind domain.Kind
	}{
		{"unknown role", "superuser", "x", domain.CodeInvalidField, domain.KindInvalid},
		{"empty role", "", "x", domain.CodeInvalidField, domain.KindInvalid},
		{"empty name", auth.RoleReader, "", domain.CodeMissingField, domain.KindInvalid},
		{"name with a space", auth.RoleReader, "a b", domain.CodeInvalidField, domain.KindInvalid},
		{"name too long", auth.RoleReader, strings.Repeat("n", 65), domain.CodeInvalidField, domain.KindInvalid},
		{"name of an active token", auth.RoleWriter, "dashboard", auth.CodeTokenNameTaken, domain.KindConflict},
		{"the bootstrap token's name", auth.RoleAdmin, auth.BootstrapName, auth.CodeTokenNameTaken, domain.KindConflict},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := tokens.Issue(ctx, tc.role, tc.token, admin, "")
			var de *domain.Error
			require.ErrorAs(t, err, &de)
			assert.Equal(t, tc.code, de.Code)
			assert.Equal(t, tc.wantKind, de.Kind)
		})
	}
	hd, err := store.Head(ctx)
	require.NoError(t, err)
	assert.Equal(t, uint64(1), hd.Position, "refusals append nothing")

	// A revoked token's name is free again.
	_, err = tokens.Revoke(ctx, first.ID, admin, "")
	require.NoError(t, err)
	_, _, err = tokens.Issue(ctx, auth.RoleReader, "dashboard", admin, "")
	require.NoError(t, err)

	for _, b := range []string{"short", strings.Repeat("x", 257), strings.Repeat("é", 20)} {
		_, err := auth.Open(ctx, store, auth.Options{Clock: fixedClock{testNow}, Bootstrap: b})
		assert.Error(t, err, "bootstrap %q", b)
	}
}

// Two registries over one store stand for two API nodes. A token issued through one is
// accepted by the other at once (a miss makes it look again), a revocation through one is
// seen by the other within a second, and concurrent issues through both all land (the
// version conflicts are retried).
func TestTwoNodes(t *testing.T) {
	ctx := context.Background()
	store := openStore(t)
	a, b := openTokens(t, store), openTokens(t, store)

	secret, tok, err := a.Issue(ctx, auth.RoleAuditor, "cac", admin, "")
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		_, err := b.Authenticate(ctx, secret)
		return err == nil
	}, 2*time.Second, 10*time.Millisecond, "waiting for node b to accept a token issued on node a")

	_, err = a.Revoke(ctx, tok.ID, admin, "")
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		_, err := b.Authenticate(ctx, secret)
		return errors.Is(err, auth.ErrRevokedToken)
	}, 3*time.Second, 20*time.Millisecond, "waiting for node b to see the revocation made on node a")

	const perNode = 4
	var wg sync.WaitGroup
	errs := make([]error, 2*perNode)
	for i := range errs {
		node := a
		if i%2 == 1 {
			node = b
		}
		wg.Go(func() {
			_, _, errs[i] = node.Issue(ctx, auth.RoleReader, fmt.Sprintf("reader-%d", i), admin, "")
		})
	}
	wg.Wait()
	for i, err := range errs {
		assert.NoError(t, err, "issue %d", i)
	}
	la, err := a.List(ctx)
	require.NoError(t, err)
	lb, err := b.List(ctx)
	require.NoError(t, err)
	assert.Len(t, la, 1+2*perNode)
	assert.Equal(t, la, lb)
}
