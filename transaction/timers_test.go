package transaction_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/siphon-go/siphon/sip"
	"github.com/siphon-go/siphon/siptest"
	"github.com/siphon-go/siphon/transaction"
	"github.com/siphon-go/siphon/transport"
	"github.com/stretchr/testify/require"
)

// sendLog records when a stack's transport sends each message, on the fake
// clock.
type sendLog struct {
	clock *siptest.Clock
	start time.Time
	mu    sync.Mutex
	out   []sent
}

type sent struct {
	at   time.Duration
	line string
}

func (s *sendLog) TapMessage(dir transport.Direction, f transport.Flow, data []byte) {
	if dir != transport.Out {
		return
	}
	c := siptest.Captured{Data: string(data)}
	s.mu.Lock()
	s.out = append(s.out, sent{at: s.clock.Now().Sub(s.start), line: c.StartLine()})
	s.mu.Unlock()
}

func (s *sendLog) times(line string) []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []time.Duration
	for _, x := range s.out {
		if x.line == line {
			out = append(out, x.at)
		}
	}
	return out
}

func ms(v ...int) []time.Duration {
	out := make([]time.Duration, len(v))
	for i, x := range v {
		out[i] = time.Duration(x) * time.Millisecond
	}
	return out
}

// fixture is a UAC stack with a send log and a silent peer.
func fixture(t *testing.T) (*siptest.Clock, *siptest.Network, *siptest.Stack, *sendLog) {
	clock := siptest.NewClock()
	n := siptest.NewNetwork(siptest.NetworkConfig{Clock: clock})
	log := &sendLog{clock: clock, start: clock.Now()}
	uac := siptest.NewStack(t, n, "192.0.2.10:5060", siptest.StackConfig{Transport: transport.Config{Tap: log}})
	return clock, n, uac, log
}

func blackhole(t *testing.T, n *siptest.Network, tp string) transport.Target {
	pc, err := n.ListenPacket("192.0.2.99:5060")
	require.NoError(t, err)
	t.Cleanup(func() { pc.Close() })
	ln, err := n.Listen("192.0.2.99:5060")
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				b := make([]byte, 65536)
				for {
					if _, err := c.Read(b); err != nil {
						return
					}
				}
			}()
		}
	}()
	return transport.Target{Transport: tp, Addr: netipMust("192.0.2.99:5060")}
}

type result struct {
	mu  sync.Mutex
	err error
	res []*sip.Response
}

func (r *result) opts() transaction.ClientOptions {
	return transaction.ClientOptions{
		OnResponse: func(_ *transaction.ClientTx, res *sip.Response) {
			r.mu.Lock()
			r.res = append(r.res, res)
			r.mu.Unlock()
		},
		OnError: func(_ *transaction.ClientTx, err error) { r.mu.Lock(); r.err = err; r.mu.Unlock() },
	}
}

func (r *result) error() error { r.mu.Lock(); defer r.mu.Unlock(); return r.err }

func TestTimerAAndBOnUDP(t *testing.T) {
	clock, n, uac, log := fixture(t)
	var r result
	_, err := uac.Transactions.Request(context.Background(), siptest.NewRequest(sip.INVITE, "sip:bob@192.0.2.99"), blackhole(t, n, transport.UDP), r.opts())
	require.NoError(t, err)
	clock.Advance(31999 * time.Millisecond)
	// Timer A doubles without a cap: 0.5, 1, 2, 4, 8, 16 s (RFC 3261 §17.1.1.2).
	require.Equal(t, ms(0, 500, 1500, 3500, 7500, 15500, 31500), log.times("INVITE sip:bob@192.0.2.99 SIP/2.0"))
	require.NoError(t, r.error())
	clock.Advance(time.Millisecond)
	require.ErrorIs(t, r.error(), transaction.ErrTimeout, "Timer B = 64*T1")
	require.Zero(t, uac.Transactions.Len())
}

