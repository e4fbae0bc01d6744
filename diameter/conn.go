package diameter

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fiorix/go-diameter/v4/diam"
	"github.com/fiorix/go-diameter/v4/diam/datatype"
)

// State is the RFC 3539 §3.4 watchdog state of a connection or peer.
type State int32

// Watchdog states (RFC 3539 Appendix A). Only StateOkay carries requests.
const (
	StateInitial State = iota // connecting, CER/CEA not yet done
	StateOkay                 // open and answering
	StateSuspect              // silent for Tw after a DWR: failed over, closed after another Tw
	StateDown                 // closed
	StateReopen               // re-established, proving itself with DWR/DWA before carrying traffic
)

// String names the state.
func (s State) String() string {
	switch s {
	case StateInitial:
		return "INITIAL"
	case StateOkay:
		return "OKAY"
	case StateSuspect:
		return "SUSPECT"
	case StateDown:
		return "DOWN"
	case StateReopen:
		return "REOPEN"
	}
	return fmt.Sprintf("State(%d)", int32(s))
}

// PeerInfo is what the other side of a connection advertised in its CER or
// CEA (RFC 6733 §5.3).
type PeerInfo struct {
	Host            string // Origin-Host
	Realm           string // Origin-Realm
	Addr            net.Addr
	Apps            []App
	Relay           bool // advertised the relay application: accepts every application
	ProductName     string
	VendorID        uint32
	OriginStateID   uint32
	HostIPAddresses []net.IP
}

// Supports reports whether the peer accepts requests of application app:
// it advertised app or the relay application. The common application 0
// (watchdog, disconnect) is always supported.
func (p PeerInfo) Supports(app uint32) bool {
	if app == AppCommon || p.Relay {
		return true
	}
	for _, a := range p.Apps {
		if a.ID == app {
			return true
		}
	}
	return false
}

type reply struct {
	m   *Message
	err error
}

// Conn is one open Diameter connection, after the capabilities exchange. A
// Server creates one per accepted peer and a Peer one per connection it
// dials; both directions can send requests (Do) and serve them
// (Config.Handler). Conn runs the RFC 3539 watchdog and answers DWR and DPR
// itself. All methods are safe for concurrent use.
type Conn struct {
	cfg  *Config
	nc   net.Conn
	br   *bufio.Reader
	e2e  *idGen
	peer PeerInfo
	log  *slog.Logger

	state      atomic.Int32
	hbh        atomic.Uint32
	lastRecv   atomic.Int64 // unix nanoseconds
	dwrPending atomic.Bool
	numDWA     atomic.Int32
	stats      struct{ dwrSent, dwaReceived, dwrReceived atomic.Uint64 }

	wmu sync.Mutex

	mu      sync.Mutex
	pending map[uint32]chan reply
	err     error

	// baseCtx is the parent of every handler context; canceled on close,
	// as net/http's conn does for its requests.
	baseCtx context.Context
	cancel  context.CancelFunc
	closing chan struct{}
	done    chan struct{}
	once    sync.Once
	sem     chan struct{}
	onClose func(*Conn)
}

// idGen makes End-to-End Identifiers (RFC 6733 §3): the high 12 bits start
// as the low 12 bits of the current time, the low 20 bits at random, and
// the whole is incremented for every request.
type idGen struct{ v atomic.Uint32 }

func newIDGen() *idGen {
	g := &idGen{}
	g.v.Store(uint32(time.Now().Unix()&0xfff)<<20 | rand.Uint32()&0xfffff)
	return g
}

func (g *idGen) next() uint32 { return g.v.Add(1) }

func newConn(nc net.Conn, br *bufio.Reader, cfg *Config, e2e *idGen, peer PeerInfo, st State, onClose func(*Conn)) *Conn {
	ctx, cancel := context.WithCancel(context.Background())
	c := &Conn{
		cfg: cfg, nc: nc, br: br, e2e: e2e, peer: peer,
		log:     cfg.Logger.With("peer", peer.Host, "remote", nc.RemoteAddr().String()),
		pending: make(map[uint32]chan reply),
		baseCtx: ctx, cancel: cancel,
		closing: make(chan struct{}),
		done:    make(chan struct{}),
		sem:     make(chan struct{}, cfg.MaxConcurrent),
		onClose: onClose,
	}
	c.hbh.Store(rand.Uint32())
	c.lastRecv.Store(time.Now().UnixNano())
	c.state.Store(int32(st))
	return c
}

