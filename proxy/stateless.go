package proxy

import (
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"strconv"
	"strings"

	"github.com/siphon-go/siphon/sip"
	"github.com/siphon-go/siphon/transaction"
	"github.com/siphon-go/siphon/transport"
)

// forwardACK relays the ACK for a 2xx, which has no transaction: by the
// dialog's route set (RFC 3261 §16.4, §16.6), on the peer the dialog was set
// up with. An ACK whose next hop is this proxy is dropped, never looped.
func (p *Proxy) forwardACK(ctx context.Context, req *sip.Request, targets []Target) {
	fwd := sip.CopyRequest(req)
	if err := p.preprocessRoutes(fwd); err != nil {
		return
	}
	var t *Target
	if len(targets) > 0 {
		t = &targets[0]
		if t.URI.Host != "" {
			fwd.Recipient = *t.URI.Clone()
		}
		for i := len(t.Route) - 1; i >= 0; i-- {
			_ = sip.PushNameAddr(fwd, "Route", t.Route[i])
		}
	} else if !hasRoute(fwd) && p.isLocal(&fwd.Recipient) {
		return // for this proxy, or its next hop is this proxy
	}
	if mf := fwd.MaxForwards(); mf != nil {
		if *mf == 0 {
			return
		}
		mf.Dec()
	}
	var target transport.Target
	if t != nil && t.Next.Transport != "" {
		target = t.Next
	} else {
		hop, err := nextHopURI(fwd)
		if err != nil {
			return
		}
		var ok bool
		if target, ok = p.dialogs.get(callID(fwd), &hop); !ok {
			targets, err := p.resolve(ctx, hop)
			if err != nil {
				p.log.Debug("proxy: ACK dropped", "call-id", callID(req), "err", err)
				return
			}
			target = targets[0]
		}
	}
	transaction.PrependVia(fwd, branchPrefix+loopHash(req)+".ack")
	if err := p.l.Send(fwd, target); err != nil {
		p.log.Debug("proxy: ACK not sent", "call-id", callID(req), "err", err)
	}
}

// ServeResponse implements transaction.ResponseHandler: a response that
// matches no client transaction (a 2xx retransmitted after the transaction
// ended) is forwarded statelessly by the Via below this proxy's (RFC 3261
// §16.7, §18.2.2).
func (p *Proxy) ServeResponse(res *sip.Response, f transport.Flow) {
	via := res.Via()
	if via == nil {
		return
	}
	branch, _ := via.Params.Get("branch")
	if !strings.HasPrefix(branch, branchPrefix) || !p.tp.IsOwnAddress(via.Host, via.Port) {
		return
	}
	fwd := res.Clone()
	fwd.RemoveHeader("Via")
	next := fwd.Via()
	if next == nil {
		return
	}
	if t, ok := viaTarget(next); ok {
		_ = p.tp.SendMessage(fwd, t, nil)
	}
}

// viaTarget returns where a response goes by its Via: received and rport
// when present (RFC 3581), else sent-by.
func viaTarget(v *sip.ViaHeader) (transport.Target, bool) {
	host := v.Host
	if r, ok := v.Params.Get("received"); ok && r != "" {
		host = r
	}
	tp := transport.Normalize(v.Transport)
	if tp == "" {
		return transport.Target{}, false
	}
	port := v.Port
	if rp, ok := v.Params.Get("rport"); ok && rp != "" {
		if n, err := strconv.Atoi(rp); err == nil {
			port = n
		}
	}
	if port == 0 {
		port = int(transport.DefaultPort(tp))
	}
	ip, err := netip.ParseAddr(strings.Trim(host, "[]"))
	if err != nil {
		return transport.Target{}, false
	}
	return transport.Target{Transport: tp, Addr: netip.AddrPortFrom(ip.Unmap(), uint16(port))}, true
}

// endOrphan ends the dialog of a 2xx that arrived after the call was failed
// upstream (a reply-time reject): a proxy cannot retract it, so it ACKs and
// BYEs the callee (RFC 3261 §13.2.2.4, §15), on the branch's next hop.
func (p *Proxy) endOrphan(b *Branch, res *sip.Response) {
	contacts, err := sip.Contacts(res)
	if err != nil || len(contacts) == 0 || b.tx == nil {
		return
	}
	base := b.base
	target := b.tx.Target()
	// The callee side of the route set: the Record-Route entries above this
	// proxy's own, nearest first (RFC 3261 §12.1.2).
	rr, _ := sip.RecordRoutes(res)
	var route []sip.NameAddr
	for _, r := range rr {
		if p.isOwn(&r.URI) {
			break
		}
		route = append([]sip.NameAddr{r}, route...)
	}
	build := func(m sip.RequestMethod, seq uint32) *sip.Request {
		r := sip.NewRequest(m, contacts[0].URI)
		if f := base.From(); f != nil {
			r.AppendHeader(f)
		}
		if t := res.To(); t != nil {
			r.AppendHeader(t)
		}
		if cid := base.CallID(); cid != nil {
			r.AppendHeader(cid)
		}
		r.AppendHeader(&sip.CSeqHeader{SeqNo: seq, MethodName: m})
		mf := sip.MaxForwardsHeader(70)
		r.AppendHeader(&mf)
		_ = sip.SetNameAddrs(r, "Route", route)
		r.SetBody(nil)
		return r
	}
	seq := uint32(1)
	if cs := base.CSeq(); cs != nil {
		seq = cs.SeqNo
	}
	ack := build(sip.ACK, seq)
	transaction.PrependVia(ack, "")
	_ = p.l.Send(ack, target)
	bye := build(sip.BYE, seq+1)
	if _, err := p.l.Request(context.Background(), bye, target, transaction.ClientOptions{}); err != nil {
		p.log.Debug("proxy: BYE for an orphan 2xx not sent", "call-id", callID(base), "err", err)
	}
}