func TestNoRetransmissionOnTCPButTimerB(t *testing.T) {
	clock, n, uac, log := fixture(t)
	var r result
	_, err := uac.Transactions.Request(context.Background(), siptest.NewRequest(sip.INVITE, "sip:bob@192.0.2.99"), blackhole(t, n, transport.TCP), r.opts())
	require.NoError(t, err)
	require.Eventually(t, func() bool { return len(log.times("INVITE sip:bob@192.0.2.99 SIP/2.0")) == 1 }, time.Second, time.Millisecond)
	clock.Advance(31999 * time.Millisecond)
	require.Len(t, log.times("INVITE sip:bob@192.0.2.99 SIP/2.0"), 1)
	require.NoError(t, r.error())
	clock.Advance(time.Millisecond)
	require.ErrorIs(t, r.error(), transaction.ErrTimeout)
}

func TestTimerEAndFOnUDP(t *testing.T) {
	clock, n, uac, log := fixture(t)
	var r result
	_, err := uac.Transactions.Request(context.Background(), siptest.NewRequest(sip.OPTIONS, "sip:bob@192.0.2.99"), blackhole(t, n, transport.UDP), r.opts())
	require.NoError(t, err)
	clock.Advance(31999 * time.Millisecond)
	// Timer E doubles from T1 and is capped at T2 = 4 s (§17.1.2.2).
	require.Equal(t, ms(0, 500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500), log.times("OPTIONS sip:bob@192.0.2.99 SIP/2.0"))
	clock.Advance(time.Millisecond)
	require.ErrorIs(t, r.error(), transaction.ErrTimeout, "Timer F = 64*T1")
}

// scripted is a peer answering through a raw datagram socket, so a test
// chooses exactly which responses come back.
type scripted struct {
	pc *siptest.PacketConn
	p  *sip.Parser
}

func newScripted(t *testing.T, n *siptest.Network) *scripted {
	pc, err := n.ListenPacket("192.0.2.98:5060")
	require.NoError(t, err)
	t.Cleanup(func() { pc.Close() })
	return &scripted{pc: pc, p: sip.NewParser(0)}
}

func (s *scripted) target() transport.Target {
	return transport.Target{Transport: transport.UDP, Addr: netipMust("192.0.2.98:5060")}
}

// read returns the next request received (the clock does not move).
func (s *scripted) read(t *testing.T) (*sip.Request, transport.Target) {
	t.Helper()
	b := make([]byte, 65536)
	type rd struct {
		n   int
		err error
		src transport.Target
	}
	ch := make(chan rd, 1)
	go func() {
		n, from, err := s.pc.ReadFromUDPAddrPort(b)
		ch <- rd{n, err, transport.Target{Transport: transport.UDP, Addr: from}}
	}()
	select {
	case r := <-ch:
		require.NoError(t, r.err)
		m, err := s.p.Parse(b[:r.n])
		require.NoError(t, err)
		return m.(*sip.Request), r.src
	case <-time.After(2 * time.Second):
		t.Fatal("scripted peer: nothing received")
	}
	return nil, transport.Target{}
}

func (s *scripted) reply(t *testing.T, req *sip.Request, to transport.Target, code int) *sip.Response {
	t.Helper()
	res := sip.NewResponse(req, code, "")
	_, err := s.pc.WriteToUDPAddrPort([]byte(res.String()), to.Addr)
	require.NoError(t, err)
	return res
}

