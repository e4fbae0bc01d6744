package resolve_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/stretchr/testify/require"

	"github.com/siphon-go/siphon/internal/dnstest"
	"github.com/siphon-go/siphon/sip"
	"github.com/siphon-go/siphon/transport"
	"github.com/siphon-go/siphon/transport/resolve"
)

// zone is the fixture most tests resolve against. Addresses are from
// 192.0.2.0/24 and 2001:db8::/32; nothing is ever sent to them.
const zone = `
example.com.                  300 IN SOA   ns.example.com. host.example.com. 1 3600 600 86400 30

; NAPTR: order, then preference; unknown and unconfigured services skipped.
naptr.example.com.             60 IN NAPTR 20 10 "s" "SIP+D2U"  "" _sip._udp.naptr.example.com.
naptr.example.com.             60 IN NAPTR 10 20 "s" "SIP+D2T"  "" _sip._tcp.naptr.example.com.
naptr.example.com.             60 IN NAPTR 10 10 "s" "SIPS+D2T" "" _sips._tcp.naptr.example.com.
naptr.example.com.             60 IN NAPTR  5 10 "s" "SIP+D2W"  "" _sip._ws.naptr.example.com.
naptr.example.com.             60 IN NAPTR  1 10 "s" "XMPP+D2T" "" _xmpp._tcp.naptr.example.com.
_sips._tcp.naptr.example.com.  60 IN SRV   10 0 5061 tls.example.com.
_sip._tcp.naptr.example.com.   60 IN SRV   10 0 5060 tcp.example.com.
_sip._udp.naptr.example.com.   60 IN SRV   10 0 5060 udp.example.com.
_sip._ws.naptr.example.com.    60 IN SRV   10 0 8080 ws.example.com.
tls.example.com.               60 IN A     192.0.2.1
tcp.example.com.               60 IN A     192.0.2.2
udp.example.com.               60 IN A     192.0.2.3
ws.example.com.                60 IN A     192.0.2.4

; NAPTR to an SRV name that does not exist: the domain's own addresses.
nosrv.example.com.             60 IN NAPTR 10 10 "s" "SIP+D2T"  "" _sip._tcp.nosrv.example.com.
nosrv.example.com.             60 IN A     192.0.2.5

; SRV priorities and weights.
_sip._udp.weighted.example.com. 60 IN SRV 10 60 5060 w60.example.com.
_sip._udp.weighted.example.com. 60 IN SRV 10 30 5060 w30.example.com.
_sip._udp.weighted.example.com. 60 IN SRV 10 10 5060 w10.example.com.
_sip._udp.weighted.example.com. 60 IN SRV 20  0 5070 backup.example.com.
w60.example.com.               60 IN A     192.0.2.60
w30.example.com.               60 IN A     192.0.2.30
w10.example.com.               60 IN A     192.0.2.10
backup.example.com.            60 IN A     192.0.2.99

_sip._udp.zero.example.com.    60 IN SRV   10 0 5060 z1.example.com.
_sip._udp.zero.example.com.    60 IN SRV   10 0 5060 z2.example.com.
z1.example.com.                60 IN A     192.0.2.71
z2.example.com.                60 IN A     192.0.2.72

_sip._udp.mixed.example.com.   60 IN SRV   10   0 5060 z1.example.com.
_sip._udp.mixed.example.com.   60 IN SRV   10 100 5060 z2.example.com.

; "." target: no SIP over UDP here, but over TCP.
_sip._udp.nosvc.example.com.   60 IN SRV   0 0 0 .
nosvc.example.com.             60 IN A     192.0.2.9
_sip._udp.partial.example.com. 60 IN SRV   0 0 0 .
_sip._tcp.partial.example.com. 60 IN SRV   10 0 5080 tcp.example.com.

; SRV only, no NAPTR.
_sip._udp.srvonly.example.com. 60 IN SRV   10 0 5062 udp.example.com.
_sip._tcp.srvonly.example.com. 60 IN SRV   10 0 5063 tcp.example.com.
_sips._tcp.srvonly.example.com. 60 IN SRV  10 0 5064 tls.example.com.

; Addresses only.
plain.example.com.             60 IN A     192.0.2.50
multi.example.com.             60 IN A     192.0.2.31
multi.example.com.             60 IN A     192.0.2.32
multi.example.com.             60 IN A     192.0.2.33
multi.example.com.             60 IN A     192.0.2.34
multi.example.com.             60 IN AAAA  2001:db8::1
multi.example.com.             60 IN AAAA  2001:db8::2
alias.example.com.             60 IN CNAME plain.example.com.
zero-ttl.example.com.           0 IN A     192.0.2.51
long-ttl.example.com.       86400 IN A     192.0.2.52
a.example.com.                 60 IN A     192.0.2.81
b.example.com.                 60 IN A     192.0.2.82
c.example.com.                 60 IN A     192.0.2.83
`

