package guard_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/siphon-go/siphon/sip"
	"github.com/siphon-go/siphon/siptest"
	"github.com/siphon-go/siphon/transport"
	"github.com/siphon-go/siphon/transport/guard"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

func newGuard(t testing.TB, cfg guard.Config) (*guard.Guard, *clock) {
	t.Helper()
	c := &clock{t: time.Unix(1_700_000_000, 0)}
	cfg.Now = c.Now
	cfg.Logger = quiet
	g, err := guard.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return g, c
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

var (
	attacker = netip.MustParseAddrPort("192.0.2.66:5060")
	friend   = netip.MustParseAddrPort("192.0.2.10:5060")
	trusted  = netip.MustParseAddrPort("198.51.100.7:5060")
)

func TestRateLimitBansThenExpires(t *testing.T) {
	g, c := newGuard(t, guard.Config{RateLimit: 10, BanTime: time.Minute})
	for i := range 10 {
		if !g.Allow(transport.UDP, attacker) {
			t.Fatalf("packet %d dropped under the limit", i)
		}
	}
	if g.Allow(transport.UDP, attacker) {
		t.Fatal("11th packet in one second allowed")
	}
	if !g.Allow(transport.UDP, friend) {
		t.Fatal("another source dropped")
	}
	c.Add(30 * time.Second) // window over, ban still on: dropped silently
	if g.Allow(transport.UDP, attacker) || !g.Banned(attacker.Addr()) {
		t.Fatal("banned source allowed during the ban")
	}
	c.Add(31 * time.Second)
	if !g.Allow(transport.UDP, attacker) {
		t.Fatal("source still dropped after the ban expired")
	}
	st := g.Stats()
	if st.RateBans != 1 || st.DroppedBanned != 2 {
		t.Fatalf("stats %+v", st)
	}
}

func TestRateWindowResets(t *testing.T) {
	g, c := newGuard(t, guard.Config{RateLimit: 5})
	for range 20 {
		for range 5 {
			if !g.Allow(transport.TCP, attacker) {
				t.Fatal("dropped at the limit")
			}
		}
		c.Add(time.Second)
	}
}

func TestTrustedExemptFromEverything(t *testing.T) {
	g, _ := newGuard(t, guard.Config{RateLimit: 1, Trusted: []netip.Prefix{netip.MustParsePrefix("198.51.100.0/24")},
		Deny: []netip.Prefix{netip.MustParsePrefix("198.51.100.0/24")}})
	for range 100 {
		if !g.Allow(transport.UDP, trusted) {
			t.Fatal("trusted source dropped")
		}
	}
	for range 20 {
		g.Signal(transport.TCP, trusted, guard.SignalGarbage)
	}
	g.Ban(trusted.Addr())
	g.SetBlocklist([]netip.Prefix{netip.MustParsePrefix("198.51.100.7/32")})
	if !g.Allow(transport.UDP, trusted) {
		t.Fatal("trusted source banned")
	}
	req := siptest.NewIncomingRequest(sip.REGISTER, "sip:example.com", siptest.WithHeader("User-Agent", "friendly-scanner"))
	if !g.Inbound(req, transport.Flow{Transport: transport.TCP, Remote: trusted}) {
		t.Fatal("trusted scanner UA dropped")
	}
	// IPv4-mapped IPv6 is the same source.
	mapped := netip.AddrPortFrom(netip.AddrFrom16(trusted.Addr().As16()), 5060)
	if !g.Trusted(mapped.Addr()) {
		t.Fatal("mapped address not trusted")
	}
}

func TestACL(t *testing.T) {
	g, _ := newGuard(t, guard.Config{
		Allow: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")},
		Deny:  []netip.Prefix{netip.MustParsePrefix("192.0.2.66/32")},
	})
	if g.Allow(transport.UDP, attacker) {
		t.Fatal("denied source allowed")
	}
	if !g.Allow(transport.UDP, friend) {
		t.Fatal("allowed source dropped")
	}
	if g.Allow(transport.UDP, netip.MustParseAddrPort("203.0.113.1:5060")) {
		t.Fatal("source outside Allow admitted")
	}
	if st := g.Stats(); st.DroppedACL != 2 {
		t.Fatalf("stats %+v", st)
	}
}

func TestSignalsWeightsAndThreshold(t *testing.T) {
	cases := []struct {
		sig  guard.Signal
		tp   string
		n    int // signals until banned; 0 = never
		name string
	}{
		{guard.SignalInvalidCredentials, transport.UDP, 5, "invalid credentials count on UDP"},
		{guard.SignalInvalidCredentials, transport.TCP, 5, "invalid credentials on TCP"},
		{guard.SignalBadNonce, transport.TCP, 3, "bad nonce on TCP"},
		{guard.SignalBadNonce, transport.UDP, 0, "bad nonce on UDP is spoofable"},
		{guard.SignalTimerH, transport.TLS, 5, "Timer H on TLS"},
		{guard.SignalTimerH, transport.UDP, 0, "Timer H on UDP is spoofable"},
		{guard.SignalHandshake, transport.TLS, 3, "handshake"},
		{guard.SignalGarbage, transport.TCP, 2, "garbage"},
		{guard.SignalScannerUA, transport.TCP, 1, "scanner on TCP"},
		{guard.SignalScannerUA, transport.UDP, 0, "scanner on UDP"},
		{guard.SignalRelayTimeout, transport.TCP, 0, "relay timeouts never count"},
	}
	weights := map[guard.Signal]int{
		guard.SignalInvalidCredentials: 1, guard.SignalBadNonce: 2, guard.SignalTimerH: 1,
		guard.SignalHandshake: 2, guard.SignalGarbage: 3, guard.SignalScannerUA: 5, guard.SignalRelayTimeout: 5,
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g, _ := newGuard(t, guard.Config{Threshold: 5, Weights: weights})
			for i := 1; i <= 20; i++ {
				banned := g.Signal(tc.tp, attacker, tc.sig)
				if tc.n > 0 && banned != (i >= tc.n) && i <= tc.n {
					t.Fatalf("after %d signals banned=%v, want ban at %d", i, banned, tc.n)
				}
				if banned {
					break
				}
			}
			if got := g.Banned(attacker.Addr()); got != (tc.n > 0) {
				t.Fatalf("banned=%v", got)
			}
			if tc.n > 0 && g.Allow(tc.tp, attacker) {
				t.Fatal("banned source passes Allow")
			}
		})
	}
}

