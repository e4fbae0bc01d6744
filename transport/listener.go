package transport

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"
)

// packetConn is what the layer needs from a datagram socket. *net.UDPConn
// has it; other net.PacketConns are adapted.
type packetConn interface {
	ReadFromUDPAddrPort(b []byte) (int, netip.AddrPort, error)
	WriteToUDPAddrPort(b []byte, addr netip.AddrPort) (int, error)
	LocalAddr() net.Addr
	Close() error
}

type genericPacketConn struct{ net.PacketConn }

func (g genericPacketConn) ReadFromUDPAddrPort(b []byte) (int, netip.AddrPort, error) {
	n, a, err := g.ReadFrom(b)
	return n, addrPortOf(a), err
}

func (g genericPacketConn) WriteToUDPAddrPort(b []byte, addr netip.AddrPort) (int, error) {
	return g.WriteTo(b, net.UDPAddrFromAddrPort(addr))
}

// Listener is one socket the layer receives on: a UDP socket or a stream
// listener for TCP, TLS, WS, WSS or SCTP.
type Listener struct {
	layer     *Layer
	transport string
	addr      netip.AddrPort
	advHost   string
	advPort   int
	opts      ListenOptions
	tlsConf   *tls.Config

	pc packetConn   // UDP
	ln net.Listener // streams

	closeOnce sync.Once
}

// Transport returns the listener's transport.
func (ln *Listener) Transport() string { return ln.transport }

// Addr returns the bound address.
func (ln *Listener) Addr() netip.AddrPort { return ln.addr }

// Advertised returns the host and port this listener puts into Via and
// offers for Contact and Record-Route.
func (ln *Listener) Advertised() (host string, port int) { return ln.advHost, ln.advPort }

// Close stops the listener and takes it out of the layer's list, so that
// nothing is sent from it any more. Connections it accepted stay open.
func (ln *Listener) Close() error {
	ln.close()
	l := ln.layer
	l.mu.Lock()
	for i, o := range l.listeners {
		if o == ln {
			l.listeners = append(l.listeners[:i:i], l.listeners[i+1:]...)
			break
		}
	}
	l.mu.Unlock()
	return nil
}

func (ln *Listener) close() {
	ln.closeOnce.Do(func() {
		if ln.pc != nil {
			ln.pc.Close()
		}
		if ln.ln != nil {
			ln.ln.Close()
		}
	})
}

// Listen opens a listener for transport (UDP, TCP, TLS, WS, WSS or SCTP; any
// case) on addr ("127.0.0.1:0", "[::]:5060"), with DSCP marking.
func (l *Layer) Listen(ctx context.Context, transport, addr string, opts ListenOptions) (*Listener, error) {
	tp := Normalize(transport)
	if tp == "" {
		return nil, fmt.Errorf("%w %q", ErrUnknownTransport, transport)
	}
	dscp := l.cfg.DSCP
	if opts.DSCP != 0 {
		dscp = opts.DSCP
	}
	lc := net.ListenConfig{Control: dscpControl(dscp)}
	switch tp {
	case UDP:
		pc, err := lc.ListenPacket(ctx, "udp", addr)
		if err != nil {
			return nil, fmt.Errorf("transport: listen udp %s: %w", addr, err)
		}
		if uc, ok := pc.(*net.UDPConn); ok {
			setBuffers(uc, l.cfg.UDPBuffer)
		}
		return l.AddPacketConn(pc, opts)
	case SCTP:
		ap, err := netip.ParseAddrPort(addr)
		if err != nil {
			return nil, fmt.Errorf("transport: listen sctp %s: %w", addr, err)
		}
		ln, err := listenSCTP(ap, dscp)
		if err != nil {
			return nil, err
		}
		return l.AddListener(ln, SCTP, opts)
	default:
		nl, err := lc.Listen(ctx, "tcp", addr)
		if err != nil {
			return nil, fmt.Errorf("transport: listen %s %s: %w", strings.ToLower(tp), addr, err)
		}
		lst, err := l.AddListener(nl, tp, opts)
		if err != nil {
			nl.Close()
		}
		return lst, err
	}
}

// AddPacketConn serves UDP on pc, which the layer then owns. Any
// net.PacketConn works (siptest's memory network uses this).
func (l *Layer) AddPacketConn(pc net.PacketConn, opts ListenOptions) (*Listener, error) {
	ln := &Listener{layer: l, transport: UDP, opts: opts, addr: addrPortOf(pc.LocalAddr())}
	if uc, ok := pc.(*net.UDPConn); ok {
		ln.pc = newRawUDP(uc)
	} else if p, ok := pc.(packetConn); ok {
		ln.pc = p
	} else {
		ln.pc = genericPacketConn{pc}
	}
	if err := l.addListener(ln); err != nil {
		pc.Close()
		return nil, err
	}
	return ln, nil
}

