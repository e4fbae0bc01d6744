package siptest

import (
	"net/netip"
	"time"
)

// NATConfig describes a network address translator on a Network, behaving
// as a typical home router does (RFC 4787): endpoint-independent mapping,
// address-and-port-dependent filtering, UDP mappings refreshed by outbound
// traffic only.
type NATConfig struct {
	// Public is the NAT's outside address. No socket should be bound to it.
	Public netip.Addr
	// Inside is the private network behind the NAT. Datagrams and
	// connections from these hosts to any address outside leave with Public
	// as their source, on a port the NAT picks; nothing outside can reach an
	// inside address directly.
	Inside netip.Prefix
	// Timeout is how long a UDP mapping lives after the last datagram that
	// went out through it (RFC 4787 REQ-5, REQ-6: inbound datagrams do not
	// refresh it); zero means mappings never expire. Stream connections keep
	// their mapping while they are open.
	Timeout time.Duration
}

// NAT is a network address translator added to a Network with AddNAT.
type NAT struct {
	n        *Network
	cfg      NATConfig
	nextPort uint16
	byInside map[netip.AddrPort]*mapping
	byPort   map[uint16]*mapping
}

// mapping is one UDP binding: an inside endpoint, its public port, and the
// remote endpoints it has sent to (the only ones let back in).
type mapping struct {
	inside netip.AddrPort
	port   uint16
	peers  map[netip.AddrPort]struct{}
	last   time.Time
	stream bool // a port taken by a connection: never expires, lets nothing in
}

// AddNAT puts a NAT in front of cfg.Inside. Several NATs may share a
// Network as long as their inside prefixes do not overlap.
func (n *Network) AddNAT(cfg NATConfig) *NAT {
	x := &NAT{n: n, cfg: cfg, nextPort: 20000,
		byInside: make(map[netip.AddrPort]*mapping), byPort: make(map[uint16]*mapping)}
	n.mu.Lock()
	n.nats = append(n.nats, x)
	n.mu.Unlock()
	return x
}

// Mappings returns the number of live UDP mappings.
func (x *NAT) Mappings() int {
	x.n.mu.Lock()
	defer x.n.mu.Unlock()
	now := x.n.now()
	live := 0
	for _, m := range x.byPort {
		if !m.stream && x.alive(m, now) {
			live++
		}
	}
	return live
}

// Reset forgets every UDP mapping, as a router that reboots or times out
// all of them at once: inside hosts must send again before anything outside
// reaches them, and they then get new public ports. Open connections keep
// theirs.
func (x *NAT) Reset() {
	x.n.mu.Lock()
	for p, m := range x.byPort {
		if !m.stream {
			delete(x.byPort, p)
		}
	}
	clear(x.byInside)
	x.n.mu.Unlock()
}

func (x *NAT) alive(m *mapping, now time.Time) bool {
	return m.stream || x.cfg.Timeout <= 0 || now.Sub(m.last) < x.cfg.Timeout
}

// port allocates a public port not used by a live mapping; n.mu is held.
func (x *NAT) port(now time.Time) uint16 {
	for range 1 << 16 {
		x.nextPort++
		if x.nextPort < 20000 {
			x.nextPort = 20000
		}
		m := x.byPort[x.nextPort]
		if m == nil {
			return x.nextPort
		}
		if !x.alive(m, now) {
			x.drop(m)
			return x.nextPort
		}
	}
	return 0
}

func (x *NAT) drop(m *mapping) {
	delete(x.byPort, m.port)
	if x.byInside[m.inside] == m {
		delete(x.byInside, m.inside)
	}
}

// outbound maps an inside source sending to to; n.mu is held.
func (x *NAT) outbound(from, to netip.AddrPort, now time.Time) netip.AddrPort {
	m := x.byInside[from]
	if m != nil && !x.alive(m, now) {
		x.drop(m)
		m = nil
	}
	if m == nil {
		p := x.port(now)
		if p == 0 {
			return netip.AddrPort{}
		}
		m = &mapping{inside: from, port: p, peers: make(map[netip.AddrPort]struct{}, 1)}
		x.byInside[from] = m
		x.byPort[p] = m
	}
	m.last = now
	m.peers[to] = struct{}{}
	return netip.AddrPortFrom(x.cfg.Public, m.port)
}

// inbound returns the inside endpoint a datagram from from to the public
// port goes to, if a live mapping lets it in; n.mu is held.
func (x *NAT) inbound(from netip.AddrPort, port uint16, now time.Time) (netip.AddrPort, bool) {
	m := x.byPort[port]
	if m == nil {
		return netip.AddrPort{}, false
	}
	if !x.alive(m, now) {
		x.drop(m)
		return netip.AddrPort{}, false
	}
	if _, ok := m.peers[from]; !ok || m.stream {
		return netip.AddrPort{}, false // address-and-port-dependent filtering
	}
	return m.inside, true
}

// natOf returns the NAT whose inside network holds a; n.mu is held.
func (n *Network) natOf(a netip.Addr) *NAT {
	for _, x := range n.nats {
		if x.cfg.Inside.Contains(a) {
			return x
		}
	}
	return nil
}

// natPublic returns the NAT whose public address is a; n.mu is held.
func (n *Network) natPublic(a netip.Addr) *NAT {
	for _, x := range n.nats {
		if x.cfg.Public == a {
			return x
		}
	}
	return nil
}

// translate applies the NATs to a datagram from from to to, returning the
// addresses it travels with past them, or false when it is dropped; n.mu is
// held.
func (n *Network) translate(from, to netip.AddrPort) (netip.AddrPort, netip.AddrPort, bool) {
	if len(n.nats) == 0 {
		return from, to, true
	}
	now := n.now()
	src, dst := n.natOf(from.Addr()), n.natOf(to.Addr())
	if src != nil && src == dst {
		return from, to, true // within one private network
	}
	if dst != nil {
		return from, to, false // a private address is not routed from outside
	}
	if src != nil {
		from = src.outbound(from, to, now)
		if !from.IsValid() {
			return from, to, false
		}
	}
	if x := n.natPublic(to.Addr()); x != nil {
		inside, ok := x.inbound(from, to.Port(), now)
		if !ok {
			return from, to, false
		}
		to = inside
	}
	return from, to, true
}

// dialThrough returns the source address a listener sees for a connection
// from from to to, or false when to cannot be reached; n.mu is held. A
// connection's mapping lasts as long as the connection, which the NAT does
// not track: its port is taken from the UDP range and not reused.
func (n *Network) dialThrough(from, to netip.AddrPort) (netip.AddrPort, bool) {
	if len(n.nats) == 0 {
		return from, true
	}
	src, dst := n.natOf(from.Addr()), n.natOf(to.Addr())
	if src != nil && src == dst {
		return from, true
	}
	if dst != nil || n.natPublic(to.Addr()) != nil {
		return from, false // no inbound connections through a NAT
	}
	if src == nil {
		return from, true
	}
	now := n.now()
	p := src.port(now)
	if p == 0 {
		return from, false
	}
	// Reserve the port so that UDP mappings do not take it.
	src.byPort[p] = &mapping{port: p, stream: true}
	return netip.AddrPortFrom(src.cfg.Public, p), true
}

func (n *Network) now() time.Time {
	if n.cfg.Clock != nil {
		return n.cfg.Clock.Now()
	}
	return time.Now()
}