func TestSuccessResetsScore(t *testing.T) {
	g, _ := newGuard(t, guard.Config{Threshold: 5, Weights: map[guard.Signal]int{guard.SignalInvalidCredentials: 1}})
	for range 10 {
		for range 4 {
			g.Signal(transport.UDP, attacker, guard.SignalInvalidCredentials)
		}
		g.Success(attacker)
	}
	if g.Banned(attacker.Addr()) {
		t.Fatal("banned although each run of failures ended in a success")
	}
}

func TestScoreWindowExpires(t *testing.T) {
	g, c := newGuard(t, guard.Config{Threshold: 3, ScoreWindow: time.Minute, Weights: map[guard.Signal]int{guard.SignalInvalidCredentials: 1}})
	for range 10 {
		g.Signal(transport.UDP, attacker, guard.SignalInvalidCredentials)
		g.Signal(transport.UDP, attacker, guard.SignalInvalidCredentials)
		c.Add(61 * time.Second)
	}
	if g.Banned(attacker.Addr()) {
		t.Fatal("score outlived its window")
	}
}

func TestChallengeUnanswered(t *testing.T) {
	g, _ := newGuard(t, guard.Config{Threshold: 4, Unanswered: 3, Weights: map[guard.Signal]int{guard.SignalChallengeUnanswered: 2}})
	for range 20 { // UDP: spoofable, never counts
		g.Challenged(transport.UDP, attacker)
	}
	if g.Banned(attacker.Addr()) {
		t.Fatal("banned for unanswered challenges on UDP")
	}
	for range 20 { // answered each time
		g.Challenged(transport.TCP, friend)
		g.Challenged(transport.TCP, friend)
		g.Answered(friend)
	}
	if g.Banned(friend.Addr()) {
		t.Fatal("banned although challenges were answered")
	}
	for i := 1; i <= 6; i++ {
		g.Challenged(transport.TCP, attacker)
		if g.Banned(attacker.Addr()) != (i >= 6) {
			t.Fatalf("after %d challenges banned=%v", i, g.Banned(attacker.Addr()))
		}
	}
}

