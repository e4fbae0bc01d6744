package diameter

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/fiorix/go-diameter/v4/diam/dict"
)

// App is one application a node advertises in its CER or CEA (RFC 6733
// §5.3): advertise only what the node really serves or uses.
type App struct {
	ID     uint32 // Application-Id, e.g. AppCx
	Vendor uint32 // non-zero: advertised inside Vendor-Specific-Application-Id (3GPP: Vendor3GPP)
	Acct   bool   // an accounting application (Acct-Application-Id), e.g. Rf
}

// Config is the identity, limits and timers of a Diameter node, shared by
// Server and Peer. The zero value of every optional field means the default
// given in its comment.
type Config struct {
	// OriginHost is this node's DiameterIdentity (RFC 6733 §6.3). Required.
	OriginHost string
	// OriginRealm is this node's realm (RFC 6733 §6.4). Required.
	OriginRealm string
	// Apps are the applications advertised in CER/CEA. Required. A node
	// that only relays advertises App{ID: AppRelay}.
	Apps []App

	// Handler serves the requests the peer sends on this node's
	// connections, whichever side dialled (RFC 6733 §2.1: the transport
	// direction is independent of the request direction). nil answers
	// every request except the base protocol's with 3001.
	Handler Handler
	// Dictionary decodes received messages. nil means Dictionary().
	Dictionary *dict.Parser
	// TLS, when set, runs TLS from the start of every connection (RFC 6733
	// §2.1, "TLS/TCP"). The certificate of the other side is verified as
	// crypto/tls does; this package never sets InsecureSkipVerify.
	TLS *tls.Config

	// HostIPAddresses are sent as Host-IP-Address in CER/CEA. Default: the
	// local IP of the connection.
	HostIPAddresses []net.IP
	// VendorID is the Vendor-Id of CER/CEA. Default 0.
	VendorID uint32
	// ProductName is the Product-Name of CER/CEA. Default "siphon".
	ProductName string
	// OriginStateID is sent in CER/CEA (RFC 6733 §8.16). Default: the time
	// the Server or Peer was created, in seconds.
	OriginStateID uint32

	// WatchdogInterval is Tw, the RFC 3539 §3.4.1 watchdog timer: a DWR
	// goes out after Tw of silence and a peer silent for another Tw is
	// suspect. A jitter of up to ±2 s (±Tw/8 for short Tw) is added.
	// Default 30 s. RFC 3539 asks for at least 6 s in production.
	WatchdogInterval time.Duration
	// ReopenDWAs is how many DWAs a re-established connection must answer
	// before it carries traffic again (RFC 3539 §3.4.1 REOPEN). Default 3.
	ReopenDWAs int
	// HandshakeTimeout bounds the TLS handshake plus the CER/CEA exchange.
	// Default 10 s.
	HandshakeTimeout time.Duration
	// RequestTimeout bounds a request sent with a context that has no
	// deadline, and each call of Handler. Default 10 s.
	RequestTimeout time.Duration
	// WriteTimeout bounds each write to a connection; a peer that stops
	// reading is disconnected instead of blocking senders. Default 10 s.
	WriteTimeout time.Duration
	// MaxPending bounds the requests awaiting an answer on one connection.
	// Default 4096.
	MaxPending int
	// MaxConcurrent bounds the inbound requests served at once on one
	// connection; beyond it requests are answered 3004 (TOO_BUSY).
	// Default 256.
	MaxConcurrent int
	// MaxMessageSize bounds one received message. Default
	// DefaultMaxMessageSize (1 MiB).
	MaxMessageSize int
	// Logger receives connection events. nil discards them.
	Logger *slog.Logger
}

// ErrConfig is wrapped by the errors New* functions return for an invalid
// Config.
var ErrConfig = errors.New("diameter: invalid config")

// normalize validates c and returns a copy with the defaults filled in.
func (c Config) normalize() (Config, error) {
	if c.OriginHost == "" || c.OriginRealm == "" {
		return c, fmt.Errorf("%w: OriginHost and OriginRealm are required", ErrConfig)
	}
	if len(c.Apps) == 0 {
		return c, fmt.Errorf("%w: at least one App is required", ErrConfig)
	}
	if c.Dictionary == nil {
		d, err := defaultDictionary()
		if err != nil {
			return c, err
		}
		c.Dictionary = d
	}
	if c.ProductName == "" {
		c.ProductName = "siphon"
	}
	if c.OriginStateID == 0 {
		c.OriginStateID = uint32(time.Now().Unix())
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.WatchdogInterval, 30*time.Second)
	def(&c.HandshakeTimeout, 10*time.Second)
	def(&c.RequestTimeout, 10*time.Second)
	def(&c.WriteTimeout, 10*time.Second)
	if c.ReopenDWAs <= 0 {
		c.ReopenDWAs = 3
	}
	if c.MaxPending <= 0 {
		c.MaxPending = 4096
	}
	if c.MaxConcurrent <= 0 {
		c.MaxConcurrent = 256
	}
	if c.MaxMessageSize <= 0 {
		c.MaxMessageSize = DefaultMaxMessageSize
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c, nil
}