// clock is a settable clock for cache expiry.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newResolver(t testing.TB, cfg resolve.Config, servers ...*dnstest.Server) *resolve.Resolver {
	t.Helper()
	for _, s := range servers {
		cfg.Servers = append(cfg.Servers, s.Addr)
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 2 * time.Second
	}
	r, err := resolve.New(cfg)
	require.NoError(t, err)
	return r
}

func uri(t testing.TB, s string) sip.Uri {
	t.Helper()
	u, err := sip.ParseURI(s)
	require.NoError(t, err)
	return u
}

func resolveURI(t testing.TB, r *resolve.Resolver, s string) ([]transport.Target, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return r.Resolve(ctx, uri(t, s))
}

// short renders targets as "TCP 192.0.2.2:5060" strings.
func short(ts []transport.Target) []string {
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = t.Transport + " " + t.Addr.String()
	}
	return out
}

func TestNAPTROrderAndServices(t *testing.T) {
	s := dnstest.New(t, zone)
	r := newResolver(t, resolve.Config{}, s)
	ts, err := resolveURI(t, r, "sip:naptr.example.com")
	require.NoError(t, err)
	// Order 10 before 20; within 10, preference 10 (TLS) before 20 (TCP).
	// WS is not configured and XMPP is not SIP.
	require.Equal(t, []string{"TLS 192.0.2.1:5061", "TCP 192.0.2.2:5060", "UDP 192.0.2.3:5060"}, short(ts))
	for _, x := range ts {
		require.Equal(t, "naptr.example.com", x.ServerName, "RFC 5922: the URI's domain is the identity")
	}
	require.Zero(t, s.Hits("_sip._ws.naptr.example.com", dns.TypeSRV))

	// Configured WebSocket: SIP+D2W is used, in its order.
	ws := newResolver(t, resolve.Config{Transports: []string{"UDP", "TCP", "TLS", "WS"}}, s)
	ts, err = resolveURI(t, ws, "sip:naptr.example.com")
	require.NoError(t, err)
	require.Equal(t, "WS 192.0.2.4:8080", short(ts)[0])

	// Only UDP configured: the NAPTR records for the others are skipped.
	udp := newResolver(t, resolve.Config{Transports: []string{"UDP"}}, s)
	ts, err = resolveURI(t, udp, "sip:naptr.example.com")
	require.NoError(t, err)
	require.Equal(t, []string{"UDP 192.0.2.3:5060"}, short(ts))
}

func TestSIPSUsesTLSOnly(t *testing.T) {
	s := dnstest.New(t, zone)
	r := newResolver(t, resolve.Config{}, s)
	ts, err := resolveURI(t, r, "sips:naptr.example.com")
	require.NoError(t, err)
	require.Equal(t, []string{"TLS 192.0.2.1:5061"}, short(ts), "SIPS+D2T only")

	ts, err = resolveURI(t, r, "sips:srvonly.example.com")
	require.NoError(t, err)
	require.Equal(t, []string{"TLS 192.0.2.1:5064"}, short(ts), "_sips._tcp only")
	require.Zero(t, s.Hits("_sip._udp.srvonly.example.com", dns.TypeSRV))

	ts, err = resolveURI(t, r, "sips:plain.example.com")
	require.NoError(t, err)
	require.Equal(t, []string{"TLS 192.0.2.50:5061"}, short(ts))

	ts, err = resolveURI(t, r, "sips:192.0.2.7")
	require.NoError(t, err)
	require.Equal(t, []string{"TLS 192.0.2.7:5061"}, short(ts))

	noTLS := newResolver(t, resolve.Config{Transports: []string{"UDP", "TCP"}}, s)
	_, err = resolveURI(t, noTLS, "sips:plain.example.com")
	require.ErrorIs(t, err, resolve.ErrTransport)
}

