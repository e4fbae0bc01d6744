package transport

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/siphon-go/siphon/sip"
	"github.com/stretchr/testify/require"
)

func TestUDPRoundTripFillsViaAndRport(t *testing.T) {
	a, sa := newLayer(t, Config{}, UDP)
	b, sb := newLayer(t, Config{}, UDP)
	aAddr, bAddr := listenerAddr(t, a, UDP), listenerAddr(t, b, UDP)

	req := request(t, "OPTIONS", 1, "udp1")
	require.NoError(t, a.SendMessage(req, Target{Transport: UDP, Addr: bAddr}, nil))
	got := sb.next(t)
	in := got.msg.(*sip.Request)
	require.Equal(t, UDP, got.flow.Transport)
	require.Equal(t, aAddr, got.flow.Remote)
	via := in.Via()
	require.Equal(t, "127.0.0.1", via.Host)
	require.Equal(t, int(aAddr.Port()), via.Port)
	rport, _ := via.Params.Get("rport")
	require.Equal(t, strconv.Itoa(int(aAddr.Port())), rport) // RFC 3581: the source port
	require.Equal(t, ResponseTarget(in, got.flow).Addr, aAddr)

	res := sip.NewResponse(in, 200, "")
	require.NoError(t, b.SendMessage(res, ResponseTarget(in, got.flow), nil))
	back := sa.next(t)
	require.Equal(t, 200, back.msg.(*sip.Response).StatusCode)
}

// TestForceRport: a client behind a NAT that does not ask for rport (its
// Via names its private sent-by port, the datagram comes from another) gets
// its response at the source address and port only with Config.ForceRport,
// which writes received and rport as if it had asked (RFC 3581 §4).
func TestForceRport(t *testing.T) {
	for _, force := range []bool{false, true} {
		t.Run(fmt.Sprintf("force=%v", force), func(t *testing.T) {
			b, sb := newLayer(t, Config{ForceRport: force}, UDP)
			pc, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
			require.NoError(t, err)
			defer pc.Close()
			src := pc.LocalAddr().(*net.UDPAddr).AddrPort()
			msg := "OPTIONS sip:bob@example.com SIP/2.0\r\n" +
				"Via: SIP/2.0/UDP 192.168.1.10:5062;branch=z9hG4bKforce1\r\n" +
				"Max-Forwards: 70\r\nFrom: <sip:alice@example.com>;tag=a1\r\nTo: <sip:bob@example.com>\r\n" +
				"Call-ID: force1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
			_, err = pc.WriteToUDPAddrPort([]byte(msg), listenerAddr(t, b, UDP))
			require.NoError(t, err)
			got := sb.next(t)
			in := got.msg.(*sip.Request)
			via := in.Via()
			received, _ := via.Params.Get("received")
			require.Equal(t, "127.0.0.1", received)
			rport, hasRport := via.Params.Get("rport")
			rt := ResponseTarget(in, got.flow)
			if !force {
				require.False(t, hasRport)
				require.Equal(t, netip.MustParseAddrPort("127.0.0.1:5062"), rt.Addr, "RFC 3261 §18.2.2: received address, sent-by port")
				return
			}
			require.True(t, hasRport)
			require.Equal(t, strconv.Itoa(int(src.Port())), rport)
			require.Equal(t, src, rt.Addr)
			require.NoError(t, b.SendMessage(sip.NewResponse(in, 200, ""), rt, nil))
			require.NoError(t, pc.SetReadDeadline(time.Now().Add(5*time.Second)))
			buf := make([]byte, 4096)
			n, err := pc.Read(buf)
			require.NoError(t, err)
			require.True(t, strings.HasPrefix(string(buf[:n]), "SIP/2.0 200"))
			require.Contains(t, string(buf[:n]), "rport="+rport)
		})
	}
}

