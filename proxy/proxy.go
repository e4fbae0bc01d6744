package proxy

import (
	"context"
	"log/slog"
	"strings"

	"github.com/siphon-go/siphon/sip"
	"github.com/siphon-go/siphon/transaction"
	"github.com/siphon-go/siphon/transport"
)

// Proxy is an RFC 3261 §16 stateful proxy. It is a sip.Handler: run it with
// transaction.Server over the same transaction.Layer it was made with. A
// request gets validated (§16.3), its route information preprocessed
// (§16.4), its targets determined (§16.5: Locate for requests to this proxy's
// domains, the Request-URI otherwise) and forwarded (§16.6); responses are
// collected and the best one relayed (§16.7). Handlers that choose targets
// themselves call Relay.
//
// A Proxy is safe for concurrent use.
type Proxy struct {
	cfg     Config
	log     *slog.Logger
	l       *transaction.Layer
	tp      *transport.Layer
	sanity  *sip.Sanity
	dialogs *dialogs
}

// New returns a proxy sending through l.
func New(l *transaction.Layer, cfg Config) *Proxy {
	c := cfg.withDefaults()
	return &Proxy{
		cfg: c,
		log: c.Logger,
		l:   l,
		tp:  l.Transport(),
		sanity: sip.NewSanity(sip.SanityConfig{
			Checks:    sip.CheckProxyRequire,
			Supported: c.Supported,
		}),
		dialogs: newDialogs(c.MaxDialogs, c.DialogTTL, l.Config().Clock),
	}
}

// Dialogs returns the number of established dialogs (Call-IDs) whose next
// hops the proxy remembers, for metrics: it grows with answered calls and
// shrinks as their BYEs are answered or DialogTTL passes.
func (p *Proxy) Dialogs() int { return p.dialogs.len() }

// ServeSIP implements sip.Handler.
func (p *Proxy) ServeSIP(ctx context.Context, w sip.ResponseWriter, req *sip.Request) {
	if req.Method == sip.ACK {
		p.forwardACK(ctx, req, nil)
		return
	}
	if err := p.validate(req); err != nil {
		_ = sip.RespondError(w, req, err)
		return
	}
	fwd := sip.CopyRequest(req)
	if err := p.preprocessRoutes(fwd); err != nil {
		_ = sip.Respond(w, req, sip.StatusBadRequest, "Bad Request - Malformed Route")
		return
	}
	if hasRoute(fwd) || !p.isLocal(&fwd.Recipient) {
		_ = p.relay(ctx, w, req, fwd, nil, []Target{{}})
		return
	}
	// Addressed to this proxy's domain (§16.5).
	if toTag(req) != "" {
		// An in-dialog request that has run out of route: no dialog here.
		_ = sip.Respond(w, req, sip.StatusCallDoesNotExist, "")
		return
	}
	if req.Method == sip.OPTIONS && (req.Recipient.User == "" || p.cfg.Locate == nil) {
		p.answerOptions(ctx, w, req)
		return
	}
	if p.cfg.Locate == nil {
		_ = sip.Respond(w, req, sip.StatusNotFound, "")
		return
	}
	targets, err := p.cfg.Locate(ctx, req)
	if err != nil {
		_ = sip.RespondError(w, req, err)
		return
	}
	if len(targets) == 0 {
		_ = sip.Respond(w, req, sip.StatusTemporarilyUnavailable, "")
		return
	}
	_ = p.relay(ctx, w, req, fwd, nil, targets)
}

// validate applies RFC 3261 §16.3: Max-Forwards (483), loops (482),
// Proxy-Require (420) and a scheme the proxy can route (416).
func (p *Proxy) validate(req *sip.Request) error {
	switch req.Recipient.Scheme {
	case "sip", "sips", "tel", "":
	default:
		return sip.NewStatusError(sip.StatusUnsupportedURIScheme, "")
	}
	if mf := req.MaxForwards(); mf != nil && *mf == 0 {
		if req.Method == sip.OPTIONS && p.isLocal(&req.Recipient) {
			return nil // §16.3 item 3: may answer it as its final recipient
		}
		return sip.NewStatusError(sip.StatusTooManyHops, "")
	}
	if p.looped(req) {
		return sip.NewStatusError(sip.StatusLoopDetected, "")
	}
	return p.sanity.Check(req)
}

// answerOptions answers an OPTIONS addressed to the proxy itself.
func (p *Proxy) answerOptions(ctx context.Context, w sip.ResponseWriter, req *sip.Request) {
	res := sip.NewResponse(req, sip.StatusOK, "")
	res.AppendHeader(sip.NewHeader("Allow", "INVITE, ACK, CANCEL, BYE, OPTIONS, REGISTER, SUBSCRIBE, NOTIFY, REFER, INFO, MESSAGE, PRACK, UPDATE, PUBLISH"))
	res.AppendHeader(sip.NewHeader("Accept", "application/sdp"))
	if len(p.cfg.Supported) > 0 {
		res.AppendHeader(sip.NewHeader("Supported", strings.Join(p.cfg.Supported, ", ")))
	}
	contact := p.cfg.Contact
	if contact == "" {
		if ln := p.listenerOf(ctx); ln != nil {
			host, port := ln.Advertised()
			u := sip.Uri{Scheme: "sip", Host: host, Port: port}
			contact = (&sip.NameAddr{URI: u}).String()
		}
	}
	if contact != "" {
		res.AppendHeader(sip.NewHeader("Contact", contact))
	}
	_ = w.WriteResponse(res)
}

// Relay forwards req to targets (one branch each; none means the
// Request-URI after loose routing) and returns once a final response has
// been sent upstream or the request has been cancelled. It is for handlers
// that pick targets themselves, such as a registrar looking up contacts.
// req is not modified.
//
// An ACK (for a 2xx; the ACK for a non-2xx never leaves its transaction) is
// forwarded statelessly to the first target.
func (p *Proxy) Relay(ctx context.Context, w sip.ResponseWriter, req *sip.Request, opts *Options, targets ...Target) error {
	if req.Method == sip.ACK {
		p.forwardACK(ctx, req, targets)
		return nil
	}
	if err := p.validate(req); err != nil {
		return sip.RespondError(w, req, err)
	}
	fwd := sip.CopyRequest(req)
	if err := p.preprocessRoutes(fwd); err != nil {
		return sip.Respond(w, req, sip.StatusBadRequest, "Bad Request - Malformed Route")
	}
	if len(targets) == 0 {
		targets = []Target{{}}
	}
	return p.relay(ctx, w, req, fwd, opts, targets)
}

// listenerOf returns the listener the request being served arrived on.
func (p *Proxy) listenerOf(ctx context.Context) *transport.Listener {
	f, ok := transport.FlowFromContext(ctx)
	if !ok {
		return nil
	}
	return p.tp.ListenerAt(f.Transport, f.Local)
}

func hasRoute(req *sip.Request) bool { return sip.HasField(req, "Route") }

func toTag(m sip.Message) string {
	if t := m.To(); t != nil {
		tag, _ := t.Params.Get("tag")
		return tag
	}
	return ""
}
