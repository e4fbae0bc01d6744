package transport

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"time"

	"github.com/siphon-go/siphon/sip"
)

// Defaults for Config fields left zero.
const (
	DefaultDSCP             = 24 // CS3, signalling (RFC 4594)
	DefaultConnectTimeout   = 5 * time.Second
	DefaultHandshakeTimeout = 10 * time.Second
	DefaultIdleTimeout      = 10 * time.Minute
	DefaultWriteTimeout     = 10 * time.Second
	DefaultWriteQueue       = 512
	DefaultMaxConns         = 10000
	DefaultMaxHeaderSize    = 16 << 10
	DefaultUDPMaxSize       = 1300
	DefaultKeepAliveTimeout = 10 * time.Second
)

// NoDSCP disables DSCP marking when used as Config.DSCP or ListenOptions.DSCP.
const NoDSCP = -1

// Config tunes a Layer. The zero value gives the defaults documented per field.
type Config struct {
	// Logger receives the layer's logs; nil means slog.Default().
	Logger *slog.Logger

	// MaxMessageSize is the largest message accepted, in bytes; default
	// 65535. A larger stream message closes the connection.
	MaxMessageSize int
	// MaxHeaderSize bounds the header section of a stream message, in bytes;
	// default 16 KiB. A peer sending more without an empty line is closed.
	MaxHeaderSize int
	// UDPMaxSize is the size above which a request for UDP goes over TCP
	// instead (RFC 3261 §18.1.1); default 1300 bytes.
	UDPMaxSize int

	// UDPBuffer is the receive and send buffer size asked for on UDP sockets,
	// in bytes; default 4 MiB, so a burst is not dropped by the kernel before
	// the guard and parser see it.
	UDPBuffer int

	// DSCP is the DiffServ code point set on every socket the layer opens;
	// default 24 (CS3). NoDSCP leaves the system default.
	DSCP int

	// ConnectTimeout bounds dialling a connection, TLS handshake included;
	// default 5 s. A refused connection fails at once.
	ConnectTimeout time.Duration
	// HandshakeTimeout bounds an inbound TLS handshake or WebSocket upgrade;
	// default 10 s. It runs off the accept loop, so a slow one delays no one.
	HandshakeTimeout time.Duration
	// IdleTimeout closes a connection that has carried nothing for this long;
	// default 10 min.
	IdleTimeout time.Duration
	// WriteTimeout closes a connection whose peer has not taken a write for
	// this long; default 10 s.
	WriteTimeout time.Duration
	// WriteQueue is the number of messages that may wait for one connection;
	// default 512. A send to a full queue fails at once with ErrQueueFull.
	WriteQueue int
	// MaxConns limits the connections (accepted and dialled); default 10000.
	MaxConns int

	// KeepAliveInterval, when set, makes the layer send a CRLF ping (RFC 5626
	// §4.4.1) on every stream connection that has been quiet for this long and
	// close it if no pong arrives within KeepAliveTimeout. Pings from peers are
	// always answered.
	KeepAliveInterval time.Duration
	// KeepAliveTimeout is how long to wait for a pong; default 10 s.
	KeepAliveTimeout time.Duration

	// AdvertisedHost is the host put into Via and Contact for listeners
	// bound to an unspecified address (0.0.0.0, ::) that have no advertised
	// address of their own.
	AdvertisedHost string

	// ClientTLS is the TLS configuration for dialled TLS and WSS connections;
	// nil means certificates are verified against the system roots. The
	// ServerName is set per target.
	ClientTLS *tls.Config

	// Dialer makes outbound stream connections; nil means a net.Dialer with
	// DSCP marking. siptest's memory network plugs in here.
	Dialer Dialer

	// Guard, when set, is asked about every datagram and connection before
	// anything is parsed.
	Guard Guard
	// Tap, when set, sees every framed message in and out.
	Tap Tap
	// Rewriter, when set, may change every message that crosses the layer:
	// inbound after parsing, outbound before encoding (topology hiding, NAT
	// fixes).
	Rewriter Rewriter
	// DropMalformed drops a request that does not parse. By default one whose
	// Via, From, To, Call-ID and CSeq still parse is answered 400 (or 416) by
	// the layer itself.
	DropMalformed bool
	// ForceRport treats every inbound request as if its top Via carried an
	// empty rport parameter (RFC 3581 §4, Kamailio's force_rport): the layer
	// writes received and rport (the source port) into it, and
	// ResponseTarget then sends the responses to the source address and
	// port, which is the only address a client behind a NAT can be reached
	// at, even when the client did not ask. By default rport is honoured
	// only when the client asked for it, and responses otherwise go to the
	// sent-by port (RFC 3261 §18.2.2).
	ForceRport bool
}

