package alerting

import (
	"time"

	"github.com/encours/encours/eventstore"
)

// uuidGen makes UUIDv7 event ids (eventstore.EventIDs) at a given instant.
type uuidGen struct{ ids eventstore.EventIDs }

func (g *uuidGen) newID(now time.Time) string { return g.ids.New(now) }
