package proxy_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/siphon-go/siphon/proxy"
	"github.com/siphon-go/siphon/sip"
	"github.com/siphon-go/siphon/siptest"
	"github.com/siphon-go/siphon/transaction"
	"github.com/siphon-go/siphon/transport"
	"github.com/stretchr/testify/require"
)

// world is a UAC, a proxy at 192.0.2.1 and UASes at 192.0.2.20 and up, on
// one in-memory network.
type world struct {
	n     *siptest.Network
	uac   *siptest.Stack
	px    *siptest.Stack
	proxy *proxy.Proxy
	uas   []*siptest.Stack
	taps  []*siptest.Messages
}

func newWorld(t *testing.T, cfg proxy.Config, handlers ...sip.Handler) *world {
	t.Helper()
	return newWorldServer(t, cfg, transaction.ServerConfig{}, handlers...)
}

// newWorldServer is newWorld with the proxy stack's server configured.
func newWorldServer(t *testing.T, cfg proxy.Config, sc transaction.ServerConfig, handlers ...sip.Handler) *world {
	t.Helper()
	w := &world{n: siptest.NewNetwork(siptest.NetworkConfig{})}
	for i, h := range handlers {
		tap := siptest.NewMessages()
		addr := "192.0.2." + string(rune('0'+2)) + string(rune('0'+i)) + ":5060"
		w.uas = append(w.uas, siptest.NewStack(t, w.n, addr, siptest.StackConfig{Handler: h, Transport: transport.Config{Tap: tap}}))
		w.taps = append(w.taps, tap)
	}
	w.px = siptest.NewStack(t, w.n, "192.0.2.1:5060", siptest.StackConfig{Server: sc, NewHandler: func(l *transaction.Layer) sip.Handler {
		w.proxy = proxy.New(l, cfg)
		return w.proxy
	}})
	w.uac = siptest.NewStack(t, w.n, "192.0.2.10:5060", siptest.StackConfig{})
	return w
}

// target returns the proxy.Target for UAS i over UDP.
func (w *world) target(i int, q float64) proxy.Target {
	u, _ := sip.ParseURI("sip:bob@" + w.uas[i].Addr.String())
	return proxy.Target{URI: u, Q: q}
}

// call sends req to the proxy and collects the responses.
type call struct {
	mu     sync.Mutex
	codes  []int
	res    []*sip.Response
	finals chan *sip.Response
	tx     *transaction.ClientTx
}

func (w *world) send(t *testing.T, req *sip.Request) *call {
	t.Helper()
	c := &call{finals: make(chan *sip.Response, 4)}
	tx, err := w.uac.Transactions.Request(context.Background(), req, w.px.Target(transport.UDP), transaction.ClientOptions{
		OnResponse: func(_ *transaction.ClientTx, res *sip.Response) {
			c.mu.Lock()
			c.codes = append(c.codes, res.StatusCode)
			c.res = append(c.res, res)
			c.mu.Unlock()
			if res.StatusCode >= 200 {
				c.finals <- res
			}
		},
	})
	require.NoError(t, err)
	c.tx = tx
	return c
}

func (c *call) final(t *testing.T) *sip.Response {
	t.Helper()
	select {
	case r := <-c.finals:
		return r
	case <-time.After(5 * time.Second):
		t.Fatal("no final response")
	}
	return nil
}

func (c *call) seen(code int) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, x := range c.codes {
		if x == code {
			return true
		}
	}
	return false
}

// inbound returns the messages UAS i received whose start line begins with
// prefix.
func (w *world) inbound(i int, prefix string) []siptest.Captured {
	var out []siptest.Captured
	for _, c := range w.taps[i].Drain() {
		if c.Dir == transport.In && strings.HasPrefix(c.Data, prefix) {
			out = append(out, c)
		}
	}
	return out
}

func topVia(data string) string {
	for _, l := range strings.Split(data, "\r\n") {
		if strings.HasPrefix(l, "Via: ") {
			return l
		}
	}
	return ""
}

// ringing answers 180 and waits until cancelled, then returns (the Server
// answers 487).
func ringing(started chan<- struct{}) sip.Handler {
	return sip.HandlerFunc(func(ctx context.Context, w sip.ResponseWriter, req *sip.Request) {
		if req.Method != sip.INVITE {
			_ = sip.Respond(w, req, 200, "")
			return
		}
		_ = sip.Respond(w, req, 180, "")
		if started != nil {
			started <- struct{}{}
		}
		<-ctx.Done()
	})
}