func TestTimerEAfterProvisionalIsT2AndTimerK(t *testing.T) {
	clock, n, uac, log := fixture(t)
	peer := newScripted(t, n)
	var r result
	tx, err := uac.Transactions.Request(context.Background(), siptest.NewRequest(sip.OPTIONS, "sip:bob@192.0.2.98"), peer.target(), r.opts())
	require.NoError(t, err)
	req, from := peer.read(t)
	peer.reply(t, req, from, 100)
	require.Eventually(t, func() bool { r.mu.Lock(); defer r.mu.Unlock(); return len(r.res) == 1 }, time.Second, time.Millisecond)
	clock.Advance(10 * time.Second)
	// In Proceeding the interval is T2: 0.5 was due in Trying, then 4.5, 8.5.
	require.Equal(t, ms(0, 500, 4500, 8500), log.times("OPTIONS sip:bob@192.0.2.98 SIP/2.0"))
	peer.reply(t, req, from, 200)
	require.Eventually(t, func() bool { r.mu.Lock(); defer r.mu.Unlock(); return len(r.res) == 2 }, time.Second, time.Millisecond)
	// Timer K = T4 on UDP.
	clock.Advance(4999 * time.Millisecond)
	select {
	case <-tx.Done():
		t.Fatal("terminated before Timer K")
	default:
	}
	clock.Advance(time.Millisecond)
	<-tx.Done()
	require.NoError(t, tx.Err())
}

func TestTimerDAndNon2xxACK(t *testing.T) {
	clock, n, uac, log := fixture(t)
	peer := newScripted(t, n)
	var r result
	inv := siptest.NewRequest(sip.INVITE, "sip:bob@192.0.2.98", siptest.WithHeader("Route", "<sip:192.0.2.98;lr>"))
	tx, err := uac.Transactions.Request(context.Background(), inv, peer.target(), r.opts())
	require.NoError(t, err)
	req, from := peer.read(t)
	peer.reply(t, req, from, 486)
	ack, _ := peer.read(t)
	require.Equal(t, sip.ACK, ack.Method)
	// RFC 3261 §17.1.1.3: one Via, the INVITE's; its Route; the response's To.
	require.Len(t, ack.GetHeaders("Via"), 1)
	b1, _ := ack.Via().Params.Get("branch")
	b2, _ := req.Via().Params.Get("branch")
	require.Equal(t, b2, b1)
	require.Equal(t, sip.HeaderValues(req, "Route"), sip.HeaderValues(ack, "Route"))
	require.True(t, ack.To().Params.Has("tag"))
	// A retransmitted 486 gets the ACK again and is not passed up twice.
	peer.reply(t, req, from, 486)
	again, _ := peer.read(t)
	require.Equal(t, sip.ACK, again.Method)
	require.Len(t, log.times("ACK sip:bob@192.0.2.98 SIP/2.0"), 2)
	r.mu.Lock()
	require.Len(t, r.res, 1)
	r.mu.Unlock()
	clock.Advance(31999 * time.Millisecond)
	select {
	case <-tx.Done():
		t.Fatal("terminated before Timer D")
	default:
	}
	clock.Advance(time.Millisecond)
	<-tx.Done()
}

func TestTimerCCancelsAndReports(t *testing.T) {
	clock, n, uac, log := fixture(t)
	peer := newScripted(t, n)
	var r result
	opts := r.opts()
	opts.TimerC = 180 * time.Second
	_, err := uac.Transactions.Request(context.Background(), siptest.NewRequest(sip.INVITE, "sip:bob@192.0.2.98"), peer.target(), opts)
	require.NoError(t, err)
	req, from := peer.read(t)
	peer.reply(t, req, from, 180)
	require.Eventually(t, func() bool { r.mu.Lock(); defer r.mu.Unlock(); return len(r.res) == 1 }, time.Second, time.Millisecond)
	clock.Advance(100 * time.Second)
	peer.reply(t, req, from, 183) // a provisional resets Timer C
	require.Eventually(t, func() bool { r.mu.Lock(); defer r.mu.Unlock(); return len(r.res) == 2 }, time.Second, time.Millisecond)
	clock.Advance(179 * time.Second)
	require.NoError(t, r.error())
	clock.Advance(time.Second)
	require.ErrorIs(t, r.error(), transaction.ErrTimerC)
	cancel, _ := peer.read(t)
	require.Equal(t, sip.CANCEL, cancel.Method)
	// §9.1: the CANCEL reuses the INVITE's branch and sent-by.
	require.Equal(t, req.Via().Value(), cancel.Via().Value())
	require.Len(t, log.times("CANCEL sip:bob@192.0.2.98 SIP/2.0"), 1)
}

