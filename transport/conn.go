package transport

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gobwas/ws"
)

type outKind uint8

const (
	outMessage outKind = iota // a SIP message (framed for WebSocket)
	outRaw                    // bytes written as they are (CRLF keepalives)
	outWSPong                 // WebSocket pong carrying data
	outWSClose                // WebSocket close frame
)

type outItem struct {
	data  []byte
	onErr func(error)
	kind  outKind
}

// conn is one stream connection, accepted or dialled.
type conn struct {
	l          *Layer
	id         uint64
	transport  string
	ln         *Listener // nil when dialled
	dialTarget Target

	mu     sync.Mutex // guards nc, closed, ready and the queue against close
	nc     net.Conn
	closed bool
	ready  bool
	out    chan outItem
	done   chan struct{}
	flow   Flow           // set before ready, read-only after
	remote netip.AddrPort // the peer; set at creation, never changes
	wsRole int            // 0 none, 1 server, 2 client

	lastIn   atomic.Int64 // unix nanoseconds
	lastOut  atomic.Int64
	pingSent atomic.Int64
}

const (
	wsNone = iota
	wsServer
	wsClient
)

func (l *Layer) newConn(transport string, ln *Listener, remote netip.AddrPort) *conn {
	c := &conn{
		l:         l,
		id:        l.nextID.Add(1),
		transport: transport,
		ln:        ln,
		remote:    remote,
		out:       make(chan outItem, l.cfg.WriteQueue),
		done:      make(chan struct{}),
	}
	now := time.Now().UnixNano()
	c.lastIn.Store(now)
	c.lastOut.Store(now)
	return c
}

func (c *conn) isClosed() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

func (c *conn) established() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ready
}

// enqueue queues an item for the writer without blocking.
func (c *conn) enqueue(it outItem) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return ErrConnClosed
	}
	select {
	case c.out <- it:
		return nil
	default:
		return ErrQueueFull
	}
}

// close tears the connection down once; queued messages fail with err.
func (c *conn) close(err error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed = true
	close(c.done)
	nc := c.nc
	c.mu.Unlock()
	if nc != nil {
		nc.Close()
	}
	c.l.unregister(c)
	if err == nil {
		err = ErrConnClosed
	}
	for {
		select {
		case it := <-c.out:
			if it.onErr != nil {
				it.onErr(err)
			}
		default:
			return
		}
	}
}

// serveAccepted runs the handshakes of an accepted connection, then reads it.
func (c *conn) serveAccepted() {
	defer c.l.wg.Done()
	l := c.l
	deadline := time.Now().Add(l.cfg.HandshakeTimeout)
	if c.ln.tlsConf != nil {
		tc := tls.Server(c.nc, c.ln.tlsConf)
		ctx, cancel := context.WithDeadline(context.Background(), deadline)
		err := tc.HandshakeContext(ctx)
		cancel()
		if err != nil {
			l.report(c.flow, ViolationHandshake)
			l.log.Debug("transport: tls handshake", "flow", c.flow, "err", err)
			c.nc.Close()
			return
		}
		c.nc = tc
	}
	if c.transport == WS || c.transport == WSS {
		if err := c.upgradeServer(deadline); err != nil {
			l.report(c.flow, ViolationHandshake)
			l.log.Debug("transport: websocket upgrade", "flow", c.flow, "err", err)
			c.nc.Close()
			return
		}
		c.wsRole = wsServer
	}
	if !l.register(c) {
		c.nc.Close()
		return
	}
	c.mu.Lock()
	c.ready = true
	c.mu.Unlock()
	l.wg.Add(1)
	go c.writeLoop()
	c.readLoop()
}

func (c *conn) upgradeServer(deadline time.Time) error {
	path := c.ln.opts.WSPath
	u := ws.Upgrader{
		// RFC 7118 §4.1: the "sip" subprotocol.
		Protocol: func(p []byte) bool { return string(p) == "sip" },
		OnRequest: func(uri []byte) error {
			if path != "" && string(uri) != path {
				return ws.RejectConnectionError(ws.RejectionStatus(404))
			}
			return nil
		},
	}
	c.nc.SetDeadline(deadline)
	_, err := u.Upgrade(c.nc)
	c.nc.SetDeadline(time.Time{})
	return err
}