func answer(codes ...int) sip.Handler { return siptest.Respond(codes...) }

func TestForwardsWithRecordRouteAndMaxForwards(t *testing.T) {
	var got atomic.Pointer[sip.Request]
	uas := sip.HandlerFunc(func(ctx context.Context, w sip.ResponseWriter, req *sip.Request) {
		got.Store(req)
		_ = sip.Respond(w, req, 180, "")
		_ = sip.Respond(w, req, 200, "")
	})
	w := newWorld(t, proxy.Config{RecordRoute: true}, uas)
	c := w.send(t, siptest.NewRequest(sip.INVITE, "sip:bob@"+w.uas[0].Addr.String()))
	res := c.final(t)
	require.Equal(t, 200, res.StatusCode)
	require.True(t, c.seen(180))
	req := got.Load()
	require.EqualValues(t, 69, req.MaxForwards().Val(), "§16.6 step 3")
	rr, err := sip.RecordRoutes(req)
	require.NoError(t, err)
	require.Len(t, rr, 1)
	require.Equal(t, "<sip:192.0.2.1:5060;lr>", rr[0].String())
	require.Len(t, req.GetHeaders("Via"), 2)
	// The 200 carries the Record-Route back and only the UAC's Via.
	require.Equal(t, []string{"<sip:192.0.2.1:5060;lr>"}, sip.HeaderValues(res, "Record-Route"))
	require.Len(t, res.GetHeaders("Via"), 1)
}

func TestCancelReachesDownstreamOnInviteBranch(t *testing.T) {
	started := make(chan struct{}, 1)
	var cancels atomic.Int64
	w := newWorld(t, proxy.Config{Locate: nil}, ringing(started))
	w.proxy = nil
	c := w.send(t, siptest.NewRequest(sip.INVITE, "sip:bob@"+w.uas[0].Addr.String()))
	<-started
	require.Eventually(t, func() bool { return c.seen(180) }, time.Second, time.Millisecond)
	require.NoError(t, c.tx.Cancel())
	res := c.final(t)
	require.Equal(t, 487, res.StatusCode)
	// §9.1/§16.10: the CANCEL the UAS got matches its INVITE's top Via.
	msgs := w.taps[0].Drain()
	var inv, can string
	for _, m := range msgs {
		if m.Dir != transport.In {
			continue
		}
		switch {
		case strings.HasPrefix(m.Data, "INVITE "):
			inv = topVia(m.Data)
		case strings.HasPrefix(m.Data, "CANCEL "):
			can = topVia(m.Data)
			cancels.Add(1)
		}
	}
	require.NotEmpty(t, inv)
	require.Equal(t, inv, can)
	require.EqualValues(t, 1, cancels.Load())
}

func TestCancelHookFiresOnce(t *testing.T) {
	started := make(chan struct{}, 1)
	var fired atomic.Int64
	uas := ringing(started)
	var w *world
	relay := sip.HandlerFunc(func(ctx context.Context, rw sip.ResponseWriter, req *sip.Request) {
		_ = w.proxy.Relay(ctx, rw, req, &proxy.Options{OnCancel: func(*sip.Request) { fired.Add(1) }}, w.target(0, 1))
	})
	w = newWorld(t, proxy.Config{}, uas)
	// The proxy stack runs a handler that calls Relay with options.
	px := siptest.NewStack(t, w.n, "192.0.2.2:5060", siptest.StackConfig{NewHandler: func(l *transaction.Layer) sip.Handler {
		w.proxy = proxy.New(l, proxy.Config{})
		return relay
	}})
	tx, err := w.uac.Transactions.Request(context.Background(), siptest.NewRequest(sip.INVITE, "sip:bob@example.com"), px.Target(transport.UDP), transaction.ClientOptions{})
	require.NoError(t, err)
	<-started
	time.Sleep(20 * time.Millisecond)
	require.NoError(t, tx.Cancel())
	require.Eventually(t, func() bool { return tx.Final() != nil }, 3*time.Second, time.Millisecond)
	require.Equal(t, 487, tx.Final().StatusCode)
	time.Sleep(20 * time.Millisecond)
	require.EqualValues(t, 1, fired.Load())
}

