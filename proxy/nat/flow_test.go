package nat_test

import (
	"context"
	"log/slog"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/siphon-go/siphon/proxy"
	"github.com/siphon-go/siphon/proxy/nat"
	"github.com/siphon-go/siphon/registrar"
	"github.com/siphon-go/siphon/registrar/memory"
	"github.com/siphon-go/siphon/sip"
	"github.com/siphon-go/siphon/siptest"
	"github.com/siphon-go/siphon/transaction"
	"github.com/siphon-go/siphon/transport"
)

// natLab is a registrar and record-routing proxy on the public side of the
// memory network, with the Fixer in front (middleware, rewriter, lookups)
// and ForceRport on, and user agents behind home NATs.
type natLab struct {
	t     *testing.T
	clock *siptest.Clock
	net   *siptest.Network
	fixer *nat.Fixer
	reg   *registrar.Registrar
	srv   *siptest.Stack
	nats  map[string]*siptest.NAT
}

const serverAddr = "192.0.2.1:5060"

func newNATLab(t *testing.T, cfg nat.Config, natTimeout time.Duration) *natLab {
	clock := siptest.NewClock()
	n := siptest.NewNetwork(siptest.NetworkConfig{Clock: clock})
	lab := &natLab{t: t, clock: clock, net: n, nats: map[string]*siptest.NAT{}}
	lab.nats["alice"] = n.AddNAT(siptest.NATConfig{Public: netip.MustParseAddr("203.0.113.1"),
		Inside: netip.MustParsePrefix("192.168.1.0/24"), Timeout: natTimeout})
	lab.nats["bob"] = n.AddNAT(siptest.NATConfig{Public: netip.MustParseAddr("203.0.113.2"),
		Inside: netip.MustParsePrefix("192.168.2.0/24"), Timeout: natTimeout})
	var err error
	lab.fixer, err = nat.New(cfg)
	require.NoError(t, err)
	lab.reg, err = registrar.New(memory.New(memory.Config{}), registrar.Config{Clock: clock, Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	t.Cleanup(func() { _ = lab.reg.Close() })
	lab.srv = siptest.NewStack(t, n, serverAddr, siptest.StackConfig{
		Transport: transport.Config{ForceRport: true, Rewriter: lab.fixer, Logger: slog.New(slog.DiscardHandler)},
		NewHandler: func(l *transaction.Layer) sip.Handler {
			px := proxy.New(l, proxy.Config{RecordRoute: true, Domains: []string{"example.com"}, Locate: lab.locate,
				Logger: slog.New(slog.DiscardHandler)})
			route := sip.HandlerFunc(func(ctx context.Context, w sip.ResponseWriter, req *sip.Request) {
				if req.Method == sip.REGISTER {
					lab.reg.ServeSIP(ctx, w, req)
					return
				}
				px.ServeSIP(ctx, w, req)
			})
			return sip.Chain(route, lab.fixer.Middleware)
		},
	})
	return lab
}

// locate is the proxy's location service: every contact of the AoR, on the
// flow it registered from when it is an outbound flow or the Fixer says
// the UA is behind a NAT.
func (lab *natLab) locate(ctx context.Context, req *sip.Request) ([]proxy.Target, error) {
	cs, err := lab.reg.Lookup(ctx, req.Recipient)
	if err != nil {
		return nil, err
	}
	var out []proxy.Target
	for i := range cs {
		c := &cs[i]
		t := proxy.Target{URI: c.NameAddr.URI, Route: c.Route}
		if next, ok := c.Target(); ok && (c.RegID != 0 || lab.fixer.UseFlow(c.NameAddr.URI, c.Flow)) {
			t.Next = next
		}
		out = append(out, t)
	}
	return out, nil
}

// natUA is a user agent on a private address: it answers INVITE with its
// private Contact and records what reaches it.
type natUA struct {
	lab     *natLab
	name    string
	stack   *siptest.Stack
	contact string
	invites chan *sip.Request
	byes    chan *sip.Request
	options chan *sip.Request
}

func (lab *natLab) ua(name, addr string) *natUA {
	ua := &natUA{lab: lab, name: name, contact: "<sip:" + name + "@" + addr + ">",
		invites: make(chan *sip.Request, 8), byes: make(chan *sip.Request, 8), options: make(chan *sip.Request, 64)}
	ua.stack = siptest.NewStack(lab.t, lab.net, addr, siptest.StackConfig{
		Transport: transport.Config{Logger: slog.New(slog.DiscardHandler)},
		Handler: sip.HandlerFunc(func(_ context.Context, w sip.ResponseWriter, req *sip.Request) {
			switch req.Method {
			case sip.INVITE:
				ua.invites <- req
				res := sip.NewResponse(req, sip.StatusOK, "")
				res.AppendHeader(sip.NewHeader("Contact", ua.contact))
				for _, rr := range req.GetHeaders("Record-Route") {
					res.AppendHeader(sip.NewHeader("Record-Route", rr.Value()))
				}
				_ = w.WriteResponse(res)
			case sip.BYE:
				ua.byes <- req
				_ = sip.Respond(w, req, sip.StatusOK, "")
			case sip.OPTIONS:
				select {
				case ua.options <- req:
				default:
				}
				_ = sip.Respond(w, req, sip.StatusOK, "")
			case sip.ACK:
			default:
				_ = sip.Respond(w, req, sip.StatusOK, "")
			}
		}),
	})
	return ua
}

var server = transport.Target{Transport: transport.UDP, Addr: netip.MustParseAddrPort(serverAddr)}

func (ua *natUA) do(req *sip.Request) *sip.Response {
	ua.lab.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res, err := ua.stack.Do(ctx, req, server)
	require.NoError(ua.lab.t, err)
	return res
}

// register binds contact (the raw Contact value) to the UA's AoR.
func (ua *natUA) register(contact string, headers ...string) *sip.Response {
	req := siptest.NewRequest(sip.REGISTER, "sip:"+ua.name+"@example.com", siptest.WithHeader("Contact", contact))
	req.Recipient = sip.Uri{Scheme: "sip", Host: "example.com"}
	req.From().Address = req.To().Address
	for i := 0; i+1 < len(headers); i += 2 {
		req.AppendHeader(sip.NewHeader(headers[i], headers[i+1]))
	}
	return ua.do(req)
}

func wait(t *testing.T, ch <-chan *sip.Request, what string) *sip.Request {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(5 * time.Second):
		t.Fatalf("no %s", what)
		return nil
	}
}

// binding returns the one contact registered for user.
func (lab *natLab) binding(user string) registrar.Contact {
	u, _ := sip.ParseURI("sip:" + user + "@example.com")
	cs, err := lab.reg.Lookup(context.Background(), u)
	require.NoError(lab.t, err)
	require.Len(lab.t, cs, 1)
	return cs[0]
}

// TestNATRegisterAndCall: two UAs behind two NATs register their private
// addresses. The 200 OK gives each its Contact back as sent (a rewritten
// one would not match its own binding); the registrar keeps the observed
// source, and a call to either AoR reaches the UA through its NAT. The
// caller's Contact and the callee's answer are fixed to the public
// addresses, so that the BYE reaches the callee too.
func TestNATRegisterAndCall(t *testing.T) {
	lab := newNATLab(t, nat.Config{}, 0)
	alice := lab.ua("alice", "192.168.1.10:5060")
	bob := lab.ua("bob", "192.168.2.20:5060")

	// alice: an RFC 5626 outbound registration.
	sent := `<sip:alice@192.168.1.10:5060;ob>;` + instance + `;reg-id=1;expires=3600`
	res := alice.register(sent, "Supported", "outbound, path")
	require.Equal(t, sip.StatusOK, res.StatusCode)
	require.Equal(t, []string{sent}, sip.HeaderValues(res, "Contact"), "the 200 OK lists the contact as the UA sent it")
	// bob: a plain one, no outbound: the Fixer's lookup policy decides.
	res = bob.register("<sip:bob@192.168.2.20:5060;transport=udp>;expires=3600")
	require.Equal(t, sip.StatusOK, res.StatusCode)
	require.Equal(t, []string{"<sip:bob@192.168.2.20:5060;transport=udp>;expires=3600"}, sip.HeaderValues(res, "Contact"))
	require.Zero(t, lab.fixer.Stats().Requests, "REGISTER is never rewritten")

	ab, bb := lab.binding("alice"), lab.binding("bob")
	require.Equal(t, "203.0.113.1", ab.Flow.Remote.Addr().String(), "the registrar recorded the observed source")
	require.Equal(t, "203.0.113.2", bb.Flow.Remote.Addr().String())
	require.Equal(t, "192.168.2.20", bb.NameAddr.URI.Host, "and kept the contact")

	// bob calls alice, then alice calls bob.
	for _, c := range []struct{ caller, callee *natUA }{{bob, alice}, {alice, bob}} {
		callerFlow := lab.binding(c.caller.name).Flow
		calleeFlow := lab.binding(c.callee.name).Flow
		inv := siptest.NewRequest(sip.INVITE, "sip:"+c.callee.name+"@example.com", siptest.WithHeader("Contact", c.caller.contact))
		inv.From().Address = sip.Uri{Scheme: "sip", User: c.caller.name, Host: "example.com"}
		res := c.caller.do(inv)
		require.Equal(t, sip.StatusOK, res.StatusCode, "%s calls %s", c.caller.name, c.callee.name)

		got := wait(t, c.callee.invites, "INVITE at "+c.callee.name)
		ct, err := sip.Contacts(got)
		require.NoError(t, err)
		require.Equal(t, callerFlow.Remote.Addr().String(), ct[0].URI.Host, "the caller's Contact points through its NAT")
		require.Equal(t, int(callerFlow.Remote.Port()), ct[0].URI.Port)

		// The callee's private Contact in the 200 OK was fixed too.
		ct, err = sip.Contacts(res)
		require.NoError(t, err)
		require.Equal(t, calleeFlow.Remote.Addr().String(), ct[0].URI.Host)
		require.Equal(t, int(calleeFlow.Remote.Port()), ct[0].URI.Port)

		// The BYE follows the route set to the fixed Contact and gets
		// through the callee's NAT.
		bye := sip.NewRequest(sip.BYE, ct[0].URI)
		bye.AppendHeader(sip.HeaderClone(res.From()))
		bye.AppendHeader(sip.HeaderClone(res.To()))
		bye.AppendHeader(sip.HeaderClone(res.CallID()))
		bye.AppendHeader(&sip.CSeqHeader{SeqNo: 2, MethodName: sip.BYE})
		mf := sip.MaxForwardsHeader(70)
		bye.AppendHeader(&mf)
		rr, err := sip.RecordRoutes(res)
		require.NoError(t, err)
		require.NotEmpty(t, rr)
		slices.Reverse(rr)
		require.NoError(t, sip.SetNameAddrs(bye, "Route", rr))
		bye.SetBody(nil)
		require.Equal(t, sip.StatusOK, c.caller.do(bye).StatusCode)
		wait(t, c.callee.byes, "BYE at "+c.callee.name)
	}
	st := lab.fixer.Stats()
	require.Equal(t, uint64(2), st.Requests)
	require.Equal(t, uint64(2), st.Responses)
	require.Equal(t, uint64(1), st.FlowRoutes, "bob's binding; alice's is an outbound flow")
}

// TestNATRegisterWithoutFlowRoute: with Register: Never the proxy resolves
// the private contact, which nothing outside can reach: the call fails.
// This is what the Fixer's lookup policy prevents.
func TestNATRegisterWithoutFlowRoute(t *testing.T) {
	lab := newNATLab(t, nat.Config{Register: nat.Never}, 0)
	alice := lab.ua("alice", "192.168.1.10:5060")
	bob := lab.ua("bob", "192.168.2.20:5060")
	require.Equal(t, sip.StatusOK, bob.register("<sip:bob@192.168.2.20:5060>").StatusCode)

	inv := siptest.NewRequest(sip.INVITE, "sip:bob@example.com", siptest.WithHeader("Contact", alice.contact))
	done := make(chan *sip.Response, 1)
	go func() {
		res, err := alice.stack.Do(context.Background(), inv, server)
		if err == nil {
			done <- res
		}
	}()
	var res *sip.Response
	for res == nil {
		lab.clock.Advance(time.Second) // Timer B at the proxy's branch
		select {
		case res = <-done:
		case <-time.After(5 * time.Millisecond):
		}
	}
	require.Equal(t, sip.StatusRequestTimeout, res.StatusCode)
	select {
	case <-bob.invites:
		t.Fatal("the INVITE should not have reached bob")
	default:
	}
}

// TestNATKeepalive: the NATs drop a UDP mapping after 30 s without
// outbound traffic. Without pings, a registered UA is unreachable a minute
// later; with OPTIONS every 20 s (which it answers, refreshing the mapping)
// the call gets through. Once the UA is gone, the pinger reports it dead.
func TestNATKeepalive(t *testing.T) {
	for _, ping := range []bool{false, true} {
		t.Run(map[bool]string{false: "no pings", true: "pings"}[ping], func(t *testing.T) {
			lab := newNATLab(t, nat.Config{}, 30*time.Second)
			alice := lab.ua("alice", "192.168.1.10:5060")
			bob := lab.ua("bob", "192.168.2.20:5060")
			require.Equal(t, sip.StatusOK, bob.register("<sip:bob@192.168.2.20:5060>").StatusCode)

			var p *nat.Pinger
			dead := make(chan nat.Target, 1)
			if ping {
				src := func(ctx context.Context, yield func(nat.Target) bool) error {
					return lab.reg.Range(ctx, func(aor string, bs []registrar.Binding) bool {
						for _, b := range bs {
							c := registrar.Contact{Binding: b, Local: b.Node == lab.reg.Node()}
							na, err := b.NameAddr()
							next, ok := c.Target()
							if err != nil || !ok || !lab.fixer.UseFlow(na.URI, b.Flow) {
								continue
							}
							if !yield(nat.Target{AoR: aor, Key: b.Key, URI: na.URI, Next: next}) {
								return false
							}
						}
						return true
					})
				}
				var err error
				p, err = nat.NewPinger(lab.srv.Transactions, src, nat.PingerConfig{Interval: 20 * time.Second, Tick: time.Second,
					Timeout: 2 * time.Second, Clock: lab.clock, OnDead: func(t nat.Target) { dead <- t }})
				require.NoError(t, err)
				ctx, cancel := context.WithCancel(context.Background())
				stopped := make(chan struct{})
				go func() { _ = p.Run(ctx); close(stopped) }()
				t.Cleanup(func() { cancel(); <-stopped })
				waitRunning(t, lab.clock, p)
			}
			for range 60 {
				lab.clock.Advance(time.Second)
				if ping {
					require.Eventually(t, func() bool { return p.Stats().Inflight == 0 }, 5*time.Second, time.Millisecond)
				}
			}
			if !ping {
				require.Zero(t, lab.nats["bob"].Mappings(), "the mapping timed out")
				return
			}
			require.Equal(t, 1, lab.nats["bob"].Mappings())
			st := p.Stats()
			require.GreaterOrEqual(t, st.Answered, uint64(3))
			require.Zero(t, st.Failed)

			inv := siptest.NewRequest(sip.INVITE, "sip:bob@example.com", siptest.WithHeader("Contact", alice.contact))
			require.Equal(t, sip.StatusOK, alice.do(inv).StatusCode)
			wait(t, bob.invites, "INVITE at bob")

			// bob's router reboots: the mapping is gone, the pings fail.
			lab.nats["bob"].Reset()
			for i := 0; i < 120; i++ {
				lab.clock.Advance(time.Second)
				select {
				case d := <-dead:
					require.Equal(t, "sip:bob@example.com", d.AoR)
					require.Equal(t, uint64(3), p.Stats().Failed)
					return
				case <-time.After(time.Millisecond):
				}
			}
			t.Fatal("bob was not reported dead")
		})
	}
}
