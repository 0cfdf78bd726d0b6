package ledger

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/encours/encours/domain"
)

// TestApplyDecodedKeepsNoView: a model fed as the engine's catch-up feeds it, envelopes and
// events decoded as views of one page buffer (domain.DecodeCanonicalView, DecodeEventView
// into an EventSlab) that is overwritten after each page, the slab reset, ends up equal to the model fed copies with Apply:
// it copied every string it kept.
func TestApplyDecodedKeepsNoView(t *testing.T) {
	for seed := range uint64(4) {
		custs, evs, _ := genHistory(seed+1, 300, d("2024-01-01"), 0)
		log := newLog()
		for i, ev := range evs {
			log.add(t, custs[i], ev, time.Time{})
		}
		want := New()
		for _, e := range log.envs {
			require.NoError(t, want.Apply(e))
		}
		got := New()
		const pageLen = 16
		var page []byte
		var slab domain.EventSlab
		for first := 0; first < len(log.envs); first += pageLen {
			batch := log.envs[first:min(first+pageLen, len(log.envs))]
			page = page[:0]
			var ends []int
			for i := range batch {
				page = domain.AppendCanonical(page, &batch[i])
				ends = append(ends, len(page))
			}
			start := 0
			for i, end := range ends {
				var e domain.Envelope
				require.NoError(t, domain.DecodeCanonicalView(page[start:end], &e))
				e.Hash = batch[i].Hash
				ev, err := domain.DecodeEventView(e.Type, e.SchemaVersion, e.Data, &slab)
				require.NoError(t, err)
				require.NoError(t, got.ApplyDecoded(&e, ev), "seed %d position %d", seed, e.Position)
				start = end
			}
			for i := range page { // the engine reuses the page's buffer for the next read
				page[i] = 'x'
			}
			slab.Reset() // and the page's events
		}
		assert.Equal(t, dump(want), dump(got), "seed %d", seed)
	}
}