// Dialer makes stream connections. *net.Dialer implements it.
type Dialer interface {
	DialContext(ctx context.Context, network, address string) (net.Conn, error)
}

// Guard decides at accept time and per datagram, before any parsing, whether
// traffic from remote may proceed. It must be fast and safe for concurrent
// use. Dropping never stops a listener.
type Guard interface {
	Allow(transport string, remote netip.AddrPort) bool
}

// Violation is a protocol offence the layer reports to a Guard that also
// implements GuardReporter.
type Violation int

const (
	// ViolationGarbage: non-SIP bytes on a stream (HTTP, TLS on a plain port,
	// binary), an over-long header section or a missing Content-Length.
	ViolationGarbage Violation = iota + 1
	// ViolationHandshake: a failed or timed-out TLS handshake or WebSocket
	// upgrade.
	ViolationHandshake
	// ViolationMalformed: a message that does not parse.
	ViolationMalformed
	// ViolationTooLarge: a message beyond MaxMessageSize.
	ViolationTooLarge
)

// String names the violation.
func (v Violation) String() string {
	switch v {
	case ViolationGarbage:
		return "garbage"
	case ViolationHandshake:
		return "handshake"
	case ViolationMalformed:
		return "malformed"
	case ViolationTooLarge:
		return "too-large"
	}
	return "unknown"
}

// GuardReporter is implemented by Guards that want to hear about protocol
// violations (for example to ban a source after repeated garbage).
type GuardReporter interface {
	Report(transport string, remote netip.AddrPort, v Violation)
}

// Direction tells a Tap whether a message came in or went out.
type Direction int

const (
	// In is a message read from the network.
	In Direction = iota
	// Out is a message written to the network.
	Out
)

// Tap sees every framed message in and out with its flow, for tracing (HEP),
// metrics and logs. data must not be retained or modified after TapMessage
// returns. It is called on the I/O goroutines, so it must be quick.
type Tap interface {
	TapMessage(dir Direction, f Flow, data []byte)
}

// Rewriter changes messages as they cross the transport layer (topology
// hiding, NAT fixes, header policy). Inbound runs after a message is parsed
// (and its Via gets received/rport), before the receiver sees it, and may
// change msg in place. Outbound runs before a message is encoded for t,
// after the layer has filled in the top Via; it returns the message to
// encode: msg itself, or a copy it changed (sip.CopyMessage). It must not
// change msg, which its sender keeps (a transaction's request, from which
// CANCEL and ACK are built). Returning false drops the message. Both are
// called on I/O and sending goroutines and must be safe for concurrent use
// and quick. A retransmission reuses the bytes of the first encoding:
// Outbound sees each message once.
type Rewriter interface {
	Inbound(msg sip.Message, f Flow) bool
	Outbound(msg sip.Message, t Target) (sip.Message, bool)
}

// Passthrough is implemented by a Rewriter whose Outbound may leave alone
// every response that carries no Server or User-Agent field: while
// PassesEncoded reports true, Layer.SendEncodedResponse sends a response its
// handler encoded without Outbound seeing it (there is no message to show
// it). A Rewriter that does not implement it always sees every message.
type Passthrough interface {
	PassesEncoded() bool
}

// ChainRewriters returns a Rewriter running rws in turn: in order inbound,
// in reverse order outbound, so the first is the one nearest the wire on
// both paths. Nil entries are skipped; with a single Rewriter it is returned
// as it is.
func ChainRewriters(rws ...Rewriter) Rewriter {
	var c chain
	for _, rw := range rws {
		if rw != nil {
			c = append(c, rw)
		}
	}
	switch len(c) {
	case 0:
		return nil
	case 1:
		return c[0]
	}
	return c
}

type chain []Rewriter

