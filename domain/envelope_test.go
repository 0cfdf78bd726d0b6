package domain_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/encours/encours/domain"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// fixedEnvelope is an event with every envelope field set; its canonical bytes and hash are
// pinned in testdata/envelope.golden.
func fixedEnvelope(t testing.TB) domain.Envelope {
	t.Helper()
	data, err := domain.EncodeEvent(issued("I1", 125_000, "2025-01-10", "2025-02-09"))
	require.NoError(t, err)
	req := sha256.Sum256([]byte("POST /v1/invoices {...}"))
	return domain.Envelope{
		EventID:        "0194503e-5a00-7c3f-9b1a-6f2d4c8e0a11",
		Stream:         "customer-C1",
		StreamVersion:  3,
		Position:       42,
		Type:           domain.TypeInvoiceIssued,
		SchemaVersion:  domain.CurrentSchemaVersion,
		EffectiveOn:    day("2025-01-10"),
		RecordedAt:     time.Date(2025, 1, 10, 9, 30, 0, 123456789, time.UTC),
		Actor:          "user:alice",
		CorrelationID:  "corr-7",
		CausationID:    "cause-6",
		IdempotencyKey: "idem-2025-01-10-0001",
		RequestHash:    req[:],
		Data:           data,
		PrevHash:       sha256.Sum256([]byte("the event at position 41")),
	}
}

func TestCanonicalRoundTrip(t *testing.T) {
	full := fixedEnvelope(t)
	sparse := domain.Envelope{Stream: "customer-C2", Type: domain.TypeCustomerRegistered, SchemaVersion: 1,
		RecordedAt: time.Unix(0, 0).UTC()}
	for name, e := range map[string]domain.Envelope{"every field": full, "optional fields empty": sparse} {
		b := domain.AppendCanonical(nil, &e)
		var got domain.Envelope
		require.NoErrorf(t, domain.DecodeCanonical(b, &got), "%s", name)
		assert.Truef(t, e.RecordedAt.Equal(got.RecordedAt), "%s: recorded_at %v, want %v", name, got.RecordedAt, e.RecordedAt)
		got.RecordedAt = e.RecordedAt
		assert.Equalf(t, e, got, "%s", name)
		again := domain.AppendCanonical(nil, &got)
		assert.Truef(t, bytes.Equal(b, again), "%s: re-encoding differs", name)
	}
}