func TestTimerCWithoutProvisionalSendsNoCancel(t *testing.T) {
	clock, n, uac, log := fixture(t)
	var r result
	opts := r.opts()
	opts.TimerC = 10 * time.Second
	_, err := uac.Transactions.Request(context.Background(), siptest.NewRequest(sip.INVITE, "sip:bob@192.0.2.99"), blackhole(t, n, transport.TCP), opts)
	require.NoError(t, err)
	clock.Advance(10 * time.Second)
	require.ErrorIs(t, r.error(), transaction.ErrTimerC)
	require.Empty(t, log.times("CANCEL sip:bob@192.0.2.99 SIP/2.0"))
	require.Zero(t, uac.Transactions.Len())
}

// serverFixture runs a UAS stack whose handler is h, with a send log.
func serverFixture(t *testing.T, h sip.Handler, cfg transaction.Config) (*siptest.Clock, *siptest.Network, *siptest.Stack, *sendLog) {
	clock := siptest.NewClock()
	n := siptest.NewNetwork(siptest.NetworkConfig{Clock: clock})
	log := &sendLog{clock: clock, start: clock.Now()}
	uas := siptest.NewStack(t, n, "192.0.2.20:5060", siptest.StackConfig{Handler: h, Transaction: cfg, Transport: transport.Config{Tap: log}})
	return clock, n, uas, log
}

// rawClient sends requests as text from a datagram socket that never
// answers, so the server's retransmissions can be counted.
func rawClient(t *testing.T, n *siptest.Network) *scripted {
	pc, err := n.ListenPacket("192.0.2.11:5060")
	require.NoError(t, err)
	t.Cleanup(func() { pc.Close() })
	return &scripted{pc: pc, p: sip.NewParser(0)}
}

func (s *scripted) send(t *testing.T, to netipAddrPort, text string) {
	t.Helper()
	_, err := s.pc.WriteToUDPAddrPort([]byte(text), to)
	require.NoError(t, err)
}

func inviteText(branch string) string {
	return "INVITE sip:bob@192.0.2.20 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.11:5060;branch=" + branch + "\r\n" +
		"Max-Forwards: 70\r\nFrom: <sip:alice@example.com>;tag=a\r\nTo: <sip:bob@example.com>\r\n" +
		"Call-ID: c-" + branch + "\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"
}

func TestTimerGAndH(t *testing.T) {
	var timerH sync.WaitGroup
	timerH.Add(1)
	clock, n, uas, log := serverFixture(t, siptest.Respond(486), transaction.Config{
		TryingDelay: transaction.NoTrying,
		OnTimerH:    func(*sip.Request, transport.Flow) { timerH.Done() },
	})
	c := rawClient(t, n)
	c.send(t, uas.Addr, inviteText("z9hG4bKg1"))
	require.Eventually(t, func() bool { return len(log.times("SIP/2.0 486 Busy Here")) == 1 }, time.Second, time.Millisecond)
	clock.Advance(31999 * time.Millisecond)
	// Timer G: T1 doubling, capped at T2 (§17.2.1).
	require.Equal(t, ms(0, 500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500), log.times("SIP/2.0 486 Busy Here"))
	require.Equal(t, 1, uas.Transactions.Len())
	clock.Advance(time.Millisecond)
	timerH.Wait() // Timer H = 64*T1
	require.Zero(t, uas.Transactions.Len())
}