func (c chain) Inbound(msg sip.Message, f Flow) bool {
	for _, rw := range c {
		if !rw.Inbound(msg, f) {
			return false
		}
	}
	return true
}

// PassesEncoded implements Passthrough: when each of the chain does.
func (c chain) PassesEncoded() bool {
	for _, rw := range c {
		if !passes(rw) {
			return false
		}
	}
	return true
}

func passes(rw Rewriter) bool {
	p, ok := rw.(Passthrough)
	return ok && p.PassesEncoded()
}

func (c chain) Outbound(msg sip.Message, t Target) (sip.Message, bool) {
	for i := len(c) - 1; i >= 0; i-- {
		var ok bool
		if msg, ok = c[i].Outbound(msg, t); !ok {
			return nil, false
		}
	}
	return msg, true
}

// ListenOptions configures one listener.
type ListenOptions struct {
	// Advertise is the "host" or "host:port" written into Via (and offered
	// for Contact and Record-Route) for this listener; default is the bound
	// address, or Config.AdvertisedHost for an unspecified bind. It may be a
	// domain name.
	Advertise string
	// TLS is the server configuration for TLS and WSS listeners.
	TLS *tls.Config
	// RequireClientCert makes a TLS or WSS listener require a client
	// certificate verified against TLS.ClientCAs (mutual TLS). Without
	// ClientCAs, Listen fails with ErrNoClientCA rather than accept
	// unverified clients.
	RequireClientCert bool
	// DSCP overrides Config.DSCP for this listener; 0 keeps the layer's.
	DSCP int
	// WSPath is the HTTP path a WS or WSS listener upgrades on; "" accepts any.
	WSPath string
	// Readers is the number of goroutines reading a UDP listener's socket
	// (default 1, at most 64). With handlers run inline on the reading
	// goroutine (transaction.ServerConfig.Inline) more readers use more
	// cores, as a SIP server's several UDP worker processes do. Datagrams
	// read by different readers may reach the transaction layer in another
	// order than they arrived, which UDP never promised (RFC 3261 §17
	// tolerates it); stream transports are unaffected.
	Readers int
}

// Errors returned by the layer.
var (
	ErrClosed           = errors.New("transport: layer closed")
	ErrQueueFull        = errors.New("transport: connection write queue full")
	ErrFlowGone         = errors.New("transport: connection is gone")
	ErrNoListener       = errors.New("transport: no listener for transport")
	ErrUnknownTransport = errors.New("transport: unknown transport")
	ErrTooManyConns     = errors.New("transport: too many connections")
	ErrConnClosed       = errors.New("transport: connection closed")
	ErrMessageTooLarge  = errors.New("transport: message too large")
	ErrSCTPUnsupported  = errors.New("transport: SCTP is not supported by this kernel")
	ErrNoClientCA       = errors.New("transport: client certificates required but no ClientCAs configured")
	ErrDropped          = errors.New("transport: message dropped by the rewriter")
)

func (c *Config) withDefaults() Config {
	d := *c
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	if d.MaxMessageSize <= 0 {
		d.MaxMessageSize = 65535
	}
	if d.MaxHeaderSize <= 0 {
		d.MaxHeaderSize = DefaultMaxHeaderSize
	}
	if d.UDPMaxSize <= 0 {
		d.UDPMaxSize = DefaultUDPMaxSize
	}
	if d.UDPBuffer <= 0 {
		d.UDPBuffer = 4 << 20
	}
	if d.DSCP == 0 {
		d.DSCP = DefaultDSCP
	}
	if d.ConnectTimeout <= 0 {
		d.ConnectTimeout = DefaultConnectTimeout
	}
	if d.HandshakeTimeout <= 0 {
		d.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if d.IdleTimeout <= 0 {
		d.IdleTimeout = DefaultIdleTimeout
	}
	if d.WriteTimeout <= 0 {
		d.WriteTimeout = DefaultWriteTimeout
	}
	if d.WriteQueue <= 0 {
		d.WriteQueue = DefaultWriteQueue
	}
	if d.MaxConns <= 0 {
		d.MaxConns = DefaultMaxConns
	}
	if d.KeepAliveTimeout <= 0 {
		d.KeepAliveTimeout = DefaultKeepAliveTimeout
	}
	return d
}