func (c *Conn) start() {
	go c.readLoop()
	go c.watchdog()
}

// Peer returns what the other side advertised in the capabilities exchange.
func (c *Conn) Peer() PeerInfo { return c.peer }

// LocalAddr returns the local network address.
func (c *Conn) LocalAddr() net.Addr { return c.nc.LocalAddr() }

// RemoteAddr returns the remote network address.
func (c *Conn) RemoteAddr() net.Addr { return c.nc.RemoteAddr() }

// State returns the connection's watchdog state.
func (c *Conn) State() State { return State(c.state.Load()) }

// Done is closed once the connection is closed and its goroutines exited.
func (c *Conn) Done() <-chan struct{} { return c.done }

// WatchdogStats counts a connection's watchdog traffic.
type WatchdogStats struct {
	DWRSent     uint64 // Device-Watchdog-Requests this side sent
	DWAReceived uint64 // answers to them
	DWRReceived uint64 // requests the peer sent (and this side answered)
}

// Watchdog returns the connection's watchdog counters.
func (c *Conn) Watchdog() WatchdogStats {
	return WatchdogStats{
		DWRSent:     c.stats.dwrSent.Load(),
		DWAReceived: c.stats.dwaReceived.Load(),
		DWRReceived: c.stats.dwrReceived.Load(),
	}
}

// Err returns why the connection closed, or nil while it is open.
func (c *Conn) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Do sends a request and waits for its answer. It fills Origin-Host and
// Origin-Realm when absent, assigns a new Hop-by-Hop Identifier and, when
// the header's End-to-End Identifier is 0, a new one (RFC 6733 §3). Do
// uses req until it returns; the caller must not change it meanwhile.
//
// Without a deadline on ctx, Config.RequestTimeout applies. Errors wrap
// ErrNotOpen, ErrApplicationUnsupported, ErrTooManyPending (not sent),
// ErrConnLost (maybe delivered) or ErrTimeout. An answer with an error
// Result-Code is returned as an answer, not as an error.
func (c *Conn) Do(ctx context.Context, req *Message) (*Message, error) {
	if req.Header.CommandFlags&FlagRequest == 0 {
		return nil, ErrNotRequest
	}
	if st := c.State(); st != StateOkay {
		return nil, fmt.Errorf("%w: %s is %s", ErrNotOpen, c.peer.Host, st)
	}
	if !c.peer.Supports(req.Header.ApplicationID) {
		return nil, fmt.Errorf("%w: %s does not advertise application %d", ErrApplicationUnsupported, c.peer.Host, req.Header.ApplicationID)
	}
	return c.roundTrip(ctx, req)
}

func (c *Conn) roundTrip(ctx context.Context, req *Message) (*Message, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.cfg.RequestTimeout)
		defer cancel()
	}
	body := Body(req)
	if body.Find(codeOriginHost, 0) == nil {
		req.AddAVP(NewAVP(codeOriginHost, 0, datatype.DiameterIdentity(c.cfg.OriginHost)))
	}
	if body.Find(codeOriginRealm, 0) == nil {
		req.AddAVP(NewAVP(codeOriginRealm, 0, datatype.DiameterIdentity(c.cfg.OriginRealm)))
	}
	hbh := c.hbh.Add(1)
	req.Header.HopByHopID = hbh
	if req.Header.EndToEndID == 0 {
		req.Header.EndToEndID = c.e2e.next()
	}
	ch := make(chan reply, 1)
	c.mu.Lock()
	switch {
	case c.err != nil:
		err := c.err
		c.mu.Unlock()
		return nil, fmt.Errorf("%w: %w", ErrNotOpen, err)
	case len(c.pending) >= c.cfg.MaxPending:
		c.mu.Unlock()
		return nil, fmt.Errorf("%w: %d to %s", ErrTooManyPending, len(c.pending), c.peer.Host)
	}
	c.pending[hbh] = ch
	c.mu.Unlock()
	defer c.dropPending(hbh)

	if err := c.write(req); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConnLost, err)
	}
	select {
	case r := <-ch:
		return r.m, r.err
	case <-ctx.Done():
		return nil, fmt.Errorf("%w: command %d to %s: %w", ErrTimeout, req.Header.CommandCode, c.peer.Host, ctx.Err())
	}
}

