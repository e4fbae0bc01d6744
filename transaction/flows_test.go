package transaction_test

import (
	"context"
	"runtime"
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

func pair(t *testing.T, h sip.Handler, cfg siptest.NetworkConfig) (*siptest.Stack, *siptest.Stack, *siptest.Messages) {
	n := siptest.NewNetwork(cfg)
	tap := siptest.NewMessages()
	uas := siptest.NewStack(t, n, "192.0.2.20:5060", siptest.StackConfig{Handler: h, Transport: transport.Config{Tap: tap}})
	uac := siptest.NewStack(t, n, "192.0.2.10:5060", siptest.StackConfig{})
	return uac, uas, tap
}

func TestCancelEndsHandlerContextAndGets487(t *testing.T) {
	for _, tp := range []string{transport.UDP, transport.TCP} {
		t.Run(tp, func(t *testing.T) {
			cause := make(chan error, 1)
			h := sip.HandlerFunc(func(ctx context.Context, w sip.ResponseWriter, req *sip.Request) {
				_ = sip.Respond(w, req, 180, "")
				<-ctx.Done()
				cause <- context.Cause(ctx)
			})
			uac, uas, tap := pair(t, h, siptest.NetworkConfig{})
			var (
				mu    sync.Mutex
				codes []int
			)
			got180 := make(chan struct{})
			final := make(chan *sip.Response, 1)
			tx, err := uac.Transactions.Request(context.Background(), siptest.NewRequest(sip.INVITE, "sip:bob@192.0.2.20"), uas.Target(tp), transaction.ClientOptions{
				OnResponse: func(_ *transaction.ClientTx, res *sip.Response) {
					mu.Lock()
					codes = append(codes, res.StatusCode)
					mu.Unlock()
					if res.StatusCode == 180 {
						close(got180)
					}
					if res.StatusCode >= 200 {
						final <- res
					}
				},
			})
			require.NoError(t, err)
			<-got180
			require.NoError(t, tx.Cancel())
			require.ErrorIs(t, <-cause, transaction.ErrCanceled)
			res := <-final
			require.Equal(t, 487, res.StatusCode)
			// The CANCEL the UAS saw carried the INVITE's branch; it got 200.
			var inviteVia, cancelVia string
			var cancel200 bool
			for _, c := range tap.Drain() {
				switch {
				case c.Dir == transport.In && strings.HasPrefix(c.Data, "INVITE "):
					inviteVia = viaLine(c.Data)
				case c.Dir == transport.In && strings.HasPrefix(c.Data, "CANCEL "):
					cancelVia = viaLine(c.Data)
				case c.Dir == transport.Out && strings.HasPrefix(c.Data, "SIP/2.0 200") && strings.Contains(c.Data, "CANCEL\r\n"):
					cancel200 = true
				}
			}
			require.NotEmpty(t, inviteVia)
			require.Equal(t, inviteVia, cancelVia)
			require.True(t, cancel200)
		})
	}
}

func viaLine(msg string) string {
	for _, l := range strings.Split(msg, "\r\n") {
		if strings.HasPrefix(l, "Via: ") {
			return l
		}
	}
	return ""
}

func TestCancelBeforeProvisionalWaitsForIt(t *testing.T) {
	proceed := make(chan struct{})
	h := sip.HandlerFunc(func(ctx context.Context, w sip.ResponseWriter, req *sip.Request) {
		<-proceed
		_ = sip.Respond(w, req, 180, "")
		<-ctx.Done()
	})
	n := siptest.NewNetwork(siptest.NetworkConfig{})
	uas := siptest.NewStack(t, n, "192.0.2.20:5060", siptest.StackConfig{Handler: h, Transaction: transaction.Config{TryingDelay: transaction.NoTrying}})
	uac := siptest.NewStack(t, n, "192.0.2.10:5060", siptest.StackConfig{})
	final := make(chan int, 1)
	tx, err := uac.Transactions.Request(context.Background(), siptest.NewRequest(sip.INVITE, "sip:bob@192.0.2.20"), uas.Target(transport.UDP), transaction.ClientOptions{
		OnResponse: func(_ *transaction.ClientTx, res *sip.Response) {
			if res.StatusCode >= 200 {
				final <- res.StatusCode
			}
		},
	})
	require.NoError(t, err)
	require.NoError(t, tx.Cancel()) // RFC 3261 §9.1: held until a provisional
	close(proceed)
	select {
	case code := <-final:
		require.Equal(t, 487, code)
	case <-time.After(3 * time.Second):
		t.Fatal("the CANCEL was not sent once the 180 arrived")
	}
}

// A proxy-like handler may still send a 2xx after the CANCEL arrived.
func TestTwoHundredRacingCancelIsDelivered(t *testing.T) {
	canceled := make(chan struct{})
	h := sip.HandlerFunc(func(ctx context.Context, w sip.ResponseWriter, req *sip.Request) {
		_ = sip.Respond(w, req, 180, "")
		<-ctx.Done()
		close(canceled)
		require.NoError(t, w.(transaction.Relayer).RelayResponse(sip.NewResponse(req, 200, "")))
	})
	uac, uas, _ := pair(t, h, siptest.NetworkConfig{})
	final := make(chan int, 1)
	tx, err := uac.Transactions.Request(context.Background(), siptest.NewRequest(sip.INVITE, "sip:bob@192.0.2.20"), uas.Target(transport.UDP), transaction.ClientOptions{
		OnResponse: func(tx *transaction.ClientTx, res *sip.Response) {
			if res.StatusCode == 180 {
				_ = tx.Cancel()
			}
			if res.StatusCode >= 200 {
				final <- res.StatusCode
			}
		},
	})
	require.NoError(t, err)
	<-canceled
	require.Equal(t, 200, <-final)
	_ = tx
}

func TestUnknownCancelGets481(t *testing.T) {
	uac, uas, _ := pair(t, siptest.Respond(200), siptest.NetworkConfig{})
	res, err := uac.Do(context.Background(), siptest.NewRequest(sip.CANCEL, "sip:bob@192.0.2.20"), uas.Target(transport.UDP))
	require.NoError(t, err)
	require.Equal(t, 481, res.StatusCode)
}

func TestACKFor2xxReachesHandlerAndStopsRetransmission(t *testing.T) {
	acks := make(chan *sip.Request, 1)
	h := sip.HandlerFunc(func(ctx context.Context, w sip.ResponseWriter, req *sip.Request) {
		if req.Method == sip.ACK {
			require.ErrorIs(t, w.WriteResponse(sip.NewResponse(req, 200, "")), sip.ErrNoResponse)
			acks <- req
			return
		}
		_ = sip.Respond(w, req, 200, "")
	})
	clock := siptest.NewClock()
	n := siptest.NewNetwork(siptest.NetworkConfig{Clock: clock})
	log := &sendLog{clock: clock, start: clock.Now()}
	uas := siptest.NewStack(t, n, "192.0.2.20:5060", siptest.StackConfig{Handler: h, Transport: transport.Config{Tap: log}, Transaction: transaction.Config{TryingDelay: transaction.NoTrying}})
	uac := siptest.NewStack(t, n, "192.0.2.10:5060", siptest.StackConfig{})
	inv := siptest.NewRequest(sip.INVITE, "sip:bob@192.0.2.20")
	res, err := uac.Do(context.Background(), inv, uas.Target(transport.UDP))
	require.NoError(t, err)
	require.Equal(t, 200, res.StatusCode)
	// No ACK yet: the UAS core retransmits its 2xx (RFC 3261 §13.3.1.4).
	clock.Advance(1600 * time.Millisecond)
	require.Equal(t, ms(0, 500, 1500), log.times("SIP/2.0 200 OK"))
	// The ACK for a 2xx is its own transaction-less request.
	ack := sip.NewRequest(sip.ACK, inv.Recipient)
	transaction.PrependVia(ack, "")
	for _, name := range []string{"From", "Call-ID", "Max-Forwards"} {
		for _, h := range inv.GetHeaders(name) {
			ack.AppendHeader(h)
		}
	}
	ack.AppendHeader(res.To())
	ack.AppendHeader(&sip.CSeqHeader{SeqNo: 1, MethodName: sip.ACK})
	ack.SetBody(nil)
	require.NoError(t, uac.Transactions.Send(ack, uas.Target(transport.UDP)))
	got := <-acks
	require.Equal(t, sip.ACK, got.Method)
	clock.Advance(10 * time.Second)
	require.Len(t, log.times("SIP/2.0 200 OK"), 3, "retransmission stopped by the ACK")
}

func TestRetransmissionsAbsorbedOnLossyNetwork(t *testing.T) {
	var calls atomic.Int64
	h := sip.HandlerFunc(func(ctx context.Context, w sip.ResponseWriter, req *sip.Request) {
		calls.Add(1)
		_ = sip.Respond(w, req, 200, "")
	})
	// Half the datagrams are lost, a fifth duplicated, all jittered.
	uac, uas, _ := pair(t, h, siptest.NetworkConfig{Loss: 0.3, Duplicate: 0.2, Jitter: 20 * time.Millisecond, Seed: 7})
	var wg sync.WaitGroup
	var ok atomic.Int64
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			res, err := uac.Do(ctx, siptest.NewRequest(sip.MESSAGE, "sip:bob@192.0.2.20"), uas.Target(transport.UDP))
			if err == nil && res.StatusCode == 200 {
				ok.Add(1)
			}
		}()
	}
	wg.Wait()
	require.EqualValues(t, 20, ok.Load())
	require.EqualValues(t, 20, calls.Load(), "every request reached the handler exactly once")
}

