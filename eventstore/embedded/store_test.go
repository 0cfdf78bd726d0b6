package embedded

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/encours/encours/eventstore"
	"github.com/encours/encours/eventstore/storetest"
)

// Goal: the embedded store keeps every promise of the port, with segments small enough that
// the suite's appends roll over many times.
func TestConformance(t *testing.T) {
	for _, segBytes := range []int64{SegmentBytesDefault, 256 << 10} {
		t.Run(segmentLabel(segBytes), func(t *testing.T) {
			storetest.Run(t, func(t *testing.T, dir string) eventstore.Store {
				s, err := Open(dir, Options{SegmentBytes: segBytes})
				require.NoError(t, err, "open %s", dir)
				return s
			}, storetest.Features{Reopen: true})
		})
	}
}

func segmentLabel(n int64) string {
	if n >= 1<<20 {
		return fmt.Sprintf("segment=%dMiB", n>>20)
	}
	return fmt.Sprintf("segment=%dKiB", n>>10)
}
