package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/encours/encours/domain"
	"github.com/encours/encours/eventstore"
)

// Token format and limits.
const (
	// TokenPrefix starts every issued token, so that people and secret scanners recognise one.
	TokenPrefix = "enc_"
	// tokenSecretBytes of crypto/rand make a token: 256 bits, beyond any guessing.
	tokenSecretBytes = 32
	// tokenIDPrefix starts a token's public id (GET /v1/tokens, DELETE /v1/tokens/{id}).
	tokenIDPrefix  = "tok_"
	tokenIDBytes   = 12 // 96 random bits: ids never collide in practice (checked anyway)
	tokenIDTries   = 8  // a collision of 96 random bits twice in a row is a broken generator
	tokenNameBytes = 64 // names become the actor of every event: short, printable
	// tokensMax bounds the tokens kept in memory, revoked ones included (each is a few
	// hundred bytes). Ten thousand integrations and people is far beyond one ledger; more
	// is refused with too_many_tokens.
	tokensMax = 10_000
	// issueRetriesMax bounds the rounds of an issue or revocation that lost a race with
	// another API node appending to system-tokens (style §8).
	issueRetriesMax = 5
	// streamPagesMax bounds one catch-up: tokensMax events with their revocations fit in two
	// pages of eventstore.ReadLimitMax; a longer stream is a damaged or foreign log.
	streamPagesMax = 2*tokensMax/eventstore.ReadLimitMax + 1
	// Bootstrap tokens come from an operator (ENCOURS_ADMIN_TOKEN): at least 128 bits if
	// they are hex, and short enough to sit in a header.
	bootstrapBytesMin = 32
	bootstrapBytesMax = 256
)

// How stale a node's tokens may be. Issues and revocations made through this node apply at
// once; those made through another node over the same store are seen within syncEvery, and
// a token unknown here makes this node look again, at most once per syncOnMissEvery (so a
// flood of wrong tokens costs at most that many store reads).
const (
	syncEvery       = time.Second
	syncOnMissEvery = 100 * time.Millisecond
)

// BootstrapName is the name, and so the actor, of the bootstrap admin token. No issued
// token may take it.
const BootstrapName = "admin"

// BootstrapID is the token id of the bootstrap admin token; it is never listed or stored.
const BootstrapID = "bootstrap"

// Refusal codes of Issue and Revoke (the HTTP layer maps their kinds to statuses).
const (
	CodeTokenNameTaken    = "token_name_taken"
	CodeUnknownToken      = "unknown_token"
	CodeTokenRevoked      = "token_already_revoked"
	CodeTooManyTokens     = "too_many_tokens"
	codeInvalidAdminToken = "invalid_admin_token"
)

// Errors of Authenticate, told apart with errors.Is. None of them says more to a client than
// "unauthenticated"; they are reasons for metrics.
var (
	ErrMalformedToken = errors.New("malformed token")
	ErrUnknownToken   = errors.New("unknown token")
	ErrRevokedToken   = errors.New("revoked token")
)

// Principal is who a request acts as: the token's id, name (the events' actor) and role.
type Principal struct {
	TokenID string
	Name    string
	Role    Role
}

// Token is an issued token as listed: everything but its secret, which is never kept.
type Token struct {
	ID        string
	Role      Role
	Name      string
	IssuedBy  string
	IssuedAt  time.Time // recorded_at of its TokenIssued event
	RevokedBy string
	RevokedAt time.Time // zero while active
}

// Revoked reports whether the token was revoked.
func (t Token) Revoked() bool { return !t.RevokedAt.IsZero() }

// tokenStore is what Tokens needs of the event-store port.
type tokenStore interface {
	Append(ctx context.Context, req eventstore.AppendRequest) (eventstore.AppendResult, error)
	ReadStream(ctx context.Context, stream string, fromVersion uint64, limit int) ([]domain.Envelope, error)
}

// Clock gives the instant of an issue or revocation (its business date, effective_on).
type Clock interface {
	Now() time.Time
}

