package proxy_test

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/siphon-go/siphon/proxy"
	"github.com/siphon-go/siphon/sip"
	"github.com/siphon-go/siphon/siptest"
	"github.com/siphon-go/siphon/transaction"
	"github.com/siphon-go/siphon/transport"
	"github.com/stretchr/testify/require"
)

// TestLoopBetweenTwoProxies sends a request around two proxies that point
// at each other: the first one to see it again answers 482 (RFC 3261 §16.3
// item 4).
func TestLoopBetweenTwoProxies(t *testing.T) {
	n := siptest.NewNetwork(siptest.NetworkConfig{})
	at := func(addr string) proxy.Target {
		return proxy.Target{Next: transport.Target{Transport: transport.UDP, Addr: netip.MustParseAddrPort(addr)}}
	}
	locateTo := func(addr string) func(context.Context, *sip.Request) ([]proxy.Target, error) {
		return func(context.Context, *sip.Request) ([]proxy.Target, error) { return []proxy.Target{at(addr)}, nil }
	}
	for _, p := range [][2]string{{"192.0.2.1:5060", "192.0.2.2:5060"}, {"192.0.2.2:5060", "192.0.2.1:5060"}} {
		next := p[1]
		siptest.NewStack(t, n, p[0], siptest.StackConfig{NewHandler: func(l *transaction.Layer) sip.Handler {
			return proxy.New(l, proxy.Config{Domains: []string{"example.com"}, Locate: locateTo(next)})
		}})
	}
	uac := siptest.NewStack(t, n, "192.0.2.10:5060", siptest.StackConfig{})
	res, err := uac.Do(context.Background(), siptest.NewRequest(sip.MESSAGE, "sip:bob@example.com"),
		transport.Target{Transport: transport.UDP, Addr: netip.MustParseAddrPort("192.0.2.1:5060")})
	require.NoError(t, err)
	require.Equal(t, 482, res.StatusCode)
}

