package kurrent_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"os"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/encours/encours/eventstore"
	"github.com/encours/encours/eventstore/kurrent"
	"github.com/encours/encours/eventstore/kurrent/kurrenttest"
	"github.com/encours/encours/eventstore/storetest"
)

// opener opens stores on the KurrentDB at url, one namespace per directory the suite gives:
// a fresh directory is a fresh log, and "reopening" a directory is a new Store (a restarted
// API node) on the same log. So Features.Reopen holds: everything is on the server.
func opener(url, run string) storetest.OpenFunc {
	return func(t *testing.T, dir string) eventstore.Store {
		t.Helper()
		h := sha256.Sum256([]byte(dir))
		s, err := kurrent.Open(context.Background(), url, kurrent.Options{
			Namespace:      "t" + run + hex.EncodeToString(h[:6]) + "-",
			CallTimeout:    kurrent.CallTimeoutDefault,
			AppendTimeout:  kurrent.AppendTimeoutDefault,
			ConnectTimeout: kurrent.ConnectTimeoutDefault,
			Logger:         testLogger(t),
		})
		require.NoError(t, err, "open %s", url)
		return s
	}
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// Goal: the adapter keeps every promise of the port on the wire protocol of KurrentDB.
// Method: the conformance suite against the in-process server, which speaks the streams
// protocol from the client's own generated stubs; the client connects over loopback.
func TestConformanceInProcess(t *testing.T) {
	srv := kurrenttest.Start(t)
	storetest.Run(t, opener(srv.URL(), ""), storetest.Features{Reopen: true})
}

// Goal: the same against a real KurrentDB. Each run gets its own namespaces, since the
// server keeps what earlier runs wrote.
func TestConformanceKurrentDB(t *testing.T) {
	url := os.Getenv("ENCOURS_KURRENTDB_URL")
	if url == "" {
		t.Skip("real KurrentDB: set ENCOURS_KURRENTDB_URL (e.g. esdb://127.0.0.1:2113?tls=false)")
	}
	var b [4]byte
	rand.Read(b[:])
	storetest.Run(t, opener(url, hex.EncodeToString(b[:])), storetest.Features{Reopen: true})
}
