package main

import (
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/siphon-go/siphon/proxy"
	"github.com/siphon-go/siphon/proxy/dispatcher"
	"github.com/siphon-go/siphon/sip"
	"github.com/siphon-go/siphon/transaction"
	"github.com/siphon-go/siphon/transport"
)

// group is the one destination group the load balancer serves.
const group = "servers"

type options struct {
	Addr      string // host:port for UDP and TCP
	Advertise string // host[:port] for Record-Route and Via; empty = Addr
	Dsts      []dispatcher.Destination
	Algo      dispatcher.Algorithm
	// Probe is the OPTIONS interval; 0 turns health probing off.
	Probe time.Duration
	// ReplyTimeout moves a request to the next server when the current one
	// has not answered at all in time (for INVITE, not even 100 Trying): a
	// dead server over UDP costs seconds, not Timer B's 32. 0 = 64*T1.
	ReplyTimeout time.Duration
	// Spread gives each new INVITE a goroutine of its own instead of
	// handling it on the goroutine that read it: more CPU per call, but
	// forwarding spreads over the cores past what one reader can do.
	Spread bool
	Logger *slog.Logger
}

// server is a SIP load balancer: a record-routing stateful proxy that sends
// each new call to one server of a group, fails over to the next on 408,
// 5xx or a transport error, and keeps every in-dialog request on the route
// the dialog was set up with.
type server struct {
	log   *slog.Logger
	tp    *transport.Layer
	layer *transaction.Layer
	srv   *transaction.Server
	proxy *proxy.Proxy
	disp  *dispatcher.Dispatcher
	opts  proxy.Options
	aff   *affinity
	lns   []*transport.Listener
	stop  context.CancelFunc
	done  chan struct{}
}

func newServer(ctx context.Context, o options) (*server, error) {
	log := o.Logger
	if log == nil {
		log = slog.Default()
	}
	if len(o.Dsts) == 0 {
		return nil, errors.New("no destinations")
	}
	tp, err := transport.New(transport.Config{Logger: log})
	if err != nil {
		return nil, err
	}
	lns, err := tp.ListenEach(ctx, []string{transport.UDP, transport.TCP}, o.Addr, transport.ListenOptions{Advertise: o.Advertise})
	if err != nil {
		_ = tp.Close()
		return nil, err
	}
	s := &server{log: log, tp: tp, lns: lns, done: make(chan struct{})}
	s.layer = transaction.New(tp, transaction.Config{Logger: log})
	// Event-driven when no next hop needs DNS: requests are handled on the
	// goroutine that read them and the proxy returns once it has
	// forwarded, so no goroutine is started or parked per call. With
	// Spread, new INVITEs get a short-lived goroutine each; in-dialog
	// requests stay on the reader, in order (a BYE right behind its ACK
	// stays behind it).
	inline := literalDsts(o.Dsts)
	s.proxy = proxy.New(s.layer, proxy.Config{Logger: log, RecordRoute: true, Detach: true})
	s.aff = newAffinity(100000, 12*time.Hour)
	s.opts = proxy.Options{Sequential: true, ReplyTimeout: o.ReplyTimeout}
	s.disp = dispatcher.New(dispatcher.Config{
		Interval: o.Probe,
		Prober:   &dispatcher.OptionsProber{Layer: s.layer, From: "sip:loadbalancer@" + lns[0].Addr().String()},
		Logger:   log,
	})
	if err := s.disp.SetGroup(group, o.Algo, o.Dsts...); err != nil {
		_ = tp.Close()
		return nil, err
	}
	s.srv = transaction.NewServer(s.layer, responses{sip.HandlerFunc(s.route), s.proxy}, transaction.ServerConfig{
		Logger:    log,
		InlineACK: true,
		Inline: func(req *sip.Request) bool {
			return inline && !(o.Spread && req.Method == sip.INVITE)
		},
	})
	if err := s.srv.Start(); err != nil {
		_ = tp.Close()
		return nil, err
	}
	pctx, stop := context.WithCancel(context.Background())
	s.stop = stop
	go func() {
		defer close(s.done)
		_ = s.disp.Run(pctx)
	}()
	return s, nil
}

