package ingest

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

// A batch's idempotency key is the SHA-256 of the format's fingerprint, the customer and
// the batch's raw records, NUL-separated: pinned here, since a key that changed would make
// re-importing a file imported before append it again.
func TestBatchKeyIsStable(t *testing.T) {
	im := &importer{fingerprint: "generic|{cols:map[] dateLayout: amountScale:0}"}
	recs := []spilled{{raw: "\x02\x02C1\x02F1"}, {raw: "skipped"}, {raw: strings.Repeat("r", 300)}, {raw: ""}}
	batch := []int32{0, 2, 3}
	want := sha256.Sum256([]byte(im.fingerprint + "\x00C1\x00\x02\x02C1\x02F1\x00" + strings.Repeat("r", 300) + "\x00"))
	assert.Equal(t, "import:f12f9ff23a4a1b5210842a9dd9d26db6", "import:"+hex.EncodeToString(want[:16]))
	var sc decideScratch
	for range 2 { // the scratch reused gives the same key
		assert.Equal(t, "import:"+hex.EncodeToString(want[:16]), im.batchKey("C1", recs, batch, &sc))
	}
	assert.NotEqual(t, im.batchKey("C1", recs, batch, &sc), im.batchKey("C2", recs, batch, &sc))
	assert.NotEqual(t, im.batchKey("C1", recs, batch, &sc), im.batchKey("C1", recs, batch[:2], &sc))
}