// Options configure Tokens.
type Options struct {
	// Clock dates TokenIssued and TokenRevoked. Required.
	Clock Clock
	// Bootstrap, when set, is an admin token held in memory only (never stored, never
	// listed): ENCOURS_ADMIN_TOKEN or encoursd --admin-token-file. 32..256 visible ASCII
	// characters.
	Bootstrap string
}

// entry is one token as held in memory.
type entry struct {
	Token
	hash domain.Hash
}

// Tokens is the registry of access tokens, folded from the system-tokens stream. It is safe
// for concurrent use.
type Tokens struct {
	store tokenStore
	clock Clock
	epoch time.Time // lastSync counts from it, on the monotonic clock

	// syncMu serialises every change of the state below (catch-up, issue, revoke); mu
	// guards it for the readers, who never wait on a store read.
	syncMu   sync.Mutex
	mu       sync.RWMutex
	byHash   map[uint64][]*entry // by the first 8 bytes of the hash: see lookup
	byID     map[string]*entry
	issued   []*entry // in issue order (List)
	version  uint64   // of system-tokens, folded so far
	lastSync atomic.Int64
}

// Open reads the system-tokens stream of store and returns the registry. It fails when the
// stream cannot be read or decoded, or when opts.Bootstrap is malformed.
func Open(ctx context.Context, store tokenStore, opts Options) (*Tokens, error) {
	if store == nil {
		panic("auth.Open: nil store")
	}
	if opts.Clock == nil {
		panic("auth.Open: nil clock")
	}
	t := &Tokens{
		store: store, clock: opts.Clock, epoch: time.Now(),
		byHash: make(map[uint64][]*entry), byID: make(map[string]*entry),
	}
	if opts.Bootstrap != "" {
		if err := CheckBootstrap(opts.Bootstrap); err != nil {
			return nil, err
		}
		e := &entry{Token: Token{ID: BootstrapID, Role: RoleAdmin, Name: BootstrapName}, hash: hashOf(opts.Bootstrap)}
		t.byHash[indexOf(e.hash)] = append(t.byHash[indexOf(e.hash)], e)
	}
	t.syncMu.Lock()
	defer t.syncMu.Unlock()
	if err := t.catchUpLocked(ctx); err != nil {
		return nil, err
	}
	return t, nil
}

// CheckBootstrap refuses a bootstrap admin token that is too short or long, or not visible
// ASCII, so that the daemon can refuse it with its other flags.
func CheckBootstrap(s string) error {
	if len(s) < bootstrapBytesMin || len(s) > bootstrapBytesMax {
		return domain.Errorf(domain.KindInvalid, codeInvalidAdminToken, "the admin token has %d characters, want %d..%d", len(s), bootstrapBytesMin, bootstrapBytesMax)
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return domain.Errorf(domain.KindInvalid, codeInvalidAdminToken, "the admin token must be visible ASCII (byte %d is not)", i)
		}
	}
	return nil
}

// NewSecret returns a fresh token: TokenPrefix and 32 bytes from crypto/rand in base64url.
func NewSecret() string {
	var b [tokenSecretBytes]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never returns an error (Go 1.24+)
	return TokenPrefix + base64.RawURLEncoding.EncodeToString(b[:])
}

// wellFormed reports whether s looks like a token NewSecret makes.
func wellFormed(s string) bool {
	rest, ok := strings.CutPrefix(s, TokenPrefix)
	if !ok || len(rest) != base64.RawURLEncoding.EncodedLen(tokenSecretBytes) {
		return false
	}
	_, err := base64.RawURLEncoding.DecodeString(rest)
	return err == nil
}

func hashOf(secret string) domain.Hash { return sha256.Sum256([]byte(secret)) }

// indexOf is the map key of a hash: its first 8 bytes. The map narrows the candidates by a
// part of the hash, which is no secret (learning it by timing does not help to find a token
// with that hash); the whole hash is then compared in constant time.
func indexOf(h domain.Hash) uint64 { return binary.BigEndian.Uint64(h[:8]) }

