package nat

import (
	"net/netip"
	"strings"

	"github.com/siphon-go/siphon/sip"
	"github.com/siphon-go/siphon/transport"
)

// Flags is a set of NAT detection results, Kamailio's nat_uac_test as bits:
// each says one way in which what a message claims about its sender
// differs from where it really came from (the flow's remote address).
type Flags uint16

// The detection tests. The Contact tests look at the host and port of the
// first Contact's URI; the Via tests at the top Via's sent-by, which the
// transport has already annotated with received and rport (RFC 3261
// §18.2.1, RFC 3581 §4).
const (
	// ContactPrivate: the Contact host is a private (RFC 1918, RFC 4193),
	// shared (RFC 6598, carrier-grade NAT), loopback, link-local or
	// unspecified address and not the source address: a UA behind a NAT
	// advertising its LAN address, or 127.0.0.1.
	ContactPrivate Flags = 1 << iota
	// ContactHost: the Contact host is not the source address (another IP
	// address, or a name). Alone, without ContactPrivate, it is what a
	// third-party registration looks like rather than a NAT.
	ContactHost
	// ContactPort: the Contact host is the source address but its port
	// (5060 or 5061 when absent) is not the source port: a NAT that kept the
	// address (a UA that learnt it by STUN) but not the port, or a stream
	// connection from an ephemeral port.
	ContactPort
	// ViaReceived: the top Via's sent-by host is not the source address, so
	// the transport added received (RFC 3261 §18.2.1).
	ViaReceived
	// ViaPrivate: the top Via's sent-by host is a private address other than
	// the source.
	ViaPrivate
	// ViaPort: the source port is not the top Via's sent-by port (5060 or
	// 5061 when absent), which rport records (RFC 3581 §4).
	ViaPort
	// SourcePrivate: the source address itself is private: the NAT is in
	// front of this element (it serves a LAN), not only in front of the UA.
	SourcePrivate
	// WebSocket: the message came over WS or WSS; such a client cannot be
	// reached at its Contact (RFC 7118 §5: it is usually a .invalid host),
	// only on its connection.
	WebSocket
)

// DefaultTests are the tests the Fixer uses when Config.Tests is zero: a
// private Contact, a Contact or Via port that is not the source port, a Via
// host that is not the source, and WebSocket clients (Kamailio's usual
// nat_uac_test("83") with the Contact port test added).
const DefaultTests = ContactPrivate | ContactPort | ViaReceived | ViaPort | WebSocket

// contactTests are the tests that look at a Contact and the source only,
// the ones that apply to a response or a stored binding.
const contactTests = ContactPrivate | ContactHost | ContactPort | SourcePrivate | WebSocket

var flagNames = [...]string{"contact-private", "contact-host", "contact-port", "via-received",
	"via-private", "via-port", "source-private", "websocket"}

// String lists the flags set, comma-separated ("contact-private,via-port"),
// or "none".
func (fl Flags) String() string {
	if fl == 0 {
		return "none"
	}
	var b strings.Builder
	for i, n := range flagNames {
		if fl&(1<<i) != 0 {
			if b.Len() > 0 {
				b.WriteByte(',')
			}
			b.WriteString(n)
		}
	}
	if rest := fl &^ (1<<len(flagNames) - 1); rest != 0 {
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString("unknown")
	}
	return b.String()
}

// rfc6598 is the shared address space of carrier-grade NATs.
var rfc6598 = netip.MustParsePrefix("100.64.0.0/10")

// Private reports whether ip can only be a local address, one a NAT hides:
// RFC 1918 and RFC 4193 private space, RFC 6598 shared space, loopback,
// link-local and the unspecified address. IPv4-mapped IPv6 addresses count
// as their IPv4 address.
func Private(ip netip.Addr) bool {
	ip = ip.Unmap()
	return ip.IsPrivate() || ip.IsLoopback() || ip.IsLinkLocalUnicast() || ip.IsUnspecified() ||
		(ip.Is4() && rfc6598.Contains(ip))
}

// Detect runs every test on req, which arrived on flow f, and returns those
// that fire. The Contact tests need a sip or sips Contact, the Via tests a
// top Via; without f's remote address nothing fires.
func Detect(req *sip.Request, f transport.Flow) Flags {
	if !f.Remote.IsValid() {
		return 0
	}
	fl := sourceFlags(f)
	if via := req.Via(); via != nil {
		fl |= viaFlags(via, f.Remote)
	}
	if i := firstContact(req.Headers()); i >= 0 {
		fl |= contactHeaderFlags(req.Headers()[i], f.Remote)
	}
	return fl
}

// DetectContact runs the tests that need no request: the Contact tests on
// contact (a stored binding's URI, say), with the source and WebSocket
// tests on f. Via tests never fire.
func DetectContact(contact sip.Uri, f transport.Flow) Flags {
	if !f.Remote.IsValid() {
		return 0
	}
	if !strings.EqualFold(contact.Scheme, "sip") && !strings.EqualFold(contact.Scheme, "sips") {
		return sourceFlags(f)
	}
	host := strings.TrimSuffix(strings.TrimPrefix(contact.Host, "["), "]")
	return sourceFlags(f) | contactFlags(host, contact.Port, uriTransport(&contact), f.Remote)
}

func sourceFlags(f transport.Flow) Flags {
	var fl Flags
	if Private(f.Remote.Addr()) {
		fl |= SourcePrivate
	}
	if f.Transport == transport.WS || f.Transport == transport.WSS {
		fl |= WebSocket
	}
	return fl
}

func viaFlags(via *sip.ViaHeader, src netip.AddrPort) Flags {
	var fl Flags
	host := strings.TrimSuffix(strings.TrimPrefix(via.Host, "["), "]")
	ip, err := netip.ParseAddr(host)
	if err != nil || ip.Unmap() != src.Addr() {
		fl |= ViaReceived
		if err == nil && Private(ip) {
			fl |= ViaPrivate
		}
	}
	port := via.Port
	if port == 0 {
		port = int(transport.DefaultPort(transport.Normalize(via.Transport)))
	}
	if port != int(src.Port()) {
		fl |= ViaPort
	}
	return fl
}

func contactHeaderFlags(h sip.Header, src netip.AddrPort) Flags {
	if ch, ok := h.(*sip.ContactHeader); ok {
		u := &ch.Address
		if u.Wildcard || (!strings.EqualFold(u.Scheme, "sip") && !strings.EqualFold(u.Scheme, "sips")) {
			return 0
		}
		host := strings.TrimSuffix(strings.TrimPrefix(u.Host, "["), "]")
		return contactFlags(host, u.Port, uriTransport(u), src)
	}
	raw := h.Value()
	sp, ok := scanContact(raw)
	if !ok {
		return 0
	}
	return spanFlags(raw, &sp, src)
}

func spanFlags(raw string, sp *contactSpan, src netip.AddrPort) Flags {
	return contactFlags(sp.host(raw), sp.port(raw), sp.transport(raw), src)
}

// contactFlags compares a Contact's host and port (0 when absent) with the
// source.
func contactFlags(host string, port int, tp string, src netip.AddrPort) Flags {
	ip, err := netip.ParseAddr(host)
	if err != nil || ip.Unmap() != src.Addr() {
		fl := ContactHost
		if err == nil && Private(ip) {
			fl |= ContactPrivate
		}
		return fl
	}
	if port == 0 {
		port = int(transport.DefaultPort(tp))
	}
	if port != int(src.Port()) {
		return ContactPort
	}
	return 0
}
