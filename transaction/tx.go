package transaction

import (
	"sync"

	"github.com/siphon-go/siphon/sip"
)

// serializer runs a transaction's callbacks to its user one at a time and in
// the order they were queued, never while the transaction's lock is held, so a
// callback may call back into the transaction (to CANCEL, say) without
// deadlock and a timer firing on another goroutine cannot overtake a response.
type serializer struct {
	pending    []event
	delivering bool
}

// event is one callback to deliver: a response, or a failure.
type event struct {
	res *sip.Response
	err error
}

// run delivers the queued events through deliver; mu is the transaction's
// lock, not held by the caller.
func (s *serializer) run(mu *sync.Mutex, deliver func(event)) {
	mu.Lock()
	if s.delivering || len(s.pending) == 0 {
		mu.Unlock()
		return
	}
	s.delivering = true
	for len(s.pending) > 0 {
		ev := s.pending[0]
		s.pending[0] = event{}
		s.pending = s.pending[1:]
		mu.Unlock()
		deliver(ev)
		mu.Lock()
	}
	s.pending = s.pending[:0:0]
	s.delivering = false
	mu.Unlock()
}
