package registrar

import (
	"context"
	"sync"
	"time"

	"github.com/siphon-go/siphon/transport"
)

// flowQueue bounds the closed flows waiting for the liveness worker.
const flowQueue = 4096

// entriesPerFlow sizes the bound on (connection, AoR) entries from the
// bound on connections: an edge proxy that does not add Path carries many
// AoRs on one connection, a UA one or two.
const entriesPerFlow = 4

// flowIndex remembers which AoRs have bindings on which stream connection of
// this instance, so that a closed connection costs one update per AoR it
// carried rather than a scan (RFC 5626 §4.2.2). Entries leave when their
// connection closes; an entry whose bindings have since gone only costs a
// no-op update then. Both the connections and the entries are bounded.
type flowIndex struct {
	mu         sync.Mutex
	max        int // connections
	maxEntries int
	entries    int
	conns      map[uint64]map[string]struct{}
	queue      chan closedFlow
	done       chan struct{}
	closed     bool
	lastWarn   time.Time
}

type closedFlow struct {
	flow transport.Flow
	aors []string
}

func newFlowIndex(maxFlows int) *flowIndex {
	return &flowIndex{max: maxFlows, maxEntries: maxFlows * entriesPerFlow,
		conns: make(map[uint64]map[string]struct{}),
		queue: make(chan closedFlow, flowQueue), done: make(chan struct{})}
}

// add records aor on connID. It reports false, and whether to log it (at
// most once a second), when the index is full.
func (x *flowIndex) add(connID uint64, aor string, now time.Time) (ok, warn bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	aors, found := x.conns[connID]
	if _, dup := aors[aor]; dup {
		return true, false
	}
	if (!found && len(x.conns) >= x.max) || x.entries >= x.maxEntries {
		warn = now.Sub(x.lastWarn) >= time.Second
		if warn {
			x.lastWarn = now
		}
		return false, warn
	}
	if !found {
		aors = make(map[string]struct{}, 1)
		x.conns[connID] = aors
	}
	aors[aor] = struct{}{}
	x.entries++
	return true, false
}

func (x *flowIndex) take(connID uint64) []string {
	x.mu.Lock()
	defer x.mu.Unlock()
	set := x.conns[connID]
	delete(x.conns, connID)
	x.entries -= len(set)
	aors := make([]string, 0, len(set))
	for a := range set {
		aors = append(aors, a)
	}
	return aors
}

func (x *flowIndex) close() {
	x.mu.Lock()
	if !x.closed {
		x.closed = true
		close(x.done)
	}
	x.mu.Unlock()
}

// track records, for Liveness, that aor has bindings on a stream connection
// of this instance, registered directly (no Path).
func (r *Registrar) track(aor string, f transport.Flow, hasFlow, viaPath bool) {
	if r.flows == nil || !hasFlow || f.ConnID == 0 || viaPath {
		return
	}
	if ok, warn := r.flows.add(f.ConnID, aor, time.Now()); !ok && warn {
		r.log.Warn("registrar: flow index full; liveness will not cover some bindings", "aor", aor, "flow", f.String())
	}
}

// FlowClosed tells the Registrar that a stream connection of this instance
// has closed. With Config.Liveness, the bindings that were registered on it
// directly (not through a proxy's Path) are removed and reported as
// Deregistered with ReasonFlowFailed. It does not block, so it can be given
// to transport.Layer.OnConnClose; the removal happens on a worker goroutine
// (bounded queue: when it is full the flow is dropped with a log, and its
// bindings expire as usual).
func (r *Registrar) FlowClosed(f transport.Flow) {
	if r.flows == nil || f.ConnID == 0 {
		return
	}
	aors := r.flows.take(f.ConnID)
	if len(aors) == 0 {
		return
	}
	select {
	case r.flows.queue <- closedFlow{flow: f, aors: aors}:
	default:
		r.log.Warn("registrar: liveness queue full; bindings on the closed flow will expire instead", "flow", f.String())
	}
}

func (r *Registrar) flowWorker() {
	defer r.flowWG.Done()
	for {
		select {
		case <-r.flows.done:
			return
		case cf := <-r.flows.queue:
			for _, aor := range cf.aors {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				if _, err := r.remove(ctx, aor, ReasonFlowFailed, func(b *Binding) bool {
					return b.Node == r.node && b.Flow.ConnID == cf.flow.ConnID &&
						b.Flow.Transport == cf.flow.Transport && len(b.Path) == 0
				}); err != nil {
					r.log.Warn("registrar: deregistering bindings of a closed flow", "aor", aor, "err", err)
				}
				cancel()
			}
		}
	}
}
