package nat_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/siphon-go/siphon/proxy/nat"
	"github.com/siphon-go/siphon/sip"
	"github.com/siphon-go/siphon/siptest"
	"github.com/siphon-go/siphon/transport"
)

// serve runs req through the Fixer's middleware on flow f and returns the
// Contact the next handler saw.
func serve(t *testing.T, x *nat.Fixer, req *sip.Request, f transport.Flow) string {
	t.Helper()
	var seen string
	next := sip.HandlerFunc(func(_ context.Context, w sip.ResponseWriter, r *sip.Request) {
		if h := r.GetHeader("Contact"); h != nil {
			seen = h.Value()
		}
		_ = sip.Respond(w, r, sip.StatusOK, "")
	})
	rec := siptest.NewRecorder()
	x.Middleware(next).ServeSIP(transport.NewContext(context.Background(), f), rec, req)
	require.NotNil(t, rec.Final())
	return seen
}

func newFixer(t *testing.T, cfg nat.Config) *nat.Fixer {
	t.Helper()
	x, err := nat.New(cfg)
	require.NoError(t, err)
	return x
}

func TestMiddleware(t *testing.T) {
	natted := flow(transport.UDP, "203.0.113.7:40001")
	const private = "<sip:alice@192.168.1.10:5060>;+sip.instance=\"<urn:uuid:1>\""
	const fixed = "<sip:alice@203.0.113.7:40001>;+sip.instance=\"<urn:uuid:1>\""

	t.Run("INVITE behind a NAT", func(t *testing.T) {
		x := newFixer(t, nat.Config{})
		require.Equal(t, fixed, serve(t, x, request(t, "INVITE", "UDP 192.168.1.10:5060", private), natted))
		require.Equal(t, uint64(1), x.Stats().Requests)
	})
	t.Run("target refresh methods", func(t *testing.T) {
		x := newFixer(t, nat.Config{})
		for _, m := range []string{"SUBSCRIBE", "NOTIFY", "REFER", "UPDATE"} {
			require.Equal(t, fixed, serve(t, x, request(t, m, "UDP 192.168.1.10:5060", private), natted), m)
		}
		for _, m := range []string{"REGISTER", "OPTIONS", "MESSAGE", "PUBLISH", "BYE"} {
			require.Equal(t, private, serve(t, x, request(t, m, "UDP 192.168.1.10:5060", private), natted), m)
		}
	})
	t.Run("not the first hop", func(t *testing.T) {
		x := newFixer(t, nat.Config{Contact: nat.Always})
		req := request(t, "INVITE", "UDP 192.168.1.10:5060", private)
		req.AppendHeader(&sip.ViaHeader{ProtocolName: "SIP", ProtocolVersion: "2.0", Transport: "UDP", Host: "10.9.9.9", Port: 5060,
			Params: sip.HeaderParams{{K: "branch", V: "z9hG4bKua"}}})
		require.Equal(t, private, serve(t, x, req, natted), "a Contact that came through a proxy is not ours to change")
	})
	t.Run("public UA", func(t *testing.T) {
		x := newFixer(t, nat.Config{})
		pub := flow(transport.UDP, "198.51.100.7:5060")
		require.Equal(t, "<sip:a@198.51.100.7:5060>", serve(t, x, request(t, "INVITE", "UDP 198.51.100.7:5060", "<sip:a@198.51.100.7:5060>"), pub))
		require.Equal(t, "<sip:pbx@203.0.113.99>", serve(t, x, request(t, "INVITE", "UDP 198.51.100.7:5060", "<sip:pbx@203.0.113.99>"), pub),
			"a Contact elsewhere on the Internet is not a NAT by the default tests")
		require.Zero(t, x.Stats().Requests)
	})
	t.Run("always", func(t *testing.T) {
		x := newFixer(t, nat.Config{Contact: nat.Always})
		pub := flow(transport.UDP, "198.51.100.7:5060")
		require.Equal(t, "<sip:pbx@198.51.100.7:5060>", serve(t, x, request(t, "INVITE", "UDP 198.51.100.7:5060", "<sip:pbx@203.0.113.99>"), pub))
		require.Equal(t, "<sip:a@198.51.100.7:5060>", serve(t, x, request(t, "INVITE", "UDP 198.51.100.7", "<sip:a@198.51.100.7>"), pub))
	})
	t.Run("never", func(t *testing.T) {
		x := newFixer(t, nat.Config{Contact: nat.Never})
		require.Equal(t, private, serve(t, x, request(t, "INVITE", "UDP 192.168.1.10:5060", private), natted))
	})
	t.Run("only when private", func(t *testing.T) {
		x := newFixer(t, nat.Config{Tests: nat.ContactPrivate})
		stun := "<sip:a@203.0.113.7:5060>"
		require.Equal(t, stun, serve(t, x, request(t, "INVITE", "UDP 203.0.113.7:5060", stun), natted))
		require.Equal(t, fixed, serve(t, x, request(t, "INVITE", "UDP 203.0.113.7:5060", private), natted))
	})
	t.Run("no flow", func(t *testing.T) {
		x := newFixer(t, nat.Config{Contact: nat.Always})
		req := request(t, "INVITE", "UDP 192.168.1.10:5060", private)
		rec := siptest.NewRecorder()
		x.Middleware(siptest.Respond(200)).ServeSIP(context.Background(), rec, req)
		require.Equal(t, private, req.GetHeader("Contact").Value())
	})
	_, err := nat.New(nat.Config{Contact: 7})
	require.Error(t, err)
}