// Addr returns the address the load balancer listens on (UDP and TCP).
func (s *server) Addr() netip.AddrPort { return s.lns[0].Addr() }

// Shutdown stops probing and the SIP server.
func (s *server) Shutdown(ctx context.Context) error {
	s.stop()
	<-s.done
	return s.srv.Shutdown(ctx)
}

// responses hands responses no transaction matched (a retransmitted 2xx)
// to the proxy, which relays them statelessly (RFC 3261 §16.7).
type responses struct {
	sip.Handler
	p *proxy.Proxy
}

func (r responses) ServeResponse(res *sip.Response, f transport.Flow) { r.p.ServeResponse(res, f) }

// route is the request policy.
func (s *server) route(ctx context.Context, w sip.ResponseWriter, req *sip.Request) {
	cid := callID(req)
	switch {
	case len(req.GetHeaders("Route")) > 0 || req.Method == sip.CANCEL:
		// In-dialog requests follow the Route this load balancer
		// record-routed; a CANCEL is matched to its INVITE below us.
		s.proxy.ServeSIP(ctx, w, req)
		return
	case hasToTag(req) || req.Method == sip.ACK:
		// In-dialog without a Route: a user agent that ignored
		// Record-Route. Send it where the call was answered.
		t, ok := s.aff.get(cid, time.Now())
		if !ok {
			s.proxy.ServeSIP(ctx, w, req) // 481, or an ACK with nowhere to go
			return
		}
		opts := proxy.Options{OnReply: s.forgetOnBye(req, cid)}
		_ = s.proxy.Relay(ctx, w, req, &opts, t)
		return
	case req.Method == sip.OPTIONS && req.Recipient.User == "" && s.tp.IsOwnAddress(req.Recipient.Host, req.Recipient.Port):
		// A probe of the load balancer itself.
		s.proxy.ServeSIP(ctx, w, req)
		return
	}
	targets := s.disp.Select(group, req)
	if len(targets) == 0 {
		res := sip.NewResponse(req, sip.StatusServiceUnavailable, "No Server Available")
		res.AppendHeader(sip.NewHeader("Retry-After", strconv.Itoa(5)))
		_ = w.WriteResponse(res)
		return
	}
	opts := s.opts
	if req.Method == sip.INVITE {
		opts.OnReply = func(b *proxy.Branch, res *sip.Response) error {
			if res.StatusCode >= 200 && res.StatusCode < 300 {
				s.aff.put(cid, proxy.Target{Next: b.Target.Next, Route: b.Target.Route}, time.Now())
			}
			return nil
		}
	}
	_ = s.proxy.Relay(ctx, w, req, &opts, targets...)
}

// forgetOnBye drops the call's affinity once its BYE is answered.
func (s *server) forgetOnBye(req *sip.Request, cid string) func(*proxy.Branch, *sip.Response) error {
	if req.Method != sip.BYE {
		return nil
	}
	return func(_ *proxy.Branch, res *sip.Response) error {
		if res.StatusCode >= 200 {
			s.aff.drop(cid)
		}
		return nil
	}
}

// literalDsts reports whether every destination's host is an IP address,
// so that forwarding to it never waits for DNS.
func literalDsts(ds []dispatcher.Destination) bool {
	for _, d := range ds {
		h := strings.TrimSuffix(strings.TrimPrefix(d.URI.Host, "["), "]")
		if _, err := netip.ParseAddr(h); err != nil {
			return false
		}
	}
	return true
}

func callID(req *sip.Request) string {
	if c := req.CallID(); c != nil {
		return string(*c)
	}
	return ""
}

func hasToTag(req *sip.Request) bool {
	to := req.To()
	if to == nil {
		return false
	}
	_, ok := to.Params.Get("tag")
	return ok
}