func TestTCPOrderedDeliveryAndOneConnection(t *testing.T) {
	a, sa := newLayer(t, Config{}, TCP)
	// The 800 responses are produced faster than a busy machine may write
	// them: the queue holds them all, so the test is about order, not about
	// shedding (ErrQueueFull, which the default 512 would give).
	b, sb := newLayer(t, Config{WriteQueue: 1024}, TCP)
	bAddr := listenerAddr(t, b, TCP)
	sb.handle(func(m sip.Message, f Flow) {
		req := m.(*sip.Request)
		for _, code := range []int{100, 180, 183, 200} {
			if err := b.SendMessage(sip.NewResponse(req, code, ""), ResponseTarget(req, f), nil); err != nil {
				panic(err)
			}
		}
	})
	const n = 200
	for i := 1; i <= n; i++ {
		require.NoError(t, a.SendMessage(request(t, "INVITE", i, "tcp1"), Target{Transport: TCP, Addr: bAddr}, nil))
	}
	for i := 1; i <= n; i++ {
		for _, code := range []int{100, 180, 183, 200} {
			r := sa.next(t)
			res := r.msg.(*sip.Response)
			require.Equal(t, code, res.StatusCode)
			require.EqualValues(t, i, res.CSeq().SeqNo)
		}
	}
	require.Equal(t, 1, a.Conns())
	require.Equal(t, 1, b.Conns())
}

func TestConcurrentFirstSendsShareOneConnection(t *testing.T) {
	a, _ := newLayer(t, Config{}, TCP)
	b, sb := newLayer(t, Config{}, TCP)
	bAddr := listenerAddr(t, b, TCP)
	var wg sync.WaitGroup
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			require.NoError(t, a.SendMessage(request(t, "OPTIONS", i+1, "coalesce"), Target{Transport: TCP, Addr: bAddr}, nil))
		}(i)
	}
	wg.Wait()
	conns := map[uint64]bool{}
	for i := 0; i < 50; i++ {
		conns[sb.next(t).flow.ConnID] = true
	}
	require.Len(t, conns, 1)
	require.Equal(t, 1, a.Conns())
}

func TestRefusedConnectionFailsFast(t *testing.T) {
	a, _ := newLayer(t, Config{}, TCP)
	// A port nobody listens on: bind then close.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	dead := addrPortOf(ln.Addr())
	ln.Close()

	errc := make(chan error, 1)
	start := time.Now()
	require.NoError(t, a.SendMessage(request(t, "INVITE", 1, "refused"), Target{Transport: TCP, Addr: dead}, func(err error) { errc <- err }))
	select {
	case err := <-errc:
		require.Error(t, err)
		require.ErrorIs(t, err, syscall.ECONNREFUSED)
		require.Less(t, time.Since(start), time.Second)
	case <-time.After(3 * time.Second):
		t.Fatal("refused connection not reported")
	}
	require.Eventually(t, func() bool { return a.Conns() == 0 }, time.Second, 10*time.Millisecond)
}

func TestBlackholeConnectTimesOut(t *testing.T) {
	// A dialer that never answers stands in for a peer that drops SYNs.
	a, _ := newLayer(t, Config{ConnectTimeout: 200 * time.Millisecond, Dialer: blackhole{}}, TCP)
	errc := make(chan error, 1)
	start := time.Now()
	require.NoError(t, a.SendMessage(request(t, "INVITE", 1, "bh"), Target{Transport: TCP, Addr: netip.MustParseAddrPort("192.0.2.1:5060")}, func(err error) { errc <- err }))
	err := <-errc
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.Less(t, time.Since(start), time.Second)
}

type blackhole struct{}

func (blackhole) DialContext(ctx context.Context, _, _ string) (net.Conn, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}

type recordingGuard struct {
	deny       netip.Addr
	mu         sync.Mutex
	violations []Violation
	checked    atomic.Int64
}

func (g *recordingGuard) Allow(_ string, remote netip.AddrPort) bool {
	g.checked.Add(1)
	return remote.Addr() != g.deny
}

func (g *recordingGuard) Report(_ string, _ netip.AddrPort, v Violation) {
	g.mu.Lock()
	g.violations = append(g.violations, v)
	g.mu.Unlock()
}

func (g *recordingGuard) seen() []Violation {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]Violation(nil), g.violations...)
}