func TestReportViolations(t *testing.T) {
	g, _ := newGuard(t, guard.Config{Threshold: 6})
	g.Report(transport.UDP, attacker, transport.ViolationGarbage)
	g.Report(transport.UDP, attacker, transport.ViolationGarbage)
	g.Report(transport.UDP, attacker, transport.ViolationGarbage)
	if g.Banned(attacker.Addr()) {
		t.Fatal("UDP garbage banned a spoofable source")
	}
	g.Report(transport.TCP, attacker, transport.ViolationHandshake) // 2
	g.Report(transport.TCP, attacker, transport.ViolationMalformed) // 3
	if g.Banned(attacker.Addr()) {
		t.Fatal("banned below threshold")
	}
	g.Report(transport.WS, attacker, transport.ViolationGarbage) // 3
	if !g.Banned(attacker.Addr()) {
		t.Fatal("not banned at threshold")
	}
	if st := g.Stats(); st.Violations != 6 || st.ScoreBans != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestScannerUserAgent(t *testing.T) {
	g, _ := newGuard(t, guard.Config{})
	for _, ua := range []string{"friendly-scanner", "SIPVicious 0.3.4", "sipcli/v1.8", "VaxSIPUserAgent/3.1", "pplsip", "Sip-Scan"} {
		if !g.Scanner(ua) {
			t.Errorf("%q not detected", ua)
		}
	}
	for _, ua := range []string{"", "Linphone/5.2", "sipsak 0.9.8", "baresip v3.0", "Zoiper"} {
		if g.Scanner(ua) {
			t.Errorf("%q flagged as a scanner", ua)
		}
	}
	req := siptest.NewIncomingRequest(sip.OPTIONS, "sip:100@example.com", siptest.WithHeader("User-Agent", "friendly-scanner"))
	if g.Inbound(req, transport.Flow{Transport: transport.UDP, Remote: attacker}) {
		t.Fatal("scanner request not dropped")
	}
	if g.Banned(attacker.Addr()) {
		t.Fatal("banned for a scanner UA on UDP (spoofable)")
	}
	if g.Inbound(req, transport.Flow{Transport: transport.TCP, Remote: attacker}) || !g.Banned(attacker.Addr()) {
		t.Fatal("scanner UA on TCP not banned")
	}
	off, _ := newGuard(t, guard.Config{ScannerUserAgents: []string{}})
	if !off.Inbound(req, transport.Flow{Transport: transport.TCP, Remote: attacker}) {
		t.Fatal("scanner blocking not turned off by an empty list")
	}
}

func TestTablesBounded(t *testing.T) {
	g, _ := newGuard(t, guard.Config{RateLimit: 1, MaxEntries: 256, Threshold: 1000})
	for i := range 10000 {
		a := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		ap := netip.AddrPortFrom(a, 5060)
		g.Allow(transport.UDP, ap)
		g.Allow(transport.UDP, ap) // ban
		g.Signal(transport.UDP, ap, guard.SignalInvalidCredentials)
	}
	st := g.Stats()
	if st.Banned > 256 || st.Tracked > 2*256 {
		t.Fatalf("tables grew past MaxEntries: %+v", st)
	}
	if st.RateBans != 10000 {
		t.Fatalf("rate bans %d", st.RateBans)
	}
}

func TestPruneDropsExpired(t *testing.T) {
	g, c := newGuard(t, guard.Config{RateLimit: 1, BanTime: time.Second})
	for i := range 100 {
		ap := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, 0, byte(i)}), 1)
		g.Allow(transport.UDP, ap)
		g.Allow(transport.UDP, ap)
	}
	c.Add(2 * time.Second)
	g.Prune()
	if st := g.Stats(); st.Banned != 0 || st.Tracked != 0 {
		t.Fatalf("after Prune %+v", st)
	}
}