func TestTwoHundredRacingCancelIsRelayed(t *testing.T) {
	started := make(chan struct{}, 1)
	uas := sip.HandlerFunc(func(ctx context.Context, w sip.ResponseWriter, req *sip.Request) {
		_ = sip.Respond(w, req, 180, "")
		started <- struct{}{}
		<-ctx.Done() // the CANCEL arrived; answer anyway
		_ = w.(transaction.Relayer).RelayResponse(sip.NewResponse(req, 200, ""))
	})
	w := newWorld(t, proxy.Config{}, uas)
	c := w.send(t, siptest.NewRequest(sip.INVITE, "sip:bob@"+w.uas[0].Addr.String()))
	<-started
	require.Eventually(t, func() bool { return c.seen(180) }, time.Second, time.Millisecond)
	require.NoError(t, c.tx.Cancel())
	require.Equal(t, 200, c.final(t).StatusCode, "RFC 3261 §9.1: the 2xx that won the race reaches the caller")
}

func TestRejectAtProvisionalSendsOneFinalAndCancels(t *testing.T) {
	var uasCancelled atomic.Bool
	uas := sip.HandlerFunc(func(ctx context.Context, w sip.ResponseWriter, req *sip.Request) {
		_ = sip.Respond(w, req, 183, "")
		<-ctx.Done()
		uasCancelled.Store(errors.Is(context.Cause(ctx), transaction.ErrCanceled))
	})
	var w *world
	relay := sip.HandlerFunc(func(ctx context.Context, rw sip.ResponseWriter, req *sip.Request) {
		_ = w.proxy.Relay(ctx, rw, req, &proxy.Options{OnReply: func(b *proxy.Branch, res *sip.Response) error {
			if res.StatusCode == 183 {
				return sip.NewStatusError(503, "Media Authorization Failed")
			}
			return nil
		}}, w.target(0, 1))
	})
	w = newWorld(t, proxy.Config{}, uas)
	px := siptest.NewStack(t, w.n, "192.0.2.2:5060", siptest.StackConfig{NewHandler: func(l *transaction.Layer) sip.Handler {
		w.proxy = proxy.New(l, proxy.Config{})
		return relay
	}})
	var finals atomic.Int64
	var codes []int
	var final atomic.Pointer[sip.Response]
	var mu sync.Mutex
	tx, err := w.uac.Transactions.Request(context.Background(), siptest.NewRequest(sip.INVITE, "sip:bob@example.com"), px.Target(transport.UDP), transaction.ClientOptions{
		OnResponse: func(_ *transaction.ClientTx, res *sip.Response) {
			mu.Lock()
			codes = append(codes, res.StatusCode)
			mu.Unlock()
			if res.StatusCode >= 200 {
				finals.Add(1)
				final.CompareAndSwap(nil, res)
			}
		},
	})
	require.NoError(t, err)
	_ = tx
	require.Eventually(t, func() bool { return final.Load() != nil }, 3*time.Second, time.Millisecond)
	require.Equal(t, 503, final.Load().StatusCode)
	require.Equal(t, "Media Authorization Failed", final.Load().Reason)
	require.Eventually(t, uasCancelled.Load, 2*time.Second, time.Millisecond, "the UAS got a CANCEL on its INVITE")
	time.Sleep(50 * time.Millisecond)
	require.EqualValues(t, 1, finals.Load(), "exactly one final: the 487 is absorbed")
	mu.Lock()
	require.NotContains(t, codes, 183, "the rejected provisional is not relayed")
	mu.Unlock()
	// The UAS's 487 was ACKed (hop by hop, RFC 3261 §17.1.1.3).
	require.Eventually(t, func() bool { return len(w.inbound(0, "ACK ")) == 1 }, 2*time.Second, 5*time.Millisecond)
}

func TestACKWhoseNextHopIsThisProxyIsDropped(t *testing.T) {
	w := newWorld(t, proxy.Config{}, answer(200))
	tap := siptest.NewMessages()
	_ = tap
	ack := siptest.NewRequest(sip.ACK, "sip:"+w.px.Addr.String())
	transaction.PrependVia(ack, "")
	ack.To().Params = sip.HeaderParams{{K: "tag", V: "x"}}
	before := w.px.Transport.Stats().Sent
	require.NoError(t, w.uac.Transactions.Send(ack, w.px.Target(transport.UDP)))
	time.Sleep(50 * time.Millisecond)
	require.Equal(t, before, w.px.Transport.Stats().Sent, "not relayed, not looped")
}