func TestGuardDropsOneSourceListenerKeepsServingOthers(t *testing.T) {
	g := &recordingGuard{deny: netip.MustParseAddr("127.0.0.2")}
	b, sb := newLayer(t, Config{Guard: g}, UDP)
	bAddr := listenerAddr(t, b, UDP)
	bad, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP("127.0.0.2")})
	require.NoError(t, err)
	defer bad.Close()
	good, _ := newLayer(t, Config{}, UDP)

	msg := []byte(request(t, "OPTIONS", 1, "guard").String())
	for i := 0; i < 500; i++ {
		_, err := bad.WriteToUDPAddrPort(msg, bAddr)
		require.NoError(t, err)
		if i%50 == 49 {
			// Stay within the socket buffer: this tests the guard, not UDP loss.
			n := int64(i + 1)
			require.Eventually(t, func() bool { return g.checked.Load() >= n }, 2*time.Second, time.Millisecond)
		}
	}
	for i := 1; i <= 5; i++ {
		require.NoError(t, good.SendMessage(request(t, "OPTIONS", i, "guard-ok"), Target{Transport: UDP, Addr: bAddr}, nil))
		r := sb.next(t)
		require.Equal(t, "guard-ok", r.msg.CallID().Value())
	}
	sb.none(t, 100*time.Millisecond)
	require.GreaterOrEqual(t, g.checked.Load(), int64(5))
}

func TestGarbageOnStreamClosesAndIsReported(t *testing.T) {
	g := &recordingGuard{}
	b, sb := newLayer(t, Config{Guard: g}, TCP)
	for _, junk := range []string{"GET / HTTP/1.1\r\nHost: x\r\n\r\n", "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", "OPTIONS sip:a@b SIP/2.0\r\nVia: x\r\n\r\n"} {
		c, err := net.Dial("tcp", listenerAddr(t, b, TCP).String())
		require.NoError(t, err)
		_, err = c.Write([]byte(junk))
		require.NoError(t, err)
		c.SetReadDeadline(time.Now().Add(3 * time.Second))
		_, err = c.Read(make([]byte, 10))
		require.Error(t, err, "connection closed on %q", junk) // EOF or reset
		c.Close()
	}
	require.Eventually(t, func() bool { return len(g.seen()) == 3 }, 2*time.Second, 10*time.Millisecond)
	for _, v := range g.seen() {
		require.Equal(t, ViolationGarbage, v)
	}
	sb.none(t, 50*time.Millisecond)
}

func TestMalformedRequestAnswered400(t *testing.T) {
	b, sb := newLayer(t, Config{}, UDP)
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP("127.0.0.1")})
	require.NoError(t, err)
	defer c.Close()
	bad := "OPTIONS sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKx;rport\r\n" +
		"From: <sip:a@example.com>;tag=1\r\nTo: <sip:b@example.com>\r\nCall-ID: m1\r\nCSeq: 99999999999 OPTIONS\r\nContent-Length: 0\r\n\r\n"
	_, err = c.WriteToUDPAddrPort([]byte(bad), listenerAddr(t, b, UDP))
	require.NoError(t, err)
	buf := make([]byte, 2000)
	c.SetReadDeadline(time.Now().Add(3 * time.Second))
	n, err := c.Read(buf)
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(string(buf[:n]), "SIP/2.0 400 "), string(buf[:n]))
	sb.none(t, 50*time.Millisecond)
}

func TestCRLFKeepAlive(t *testing.T) {
	// Inbound: a peer's ping gets a pong (RFC 5626 §4.4.1).
	b, _ := newLayer(t, Config{}, TCP)
	c, err := net.Dial("tcp", listenerAddr(t, b, TCP).String())
	require.NoError(t, err)
	defer c.Close()
	_, err = c.Write([]byte("\r\n\r\n"))
	require.NoError(t, err)
	buf := make([]byte, 4)
	c.SetReadDeadline(time.Now().Add(3 * time.Second))
	n, err := c.Read(buf)
	require.NoError(t, err)
	require.Equal(t, "\r\n", string(buf[:n]))

	// Outbound: we ping a quiet peer and close the connection when it does
	// not answer.
	a, _ := newLayer(t, Config{KeepAliveInterval: 100 * time.Millisecond, KeepAliveTimeout: 200 * time.Millisecond}, TCP)
	mute, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer mute.Close()
	pinged := make(chan string, 1)
	go func() {
		conn, err := mute.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		r := bufio.NewReader(conn)
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			if line == "\r\n" {
				select {
				case pinged <- line:
				default:
				}
			}
		}
	}()
	closed := make(chan Flow, 1)
	a.OnConnClose(func(f Flow) { closed <- f })
	require.NoError(t, a.SendMessage(request(t, "OPTIONS", 1, "ka"), Target{Transport: TCP, Addr: addrPortOf(mute.Addr())}, nil))
	select {
	case <-pinged:
	case <-time.After(3 * time.Second):
		t.Fatal("no ping sent")
	}
	select {
	case f := <-closed:
		require.Equal(t, TCP, f.Transport)
	case <-time.After(3 * time.Second):
		t.Fatal("connection without pong not closed")
	}
}