// response is a response to method with the given status and Contact.
func response(t *testing.T, method string, code int, contact string) *sip.Response {
	t.Helper()
	req := request(t, method, "UDP 192.0.2.1:5060", "")
	res := sip.NewResponse(req, code, "")
	if contact != "" {
		res.AppendHeader(sip.NewHeader("Contact", contact))
	}
	return res
}

// TestInboundResponses: the callee behind a NAT answers with its private
// Contact; the Rewriter fixes 1xx and 2xx to dialog-forming requests only.
func TestInboundResponses(t *testing.T) {
	x := newFixer(t, nat.Config{})
	callee := flow(transport.UDP, "203.0.113.8:40002")
	const private = "<sip:bob@192.168.1.20:5060;transport=udp>;expires=1"
	for _, tc := range []struct {
		method string
		code   int
		want   string
	}{
		{"INVITE", 200, "<sip:bob@203.0.113.8:40002;transport=udp>;expires=1"},
		{"INVITE", 183, "<sip:bob@203.0.113.8:40002;transport=udp>;expires=1"},
		{"SUBSCRIBE", 202, "<sip:bob@203.0.113.8:40002;transport=udp>;expires=1"},
		{"INVITE", 100, private},
		{"INVITE", 302, private}, // a redirect's Contacts are targets, not the callee
		{"INVITE", 486, private},
		{"OPTIONS", 200, private},
		{"REGISTER", 200, private},
	} {
		res := response(t, tc.method, tc.code, private)
		require.True(t, x.Inbound(res, callee))
		require.Equal(t, tc.want, res.GetHeader("Contact").Value(), "%s %d", tc.method, tc.code)
	}
	require.Equal(t, uint64(3), x.Stats().Responses)

	// A public Contact elsewhere (a proxy below us answered for a UA on the
	// Internet) stays, even in Always mode.
	always := newFixer(t, nat.Config{Contact: nat.Always})
	res := response(t, "INVITE", 200, "<sip:bob@198.51.100.9:5060>")
	require.True(t, always.Inbound(res, callee))
	require.Equal(t, "<sip:bob@198.51.100.9:5060>", res.GetHeader("Contact").Value())

	never := newFixer(t, nat.Config{Contact: nat.Never})
	res = response(t, "INVITE", 200, private)
	require.True(t, never.Inbound(res, callee))
	require.Equal(t, private, res.GetHeader("Contact").Value())

	// Requests pass through Inbound untouched (Middleware handles them).
	req := request(t, "INVITE", "UDP 192.168.1.10:5060", private)
	require.True(t, x.Inbound(req, callee))
	require.Equal(t, private, req.GetHeader("Contact").Value())
	out, ok := x.Outbound(req, transport.Target{})
	require.True(t, ok)
	require.Same(t, req, out)
}

func TestUseFlow(t *testing.T) {
	natted := flow(transport.UDP, "203.0.113.7:40001")
	uri := func(s string) sip.Uri {
		u, err := sip.ParseURI(s)
		require.NoError(t, err)
		return u
	}
	x := newFixer(t, nat.Config{})
	require.True(t, x.UseFlow(uri("sip:alice@192.168.1.10:5060"), natted), "private contact")
	require.True(t, x.UseFlow(uri("sip:alice@203.0.113.7:5060"), natted), "the source host on another port")
	require.True(t, x.UseFlow(uri("sip:alice@203.0.113.7;transport=tcp"), flow(transport.TCP, "203.0.113.7:49152")), "TCP from an ephemeral port")
	require.True(t, x.UseFlow(uri("sip:x@y.invalid;transport=ws"), flow(transport.WS, "203.0.113.7:49152")), "WebSocket")
	require.False(t, x.UseFlow(uri("sip:alice@203.0.113.7:40001"), natted), "the contact is the source")
	require.False(t, x.UseFlow(uri("sip:pbx@198.51.100.9:5080"), natted), "third-party registration")
	require.False(t, x.UseFlow(uri("sip:alice@192.168.1.10"), transport.Flow{}), "no flow")
	st := x.Stats()
	require.Equal(t, uint64(4), st.FlowRoutes)
	require.Equal(t, uint64(3), st.URIRoutes)

	before := x.Stats()
	require.True(t, x.NATed(uri("sip:alice@192.168.1.10:5060"), natted))
	require.False(t, x.NATed(uri("sip:pbx@198.51.100.9:5080"), natted))
	require.Equal(t, before, x.Stats(), "NATed counts nothing")

	always := newFixer(t, nat.Config{Register: nat.Always})
	require.True(t, always.UseFlow(uri("sip:pbx@198.51.100.9:5080"), natted))
	require.False(t, always.UseFlow(uri("sip:pbx@198.51.100.9:5080"), transport.Flow{}))
	never := newFixer(t, nat.Config{Register: nat.Never})
	require.False(t, never.UseFlow(uri("sip:alice@192.168.1.10:5060"), natted))
}

func TestParseMode(t *testing.T) {
	for _, m := range []nat.Mode{nat.WhenNATed, nat.Always, nat.Never} {
		got, err := nat.ParseMode(m.String())
		require.NoError(t, err)
		require.Equal(t, m, got)
	}
	_, err := nat.ParseMode("sometimes")
	require.Error(t, err)
	require.Equal(t, "Mode(9)", nat.Mode(9).String())
}
