package proxy

import (
	"strconv"
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
// entries and time.
type dialogs struct {
	mu    sync.Mutex
	max   int
	ttl   time.Duration
	clock transaction.Clock
	m     map[string]dialogHop
	order []string // insertion order, for eviction
}

type dialogHop struct {
	target transport.Target
	until  time.Time
}

func newDialogs(max int, ttl time.Duration, clock transaction.Clock) *dialogs {
	if clock == nil {
		clock = realClock{}
	}
	return &dialogs{max: max, ttl: ttl, clock: clock, m: make(map[string]dialogHop)}
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }
func (realClock) AfterFunc(d time.Duration, f func()) transaction.Timer {
	return time.AfterFunc(d, f)
}

// uriKey identifies a next hop of a dialog: Call-ID, host, port and
// transport, in one allocation (the key must not keep a message alive).
func uriKey(callID string, u *sip.Uri) string {
	var buf [256]byte
	b := append(buf[:0], callID...)
	b = append(b, '|')
	for i := 0; i < len(u.Host); i++ {
		c := u.Host[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		b = append(b, c)
	}
	b = append(b, ':')
	b = strconv.AppendInt(b, int64(u.Port), 10)
	b = append(b, '|')
	b = append(b, URITransport(u)...)
	return string(b)
}

func (d *dialogs) put(callID string, u *sip.Uri, t transport.Target) {
	if u == nil || u.Host == "" || !t.Addr.IsValid() {
		return
	}
	k := uriKey(callID, u)
	now := d.clock.Now()
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.m[k]; !ok {
		d.order = append(d.order, k)
	}
	d.m[k] = dialogHop{target: t, until: now.Add(d.ttl)}
	// Evict the oldest entries: expired ones, or beyond the bound.
	for len(d.order) > 0 {
		first := d.order[0]
		h, ok := d.m[first]
		if ok && len(d.m) <= d.max && now.Before(h.until) {
			break
		}
		if ok && (len(d.m) > d.max || !now.Before(h.until)) {
			delete(d.m, first)
		}
		d.order[0] = ""
		d.order = d.order[1:]
	}
	if cap(d.order) > 4*d.max+64 {
		d.order = append([]string(nil), d.order...)
	}
}

func (d *dialogs) get(callID string, u *sip.Uri) (transport.Target, bool) {
	k := uriKey(callID, u)
	d.mu.Lock()
	defer d.mu.Unlock()
	h, ok := d.m[k]
	if !ok || !d.clock.Now().Before(h.until) {
		return transport.Target{}, false
	}
	return h.target, true
}
