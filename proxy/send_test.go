package proxy_test

import (
	"context"
	"net/netip"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/siphon-go/siphon/proxy"
	"github.com/siphon-go/siphon/sip"
	"github.com/siphon-go/siphon/siptest"
	"github.com/siphon-go/siphon/transport"
)

// TestSendFollowsPreloadedRoute: a request the proxy originates with a
// pre-loaded Route goes to that Route's loose router with its Request-URI
// unchanged (RFC 3261 §8.1.2), not to the Request-URI's domain; an explicit
// next hop beats the Route; without either the Request-URI decides.
func TestSendFollowsPreloadedRoute(t *testing.T) {
	r := newDNSResolver(t)
	w := newWorld(t, proxy.Config{Resolver: r}, answer(200), answer(202))
	ctx := context.Background()

	sub := siptest.NewRequest(sip.SUBSCRIBE, "sip:alice@svc.example.com", siptest.WithHeader("Route", "<sip:192.0.2.21;lr>"), siptest.WithHeader("Event", "reg"))
	res, err := w.proxy.Send(ctx, sub, transport.Target{})
	require.NoError(t, err)
	require.Equal(t, 202, res.StatusCode, "answered by the Route's 192.0.2.21")
	got := w.inbound(1, "SUBSCRIBE ")
	require.Len(t, got, 1)
	require.Contains(t, got[0].Data, "SUBSCRIBE sip:alice@svc.example.com SIP/2.0", "Request-URI kept")
	require.Contains(t, got[0].Data, "\r\nRoute: <sip:192.0.2.21;lr>\r\n", "the Route rides along")
	require.Contains(t, got[0].Data, "\r\nMax-Forwards: 70\r\n")
	require.Empty(t, w.inbound(0, "SUBSCRIBE "))

	next := transport.Target{Transport: transport.UDP, Addr: netip.MustParseAddrPort("192.0.2.20:5060")}
	sub = siptest.NewRequest(sip.SUBSCRIBE, "sip:alice@svc.example.com", siptest.WithHeader("Route", "<sip:192.0.2.21;lr>"))
	res, err = w.proxy.Send(ctx, sub, next)
	require.NoError(t, err)
	require.Equal(t, 200, res.StatusCode, "the explicit next hop 192.0.2.20 wins over the Route")

	msg := siptest.NewRequest(sip.MESSAGE, "sip:bob@192.0.2.21")
	res, err = w.proxy.Send(ctx, msg, transport.Target{})
	require.NoError(t, err)
	require.Equal(t, 202, res.StatusCode, "no Route: the Request-URI")
}

// TestSendFailsOverAcrossResolvedTargets: the Route's host resolves to
// several targets (RFC 3263): refused and unsendable ones and a 503 are
// passed over, each attempt a fresh copy with one Via.
func TestSendFailsOverAcrossResolvedTargets(t *testing.T) {
	r := newDNSResolver(t)
	w := newWorld(t, proxy.Config{Resolver: r}, answer(503), answer(200))
	req := siptest.NewRequest(sip.NOTIFY, "sip:alice@192.0.2.50", siptest.WithHeader("Route", "<sip:svc.example.com;lr>"), siptest.WithHeader("Event", "reg"))
	res, err := w.proxy.Send(context.Background(), req, transport.Target{})
	require.NoError(t, err)
	require.Equal(t, 200, res.StatusCode)
	require.Len(t, w.inbound(0, "NOTIFY "), 1, "the 503 target, once")
	got := w.inbound(1, "NOTIFY ")
	require.Len(t, got, 1)
	require.Equal(t, 1, strings.Count(got[0].Data, "\r\nVia: "), "one Via, whatever failed before")
}

// TestSendRefusals: INVITE, ACK and CANCEL are not originated here; a
// Route to this proxy itself is a loop, not a send to ourselves.
func TestSendRefusals(t *testing.T) {
	w := newWorld(t, proxy.Config{}, answer(200))
	ctx := context.Background()
	for _, m := range []sip.RequestMethod{sip.INVITE, sip.ACK, sip.CANCEL} {
		_, err := w.proxy.Send(ctx, siptest.NewRequest(m, "sip:bob@192.0.2.20"), transport.Target{})
		require.ErrorIs(t, err, proxy.ErrSendMethod)
	}
	req := siptest.NewRequest(sip.OPTIONS, "sip:bob@192.0.2.20", siptest.WithHeader("Route", "<sip:192.0.2.1;lr>"))
	_, err := w.proxy.Send(ctx, req, transport.Target{})
	require.ErrorIs(t, err, proxy.ErrLoop)
	require.Empty(t, w.inbound(0, "OPTIONS "))
}
