package diameter

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"
)

// PeerConfig configures a Peer: the node's Config plus how to reach the
// peer.
type PeerConfig struct {
	Config
	// Network is "tcp" (default), "tcp4" or "tcp6". SCTP is not offered:
	// the kernels siphon is tested on have none (DESIGN.md §5).
	Network string
	// ExpectedHost, when set, is the Origin-Host the peer must present in
	// its CEA; any other closes the connection.
	ExpectedHost string
	// ReconnectMin is the first delay before reconnecting after a failure;
	// it doubles (with ±25% jitter) up to ReconnectMax. Default 1 s.
	ReconnectMin time.Duration
	// ReconnectMax caps the reconnect delay: the Tc timer of RFC 6733 §2.1.
	// Default 30 s.
	ReconnectMax time.Duration
}

// Peer keeps one connection to a configured Diameter peer open: it dials,
// runs TLS and CER/CEA, and when the connection fails reconnects with
// exponential backoff, the new connection going through the RFC 3539
// REOPEN state before it carries traffic. Requests the peer sends over the
// connection are served by Config.Handler (a server that initiates the
// connection). A Peer is safe for concurrent use.
type Peer struct {
	addr string
	cfg  PeerConfig
	e2e  *idGen

	mu      sync.Mutex
	conn    *Conn
	lastErr error
	ready   chan struct{} // closed and replaced whenever conn changes

	stop   chan struct{}
	done   chan struct{}
	closed sync.Once
}

// NewPeer validates cfg and starts connecting to addr ("host:port") in the
// background. Close stops it.
func NewPeer(addr string, cfg PeerConfig) (*Peer, error) {
	c, err := cfg.Config.normalize()
	if err != nil {
		return nil, err
	}
	cfg.Config = c
	if cfg.Network == "" {
		cfg.Network = "tcp"
	}
	if cfg.ReconnectMin <= 0 {
		cfg.ReconnectMin = time.Second
	}
	if cfg.ReconnectMax <= 0 {
		cfg.ReconnectMax = 30 * time.Second
	}
	if cfg.ReconnectMax < cfg.ReconnectMin {
		cfg.ReconnectMax = cfg.ReconnectMin
	}
	p := &Peer{
		addr: addr, cfg: cfg, e2e: newIDGen(),
		ready: make(chan struct{}),
		stop:  make(chan struct{}),
		done:  make(chan struct{}),
	}
	go p.run()
	return p, nil
}

// Addr returns the address the Peer dials.
func (p *Peer) Addr() string { return p.addr }

// Conn returns the current connection, or nil.
func (p *Peer) Conn() *Conn {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.conn
}

// State returns the watchdog state of the current connection, or
// StateDown when there is none.
func (p *Peer) State() State {
	if c := p.Conn(); c != nil {
		return c.State()
	}
	return StateDown
}

// Info returns what the peer advertised on the current connection, and
// false when there is none.
func (p *Peer) Info() (PeerInfo, bool) {
	if c := p.Conn(); c != nil {
		return c.Peer(), true
	}
	return PeerInfo{}, false
}

// Supports reports whether the current connection's peer accepts
// application app.
func (p *Peer) Supports(app uint32) bool {
	c := p.Conn()
	return c != nil && c.Peer().Supports(app)
}

// Do sends a request on the current connection (see Conn.Do). Without an
// open connection it fails at once with an error wrapping ErrNotOpen.
func (p *Peer) Do(ctx context.Context, req *Message) (*Message, error) {
	c := p.Conn()
	if c == nil {
		p.mu.Lock()
		err := p.lastErr
		p.mu.Unlock()
		return nil, fmt.Errorf("%w: %s: %v", ErrNotOpen, p.addr, err)
	}
	return c.Do(ctx, req)
}

// WaitOpen blocks until the peer's connection is in StateOkay or ctx ends.
func (p *Peer) WaitOpen(ctx context.Context) error {
	for {
		p.mu.Lock()
		c, ready, lastErr := p.conn, p.ready, p.lastErr
		p.mu.Unlock()
		if c != nil && c.State() == StateOkay {
			return nil
		}
		t := time.NewTimer(10 * time.Millisecond) // REOPEN→OKAY happens inside Conn
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("diameter: wait for %s: %w (last error: %v)", p.addr, ctx.Err(), lastErr)
		case <-p.stop:
			t.Stop()
			return ErrClosed
		case <-ready:
		case <-t.C:
		}
		t.Stop()
	}
}

// Close stops reconnecting and closes the connection with a DPR.
func (p *Peer) Close() error {
	p.closed.Do(func() { close(p.stop) })
	<-p.done
	return nil
}

func (p *Peer) setConn(c *Conn, err error) {
	p.mu.Lock()
	p.conn = c
	if err != nil {
		p.lastErr = err
	}
	close(p.ready)
	p.ready = make(chan struct{})
	p.mu.Unlock()
}

func (p *Peer) run() {
	defer close(p.done)
	delay := p.cfg.ReconnectMin
	failed := false
	for {
		st := StateOkay
		if failed {
			st = StateReopen // RFC 3539 §3.4.1: a re-established connection proves itself first
		}
		ctx, cancel := context.WithCancel(context.Background())
		go func() {
			select {
			case <-p.stop:
				cancel()
			case <-ctx.Done():
			}
		}()
		c, err := dialConn(ctx, p.cfg.Network, p.addr, &p.cfg.Config, p.e2e, st, nil)
		cancel()
		if err == nil && p.cfg.ExpectedHost != "" && c.Peer().Host != p.cfg.ExpectedHost {
			err = fmt.Errorf("%w: %s presented Origin-Host %q, want %q", ErrUnknownPeer, p.addr, c.Peer().Host, p.cfg.ExpectedHost)
			c.closeWith(err)
			<-c.Done()
		}
		if err == nil {
			p.setConn(c, nil)
			opened := time.Now()
			select {
			case <-p.stop:
				_ = c.Close()
				p.setConn(nil, ErrClosed)
				return
			case <-c.Done():
			}
			p.setConn(nil, c.Err())
			p.cfg.Logger.Info("diameter: peer connection lost", "addr", p.addr, "err", c.Err())
			if time.Since(opened) > p.cfg.ReconnectMax {
				delay = p.cfg.ReconnectMin
			}
			failed = true
		} else {
			p.setConn(nil, err)
			p.cfg.Logger.Debug("diameter: connect failed", "addr", p.addr, "err", err)
		}
		wait := delay/4*3 + rand.N(delay/2+1)
		delay = min(2*delay, p.cfg.ReconnectMax)
		t := time.NewTimer(wait)
		select {
		case <-p.stop:
			t.Stop()
			return
		case <-t.C:
		}
	}
}
