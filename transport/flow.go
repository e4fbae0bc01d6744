package transport

import (
	"context"
	"net/netip"
	"strconv"
	"strings"
)

// Transport names, as they appear in the Via header.
const (
	UDP  = "UDP"
	TCP  = "TCP"
	TLS  = "TLS"
	WS   = "WS"
	WSS  = "WSS"
	SCTP = "SCTP"
)

// IsStream reports whether transport is connection oriented (everything but
// UDP).
func IsStream(transport string) bool { return transport != UDP }

// IsSecure reports whether transport is TLS or WSS.
func IsSecure(transport string) bool { return transport == TLS || transport == WSS }

// DefaultPort returns the port a SIP URI without one implies for transport
// (RFC 3261 §19.1.2, RFC 7118 §5).
func DefaultPort(transport string) uint16 {
	switch transport {
	case TLS, WSS:
		return 5061
	default:
		return 5060
	}
}

// Normalize returns the canonical upper-case name of a transport given in any
// case ("tcp", "Tls"), or "" if it is not one this package knows.
func Normalize(transport string) string {
	switch strings.ToUpper(transport) {
	case UDP:
		return UDP
	case TCP:
		return TCP
	case TLS:
		return TLS
	case WS:
		return WS
	case WSS:
		return WSS
	case SCTP:
		return SCTP
	}
	return ""
}

// Flow identifies the path a message arrived on: its transport, the local and
// remote addresses and, for connection-oriented transports, the connection.
// Sending with a Target made from a Flow reuses that exact connection while it
// is alive (RFC 5626 §5.3, RFC 7118 §5).
type Flow struct {
	Transport string
	Local     netip.AddrPort
	Remote    netip.AddrPort
	// ConnID identifies the connection; 0 for UDP.
	ConnID uint64
}

// String formats the flow as "TCP 192.0.2.1:5060->192.0.2.2:40000#7".
func (f Flow) String() string {
	var b strings.Builder
	b.WriteString(f.Transport)
	b.WriteByte(' ')
	b.WriteString(f.Local.String())
	b.WriteString("->")
	b.WriteString(f.Remote.String())
	if f.ConnID != 0 {
		b.WriteByte('#')
		b.WriteString(strconv.FormatUint(f.ConnID, 10))
	}
	return b.String()
}

// Target returns the Target that sends back along the flow: on the same
// connection for streams, from the same local socket to the same remote
// address for UDP.
func (f Flow) Target() Target {
	return Target{Transport: f.Transport, Addr: f.Remote, ConnID: f.ConnID, Local: f.Local}
}

// Target says where a message goes. Resolution (RFC 3263) happens above this
// layer; a Target names an address.
type Target struct {
	// Transport is one of UDP, TCP, TLS, WS, WSS, SCTP.
	Transport string
	// Addr is the remote address.
	Addr netip.AddrPort
	// ConnID, when not zero, asks for that connection; it is used only when
	// its remote address equals Addr (when Addr is set), since IDs restart
	// with each process. If it has gone, the
	// message goes to Addr by whatever connection exists or can be made, except
	// for WS and WSS, which cannot be dialled back: then the send fails with
	// ErrFlowGone.
	ConnID uint64
	// Local, when valid, picks the listener bound to that address as the
	// source (UDP) and for the Via sent-by.
	Local netip.AddrPort
	// ServerName is the TLS server name to verify when a TLS or WSS connection
	// has to be dialled; empty means Addr's IP.
	ServerName string
	// NoSizeSwitch keeps a large request on UDP. By default a request larger
	// than Config.UDPMaxSize moves to TCP (RFC 3261 §18.1.1); set this when
	// the transport was chosen explicitly (a transport=udp URI parameter).
	NoSizeSwitch bool
}

type flowKey struct{}

// flowCtx carries a flow in one allocation: context.WithValue would box the
// Flow as well, and FlowFromContext would copy it out through an interface.
type flowCtx struct {
	context.Context
	f Flow
}

// Value implements context.Context.
func (c *flowCtx) Value(key any) any {
	if _, ok := key.(flowKey); ok {
		return &c.f
	}
	return c.Context.Value(key)
}

// NewContext returns a context carrying the flow a request arrived on.
func NewContext(ctx context.Context, f Flow) context.Context {
	return &flowCtx{Context: ctx, f: f}
}

// FlowFromContext returns the flow of the request being served, if the
// server put one in ctx.
func FlowFromContext(ctx context.Context) (Flow, bool) {
	if c, ok := ctx.(*flowCtx); ok {
		return c.f, true
	}
	if p, ok := ctx.Value(flowKey{}).(*Flow); ok {
		return *p, true
	}
	return Flow{}, false
}
