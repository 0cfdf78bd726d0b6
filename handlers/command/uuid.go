package command

import "github.com/encours/encours/eventstore"

// uuidGen makes the service's event ids (eventstore.EventIDs) from its clock, so that ids
// follow the service's time, manual clock included.
type uuidGen struct {
	clock Clock
	ids   eventstore.EventIDs
}

func (g *uuidGen) newID() string { return g.ids.New(g.clock.Now()) }
