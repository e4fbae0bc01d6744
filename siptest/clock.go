package siptest

import (
	"sort"
	"sync"
	"time"

	"github.com/siphon-go/siphon/transaction"
)

// Clock is a fake clock for transaction.Config.Clock and the memory network.
// Time stands still until Advance moves it; timers then fire in order, on the
// goroutine that called Advance, so a Timer B test takes microseconds and is
// deterministic.
type Clock struct {
	mu     sync.Mutex
	now    time.Time
	seq    int
	timers []*fakeTimer
}

// NewClock returns a clock set to an arbitrary fixed instant.
func NewClock() *Clock {
	return &Clock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
}

// Now returns the clock's current time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

type fakeTimer struct {
	c       *Clock
	at      time.Time
	seq     int
	f       func()
	stopped bool
}

// Reset re-arms the timer to fire d after the clock's now.
func (t *fakeTimer) Reset(d time.Duration) bool {
	c := t.c
	c.mu.Lock()
	defer c.mu.Unlock()
	active := !t.stopped
	c.seq++
	t.at, t.seq, t.stopped = c.now.Add(d), c.seq, false
	for _, x := range c.timers {
		if x == t {
			return active
		}
	}
	c.timers = append(c.timers, t)
	return active
}

func (t *fakeTimer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	if t.stopped {
		return false
	}
	t.stopped = true
	return true
}

// AfterFunc schedules f to run when the clock passes d from now.
func (c *Clock) AfterFunc(d time.Duration, f func()) transaction.Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seq++
	t := &fakeTimer{c: c, at: c.now.Add(d), seq: c.seq, f: f}
	c.timers = append(c.timers, t)
	return t
}

// Advance moves the clock forward by d, running every timer that falls due,
// in order of due time (and of creation for equal times), including timers
// those callbacks create within the window.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	end := c.now.Add(d)
	c.mu.Unlock()
	for {
		c.mu.Lock()
		var next *fakeTimer
		idx := -1
		for i, t := range c.timers {
			if t.stopped {
				continue
			}
			if !t.at.After(end) && (next == nil || t.at.Before(next.at) || t.at.Equal(next.at) && t.seq < next.seq) {
				next, idx = t, i
			}
		}
		if next == nil {
			c.now = end
			c.compact()
			c.mu.Unlock()
			return
		}
		c.timers = append(c.timers[:idx], c.timers[idx+1:]...)
		next.stopped = true
		if next.at.After(c.now) {
			c.now = next.at
		}
		c.mu.Unlock()
		next.f()
	}
}

// Pending returns the due times of the timers not yet fired or stopped, as
// offsets from now, in order.
func (c *Clock) Pending() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []time.Duration
	for _, t := range c.timers {
		if !t.stopped {
			out = append(out, t.at.Sub(c.now))
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

func (c *Clock) compact() {
	live := c.timers[:0]
	for _, t := range c.timers {
		if !t.stopped {
			live = append(live, t)
		}
	}
	clear(c.timers[len(live):])
	c.timers = live
}