// optionsProbe makes the server read everything sent before it: its answer
// proves the earlier datagrams were processed, in order, by the one reader.
func optionsProbe(t *testing.T, c *scripted, to netipAddrPort, log *sendLog, branch string) {
	t.Helper()
	// Counted before sending: the answer may be logged before send returns.
	n := len(log.times("SIP/2.0 200 OK"))
	c.send(t, to, "OPTIONS sip:bob@192.0.2.20 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.11:5060;branch="+branch+"\r\n"+
		"Max-Forwards: 70\r\nFrom: <sip:alice@example.com>;tag=a\r\nTo: <sip:bob@example.com>\r\n"+
		"Call-ID: probe-"+branch+"\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n")
	require.Eventually(t, func() bool { return len(log.times("SIP/2.0 200 OK")) > n }, time.Second, time.Millisecond)
}

func byMethod(codes map[sip.RequestMethod]int) sip.Handler {
	return sip.HandlerFunc(func(ctx context.Context, w sip.ResponseWriter, req *sip.Request) {
		if c, ok := codes[req.Method]; ok {
			_ = sip.Respond(w, req, c, "")
		}
	})
}

func TestACKStopsTimerGAndTimerI(t *testing.T) {
	clock, n, uas, log := serverFixture(t, byMethod(map[sip.RequestMethod]int{sip.INVITE: 486, sip.OPTIONS: 200}), transaction.Config{TryingDelay: transaction.NoTrying})
	c := rawClient(t, n)
	c.send(t, uas.Addr, inviteText("z9hG4bKi1"))
	require.Eventually(t, func() bool { return len(log.times("SIP/2.0 486 Busy Here")) == 1 }, time.Second, time.Millisecond)
	clock.Advance(600 * time.Millisecond)
	c.send(t, uas.Addr, "ACK sip:bob@192.0.2.20 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.11:5060;branch=z9hG4bKi1\r\n"+
		"Max-Forwards: 70\r\nFrom: <sip:alice@example.com>;tag=a\r\nTo: <sip:bob@example.com>;tag=x\r\n"+
		"Call-ID: c-z9hG4bKi1\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n")
	optionsProbe(t, c, uas.Addr, log, "z9hG4bKprobe1")
	require.Len(t, log.times("SIP/2.0 486 Busy Here"), 2)
	clock.Advance(4999 * time.Millisecond)
	require.Len(t, log.times("SIP/2.0 486 Busy Here"), 2, "no retransmission after the ACK")
	require.Equal(t, 2, uas.Transactions.Len(), "INVITE in Confirmed, OPTIONS in Completed")
	clock.Advance(time.Millisecond)
	require.Equal(t, 1, uas.Transactions.Len(), "Timer I = T4 after the ACK")
}

func TestTrying100AndRetransmissionAbsorbed(t *testing.T) {
	release := make(chan struct{})
	var calls sync.WaitGroup
	calls.Add(1)
	h := sip.HandlerFunc(func(ctx context.Context, w sip.ResponseWriter, req *sip.Request) {
		calls.Done()
		<-release
		_ = sip.Respond(w, req, 404, "")
	})
	clock, n, uas, log := serverFixture(t, h, transaction.Config{})
	c := rawClient(t, n)
	c.send(t, uas.Addr, inviteText("z9hG4bKt1"))
	calls.Wait()
	clock.Advance(199 * time.Millisecond)
	require.Empty(t, log.times("SIP/2.0 100 Trying"))
	clock.Advance(time.Millisecond)
	require.Equal(t, ms(200), log.times("SIP/2.0 100 Trying"))
	// A retransmitted INVITE gets the latest provisional, and no new handler.
	c.send(t, uas.Addr, inviteText("z9hG4bKt1"))
	require.Eventually(t, func() bool { return len(log.times("SIP/2.0 100 Trying")) == 2 }, time.Second, time.Millisecond)
	close(release)
	require.Eventually(t, func() bool { return len(log.times("SIP/2.0 404 Not Found")) == 1 }, time.Second, time.Millisecond)
}