// dial connects c to t and starts it, or fails everything queued on it.
func (l *Layer) dial(c *conn, t Target) {
	defer l.wg.Done()
	ctx, cancel := context.WithTimeout(context.Background(), l.cfg.ConnectTimeout)
	defer cancel()
	go func() {
		select {
		case <-c.done:
			cancel()
		case <-ctx.Done():
		}
	}()
	nc, role, err := l.dialConn(ctx, t)
	if err != nil {
		c.close(fmt.Errorf("transport: connect %s %s: %w", t.Transport, t.Addr, err))
		return
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		nc.Close()
		return
	}
	c.nc = nc
	c.wsRole = role
	c.flow = Flow{Transport: t.Transport, Local: addrPortOf(nc.LocalAddr()), Remote: t.Addr, ConnID: c.id}
	c.ready = true
	c.mu.Unlock()
	l.mu.Lock()
	l.byAddr[connKey{t.Transport, t.Addr}] = c
	l.mu.Unlock()
	l.stats.dialed.Add(1)
	l.wg.Add(2)
	go c.writeLoop()
	go func() {
		defer l.wg.Done()
		c.readLoop()
	}()
}

func (l *Layer) dialConn(ctx context.Context, t Target) (net.Conn, int, error) {
	var (
		nc  net.Conn
		err error
	)
	if t.Transport == SCTP {
		nc, err = dialSCTP(ctx, t.Addr, l.cfg.DSCP)
	} else {
		nc, err = l.dialer.DialContext(ctx, "tcp", t.Addr.String())
	}
	if err != nil {
		return nil, 0, err
	}
	if IsSecure(t.Transport) {
		conf := &tls.Config{MinVersion: tls.VersionTLS12}
		if l.cfg.ClientTLS != nil {
			conf = l.cfg.ClientTLS.Clone()
		}
		if conf.ServerName == "" {
			conf.ServerName = t.ServerName
			if conf.ServerName == "" {
				conf.ServerName = t.Addr.Addr().String()
			}
		}
		tc := tls.Client(nc, conf)
		if err := tc.HandshakeContext(ctx); err != nil {
			nc.Close()
			return nil, 0, err
		}
		nc = tc
	}
	if t.Transport == WS || t.Transport == WSS {
		d := ws.Dialer{
			Protocols: []string{"sip"},
			NetDial: func(context.Context, string, string) (net.Conn, error) {
				return nc, nil
			},
		}
		if dl, ok := ctx.Deadline(); ok {
			nc.SetDeadline(dl)
		}
		// The connection is already (TLS-)established: dial the plain scheme.
		_, br, _, err := d.Dial(ctx, "ws://"+t.Addr.String()+"/")
		nc.SetDeadline(time.Time{})
		if err != nil {
			nc.Close()
			return nil, 0, err
		}
		if br != nil {
			// Frames that arrived with the handshake response.
			nc = &prereadConn{Conn: nc, r: br}
		}
		return nc, wsClient, nil
	}
	return nc, wsNone, nil
}

// writeLoop writes queued items in order, batching what is queued.
func (c *conn) writeLoop() {
	defer c.l.wg.Done()
	var batch []outItem
	var bufs net.Buffers
	for {
		select {
		case <-c.done:
			return
		case it := <-c.out:
			batch = append(batch[:0], it)
		drain:
			for len(batch) < 64 {
				select {
				case it := <-c.out:
					batch = append(batch, it)
				default:
					break drain
				}
			}
			bufs = bufs[:0]
			for i := range batch {
				bufs = c.frame(bufs, &batch[i])
			}
			c.nc.SetWriteDeadline(time.Now().Add(c.l.cfg.WriteTimeout))
			_, err := bufs.WriteTo(c.nc)
			if err != nil {
				err = fmt.Errorf("transport: write %s: %w", c.flow, err)
				for _, it := range batch {
					if it.onErr != nil {
						it.onErr(err)
					}
				}
				c.close(err)
				return
			}
			c.lastOut.Store(time.Now().UnixNano())
			c.l.stats.sent.Add(uint64(len(batch)))
			clear(batch)
		}
	}
}

// frame appends the wire form of it to bufs, tapping SIP messages.
func (c *conn) frame(bufs net.Buffers, it *outItem) net.Buffers {
	if it.kind == outMessage {
		if tap := c.l.cfg.Tap; tap != nil {
			tap.TapMessage(Out, c.flow, it.data)
		}
	}
	if c.wsRole == wsNone {
		return append(bufs, it.data)
	}
	op := ws.OpText
	switch it.kind {
	case outWSPong:
		op = ws.OpPong
	case outWSClose:
		op = ws.OpClose
	case outRaw:
		op = ws.OpPing
	}
	h := ws.Header{Fin: true, OpCode: op, Length: int64(len(it.data))}
	payload := it.data
	if c.wsRole == wsClient {
		// RFC 6455 §5.3: client frames are masked.
		h.Masked = true
		h.Mask = ws.NewMask()
		payload = append([]byte(nil), payload...)
		ws.Cipher(payload, h.Mask, 0)
	}
	var hb [ws.MaxHeaderSize]byte
	w := fixedWriter{b: hb[:0]}
	_ = ws.WriteHeader(&w, h)
	return append(bufs, w.b, payload)
}