// AddListener serves transport (TCP, TLS, WS, WSS or SCTP) on nl, which the
// layer then owns. For TLS and WSS, nl is a plain listener: the layer runs
// the handshake with opts.TLS, off the accept loop.
func (l *Layer) AddListener(nl net.Listener, transport string, opts ListenOptions) (*Listener, error) {
	tp := Normalize(transport)
	if tp == "" || tp == UDP {
		return nil, fmt.Errorf("%w %q for a stream listener", ErrUnknownTransport, transport)
	}
	ln := &Listener{layer: l, transport: tp, opts: opts, ln: nl, addr: addrPortOf(nl.Addr())}
	if IsSecure(tp) {
		if opts.TLS == nil {
			return nil, errors.New("transport: TLS listener without ListenOptions.TLS")
		}
		conf := opts.TLS.Clone()
		if conf.MinVersion == 0 {
			conf.MinVersion = tls.VersionTLS12
		}
		if opts.RequireClientCert {
			if conf.ClientCAs == nil {
				return nil, ErrNoClientCA
			}
			conf.ClientAuth = tls.RequireAndVerifyClientCert
		}
		ln.tlsConf = conf
	}
	if err := l.addListener(ln); err != nil {
		return nil, err
	}
	return ln, nil
}

func (l *Layer) addListener(ln *Listener) error {
	if err := ln.setAdvertised(l.cfg.AdvertisedHost); err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return ErrClosed
	}
	l.listeners = append(l.listeners, ln)
	if l.started {
		l.startListener(ln)
	}
	return nil
}

func (ln *Listener) setAdvertised(global string) error {
	ln.advHost = ln.addr.Addr().String()
	ln.advPort = int(ln.addr.Port())
	if ln.addr.Addr().IsUnspecified() && global != "" {
		ln.advHost = global
	}
	adv := ln.opts.Advertise
	if adv == "" {
		return nil
	}
	if h, p, err := net.SplitHostPort(adv); err == nil {
		port, err := strconv.Atoi(p)
		if err != nil || port <= 0 || port > 65535 {
			return fmt.Errorf("transport: bad advertised port in %q", adv)
		}
		ln.advHost, ln.advPort = h, port
		return nil
	}
	ln.advHost = strings.Trim(adv, "[]")
	return nil
}

// startListener runs the listener's loop; l.mu is held.
func (l *Layer) startListener(ln *Listener) {
	if ln.pc != nil {
		n := min(max(ln.opts.Readers, 1), 64)
		l.wg.Add(n)
		for range n {
			go l.serveUDP(ln)
		}
	} else {
		l.wg.Add(1)
		go l.acceptLoop(ln)
	}
}

func (l *Layer) isClosed() bool {
	select {
	case <-l.done:
		return true
	default:
		return false
	}
}

// datagramBatch reads several datagrams per system call (recvmmsg, on
// Linux): read waits for at least one and returns how many it read; the
// i-th is datagram(i), valid until the next read.
type datagramBatch interface {
	read() (int, error)
	datagram(i int) ([]byte, netip.AddrPort)
}

// batchSender gathers the datagrams sent while a reader handles a batch
// (sendmmsg, on Linux): between beginBatch and endBatch, queue takes a
// copy of a datagram and reports true, or false when the caller must send
// it itself.
type batchSender interface {
	beginBatch()
	endBatch()
	queue(b []byte, addr netip.AddrPort) bool
}

func (l *Layer) serveUDP(ln *Listener) {
	defer l.wg.Done()
	handle := func(data []byte, remote netip.AddrPort) {
		remote = unmap(remote)
		if !l.allow(UDP, remote) || isKeepAlive(data) {
			return
		}
		l.deliver(data, Flow{Transport: UDP, Local: ln.addr, Remote: remote})
	}
	// stop reports whether a read error ends the listener. ICMP errors and
	// the like do not: the listener keeps running.
	stop := func(err error) bool {
		if l.isClosed() || errors.Is(err, net.ErrClosed) {
			return true
		}
		l.log.Debug("transport: udp read", "listener", ln.addr, "err", err)
		return false
	}
	if b, ok := ln.pc.(interface{ batches() datagramBatch }); ok {
		br := b.batches()
		out, _ := ln.pc.(batchSender)
		for {
			n, err := br.read()
			if err != nil {
				if stop(err) {
					return
				}
				continue
			}
			// What handling several datagrams sends (their answers) leaves
			// in one sendmmsg when they are done.
			if n > 1 && out != nil {
				out.beginBatch()
			}
			for i := range n {
				handle(br.datagram(i))
			}
			if n > 1 && out != nil {
				out.endBatch()
			}
		}
	}
	buf := make([]byte, 65536)
	for {
		n, remote, err := ln.pc.ReadFromUDPAddrPort(buf)
		if err != nil {
			if stop(err) {
				return
			}
			continue
		}
		handle(buf[:n], remote)
	}
}

// isKeepAlive reports whether a datagram is only CRLFs (a NAT keepalive).
func isKeepAlive(b []byte) bool {
	for _, c := range b {
		if c != '\r' && c != '\n' && c != 0 {
			return false
		}
	}
	return true
}

