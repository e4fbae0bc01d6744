package transport

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/siphon-go/siphon/internal/bufpool"
	"github.com/siphon-go/siphon/sip"
)

// Receiver gets every message the layer reads, with the flow it came on.
// Messages from one connection are delivered one at a time, in the order they
// were read; ReceiveMessage must not block for long, since it holds up that
// connection (or, for UDP, the listener).
type Receiver interface {
	ReceiveMessage(msg sip.Message, f Flow)
}

// Layer owns listeners and connections: it reads, frames and parses inbound
// messages and hands them to a Receiver, and it writes outbound messages on
// the right socket or connection, dialling and pooling connections as needed.
// A Layer is safe for concurrent use.
type Layer struct {
	cfg    Config
	log    *slog.Logger
	parser *sip.Parser
	dialer Dialer

	recv   atomic.Pointer[receiverBox]
	nextID atomic.Uint64
	bufs   *bufpool.Pool
	stats  stats

	mu         sync.Mutex
	started    bool
	closed     bool
	listeners  []*Listener
	conns      map[uint64]*conn
	byAddr     map[connKey]*conn
	closeHooks map[int]func(Flow)
	nextHook   int

	done chan struct{}
	wg   sync.WaitGroup
}

type receiverBox struct{ r Receiver }

type connKey struct {
	transport string
	addr      netip.AddrPort
}

// New returns a Layer configured by cfg. Add listeners with Listen (or
// AddPacketConn and AddListener), then call Start.
func New(cfg Config) (*Layer, error) {
	c := cfg.withDefaults()
	if c.DSCP < NoDSCP || c.DSCP > 63 {
		return nil, fmt.Errorf("transport: DSCP %d out of range 0-63", c.DSCP)
	}
	l := &Layer{
		cfg:        c,
		log:        c.Logger,
		parser:     sip.NewParser(c.MaxMessageSize),
		conns:      make(map[uint64]*conn),
		byAddr:     make(map[connKey]*conn),
		closeHooks: make(map[int]func(Flow)),
		done:       make(chan struct{}),
	}
	l.bufs = bufpool.New(2048)
	l.dialer = c.Dialer
	if l.dialer == nil {
		l.dialer = &net.Dialer{Control: dscpControl(c.DSCP)}
	}
	return l, nil
}

// Start begins reading on every listener, current and future, delivering to
// r. It may be called once.
func (l *Layer) Start(r Receiver) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return ErrClosed
	}
	if l.started {
		return errors.New("transport: already started")
	}
	l.recv.Store(&receiverBox{r})
	l.started = true
	for _, ln := range l.listeners {
		l.startListener(ln)
	}
	l.wg.Add(1)
	go l.janitor()
	return nil
}

// Close closes every listener and connection and waits for the layer's
// goroutines to end.
func (l *Layer) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	close(l.done)
	lns := l.listeners
	conns := make([]*conn, 0, len(l.conns))
	for _, c := range l.conns {
		conns = append(conns, c)
	}
	l.mu.Unlock()
	for _, ln := range lns {
		ln.close()
	}
	for _, c := range conns {
		c.close(ErrClosed)
	}
	l.wg.Wait()
	return nil
}

// OnConnClose registers fn to be called with the flow of every stream
// connection that closes, for any reason (RFC 5626 §4.2.2 flow failure). It
// returns a function that unregisters it. fn runs on a layer goroutine and
// must not block.
func (l *Layer) OnConnClose(fn func(Flow)) (cancel func()) {
	l.mu.Lock()
	id := l.nextHook
	l.nextHook++
	l.closeHooks[id] = fn
	l.mu.Unlock()
	return func() {
		l.mu.Lock()
		delete(l.closeHooks, id)
		l.mu.Unlock()
	}
}

// Conns returns the number of open stream connections.
func (l *Layer) Conns() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.conns)
}

// Alive reports whether the stream connection with this ID is open.
func (l *Layer) Alive(connID uint64) bool {
	l.mu.Lock()
	c := l.conns[connID]
	l.mu.Unlock()
	return c != nil && c.established() && !c.isClosed()
}

// Listeners returns the layer's listeners.
func (l *Layer) Listeners() []*Listener {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]*Listener(nil), l.listeners...)
}

// Stats are cumulative counters of a Layer, for metrics.
type Stats struct {
	// Received and Sent count SIP messages.
	Received, Sent uint64
	// Malformed counts messages that did not parse.
	Malformed uint64
	// GuardDropped counts datagrams and connections a Guard refused.
	GuardDropped uint64
	// QueueFull counts sends refused because a connection's queue was full.
	QueueFull uint64
	// Accepted and Dialed count stream connections.
	Accepted, Dialed uint64
}

type stats struct {
	received, sent, malformed, guardDropped, queueFull, accepted, dialed atomic.Uint64
}