func TestIdleTimeoutClosesConnection(t *testing.T) {
	b, _ := newLayer(t, Config{IdleTimeout: 150 * time.Millisecond}, TCP)
	c, err := net.Dial("tcp", listenerAddr(t, b, TCP).String())
	require.NoError(t, err)
	defer c.Close()
	require.Eventually(t, func() bool { return b.Conns() == 1 }, time.Second, 5*time.Millisecond)
	c.SetReadDeadline(time.Now().Add(3 * time.Second))
	_, err = c.Read(make([]byte, 1))
	require.Error(t, err)
	require.Eventually(t, func() bool { return b.Conns() == 0 }, time.Second, 5*time.Millisecond)
}

func TestSendOnExactFlowAndFallback(t *testing.T) {
	a, sa := newLayer(t, Config{}, TCP)
	b, sb := newLayer(t, Config{}, TCP)
	require.NoError(t, a.SendMessage(request(t, "REGISTER", 1, "flow"), Target{Transport: TCP, Addr: listenerAddr(t, b, TCP)}, nil))
	in := sb.next(t)
	require.NotZero(t, in.flow.ConnID)

	// b reaches a on the connection a opened, not by dialling a's listener.
	out := request(t, "OPTIONS", 2, "flow-back")
	require.NoError(t, b.SendMessage(out, in.flow.Target(), nil))
	got := sa.next(t)
	require.Equal(t, "flow-back", got.msg.CallID().Value())
	require.Equal(t, 1, b.Conns())

	// The flow goes away: a TCP target falls back to its address.
	require.True(t, b.Alive(in.flow.ConnID))
	a.Close()
	require.Eventually(t, func() bool { return !b.Alive(in.flow.ConnID) }, 2*time.Second, 5*time.Millisecond)
	gone := in.flow.Target()
	gone.Transport = WS
	require.ErrorIs(t, b.Send([]byte("x"), gone, nil), ErrFlowGone)
}

// TestStaleConnIDForOtherPeerIsNotUsed: connection IDs restart with each
// process, so an ID stored by an earlier run may now name a connection to
// some other peer. A target whose address disagrees must not use it.
func TestStaleConnIDForOtherPeerIsNotUsed(t *testing.T) {
	a, _ := newLayer(t, Config{}, TCP)
	b, sb := newLayer(t, Config{}, TCP)
	c, sc := newLayer(t, Config{}, TCP)
	require.NoError(t, a.SendMessage(request(t, "REGISTER", 1, "from-a"), Target{Transport: TCP, Addr: listenerAddr(t, b, TCP)}, nil))
	in := sb.next(t)

	// A stored target for c that happens to carry the ID of a's connection.
	stale := Target{Transport: TCP, Addr: listenerAddr(t, c, TCP), ConnID: in.flow.ConnID}
	require.NoError(t, b.SendMessage(request(t, "OPTIONS", 2, "for-c"), stale, nil))
	got := sc.next(t)
	require.Equal(t, "for-c", got.msg.CallID().Value())
}