func TestTimerJAndL(t *testing.T) {
	h := sip.HandlerFunc(func(ctx context.Context, w sip.ResponseWriter, req *sip.Request) {
		_ = sip.Respond(w, req, 200, "")
	})
	clock, n, uas, log := serverFixture(t, h, transaction.Config{TryingDelay: transaction.NoTrying})
	c := rawClient(t, n)
	c.send(t, uas.Addr, "OPTIONS sip:bob@192.0.2.20 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.11:5060;branch=z9hG4bKj1\r\n"+
		"Max-Forwards: 70\r\nFrom: <sip:alice@example.com>;tag=a\r\nTo: <sip:bob@example.com>\r\n"+
		"Call-ID: j1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n")
	c.send(t, uas.Addr, inviteText("z9hG4bKl1"))
	require.Eventually(t, func() bool { return len(log.times("SIP/2.0 200 OK")) == 2 }, time.Second, time.Millisecond)
	clock.Advance(31999 * time.Millisecond)
	require.Equal(t, 2, uas.Transactions.Len())
	clock.Advance(time.Millisecond)
	require.Zero(t, uas.Transactions.Len(), "Timer J and Timer L are 64*T1")
}

func TestClientErrorsAreTyped(t *testing.T) {
	_, n, uac, _ := fixture(t)
	var r result
	// Nobody listens on TCP here: the connection is refused at once.
	_, err := uac.Transactions.Request(context.Background(), siptest.NewRequest(sip.OPTIONS, "sip:bob@192.0.2.77"),
		transport.Target{Transport: transport.TCP, Addr: netipMust("192.0.2.77:5060")}, r.opts())
	require.NoError(t, err)
	require.Eventually(t, func() bool { return r.error() != nil }, time.Second, time.Millisecond)
	require.False(t, errors.Is(r.error(), transaction.ErrTimeout))
	_ = n
}

func TestTimerMPassesRetransmitted2xxUp(t *testing.T) {
	clock, n, uac, _ := fixture(t)
	peer := newScripted(t, n)
	var r result
	tx, err := uac.Transactions.Request(context.Background(), siptest.NewRequest(sip.INVITE, "sip:bob@192.0.2.98"), peer.target(), r.opts())
	require.NoError(t, err)
	req, from := peer.read(t)
	peer.reply(t, req, from, 200)
	// RFC 6026 §7.2: in Accepted, every further 2xx goes to the TU.
	peer.reply(t, req, from, 200)
	require.Eventually(t, func() bool { r.mu.Lock(); defer r.mu.Unlock(); return len(r.res) == 2 }, time.Second, time.Millisecond)
	clock.Advance(31999 * time.Millisecond)
	select {
	case <-tx.Done():
		t.Fatal("terminated before Timer M")
	default:
	}
	clock.Advance(time.Millisecond)
	<-tx.Done()
	r.mu.Lock()
	defer r.mu.Unlock()
	require.Equal(t, 200, r.res[0].StatusCode)
	require.Nil(t, tx.Final(), "with OnResponse the transaction keeps no message")
}

