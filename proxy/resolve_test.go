package proxy_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/siphon-go/siphon/internal/dnstest"
	"github.com/siphon-go/siphon/proxy"
	"github.com/siphon-go/siphon/sip"
	"github.com/siphon-go/siphon/siptest"
	"github.com/siphon-go/siphon/transaction"
	"github.com/siphon-go/siphon/transport"
	"github.com/siphon-go/siphon/transport/resolve"
)

// failoverZone gives svc.example.com five targets in NAPTR/SRV order: UDP
// to IPv6 (the proxy has no IPv6 listener: the very first send fails at
// once), TLS and TCP to addresses where nobody listens (connection
// refused), UDP to a UAS answering 503, and UDP to one answering 200. The
// UASes are on the memory network; the DNS server is real, on loopback.
const failoverZone = `
svc.example.com.            60 IN NAPTR 10 10 "s" "SIP+D2U"  "" _sip._udp.v6.svc.example.com.
svc.example.com.            60 IN NAPTR 20 10 "s" "SIPS+D2T" "" _sips._tcp.svc.example.com.
svc.example.com.            60 IN NAPTR 30 10 "s" "SIP+D2T"  "" _sip._tcp.svc.example.com.
svc.example.com.            60 IN NAPTR 40 10 "s" "SIP+D2U"  "" _sip._udp.svc.example.com.
_sip._udp.v6.svc.example.com. 60 IN SRV 10 0 5060 v6.example.com.
_sips._tcp.svc.example.com. 60 IN SRV   10 0 5061 dead.example.com.
_sip._tcp.svc.example.com.  60 IN SRV   10 0 5060 dead.example.com.
_sip._udp.svc.example.com.  60 IN SRV   10 0 5060 busy.example.com.
_sip._udp.svc.example.com.  60 IN SRV   20 0 5060 ok.example.com.
v6.example.com.             60 IN AAAA  2001:db8::20
busy.example.com.           60 IN A     192.0.2.20
ok.example.com.             60 IN A     192.0.2.21
dead.example.com.           60 IN A     192.0.2.77
_sip._udp.silent.example.com. 60 IN SRV 10 0 5060 nobody.example.com.
_sip._udp.silent.example.com. 60 IN SRV 20 0 5060 ok.example.com.
nobody.example.com.         60 IN A     192.0.2.99
`

func newDNSResolver(t *testing.T) *resolve.Resolver {
	t.Helper()
	dns := dnstest.New(t, failoverZone)
	r, err := resolve.New(resolve.Config{Servers: []string{dns.Addr}})
	require.NoError(t, err)
	return r
}

// TestBranchFailsOverAcrossResolvedTargets: one branch to an FQDN walks the
// resolved targets (RFC 3263 §4.3): past refused connections, a send
// that fails at once and a 503, the call completes on the last target.
func TestBranchFailsOverAcrossResolvedTargets(t *testing.T) {
	r := newDNSResolver(t)
	w := newWorld(t, proxy.Config{Resolver: r}, answer(503), answer(180, 200))
	res, err := w.uac.Do(context.Background(), siptest.NewRequest(sip.INVITE, "sip:bob@svc.example.com"), w.px.Target(transport.UDP))
	require.NoError(t, err)
	require.Equal(t, 200, res.StatusCode)
	require.Len(t, w.inbound(0, "INVITE "), 1, "the 503 target was tried once")
	invites := w.inbound(1, "INVITE ")
	require.Len(t, invites, 1)
	require.Equal(t, 2, strings.Count(invites[0].Data, "\r\nVia: "), "one Via of the proxy's, whatever failed before")
	require.Contains(t, invites[0].Data, "INVITE sip:bob@svc.example.com SIP/2.0")
}

// TestBranchFailsOverFromASilentResolvedTarget: a target that never
// answers costs ReplyTimeout (Timer B/F otherwise), then the next one is
// tried.
func TestBranchFailsOverFromASilentResolvedTarget(t *testing.T) {
	r := newDNSResolver(t)
	w := newWorld(t, proxy.Config{}, answer(200), answer(200))
	dst, _ := sip.ParseURI("sip:bob@silent.example.com")
	px := siptest.NewStack(t, w.n, "192.0.2.2:5060", siptest.StackConfig{NewHandler: func(l *transaction.Layer) sip.Handler {
		w.proxy = proxy.New(l, proxy.Config{Resolver: r})
		return sip.HandlerFunc(func(ctx context.Context, rw sip.ResponseWriter, req *sip.Request) {
			_ = w.proxy.Relay(ctx, rw, req, &proxy.Options{ReplyTimeout: 150 * time.Millisecond}, proxy.Target{URI: dst})
		})
	}})
	start := time.Now()
	res, err := w.uac.Do(context.Background(), siptest.NewRequest(sip.INVITE, "sip:bob@example.com"), px.Target(transport.UDP))
	require.NoError(t, err)
	require.Equal(t, 200, res.StatusCode)
	require.Less(t, time.Since(start), 5*time.Second)
	require.Len(t, w.inbound(1, "INVITE "), 1, "answered by ok.example.com")
}

// TestUnresolvableTargetIsAnswered: a name that does not exist fails the
// branch at once.
func TestUnresolvableTargetIsAnswered(t *testing.T) {
	r := newDNSResolver(t)
	w := newWorld(t, proxy.Config{Resolver: r})
	start := time.Now()
	res, err := w.uac.Do(context.Background(), siptest.NewRequest(sip.MESSAGE, "sip:bob@missing.example.com"), w.px.Target(transport.UDP))
	require.NoError(t, err)
	require.Equal(t, 503, res.StatusCode)
	require.Less(t, time.Since(start), 2*time.Second)
}
