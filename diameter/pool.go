package diameter

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
)

// Policy is how a Pool picks a peer for each request among the open peers
// that support the request's application.
type Policy int

// Pool policies.
const (
	// Failover sends to the first open peer in member order: the others are
	// standbys.
	Failover Policy = iota
	// RoundRobin rotates over the open peers.
	RoundRobin
	// Weighted rotates over the open peers in proportion to their weights
	// (smooth weighted round-robin).
	Weighted
)

// Member is one peer of a Pool.
type Member struct {
	Peer   *Peer
	Weight int // for Weighted; <= 0 counts as 1
}

// PoolConfig tunes a Pool.
type PoolConfig struct {
	Policy Policy
	// MaxAttempts bounds the peers one request is tried on when a peer
	// fails (RFC 6733 §5.5.4 failover). Default: every member once.
	MaxAttempts int
}

// Pool spreads requests over several peers, skipping those whose watchdog
// state is not OKAY or that did not advertise the request's application,
// and fails a request over to another peer when its connection is lost or
// declared suspect before the answer (RFC 3539 §5.1). A retransmission to
// another peer keeps the End-to-End Identifier and sets the T bit (RFC 6733
// §5.5.4). A Pool is safe for concurrent use; it does not own its peers.
type Pool struct {
	members []Member
	cfg     PoolConfig
	rr      atomic.Uint64
	mu      sync.Mutex
	current []int // smooth weighted round-robin state
}

// NewPool returns a Pool over members.
func NewPool(members []Member, cfg PoolConfig) (*Pool, error) {
	if len(members) == 0 {
		return nil, fmt.Errorf("%w: a pool needs at least one member", ErrConfig)
	}
	for i, m := range members {
		if m.Peer == nil {
			return nil, fmt.Errorf("%w: pool member %d has no peer", ErrConfig, i)
		}
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = len(members)
	}
	return &Pool{members: members, cfg: cfg, current: make([]int, len(members))}, nil
}

// Do sends req to a peer chosen by the policy and returns the answer. Only
// failures that leave the request undelivered or lost with its connection
// are retried on another peer; a timeout or an error answer is returned as
// is. Do uses req until it returns.
func (p *Pool) Do(ctx context.Context, req *Message) (*Message, error) {
	if req.Header.CommandFlags&FlagRequest == 0 {
		return nil, ErrNotRequest
	}
	tried := make([]bool, len(p.members))
	var errs []error
	for attempt := 0; attempt < p.cfg.MaxAttempts; attempt++ {
		i := p.pick(req.Header.ApplicationID, tried)
		if i < 0 {
			break
		}
		tried[i] = true
		peer := p.members[i].Peer
		ans, err := peer.Do(ctx, req)
		if err == nil {
			return ans, nil
		}
		errs = append(errs, fmt.Errorf("%s: %w", peer.Addr(), err))
		switch {
		case ctx.Err() != nil:
			return nil, err
		case errors.Is(err, ErrConnLost):
			// It may have been delivered: mark it potentially retransmitted.
			req.Header.CommandFlags |= FlagRetransmitted
		case errors.Is(err, ErrNotOpen), errors.Is(err, ErrTooManyPending), errors.Is(err, ErrApplicationUnsupported):
		default:
			return nil, err
		}
	}
	if len(errs) == 0 {
		return nil, fmt.Errorf("%w: none of %d peers is open for application %d", ErrNoPeer, len(p.members), req.Header.ApplicationID)
	}
	return nil, fmt.Errorf("%w: %w", ErrNoPeer, errors.Join(errs...))
}

func (p *Pool) usable(i int, app uint32, tried []bool) bool {
	peer := p.members[i].Peer
	return !tried[i] && peer.State() == StateOkay && peer.Supports(app)
}

// pick returns the index of the member to try next, or -1.
func (p *Pool) pick(app uint32, tried []bool) int {
	n := len(p.members)
	switch p.cfg.Policy {
	case RoundRobin:
		start := int(p.rr.Add(1) % uint64(n))
		for k := 0; k < n; k++ {
			if i := (start + k) % n; p.usable(i, app, tried) {
				return i
			}
		}
		return -1
	case Weighted:
		p.mu.Lock()
		defer p.mu.Unlock()
		best, total := -1, 0
		for i := range p.members {
			if !p.usable(i, app, tried) {
				continue
			}
			w := max(p.members[i].Weight, 1)
			p.current[i] += w
			total += w
			if best < 0 || p.current[i] > p.current[best] {
				best = i
			}
		}
		if best >= 0 {
			p.current[best] -= total
		}
		return best
	default:
		for i := range p.members {
			if p.usable(i, app, tried) {
				return i
			}
		}
		return -1
	}
}