func (l *Layer) acceptLoop(ln *Listener) {
	defer l.wg.Done()
	var delay time.Duration
	for {
		nc, err := ln.ln.Accept()
		if err != nil {
			if l.isClosed() || errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of descriptors and similar: back off, never stop.
			if delay == 0 {
				delay = 5 * time.Millisecond
			} else if delay *= 2; delay > time.Second {
				delay = time.Second
			}
			l.log.Warn("transport: accept", "listener", ln.addr, "err", err, "retry", delay)
			select {
			case <-time.After(delay):
			case <-l.done:
				return
			}
			continue
		}
		delay = 0
		remote := addrPortOf(nc.RemoteAddr())
		if !l.allow(ln.transport, remote) {
			nc.Close()
			continue
		}
		c := l.newConn(ln.transport, ln, remote)
		c.nc = nc
		c.flow = Flow{Transport: ln.transport, Local: addrPortOf(nc.LocalAddr()), Remote: remote, ConnID: c.id}
		l.wg.Add(1)
		go c.serveAccepted()
	}
}

// ListenEach listens on addr with each of transports, as a SIP server
// usually does for UDP and TCP on one port. When addr's port is 0 every
// listener gets the port the first one was given; if that port is taken for
// a later transport, all are closed and it tries again with a new port (a
// bounded number of times). On error nothing stays open.
func (l *Layer) ListenEach(ctx context.Context, transports []string, addr string, opts ListenOptions) ([]*Listener, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("transport: listen %s: %w", addr, err)
	}
	attempts := 1
	if port == "0" {
		attempts = 20
	}
	for i := 0; ; i++ {
		lns, err := l.listenEach(ctx, transports, host, port, opts)
		if err == nil || i+1 >= attempts || ctx.Err() != nil {
			return lns, err
		}
	}
}

func (l *Layer) listenEach(ctx context.Context, transports []string, host, port string, opts ListenOptions) ([]*Listener, error) {
	lns := make([]*Listener, 0, len(transports))
	for _, tp := range transports {
		ln, err := l.Listen(ctx, tp, net.JoinHostPort(host, port), opts)
		if err != nil {
			for _, o := range lns {
				_ = o.Close()
			}
			return nil, err
		}
		lns = append(lns, ln)
		port = strconv.Itoa(int(ln.Addr().Port()))
	}
	return lns, nil
}

// ListenerFor returns the listener a message to t leaves from, and whose
// advertised address goes into its Via: the one bound to t.Local if set,
// else the first of t's transport and address family; nil if there is none.
func (l *Layer) ListenerFor(t Target) *Listener { return l.listenerFor(t) }

// ListenerAt returns the listener of transport bound to local (the Local of
// an inbound Flow), or nil.
func (l *Layer) ListenerAt(transport string, local netip.AddrPort) *Listener {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, ln := range l.listeners {
		if ln.transport == transport && (ln.addr == local ||
			ln.addr.Addr().IsUnspecified() && ln.addr.Port() == local.Port()) {
			return ln
		}
	}
	return nil
}

func (l *Layer) listenerFor(t Target) *Listener {
	l.mu.Lock()
	defer l.mu.Unlock()
	var fallback *Listener
	for _, ln := range l.listeners {
		if ln.transport != t.Transport {
			continue
		}
		if t.Local.IsValid() && ln.addr == t.Local {
			return ln
		}
		if fallback == nil && (!t.Addr.IsValid() || ln.addr.Addr().Is4() == t.Addr.Addr().Is4() ||
			ln.addr.Addr().IsUnspecified()) {
			fallback = ln
		}
	}
	return fallback
}

// anyListener returns a listener for the Via of a stream transport that
// has no listener of its own: responses come back on the connection anyway.
func (l *Layer) anyListener(t Target) *Listener {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, ln := range l.listeners {
		if !t.Addr.IsValid() || ln.addr.Addr().Is4() == t.Addr.Addr().Is4() {
			return ln
		}
	}
	if len(l.listeners) > 0 {
		return l.listeners[0]
	}
	return nil
}

// IsOwnAddress reports whether host:port names one of the layer's listeners,
// by bound or advertised address (port 0 means the transport's default), so
// that a proxy can recognise its own Route and Record-Route entries on any
// listener and never relay to itself.
func (l *Layer) IsOwnAddress(host string, port int) bool {
	host = strings.Trim(host, "[]")
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, ln := range l.listeners {
		p := port
		if p == 0 {
			p = int(DefaultPort(ln.transport))
		}
		if p != ln.advPort && p != int(ln.addr.Port()) {
			continue
		}
		if strings.EqualFold(host, ln.advHost) {
			return true
		}
		if ip, err := netip.ParseAddr(host); err == nil {
			ip = ip.Unmap()
			if ip == ln.addr.Addr() || (ln.addr.Addr().IsUnspecified() && ip.IsLoopback()) {
				return true
			}
		}
	}
	return false
}