// Authenticate returns the principal of a token, or ErrMalformedToken, ErrUnknownToken or
// ErrRevokedToken. It reads the store only to catch up with other nodes, at most once per
// syncEvery (and once per syncOnMissEvery for a token not known here).
func (t *Tokens) Authenticate(ctx context.Context, secret string) (Principal, error) {
	h := hashOf(secret)
	t.syncIfOlder(ctx, syncEvery)
	tok, found := t.lookup(h)
	if !found && t.syncIfOlder(ctx, syncOnMissEvery) {
		tok, found = t.lookup(h)
	}
	switch {
	case !found && !wellFormed(secret):
		return Principal{}, ErrMalformedToken
	case !found:
		return Principal{}, ErrUnknownToken
	case tok.Revoked():
		return Principal{}, ErrRevokedToken
	}
	return Principal{TokenID: tok.ID, Name: tok.Name, Role: tok.Role}, nil
}

// lookup finds the token with hash h, comparing whole hashes in constant time.
func (t *Tokens) lookup(h domain.Hash) (Token, bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	var found *entry
	for _, e := range t.byHash[indexOf(h)] {
		if subtle.ConstantTimeCompare(e.hash[:], h[:]) == 1 {
			found = e
		}
	}
	if found == nil {
		return Token{}, false
	}
	return found.Token, true
}

// syncIfOlder catches up with the store when the last catch-up is older than age and no
// other goroutine is at it; it reports whether it did. A failed read keeps what is known
// (a store that fails keeps serving the tokens it had), and waits age before trying again.
func (t *Tokens) syncIfOlder(ctx context.Context, age time.Duration) bool {
	if time.Since(t.epoch)-time.Duration(t.lastSync.Load()) < age {
		return false
	}
	if !t.syncMu.TryLock() {
		return false
	}
	defer t.syncMu.Unlock()
	if time.Since(t.epoch)-time.Duration(t.lastSync.Load()) < age {
		return false // another goroutine caught up while this one took the lock
	}
	return t.catchUpLocked(ctx) == nil
}

// catchUpLocked folds the events of system-tokens after the version known; the caller holds
// syncMu.
func (t *Tokens) catchUpLocked(ctx context.Context) error {
	t.lastSync.Store(int64(time.Since(t.epoch)))
	for range streamPagesMax {
		page, err := t.store.ReadStream(ctx, domain.TokensStream, t.version+1, eventstore.ReadLimitMax)
		if err != nil {
			return fmt.Errorf("read %s from v%d: %w", domain.TokensStream, t.version+1, err)
		}
		if err := t.apply(page); err != nil {
			return err
		}
		if len(page) < eventstore.ReadLimitMax {
			return nil
		}
	}
	return fmt.Errorf("read %s: more than %d pages", domain.TokensStream, streamPagesMax)
}

// apply folds a page of system-tokens. Folding never refuses an event that decodes (it is a
// fact already): a token of a role this build does not know authenticates nothing, a second
// TokenIssued with an id already used and a revocation of an unknown token are ignored.
func (t *Tokens) apply(page []domain.Envelope) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	for i := range page {
		env := &page[i]
		if env.StreamVersion != t.version+1 {
			return fmt.Errorf("read %s: version %d, want %d (stream versions must be contiguous)", domain.TokensStream, env.StreamVersion, t.version+1)
		}
		ev, err := domain.DecodeEvent(env.Type, env.SchemaVersion, env.Data)
		if err != nil {
			return fmt.Errorf("read %s v%d: %w", domain.TokensStream, env.StreamVersion, err)
		}
		switch e := ev.(type) {
		case domain.TokenIssued:
			role, ok := ParseRole(e.Role)
			if _, dup := t.byID[e.TokenID]; !ok || dup {
				break
			}
			n := &entry{Token: Token{ID: e.TokenID, Role: role, Name: e.Name, IssuedBy: e.IssuedBy, IssuedAt: env.RecordedAt}, hash: e.Hash}
			t.byID[n.ID] = n
			t.issued = append(t.issued, n)
			t.byHash[indexOf(n.hash)] = append(t.byHash[indexOf(n.hash)], n)
		case domain.TokenRevoked:
			if n, ok := t.byID[e.TokenID]; ok && !n.Revoked() {
				n.RevokedAt, n.RevokedBy = env.RecordedAt, e.RevokedBy
			}
		}
		t.version = env.StreamVersion
	}
	return nil
}

