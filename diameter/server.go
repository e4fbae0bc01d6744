package diameter

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync"
	"time"
)

// ErrServerClosed is returned by Serve after Shutdown or Close.
var ErrServerClosed = errors.New("diameter: server closed")

// ServerConfig configures a Server: the node's Config plus admission
// control, which runs before any Handler sees the peer.
type ServerConfig struct {
	Config
	// AllowedNetworks, when not empty, are the only source networks
	// accepted; other connections are closed before a byte is read.
	AllowedNetworks []netip.Prefix
	// AllowedHosts, when not empty, are the only Origin-Host values
	// accepted in a CER; others get a CEA with 3010 (UNKNOWN_PEER) and are
	// disconnected (RFC 6733 §5.3).
	AllowedHosts []string
	// MaxConns bounds the connections served at once, handshakes included.
	// Default 1024.
	MaxConns int
}

// Server accepts Diameter peers: it checks the source address, runs TLS and
// the responder side of CER/CEA, validates the Origin-Host, and then serves
// the peer's requests with Config.Handler; it can also send requests to a
// connected peer (Conn). A Server is safe for concurrent use.
type Server struct {
	cfg ServerConfig
	e2e *idGen
	sem chan struct{}

	mu        sync.Mutex
	listeners map[net.Listener]struct{}
	conns     map[*Conn]struct{}
	raw       map[net.Conn]struct{} // in handshake
	closed    bool
	wg        sync.WaitGroup
}

// NewServer validates cfg and returns a Server. Serve starts it.
func NewServer(cfg ServerConfig) (*Server, error) {
	c, err := cfg.Config.normalize()
	if err != nil {
		return nil, err
	}
	cfg.Config = c
	if cfg.MaxConns <= 0 {
		cfg.MaxConns = 1024
	}
	return &Server{
		cfg: cfg, e2e: newIDGen(),
		sem:       make(chan struct{}, cfg.MaxConns),
		listeners: make(map[net.Listener]struct{}),
		conns:     make(map[*Conn]struct{}),
		raw:       make(map[net.Conn]struct{}),
	}, nil
}

// Serve accepts connections on l until Shutdown or Close, and then returns
// ErrServerClosed. Serve may be called for several listeners.
func (s *Server) Serve(l net.Listener) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrServerClosed
	}
	s.listeners[l] = struct{}{}
	s.mu.Unlock()
	var delay time.Duration
	for {
		nc, err := l.Accept()
		if err != nil {
			s.mu.Lock()
			closed := s.closed
			s.mu.Unlock()
			if closed {
				return ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				time.Sleep(delay)
				continue
			}
			return fmt.Errorf("diameter: accept: %w", err)
		}
		delay = 0
		if !s.allowedAddr(nc.RemoteAddr()) {
			s.cfg.Logger.Warn("diameter: connection refused by ACL", "remote", nc.RemoteAddr().String())
			_ = nc.Close()
			continue
		}
		select {
		case s.sem <- struct{}{}:
		default:
			s.cfg.Logger.Warn("diameter: connection limit reached", "remote", nc.RemoteAddr().String())
			_ = nc.Close()
			continue
		}
		if !s.track(nc) {
			<-s.sem
			_ = nc.Close()
			return ErrServerClosed
		}
		s.wg.Add(1)
		go s.handshake(nc)
	}
}

func (s *Server) track(nc net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.raw[nc] = struct{}{}
	return true
}

func (s *Server) allowedAddr(a net.Addr) bool {
	if len(s.cfg.AllowedNetworks) == 0 {
		return true
	}
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return false
	}
	ip := ap.Addr().Unmap()
	for _, p := range s.cfg.AllowedNetworks {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

func (s *Server) allowHost(h string) bool {
	return slices.Contains(s.cfg.AllowedHosts, h)
}

func (s *Server) handshake(nc net.Conn) {
	defer s.wg.Done()
	var allow func(string) bool
	if len(s.cfg.AllowedHosts) > 0 {
		allow = s.allowHost
	}
	c, err := acceptConn(nc, &s.cfg.Config, s.e2e, allow, s.forget)
	s.mu.Lock()
	delete(s.raw, nc)
	if err == nil && s.closed {
		err = ErrServerClosed
	}
	if err == nil {
		select {
		case <-c.closing:
			// Closed before it was tracked: forget has nothing to release.
			err = c.Err()
		default:
			s.conns[c] = struct{}{}
		}
	}
	s.mu.Unlock()
	if err != nil {
		if c != nil {
			c.closeWith(err)
		}
		<-s.sem
		s.cfg.Logger.Info("diameter: peer refused", "remote", nc.RemoteAddr().String(), "err", err)
		return
	}
	s.cfg.Logger.Info("diameter: peer connected", "peer", c.Peer().Host, "remote", nc.RemoteAddr().String())
}

// forget is the Conn close hook.
func (s *Server) forget(c *Conn) {
	s.mu.Lock()
	_, ok := s.conns[c]
	delete(s.conns, c)
	s.mu.Unlock()
	if ok {
		<-s.sem
	}
}

// Conns returns the open connections.
func (s *Server) Conns() []*Conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*Conn, 0, len(s.conns))
	for c := range s.conns {
		out = append(out, c)
	}
	return out
}

// Conn returns an open connection whose peer presented originHost, or nil.
// Use it to send requests to a peer that connected to this server, as an
// HSS sends RTR or PPR to an S-CSCF.
func (s *Server) Conn(originHost string) *Conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	var best *Conn
	for c := range s.conns {
		if c.Peer().Host == originHost && c.State() == StateOkay {
			best = c
		}
	}
	return best
}

// Shutdown stops accepting, sends DPR to every connected peer and closes
// the connections, waiting for them until ctx ends.
func (s *Server) Shutdown(ctx context.Context) error {
	conns := s.stop()
	var wg sync.WaitGroup
	for _, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = c.Close()
		}()
	}
	done := make(chan struct{})
	go func() {
		wg.Wait()
		s.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		for _, c := range conns {
			c.closeWith(ErrServerClosed)
		}
		return ctx.Err()
	}
}

// Close stops accepting and closes every connection at once.
func (s *Server) Close() error {
	for _, c := range s.stop() {
		c.closeWith(ErrServerClosed)
		<-c.Done()
	}
	s.wg.Wait()
	return nil
}

func (s *Server) stop() []*Conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	for l := range s.listeners {
		_ = l.Close()
	}
	for nc := range s.raw {
		_ = nc.Close()
	}
	conns := make([]*Conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	return conns
}
