package nat_test

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/siphon-go/siphon/proxy/nat"
	"github.com/siphon-go/siphon/sip"
	"github.com/siphon-go/siphon/siptest"
	"github.com/siphon-go/siphon/transport"
)

func flow(tp, remote string) transport.Flow {
	return transport.Flow{Transport: tp, Local: netip.MustParseAddrPort("192.0.2.1:5060"), Remote: netip.MustParseAddrPort(remote)}
}

const instance = `+sip.instance="<urn:uuid:00000000-0000-1000-8000-AABBCCDDEEFF>"`

// TestFixContactKeepsEverythingElse: only the host, the port and (when the
// flow's transport differs from the URI's) the transport parameter change;
// display name, user part, URI and header parameters stay byte for byte.
func TestFixContactKeepsEverythingElse(t *testing.T) {
	const src = "203.0.113.7:40001"
	for _, tc := range []struct {
		name, tp, remote, in, want string
	}{
		{"plain", transport.UDP, src, `<sip:alice@192.168.1.10:5060>`, `<sip:alice@203.0.113.7:40001>`},
		{"outbound params", transport.UDP, src,
			`"Alice Smith" <sip:alice@192.168.1.10:5060;ob>;` + instance + `;reg-id=1;expires=3600`,
			`"Alice Smith" <sip:alice@203.0.113.7:40001;ob>;` + instance + `;reg-id=1;expires=3600`},
		{"transport kept", transport.TCP, src,
			`<sip:alice@192.168.1.10:5060;transport=tcp>;expires=60;+sip.ice`,
			`<sip:alice@203.0.113.7:40001;transport=tcp>;expires=60;+sip.ice`},
		{"transport replaced", transport.UDP, src,
			`<sip:alice@192.168.1.10;transport=TCP;lr>`, `<sip:alice@203.0.113.7:40001;transport=udp;lr>`},
		{"transport added", transport.TCP, src,
			`<sip:alice@192.168.1.10:5060;ob>`, `<sip:alice@203.0.113.7:40001;ob;transport=tcp>`},
		{"addr-spec", transport.UDP, src,
			`sip:alice@192.168.1.10:5060;expires=60`, `sip:alice@203.0.113.7:40001;expires=60`},
		{"addr-spec gets brackets for a URI parameter", transport.TCP, src,
			`sip:alice@192.168.1.10:5060;expires=60`, `<sip:alice@203.0.113.7:40001;transport=tcp>;expires=60`},
		{"IPv6", transport.UDP, "[2001:db8::7]:40001",
			`<sip:alice@[fd00::10]:5060>;q=0.5`, `<sip:alice@[2001:db8::7]:40001>;q=0.5`},
		{"IPv4 over IPv6 contact", transport.UDP, src,
			`<sip:alice@[fd00::10]>`, `<sip:alice@203.0.113.7:40001>`},
		{"user part with ; and ?", transport.UDP, src,
			`<sip:+15551234;phone-context=home@192.168.1.10:5060;user=phone?Subject=x%40y>`,
			`<sip:+15551234;phone-context=home@203.0.113.7:40001;user=phone?Subject=x%40y>`},
		{"no user", transport.UDP, src, `<sip:192.168.1.10>`, `<sip:203.0.113.7:40001>`},
		{"password", transport.UDP, src, `<sip:alice:secret@192.168.1.10:5070>`, `<sip:alice:secret@203.0.113.7:40001>`},
		{"sips over TLS", transport.TLS, src, `<sips:alice@192.168.1.10>`, `<sips:alice@203.0.113.7:40001>`},
		{"sip over TLS", transport.TLS, src, `<sip:alice@192.168.1.10>`, `<sip:alice@203.0.113.7:40001;transport=tls>`},
		{"WebSocket", transport.WS, src,
			`<sip:x8f2@df7jal23ls0d.invalid;transport=ws>;expires=600;` + instance,
			`<sip:x8f2@203.0.113.7:40001;transport=ws>;expires=600;` + instance},
		{"display name with specials", transport.UDP, src,
			`"a;b <c>, \"d\"" <sip:alice@10.0.0.1>;tag=x`, `"a;b <c>, \"d\"" <sip:alice@203.0.113.7:40001>;tag=x`},
		{"token display name", transport.UDP, src, `Alice <SIP:alice@10.0.0.1>`, `Alice <SIP:alice@203.0.113.7:40001>`},
		{"only the first value", transport.UDP, src,
			`<sip:a@192.168.1.10>;q=1, <sip:b@192.168.1.11>`, `<sip:a@203.0.113.7:40001>;q=1, <sip:b@192.168.1.11>`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := siptest.NewIncomingRequest(sip.INVITE, "sip:bob@example.com", siptest.WithHeader("Contact", tc.in))
			require.True(t, nat.FixContact(req, flow(tc.tp, tc.remote)))
			got := req.GetHeader("Contact").Value()
			require.Equal(t, tc.want, got)
			// What comes out parses, with the header parameters unchanged.
			before, err := sip.ParseNameAddrList(tc.in)
			require.NoError(t, err)
			after, err := sip.ParseNameAddrList(got)
			require.NoError(t, err)
			require.Equal(t, before[0].Params, after[0].Params)
			require.Equal(t, before[0].DisplayName, after[0].DisplayName)
			require.Equal(t, before[0].URI.User, after[0].URI.User)
			ap := netip.MustParseAddrPort(tc.remote)
			require.Equal(t, int(ap.Port()), after[0].URI.Port)
			// Fixing again changes nothing.
			require.False(t, nat.FixContact(req, flow(tc.tp, tc.remote)))
		})
	}
}