func (c *Conn) dropPending(hbh uint32) {
	c.mu.Lock()
	delete(c.pending, hbh)
	c.mu.Unlock()
}

// deliver hands an answer (or a decoding error) to the request waiting for
// it. Answers nobody waits for are discarded (RFC 6733 §6.2.1).
func (c *Conn) deliver(hbh uint32, r reply) {
	c.mu.Lock()
	ch := c.pending[hbh]
	delete(c.pending, hbh)
	c.mu.Unlock()
	if ch == nil {
		c.log.Debug("diameter: discarding answer with unknown hop-by-hop id", "hbh", hbh)
		return
	}
	ch <- r // buffered, and each channel receives once
}

// failPending fails every waiting request with err.
func (c *Conn) failPending(err error) {
	c.mu.Lock()
	p := c.pending
	c.pending = make(map[uint32]chan reply)
	c.mu.Unlock()
	for _, ch := range p {
		ch <- reply{err: err}
	}
}

// write serializes and sends m. A failed write closes the connection: a
// partial write leaves the stream unusable.
func (c *Conn) write(m *Message) error {
	m.Header.MessageLength = uint32(m.Len())
	b, err := m.Serialize()
	if err != nil {
		return fmt.Errorf("diameter: serialize command %d: %w", m.Header.CommandCode, err)
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	select {
	case <-c.closing:
		return ErrClosed
	default:
	}
	_ = c.nc.SetWriteDeadline(time.Now().Add(c.cfg.WriteTimeout))
	if _, err := c.nc.Write(b); err != nil {
		err = fmt.Errorf("diameter: write to %s: %w", c.peer.Host, err)
		c.closeWith(err)
		return err
	}
	return nil
}

// Close sends a Disconnect-Peer-Request (RFC 6733 §5.4), waits for the
// answer for at most a second, and closes the connection.
func (c *Conn) Close() error {
	if c.State() == StateOkay || c.State() == StateSuspect {
		req := diam.NewRequest(CmdDisconnectPeer, AppCommon, c.cfg.Dictionary)
		req.Header.EndToEndID = 0
		req.AddAVP(NewAVP(codeDisconnectCause, 0, datatype.Enumerated(DisconnectRebooting)))
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, _ = c.roundTrip(ctx, req)
		cancel()
	}
	c.closeWith(ErrClosed)
	<-c.done
	return nil
}

// closeWith closes the connection once, recording why.
func (c *Conn) closeWith(err error) {
	c.once.Do(func() {
		c.mu.Lock()
		c.err = err
		c.mu.Unlock()
		c.state.Store(int32(StateDown))
		close(c.closing)
		c.cancel()
		_ = c.nc.Close()
		c.failPending(fmt.Errorf("%w: %w", ErrConnLost, err))
		if !errors.Is(err, ErrClosed) {
			c.log.Info("diameter: connection closed", "err", err)
		}
	})
}

func (c *Conn) readLoop() {
	defer func() {
		if c.onClose != nil {
			c.onClose(c)
		}
		close(c.done)
	}()
	for {
		m, err := ReadMessage(c.br, c.cfg.Dictionary, c.cfg.MaxMessageSize)
		if err != nil {
			var de *DecodeError
			if errors.As(err, &de) && de.Header != nil {
				c.lastRecv.Store(time.Now().UnixNano())
				c.log.Warn("diameter: malformed message", "err", err)
				if de.Header.CommandFlags&FlagRequest != 0 {
					_ = c.write(c.protocolError(de))
				} else {
					c.deliver(de.Header.HopByHopID, reply{err: err})
				}
				continue
			}
			if errors.Is(err, io.EOF) {
				err = fmt.Errorf("diameter: peer closed the connection: %w", err)
			}
			c.closeWith(err)
			return
		}
		c.received(m)
	}
}

// received runs in the read loop for every decoded message.
func (c *Conn) received(m *Message) {
	c.lastRecv.Store(time.Now().UnixNano())
	h := m.Header
	isDWA := h.CommandCode == CmdDeviceWatchdog && h.CommandFlags&FlagRequest == 0
	// RFC 3539 Appendix A: any message takes SUSPECT back to OKAY; in
	// REOPEN only DWAs count, and ReopenDWAs of them reopen the connection.
	if isDWA {
		c.stats.dwaReceived.Add(1)
		c.dwrPending.Store(false)
		if c.State() == StateReopen && int(c.numDWA.Add(1)) >= c.cfg.ReopenDWAs {
			c.state.CompareAndSwap(int32(StateReopen), int32(StateOkay))
		}
	}
	c.state.CompareAndSwap(int32(StateSuspect), int32(StateOkay))

	if h.CommandFlags&FlagRequest == 0 {
		if !isDWA {
			c.deliver(h.HopByHopID, reply{m: m})
		}
		return
	}
	switch {
	case h.ApplicationID == AppCommon && h.CommandCode == CmdDeviceWatchdog:
		c.stats.dwrReceived.Add(1)
		a := answer(m, Success, c.cfg.OriginHost, c.cfg.OriginRealm)
		a.AddAVP(NewAVP(codeOriginStateID, 0, datatype.Unsigned32(c.cfg.OriginStateID)))
		_ = c.write(a)
	case h.ApplicationID == AppCommon && h.CommandCode == CmdDisconnectPeer:
		_ = c.write(answer(m, Success, c.cfg.OriginHost, c.cfg.OriginRealm))
		cause, _ := Body(m).Uint32(codeDisconnectCause, 0)
		go c.closeWith(fmt.Errorf("diameter: %s sent DPR (Disconnect-Cause %d)", c.peer.Host, cause))
	case h.ApplicationID == AppCommon && h.CommandCode == CmdCapabilitiesExchange:
		// RFC 6733 §5.6: a CER on an open connection is rejected.
		_ = c.write(answer(m, UnableToComply, c.cfg.OriginHost, c.cfg.OriginRealm))
	default:
		select {
		case c.sem <- struct{}{}:
			go c.serve(m)
		default:
			_ = c.write(answer(m, TooBusy, c.cfg.OriginHost, c.cfg.OriginRealm))
		}
	}
}

// protocolError answers a request that could not be decoded (RFC 6733 §7.2).
func (c *Conn) protocolError(de *DecodeError) *Message {
	h := de.Header
	flags := h.CommandFlags & FlagProxiable
	if de.ResultCode >= 3000 && de.ResultCode < 4000 {
		flags |= FlagError
	}
	a := diam.NewMessage(h.CommandCode, flags, h.ApplicationID, h.HopByHopID, h.EndToEndID, c.cfg.Dictionary)
	a.AddAVP(NewAVP(codeResultCode, 0, datatype.Unsigned32(de.ResultCode)))
	a.AddAVP(NewAVP(codeOriginHost, 0, datatype.DiameterIdentity(c.cfg.OriginHost)))
	a.AddAVP(NewAVP(codeOriginRealm, 0, datatype.DiameterIdentity(c.cfg.OriginRealm)))
	a.AddAVP(NewAVPFlags(codeErrorMessage, 0, 0, datatype.UTF8String(de.Reason)))
	return a
}

func (c *Conn) serve(m *Message) {
	defer func() { <-c.sem }()
	r := &Request{Msg: m, Conn: c}
	ctx, cancel := context.WithTimeout(c.baseCtx, c.cfg.RequestTimeout)
	defer cancel()
	ans, err := c.callHandler(ctx, r)
	switch {
	case err != nil:
		c.log.Debug("diameter: handler error", "cmd", m.Header.CommandCode, "err", err)
		ans = errorAnswer(r, err)
	case ans == nil:
		ans = r.Answer(UnableToDeliver)
	}
	// Whatever the handler built (a relay returns the upstream answer), the
	// answer travels back with this request's identifiers (RFC 6733 §6.2).
	h := ans.Header
	h.CommandFlags &^= FlagRequest
	h.CommandCode = m.Header.CommandCode
	h.ApplicationID = m.Header.ApplicationID
	h.HopByHopID = m.Header.HopByHopID
	h.EndToEndID = m.Header.EndToEndID
	_ = c.write(ans)
}

func (c *Conn) callHandler(ctx context.Context, r *Request) (ans *Message, err error) {
	defer func() {
		if p := recover(); p != nil {
			c.log.Error("diameter: handler panic", "cmd", r.Msg.Header.CommandCode, "panic", p)
			ans, err = nil, fmt.Errorf("diameter: handler panic: %v", p)
		}
	}()
	if c.cfg.Handler == nil {
		return r.Answer(CommandUnsupported), nil
	}
	return c.cfg.Handler.ServeDiameter(ctx, r)
}

// tw returns Tw with the RFC 3539 §3.4.1 jitter.
func (c *Conn) tw() time.Duration {
	tw := c.cfg.WatchdogInterval
	j := min(2*time.Second, tw/8)
	if j <= 0 {
		return tw
	}
	return tw - j + rand.N(2*j+1)
}

func (c *Conn) sendDWR() {
	req := diam.NewRequest(CmdDeviceWatchdog, AppCommon, c.cfg.Dictionary)
	req.AddAVP(NewAVP(codeOriginHost, 0, datatype.DiameterIdentity(c.cfg.OriginHost)))
	req.AddAVP(NewAVP(codeOriginRealm, 0, datatype.DiameterIdentity(c.cfg.OriginRealm)))
	req.AddAVP(NewAVP(codeOriginStateID, 0, datatype.Unsigned32(c.cfg.OriginStateID)))
	req.Header.HopByHopID = c.hbh.Add(1)
	req.Header.EndToEndID = c.e2e.next()
	c.dwrPending.Store(true)
	c.stats.dwrSent.Add(1)
	_ = c.write(req)
}

// watchdog runs the timer side of the RFC 3539 Appendix A state machine;
// the receive side is in received.
func (c *Conn) watchdog() {
	if c.State() == StateReopen {
		c.sendDWR()
	}
	t := time.NewTimer(c.tw())
	defer t.Stop()
	for {
		select {
		case <-c.closing:
			return
		case <-t.C:
		}
		tw := c.tw()
		switch c.State() {
		case StateOkay:
			// "Receive non-DWA: SetWatchdog()": rather than resetting the
			// timer per message, measure the silence when it fires.
			idle := time.Since(time.Unix(0, c.lastRecv.Load()))
			switch {
			case idle < tw:
				t.Reset(tw - idle)
			case !c.dwrPending.Load():
				c.sendDWR()
				t.Reset(tw)
			default:
				c.state.CompareAndSwap(int32(StateOkay), int32(StateSuspect))
				c.log.Warn("diameter: peer suspect, failing over", "silent", idle)
				c.failPending(fmt.Errorf("%w: watchdog: %s silent for %v", ErrConnLost, c.peer.Host, idle.Round(time.Millisecond)))
				t.Reset(tw)
			}
		case StateSuspect:
			c.closeWith(fmt.Errorf("diameter: watchdog: %s silent for 2*Tw", c.peer.Host))
			return
		case StateReopen:
			if c.dwrPending.Load() {
				c.closeWith(fmt.Errorf("diameter: watchdog: %s did not answer DWR while reopening", c.peer.Host))
				return
			}
			c.sendDWR()
			t.Reset(tw)
		default:
			return
		}
	}
}