func TestLargeUDPRequestMovesToTCP(t *testing.T) {
	a, _ := newLayer(t, Config{}, UDP, TCP)
	b, sb := newLayer(t, Config{}, UDP, TCP)
	req := request(t, "MESSAGE", 1, "big")
	req.AppendHeader(sip.NewHeader("Content-Type", "text/plain"))
	req.SetBody([]byte(strings.Repeat("x", 2000)))
	bUDP := listenerAddr(t, b, UDP)
	bTCP := listenerAddr(t, b, TCP)
	// Both listeners share a port number only by chance, so point the TCP
	// target at the TCP port the way RFC 3263 resolution would.
	tgt, data, err := a.Encode(req, Target{Transport: UDP, Addr: bUDP})
	require.NoError(t, err)
	require.Equal(t, TCP, tgt.Transport)
	require.Contains(t, string(data), "Via: SIP/2.0/TCP")
	tgt.Addr = bTCP
	require.NoError(t, a.Send(data, tgt, nil))
	got := sb.next(t)
	require.Equal(t, TCP, got.flow.Transport)

	// Kept on UDP when the transport was explicit.
	req2 := request(t, "MESSAGE", 2, "big2")
	req2.SetBody([]byte(strings.Repeat("y", 2000)))
	tgt, _, err = a.Encode(req2, Target{Transport: UDP, Addr: bUDP, NoSizeSwitch: true})
	require.NoError(t, err)
	require.Equal(t, UDP, tgt.Transport)
}

func TestDSCPMarksSockets(t *testing.T) {
	l, err := New(Config{})
	require.NoError(t, err)
	defer l.Close()
	ln, err := l.Listen(context.Background(), UDP, "127.0.0.1:0", ListenOptions{})
	require.NoError(t, err)
	require.Equal(t, DefaultDSCP<<2, tos(t, udpOf(ln.pc)))
	ln2, err := l.Listen(context.Background(), TCP, "127.0.0.1:0", ListenOptions{DSCP: 46})
	require.NoError(t, err)
	require.Equal(t, 46<<2, tos(t, ln2.ln.(*net.TCPListener)))
	l3, err := New(Config{DSCP: NoDSCP})
	require.NoError(t, err)
	defer l3.Close()
	ln3, err := l3.Listen(context.Background(), UDP, "127.0.0.1:0", ListenOptions{})
	require.NoError(t, err)
	require.Equal(t, 0, tos(t, udpOf(ln3.pc)))
	_, err = New(Config{DSCP: 64})
	require.Error(t, err)
}

func tos(t *testing.T, sc syscall.Conn) int {
	t.Helper()
	raw, err := sc.SyscallConn()
	require.NoError(t, err)
	var v int
	var serr error
	require.NoError(t, raw.Control(func(fd uintptr) {
		v, serr = syscall.GetsockoptInt(int(fd), syscall.IPPROTO_IP, syscall.IP_TOS)
	}))
	require.NoError(t, serr)
	return v
}

func TestOwnAddressAndAdvertise(t *testing.T) {
	l, err := New(Config{})
	require.NoError(t, err)
	defer l.Close()
	ln, err := l.Listen(context.Background(), UDP, "127.0.0.1:0", ListenOptions{Advertise: "sip.example.com:5080"})
	require.NoError(t, err)
	host, port := ln.Advertised()
	require.Equal(t, "sip.example.com", host)
	require.Equal(t, 5080, port)
	require.True(t, l.IsOwnAddress("sip.example.com", 5080))
	require.True(t, l.IsOwnAddress("127.0.0.1", int(ln.Addr().Port())))
	require.False(t, l.IsOwnAddress("127.0.0.1", 1))
	require.False(t, l.IsOwnAddress("other.example.com", 5080))

	// A wildcard bind advertises Config.AdvertisedHost.
	g, err := New(Config{AdvertisedHost: "edge.example.net"})
	require.NoError(t, err)
	defer g.Close()
	any, err := g.Listen(context.Background(), TCP, "0.0.0.0:0", ListenOptions{})
	require.NoError(t, err)
	host, port = any.Advertised()
	require.Equal(t, "edge.example.net", host)
	require.Equal(t, int(any.Addr().Port()), port)
}