// Issue records a new token of role for name, issued by by, and returns the token itself,
// which is nowhere else: the caller shows it once. Refusals are *domain.Error: an invalid or
// missing name or role, token_name_taken (an active token, or the bootstrap token, has the
// name), too_many_tokens, version_conflict (other nodes kept issuing).
func (t *Tokens) Issue(ctx context.Context, role Role, name string, by Principal, correlationID string) (string, Token, error) {
	if _, ok := ParseRole(string(role)); !ok {
		return "", Token{}, domain.FieldErrorf(domain.KindInvalid, domain.CodeInvalidField, "role", "role %q, want one of %s", clip(string(role)), roleList())
	}
	if err := checkName(name); err != nil {
		return "", Token{}, err
	}
	t.syncMu.Lock()
	defer t.syncMu.Unlock()
	var secret, id string
	err := t.appendLocked(ctx, func() (domain.Event, error) {
		if err := t.checkIssueLocked(name); err != nil {
			return nil, err
		}
		secret, id = NewSecret(), t.newIDLocked()
		return domain.TokenIssued{TokenID: id, Role: string(role), Name: name, Hash: hashOf(secret),
			IssuedBy: by.Name, IssuedOn: domain.DateOfTime(t.clock.Now())}, nil
	}, by.Name, correlationID)
	if err != nil {
		return "", Token{}, err
	}
	tok, ok := t.token(id)
	invariant(ok, "token %s issued but not folded", id)
	return secret, tok, nil
}

// Revoke records that token id authenticates nothing from now on. Refusals are
// *domain.Error: unknown_token (never issued here, or the bootstrap token, which lives only
// in the daemon's configuration), token_already_revoked, version_conflict.
func (t *Tokens) Revoke(ctx context.Context, id string, by Principal, correlationID string) (Token, error) {
	t.syncMu.Lock()
	defer t.syncMu.Unlock()
	err := t.appendLocked(ctx, func() (domain.Event, error) {
		tok, ok := t.token(id)
		switch {
		case !ok:
			return nil, domain.FieldErrorf(domain.KindNotFound, CodeUnknownToken, "id", "no token %s was issued (the bootstrap admin token is configured, not issued)", clip(id))
		case tok.Revoked():
			return nil, domain.FieldErrorf(domain.KindConflict, CodeTokenRevoked, "id", "token %s was revoked at %s by %s", id, tok.RevokedAt.Format(time.RFC3339), tok.RevokedBy)
		}
		return domain.TokenRevoked{TokenID: id, RevokedBy: by.Name, RevokedOn: domain.DateOfTime(t.clock.Now())}, nil
	}, by.Name, correlationID)
	if err != nil {
		return Token{}, err
	}
	tok, _ := t.token(id)
	invariant(tok.Revoked(), "token %s revoked but not folded", id)
	return tok, nil
}

// appendLocked runs the catch-up, decide, append rounds of an issue or revocation, then
// folds what was appended. The caller holds syncMu.
func (t *Tokens) appendLocked(ctx context.Context, decide func() (domain.Event, error), actor, correlationID string) error {
	for attempt := 0; ; attempt++ {
		if err := t.catchUpLocked(ctx); err != nil {
			return err
		}
		ev, err := decide()
		if err != nil {
			return err
		}
		data, err := domain.EncodeEvent(ev)
		if err != nil {
			return fmt.Errorf("encode %s: %w", ev.EventType(), err)
		}
		req := eventstore.AppendRequest{
			Stream:          domain.TokensStream,
			ExpectedVersion: int64(t.version), //nolint:gosec // bounded by streamPagesMax pages
			Events: []domain.Envelope{{
				EventID: newEventID(t.clock.Now()), Stream: domain.TokensStream, Type: ev.EventType(),
				SchemaVersion: domain.CurrentSchemaVersion, EffectiveOn: ev.Effective(),
				Actor: actor, CorrelationID: correlationID, Data: data,
			}},
		}
		_, err = t.store.Append(ctx, req)
		switch {
		case err == nil:
			return t.catchUpLocked(ctx)
		case errors.Is(err, eventstore.ErrWrongVersion) && attempt+1 < issueRetriesMax:
			continue // another node appended to system-tokens: fold it and decide again
		case errors.Is(err, eventstore.ErrWrongVersion):
			return domain.Errorf(domain.KindConflict, domain.CodeVersionConflict, "%s changed %d times while this was decided; retry", domain.TokensStream, issueRetriesMax)
		default:
			return fmt.Errorf("append %s at v%d: %w", domain.TokensStream, t.version, err)
		}
	}
}

