package topohide_test

import (
	"context"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/siphon-go/siphon/proxy"
	"github.com/siphon-go/siphon/sip"
	"github.com/siphon-go/siphon/siptest"
	"github.com/siphon-go/siphon/transaction"
	"github.com/siphon-go/siphon/transport"
	"github.com/siphon-go/siphon/transport/topohide"
)

// The lab: alice and a record-routing proxy on the inside (10.0.0.0/8), the
// hiding edge proxy on 192.0.2.1, bob on the outside.
const (
	aliceAddr = "10.0.0.2:5060"
	innerAddr = "10.0.0.3:5060"
	edgeAddr  = "192.0.2.1:5060"
	bobAddr   = "198.51.100.7:5060"
)

var inside = netip.MustParsePrefix("10.0.0.0/8")

type lab struct {
	t     *testing.T
	net   *siptest.Network
	tap   *siptest.Messages
	hider *topohide.Hider
	alice *ua
	bob   *ua
}

func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

func newLab(t *testing.T, codec topohide.Codec, hideCallID bool) *lab {
	n := siptest.NewNetwork(siptest.NetworkConfig{})
	hider, err := topohide.New(topohide.Config{Codec: codec, Inside: []netip.Prefix{inside}, Host: edgeAddr,
		HideCallID: hideCallID, Strip: []string{"P-Charging-Vector"}, Logger: quiet()})
	require.NoError(t, err)
	l := &lab{t: t, net: n, tap: siptest.NewMessages(), hider: hider}
	l.alice = newUA(l, "alice", aliceAddr)
	l.bob = newUA(l, "bob", bobAddr)
	// The inner proxy only record-routes and loose-routes.
	siptest.NewStack(t, n, innerAddr, siptest.StackConfig{
		Transport: transport.Config{Logger: quiet()},
		NewHandler: func(tl *transaction.Layer) sip.Handler {
			return proxy.New(tl, proxy.Config{RecordRoute: true, Logger: quiet()})
		},
	})
	// The edge sends calls for its own address to alice through the inner
	// proxy, everything else to its Request-URI.
	siptest.NewStack(t, n, edgeAddr, siptest.StackConfig{
		Transport: transport.Config{Logger: quiet(), Tap: l.tap, Rewriter: hider},
		NewHandler: func(tl *transaction.Layer) sip.Handler {
			return proxy.New(tl, proxy.Config{RecordRoute: true, Logger: quiet(),
				Locate: func(context.Context, *sip.Request) ([]proxy.Target, error) {
					return []proxy.Target{{URI: mustURI("sip:alice@" + aliceAddr),
						Route: []sip.NameAddr{{URI: mustURI("sip:" + innerAddr + ";lr")}}}}, nil
				}})
		},
	})
	return l
}

func mustURI(s string) sip.Uri {
	u, err := sip.ParseURI(s)
	if err != nil {
		panic(err)
	}
	return u
}

// ua is a user agent that answers INVITE 200 (sip.NewResponse copies
// Record-Route, RFC 3261 §12.1.1) and BYE 200, and records what reaches it.
type ua struct {
	l       *lab
	name    string
	addr    string
	stack   *siptest.Stack
	reqs    chan *sip.Request
	contact string
}

func newUA(l *lab, name, addr string) *ua {
	u := &ua{l: l, name: name, addr: addr, reqs: make(chan *sip.Request, 16), contact: "<sip:" + name + "@" + addr + ">"}
	u.stack = siptest.NewStack(l.t, l.net, addr, siptest.StackConfig{
		Transport: transport.Config{Logger: quiet()},
		Handler: sip.HandlerFunc(func(_ context.Context, w sip.ResponseWriter, req *sip.Request) {
			u.reqs <- req
			switch req.Method {
			case sip.ACK:
			case sip.INVITE:
				res := sip.NewResponse(req, sip.StatusOK, "")
				res.AppendHeader(sip.NewHeader("Contact", u.contact))
				if u.inside() {
					res.AppendHeader(sip.NewHeader("P-Charging-Vector", "icid-value=inside-"+u.name))
				}
				_ = w.WriteResponse(res)
			default:
				_ = sip.Respond(w, req, sip.StatusOK, "")
			}
		}),
	})
	return u
}

func (u *ua) inside() bool { return inside.Contains(netip.MustParseAddrPort(u.addr).Addr()) }

func (u *ua) next(method sip.RequestMethod) *sip.Request {
	u.l.t.Helper()
	select {
	case r := <-u.reqs:
		require.Equal(u.l.t, method, r.Method, "%s got %s", u.name, r.StartLine())
		return r
	case <-time.After(5 * time.Second):
		u.l.t.Fatalf("%s: no %s", u.name, method)
		return nil
	}
}