// TestInDialogRequestsFollowRecordRoute runs a call through a
// record-routing proxy: the 2xx ACK and the BYE take the route set back
// through it, in both directions.
func TestInDialogRequestsFollowRecordRoute(t *testing.T) {
	n := siptest.NewNetwork(siptest.NetworkConfig{})
	calleeTap := siptest.NewMessages()
	proxyTap := siptest.NewMessages()
	var px *proxy.Proxy
	callee := siptest.NewStack(t, n, "192.0.2.20:5060", siptest.StackConfig{Transport: transport.Config{Tap: calleeTap},
		Handler: sip.HandlerFunc(func(ctx context.Context, w sip.ResponseWriter, req *sip.Request) {
			if req.Method == sip.ACK {
				return
			}
			res := sip.NewResponse(req, 200, "")
			res.AppendHeader(sip.NewHeader("Contact", "<sip:bob@192.0.2.20:5060>"))
			_ = w.WriteResponse(res)
		})})
	siptest.NewStack(t, n, "192.0.2.1:5060", siptest.StackConfig{Transport: transport.Config{Tap: proxyTap},
		NewHandler: func(l *transaction.Layer) sip.Handler {
			px = proxy.New(l, proxy.Config{RecordRoute: true})
			return px
		}})
	caller := siptest.NewStack(t, n, "192.0.2.10:5060", siptest.StackConfig{Handler: siptest.Respond(200)})
	outbound := transport.Target{Transport: transport.UDP, Addr: netip.MustParseAddrPort("192.0.2.1:5060")}

	inv := siptest.NewRequest(sip.INVITE, "sip:bob@192.0.2.20:5060", siptest.WithHeader("Contact", "<sip:alice@192.0.2.10:5060>"))
	res, err := caller.Do(context.Background(), inv, outbound)
	require.NoError(t, err)
	require.Equal(t, 200, res.StatusCode)
	rr, err := sip.RecordRoutes(res)
	require.NoError(t, err)
	require.Len(t, rr, 1)

	// The caller's route set is the reversed Record-Route: ACK and BYE go to
	// the proxy with a Route, the Request-URI is the callee's Contact.
	inDialog := func(m sip.RequestMethod, seq uint32) *sip.Request {
		u, _ := sip.ParseURI("sip:bob@192.0.2.20:5060")
		r := sip.NewRequest(m, u)
		r.AppendHeader(inv.From())
		r.AppendHeader(res.To())
		r.AppendHeader(inv.CallID())
		r.AppendHeader(&sip.CSeqHeader{SeqNo: seq, MethodName: m})
		mf := sip.MaxForwardsHeader(70)
		r.AppendHeader(&mf)
		_ = sip.SetNameAddrs(r, "Route", rr)
		r.SetBody(nil)
		return r
	}
	ack := inDialog(sip.ACK, 1)
	transaction.PrependVia(ack, "")
	require.NoError(t, caller.Transactions.Send(ack, outbound))
	require.Eventually(t, func() bool { return inboundCount(calleeTap, "ACK ") == 1 }, time.Second, time.Millisecond)
	require.Equal(t, 1, px.Dialogs(), "the answered call's next hops are remembered")

	// The callee hangs up: its BYE uses the route set as received.
	bye := sip.NewRequest(sip.BYE, *inv.Contact().Address.Clone())
	u, _ := sip.ParseURI("sip:alice@192.0.2.10:5060")
	bye.Recipient = u
	bye.AppendHeader(&sip.FromHeader{Address: res.To().Address, Params: res.To().Params})
	bye.AppendHeader(&sip.ToHeader{Address: inv.From().Address, Params: inv.From().Params})
	bye.AppendHeader(inv.CallID())
	bye.AppendHeader(&sip.CSeqHeader{SeqNo: 1, MethodName: sip.BYE})
	mf := sip.MaxForwardsHeader(70)
	bye.AppendHeader(&mf)
	_ = sip.SetNameAddrs(bye, "Route", rr)
	bye.SetBody(nil)
	res2, err := callee.Do(context.Background(), bye, outbound)
	require.NoError(t, err)
	require.Equal(t, 200, res2.StatusCode)
	require.Zero(t, px.Dialogs(), "the BYE's 200 ends the dialog: its next hops are forgotten at once")
	// Both went through the proxy.
	var inACK, inBYE int
	for _, c := range proxyTap.Drain() {
		if c.Dir == transport.In && strings.HasPrefix(c.Data, "ACK ") {
			inACK++
		}
		if c.Dir == transport.In && strings.HasPrefix(c.Data, "BYE ") {
			inBYE++
		}
	}
	require.Equal(t, 1, inACK)
	require.Equal(t, 1, inBYE)
}

func inboundCount(tap *siptest.Messages, prefix string) int {
	n := 0
	for _, c := range tap.Drain() {
		if c.Dir == transport.In && strings.HasPrefix(c.Data, prefix) {
			n++
		}
	}
	return n
}

// TestDoubleRecordRouteAcrossTransports: a request that comes in on UDP and
// leaves on TCP gets two Record-Route entries, the outgoing side on top.
func TestDoubleRecordRouteAcrossTransports(t *testing.T) {
	got := make(chan *sip.Request, 1)
	w := newWorld(t, proxy.Config{RecordRoute: true}, sip.HandlerFunc(func(ctx context.Context, rw sip.ResponseWriter, req *sip.Request) {
		got <- req
		_ = sip.Respond(rw, req, 200, "")
	}))
	res, err := w.uac.Do(context.Background(), siptest.NewRequest(sip.INVITE, "sip:bob@"+w.uas[0].Addr.String()+";transport=tcp"), w.px.Target(transport.UDP))
	require.NoError(t, err)
	require.Equal(t, 200, res.StatusCode)
	req := <-got
	rr, err := sip.RecordRoutes(req)
	require.NoError(t, err)
	require.Len(t, rr, 2)
	require.Equal(t, "<sip:192.0.2.1:5060;transport=tcp;lr>", rr[0].String())
	require.Equal(t, "<sip:192.0.2.1:5060;lr>", rr[1].String())
}
