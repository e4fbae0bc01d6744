package siptest

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"net"
	"net/netip"
	"os"
	"sync"
	"syscall"
	"time"
)

// NetworkConfig sets the impairments of a Network's datagrams. Streams are
// reliable and ordered, as TCP is. NATs are added with Network.AddNAT.
type NetworkConfig struct {
	// Clock, when set, times delays; Advance it to deliver delayed
	// datagrams. Nil means real time.
	Clock *Clock
	// Loss is the probability that a datagram is dropped.
	Loss float64
	// Duplicate is the probability that a datagram is delivered twice.
	Duplicate float64
	// Delay is the one-way delay of every datagram.
	Delay time.Duration
	// Jitter adds a random delay up to this much, which reorders datagrams.
	Jitter time.Duration
	// Seed seeds the impairments, so that a lossy test is repeatable.
	Seed int64
}

// Network is an in-memory IP network for SIP stacks: datagram sockets and
// stream listeners at any address, with loss, delay, duplication and
// reordering for datagrams. Its PacketConns, Listeners and Dialers plug into
// transport.Layer's AddPacketConn, AddListener and Config.Dialer, so tests
// run the real transport and transaction code without sockets.
type Network struct {
	mu        sync.Mutex
	cfg       NetworkConfig
	rng       *rand.Rand
	packets   map[netip.AddrPort]*PacketConn
	listeners map[netip.AddrPort]*Listener
	nextPort  uint16
	nats      []*NAT
}

// NewNetwork returns an empty network.
func NewNetwork(cfg NetworkConfig) *Network {
	return &Network{
		cfg:       cfg,
		rng:       rand.New(rand.NewSource(cfg.Seed)),
		packets:   make(map[netip.AddrPort]*PacketConn),
		listeners: make(map[netip.AddrPort]*Listener),
		nextPort:  40000,
	}
}

// SetImpairments replaces the datagram impairments (not the clock).
func (n *Network) SetImpairments(loss, duplicate float64, delay, jitter time.Duration) {
	n.mu.Lock()
	n.cfg.Loss, n.cfg.Duplicate, n.cfg.Delay, n.cfg.Jitter = loss, duplicate, delay, jitter
	n.mu.Unlock()
}

func (n *Network) resolve(addr string, taken func(netip.AddrPort) bool) (netip.AddrPort, error) {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("siptest: address %q: %w", addr, err)
	}
	if ap.Port() == 0 {
		for i := 0; i < 20000; i++ {
			n.nextPort++
			if n.nextPort < 40000 {
				n.nextPort = 40000
			}
			cand := netip.AddrPortFrom(ap.Addr(), n.nextPort)
			if !taken(cand) {
				return cand, nil
			}
		}
		return netip.AddrPort{}, errors.New("siptest: no free port")
	}
	if taken(ap) {
		return netip.AddrPort{}, fmt.Errorf("siptest: address %s in use", ap)
	}
	return ap, nil
}

// ListenPacket opens a datagram socket at addr ("192.0.2.1:5060"; port 0
// picks one).
func (n *Network) ListenPacket(addr string) (*PacketConn, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	ap, err := n.resolve(addr, func(a netip.AddrPort) bool { return n.packets[a] != nil })
	if err != nil {
		return nil, err
	}
	pc := &PacketConn{n: n, addr: ap, ready: make(chan struct{}, 1), closed: make(chan struct{})}
	n.packets[ap] = pc
	return pc, nil
}

// Listen opens a stream listener at addr.
func (n *Network) Listen(addr string) (*Listener, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	ap, err := n.resolve(addr, func(a netip.AddrPort) bool { return n.listeners[a] != nil })
	if err != nil {
		return nil, err
	}
	ln := &Listener{n: n, addr: ap, conns: make(chan net.Conn, 128), closed: make(chan struct{})}
	n.listeners[ap] = ln
	return ln, nil
}

// Dialer returns a dialer whose connections come from host (an IP).
func (n *Network) Dialer(host string) *Dialer {
	return &Dialer{n: n, host: netip.MustParseAddr(host)}
}

type packet struct {
	data []byte
	from netip.AddrPort
}

func (n *Network) send(b []byte, from, to netip.AddrPort) {
	n.mu.Lock()
	from, to, routed := n.translate(from, to)
	if !routed {
		n.mu.Unlock()
		return
	}
	dst := n.packets[to]
	cfg := n.cfg
	lost := cfg.Loss > 0 && n.rng.Float64() < cfg.Loss
	copies := 1
	if cfg.Duplicate > 0 && n.rng.Float64() < cfg.Duplicate {
		copies = 2
	}
	var delays [2]time.Duration
	for i := 0; i < copies; i++ {
		delays[i] = cfg.Delay
		if cfg.Jitter > 0 {
			delays[i] += time.Duration(n.rng.Int63n(int64(cfg.Jitter)))
		}
	}
	n.mu.Unlock()
	if dst == nil || lost {
		return
	}
	for _, d := range delays[:copies] {
		p := packet{data: append([]byte(nil), b...), from: from}
		switch {
		case d <= 0:
			dst.enqueue(p)
		case cfg.Clock != nil:
			cfg.Clock.AfterFunc(d, func() { dst.enqueue(p) })
		default:
			time.AfterFunc(d, func() { dst.enqueue(p) })
		}
	}
}

// PacketConn is a datagram socket on a Network. It implements net.PacketConn
// and the AddrPort methods of *net.UDPConn.
type PacketConn struct {
	n      *Network
	addr   netip.AddrPort
	mu     sync.Mutex
	queue  []packet
	ready  chan struct{}
	closed chan struct{}
	once   sync.Once
}