// TestCanonicalGolden pins the canonical bytes and the chain hash of fixedEnvelope: any
// change to the layout, the hashed fields or an event's JSON shows up here, and would break
// the verification of every stored log. Rewrite with go test ./domain -run Golden -update,
// only together with a canonicalFormat bump.
func TestCanonicalGolden(t *testing.T) {
	e := fixedEnvelope(t)
	b := domain.AppendCanonical(nil, &e)
	h := domain.ChainHash(e.PrevHash, b)
	got := fmt.Sprintf("# canonical bytes of fixedEnvelope (envelope_test.go), then its chain hash\n%shash %s\n", hex.Dump(b), h)
	path := filepath.Join("testdata", "envelope.golden")
	if *update {
		require.NoError(t, os.MkdirAll("testdata", 0o755))
		require.NoError(t, os.WriteFile(path, []byte(got), 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run go test ./domain -run Golden -update to create it")
	assert.Equal(t, string(want), got)
}

// TestHashChangesWithEveryByte flips each bit of the canonical bytes in turn: the chain hash
// always changes, and decoding either refuses the bytes or yields another envelope.
func TestHashChangesWithEveryByte(t *testing.T) {
	e := fixedEnvelope(t)
	b := domain.AppendCanonical(nil, &e)
	h := domain.ChainHash(e.PrevHash, b)
	for i := range b {
		for bit := 0; bit < 8; bit++ {
			flipped := bytes.Clone(b)
			flipped[i] ^= 1 << bit
			require.NotEqualf(t, h, domain.ChainHash(e.PrevHash, flipped), "byte %d bit %d", i, bit)
			var got domain.Envelope
			if err := domain.DecodeCanonical(flipped, &got); err == nil {
				require.Falsef(t, bytes.Equal(domain.AppendCanonical(nil, &got), b), "byte %d bit %d decodes to the same event", i, bit)
			}
		}
	}
	other := e.PrevHash
	other[0] ^= 1
	assert.NotEqual(t, h, domain.ChainHash(other, b), "the previous hash is part of the chain hash")
}

func TestSealAndVerify(t *testing.T) {
	var prev domain.Hash
	var scratch []byte
	chain := make([]domain.Envelope, 3)
	for i := range chain {
		chain[i] = fixedEnvelope(t)
		chain[i].Position = uint64(i + 1)
		scratch = domain.Seal(&chain[i], prev, scratch)
		require.Equal(t, prev, chain[i].PrevHash)
		require.NoError(t, domain.VerifyHash(&chain[i], scratch))
		prev = chain[i].Hash
	}
	assert.NotEqual(t, chain[0].Hash, chain[1].Hash)
	tampered := chain[1]
	tampered.Data = bytes.Replace(tampered.Data, []byte("125000"), []byte("125001"), 1)
	assert.Error(t, domain.VerifyHash(&tampered, nil), "a changed amount breaks the hash")
	tampered = chain[1]
	tampered.Actor = "user:mallory"
	assert.Error(t, domain.VerifyHash(&tampered, nil), "a changed actor breaks the hash")
}

func TestDecodeCanonicalMalformed(t *testing.T) {
	e := fixedEnvelope(t)
	good := domain.AppendCanonical(nil, &e)
	const fixed = 63
	// a padded varint: the event_id length 36 written as 0xa4 0x00 instead of 0x24
	padded := append(bytes.Clone(good[:fixed]), 0xa4, 0x00)
	padded = append(padded, good[fixed+1:]...)
	cases := map[string][]byte{
		"empty":            nil,
		"short":            good[:fixed-1],
		"unknown format":   append([]byte{2}, good[1:]...),
		"trailing byte":    append(bytes.Clone(good), 0),
		"truncated data":   good[:len(good)-1],
		"padded varint":    padded,
		"huge length":      append(bytes.Clone(good[:fixed]), 0xff, 0xff, 0xff, 0xff, 0x0f),
		"varint too long":  append(bytes.Clone(good[:fixed]), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01),
		"request hash >32": append(append(bytes.Clone(good[:fixed]), make([]byte, 7)...), 33),
	}
	for name, b := range cases {
		var got domain.Envelope
		err := domain.DecodeCanonical(b, &got)
		assert.Equalf(t, domain.CodeMalformedEvent, domain.ErrorCode(err), "%s: got %v", name, err)
	}
}

func TestHashText(t *testing.T) {
	h := sha256.Sum256([]byte("x"))
	s := domain.Hash(h).String()
	back, err := domain.ParseHash(s)
	require.NoError(t, err)
	assert.Equal(t, domain.Hash(h), back)
	assert.True(t, domain.Hash{}.IsZero())
	for _, bad := range []string{"", "00", s[:63] + "g", s + "0"} {
		_, err := domain.ParseHash(bad)
		assert.Errorf(t, err, "ParseHash(%q)", bad)
	}
}

// A secret in an event's data reads as [redacted]; everything else stays byte for byte.
func TestRedactSecrets(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`{"url":"https://x","secret":"s3cr3t-0123456789","created_on":"2026-01-02"}`, `{"url":"https://x","secret":"[redacted]","created_on":"2026-01-02"}`},
		{`{"secret": "a\"b" ,"n":1}`, `{"secret": "[redacted]" ,"n":1}`},
		{`{"filter":{"secret":"nested"},"note":"the word \"secret\""}`, `{"filter":{"secret":"nested"},"note":"the word \"secret\""}`},
		{`{"secret":""}`, `{"secret":""}`},
		{`{"amount":1}`, `{"amount":1}`},
		{`not json "secret"`, `not json "secret"`},
	} {
		e := domain.Envelope{Data: json.RawMessage(tc.in)}
		got := domain.RedactSecrets(e)
		if string(got.Data) != tc.want {
			t.Errorf("RedactSecrets(%s) = %s, want %s", tc.in, got.Data, tc.want)
		}
		if string(e.Data) != tc.in {
			t.Errorf("RedactSecrets changed its argument: %s", e.Data)
		}
	}
}

// BenchmarkDecodeCanonicalView decodes the canonical bytes of an invoice's envelope as a
// catch-up reads them (views of the buffer).
func BenchmarkDecodeCanonicalView(b *testing.B) {
	data, err := domain.EncodeEvent(domain.InvoiceIssued{InvoiceID: "F00012345-007", Number: "F00012345-007",
		Amount: domain.Money{Minor: 123_456, Ccy: "EUR"}, IssueDate: domain.MustDate("2024-03-07"), DueDate: domain.MustDate("2024-04-06")})
	require.NoError(b, err)
	e := domain.Envelope{EventID: "0193a5c2-0007-7abc-8007-000000003039", Stream: "customer-C00012345", StreamVersion: 8,
		Position: 1_234_567, Type: domain.TypeInvoiceIssued, SchemaVersion: domain.CurrentSchemaVersion,
		EffectiveOn: domain.MustDate("2024-03-07"), RecordedAt: time.Unix(1.7e9, 0).UTC(), Actor: "import", Data: data}
	canon := domain.AppendCanonical(nil, &e)
	var got domain.Envelope
	for b.Loop() {
		if err := domain.DecodeCanonicalView(canon, &got); err != nil {
			b.Fatal(err)
		}
	}
}
