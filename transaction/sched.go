package transaction

import (
	"sync"
	"time"
)

// timerOwner is a transaction with timers in a scheduler.
type timerOwner interface {
	onTimer(slot uint8, gen uint32)
}

// txTimer is one timer slot embedded in a transaction, so arming a timer
// allocates nothing. gen is written under both the owner's lock and the
// scheduler's; a firing whose gen no longer matches has been cancelled or
// re-armed and is ignored by the owner.
type txTimer struct {
	at    int64 // unix nanoseconds, on the layer's clock
	idx   int32 // heap index; -1 when not scheduled
	slot  uint8
	gen   uint32
	owner timerOwner
}

func (t *txTimer) init(owner timerOwner, slot uint8) {
	t.owner, t.slot, t.idx = owner, slot, -1
}

// scheduler runs every transaction timer of a layer from one min-heap and a
// single underlying Clock timer, instead of a runtime timer and a closure per
// timer per transaction. Timers fire on the clock's goroutine, one after the
// other; the owners' callbacks are short (a retransmission, a state change).
type scheduler struct {
	clock Clock

	mu    sync.Mutex
	heap  []*txTimer
	timer Timer
	armed int64 // when the underlying timer fires; 0 when idle
}

func newScheduler(c Clock) *scheduler { return &scheduler{clock: c} }

// schedule (re)arms t to fire after d. The owner's lock is held.
func (s *scheduler) schedule(t *txTimer, d time.Duration) {
	at := s.clock.Now().Add(d).UnixNano()
	s.mu.Lock()
	t.gen++
	t.at = at
	if t.idx >= 0 {
		s.fix(int(t.idx))
	} else {
		t.idx = int32(len(s.heap))
		s.heap = append(s.heap, t)
		s.up(int(t.idx))
	}
	if s.armed == 0 || at < s.armed {
		s.arm(at, d)
	}
	s.mu.Unlock()
}

// cancel stops t. The owner's lock is held.
func (s *scheduler) cancel(t *txTimer) {
	s.mu.Lock()
	t.gen++
	if t.idx >= 0 {
		s.remove(int(t.idx))
	}
	s.mu.Unlock()
}

func (s *scheduler) arm(at int64, d time.Duration) {
	s.armed = at
	if s.timer == nil {
		s.timer = s.clock.AfterFunc(d, s.fire)
		return
	}
	s.timer.Reset(d)
}

// fire runs every due timer, then re-arms for the next one.
func (s *scheduler) fire() {
	for {
		s.mu.Lock()
		if len(s.heap) == 0 {
			s.armed = 0
			s.mu.Unlock()
			return
		}
		now := s.clock.Now().UnixNano()
		top := s.heap[0]
		if top.at > now {
			s.arm(top.at, time.Duration(top.at-now))
			s.mu.Unlock()
			return
		}
		s.remove(0)
		owner, slot, gen := top.owner, top.slot, top.gen
		s.mu.Unlock()
		owner.onTimer(slot, gen)
	}
}

// Pending returns the number of scheduled timers.
func (s *scheduler) pending() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.heap)
}

func (s *scheduler) less(i, j int) bool { return s.heap[i].at < s.heap[j].at }

func (s *scheduler) swap(i, j int) {
	h := s.heap
	h[i], h[j] = h[j], h[i]
	h[i].idx = int32(i)
	h[j].idx = int32(j)
}

func (s *scheduler) up(j int) {
	for j > 0 {
		i := (j - 1) / 2
		if !s.less(j, i) {
			break
		}
		s.swap(i, j)
		j = i
	}
}

func (s *scheduler) down(i int) bool {
	i0, n := i, len(s.heap)
	for {
		l := 2*i + 1
		if l >= n {
			break
		}
		j := l
		if r := l + 1; r < n && s.less(r, l) {
			j = r
		}
		if !s.less(j, i) {
			break
		}
		s.swap(i, j)
		i = j
	}
	return i > i0
}

func (s *scheduler) fix(i int) {
	if !s.down(i) {
		s.up(i)
	}
}

func (s *scheduler) remove(i int) {
	n := len(s.heap) - 1
	t := s.heap[i]
	if i != n {
		s.swap(i, n)
	}
	s.heap[n] = nil
	s.heap = s.heap[:n]
	if n == 0 && cap(s.heap) > 1024 {
		s.heap = nil // the array a load peak grew goes with it
	}
	if i != n {
		s.fix(i)
	}
	t.idx = -1
}
