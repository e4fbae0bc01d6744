package guard

import (
	"context"
	"net/netip"
	"strings"
	"sync/atomic"

	"github.com/siphon-go/siphon/sip"
	"github.com/siphon-go/siphon/transport"
)

// RequestConfig selects the request guards of Guard.Middleware.
type RequestConfig struct {
	// Sanity checks requests with sip.Sanity (nil means skip).
	Sanity *sip.Sanity
	// MaxForwards answers 483 Too Many Hops to a request whose Max-Forwards
	// is 0 and that is not an OPTIONS for this server (RFC 3261 §16.3).
	MaxForwards bool
	// Keepalive answers an OPTIONS whose Request-URI has no user part 200
	// OK locally, without calling the next handler.
	Keepalive bool
	// KeepaliveAllow, when not empty, is the Allow header of that 200.
	KeepaliveAllow string
	// RejectRoute answers 403 to an initial request (no To tag) from an
	// untrusted source that carries a Route header whose first entry is not
	// one of Local: a pre-loaded route set tries to use this server as a
	// relay to somewhere else.
	RejectRoute bool
	// Local are the host[:port] values of this server as they appear in a
	// Route URI, for RejectRoute.
	Local []string
	// TrackChallenges watches the responses of the next handler: a 401 or
	// 407 to a request without credentials counts toward
	// SignalChallengeUnanswered (Challenged), and a request with
	// credentials resets that count (Answered).
	TrackChallenges bool
}

// challengeWriter notes a 401/407 sent to a request without credentials.
type challengeWriter struct {
	sip.ResponseWriter
	g *Guard
	f transport.Flow
}

func (w challengeWriter) WriteResponse(res *sip.Response) error {
	if res.StatusCode == sip.StatusUnauthorized || res.StatusCode == sip.StatusProxyAuthRequired {
		w.g.Challenged(w.f.Transport, w.f.Remote)
	}
	return w.ResponseWriter.WriteResponse(res)
}

// Middleware returns request guards as sip.Middleware: a scanner User-Agent
// that got this far (the Guard is not the transport's Rewriter) is answered
// 403 and scored, then sanity, Max-Forwards, keepalive and Route checks
// follow as cfg asks. Requests from trusted sources skip the
// scanner and Route checks.
func (g *Guard) Middleware(cfg RequestConfig) sip.Middleware {
	return func(next sip.Handler) sip.Handler {
		return sip.HandlerFunc(func(ctx context.Context, w sip.ResponseWriter, req *sip.Request) {
			f, _ := transport.FlowFromContext(ctx)
			trusted := f.Remote.IsValid() && g.Trusted(f.Remote.Addr())
			if !trusted {
				if h := sip.Field(req, "User-Agent"); h != nil && g.Scanner(h.Value()) {
					g.dropScanner.Add(1)
					g.Signal(f.Transport, f.Remote, SignalScannerUA)
					if req.Method != sip.ACK {
						_ = sip.Respond(w, req, sip.StatusForbidden, "")
					}
					return
				}
			}
			if cfg.Sanity != nil {
				if err := cfg.Sanity.Check(req); err != nil {
					if req.Method != sip.ACK {
						_ = sip.RespondError(w, req, err)
					}
					return
				}
			}
			local := req.Method == sip.OPTIONS && req.Recipient.User == "" && sip.Field(req, "Route") == nil
			if cfg.Keepalive && local {
				if cfg.KeepaliveAllow != "" {
					_ = sip.Respond(w, req, sip.StatusOK, "", sip.NewHeader("Allow", cfg.KeepaliveAllow))
				} else {
					_ = sip.Respond(w, req, sip.StatusOK, "")
				}
				return
			}
			if cfg.MaxForwards && req.Method != sip.ACK {
				if mf := req.MaxForwards(); mf != nil && *mf == 0 {
					_ = sip.Respond(w, req, sip.StatusTooManyHops, "")
					return
				}
			}
			if cfg.RejectRoute && !trusted && req.Method != sip.ACK && req.Method != sip.CANCEL && !hasToTag(req) {
				if rt := sip.Field(req, "Route"); rt != nil && !routesToUs(rt.Value(), cfg.Local) {
					_ = sip.Respond(w, req, sip.StatusForbidden, "")
					return
				}
			}
			if cfg.TrackChallenges && !trusted && f.Remote.IsValid() {
				if sip.Field(req, "Authorization") != nil || sip.Field(req, "Proxy-Authorization") != nil {
					g.Answered(f.Remote)
				} else {
					w = challengeWriter{ResponseWriter: w, g: g, f: f}
				}
			}
			next.ServeSIP(ctx, w, req)
		})
	}
}

func hasToTag(req *sip.Request) bool {
	to := req.To()
	if to == nil {
		return false
	}
	_, ok := to.Params.Get("tag")
	return ok
}

// routesToUs reports whether the first URI of a Route value names one of
// local (host or host:port, compared case-insensitively).
func routesToUs(route string, local []string) bool {
	v := route
	if i := strings.IndexByte(v, ','); i >= 0 {
		v = v[:i]
	}
	if i := strings.IndexByte(v, '<'); i >= 0 {
		v = v[i+1:]
		if j := strings.IndexByte(v, '>'); j >= 0 {
			v = v[:j]
		}
	}
	v = strings.TrimSpace(v)
	if i := strings.IndexByte(v, ':'); i >= 0 && strings.HasPrefix(strings.ToLower(v), "sip") {
		v = v[i+1:]
	}
	if i := strings.IndexByte(v, '@'); i >= 0 {
		v = v[i+1:]
	}
	if i := strings.IndexByte(v, ';'); i >= 0 {
		v = v[:i]
	}
	host := v
	if ap, err := netip.ParseAddrPort(v); err == nil {
		host = ap.Addr().String()
	} else if i := strings.LastIndexByte(v, ':'); i >= 0 && !strings.Contains(v[:i], ":") {
		host = v[:i]
	}
	for _, l := range local {
		if strings.EqualFold(l, v) || strings.EqualFold(l, host) {
			return true
		}
	}
	return false
}

// HeaderPolicy says what to do with the Server and User-Agent headers of
// outgoing messages.
type HeaderPolicy struct {
	// Strip removes Server and User-Agent from every outgoing message.
	Strip bool
	// Value, when Strip is false and Value is not empty, replaces them
	// (responses get Server, requests User-Agent).
	Value string
}

type headerControl struct {
	p atomic.Pointer[HeaderPolicy]
}

// SetHeaders sets the Server/User-Agent policy applied by Outbound; the zero
// HeaderPolicy leaves messages alone. It may be called at any time.
func (g *Guard) SetHeaders(p HeaderPolicy) { g.header.p.Store(&p) }

func (h *headerControl) apply(msg sip.Message) sip.Message {
	p := h.p.Load()
	if p == nil || (!p.Strip && p.Value == "") {
		return msg
	}
	name := "User-Agent"
	if _, ok := msg.(*sip.Response); ok {
		name = "Server"
	}
	ua, srv := sip.Field(msg, "User-Agent"), sip.Field(msg, "Server")
	if p.Strip && ua == nil && srv == nil {
		return msg
	}
	if other := sip.Field(msg, name); !p.Strip && other != nil && other.Value() == p.Value &&
		(name == "Server" && ua == nil || name == "User-Agent" && srv == nil) {
		return msg
	}
	c := sip.CopyMessage(msg)
	if c == nil {
		return msg
	}
	sip.RemoveHeaders(c, "Server")
	sip.RemoveHeaders(c, "User-Agent")
	if !p.Strip {
		c.AppendHeader(sip.NewHeader(name, p.Value))
	}
	return c
}