func TestNumericHost(t *testing.T) {
	s := dnstest.New(t, zone)
	r := newResolver(t, resolve.Config{}, s)
	for _, tc := range []struct{ in, want string }{
		{"sip:bob@192.0.2.1", "UDP 192.0.2.1:5060"},
		{"sip:bob@192.0.2.1:5080", "UDP 192.0.2.1:5080"},
		{"sip:[2001:db8::1]:5080;transport=tcp", "TCP [2001:db8::1]:5080"},
		{"sip:192.0.2.1;transport=tls", "TLS 192.0.2.1:5061"},
		{"sips:[2001:db8::1]", "TLS [2001:db8::1]:5061"},
		{"sip:bob@plain.example.com;maddr=192.0.2.8", "UDP 192.0.2.8:5060"},
	} {
		ts, err := resolveURI(t, r, tc.in)
		require.NoError(t, err, tc.in)
		require.Equal(t, []string{tc.want}, short(ts), tc.in)
		require.Empty(t, ts[0].ServerName)
	}
	ts, err := resolveURI(t, r, "sip:192.0.2.1;transport=udp")
	require.NoError(t, err)
	require.True(t, ts[0].NoSizeSwitch, "an explicit transport=udp stays on UDP")
	require.Zero(t, s.Queries("udp")+s.Queries("tcp"), "no DNS for IP literals")
}

func TestExplicitPortSkipsNAPTRAndSRV(t *testing.T) {
	s := dnstest.New(t, zone)
	r := newResolver(t, resolve.Config{}, s)
	_, err := resolveURI(t, r, "sip:naptr.example.com:5099")
	require.ErrorIs(t, err, resolve.ErrNotFound, "naptr.example.com has no address of its own")
	require.Zero(t, s.Hits("naptr.example.com", dns.TypeNAPTR))
	require.Zero(t, s.Hits("_sip._udp.naptr.example.com", dns.TypeSRV))
	require.Equal(t, 1, s.Hits("naptr.example.com", dns.TypeA))
	ts, err := resolveURI(t, r, "sip:plain.example.com:5099")
	require.NoError(t, err)
	require.Equal(t, []string{"UDP 192.0.2.50:5099"}, short(ts))
	ts, err = resolveURI(t, r, "sip:plain.example.com:5099;transport=tcp")
	require.NoError(t, err)
	require.Equal(t, []string{"TCP 192.0.2.50:5099"}, short(ts))
	require.Zero(t, s.Hits("_sip._tcp.plain.example.com", dns.TypeSRV))
}

func TestTransportParam(t *testing.T) {
	s := dnstest.New(t, zone)
	r := newResolver(t, resolve.Config{}, s)
	ts, err := resolveURI(t, r, "sip:naptr.example.com;transport=tcp")
	require.NoError(t, err)
	require.Equal(t, []string{"TCP 192.0.2.2:5060"}, short(ts))
	require.Zero(t, s.Hits("naptr.example.com", dns.TypeNAPTR), "§4.1: a transport parameter skips NAPTR")

	ts, err = resolveURI(t, r, "sips:naptr.example.com;transport=tcp")
	require.NoError(t, err)
	require.Equal(t, []string{"TLS 192.0.2.1:5061"}, short(ts), "_sips._tcp for sips")

	ts, err = resolveURI(t, r, "sip:plain.example.com;transport=udp")
	require.NoError(t, err)
	require.Equal(t, []string{"UDP 192.0.2.50:5060"}, short(ts), "no SRV: default port")
	require.True(t, ts[0].NoSizeSwitch)

	ts, err = resolveURI(t, r, "sip:plain.example.com;transport=TLS")
	require.NoError(t, err)
	require.Equal(t, []string{"TLS 192.0.2.50:5061"}, short(ts))

	_, err = resolveURI(t, r, "sip:plain.example.com;transport=sctp")
	require.ErrorIs(t, err, resolve.ErrTransport, "SCTP not configured")
	_, err = resolveURI(t, r, "sip:plain.example.com;transport=pigeon")
	require.ErrorIs(t, err, resolve.ErrTransport)
	_, err = resolveURI(t, r, "tel:+15551234")
	require.ErrorIs(t, err, resolve.ErrScheme)
}

