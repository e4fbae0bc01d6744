package main

import (
	"sync"
	"time"

	"github.com/siphon-go/siphon/proxy"
)

// affinity remembers which server answered each call, so that in-dialog
// requests without a Route (from user agents that ignore Record-Route, such
// as SIPp's built-in uac) still reach the server that holds the dialog.
// It is bounded: past max calls the oldest are forgotten, and each entry
// expires after ttl.
type affinity struct {
	mu    sync.Mutex
	max   int
	ttl   time.Duration
	calls map[string]affine
	order []string // FIFO of call IDs, for eviction; may hold stale keys
	head  int
}

type affine struct {
	target  proxy.Target
	expires time.Time
}

func newAffinity(max int, ttl time.Duration) *affinity {
	return &affinity{max: max, ttl: ttl, calls: make(map[string]affine)}
}

// put records the server of a call.
func (a *affinity) put(callID string, t proxy.Target, now time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, ok := a.calls[callID]; !ok {
		for len(a.calls) >= a.max && a.head < len(a.order) {
			delete(a.calls, a.order[a.head])
			a.order[a.head] = ""
			a.head++
		}
		a.order = append(a.order, callID)
		if a.head > len(a.order)/2 || len(a.order)-a.head > 2*len(a.calls)+1024 {
			a.compact()
		}
	}
	a.calls[callID] = affine{target: t, expires: now.Add(a.ttl)}
}

// compact drops the consumed head of order and the IDs of calls already
// forgotten (dropped on BYE), so order stays proportional to calls; a.mu is
// held.
func (a *affinity) compact() {
	live := make([]string, 0, len(a.calls)+16)
	seen := make(map[string]struct{}, len(a.calls))
	for _, id := range a.order[a.head:] {
		if _, ok := a.calls[id]; !ok {
			continue
		}
		if _, dup := seen[id]; dup {
			continue
		}
		seen[id] = struct{}{}
		live = append(live, id)
	}
	a.order, a.head = live, 0
}

// get returns the server of a call.
func (a *affinity) get(callID string, now time.Time) (proxy.Target, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	e, ok := a.calls[callID]
	if !ok || now.After(e.expires) {
		return proxy.Target{}, false
	}
	return e.target, true
}

// drop forgets a call (its BYE was answered).
func (a *affinity) drop(callID string) {
	a.mu.Lock()
	delete(a.calls, callID)
	a.mu.Unlock()
}

func (a *affinity) len() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.calls)
}