func TestHTTPBlocklist(t *testing.T) {
	var body = `{"ipaddress":["192.0.2.66","203.0.113.0/24","junk"],"ID":"1"}`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/fail" {
			http.Error(w, "no", http.StatusBadGateway)
			return
		}
		fmt.Fprint(w, body)
	}))
	defer srv.Close()
	bl := &guard.HTTPBlocklist{URL: srv.URL + "/list"}
	ps, err := bl.Fetch(context.Background())
	if err != nil || len(ps) != 2 {
		t.Fatalf("Fetch: %v %v", ps, err)
	}
	g, _ := newGuard(t, guard.Config{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { g.PollBlocklist(ctx, bl, time.Hour, nil); close(done) }()
	deadline := time.Now().Add(5 * time.Second)
	for !g.Banned(attacker.Addr()) && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	<-done
	if g.Allow(transport.UDP, attacker) || g.Allow(transport.UDP, netip.MustParseAddrPort("203.0.113.9:1")) {
		t.Fatal("blocklisted source allowed")
	}
	if !g.Allow(transport.UDP, friend) {
		t.Fatal("other source dropped")
	}
	if _, err := (&guard.HTTPBlocklist{URL: srv.URL + "/fail"}).Fetch(context.Background()); err == nil {
		t.Fatal("502 not an error")
	}
	var got error
	ctx2, cancel2 := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel2()
	g.PollBlocklist(ctx2, &guard.HTTPBlocklist{URL: srv.URL + "/fail"}, time.Hour, func(err error) { got = err })
	if got == nil || g.Allow(transport.UDP, attacker) {
		t.Fatal("failed poll: error not reported or previous list lost")
	}
}

func serve(t *testing.T, h sip.Handler, req *sip.Request, f transport.Flow) *siptest.Recorder {
	t.Helper()
	rec := siptest.NewRecorder()
	h.ServeSIP(transport.NewContext(context.Background(), f), rec, req)
	return rec
}

func TestMiddleware(t *testing.T) {
	g, _ := newGuard(t, guard.Config{Trusted: []netip.Prefix{netip.MustParsePrefix("198.51.100.0/24")}})
	next := sip.HandlerFunc(func(ctx context.Context, w sip.ResponseWriter, req *sip.Request) {
		_ = sip.Respond(w, req, 299, "Next")
	})
	h := sip.Chain(next, g.Middleware(guard.RequestConfig{
		Sanity: sip.NewSanity(sip.SanityConfig{}), MaxForwards: true, Keepalive: true,
		RejectRoute: true, Local: []string{"proxy.example.com", "192.0.2.1:5060"},
	}))
	udp := transport.Flow{Transport: transport.UDP, Remote: attacker}
	tr := transport.Flow{Transport: transport.UDP, Remote: trusted}
	mf0 := func() *sip.Request {
		r := siptest.NewIncomingRequest(sip.INVITE, "sip:bob@example.com")
		r.RemoveHeader("Max-Forwards")
		r.AppendHeader(sip.NewHeader("Max-Forwards", "0"))
		return r
	}
	cases := []struct {
		name string
		req  *sip.Request
		f    transport.Flow
		code int
	}{
		{"plain INVITE passes", siptest.NewIncomingRequest(sip.INVITE, "sip:bob@example.com"), udp, 299},
		{"Max-Forwards 0", mf0(), udp, 483},
		{"keepalive OPTIONS answered locally", siptest.NewIncomingRequest(sip.OPTIONS, "sip:example.com"), udp, 200},
		{"OPTIONS to a user passes", siptest.NewIncomingRequest(sip.OPTIONS, "sip:bob@example.com"), udp, 299},
		{"pre-loaded Route elsewhere", siptest.NewIncomingRequest(sip.INVITE, "sip:bob@example.com",
			siptest.WithHeader("Route", "<sip:evil.example.net;lr>")), udp, 403},
		{"pre-loaded Route to us", siptest.NewIncomingRequest(sip.INVITE, "sip:bob@example.com",
			siptest.WithHeader("Route", "<sip:192.0.2.1:5060;lr>")), udp, 299},
		{"pre-loaded Route from trusted", siptest.NewIncomingRequest(sip.INVITE, "sip:bob@example.com",
			siptest.WithHeader("Route", "<sip:evil.example.net;lr>")), tr, 299},
		{"scanner UA", siptest.NewIncomingRequest(sip.REGISTER, "sip:example.com",
			siptest.WithHeader("User-Agent", "sipvicious")), udp, 403},
		{"scanner UA from trusted", siptest.NewIncomingRequest(sip.REGISTER, "sip:example.com",
			siptest.WithHeader("User-Agent", "sipvicious")), tr, 299},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec := serve(t, h, tc.req, tc.f)
			if f := rec.Final(); f == nil || f.StatusCode != tc.code {
				t.Fatalf("final %v, want %d", f, tc.code)
			}
		})
	}
	bad := siptest.NewIncomingRequest(sip.INVITE, "sip:bob@example.com")
	bad.RemoveHeader("CSeq")
	bad.AppendHeader(sip.NewHeader("CSeq", "1 BYE"))
	if f := serve(t, h, bad, udp).Final(); f == nil || f.StatusCode != 400 {
		t.Fatalf("insane request: %v", f)
	}
}