func TestNoNAPTRFallsBackToSRVPerTransport(t *testing.T) {
	s := dnstest.New(t, zone)
	r := newResolver(t, resolve.Config{}, s)
	ts, err := resolveURI(t, r, "sip:srvonly.example.com")
	require.NoError(t, err)
	require.Equal(t, []string{"UDP 192.0.2.3:5062", "TCP 192.0.2.2:5063", "TLS 192.0.2.1:5064"}, short(ts))
	require.Equal(t, 1, s.Hits("srvonly.example.com", dns.TypeNAPTR))

	tcpFirst := newResolver(t, resolve.Config{Transports: []string{"TCP", "UDP"}}, s)
	ts, err = resolveURI(t, tcpFirst, "sip:srvonly.example.com")
	require.NoError(t, err)
	require.Equal(t, []string{"TCP 192.0.2.2:5063", "UDP 192.0.2.3:5062"}, short(ts), "configured preference")
}

func TestNoSRVFallsBackToAddresses(t *testing.T) {
	s := dnstest.New(t, zone)
	r := newResolver(t, resolve.Config{}, s)
	ts, err := resolveURI(t, r, "sip:plain.example.com")
	require.NoError(t, err)
	require.Equal(t, []string{"UDP 192.0.2.50:5060"}, short(ts), "RFC 3263 §4.1: UDP for sip")
	require.Equal(t, "plain.example.com", ts[0].ServerName)
	require.Equal(t, 1, s.Hits("_sip._tcp.plain.example.com", dns.TypeSRV))

	ts, err = resolveURI(t, r, "sip:alias.example.com")
	require.NoError(t, err)
	require.Equal(t, []string{"UDP 192.0.2.50:5060"}, short(ts), "through a CNAME")

	tcpOnly := newResolver(t, resolve.Config{Transports: []string{"TCP"}}, s)
	ts, err = resolveURI(t, tcpOnly, "sip:plain.example.com")
	require.NoError(t, err)
	require.Equal(t, []string{"TCP 192.0.2.50:5060"}, short(ts), "UDP not configured")

	// A NAPTR whose SRV name does not exist: the domain's addresses with
	// the NAPTR's transport (§4.2).
	ts, err = resolveURI(t, r, "sip:nosrv.example.com")
	require.NoError(t, err)
	require.Equal(t, []string{"TCP 192.0.2.5:5060"}, short(ts))
}

func TestSRVDotTargetMeansNoService(t *testing.T) {
	s := dnstest.New(t, zone)
	r := newResolver(t, resolve.Config{}, s)
	_, err := resolveURI(t, r, "sip:nosvc.example.com")
	require.ErrorIs(t, err, resolve.ErrNoService, "no fall back to the A record")
	require.Zero(t, s.Hits("nosvc.example.com", dns.TypeA))
	_, err = resolveURI(t, r, "sip:nosvc.example.com;transport=udp")
	require.ErrorIs(t, err, resolve.ErrNoService)

	ts, err := resolveURI(t, r, "sip:partial.example.com")
	require.NoError(t, err)
	require.Equal(t, []string{"TCP 192.0.2.2:5080"}, short(ts), "UDP declined, TCP offered")
}