func TestSCTPWhereSupported(t *testing.T) {
	a, sa := newLayer(t, Config{})
	_, err := a.Listen(context.Background(), SCTP, "127.0.0.1:0", ListenOptions{})
	if errors.Is(err, ErrSCTPUnsupported) {
		t.Skip("transport: this kernel has no SCTP (socket(AF_INET, SOCK_STREAM, IPPROTO_SCTP) fails); SCTP tests skipped")
	}
	require.NoError(t, err)
	b, _ := newLayer(t, Config{})
	_, err = b.Listen(context.Background(), SCTP, "127.0.0.1:0", ListenOptions{})
	require.NoError(t, err)
	require.NoError(t, b.SendMessage(request(t, "OPTIONS", 1, "sctp"), Target{Transport: SCTP, Addr: listenerAddr(t, a, SCTP)}, nil))
	got := sa.next(t)
	require.Equal(t, SCTP, got.flow.Transport)
}

// udpOf returns the *net.UDPConn under a listener's packet conn.
func udpOf(pc packetConn) *net.UDPConn {
	if u, ok := pc.(interface{ underlying() *net.UDPConn }); ok {
		return u.underlying()
	}
	return pc.(*net.UDPConn)
}

type upperUA struct{ in, out atomic.Int64 }

func (u *upperUA) Inbound(msg sip.Message, f Flow) bool {
	u.in.Add(1)
	return sip.HeaderValues(msg, "X-Drop") == nil
}

func (u *upperUA) Outbound(msg sip.Message, t Target) (sip.Message, bool) {
	u.out.Add(1)
	c := sip.CopyMessage(msg)
	c.AppendHeader(sip.NewHeader("X-Rewritten", "yes"))
	return c, true
}

func TestRewriterSeesAndChangesMessages(t *testing.T) {
	rw := &upperUA{}
	a, _ := newLayer(t, Config{Rewriter: rw}, UDP)
	b, sb := newLayer(t, Config{Rewriter: &upperUA{}}, UDP)
	sent := request(t, "OPTIONS", 1, "rw")
	require.NoError(t, a.SendMessage(sent, Target{Transport: UDP, Addr: listenerAddr(t, b, UDP)}, nil))
	got := sb.next(t)
	require.Equal(t, []string{"yes"}, sip.HeaderValues(got.msg, "X-Rewritten"))
	require.EqualValues(t, 1, rw.out.Load())
	// The sender's message is not the one rewritten, but its Via was filled
	// in (CANCEL and ACK are built from it).
	require.Nil(t, sip.HeaderValues(sent, "X-Rewritten"))
	require.NotEmpty(t, sent.Via().Host)
	drop := request(t, "OPTIONS", 2, "rw2")
	drop.AppendHeader(sip.NewHeader("X-Drop", "1"))
	require.NoError(t, a.SendMessage(drop, Target{Transport: UDP, Addr: listenerAddr(t, b, UDP)}, nil))
	sb.none(t, 100*time.Millisecond)
}

type tagRW string

func (r tagRW) Inbound(msg sip.Message, _ Flow) bool {
	msg.AppendHeader(sip.NewHeader("X-In", string(r)))
	return true
}

func (r tagRW) Outbound(msg sip.Message, _ Target) (sip.Message, bool) {
	c := sip.CopyMessage(msg)
	c.AppendHeader(sip.NewHeader("X-Out", string(r)))
	return c, r != "drop"
}

func TestChainRewriters(t *testing.T) {
	require.Nil(t, ChainRewriters(nil, nil))
	require.Equal(t, tagRW("a"), ChainRewriters(nil, tagRW("a")))
	c := ChainRewriters(tagRW("a"), nil, tagRW("b"))
	msg := request(t, "OPTIONS", 1, "chain")
	require.True(t, c.Inbound(msg, Flow{}))
	require.Equal(t, []string{"a", "b"}, sip.HeaderValues(msg, "X-In"))
	out, ok := c.Outbound(msg, Target{})
	require.True(t, ok)
	require.Equal(t, []string{"b", "a"}, sip.HeaderValues(out, "X-Out"))
	require.Nil(t, sip.HeaderValues(msg, "X-Out"))
	_, ok = ChainRewriters(tagRW("a"), tagRW("drop")).Outbound(msg, Target{})
	require.False(t, ok)
}

