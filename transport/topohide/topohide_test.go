package topohide_test

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/siphon-go/siphon/sip"
	"github.com/siphon-go/siphon/transport"
	"github.com/siphon-go/siphon/transport/topohide"
)

const inviteFromInside = "INVITE sip:bob@198.51.100.7 SIP/2.0\r\n" +
	"Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK-edge\r\n" +
	"Via: SIP/2.0/TCP 10.0.0.3:5060;branch=z9hG4bK-inner;received=10.0.0.3\r\n" +
	"Via: SIP/2.0/UDP 10.0.0.2:5060;branch=z9hG4bK-alice;rport=5060\r\n" +
	"Max-Forwards: 68\r\n" +
	"From: \"Alice\" <sip:alice@example.com>;tag=a1\r\n" +
	"To: <sip:bob@198.51.100.7>\r\n" +
	"Call-ID: c1@10.0.0.2\r\n" +
	"CSeq: 1 INVITE\r\n" +
	"Record-Route: <sip:192.0.2.1;lr>, <sip:10.0.0.3;lr;ftag=a1>\r\n" +
	"Contact: \"Alice\" <sip:alice@10.0.0.2:5060;ob>;+sip.instance=\"<urn:uuid:1>\";expires=600\r\n" +
	"P-Charging-Vector: icid-value=1\r\n" +
	"Content-Type: application/sdp\r\n" +
	"Content-Length: 4\r\n\r\nv=0\n"

var (
	outside = transport.Target{Transport: transport.UDP, Addr: netip.MustParseAddrPort("198.51.100.7:5060")}
	fromOut = transport.Flow{Transport: transport.UDP, Remote: netip.MustParseAddrPort("198.51.100.7:5060")}
)

func parse(t testing.TB, s string) sip.Message {
	t.Helper()
	m, err := sip.NewParser(0).Parse([]byte(s))
	require.NoError(t, err)
	return m
}

func newHider(t testing.TB, cfg topohide.Config) *topohide.Hider {
	t.Helper()
	if cfg.Codec == nil {
		c, err := topohide.NewCipher(make([]byte, 16))
		require.NoError(t, err)
		cfg.Codec = c
	}
	if cfg.Inside == nil {
		cfg.Inside = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	}
	if cfg.Host == "" {
		cfg.Host = "192.0.2.1:5060"
	}
	cfg.Logger = quiet()
	h, err := topohide.New(cfg)
	require.NoError(t, err)
	return h
}

func TestConfigErrors(t *testing.T) {
	c, _ := topohide.NewCipher(make([]byte, 16))
	in := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	for name, cfg := range map[string]topohide.Config{
		"no codec":  {Inside: in, Host: "a.example"},
		"no inside": {Codec: c, Host: "a.example"},
		"no host":   {Codec: c, Inside: in},
		"bad port":  {Codec: c, Inside: in, Host: "a.example:99999"},
	} {
		_, err := topohide.New(cfg)
		require.Error(t, err, name)
	}
}

// TestHideRequestAndRestoreResponse goes through each header a request
// from the inside carries, then brings the response back.
func TestHideRequestAndRestoreResponse(t *testing.T) {
	h := newHider(t, topohide.Config{HideCallID: true, Strip: []string{"p-charging-vector"}})
	req := parse(t, inviteFromInside).(*sip.Request)
	before := req.String()

	out, ok := h.Outbound(req, outside)
	require.True(t, ok)
	require.Equal(t, before, req.String(), "the sender's message must not change")
	wire := out.String()
	head, body, _ := strings.Cut(wire, "\r\n\r\n")
	require.NotContains(t, head, "10.0.0.")
	require.NotContains(t, head, "P-Charging-Vector")
	require.Equal(t, "v=0\n", body)
	got := parse(t, wire).(*sip.Request)
	require.Len(t, sip.HeaderValues(got, "Via"), 1, "one Via: ours")
	tok, ok := got.Via().Params.Get("th")
	require.True(t, ok)
	require.NotEmpty(t, tok)
	rr, err := sip.RecordRoutes(got)
	require.NoError(t, err)
	require.Len(t, rr, 2)
	require.Equal(t, "<sip:192.0.2.1;lr>", rr[0].String(), "our own entry stays")
	require.Equal(t, "192.0.2.1", rr[1].URI.Host)
	require.Equal(t, 5060, rr[1].URI.Port)
	require.True(t, rr[1].URI.UriParams.Has("lr"))
	cs, err := sip.Contacts(got)
	require.NoError(t, err)
	require.Equal(t, "192.0.2.1", cs[0].URI.Host)
	require.Equal(t, "Alice", cs[0].DisplayName)
	v, _ := cs[0].Params.Get("expires")
	require.Equal(t, "600", v, "Contact header parameters are kept")
	require.NotEqual(t, "c1@10.0.0.2", got.CallID().Value())
	require.Equal(t, "Alice", addr(got.From()).DisplayName, "From is not topology")

	// The same message hides the same way (retransmissions, CANCEL).
	again, _ := h.Outbound(req, outside)
	require.Equal(t, wire, again.String())

	// bob answers: the response carries our Via, the masked RR and Call-ID.
	res := sip.NewResponse(got, sip.StatusOK, "OK")
	res.AppendHeader(sip.NewHeader("Contact", "<sip:bob@198.51.100.7>"))
	in := parse(t, res.String())
	require.True(t, h.Inbound(in, fromOut))
	vias := sip.HeaderValues(in, "Via")
	require.Len(t, vias, 3)
	require.Equal(t, "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK-edge", vias[0])
	require.Equal(t, "SIP/2.0/TCP 10.0.0.3:5060;branch=z9hG4bK-inner;received=10.0.0.3", vias[1])
	require.Equal(t, "z9hG4bK-edge", in.(*sip.Response).Via().Params.GetOr("branch", ""), "typed top Via")
	rr, err = sip.RecordRoutes(in)
	require.NoError(t, err)
	require.Equal(t, "<sip:10.0.0.3;lr;ftag=a1>", rr[1].String())
	require.Equal(t, "c1@10.0.0.2", in.(*sip.Response).CallID().Value())
	require.EqualValues(t, 1, h.Stats().Restored)
}

