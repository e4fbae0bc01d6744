package proxy

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/siphon-go/siphon/sip"
	"github.com/siphon-go/siphon/transport"
)

// Resolver finds the transport targets for a URI, in the order to try them
// (RFC 3263 §4): a branch moves on to the next target on a transport error,
// a timeout (Timer B/F or Options.ReplyTimeout) or a 503 (§4.3).
// *resolve.Resolver from package transport/resolve implements it with
// NAPTR, SRV and A/AAAA lookups and a cache.
type Resolver interface {
	Resolve(ctx context.Context, uri sip.Uri) ([]transport.Target, error)
}

// Target is one destination of a forwarded request: a branch.
type Target struct {
	// URI is the Request-URI of the branch (RFC 3261 §16.6 step 2); zero
	// keeps the request's.
	URI sip.Uri
	// Q is the branch's q-value (RFC 3261 §16.6): higher goes first.
	Q float64
	// Route is a pre-loaded route set for this branch, pushed on top of the
	// request's Route header (a registrar's Path, a Service-Route).
	Route []sip.NameAddr
	// Next, when its Transport is set, is the explicit next hop: an address
	// or a flow (Next.ConnID), as the registrar returns for an RFC 5626
	// binding. It takes precedence over Route and the Request-URI.
	Next transport.Target
}

// Config configures a Proxy. The zero value is a record-routing-off proxy
// with RFC 3261 timers.
type Config struct {
	// Logger receives the proxy's logs; nil means slog.Default().
	Logger *slog.Logger
	// RecordRoute inserts Record-Route into dialog-creating requests, so
	// that in-dialog requests (ACK, BYE) come through this proxy. Two are
	// inserted when the request leaves on another transport or listener
	// than it came on.
	RecordRoute bool
	// Domains are the domains this proxy is responsible for (RFC 3261
	// §16.5). A request for one of them, or for one of the proxy's own
	// addresses, with no Route goes to Locate; any other is forwarded to its
	// Request-URI.
	Domains []string
	// Locate returns the targets for a request addressed to this proxy's
	// domains (a location service lookup). Nil answers such requests 404;
	// OPTIONS to the proxy itself is answered 200 in any case.
	Locate func(ctx context.Context, req *sip.Request) ([]Target, error)
	// Resolver turns next-hop URIs into transport targets; nil resolves IP
	// literals and A/AAAA records with the system resolver (no NAPTR or
	// SRV).
	Resolver Resolver
	// Supported lists the option tags this proxy supports: a request whose
	// Proxy-Require names another is answered 420 (RFC 3261 §16.3).
	Supported []string
	// TimerC is proxy Timer C for INVITE branches (RFC 3261 §16.6 step 11);
	// default 3 min 10 s.
	TimerC time.Duration
	// DialogTTL is how long the next hops of a dialog are remembered, so that
	// in-dialog requests stay on the peer and connection the dialog was
	// established with (RFC 5923) instead of being resolved again; default
	// 12 h. MaxDialogs bounds the memory; default 100000.
	DialogTTL  time.Duration
	MaxDialogs int
	// Contact is the Contact the proxy puts in its own answers to OPTIONS;
	// empty means its advertised address.
	Contact string
	// Detach makes ServeSIP and Relay return as soon as a request is
	// forwarded when the ResponseWriter is a transaction.Detacher (a
	// transaction.Server's is): the call goes on without a goroutine
	// waiting for it, and the server transaction is released when the final
	// response has gone upstream. With transaction.ServerConfig.Inline this
	// makes the proxy event-driven, with no goroutine per request, provided
	// nothing on the way blocks: next hops that are IP literals or flows
	// (resolving a name waits for DNS on the reading goroutine), and hooks
	// that return at once. Relay then returns nil once the branches are
	// started; a Relay whose ResponseWriter is not a Detacher still waits.
	Detach bool
}

// Options adjust one Relay.
type Options struct {
	// Sequential forks one q-value group at a time, moving on when a group
	// fails with 408, 5xx or a transport error; the default forks every
	// target at once.
	Sequential bool
	// OnReply sees every response from a branch before it is relayed.
	// Returning nil relays it; ErrDrop drops it; a *sip.StatusError rejects
	// the call with that status (RFC 3261 §16.7, "reply-time reject"): on a
	// provisional, the status goes upstream as the final response and every
	// pending branch is cancelled (their 487s are absorbed); on a non-2xx
	// final it replaces the branch's response; a 2xx cannot be retracted and
	// is relayed. Calls for one request are serialised.
	OnReply func(b *Branch, res *sip.Response) error
	// OnFailure is called when every branch has failed, with the best
	// response so far; the targets it returns are tried next (failover). It
	// may be called more than once.
	OnFailure func(best *sip.Response) []Target
	// OnCancel is called once when the request is cancelled before a final
	// response (RFC 3261 §9), the one signal for releasing what no BYE will.
	OnCancel func(req *sip.Request)
	// TimerC overrides Config.TimerC for this request.
	TimerC time.Duration
	// ReplyTimeout, when positive, is how long a branch waits for its first
	// response (INVITE) or its final one (other requests) before it counts
	// as a 408 and, with Sequential, the next target is tried: a dead next
	// hop over UDP costs seconds instead of Timer B's 32. Default 64*T1.
	ReplyTimeout time.Duration
}

// Errors.
var (
	// ErrDrop, returned by Options.OnReply, drops the response.
	ErrDrop = errors.New("proxy: drop response")
	// ErrNoTarget: nothing to forward to.
	ErrNoTarget = errors.New("proxy: no target")
	// ErrLoop: the next hop is this proxy.
	ErrLoop = errors.New("proxy: next hop is this proxy")
)

func (c *Config) withDefaults() Config {
	d := *c
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	if d.TimerC <= 0 {
		d.TimerC = 3*time.Minute + 10*time.Second
	}
	if d.DialogTTL <= 0 {
		d.DialogTTL = 12 * time.Hour
	}
	if d.MaxDialogs <= 0 {
		d.MaxDialogs = 100000
	}
	return d
}