func TestFixContactLeavesOthersAlone(t *testing.T) {
	f := flow(transport.UDP, "203.0.113.7:40001")
	for _, c := range []string{"*", "<tel:+15551234>", "<urn:service:sos>", "<sip:alice@192.168.1.10:>", "<sip:@>", "<sip:alice@192.168.1.10"} {
		req := siptest.NewIncomingRequest(sip.REGISTER, "sip:example.com", siptest.WithHeader("Contact", c))
		require.False(t, nat.FixContact(req, f), c)
		require.Equal(t, c, req.GetHeader("Contact").Value())
	}
	req := siptest.NewIncomingRequest(sip.INVITE, "sip:bob@example.com")
	require.False(t, nat.FixContact(req, f), "no Contact")
	req = siptest.NewIncomingRequest(sip.INVITE, "sip:bob@example.com", siptest.WithHeader("Contact", "<sip:a@10.0.0.1>"))
	require.False(t, nat.FixContact(req, transport.Flow{}), "no source")
}

// TestFixContactShared: a copy made with sip.CopyRequest shares header
// values; fixing the copy leaves the original's Contact as it was.
func TestFixContactShared(t *testing.T) {
	orig := siptest.NewIncomingRequest(sip.INVITE, "sip:bob@example.com", siptest.WithHeader("Contact", "<sip:a@10.0.0.1>"))
	cp := sip.CopyRequest(orig)
	require.True(t, nat.FixContact(cp, flow(transport.UDP, "203.0.113.7:1")))
	require.Equal(t, "<sip:a@10.0.0.1>", orig.GetHeader("Contact").Value())
	require.Equal(t, "<sip:a@203.0.113.7:1>", cp.GetHeader("Contact").Value())
}

// TestFixContactTyped: a Contact a program built as *sip.ContactHeader is
// fixed through sipgo's reference, so Contact() sees it.
func TestFixContactTyped(t *testing.T) {
	req := siptest.NewIncomingRequest(sip.INVITE, "sip:bob@example.com")
	u, err := sip.ParseURI("sip:alice@192.168.1.10:5060;ob")
	require.NoError(t, err)
	req.AppendHeader(&sip.ContactHeader{Address: u, Params: sip.HeaderParams{{K: "expires", V: "60"}}})
	require.True(t, nat.FixContact(req, flow(transport.TCP, "203.0.113.7:40001")))
	c := req.Contact()
	require.Equal(t, "203.0.113.7", c.Address.Host)
	require.Equal(t, 40001, c.Address.Port)
	require.Equal(t, "<sip:alice@203.0.113.7:40001;ob;transport=tcp>;expires=60", c.Value())
	require.Equal(t, "sip:alice@192.168.1.10:5060;ob", u.String(), "the original URI is not touched")
}