// Stats returns the layer's counters.
func (l *Layer) Stats() Stats {
	s := &l.stats
	return Stats{
		Received: s.received.Load(), Sent: s.sent.Load(), Malformed: s.malformed.Load(),
		GuardDropped: s.guardDropped.Load(), QueueFull: s.queueFull.Load(),
		Accepted: s.accepted.Load(), Dialed: s.dialed.Load(),
	}
}

// deliver taps, parses and hands one inbound message to the receiver.
// send answers a malformed request on the same flow.
func (l *Layer) deliver(data []byte, f Flow) {
	if tap := l.cfg.Tap; tap != nil {
		tap.TapMessage(In, f, data)
	}
	msg, err := l.parser.Parse(data)
	if err != nil {
		l.stats.malformed.Add(1)
		l.report(f, ViolationMalformed)
		var pe *sip.ParseError
		if l.cfg.DropMalformed || !errors.As(err, &pe) || pe.Message == nil {
			l.log.Debug("transport: dropped malformed message", "flow", f, "err", err)
			return
		}
		req := pe.Message.(*sip.Request)
		fixVia(req, f.Remote, l.cfg.ForceRport)
		res := sip.NewResponse(req, pe.Status, "")
		if _, b, err := l.Encode(res, f.Target()); err == nil {
			_ = l.Send(b, ResponseTarget(req, f), nil)
		}
		return
	}
	if req, ok := msg.(*sip.Request); ok {
		fixVia(req, f.Remote, l.cfg.ForceRport)
	}
	if rw := l.cfg.Rewriter; rw != nil && !rw.Inbound(msg, f) {
		return
	}
	l.stats.received.Add(1)
	if box := l.recv.Load(); box != nil {
		box.r.ReceiveMessage(msg, f)
	}
}

func (l *Layer) report(f Flow, v Violation) {
	if r, ok := l.cfg.Guard.(GuardReporter); ok {
		r.Report(f.Transport, f.Remote, v)
	}
}

func (l *Layer) allow(transport string, remote netip.AddrPort) bool {
	g := l.cfg.Guard
	if g == nil || g.Allow(transport, remote) {
		return true
	}
	l.stats.guardDropped.Add(1)
	return false
}

// fixVia records where a request really came from in its top Via: received
// when the sent-by host is not the source address (RFC 3261 §18.2.1), rport
// when the client asked for it (RFC 3581 §4) or force says to act as if it
// had. With rport, received is written even when it equals sent-by (§4).
func fixVia(req *sip.Request, src netip.AddrPort, force bool) {
	via := req.Via()
	if via == nil || !src.IsValid() {
		return
	}
	ip := src.Addr()
	rport, hasRport := via.Params.Get("rport")
	forced := force && !hasRport
	host, err := netip.ParseAddr(via.Host)
	received := err != nil || host.Unmap() != ip || hasRport || forced
	setPort := hasRport && rport == "" || forced
	// Both values are cut from one string: one allocation, not two.
	var buf [64]byte
	b := buf[:0]
	if received {
		b = ip.AppendTo(b)
	}
	mid := len(b)
	if setPort {
		b = strconv.AppendUint(b, uint64(src.Port()), 10)
	}
	vals := string(b)
	if received {
		via.Params.Add("received", vals[:mid])
	}
	if setPort {
		via.Params.Add("rport", vals[mid:])
	}
}

// ResponseTarget returns where the response to req, which arrived on f, goes
// (RFC 3261 §18.2.2, RFC 3581 §4): back on the same connection for streams
// (or to the Via address if it has closed), to the source address and port
// for UDP with rport, else to the received address and sent-by port.
func ResponseTarget(req *sip.Request, f Flow) Target {
	t := f.Target()
	if f.Transport != UDP {
		return t
	}
	via := req.Via()
	if via == nil {
		return t
	}
	if _, ok := via.Params.Get("rport"); ok {
		return t
	}
	port := via.Port
	if port == 0 {
		port = int(DefaultPort(UDP))
	}
	t.Addr = netip.AddrPortFrom(f.Remote.Addr(), uint16(port))
	return t
}

// Encode serialises msg for t. For a request whose top Via has no host yet,
// it first fills in the Via transport and sent-by from the listener that
// will carry it (RFC 3261 §18.1.1), moving a request too large for UDP to
// TCP unless t.NoSizeSwitch is set. The Rewriter, if any, then sees it. It
// returns the target actually to use.
func (l *Layer) Encode(msg sip.Message, t Target) (Target, []byte, error) {
	var via *sip.ViaHeader
	if req, ok := msg.(*sip.Request); ok {
		if v := req.Via(); v != nil && v.Host == "" {
			via = v
		}
	}
	if via != nil {
		if err := l.fillVia(via, t); err != nil {
			return t, nil, err
		}
	}
	data, err := l.rewriteAndMarshal(msg, t)
	if err != nil {
		return t, nil, err
	}
	if via != nil && t.Transport == UDP && !t.NoSizeSwitch && len(data) > l.cfg.UDPMaxSize {
		t2 := t
		t2.Transport = TCP
		if l.listenerFor(t2) != nil {
			t = t2
			via.Host = ""
			if err := l.fillVia(via, t); err != nil {
				return t, nil, err
			}
			if data, err = l.rewriteAndMarshal(msg, t); err != nil {
				return t, nil, err
			}
		}
	}
	if len(data) > l.cfg.MaxMessageSize {
		return t, nil, ErrMessageTooLarge
	}
	return t, data, nil
}