// dialog is one side's view of an established dialog (RFC 3261 §12.1).
type dialog struct {
	u         *ua
	callID    string
	local     sip.NameAddr // From of our requests
	remote    sip.NameAddr // To of our requests
	target    sip.Uri      // remote Contact
	route     []sip.NameAddr
	cseq      uint32
	inviteSeq uint32
}

func addr(h sip.Header) sip.NameAddr {
	na, err := sip.ParseNameAddr(h.Value())
	if err != nil {
		panic(err)
	}
	return na
}

// uacDialog: the caller's dialog from the 2xx (route set = Record-Route
// reversed, §12.1.2).
func (u *ua) uacDialog(inv *sip.Request, res *sip.Response) *dialog {
	rr, err := sip.RecordRoutes(res)
	require.NoError(u.l.t, err)
	slices.Reverse(rr)
	cs, err := sip.Contacts(res)
	require.NoError(u.l.t, err)
	return &dialog{u: u, callID: res.CallID().Value(), local: addr(res.From()), remote: addr(res.To()),
		target: cs[0].URI, route: rr, cseq: inv.CSeq().SeqNo, inviteSeq: inv.CSeq().SeqNo}
}

// uasDialog: the callee's dialog from the INVITE it answered (route set =
// Record-Route in order, §12.1.1). The callee's own To-tag is not known
// here; BYE matching at the caller does not need it in these tests.
func (u *ua) uasDialog(inv *sip.Request) *dialog {
	rr, err := sip.RecordRoutes(inv)
	require.NoError(u.l.t, err)
	cs, err := sip.Contacts(inv)
	require.NoError(u.l.t, err)
	return &dialog{u: u, callID: inv.CallID().Value(), local: addr(inv.To()), remote: addr(inv.From()),
		target: cs[0].URI, route: rr, cseq: 100}
}

func (d *dialog) request(method sip.RequestMethod) (*sip.Request, transport.Target) {
	req := sip.NewRequest(method, d.target)
	req.AppendHeader(sip.NewHeader("From", d.local.String()))
	req.AppendHeader(sip.NewHeader("To", d.remote.String()))
	cid := sip.CallIDHeader(d.callID)
	req.AppendHeader(&cid)
	seq := d.inviteSeq
	if method != sip.ACK {
		d.cseq++
		seq = d.cseq
	}
	req.AppendHeader(&sip.CSeqHeader{SeqNo: seq, MethodName: method})
	mf := sip.MaxForwardsHeader(70)
	req.AppendHeader(&mf)
	for _, r := range d.route {
		req.AppendHeader(sip.NewHeader("Route", r.String()))
	}
	req.SetBody(nil)
	next := d.target
	if len(d.route) > 0 {
		next = d.route[0].URI
	}
	port := next.Port
	if port == 0 {
		port = 5060
	}
	ap := netip.AddrPortFrom(netip.MustParseAddr(next.Host), uint16(port))
	return req, transport.Target{Transport: transport.UDP, Addr: ap}
}

func (d *dialog) ack() {
	req, t := d.request(sip.ACK)
	req.PrependHeader(&sip.ViaHeader{ProtocolName: "SIP", ProtocolVersion: "2.0", Transport: "UDP",
		Params: sip.HeaderParams{{K: "branch", V: sip.GenerateBranch()}}})
	require.NoError(d.u.l.t, d.u.stack.Transport.SendMessage(req, t, nil))
}

func (d *dialog) bye() *sip.Response {
	req, t := d.request(sip.BYE)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res, err := d.u.stack.Do(ctx, req, t)
	require.NoError(d.u.l.t, err)
	return res
}

func (u *ua) invite(ruri string, route ...string) (*sip.Request, *sip.Response) {
	inv := siptest.NewRequest(sip.INVITE, ruri, siptest.WithHeader("Contact", u.contact))
	if u.inside() {
		inv.AppendHeader(sip.NewHeader("P-Charging-Vector", "icid-value=inside-"+u.name))
	}
	for _, r := range route {
		inv.AppendHeader(sip.NewHeader("Route", r))
	}
	next := netip.MustParseAddrPort(strings.TrimSuffix(strings.TrimPrefix(route0(route, ruri), "<sip:"), ";lr>"))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res, err := u.stack.Do(ctx, inv, transport.Target{Transport: transport.UDP, Addr: next})
	require.NoError(u.l.t, err)
	require.Equal(u.l.t, sip.StatusOK, res.StatusCode)
	return inv, res
}

func route0(route []string, ruri string) string {
	if len(route) > 0 {
		return route[0]
	}
	_, hostport, _ := strings.Cut(ruri, "@")
	return "<sip:" + hostport + ";lr>"
}