func TestListenEachSharesOnePort(t *testing.T) {
	l, err := New(Config{})
	require.NoError(t, err)
	defer l.Close()
	lns, err := l.ListenEach(context.Background(), []string{UDP, TCP}, "127.0.0.1:0", ListenOptions{})
	require.NoError(t, err)
	require.Len(t, lns, 2)
	require.Equal(t, lns[0].Addr(), lns[1].Addr())
	require.NotZero(t, lns[0].Addr().Port())

	// The port is now taken for both: a second try on it fails and leaves
	// nothing open.
	_, err = l.ListenEach(context.Background(), []string{UDP, TCP}, lns[0].Addr().String(), ListenOptions{})
	require.Error(t, err)
	require.Len(t, l.Listeners(), 2)

	require.NoError(t, lns[1].Close())
	require.Len(t, l.Listeners(), 1)
	require.Nil(t, l.ListenerAt(TCP, lns[1].Addr()))
}

// TestUDPReadersHandleDatagramsInParallel: with two readers, a receiver
// that blocks on one datagram does not hold up the next; every datagram is
// delivered once and Close stops all readers.
func TestUDPReadersHandleDatagramsInParallel(t *testing.T) {
	b, err := New(Config{})
	require.NoError(t, err)
	ln, err := b.Listen(context.Background(), UDP, "127.0.0.1:0", ListenOptions{Readers: 2})
	require.NoError(t, err)
	sb := newSink()
	release := make(chan struct{})
	sb.handle(func(m sip.Message, _ Flow) {
		if m.CallID().Value() == "block" {
			<-release
		}
	})
	require.NoError(t, b.Start(sb))
	a, _ := newLayer(t, Config{}, UDP)
	to := Target{Transport: UDP, Addr: ln.Addr()}

	require.NoError(t, a.SendMessage(request(t, "OPTIONS", 1, "block"), to, nil))
	time.Sleep(50 * time.Millisecond) // the first reader is now held by the receiver
	const n = 50
	for i := range n {
		require.NoError(t, a.SendMessage(request(t, "OPTIONS", i+2, fmt.Sprintf("free%d", i)), to, nil))
	}
	seen := map[string]bool{}
	for range n {
		r := sb.next(t)
		seen[r.msg.CallID().Value()] = true
	}
	require.Len(t, seen, n, "the other reader delivered every datagram while one was blocked")
	close(release)
	require.Equal(t, "block", sb.next(t).msg.CallID().Value())
	require.NoError(t, b.Close())
}

// Datagrams that queue while the reader is busy are read several per
// system call (recvmmsg on Linux): each keeps its own source and its whole
// size, up to the largest UDP payload, and they arrive in order. The
// answers sent while they are handled leave together (sendmmsg), each to
// its own source, in order.
func TestUDPDatagramsQueuedWhileBusyArriveWhole(t *testing.T) {
	release := make(chan struct{})
	l, sk := newLayer(t, Config{}, UDP)
	var l2 *Layer
	sk.handle(func(m sip.Message, f Flow) {
		if m.CallID().Value() == "block" {
			<-release
			return
		}
		res := sip.NewResponse(m.(*sip.Request), 200, "")
		if m.CSeq().SeqNo == 9 {
			res.SetBody([]byte(strings.Repeat("y", 50000)))
		}
		if err := l2.SendMessage(res, Target{Transport: UDP, Addr: f.Remote}, nil); err != nil {
			t.Errorf("answer: %v", err)
		}
	})
	l2 = l
	to := net.UDPAddrFromAddrPort(listenerAddr(t, l, UDP))
	dial := func() *net.UDPConn {
		c, err := net.DialUDP("udp", nil, to)
		require.NoError(t, err)
		t.Cleanup(func() { c.Close() })
		return c
	}
	a, b := dial(), dial()
	raw := func(callID string, cseq int, body string) []byte {
		return []byte(fmt.Sprintf("MESSAGE sip:bob@example.com SIP/2.0\r\n"+
			"Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK%s%d\r\nMax-Forwards: 70\r\n"+
			"From: <sip:alice@example.com>;tag=a1\r\nTo: <sip:bob@example.com>\r\n"+
			"Call-ID: %s\r\nCSeq: %d MESSAGE\r\nContent-Length: %d\r\n\r\n%s", callID, cseq, callID, cseq, len(body), body))
	}
	_, err := a.Write(raw("block", 1, ""))
	require.NoError(t, err)
	time.Sleep(50 * time.Millisecond) // the reader is now held by the receiver
	big := strings.Repeat("x", 60000)
	const n = 20
	for i := range n {
		c, id := a, "a"
		if i%2 == 1 {
			c, id = b, "b"
		}
		body := ""
		if i == 7 {
			body = big
		}
		_, err := c.Write(raw(id, i, body))
		require.NoError(t, err)
	}
	time.Sleep(50 * time.Millisecond) // all queued in the socket
	close(release)
	require.Equal(t, "block", sk.next(t).msg.CallID().Value())
	for i := range n {
		r := sk.next(t)
		c, id := a, "a"
		if i%2 == 1 {
			c, id = b, "b"
		}
		require.Equal(t, id, r.msg.CallID().Value())
		require.EqualValues(t, i, r.msg.CSeq().SeqNo, "in order")
		require.Equal(t, c.LocalAddr().(*net.UDPAddr).AddrPort(), r.flow.Remote)
		if i == 7 {
			require.Equal(t, big, string(r.msg.Body()))
		} else {
			require.Empty(t, r.msg.Body())
		}
	}
	buf := make([]byte, 65536)
	p := sip.NewParser(0)
	for i := range n {
		c := a
		if i%2 == 1 {
			c = b
		}
		require.NoError(t, c.SetReadDeadline(time.Now().Add(5*time.Second)))
		m, err := c.Read(buf)
		require.NoError(t, err, "answer %d", i)
		msg, err := p.Parse(buf[:m])
		require.NoError(t, err)
		res := msg.(*sip.Response)
		require.Equal(t, 200, res.StatusCode)
		require.EqualValues(t, i, res.CSeq().SeqNo, "answers in order, each to its source")
		if i == 9 {
			require.Len(t, res.Body(), 50000)
		}
	}
}