type fixedWriter struct{ b []byte }

func (w *fixedWriter) Write(p []byte) (int, error) {
	w.b = append(w.b, p...)
	return len(p), nil
}

func (c *conn) readLoop() {
	err := c.read()
	c.close(err)
}

func (c *conn) read() error {
	if c.wsRole != wsNone {
		return c.readWS()
	}
	l := c.l
	fr := newFramer(l.cfg.MaxHeaderSize, l.cfg.MaxMessageSize)
	buf := make([]byte, 8192)
	for {
		n, err := c.nc.Read(buf)
		if n > 0 {
			c.lastIn.Store(time.Now().UnixNano())
			fr.feed(buf[:n])
			for {
				kind, frame, ferr := fr.next()
				if ferr != nil {
					v := ViolationGarbage
					if errors.Is(ferr, ErrMessageTooLarge) {
						v = ViolationTooLarge
					}
					l.report(c.flow, v)
					return ferr
				}
				if kind == frameNone {
					break
				}
				switch kind {
				case framePing:
					_ = c.enqueue(outItem{data: crlf, kind: outRaw})
				case framePong:
					c.pingSent.Store(0)
				case frameMessage:
					if !l.allow(c.transport, c.flow.Remote) {
						return errors.New("transport: source refused by guard")
					}
					l.deliver(frame, c.flow)
				}
			}
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
	}
}

var (
	crlf     = []byte("\r\n")
	crlfcrlf = []byte("\r\n\r\n")
)

// readWS reads WebSocket frames; each message carries one SIP message
// (RFC 7118 §5).
func (c *conn) readWS() error {
	l := c.l
	var msg []byte
	for {
		h, err := ws.ReadHeader(c.nc)
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		if h.Length > int64(l.cfg.MaxMessageSize) || int64(len(msg))+h.Length > int64(l.cfg.MaxMessageSize) {
			l.report(c.flow, ViolationTooLarge)
			return ErrMessageTooLarge
		}
		payload := make([]byte, h.Length)
		if _, err := io.ReadFull(c.nc, payload); err != nil {
			return err
		}
		if h.Masked {
			ws.Cipher(payload, h.Mask, 0)
		}
		c.lastIn.Store(time.Now().UnixNano())
		switch h.OpCode {
		case ws.OpPing:
			_ = c.enqueue(outItem{data: payload, kind: outWSPong})
			continue
		case ws.OpPong:
			c.pingSent.Store(0)
			continue
		case ws.OpClose:
			_ = c.enqueue(outItem{data: nil, kind: outWSClose})
			return nil
		case ws.OpText, ws.OpBinary, ws.OpContinuation:
		default:
			l.report(c.flow, ViolationGarbage)
			return errGarbage
		}
		msg = append(msg, payload...)
		if !h.Fin {
			continue
		}
		if !l.allow(c.transport, c.flow.Remote) {
			return errors.New("transport: source refused by guard")
		}
		l.deliver(msg, c.flow)
		msg = nil
	}
}

// tick runs the idle timeout and the keepalive for c.
func (c *conn) tick(now time.Time) {
	if !c.established() || c.isClosed() {
		return
	}
	cfg := &c.l.cfg
	last := max(c.lastIn.Load(), c.lastOut.Load())
	idle := now.Sub(time.Unix(0, last))
	if idle > cfg.IdleTimeout {
		c.close(errors.New("transport: idle timeout"))
		return
	}
	if sent := c.pingSent.Load(); sent != 0 {
		if now.Sub(time.Unix(0, sent)) > cfg.KeepAliveTimeout {
			c.close(errors.New("transport: keepalive timeout"))
		}
		return
	}
	if cfg.KeepAliveInterval > 0 && now.Sub(time.Unix(0, c.lastIn.Load())) > cfg.KeepAliveInterval {
		c.pingSent.Store(now.UnixNano())
		_ = c.enqueue(outItem{data: crlfcrlf, kind: outRaw})
	}
}

// prereadConn reads what a handshake buffered before the connection itself.
type prereadConn struct {
	net.Conn
	r io.Reader
}

func (p *prereadConn) Read(b []byte) (int, error) { return p.r.Read(b) }