func TestSRVPriorityAndWeights(t *testing.T) {
	s := dnstest.New(t, zone)
	r := newResolver(t, resolve.Config{Transports: []string{"UDP"}}, s)
	const n = 3000
	first := map[string]int{}
	for i := 0; i < n; i++ {
		ts, err := resolveURI(t, r, "sip:weighted.example.com")
		require.NoError(t, err)
		require.Len(t, ts, 4)
		require.Equal(t, "UDP 192.0.2.99:5070", short(ts)[3], "priority 20 comes last")
		first[ts[0].Addr.Addr().String()]++
	}
	// Expected shares 60/30/10 %; a 4-point tolerance is over 4 standard
	// deviations at n = 3000.
	for ip, want := range map[string]float64{"192.0.2.60": 0.60, "192.0.2.30": 0.30, "192.0.2.10": 0.10} {
		got := float64(first[ip]) / n
		require.InDelta(t, want, got, 0.04, "%s first %.3f of the time", ip, got)
	}
	require.Equal(t, 1, s.Hits("_sip._udp.weighted.example.com", dns.TypeSRV), "the rest from the cache")
}

func TestSRVWeightZero(t *testing.T) {
	s := dnstest.New(t, zone)
	r := newResolver(t, resolve.Config{Transports: []string{"UDP"}}, s)
	const n = 2000
	z1 := 0
	for i := 0; i < n; i++ {
		ts, err := resolveURI(t, r, "sip:zero.example.com")
		require.NoError(t, err)
		require.Len(t, ts, 2)
		if ts[0].Addr.Addr().String() == "192.0.2.71" {
			z1++
		}
	}
	require.InDelta(t, 0.5, float64(z1)/n, 0.06, "only weight 0: uniform")

	z1 = 0
	for i := 0; i < n; i++ {
		ts, err := resolveURI(t, r, "sip:mixed.example.com")
		require.NoError(t, err)
		require.Len(t, ts, 2, "a weight-0 record is kept, last resort")
		if ts[0].Addr.Addr().String() == "192.0.2.71" {
			z1++
		}
	}
	// RFC 2782: a very small chance (1 in 101 per draw here).
	require.Greater(t, z1, 0)
	require.Less(t, float64(z1)/n, 0.04)
}

func TestAddressesShuffledIPv4First(t *testing.T) {
	s := dnstest.New(t, zone)
	r := newResolver(t, resolve.Config{}, s)
	firsts := map[string]bool{}
	for i := 0; i < 200; i++ {
		ts, err := resolveURI(t, r, "sip:multi.example.com:5060")
		require.NoError(t, err)
		require.Len(t, ts, 6)
		for j, x := range ts {
			require.Equal(t, j < 4, x.Addr.Addr().Is4(), "A before AAAA")
		}
		firsts[ts[0].Addr.String()] = true
	}
	require.Len(t, firsts, 4, "every address comes first sometimes")

	v6 := newResolver(t, resolve.Config{Network: "ip6"}, s)
	ts, err := resolveURI(t, v6, "sip:multi.example.com:5060")
	require.NoError(t, err)
	require.ElementsMatch(t, []string{"UDP [2001:db8::1]:5060", "UDP [2001:db8::2]:5060"}, short(ts))
	v4 := newResolver(t, resolve.Config{Network: "ip4"}, s)
	ts, err = resolveURI(t, v4, "sip:multi.example.com:5060")
	require.NoError(t, err)
	require.Len(t, ts, 4)
	max2 := newResolver(t, resolve.Config{MaxTargets: 2}, s)
	ts, err = resolveURI(t, max2, "sip:multi.example.com:5060")
	require.NoError(t, err)
	require.Len(t, ts, 2)
}

