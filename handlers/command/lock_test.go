package command

import (
	"fmt"
	"testing"

	"github.com/encours/encours/domain"
)

// Distinct customers never share a lock: one goroutine can hold a thousand at once (with
// locks shared by stripes of customers this deadlocks), and the same customer's lock is
// exclusive. Released locks are dropped.
func TestCustomerLocks(t *testing.T) {
	s := New(newMemStore(), NewManualClock(testNow), Options{})
	var unlocks []func()
	for i := range 1000 {
		unlocks = append(unlocks, s.lock(domain.CustomerID(fmt.Sprintf("C%04d", i))))
	}
	acquired, released := make(chan struct{}), make(chan struct{})
	go func() {
		unlock := s.lock("C0007")
		close(acquired)
		unlock()
		close(released)
	}()
	select {
	case <-acquired:
		t.Fatal("C0007's lock taken twice")
	default:
	}
	for _, unlock := range unlocks {
		unlock()
	}
	<-acquired
	<-released
	s.locksMu.Lock()
	defer s.locksMu.Unlock()
	if len(s.locks) != 0 {
		t.Fatalf("%d customer locks kept after release", len(s.locks))
	}
}