func TestSequentialForkingMovesOnAfterServerError(t *testing.T) {
	w := newWorld(t, proxy.Config{}, answer(503), answer(408), answer(200))
	var targets []proxy.Target
	relay := func(ctx context.Context, rw sip.ResponseWriter, req *sip.Request) {
		_ = w.proxy.Relay(ctx, rw, req, &proxy.Options{Sequential: true}, targets...)
	}
	px := siptest.NewStack(t, w.n, "192.0.2.2:5060", siptest.StackConfig{NewHandler: func(l *transaction.Layer) sip.Handler {
		w.proxy = proxy.New(l, proxy.Config{})
		return sip.HandlerFunc(relay)
	}})
	targets = []proxy.Target{w.target(0, 1.0), w.target(1, 0.7), w.target(2, 0.5)}
	res, err := w.uac.Do(context.Background(), siptest.NewRequest(sip.INVITE, "sip:bob@example.com"), px.Target(transport.UDP))
	require.NoError(t, err)
	require.Equal(t, 200, res.StatusCode)
	for i := range w.uas {
		require.Len(t, w.inbound(i, "INVITE "), 1, "each target tried once, in q order")
	}
}

func TestSequentialForkingStopsOnBusy(t *testing.T) {
	w := newWorld(t, proxy.Config{}, answer(486), answer(200))
	var targets []proxy.Target
	px := siptest.NewStack(t, w.n, "192.0.2.2:5060", siptest.StackConfig{NewHandler: func(l *transaction.Layer) sip.Handler {
		w.proxy = proxy.New(l, proxy.Config{})
		return sip.HandlerFunc(func(ctx context.Context, rw sip.ResponseWriter, req *sip.Request) {
			_ = w.proxy.Relay(ctx, rw, req, &proxy.Options{Sequential: true}, targets...)
		})
	}})
	targets = []proxy.Target{w.target(0, 1.0), w.target(1, 0.5)}
	res, err := w.uac.Do(context.Background(), siptest.NewRequest(sip.INVITE, "sip:bob@example.com"), px.Target(transport.UDP))
	require.NoError(t, err)
	require.Equal(t, 486, res.StatusCode)
	require.Empty(t, w.inbound(1, "INVITE "))
}

func TestParallelForkingCancelsLosersAndForwardsEvery2xx(t *testing.T) {
	started := make(chan struct{}, 1)
	answered := make(chan struct{})
	late := sip.HandlerFunc(func(ctx context.Context, w sip.ResponseWriter, req *sip.Request) {
		_ = sip.Respond(w, req, 180, "")
		<-answered
		_ = sip.Respond(w, req, 200, "") // a second 2xx, after the first
	})
	w := newWorld(t, proxy.Config{}, ringing(started), answer(180, 200), late)
	var targets []proxy.Target
	px := siptest.NewStack(t, w.n, "192.0.2.2:5060", siptest.StackConfig{NewHandler: func(l *transaction.Layer) sip.Handler {
		w.proxy = proxy.New(l, proxy.Config{})
		return sip.HandlerFunc(func(ctx context.Context, rw sip.ResponseWriter, req *sip.Request) {
			_ = w.proxy.Relay(ctx, rw, req, nil, targets...)
		})
	}})
	targets = []proxy.Target{w.target(0, 1), w.target(1, 1), w.target(2, 1)}
	var mu sync.Mutex
	var twoHundreds int
	tx, err := w.uac.Transactions.Request(context.Background(), siptest.NewRequest(sip.INVITE, "sip:bob@example.com"), px.Target(transport.UDP), transaction.ClientOptions{
		OnResponse: func(_ *transaction.ClientTx, res *sip.Response) {
			if res.StatusCode == 200 {
				mu.Lock()
				twoHundreds++
				if twoHundreds == 1 {
					close(answered)
				}
				mu.Unlock()
			}
		},
	})
	require.NoError(t, err)
	<-started
	require.Eventually(t, func() bool { return len(w.inbound(0, "CANCEL ")) == 1 }, 3*time.Second, 5*time.Millisecond, "the ringing loser is cancelled")
	require.Eventually(t, func() bool { mu.Lock(); defer mu.Unlock(); return twoHundreds == 2 }, 3*time.Second, 5*time.Millisecond, "every 2xx is forwarded")
	_ = tx
}

func TestValidation(t *testing.T) {
	w := newWorld(t, proxy.Config{}, answer(200))
	for _, tc := range []struct {
		name string
		req  *sip.Request
		code int
	}{
		{"max-forwards", siptest.NewRequest(sip.MESSAGE, "sip:bob@"+w.uas[0].Addr.String(), func(r *sip.Request) { *r.MaxForwards() = 0 }), 483},
		{"proxy-require", siptest.NewRequest(sip.MESSAGE, "sip:bob@"+w.uas[0].Addr.String(), siptest.WithHeader("Proxy-Require", "foo")), 420},
		{"scheme", siptest.NewRequest(sip.MESSAGE, "mailto:bob@example.com"), 416},
		{"unknown dialog", siptest.NewRequest(sip.BYE, "sip:"+"192.0.2.1:5060", func(r *sip.Request) { r.To().Params = sip.HeaderParams{{K: "tag", V: "t"}} }), 481},
		{"no location service", siptest.NewRequest(sip.INVITE, "sip:bob@192.0.2.1"), 404},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := w.uac.Do(context.Background(), tc.req, w.px.Target(transport.UDP))
			require.NoError(t, err)
			require.Equal(t, tc.code, res.StatusCode)
		})
	}
}