func TestHeaderPolicy(t *testing.T) {
	g, _ := newGuard(t, guard.Config{})
	req := siptest.NewRequest(sip.INVITE, "sip:bob@example.com", siptest.WithHeader("User-Agent", "siphon/1.2.3 internal-build"))
	if out, _ := g.Outbound(req, transport.Target{}); out != sip.Message(req) {
		t.Fatal("zero policy changed the message")
	}
	g.SetHeaders(guard.HeaderPolicy{Strip: true})
	out, ok := g.Outbound(req, transport.Target{})
	if h := sip.Field(out, "User-Agent"); !ok || h != nil {
		t.Fatalf("User-Agent not stripped: %v", h)
	}
	if req.GetHeader("User-Agent") == nil {
		t.Fatal("the sender's message was changed")
	}
	if again, _ := g.Outbound(out, transport.Target{}); again != out {
		t.Fatal("a message with nothing to strip was copied")
	}
	g.SetHeaders(guard.HeaderPolicy{Value: "pbx"})
	res := sip.NewResponse(siptest.NewIncomingRequest(sip.INVITE, "sip:bob@example.com"), 200, "OK")
	res.AppendHeader(sip.NewHeader("Server", "Kamailio 5.7 (x86_64/linux)"))
	out, _ = g.Outbound(res, transport.Target{})
	if h := sip.Field(out, "Server"); h == nil || h.Value() != "pbx" || len(sip.HeaderValues(out, "Server")) != 1 {
		t.Fatalf("Server not replaced: %v", h)
	}
}

func BenchmarkAllow(b *testing.B) {
	for _, bc := range []struct {
		name string
		cfg  guard.Config
	}{
		{"defaults", guard.Config{}},
		{"ratelimit", guard.Config{RateLimit: 1 << 30, Trusted: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}},
		{"ratelimit+bans", guard.Config{RateLimit: 1 << 30}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			bc.cfg.Logger = quiet
			g, err := guard.New(bc.cfg)
			if err != nil {
				b.Fatal(err)
			}
			if bc.name == "ratelimit+bans" {
				g.Ban(attacker.Addr())
			}
			b.ReportAllocs()
			for b.Loop() {
				if !g.Allow(transport.UDP, friend) {
					b.Fatal("dropped")
				}
			}
		})
	}
	b.Run("parallel", func(b *testing.B) {
		g, _ := guard.New(guard.Config{RateLimit: 1 << 30, Logger: quiet})
		g.Ban(attacker.Addr())
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				i++
				g.Allow(transport.UDP, netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, byte(i >> 8 & 3), byte(i)}), 5060))
			}
		})
	})
}

func TestMiddlewareTracksChallenges(t *testing.T) {
	g, _ := newGuard(t, guard.Config{Threshold: 2, Unanswered: 3, Weights: map[guard.Signal]int{guard.SignalChallengeUnanswered: 2}})
	challenge := sip.HandlerFunc(func(ctx context.Context, w sip.ResponseWriter, req *sip.Request) {
		_ = sip.Respond(w, req, sip.StatusUnauthorized, "")
	})
	h := g.Middleware(guard.RequestConfig{TrackChallenges: true})(challenge)
	tcp := transport.Flow{Transport: transport.TCP, Remote: attacker}
	for range 10 { // a UA that answers its challenges is never banned
		serve(t, h, siptest.NewIncomingRequest(sip.REGISTER, "sip:example.com"), tcp)
		serve(t, h, siptest.NewIncomingRequest(sip.REGISTER, "sip:example.com", siptest.WithHeader("Authorization", `Digest username="a"`)), tcp)
	}
	if g.Banned(attacker.Addr()) {
		t.Fatal("banned although challenges were answered")
	}
	for range 3 {
		serve(t, h, siptest.NewIncomingRequest(sip.REGISTER, "sip:example.com"), tcp)
	}
	if !g.Banned(attacker.Addr()) {
		t.Fatal("unanswered challenges not banned")
	}
}
