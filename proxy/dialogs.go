package proxy

import (
	"strings"
	"sync"
	"time"

	"github.com/siphon-go/siphon/sip"
	"github.com/siphon-go/siphon/transaction"
	"github.com/siphon-go/siphon/transport"
)

// dialogs remembers, per Call-ID, which transport target each next hop of an
// established dialog went to, so that in-dialog requests reach the same peer
// and connection (RFC 5923 reuse) even when the next hop's name resolves to
// several servers (RFC 3263 §4.2 would shuffle them). It is bounded in
// calls and time, and a call is forgotten as soon as its BYE is answered.
type dialogs struct {
	mu    sync.Mutex
	max   int
	ttl   time.Duration
	clock transaction.Clock
	m     map[string]*dialogEntry
	order []string // Call-IDs in insertion order, for eviction; may hold dropped ones
}

// dialogEntry is one call's next hops (one toward each party, a few more
// when a proxy is on several paths of a call).
type dialogEntry struct {
	hops  []dialogHop
	until time.Time
}

// dialogHop is one next hop: the URI's host, port and transport, and the
// transport target (and connection) it was reached on.
type dialogHop struct {
	host   string // lower case
	port   int
	tp     string
	target transport.Target
}

// maxHopsPerDialog bounds the hops one call may remember.
const maxHopsPerDialog = 8

func newDialogs(max int, ttl time.Duration, clock transaction.Clock) *dialogs {
	if clock == nil {
		clock = realClock{}
	}
	return &dialogs{max: max, ttl: ttl, clock: clock, m: make(map[string]*dialogEntry)}
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }
func (realClock) AfterFunc(d time.Duration, f func()) transaction.Timer {
	return time.AfterFunc(d, f)
}

func (h *dialogHop) matches(u *sip.Uri) bool {
	return h.port == u.Port && strings.EqualFold(h.host, u.Host) && h.tp == URITransport(u)
}

func (d *dialogs) put(callID string, u *sip.Uri, t transport.Target) {
	if u == nil || u.Host == "" || !t.Addr.IsValid() || callID == "" {
		return
	}
	now := d.clock.Now()
	d.mu.Lock()
	defer d.mu.Unlock()
	e := d.m[callID]
	if e == nil {
		e = &dialogEntry{hops: make([]dialogHop, 0, 2)}
		d.m[callID] = e
		d.order = append(d.order, callID)
	}
	e.until = now.Add(d.ttl)
	for i := range e.hops {
		if e.hops[i].matches(u) {
			e.hops[i].target = t
			d.evict(now)
			return
		}
	}
	if len(e.hops) < maxHopsPerDialog {
		e.hops = append(e.hops, dialogHop{host: strings.ToLower(u.Host), port: u.Port, tp: URITransport(u), target: t})
	}
	d.evict(now)
}

// evict forgets the oldest calls: expired ones, or those beyond the bound;
// d.mu is held.
func (d *dialogs) evict(now time.Time) {
	for len(d.order) > 0 {
		first := d.order[0]
		e, ok := d.m[first]
		if ok && len(d.m) <= d.max && now.Before(e.until) {
			break
		}
		if ok {
			delete(d.m, first)
		}
		d.order[0] = ""
		d.order = d.order[1:]
	}
	if len(d.m) == 0 {
		d.m, d.order = make(map[string]*dialogEntry), nil // as in drop
	}
	// Calls dropped on BYE leave their Call-ID in order: compact it when
	// it holds mostly such leftovers, so it stays proportional to m.
	if len(d.order) > 2*len(d.m)+1024 {
		live := make([]string, 0, 2*len(d.m)+16)
		seen := make(map[string]struct{}, len(d.m))
		for _, id := range d.order {
			if _, ok := d.m[id]; !ok {
				continue
			}
			if _, dup := seen[id]; dup {
				continue
			}
			seen[id] = struct{}{}
			live = append(live, id)
		}
		d.order = live
	}
}

func (d *dialogs) get(callID string, u *sip.Uri) (transport.Target, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	e, ok := d.m[callID]
	if !ok || !d.clock.Now().Before(e.until) {
		return transport.Target{}, false
	}
	for i := range e.hops {
		if e.hops[i].matches(u) {
			return e.hops[i].target, true
		}
	}
	return transport.Target{}, false
}

// drop forgets a call: its BYE was answered (RFC 3261 §15.1.2), so no more
// in-dialog requests will follow.
func (d *dialogs) drop(callID string) {
	d.mu.Lock()
	delete(d.m, callID)
	if len(d.m) == 0 {
		// A Go map keeps its buckets after deletes: the table a load peak
		// grew, and the eviction order, go once the calls have.
		d.m, d.order = make(map[string]*dialogEntry), nil
	}
	d.mu.Unlock()
}

// len returns the number of calls remembered.
func (d *dialogs) len() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.m)
}
