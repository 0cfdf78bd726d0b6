package demo

import "github.com/encours/encours/domain"

// hook says what popping an entry does besides emitting its command.
type hook uint8

const (
	hookNone     hook = iota // emit the command as it is
	hookRegister             // emit the registration, then schedule the customer's life
	hookInvoice              // issue an invoice (built on pop), plan its story, schedule the next
	hookRating               // receive this year's rating, schedule next year's
	hookReview               // maybe change the credit limit, schedule next year's review
)

// entry is one scheduled command (or hook) of one customer. The queue orders entries by
// (day, customer, seq): effective date first, then the customer's index in the portfolio,
// then the order in which the customer's generator scheduled them, which is causal order
// for entries of the same day (an invoice before its payment, a dispute before its
// resolution).
type entry struct {
	day  int32 // domain.Date.Days()
	cust int32
	seq  uint32
	hook hook
	cmd  domain.Command
}

func (a *entry) less(b *entry) bool {
	if a.day != b.day {
		return a.day < b.day
	}
	if a.cust != b.cust {
		return a.cust < b.cust
	}
	return a.seq < b.seq
}

// queue is a binary min-heap of entries. It is written out rather than container/heap,
// which would box every entry in an interface.
type queue struct{ items []entry }

func (q *queue) len() int { return len(q.items) }

func (q *queue) push(e entry) {
	q.items = append(q.items, e)
	i := len(q.items) - 1
	for i > 0 {
		parent := (i - 1) / 2
		if !q.items[i].less(&q.items[parent]) {
			break
		}
		q.items[i], q.items[parent] = q.items[parent], q.items[i]
		i = parent
	}
}

func (q *queue) pop() entry {
	assertf(len(q.items) > 0, "pop from an empty queue")
	top := q.items[0]
	last := len(q.items) - 1
	q.items[0] = q.items[last]
	q.items[last] = entry{} // drop the command reference
	q.items = q.items[:last]
	i, n := 0, last
	for {
		l, r, m := 2*i+1, 2*i+2, i
		if l < n && q.items[l].less(&q.items[m]) {
			m = l
		}
		if r < n && q.items[r].less(&q.items[m]) {
			m = r
		}
		if m == i {
			break
		}
		q.items[i], q.items[m] = q.items[m], q.items[i]
		i = m
	}
	return top
}