// passRW is a Rewriter that lets encoded responses by (Passthrough) while
// pass is set, counting what it sees.
type passRW struct {
	pass bool
	out  atomic.Int64
}

func (p *passRW) Inbound(sip.Message, Flow) bool { return true }

func (p *passRW) Outbound(msg sip.Message, _ Target) (sip.Message, bool) {
	p.out.Add(1)
	return msg, true
}

func (p *passRW) PassesEncoded() bool { return p.pass }

// SendEncodedResponse sends a response a handler encoded when no Rewriter
// needs to see it: none configured, or each of the chain a Passthrough that
// passes now. Otherwise it sends nothing and says so; too large is refused.
func TestSendEncodedResponse(t *testing.T) {
	res := []byte("SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1;branch=z9hG4bK-enc\r\n" +
		"From: <sip:a@example.com>;tag=1\r\nTo: <sip:a@example.com>;tag=2\r\nCall-ID: enc\r\n" +
		"CSeq: 1 REGISTER\r\nContent-Length: 0\r\n\r\n")
	b, sb := newLayer(t, Config{}, UDP)
	to := Target{Transport: UDP, Addr: listenerAddr(t, b, UDP)}

	pass := &passRW{pass: true}
	for _, c := range []struct {
		name string
		rw   Rewriter
		sent bool
	}{
		{"no rewriter", nil, true},
		{"passthrough", pass, true},
		{"chain of passthroughs", ChainRewriters(pass, &passRW{pass: true}), true},
		{"passthrough not passing", &passRW{}, false},
		{"chain with one that needs the message", ChainRewriters(pass, &upperUA{}), false},
	} {
		a, _ := newLayer(t, Config{Rewriter: c.rw, MaxMessageSize: 300}, UDP)
		sent, err := a.SendEncodedResponse(res, to)
		require.NoError(t, err, c.name)
		require.Equal(t, c.sent, sent, c.name)
		if c.sent {
			got := sb.next(t)
			require.Equal(t, 200, got.msg.(*sip.Response).StatusCode, c.name)
		} else {
			sb.none(t, 50*time.Millisecond)
		}
		_, err = a.SendEncodedResponse(append(bytes.Repeat([]byte{'x'}, 300), res...), to)
		if c.sent {
			require.ErrorIs(t, err, ErrMessageTooLarge, c.name)
		}
	}
	require.Zero(t, pass.out.Load(), "a Passthrough's Outbound saw an encoded response")
}