// StatelessConfig configures a Stateless forwarder.
type StatelessConfig struct {
	// Logger receives the forwarder's logs; nil means slog.Default().
	Logger *slog.Logger
	// Route chooses where a request that has no Route goes: a target URI
	// (its host, port and transport are resolved). Nil forwards to the
	// Request-URI.
	Route func(req *sip.Request) (sip.Uri, error)
	// Resolver resolves next hops; nil uses IP literals and A/AAAA.
	Resolver Resolver
}

// Stateless is a stateless proxy (RFC 3261 §16.11): it keeps no transaction,
// so it is used as the transport.Receiver of a transport.Layer directly,
// without a transaction layer. Requests are forwarded by their Route or
// Request-URI (or StatelessConfig.Route) with a Via whose branch is derived
// from the received one, so that a retransmission, its CANCEL and its non-2xx
// ACK reach the same downstream transaction; responses go back by their
// Via.
type Stateless struct {
	p     *Proxy
	route func(req *sip.Request) (sip.Uri, error)
}

// NewStateless returns a stateless forwarder on tp. Start tp with it:
// tp.Start(s).
func NewStateless(tp *transport.Layer, cfg StatelessConfig) *Stateless {
	c := (&Config{Logger: cfg.Logger, Resolver: cfg.Resolver}).withDefaults()
	return &Stateless{p: &Proxy{cfg: c, log: c.Logger, tp: tp}, route: cfg.Route}
}

// ReceiveMessage implements transport.Receiver.
func (s *Stateless) ReceiveMessage(msg sip.Message, f transport.Flow) {
	switch m := msg.(type) {
	case *sip.Response:
		s.p.ServeResponse(m, f)
	case *sip.Request:
		s.forward(m, f)
	}
}

func (s *Stateless) forward(req *sip.Request, f transport.Flow) {
	p := s.p
	reply := func(code int) {
		if req.Method != sip.ACK {
			_ = p.tp.SendMessage(sip.NewResponse(req, code, ""), transport.ResponseTarget(req, f), nil)
		}
	}
	if mf := req.MaxForwards(); mf != nil && *mf == 0 {
		reply(sip.StatusTooManyHops)
		return
	}
	fwd := sip.CopyRequest(req)
	if err := p.preprocessRoutes(fwd); err != nil {
		reply(sip.StatusBadRequest)
		return
	}
	if mf := fwd.MaxForwards(); mf != nil {
		mf.Dec()
	} else {
		v := sip.MaxForwardsHeader(70)
		fwd.AppendHeader(&v)
	}
	var hop sip.Uri
	var err error
	if !hasRoute(fwd) && s.route != nil {
		hop, err = s.route(fwd)
	} else {
		hop, err = nextHopURI(fwd)
	}
	if err != nil {
		reply(sip.StatusNotFound)
		return
	}
	targets, err := p.resolve(context.Background(), hop)
	if err != nil {
		if errors.Is(err, ErrLoop) {
			reply(sip.StatusLoopDetected)
		} else {
			reply(sip.StatusServiceUnavailable)
		}
		return
	}
	transaction.PrependVia(fwd, statelessBranch(req))
	if err := p.tp.SendMessage(fwd, targets[0], nil); err != nil {
		p.log.Debug("proxy: stateless forward", "call-id", callID(req), "err", err)
	}
}

// statelessBranch derives the forwarded branch from the received top Via
// (RFC 3261 §16.11): the same for a request's retransmissions, its CANCEL
// and the ACK to its non-2xx final.
func statelessBranch(req *sip.Request) string {
	const offset, prime = 14695981039346656037, 1099511628211
	h := uint64(offset)
	if v := req.Via(); v != nil {
		b, _ := v.Params.Get("branch")
		for _, s := range []string{b, v.Host, strconv.Itoa(v.Port)} {
			for i := 0; i < len(s); i++ {
				h ^= uint64(s[i])
				h *= prime
			}
			h ^= 0xff
			h *= prime
		}
	}
	return branchPrefix + "sl" + strconv.FormatUint(h, 16)
}