const maxQueued = 4096

func (pc *PacketConn) enqueue(p packet) {
	pc.mu.Lock()
	if len(pc.queue) < maxQueued { // a full socket buffer drops, as UDP does
		pc.queue = append(pc.queue, p)
	}
	pc.mu.Unlock()
	select {
	case pc.ready <- struct{}{}:
	default:
	}
}

// ReadFromUDPAddrPort reads the next datagram.
func (pc *PacketConn) ReadFromUDPAddrPort(b []byte) (int, netip.AddrPort, error) {
	for {
		pc.mu.Lock()
		if len(pc.queue) > 0 {
			p := pc.queue[0]
			pc.queue[0] = packet{}
			pc.queue = pc.queue[1:]
			more := len(pc.queue) > 0
			pc.mu.Unlock()
			if more {
				select {
				case pc.ready <- struct{}{}:
				default:
				}
			}
			return copy(b, p.data), p.from, nil
		}
		pc.mu.Unlock()
		select {
		case <-pc.ready:
		case <-pc.closed:
			return 0, netip.AddrPort{}, net.ErrClosed
		}
	}
}

// WriteToUDPAddrPort sends a datagram to addr.
func (pc *PacketConn) WriteToUDPAddrPort(b []byte, addr netip.AddrPort) (int, error) {
	select {
	case <-pc.closed:
		return 0, net.ErrClosed
	default:
	}
	pc.n.send(b, pc.addr, addr)
	return len(b), nil
}

// ReadFrom implements net.PacketConn.
func (pc *PacketConn) ReadFrom(b []byte) (int, net.Addr, error) {
	n, ap, err := pc.ReadFromUDPAddrPort(b)
	return n, net.UDPAddrFromAddrPort(ap), err
}

// WriteTo implements net.PacketConn.
func (pc *PacketConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	ua, ok := addr.(*net.UDPAddr)
	if !ok {
		return 0, fmt.Errorf("siptest: not a UDP address: %v", addr)
	}
	return pc.WriteToUDPAddrPort(b, ua.AddrPort())
}

// Close closes the socket.
func (pc *PacketConn) Close() error {
	pc.once.Do(func() {
		close(pc.closed)
		pc.n.mu.Lock()
		if pc.n.packets[pc.addr] == pc {
			delete(pc.n.packets, pc.addr)
		}
		pc.n.mu.Unlock()
	})
	return nil
}

// LocalAddr returns the socket's address.
func (pc *PacketConn) LocalAddr() net.Addr { return net.UDPAddrFromAddrPort(pc.addr) }

// SetDeadline is not supported and does nothing.
func (pc *PacketConn) SetDeadline(time.Time) error { return nil }

// SetReadDeadline is not supported and does nothing.
func (pc *PacketConn) SetReadDeadline(time.Time) error { return nil }

// SetWriteDeadline is not supported and does nothing.
func (pc *PacketConn) SetWriteDeadline(time.Time) error { return nil }

// Listener is a stream listener on a Network.
type Listener struct {
	n      *Network
	addr   netip.AddrPort
	conns  chan net.Conn
	closed chan struct{}
	once   sync.Once
}

// Accept waits for the next connection.
func (ln *Listener) Accept() (net.Conn, error) {
	select {
	case c := <-ln.conns:
		return c, nil
	case <-ln.closed:
		return nil, net.ErrClosed
	}
}

// Close stops the listener.
func (ln *Listener) Close() error {
	ln.once.Do(func() {
		close(ln.closed)
		ln.n.mu.Lock()
		if ln.n.listeners[ln.addr] == ln {
			delete(ln.n.listeners, ln.addr)
		}
		ln.n.mu.Unlock()
	})
	return nil
}

// Addr returns the listener's address.
func (ln *Listener) Addr() net.Addr { return net.TCPAddrFromAddrPort(ln.addr) }

// Dialer makes stream connections on a Network; it implements
// transport.Dialer.
type Dialer struct {
	n    *Network
	host netip.Addr
}

// DialContext connects to address, a listener on the network.
func (d *Dialer) DialContext(ctx context.Context, _, address string) (net.Conn, error) {
	to, err := netip.ParseAddrPort(address)
	if err != nil {
		return nil, err
	}
	n := d.n
	n.mu.Lock()
	ln := n.listeners[to]
	from, err := n.resolve(netip.AddrPortFrom(d.host, 0).String(), func(a netip.AddrPort) bool {
		return n.listeners[a] != nil || n.packets[a] != nil
	})
	seen, routed := from, true
	if err == nil {
		seen, routed = n.dialThrough(from, to)
	}
	n.mu.Unlock()
	if err != nil {
		return nil, err
	}
	if !routed {
		return nil, &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ENETUNREACH)}
	}
	if ln == nil {
		return nil, &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	}
	a, b := net.Pipe()
	client := &conn{Conn: a, local: from, remote: to}
	server := &conn{Conn: b, local: to, remote: seen}
	select {
	case ln.conns <- server:
		return client, nil
	case <-ln.closed:
		return nil, &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

type conn struct {
	net.Conn
	local, remote netip.AddrPort
}

func (c *conn) LocalAddr() net.Addr  { return net.TCPAddrFromAddrPort(c.local) }
func (c *conn) RemoteAddr() net.Addr { return net.TCPAddrFromAddrPort(c.remote) }