func TestHandlerPanicAndMissingFinal(t *testing.T) {
	h := sip.HandlerFunc(func(ctx context.Context, w sip.ResponseWriter, req *sip.Request) {
		if req.Method == sip.MESSAGE {
			panic("boom")
		}
		// OPTIONS: returns without answering.
	})
	uac, uas, _ := pair(t, h, siptest.NetworkConfig{})
	for _, m := range []sip.RequestMethod{sip.MESSAGE, sip.OPTIONS} {
		res, err := uac.Do(context.Background(), siptest.NewRequest(m, "sip:bob@192.0.2.20"), uas.Target(transport.UDP))
		require.NoError(t, err)
		require.Equal(t, 500, res.StatusCode, m)
	}
}

func TestOverloadSheds503WithRetryAfter(t *testing.T) {
	block := make(chan struct{})
	started := make(chan struct{}, 1)
	h := sip.HandlerFunc(func(ctx context.Context, w sip.ResponseWriter, req *sip.Request) {
		started <- struct{}{}
		<-block
		_ = sip.Respond(w, req, 200, "")
	})
	n := siptest.NewNetwork(siptest.NetworkConfig{})
	uas := siptest.NewStack(t, n, "192.0.2.20:5060", siptest.StackConfig{Handler: h, Server: transaction.ServerConfig{MaxInflight: 1, RetryAfter: 9}})
	uac := siptest.NewStack(t, n, "192.0.2.10:5060", siptest.StackConfig{})
	first := make(chan *sip.Response, 1)
	go func() {
		res, _ := uac.Do(context.Background(), siptest.NewRequest(sip.MESSAGE, "sip:bob@192.0.2.20"), uas.Target(transport.UDP))
		first <- res
	}()
	<-started
	res, err := uac.Do(context.Background(), siptest.NewRequest(sip.MESSAGE, "sip:bob@192.0.2.20"), uas.Target(transport.UDP))
	require.NoError(t, err)
	require.Equal(t, 503, res.StatusCode)
	require.Equal(t, []string{"9"}, sip.HeaderValues(res, "Retry-After"))
	close(block)
	require.Equal(t, 200, (<-first).StatusCode)
}

