package transaction

import "sync"

// serializer runs a transaction's callbacks to its user one at a time and in
// the order they were queued, never while the transaction's lock is held, so a
// callback may call back into the transaction (to CANCEL, say) without
// deadlock and a timer firing on another goroutine cannot overtake a response.
type serializer struct {
	pending    []func()
	delivering bool
}

// run delivers the queued callbacks; mu is the transaction's lock, not held
// by the caller.
func (s *serializer) run(mu *sync.Mutex) {
	mu.Lock()
	if s.delivering {
		mu.Unlock()
		return
	}
	s.delivering = true
	for len(s.pending) > 0 {
		fn := s.pending[0]
		s.pending[0] = nil
		s.pending = s.pending[1:]
		mu.Unlock()
		fn()
		mu.Lock()
	}
	s.pending = s.pending[:0:0]
	s.delivering = false
	mu.Unlock()
}