func (l *Layer) rewriteAndMarshal(msg sip.Message, t Target) ([]byte, error) {
	msg, err := l.rewrite(msg, t)
	if err != nil {
		return nil, err
	}
	bp, b := l.appendPooled(msg)
	data := bytes.Clone(b)
	l.release(bp, b)
	return data, nil
}

// rewrite runs the Rewriter's Outbound on msg for t.
func (l *Layer) rewrite(msg sip.Message, t Target) (sip.Message, error) {
	if rw := l.cfg.Rewriter; rw != nil {
		var ok bool
		if msg, ok = rw.Outbound(msg, t); !ok {
			return nil, ErrDropped
		}
	}
	return msg, nil
}

// appendPooled encodes msg into a pooled buffer; release gives it back.
func (l *Layer) appendPooled(msg sip.Message) (*[]byte, []byte) {
	bp := l.bufs.Get()
	return bp, sip.AppendMessage((*bp)[:0], msg)
}

func (l *Layer) release(bp *[]byte, b []byte) { l.bufs.Put(bp, b) }

// sendDatagram encodes res into a pooled buffer and sends it: Send copies
// or sends a datagram before it returns, so, unlike a stream's queue,
// nothing keeps the bytes (a response has no Via of ours to fill or size
// switch to make).
func (l *Layer) sendDatagram(res *sip.Response, t Target) error {
	msg, err := l.rewrite(res, t)
	if err != nil {
		return err
	}
	bp, b := l.appendPooled(msg)
	err = ErrMessageTooLarge
	if len(b) <= l.cfg.MaxMessageSize {
		err = l.Send(b, t, nil)
	}
	l.release(bp, b)
	return err
}

// SendEncodedResponse sends data, a response its handler encoded (see
// sip.EncodedWriter: no Server or User-Agent field), to t as SendMessage
// sends a response. It reports false, sending nothing, when a Rewriter is
// configured that does not pass such responses (Passthrough): the response
// must then go through SendMessage for the Rewriter to see it. data is not
// kept after it returns (a stream's queue gets a copy).
func (l *Layer) SendEncodedResponse(data []byte, t Target) (bool, error) {
	if rw := l.cfg.Rewriter; rw != nil && !passes(rw) {
		return false, nil
	}
	if len(data) > l.cfg.MaxMessageSize {
		return true, ErrMessageTooLarge
	}
	if t.Transport != UDP {
		data = bytes.Clone(data)
	}
	return true, l.Send(data, t, nil)
}

func (l *Layer) fillVia(via *sip.ViaHeader, t Target) error {
	ln := l.listenerFor(t)
	if ln == nil {
		ln = l.anyListener(t)
		if ln == nil {
			return fmt.Errorf("%w %s", ErrNoListener, t.Transport)
		}
	}
	via.Transport = t.Transport
	via.Host = ln.advHost
	via.Port = ln.advPort
	if via.ProtocolName == "" {
		via.ProtocolName, via.ProtocolVersion = "SIP", "2.0"
	}
	return nil
}

// Send writes data, an encoded message, to t. For UDP the datagram is sent
// before Send returns, or, while the listener's reader handles a batch of
// datagrams it read together, with the others that batch sends once it is
// handled (one sendmmsg); either way data may be reused at once. For
// streams the data is queued on the connection to t (dialling it if
// needed) and written in order after everything queued before it; a failure to connect or write is reported later through
// onErr, if not nil. An error returned by Send means onErr will not be
// called.
func (l *Layer) Send(data []byte, t Target, onErr func(error)) error {
	switch t.Transport {
	case UDP:
		ln := l.listenerFor(t)
		if ln == nil {
			return fmt.Errorf("%w UDP", ErrNoListener)
		}
		if tap := l.cfg.Tap; tap != nil {
			tap.TapMessage(Out, Flow{Transport: UDP, Local: ln.addr, Remote: t.Addr}, data)
		}
		if q, ok := ln.pc.(batchSender); ok && q.queue(data, t.Addr) {
			l.stats.sent.Add(1)
			return nil
		}
		if _, err := ln.pc.WriteToUDPAddrPort(data, t.Addr); err != nil {
			return fmt.Errorf("transport: send to %s: %w", t.Addr, err)
		}
		l.stats.sent.Add(1)
		return nil
	case TCP, TLS, WS, WSS, SCTP:
		c, dial, err := l.connFor(t)
		if err != nil {
			return err
		}
		err = c.enqueue(outItem{data: data, onErr: onErr})
		if errors.Is(err, ErrQueueFull) {
			l.stats.queueFull.Add(1)
		}
		if dial {
			// Started after the first message is queued, so that a dial
			// failing at once still reports it through onErr. connFor
			// counted it in l.wg.
			go l.dial(c, t)
		}
		return err
	default:
		return fmt.Errorf("%w %q", ErrUnknownTransport, t.Transport)
	}
}