// TestRestoreInDialogRequest: bob's BYE to the masked Contact, with the
// masked route set, gets alice's Contact and the true route back.
func TestRestoreInDialogRequest(t *testing.T) {
	h := newHider(t, topohide.Config{})
	out, _ := h.Outbound(parse(t, inviteFromInside), outside)
	got := parse(t, out.String())
	cs, _ := sip.Contacts(got)
	rr, _ := sip.RecordRoutes(got)

	bye := sip.NewRequest(sip.BYE, cs[0].URI)
	bye.AppendHeader(sip.NewHeader("Via", "SIP/2.0/UDP 198.51.100.7;branch=z9hG4bK-bye"))
	for _, r := range rr {
		bye.AppendHeader(sip.NewHeader("Route", r.String()))
	}
	bye.AppendHeader(sip.NewHeader("Call-ID", "c1@10.0.0.2"))
	in := parse(t, bye.String()).(*sip.Request)
	require.True(t, h.Inbound(in, fromOut))
	require.Equal(t, "sip:alice@10.0.0.2:5060;ob", in.Recipient.String())
	routes, err := sip.Routes(in)
	require.NoError(t, err)
	require.Equal(t, "<sip:192.0.2.1;lr>", routes[0].String())
	require.Equal(t, "<sip:10.0.0.3;lr;ftag=a1>", routes[1].String())
	require.Equal(t, "c1@10.0.0.2", in.CallID().Value(), "Call-ID untouched without HideCallID")
}

// TestPathAndServiceRouteHidden: a REGISTER from an inside P-CSCF to an
// outside registrar hides its Path; the 200 OK's Service-Route from an
// inside registrar to an outside UA is hidden too, and both come back as
// Route entries that are restored.
func TestPathAndServiceRouteHidden(t *testing.T) {
	h := newHider(t, topohide.Config{})
	reg := parse(t, "REGISTER sip:ims.example.net SIP/2.0\r\n"+
		"Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK-r\r\n"+
		"Path: <sip:term@10.0.0.3;lr>\r\n"+
		"From: <sip:u@ims.example.net>;tag=1\r\nTo: <sip:u@ims.example.net>\r\n"+
		"Call-ID: r1\r\nCSeq: 1 REGISTER\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n")
	out, ok := h.Outbound(reg, outside)
	require.True(t, ok)
	require.NotContains(t, out.String(), "10.0.0.3")
	path := sip.HeaderValues(out, "Path")[0]

	res := sip.NewResponse(parse(t, inviteFromInside).(*sip.Request), 200, "OK")
	res.AppendHeader(sip.NewHeader("Service-Route", "<sip:orig@10.0.0.4;lr>"))
	out, _ = h.Outbound(res, outside)
	require.NotContains(t, sip.HeaderValues(out, "Service-Route")[0], "10.0.0.4")
	sr := sip.HeaderValues(out, "Service-Route")[0]

	inv := parse(t, "INVITE sip:u@ims.example.net SIP/2.0\r\n"+
		"Via: SIP/2.0/UDP 198.51.100.7;branch=z9hG4bK-i\r\n"+
		"Route: "+sr+"\r\nRoute: "+path+"\r\n"+
		"From: <sip:x@example.net>;tag=2\r\nTo: <sip:u@ims.example.net>\r\n"+
		"Call-ID: i1\r\nCSeq: 1 INVITE\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n")
	require.True(t, h.Inbound(inv, fromOut))
	require.Equal(t, []string{"<sip:orig@10.0.0.4;lr>", "<sip:term@10.0.0.3;lr>"}, sip.HeaderValues(inv, "Route"))
}

