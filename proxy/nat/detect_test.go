package nat_test

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/siphon-go/siphon/proxy/nat"
	"github.com/siphon-go/siphon/sip"
	"github.com/siphon-go/siphon/transport"
)

// request parses a request with the given top Via sent-by and Contact, as
// the transport hands it on (received and rport added for src).
func request(t testing.TB, method, via, contact string) *sip.Request {
	t.Helper()
	s := method + " sip:bob@example.com SIP/2.0\r\n" +
		"Via: SIP/2.0/" + via + ";branch=z9hG4bKdetect;rport\r\n" +
		"Max-Forwards: 70\r\nFrom: <sip:alice@example.com>;tag=a\r\nTo: <sip:bob@example.com>\r\n" +
		"Call-ID: detect\r\nCSeq: 1 " + method + "\r\n"
	if contact != "" {
		s += "Contact: " + contact + "\r\n"
	}
	s += "Content-Length: 0\r\n\r\n"
	m, err := sip.NewParser(0).Parse([]byte(s))
	require.NoError(t, err)
	return m.(*sip.Request)
}

func TestDetect(t *testing.T) {
	for _, tc := range []struct {
		name, tp, src, via, contact string
		want                        nat.Flags
	}{
		{"public UA", transport.UDP, "198.51.100.7:5060", "UDP 198.51.100.7:5060", "<sip:a@198.51.100.7:5060>", 0},
		{"default ports", transport.UDP, "198.51.100.7:5060", "UDP 198.51.100.7", "<sip:a@198.51.100.7>", 0},
		{"behind NAT", transport.UDP, "203.0.113.7:40001", "UDP 192.168.1.10:5060", "<sip:a@192.168.1.10:5060>",
			nat.ContactPrivate | nat.ContactHost | nat.ViaReceived | nat.ViaPrivate | nat.ViaPort},
		{"STUN: public address, NAT port", transport.UDP, "203.0.113.7:40001", "UDP 203.0.113.7:5060", "<sip:a@203.0.113.7:5060>",
			nat.ContactPort | nat.ViaPort},
		{"carrier-grade NAT", transport.UDP, "203.0.113.7:40001", "UDP 100.64.0.9:5060", "<sip:a@100.64.0.9:5060>",
			nat.ContactPrivate | nat.ContactHost | nat.ViaReceived | nat.ViaPrivate | nat.ViaPort},
		{"loopback contact", transport.UDP, "198.51.100.7:5060", "UDP 198.51.100.7:5060", "<sip:a@127.0.0.1:5060>",
			nat.ContactPrivate | nat.ContactHost},
		{"loopback from loopback", transport.UDP, "127.0.0.1:5070", "UDP 127.0.0.1:5070", "<sip:a@127.0.0.1:5070>",
			nat.SourcePrivate},
		{"third party", transport.UDP, "198.51.100.7:5060", "UDP 198.51.100.7:5060", "<sip:pbx@203.0.113.99:5080>",
			nat.ContactHost},
		{"name in Via and Contact", transport.UDP, "198.51.100.7:5060", "UDP ua.example.com:5060", "<sip:a@ua.example.com>",
			nat.ViaReceived | nat.ContactHost},
		{"TCP from an ephemeral port", transport.TCP, "198.51.100.7:49152", "TCP 198.51.100.7:5060", "<sip:a@198.51.100.7;transport=tcp>",
			nat.ContactPort | nat.ViaPort},
		{"TLS default port", transport.TLS, "198.51.100.7:5061", "TLS 198.51.100.7", "<sips:a@198.51.100.7>", 0},
		{"LAN behind this element", transport.UDP, "10.0.0.7:5060", "UDP 10.0.0.7:5060", "<sip:a@10.0.0.7:5060>", nat.SourcePrivate},
		{"WebSocket", transport.WSS, "198.51.100.7:50000", "WSS df7jal23ls0d.invalid", "<sip:x@df7jal23ls0d.invalid;transport=ws>",
			nat.WebSocket | nat.ViaReceived | nat.ViaPort | nat.ContactHost},
		{"IPv6", transport.UDP, "[2001:db8::7]:5060", "UDP [fd00::10]:5060", "<sip:a@[fd00::10]:5060>",
			nat.ContactPrivate | nat.ContactHost | nat.ViaReceived | nat.ViaPrivate},
		{"no Contact", transport.UDP, "203.0.113.7:40001", "UDP 192.168.1.10:5060", "",
			nat.ViaReceived | nat.ViaPrivate | nat.ViaPort},
		{"tel Contact", transport.UDP, "198.51.100.7:5060", "UDP 198.51.100.7:5060", "<tel:+15551234>", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := request(t, "INVITE", tc.via, tc.contact)
			got := nat.Detect(req, flow(tc.tp, tc.src))
			require.Equal(t, tc.want, got, "got %s, want %s", got, tc.want)
		})
	}
	require.Zero(t, nat.Detect(request(t, "INVITE", "UDP 192.168.1.10", "<sip:a@10.0.0.1>"), transport.Flow{}))
}