// SendMessage encodes msg for t and sends it; see Encode and Send.
func (l *Layer) SendMessage(msg sip.Message, t Target, onErr func(error)) error {
	if res, ok := msg.(*sip.Response); ok && t.Transport == UDP {
		return l.sendDatagram(res, t)
	}
	t, data, err := l.Encode(msg, t)
	if err != nil {
		return err
	}
	return l.Send(data, t, onErr)
}

// connFor returns the connection to use for t and whether the caller must
// start dialling it. Concurrent first sends to one destination share the one
// connection.
func (l *Layer) connFor(t Target) (*conn, bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil, false, ErrClosed
	}
	if t.ConnID != 0 {
		// Connection IDs are per process: a stored ID from another run or
		// instance may name some other peer's connection now, so it counts
		// only when the remote address (when given) agrees.
		if c := l.conns[t.ConnID]; c != nil && !c.isClosed() &&
			(!t.Addr.IsValid() || c.remote == t.Addr) {
			return c, false, nil
		}
		if t.Transport == WS || t.Transport == WSS {
			return nil, false, ErrFlowGone
		}
	}
	key := connKey{t.Transport, t.Addr}
	if c := l.byAddr[key]; c != nil && !c.isClosed() {
		return c, false, nil
	}
	if !t.Addr.IsValid() {
		return nil, false, fmt.Errorf("transport: no address for %s target", t.Transport)
	}
	if len(l.conns) >= l.cfg.MaxConns {
		return nil, false, ErrTooManyConns
	}
	c := l.newConn(t.Transport, nil, t.Addr)
	c.dialTarget = t
	l.conns[c.id] = c
	l.byAddr[key] = c
	l.wg.Add(1) // under l.mu, so never after Close's Wait has begun
	return c, true, nil
}

// register makes an accepted connection known for sends.
func (l *Layer) register(c *conn) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return false
	}
	if len(l.conns) >= l.cfg.MaxConns {
		return false
	}
	l.conns[c.id] = c
	l.byAddr[connKey{c.transport, c.flow.Remote}] = c
	l.stats.accepted.Add(1)
	return true
}

func (l *Layer) unregister(c *conn) {
	l.mu.Lock()
	delete(l.conns, c.id)
	key := connKey{c.transport, c.flow.Remote}
	if l.byAddr[key] == c {
		delete(l.byAddr, key)
	}
	if c.dialTarget.Addr.IsValid() {
		key = connKey{c.transport, c.dialTarget.Addr}
		if l.byAddr[key] == c {
			delete(l.byAddr, key)
		}
	}
	var hooks []func(Flow)
	if c.established() {
		for _, h := range l.closeHooks {
			hooks = append(hooks, h)
		}
	}
	l.mu.Unlock()
	for _, h := range hooks {
		h(c.flow)
	}
}

// janitor closes idle connections and runs CRLF keepalives.
func (l *Layer) janitor() {
	defer l.wg.Done()
	tick := time.Second
	for _, d := range []time.Duration{l.cfg.IdleTimeout / 4, l.cfg.KeepAliveInterval / 4, l.cfg.KeepAliveTimeout / 4} {
		if d > 0 && d < tick {
			tick = max(d, 10*time.Millisecond)
		}
	}
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-l.done:
			return
		case now := <-t.C:
			l.mu.Lock()
			conns := make([]*conn, 0, len(l.conns))
			for _, c := range l.conns {
				conns = append(conns, c)
			}
			l.mu.Unlock()
			for _, c := range conns {
				c.tick(now)
			}
		}
	}
}

func addrPortOf(a net.Addr) netip.AddrPort {
	switch v := a.(type) {
	case *net.TCPAddr:
		return unmap(v.AddrPort())
	case *net.UDPAddr:
		return unmap(v.AddrPort())
	case nil:
		return netip.AddrPort{}
	}
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return netip.AddrPort{}
	}
	return unmap(ap)
}

func unmap(ap netip.AddrPort) netip.AddrPort {
	if ap.Addr().Is4In6() {
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	}
	return ap
}

var _ = context.Background