func TestInsideTrafficUntouched(t *testing.T) {
	h := newHider(t, topohide.Config{HideCallID: true})
	req := parse(t, inviteFromInside)
	out, ok := h.Outbound(req, transport.Target{Transport: transport.UDP, Addr: netip.MustParseAddrPort("10.0.0.9:5060")})
	require.True(t, ok)
	require.Same(t, req, out)
	before := req.String()
	require.True(t, h.Inbound(req, transport.Flow{Transport: transport.UDP, Remote: netip.MustParseAddrPort("10.0.0.9:5060")}))
	require.Equal(t, before, req.String())
	require.Zero(t, h.Stats())
}

// TestForgedTokens: tokens that do not open are counted and left alone,
// so the request routes to this element or nowhere, never inside.
func TestForgedTokens(t *testing.T) {
	h := newHider(t, topohide.Config{})
	bye := "BYE sip:192.0.2.1:5060;th=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA SIP/2.0\r\n" +
		"Via: SIP/2.0/UDP 198.51.100.7;branch=z9hG4bK-x\r\n" +
		"Route: <sip:192.0.2.1;lr;th=garbage>\r\n" +
		"From: <sip:bob@example.net>;tag=b\r\nTo: <sip:alice@example.com>;tag=a\r\n" +
		"Call-ID: x\r\nCSeq: 2 BYE\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
	in := parse(t, bye).(*sip.Request)
	require.True(t, h.Inbound(in, fromOut))
	require.Equal(t, "192.0.2.1", in.Recipient.Host)
	require.Equal(t, []string{"<sip:192.0.2.1;lr;th=garbage>"}, sip.HeaderValues(in, "Route"))
	require.EqualValues(t, 2, h.Stats().BadTokens)

	// A token made for one place is not accepted in another: a Contact
	// token in a Route stays as it is.
	out, _ := h.Outbound(parse(t, inviteFromInside), outside)
	cs, _ := sip.Contacts(out)
	tok, _ := cs[0].URI.UriParams.Get("th")
	in = parse(t, strings.Replace(bye, "th=garbage", "th="+tok, 1)).(*sip.Request)
	h.Inbound(in, fromOut)
	require.Contains(t, sip.HeaderValues(in, "Route")[0], tok)
}

// TestUncheckableFieldIsNotSent: a Contact that does not parse cannot be
// checked for inside addresses, so the message is dropped.
func TestUncheckableFieldIsNotSent(t *testing.T) {
	h := newHider(t, topohide.Config{})
	req := parse(t, inviteFromInside)
	req.(*sip.Request).RemoveHeader("Contact")
	req.AppendHeader(sip.NewHeader("Contact", "<sip:alice@10.0.0.2"))
	_, ok := h.Outbound(req, outside)
	require.False(t, ok)
}

func TestTransportAndIPv6Host(t *testing.T) {
	h := newHider(t, topohide.Config{Host: "[2001:db8::1]:5061"})
	out, ok := h.Outbound(parse(t, inviteFromInside), transport.Target{Transport: transport.TLS, Addr: outside.Addr})
	require.True(t, ok)
	cs, _ := sip.Contacts(out)
	require.Equal(t, "[2001:db8::1]", cs[0].URI.Host)
	require.Equal(t, 5061, cs[0].URI.Port)
	require.Equal(t, "tls", cs[0].URI.UriParams.GetOr("transport", ""))
}

// TestInternalHostNames: inside elements named by host name are hidden when
// InternalHost says so.
func TestInternalHostNames(t *testing.T) {
	h := newHider(t, topohide.Config{InternalHost: func(host string) bool { return strings.HasSuffix(host, ".internal") }})
	req := parse(t, strings.Replace(inviteFromInside, "<sip:10.0.0.3;lr;ftag=a1>", "<sip:scscf1.ims.internal;lr>", 1))
	out, _ := h.Outbound(req, outside)
	require.NotContains(t, out.String(), "internal")
}

func FuzzInbound(f *testing.F) {
	h := newHider(f, topohide.Config{HideCallID: true})
	out, _ := h.Outbound(parse(f, inviteFromInside), outside)
	f.Add([]byte(out.String()))
	f.Add([]byte(inviteFromInside))
	res := sip.NewResponse(parse(f, out.String()).(*sip.Request), 200, "OK")
	f.Add([]byte(res.String()))
	p := sip.NewParser(0)
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := p.Parse(data)
		if err != nil {
			return
		}
		if h.Inbound(m, fromOut) {
			if o, ok := h.Outbound(m, outside); ok {
				_ = o.String()
			}
		}
	})
}

func BenchmarkOutboundHide(b *testing.B) {
	h := newHider(b, topohide.Config{HideCallID: true})
	req := parse(b, inviteFromInside)
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := h.Outbound(req, outside); !ok {
			b.Fatal("dropped")
		}
	}
}

func BenchmarkInboundRestore(b *testing.B) {
	h := newHider(b, topohide.Config{HideCallID: true})
	out, _ := h.Outbound(parse(b, inviteFromInside), outside)
	res := sip.NewResponse(parse(b, out.String()).(*sip.Request), 200, "OK").String()
	p := sip.NewParser(0)
	b.ReportAllocs()
	for b.Loop() {
		m, _ := p.Parse([]byte(res))
		h.Inbound(m, fromOut)
	}
}