// assertHidden checks every message the edge exchanged with the outside:
// no inside address in any header field, and the stripped header (which
// only inside elements add) gone.
func (l *lab) assertHidden(wantOut ...string) {
	l.t.Helper()
	var seen []string
	for _, c := range l.tap.Drain() {
		if inside.Contains(c.Flow.Remote.Addr()) {
			continue
		}
		head, _, _ := strings.Cut(c.Data, "\r\n\r\n")
		require.NotContains(l.t, head, "10.0.", "inside address leaked %v:\n%s", c.Dir, head)
		require.NotContains(l.t, head, "P-Charging-Vector", "stripped header leaked:\n%s", head)
		if c.Dir == transport.Out {
			seen = append(seen, c.StartLine())
		}
	}
	for _, w := range wantOut {
		require.True(l.t, slices.ContainsFunc(seen, func(s string) bool { return strings.HasPrefix(s, w) }),
			"the edge sent no %q to the outside; it sent %q", w, seen)
	}
}

// TestCallThroughHidingEdge is the acceptance test: a call each way through
// the edge, captured by its tap, shows no inside address on the outside in
// any header, and ACK and BYE route both ways through the hidden route
// set, in both modes.
func TestCallThroughHidingEdge(t *testing.T) {
	cipher, err := topohide.NewCipher([]byte("0123456789abcdef0123456789abcdef"))
	require.NoError(t, err)
	for _, tc := range []struct {
		name   string
		codec  topohide.Codec
		callID bool
	}{
		{"stateless", cipher, true},
		{"stateless/keep-call-id", cipher, false},
		{"stateful", topohide.NewStore(topohide.StoreConfig{}), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := newLab(t, tc.codec, tc.callID)
			edge, inner := "<sip:"+edgeAddr+";lr>", "<sip:"+innerAddr+";lr>"

			// Inside → outside: alice calls bob through the inner proxy and the
			// edge (pre-loaded Route).
			inv, res := l.alice.invite("sip:bob@"+bobAddr, inner, edge)
			atBob := l.bob.next(sip.INVITE)
			require.NotEqual(t, inv.CallID().Value() == atBob.CallID().Value(), tc.callID, "Call-ID hidden iff asked")
			require.Equal(t, inv.CallID().Value(), res.CallID().Value(), "alice sees her own Call-ID")
			require.Len(t, sip.HeaderValues(res, "Record-Route"), 2, "alice sees the true route set")
			aliceDlg := l.alice.uacDialog(inv, res)
			require.Equal(t, "sip:bob@"+bobAddr, aliceDlg.target.String())
			aliceDlg.ack()
			l.bob.next(sip.ACK)
			// bob hangs up: the BYE goes to the masked Contact via the masked
			// route set and reaches alice through both proxies.
			bobDlg := l.bob.uasDialog(atBob)
			require.Equal(t, sip.StatusOK, bobDlg.bye().StatusCode)
			bye := l.alice.next(sip.BYE)
			require.Equal(t, inv.CallID().Value(), bye.CallID().Value())
			require.Equal(t, "sip:alice@"+aliceAddr, bye.Recipient.String())
			l.assertHidden("INVITE sip:bob@", "ACK sip:bob@", "SIP/2.0 200")

			// Outside → inside: bob calls the edge, which sends it to alice
			// through the inner proxy; alice hangs up.
			inv, res = l.bob.invite("sip:alice@" + edgeAddr)
			atAlice := l.alice.next(sip.INVITE)
			if tc.callID {
				require.Equal(t, "th-"+inv.CallID().Value(), atAlice.CallID().Value())
			}
			require.Equal(t, inv.CallID().Value(), res.CallID().Value(), "bob sees his own Call-ID")
			bobDlg = l.bob.uacDialog(inv, res)
			require.Equal(t, edgeAddr, hostport(bobDlg.target), "bob's target is the edge")
			bobDlg.ack()
			l.alice.next(sip.ACK)
			aliceDlg = l.alice.uasDialog(atAlice)
			require.Equal(t, sip.StatusOK, aliceDlg.bye().StatusCode)
			bye = l.bob.next(sip.BYE)
			require.Equal(t, inv.CallID().Value(), bye.CallID().Value())
			// and bob's re-INVITE-style request the other way still routes:
			require.Equal(t, sip.StatusOK, bobDlg.bye().StatusCode)
			l.alice.next(sip.BYE)
			l.assertHidden("SIP/2.0 200", "BYE sip:bob@")

			st := l.hider.Stats()
			require.NotZero(t, st.Hidden)
			require.NotZero(t, st.Restored)
			require.Zero(t, st.BadTokens)
		})
	}
}

func hostport(u sip.Uri) string {
	return netip.AddrPortFrom(netip.MustParseAddr(u.Host), uint16(u.Port)).String()
}