func TestOptionsToProxyItself(t *testing.T) {
	w := newWorld(t, proxy.Config{Supported: []string{"path"}})
	res, err := w.uac.Do(context.Background(), siptest.NewRequest(sip.OPTIONS, "sip:192.0.2.1"), w.px.Target(transport.UDP))
	require.NoError(t, err)
	require.Equal(t, 200, res.StatusCode)
	require.NotEmpty(t, sip.HeaderValues(res, "Allow"))
	require.Equal(t, []string{"<sip:192.0.2.1:5060>"}, sip.HeaderValues(res, "Contact"))
}

func TestLoopDetected(t *testing.T) {
	// The proxy forwards to itself through a Route that is not its own, which
	// resolves to its own address: the request comes back unchanged.
	w := newWorld(t, proxy.Config{})
	res, err := w.uac.Do(context.Background(), siptest.NewRequest(sip.MESSAGE, "sip:bob@192.0.2.1:5060;transport=udp",
		siptest.WithHeader("Route", "<sip:192.0.2.1:5060;lr>")), w.px.Target(transport.UDP))
	require.NoError(t, err)
	// The Route is this proxy (popped), the R-URI is this proxy: not relayed
	// to itself.
	require.Equal(t, 404, res.StatusCode)
}

func TestUnreachableTargetFailsFast(t *testing.T) {
	var failed atomic.Int64
	w := newWorld(t, proxy.Config{})
	px := siptest.NewStack(t, w.n, "192.0.2.2:5060", siptest.StackConfig{NewHandler: func(l *transaction.Layer) sip.Handler {
		w.proxy = proxy.New(l, proxy.Config{})
		return sip.HandlerFunc(func(ctx context.Context, rw sip.ResponseWriter, req *sip.Request) {
			dead, _ := sip.ParseURI("sip:bob@192.0.2.77:5060;transport=tcp")
			_ = w.proxy.Relay(ctx, rw, req, &proxy.Options{OnFailure: func(*sip.Response) []proxy.Target {
				failed.Add(1)
				return nil
			}}, proxy.Target{URI: dead})
		})
	}})
	start := time.Now()
	res, err := w.uac.Do(context.Background(), siptest.NewRequest(sip.INVITE, "sip:bob@example.com"), px.Target(transport.UDP))
	require.NoError(t, err)
	require.Equal(t, 503, res.StatusCode)
	require.Less(t, time.Since(start), time.Second)
	require.EqualValues(t, 1, failed.Load())
}

// TestReplyTimeoutFailsOverFromASilentNextHop: a next hop that never
// answers costs ReplyTimeout, not Timer B's 32 s, before the next target.
func TestReplyTimeoutFailsOverFromASilentNextHop(t *testing.T) {
	w := newWorld(t, proxy.Config{}, answer(200))
	silent, _ := sip.ParseURI("sip:bob@192.0.2.99:5060") // nobody there
	targets := []proxy.Target{{URI: silent, Q: 1}, w.target(0, 0.5)}
	px := siptest.NewStack(t, w.n, "192.0.2.2:5060", siptest.StackConfig{NewHandler: func(l *transaction.Layer) sip.Handler {
		w.proxy = proxy.New(l, proxy.Config{})
		return sip.HandlerFunc(func(ctx context.Context, rw sip.ResponseWriter, req *sip.Request) {
			_ = w.proxy.Relay(ctx, rw, req, &proxy.Options{Sequential: true, ReplyTimeout: 150 * time.Millisecond}, targets...)
		})
	}})
	start := time.Now()
	res, err := w.uac.Do(context.Background(), siptest.NewRequest(sip.INVITE, "sip:bob@example.com"), px.Target(transport.UDP))
	require.NoError(t, err)
	require.Equal(t, 200, res.StatusCode)
	require.Less(t, time.Since(start), 5*time.Second)
	require.Len(t, w.inbound(0, "INVITE "), 1)
}