func TestDetectContact(t *testing.T) {
	f := flow(transport.UDP, "203.0.113.7:40001")
	for _, tc := range []struct {
		uri  string
		want nat.Flags
	}{
		{"sip:a@192.168.1.10:5060", nat.ContactPrivate | nat.ContactHost},
		{"sip:a@203.0.113.7:5060", nat.ContactPort},
		{"sip:a@203.0.113.7:40001", 0},
		{"sip:a@198.51.100.1", nat.ContactHost},
		{"sips:a@203.0.113.7", nat.ContactPort},
		{"tel:+15551234", 0},
	} {
		u, err := sip.ParseURI(tc.uri)
		require.NoError(t, err)
		require.Equal(t, tc.want, nat.DetectContact(u, f), tc.uri)
	}
	u, _ := sip.ParseURI("sip:x@y.invalid;transport=ws")
	require.Equal(t, nat.WebSocket|nat.ContactHost, nat.DetectContact(u, flow(transport.WS, "203.0.113.7:40001")))
}

func TestPrivate(t *testing.T) {
	for _, a := range []string{"10.1.2.3", "172.16.0.1", "172.31.255.255", "192.168.0.1", "100.64.0.1", "100.127.255.254",
		"127.0.0.1", "169.254.1.1", "0.0.0.0", "fd00::1", "fe80::1", "::1", "::", "::ffff:192.168.1.1"} {
		require.True(t, nat.Private(netip.MustParseAddr(a)), a)
	}
	for _, a := range []string{"8.8.8.8", "172.32.0.1", "100.128.0.1", "192.0.2.1", "203.0.113.7", "2001:db8::1", "::ffff:8.8.8.8"} {
		require.False(t, nat.Private(netip.MustParseAddr(a)), a)
	}
}

func TestFlagsString(t *testing.T) {
	require.Equal(t, "none", nat.Flags(0).String())
	require.Equal(t, "contact-private,via-port", (nat.ContactPrivate | nat.ViaPort).String())
	require.True(t, strings.HasSuffix(nat.Flags(1<<15).String(), "unknown"))
}

// FuzzFixContact: whatever the Contact, FixContact does not panic, and a
// rewrite of a value that parsed still parses, with the same header
// parameters and the flow's port.
func FuzzFixContact(f *testing.F) {
	for _, s := range []string{`<sip:alice@192.168.1.10:5060;ob>;` + instance + `;reg-id=1`, `sip:a@10.0.0.1;expires=5`,
		`"x" <sips:[fd00::1]:5061;transport=tls>`, `<sip:+1;a=b@h?x=y>`, `*`, `<tel:+1>`, `a <sip:b@c>, <sip:d@e>`} {
		f.Add(s, uint8(0))
	}
	tps := []string{transport.UDP, transport.TCP, transport.TLS, transport.WS, transport.WSS}
	f.Fuzz(func(t *testing.T, contact string, tpi uint8) {
		if strings.ContainsAny(contact, "\r\n") {
			return
		}
		req := sip.NewRequest(sip.INVITE, sip.Uri{Scheme: "sip", Host: "example.com"})
		req.AppendHeader(sip.NewHeader("Contact", contact))
		fl := flow(tps[int(tpi)%len(tps)], "203.0.113.7:40001")
		before, berr := sip.ParseNameAddrList(contact)
		if !nat.FixContact(req, fl) {
			return
		}
		got := req.GetHeader("Contact").Value()
		if berr != nil || len(before) == 0 {
			return
		}
		after, err := sip.ParseNameAddrList(got)
		if err != nil {
			t.Fatalf("%q became %q, which does not parse: %v", contact, got, err)
		}
		if len(after) != len(before) {
			t.Fatalf("%q became %q: %d values, was %d", contact, got, len(after), len(before))
		}
		if after[0].URI.Port != 40001 || after[0].URI.Host != "203.0.113.7" {
			t.Fatalf("%q became %q: host %q port %d", contact, got, after[0].URI.Host, after[0].URI.Port)
		}
		if len(after[0].Params) != len(before[0].Params) {
			t.Fatalf("%q became %q: header parameters changed", contact, got)
		}
		for i := range before[0].Params {
			if after[0].Params[i] != before[0].Params[i] {
				t.Fatalf("%q became %q: header parameters changed", contact, got)
			}
		}
	})
}