func TestNXDOMAINIsCachedNegatively(t *testing.T) {
	s := dnstest.New(t, zone)
	c := newClock()
	r := newResolver(t, resolve.Config{Now: c.Now}, s)
	_, err := resolveURI(t, r, "sip:missing.example.com:5060")
	require.ErrorIs(t, err, resolve.ErrNotFound)
	require.Equal(t, 1, s.Hits("missing.example.com", dns.TypeA))
	c.Advance(29 * time.Second)
	_, err = resolveURI(t, r, "sip:missing.example.com:5060")
	require.ErrorIs(t, err, resolve.ErrNotFound)
	require.Equal(t, 1, s.Hits("missing.example.com", dns.TypeA), "cached for the SOA minimum, 30 s")
	c.Advance(2 * time.Second)
	_, err = resolveURI(t, r, "sip:missing.example.com:5060")
	require.ErrorIs(t, err, resolve.ErrNotFound)
	require.Equal(t, 2, s.Hits("missing.example.com", dns.TypeA))

	// The negative TTL is capped.
	capped := newResolver(t, resolve.Config{Now: c.Now, MaxNegativeTTL: 10 * time.Second}, s)
	_, _ = resolveURI(t, capped, "sip:gone.example.com:5060")
	c.Advance(11 * time.Second)
	_, _ = resolveURI(t, capped, "sip:gone.example.com:5060")
	require.Equal(t, 2, s.Hits("gone.example.com", dns.TypeA))

	// NODATA (the name exists, the type does not) is cached too.
	_, err = resolveURI(t, r, "sip:naptr.example.com:5060")
	require.ErrorIs(t, err, resolve.ErrNotFound)
	_, _ = resolveURI(t, r, "sip:naptr.example.com:5060")
	require.Equal(t, 1, s.Hits("naptr.example.com", dns.TypeAAAA))
}

func TestTTLExpiryFloorAndCeiling(t *testing.T) {
	s := dnstest.New(t, zone)
	c := newClock()
	r := newResolver(t, resolve.Config{Now: c.Now, Network: "ip4", MinTTL: 5 * time.Second, MaxTTL: 10 * time.Minute}, s)
	hit := func(host string) int {
		t.Helper()
		_, err := resolveURI(t, r, "sip:"+host+":5060")
		require.NoError(t, err)
		return s.Hits(host, dns.TypeA)
	}
	require.Equal(t, 1, hit("plain.example.com"))
	c.Advance(59 * time.Second)
	require.Equal(t, 1, hit("plain.example.com"), "TTL 60 s")
	c.Advance(2 * time.Second)
	require.Equal(t, 2, hit("plain.example.com"), "expired")

	require.Equal(t, 1, hit("zero-ttl.example.com"))
	c.Advance(4 * time.Second)
	require.Equal(t, 1, hit("zero-ttl.example.com"), "TTL 0 raised to MinTTL")
	c.Advance(2 * time.Second)
	require.Equal(t, 2, hit("zero-ttl.example.com"))

	require.Equal(t, 1, hit("long-ttl.example.com"))
	c.Advance(10*time.Minute + time.Second)
	require.Equal(t, 2, hit("long-ttl.example.com"), "TTL 1 day capped at MaxTTL")
}

func TestCacheIsBounded(t *testing.T) {
	s := dnstest.New(t, zone)
	r := newResolver(t, resolve.Config{Network: "ip4", CacheSize: 2}, s)
	for _, h := range []string{"a", "b", "c", "a", "c"} {
		_, err := resolveURI(t, r, "sip:"+h+".example.com:5060")
		require.NoError(t, err)
	}
	require.Equal(t, 2, s.Hits("a.example.com", dns.TypeA), "a was evicted by c")
	require.Equal(t, 1, s.Hits("b.example.com", dns.TypeA))
	require.Equal(t, 1, s.Hits("c.example.com", dns.TypeA), "c stayed (evicting b)")

	off := newResolver(t, resolve.Config{Network: "ip4", CacheSize: -1}, s)
	for i := 0; i < 3; i++ {
		_, err := resolveURI(t, off, "sip:b.example.com:5060")
		require.NoError(t, err)
	}
	require.Equal(t, 4, s.Hits("b.example.com", dns.TypeA), "no cache")
}

func TestConcurrentQueriesAreCoalesced(t *testing.T) {
	s := dnstest.New(t, zone)
	release := s.Hold()
	r := newResolver(t, resolve.Config{Network: "ip4"}, s)
	const n = 20
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		wg.Go(func() {
			ts, err := resolveURI(t, r, "sip:plain.example.com:5060")
			if err == nil && len(ts) != 1 {
				err = errors.New("wrong targets")
			}
			errs <- err
		})
	}
	require.Eventually(t, func() bool { return s.Hits("plain.example.com", dns.TypeA) == 1 }, 3*time.Second, time.Millisecond)
	time.Sleep(50 * time.Millisecond) // let every caller join the flight
	release()
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	require.Equal(t, 1, s.Hits("plain.example.com", dns.TypeA))
}

