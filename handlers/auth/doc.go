// Package auth is who may do what on the HTTP API (Audit/access-control issue): the roles
// and what each permits, the API's access tokens, and a per-token rate limit.
//
// Tokens are random (32 bytes from crypto/rand, base64url, prefixed "enc_" so that secret
// scanners and people recognise them). Only their SHA-256 is kept, as TokenIssued and
// TokenRevoked events on the system stream system-tokens: every API node over the same store
// reads the same tokens, and who issued or revoked which token is in the audited log. A
// token is compared by its hash with crypto/subtle. One admin token may also be held in
// memory only (the bootstrap token: ENCOURS_ADMIN_TOKEN, or encoursd --admin-token-file),
// never stored, so that a fresh store can be administered at all.
//
// It imports domain and the eventstore port; handlers/httpapi enforces it and cmd/encoursd
// wires it. It must not import handlers/httpapi. Its tests run on the embedded store.
package auth