func (t *Tokens) checkIssueLocked(name string) error {
	t.mu.RLock()
	defer t.mu.RUnlock()
	if len(t.issued) >= tokensMax {
		return domain.Errorf(domain.KindConflict, CodeTooManyTokens, "%d tokens were issued, the most one ledger keeps", tokensMax)
	}
	if name == BootstrapName {
		return domain.FieldErrorf(domain.KindConflict, CodeTokenNameTaken, "name", "the name %q is the bootstrap admin token's", name)
	}
	for _, e := range t.issued {
		if e.Name == name && !e.Revoked() {
			return domain.FieldErrorf(domain.KindConflict, CodeTokenNameTaken, "name", "active token %s already has the name %q (names are the events' actors)", e.ID, name)
		}
	}
	return nil
}

func (t *Tokens) newIDLocked() string {
	for range tokenIDTries {
		var b [tokenIDBytes]byte
		_, _ = rand.Read(b[:])
		id := tokenIDPrefix + base64.RawURLEncoding.EncodeToString(b[:])
		if _, taken := t.token(id); !taken {
			return id
		}
	}
	panic("auth: crypto/rand gave colliding token ids")
}

// token returns the issued token id.
func (t *Tokens) token(id string) (Token, bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	e, ok := t.byID[id]
	if !ok {
		return Token{}, false
	}
	return e.Token, true
}

// List returns every issued token, revoked ones included, in issue order, after catching up
// with the store. The bootstrap token is not listed.
func (t *Tokens) List(ctx context.Context) ([]Token, error) {
	t.syncMu.Lock()
	err := t.catchUpLocked(ctx)
	t.syncMu.Unlock()
	if err != nil {
		return nil, err
	}
	t.mu.RLock()
	defer t.mu.RUnlock()
	out := make([]Token, len(t.issued))
	for i, e := range t.issued {
		out[i] = e.Token
	}
	return out, nil
}

// checkName refuses a name that would make a poor actor: empty, longer than 64 bytes, or
// with characters other than letters, digits and ._@:+-.
func checkName(name string) error {
	if name == "" {
		return domain.FieldErrorf(domain.KindInvalid, domain.CodeMissingField, "name", "name is required")
	}
	if len(name) > tokenNameBytes {
		return domain.FieldErrorf(domain.KindInvalid, domain.CodeInvalidField, "name", "name of %d bytes, at most %d", len(name), tokenNameBytes)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("._@:+-", c) >= 0) {
			return domain.FieldErrorf(domain.KindInvalid, domain.CodeInvalidField, "name", "name %q: byte %d is not one of [A-Za-z0-9._@:+-]", clip(name), i)
		}
	}
	return nil
}

func roleList() string {
	var b strings.Builder
	for i, r := range Roles() {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(string(r))
	}
	return b.String()
}

// clip shortens a value quoted in an error message.
func clip(s string) string {
	const n = 40
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// newEventID makes a UUIDv7 (RFC 9562 §5.7) for a token event: 48 bits of Unix milliseconds
// and 74 random bits. Token events are rare and serialised by syncMu, so the monotonic
// counter of handlers/command's generator is not needed here.
func newEventID(now time.Time) string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	ms := uint64(now.UnixMilli()) //nolint:gosec // instants after 1970
	b[0], b[1], b[2], b[3], b[4], b[5] = byte(ms>>40), byte(ms>>32), byte(ms>>24), byte(ms>>16), byte(ms>>8), byte(ms)
	b[6] = 0x70 | b[6]&0x0f // version 7
	b[8] = 0x80 | b[8]&0x3f // variant 10
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// invariant panics when a programmer's invariant is broken (style §8); it never checks input.
func invariant(ok bool, format string, args ...any) {
	if !ok {
		panic("auth: invariant broken: " + fmt.Sprintf(format, args...))
	}
}