// TestCompletedNonInviteAbsorbsRetransmissionsUntilTimerJ: after its final
// response a non-INVITE transaction over UDP is only its key and response
// (a ghost), which still answers every retransmission for 64*T1 without a
// second handler call (RFC 3261 §17.2.2); after that the request is new.
func TestCompletedNonInviteAbsorbsRetransmissionsUntilTimerJ(t *testing.T) {
	var calls atomic.Int32
	h := sip.HandlerFunc(func(ctx context.Context, w sip.ResponseWriter, req *sip.Request) {
		calls.Add(1)
		_ = sip.Respond(w, req, 202, "")
	})
	clock, n, uas, log := serverFixture(t, h, transaction.Config{TryingDelay: transaction.NoTrying})
	c := rawClient(t, n)
	msg := "MESSAGE sip:bob@192.0.2.20 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.11:5060;branch=z9hG4bKg1\r\n" +
		"Max-Forwards: 70\r\nFrom: <sip:alice@example.com>;tag=a\r\nTo: <sip:bob@example.com>\r\n" +
		"Call-ID: g1\r\nCSeq: 1 MESSAGE\r\nContent-Length: 0\r\n\r\n"
	accepted := func() int { return len(log.times("SIP/2.0 202 Accepted")) }
	c.send(t, uas.Addr, msg)
	require.Eventually(t, func() bool { return accepted() == 1 }, time.Second, time.Millisecond)
	require.Equal(t, 1, uas.Transactions.Len(), "the completed transaction still counts")
	for i := 2; i <= 3; i++ {
		clock.Advance(15 * time.Second)
		c.send(t, uas.Addr, msg)
		require.Eventually(t, func() bool { return accepted() == i }, time.Second, time.Millisecond)
	}
	require.EqualValues(t, 1, calls.Load(), "retransmissions never reach the handler")
	// A CANCEL for it is its own transaction; its 200 is absorbed the same way.
	cancel := strings.Replace(strings.Replace(msg, "MESSAGE sip", "CANCEL sip", 1), "1 MESSAGE", "1 CANCEL", 1)
	c.send(t, uas.Addr, cancel)
	require.Eventually(t, func() bool { return len(log.times("SIP/2.0 481 Call/Transaction Does Not Exist")) == 1 }, time.Second, time.Millisecond)
	c.send(t, uas.Addr, cancel)
	require.Eventually(t, func() bool { return len(log.times("SIP/2.0 481 Call/Transaction Does Not Exist")) == 2 }, time.Second, time.Millisecond)

	clock.Advance(2*time.Second - time.Millisecond) // 31.999 s after the 202
	require.Equal(t, 2, uas.Transactions.Len())
	clock.Advance(time.Millisecond)
	require.Eventually(t, func() bool { return uas.Transactions.Len() == 1 }, time.Second, time.Millisecond, "Timer J")
	c.send(t, uas.Addr, msg)
	require.Eventually(t, func() bool { return calls.Load() == 2 }, time.Second, time.Millisecond, "after Timer J the request is new")
}

// TestLingeringTransactionsDoNotCountAgainstMaxTransactions: completed
// transactions kept for Timer J are bounded by MaxLingerBytes, not by
// MaxTransactions, so a request rate above MaxTransactions per Timer J
// never turns into 503s.
func TestLingeringTransactionsDoNotCountAgainstMaxTransactions(t *testing.T) {
	h := sip.HandlerFunc(func(ctx context.Context, w sip.ResponseWriter, req *sip.Request) {
		_ = sip.Respond(w, req, 200, "")
	})
	_, n, uas, log := serverFixture(t, h, transaction.Config{TryingDelay: transaction.NoTrying, MaxTransactions: 5})
	c := rawClient(t, n)
	const total = 40
	for i := range total {
		msg := fmt.Sprintf("REGISTER sip:example.com SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.11:5060;branch=z9hG4bKlim%d\r\n"+
			"Max-Forwards: 70\r\nFrom: <sip:alice@example.com>;tag=a\r\nTo: <sip:alice@example.com>\r\n"+
			"Call-ID: lim%d\r\nCSeq: 1 REGISTER\r\nContent-Length: 0\r\n\r\n", i, i)
		c.send(t, uas.Addr, msg)
		require.Eventually(t, func() bool { return len(log.times("SIP/2.0 200 OK")) == i+1 }, time.Second, time.Millisecond)
	}
	require.Empty(t, log.times("SIP/2.0 503"))
	st := uas.Transactions.Stats()
	require.Equal(t, total, st.Lingering)
	require.Zero(t, st.Live)
	require.Equal(t, total, uas.Transactions.Len())
}
