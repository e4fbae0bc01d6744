package registrar

import (
	"context"
	"sync"
	"time"

	"github.com/siphon-go/siphon/transport"
)

// Limits of the flow index.
const (
	maxAoRsPerFlow = 32
	flowQueue      = 4096
)

// flowIndex remembers which AoRs have bindings on which stream connection of
// this instance, so that a closed connection costs one update per AoR it
// carried rather than a scan (RFC 5626 §4.2.2). Entries leave when their
// connection closes; an entry whose bindings have since gone only costs a
// no-op update then.
type flowIndex struct {
	mu     sync.Mutex
	max    int
	conns  map[uint64][]string
	queue  chan closedFlow
	done   chan struct{}
	closed bool
}

type closedFlow struct {
	flow transport.Flow
	aors []string
}

func newFlowIndex(maxFlows int) *flowIndex {
	return &flowIndex{max: maxFlows, conns: make(map[uint64][]string),
		queue: make(chan closedFlow, flowQueue), done: make(chan struct{})}
}

func (x *flowIndex) add(connID uint64, aor string) bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	aors, ok := x.conns[connID]
	if !ok && len(x.conns) >= x.max {
		return false
	}
	for _, a := range aors {
		if a == aor {
			return true
		}
	}
	if len(aors) >= maxAoRsPerFlow {
		return false
	}
	x.conns[connID] = append(aors, aor)
	return true
}

func (x *flowIndex) take(connID uint64) []string {
	x.mu.Lock()
	defer x.mu.Unlock()
	aors := x.conns[connID]
	delete(x.conns, connID)
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
	if !r.flows.add(f.ConnID, aor) {
		r.log.Warn("registrar: flow index full; liveness will not cover this binding", "aor", aor, "flow", f.String())
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