func TestShutdownDrainsRunningHandlers(t *testing.T) {
	started := make(chan struct{})
	h := sip.HandlerFunc(func(ctx context.Context, w sip.ResponseWriter, req *sip.Request) {
		close(started)
		time.Sleep(100 * time.Millisecond)
		_ = sip.Respond(w, req, 200, "")
	})
	n := siptest.NewNetwork(siptest.NetworkConfig{})
	srv := newServer(t, n, "192.0.2.20:5060", h, transaction.ServerConfig{})
	served := make(chan error, 1)
	go func() { served <- srv.Serve() }()
	uac := siptest.NewStack(t, n, "192.0.2.10:5060", siptest.StackConfig{})
	res := make(chan *sip.Response, 1)
	go func() {
		r, _ := uac.Do(context.Background(), siptest.NewRequest(sip.MESSAGE, "sip:bob@192.0.2.20"), transport.Target{Transport: transport.UDP, Addr: netipMust("192.0.2.20:5060")})
		res <- r
	}()
	<-started
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, srv.Shutdown(ctx))
	require.Equal(t, 200, (<-res).StatusCode, "the running handler finished before the transports closed")
	require.ErrorIs(t, <-served, transaction.ErrServerClosed)
}

func TestRFC2543RequestsMatchWithoutCookie(t *testing.T) {
	clock, n, uas, log := serverFixture(t, byMethod(map[sip.RequestMethod]int{sip.INVITE: 486, sip.OPTIONS: 200}), transaction.Config{TryingDelay: transaction.NoTrying})
	c := rawClient(t, n)
	inv := strings.Replace(inviteText("old2543"), ";branch=old2543", "", 1)
	c.send(t, uas.Addr, inv)
	require.Eventually(t, func() bool { return len(log.times("SIP/2.0 486 Busy Here")) == 1 }, time.Second, time.Millisecond)
	// A retransmission is absorbed: the 486 is resent, no new transaction.
	c.send(t, uas.Addr, inv)
	require.Eventually(t, func() bool { return len(log.times("SIP/2.0 486 Busy Here")) == 2 }, time.Second, time.Millisecond)
	require.Equal(t, 1, uas.Transactions.Len())
	// The ACK carries the 486's To tag, which the INVITE lacked.
	req, err := sip.NewParser(0).Parse([]byte(inv))
	require.NoError(t, err)
	tag := sip.ToTag(req.(*sip.Request))
	ack := strings.Replace(strings.Replace(inv, "INVITE sip", "ACK sip", 1), "CSeq: 1 INVITE", "CSeq: 1 ACK", 1)
	ack = strings.Replace(ack, "To: <sip:bob@example.com>", "To: <sip:bob@example.com>;tag="+tag, 1)
	c.send(t, uas.Addr, ack)
	optionsProbe(t, c, uas.Addr, log, "z9hG4bKprobe2543")
	clock.Advance(10 * time.Second)
	require.Len(t, log.times("SIP/2.0 486 Busy Here"), 2, "the ACK stopped Timer G")
}