func TestContextEndsAQueryToASilentServer(t *testing.T) {
	s := dnstest.New(t, zone)
	s.SetSilent(true)
	r := newResolver(t, resolve.Config{Timeout: 30 * time.Second}, s)

	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := r.Resolve(ctx, uri(t, "sip:plain.example.com"))
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.Less(t, time.Since(start), 2*time.Second)

	// Cancellation without a deadline ends the read too.
	start = time.Now()
	ctx, cancel = context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	_, err = r.Resolve(ctx, uri(t, "sip:plain.example.com"))
	require.ErrorIs(t, err, context.Canceled)
	require.Less(t, time.Since(start), 2*time.Second)

	// Without a context deadline, Config.Timeout bounds each query.
	quick := newResolver(t, resolve.Config{Timeout: 100 * time.Millisecond, Attempts: 1, Network: "ip4"}, s)
	start = time.Now()
	_, err = quick.Resolve(context.Background(), uri(t, "sip:plain.example.com:5060"))
	require.ErrorIs(t, err, resolve.ErrServerFailure)
	require.Less(t, time.Since(start), 2*time.Second)
}

func TestSecondServerAnswersWhenTheFirstIsSilent(t *testing.T) {
	dead := dnstest.New(t, zone)
	dead.SetSilent(true)
	good := dnstest.New(t, zone)
	r := newResolver(t, resolve.Config{Timeout: 100 * time.Millisecond, Network: "ip4"}, dead, good)
	ts, err := resolveURI(t, r, "sip:plain.example.com:5060")
	require.NoError(t, err)
	require.Equal(t, []string{"UDP 192.0.2.50:5060"}, short(ts))
	require.Equal(t, 1, dead.Hits("plain.example.com", dns.TypeA))
}

func TestTruncatedUDPAnswerIsAskedAgainOverTCP(t *testing.T) {
	s := dnstest.New(t, zone)
	s.TruncateUDP("multi.example.com")
	r := newResolver(t, resolve.Config{Network: "ip4"}, s)
	ts, err := resolveURI(t, r, "sip:multi.example.com:5060")
	require.NoError(t, err)
	require.Len(t, ts, 4)
	require.Equal(t, 1, s.Queries("udp"))
	require.Equal(t, 1, s.Queries("tcp"))
}

func TestNewValidates(t *testing.T) {
	for _, cfg := range []resolve.Config{
		{Servers: []string{"ns.example.com"}},
		{Servers: []string{"127.0.0.1"}, Transports: []string{"carrier-pigeon"}},
		{Servers: []string{"127.0.0.1"}, Network: "ipx"},
		{Servers: []string{"127.0.0.1"}, MinTTL: time.Hour, MaxTTL: time.Minute},
		{ResolvConf: "/nonexistent/resolv.conf"},
	} {
		_, err := resolve.New(cfg)
		require.Error(t, err, "%+v", cfg)
	}
	r, err := resolve.New(resolve.Config{Servers: []string{"127.0.0.1", "[::1]:5353"}})
	require.NoError(t, err)
	require.NotNil(t, r)
}

func TestServersFromResolvConf(t *testing.T) {
	path := filepath.Join(t.TempDir(), "resolv.conf")
	require.NoError(t, os.WriteFile(path, []byte("nameserver 192.0.2.53\noptions timeout:1 attempts:1\n"), 0o600))
	// Construction only: nothing is ever sent to 192.0.2.53.
	r, err := resolve.New(resolve.Config{ResolvConf: path})
	require.NoError(t, err)
	require.NotNil(t, r)
	empty := filepath.Join(t.TempDir(), "resolv.conf")
	require.NoError(t, os.WriteFile(empty, []byte("search example.com\n"), 0o600))
	_, err = resolve.New(resolve.Config{ResolvConf: empty})
	require.Error(t, err, "no nameserver")
}