func TestInlineRunsHandlerOnTheReadingGoroutine(t *testing.T) {
	stacks := make(chan string, 2)
	h := sip.HandlerFunc(func(ctx context.Context, w sip.ResponseWriter, req *sip.Request) {
		buf := make([]byte, 64<<10)
		stacks <- string(buf[:runtime.Stack(buf, false)])
		_ = sip.Respond(w, req, 200, "")
	})
	n := siptest.NewNetwork(siptest.NetworkConfig{})
	srv := newServer(t, n, "192.0.2.20:5060", h, transaction.ServerConfig{
		Inline: func(req *sip.Request) bool { return req.Method == sip.REGISTER },
	})
	require.NoError(t, srv.Start())
	t.Cleanup(func() { _ = srv.Shutdown(context.Background()) })
	uac := siptest.NewStack(t, n, "192.0.2.10:5060", siptest.StackConfig{})
	to := transport.Target{Transport: transport.UDP, Addr: netipMust("192.0.2.20:5060")}
	for _, m := range []sip.RequestMethod{sip.REGISTER, sip.OPTIONS} {
		res, err := uac.Do(context.Background(), siptest.NewRequest(m, "sip:example.com"), to)
		require.NoError(t, err)
		require.Equal(t, 200, res.StatusCode)
	}
	inline, own := <-stacks, <-stacks
	require.Contains(t, inline, "transaction.(*Layer).ReceiveMessage", "REGISTER ran on the reader")
	require.NotContains(t, own, "transaction.(*Layer).ReceiveMessage", "OPTIONS ran on a goroutine of its own")
}
