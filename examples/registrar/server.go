package main

import (
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"strings"
	"time"

	"github.com/siphon-go/siphon/auth"
	"github.com/siphon-go/siphon/proxy"
	"github.com/siphon-go/siphon/proxy/nat"
	"github.com/siphon-go/siphon/registrar"
	"github.com/siphon-go/siphon/sip"
	"github.com/siphon-go/siphon/transaction"
	"github.com/siphon-go/siphon/transport"
	"github.com/siphon-go/siphon/transport/guard"
)

// options is everything the server is built from; main fills it from flags,
// tests directly.
type options struct {
	Addr        string       // host:port for UDP and TCP
	Advertise   string       // host[:port] put in Record-Route and Via; empty = Addr
	Users       auth.Backend // digest credentials
	Realm       string
	Domains     []string // served domains; empty = any
	Backend     registrar.Backend
	Node        string
	AuthCalls   bool // initial non-REGISTER requests need proxy credentials
	NoAuth      bool // REGISTER without authentication (benchmarks)
	NonceTTL    string
	Secret      []byte
	RecordRoute bool
	// InlineRegister handles REGISTER (and OPTIONS to us) on the goroutine
	// that read it: right when the location store and the credentials are
	// in memory, so the handler never waits.
	InlineRegister bool
	Logger         *slog.Logger
	// Registrar overrides parts of the registrar's configuration (tests
	// use a short MinExpires).
	Registrar registrar.Config
	// Auth overrides parts of both authenticators' configuration.
	Auth auth.Config
	// Guard turns on the security guards (rate limit, bans, scanner
	// block, auth auto-ban, request guards); nil = off.
	Guard *guard.Config
	// Tap, when set, sees every message in and out (tests count them).
	Tap transport.Tap
	// NAT turns on NAT traversal: rport forced, Contacts of calls from and
	// to UAs behind NATs fixed, requests for a registered UA sent to the
	// address its REGISTER came from; nil = off (every binding is then
	// reached on its flow, as the registrar returns it).
	NAT *nat.Config
	// NATPing is the interval of OPTIONS keepalives to registered UAs
	// behind NATs (0 = none); a UA that misses NATPingFails of them in a
	// row loses its binding.
	NATPing      time.Duration
	NATPingFails int
}

// defaultGuard is the guard configuration of a small deployment: 50 packets
// per second per source, a 10-minute ban, scanner User-Agents dropped and
// 10 failed-auth points within 10 minutes banning a source.
func defaultGuard() *guard.Config {
	return &guard.Config{RateLimit: 50, BanTime: 10 * time.Minute}
}

// server is a residential registrar and proxy: REGISTER behind digest
// authentication (401) into a registrar, and every other request through a
// record-routing proxy that forks to all the contacts of a local user.
type server struct {
	log       *slog.Logger
	tp        *transport.Layer
	layer     *transaction.Layer
	srv       *transaction.Server
	reg       *registrar.Registrar
	proxy     *proxy.Proxy
	proxyAuth *auth.Authenticator
	users     auth.Backend
	realm     string
	authCalls bool
	register  sip.Handler
	listeners []*transport.Listener
	stopHook  func()
	guard     *guard.Guard
	nat       *nat.Fixer // nil without NAT traversal
	pinger    *nat.Pinger
	stopPing  func() // stops the pinger and waits for it
}

// newServer builds and starts the server on o.Addr.
func newServer(ctx context.Context, o options) (*server, error) {
	log := o.Logger
	if log == nil {
		log = slog.Default()
	}
	tcfg := transport.Config{Logger: log, Tap: o.Tap}
	var fixer *nat.Fixer
	if o.NAT != nil {
		var err error
		if fixer, err = nat.New(*o.NAT); err != nil {
			return nil, err
		}
		// Responses go to the source port even when the UA did not ask
		// (RFC 3581 §4).
		tcfg.ForceRport = true
	}
	var g *guard.Guard
	if o.Guard != nil {
		gc := *o.Guard
		if gc.Logger == nil {
			gc.Logger = log
		}
		var err error
		if g, err = guard.New(gc); err != nil {
			return nil, err
		}
		// Nothing identifying goes out: no Server or User-Agent header.
		g.SetHeaders(guard.HeaderPolicy{Strip: true})
		tcfg.Guard = g
	}
	// The guard drops scanners before anything else looks at them; the
	// NAT fix gives the answers of a callee behind a NAT its public
	// Contact.
	var rws []transport.Rewriter
	if g != nil {
		rws = append(rws, g)
	}
	if fixer != nil {
		rws = append(rws, fixer)
	}
	tcfg.Rewriter = transport.ChainRewriters(rws...)
	tp, err := transport.New(tcfg)
	if err != nil {
		return nil, err
	}
	lopts := transport.ListenOptions{Advertise: o.Advertise}
	// One reader per socket, even with REGISTERs handled inline: several
	// goroutines reading one socket hand its read lock to each other on
	// every datagram (a futex wake and a thread switch each time), which
	// cost 43.5 µs of CPU per REGISTER at 10,000/s against 30.7 µs with one
	// reader; one reader still keeps up past 30,000 REGISTER/s here.
	lns, err := tp.ListenEach(ctx, []string{transport.UDP, transport.TCP}, o.Addr, lopts)
	if err != nil {
		_ = tp.Close()
		return nil, err
	}
	s := &server{log: log, tp: tp, users: o.Users, realm: o.Realm, authCalls: o.AuthCalls, listeners: lns, guard: g, nat: fixer}
	tc := transaction.Config{Logger: log}
	if g != nil {
		// An INVITE whose final response is never ACKed (Timer H) scores
		// against its source; timeouts of relayed requests never do.
		tc.OnTimerH = func(_ *sip.Request, f transport.Flow) { g.Signal(f.Transport, f.Remote, guard.SignalTimerH) }
	}
	s.layer = transaction.New(tp, tc)

	rc := o.Registrar
	rc.Domains = o.Domains
	if !o.NoAuth {
		rc.AuthUser = auth.UsernameFromContext
	}
	rc.Liveness = true
	rc.FlowAlive = tp.Alive
	rc.Node = o.Node
	rc.Logger = log
	s.reg, err = registrar.New(o.Backend, rc)
	if err != nil {
		_ = tp.Close()
		return nil, err
	}
	s.stopHook = tp.OnConnClose(s.reg.FlowClosed)
	if n, err := s.reg.EvictStale(ctx); err != nil {
		log.Warn("registrar: evicting stale bindings", "err", err)
	} else if n > 0 {
		log.Info("registrar: evicted bindings of an earlier run", "count", n)
	}

	ac := o.Auth
	ac.Realm = o.Realm
	ac.Secret = o.Secret
	ac.Logger = log
	if g != nil {
		ac.OnFailure, ac.OnSuccess = authSignals(g, ac.OnFailure, ac.OnSuccess)
	}
	regAuth, err := auth.New(o.Users, ac)
	if err != nil {
		s.close()
		return nil, err
	}
	ac.Proxy = true
	ac.MatchFrom = true // a caller presents its own identity, not someone else's
	s.proxyAuth, err = auth.New(o.Users, ac)
	if err != nil {
		s.close()
		return nil, err
	}
	s.register = regAuth.Middleware(s.reg)
	if o.NoAuth {
		s.register = s.reg
	}

	s.proxy = proxy.New(s.layer, proxy.Config{
		Logger:      log,
		RecordRoute: o.RecordRoute,
		Domains:     o.Domains,
		Locate:      s.locate,
		Supported:   []string{"path", "outbound", "gruu", "100rel", "timer", "replaces"},
	})
	// The Contact fix runs after the guards and before the route: the
	// proxy and the callee see the address that reaches the caller.
	var natMW []sip.Middleware
	if fixer != nil {
		natMW = append(natMW, fixer.Middleware)
	}
	handler := sip.Chain(sip.HandlerFunc(s.route), append([]sip.Middleware{sip.NewSanity(sip.SanityConfig{}).Middleware}, natMW...)...)
	if g != nil {
		local := []string{lns[0].Addr().String(), lns[0].Addr().Addr().String()}
		if o.Advertise != "" {
			local = append(local, o.Advertise)
		}
		guards := g.Middleware(guard.RequestConfig{
			Sanity:          sip.NewSanity(sip.SanityConfig{}),
			MaxForwards:     true,
			Keepalive:       true,
			KeepaliveAllow:  "ACK, BYE, CANCEL, INFO, INVITE, MESSAGE, NOTIFY, OPTIONS, PRACK, REFER, REGISTER, SUBSCRIBE, UPDATE",
			RejectRoute:     true,
			Local:           local,
			TrackChallenges: true,
		})
		handler = sip.Chain(sip.HandlerFunc(s.route), append([]sip.Middleware{guards}, natMW...)...)
	}
	s.srv = transaction.NewServer(s.layer, responses{handler, s.proxy}, transaction.ServerConfig{
		Logger:    log,
		InlineACK: true,
		Inline: func(req *sip.Request) bool {
			return o.InlineRegister && req.Method == sip.REGISTER
		},
		// An inline REGISTER is answered statelessly, as Kamailio's
		// registrar does (RFC 3261 §8.2.7): no transaction and no 32 s of
		// Timer J state per REGISTER; the registrar answers a
		// retransmission as it answered the first. One carrying
		// credentials keeps its transaction, so that a retransmission is
		// absorbed rather than meeting the nonce-count replay check.
		Stateless: func(req *sip.Request) bool {
			return o.InlineRegister && req.Method == sip.REGISTER && (o.NoAuth || req.GetHeader("Authorization") == nil)
		},
	})
	if err := s.srv.Start(); err != nil {
		s.close()
		return nil, err
	}
	if fixer != nil && o.NATPing > 0 {
		if err := s.startPinger(o.NATPing, o.NATPingFails); err != nil {
			s.close()
			return nil, err
		}
	}
	return s, nil
}

// startPinger keeps the NAT bindings of registered UAs open with OPTIONS
// every interval and removes the binding of one that misses fails of them
// in a row (nat.Pinger; Kamailio's nathelper SIP pings with
// remove-on-timeout).
func (s *server) startPinger(interval time.Duration, fails int) error {
	p, err := nat.NewPinger(s.layer, s.pingTargets, nat.PingerConfig{
		Interval: interval,
		Failures: fails,
		Logger:   s.log,
		OnDead:   s.unreachable,
	})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = p.Run(ctx)
	}()
	s.pinger = p
	s.stopPing = func() { cancel(); <-done }
	return nil
}

// pingTargets lists the bindings to ping: those of UAs behind a NAT that
// registered with this instance (or an earlier run of it, same -node, on
// the same socket), reached on their flow. Another instance sharing the
// store pings its own: its UAs' NATs would not let our pings in, and their
// failures would remove live bindings. Bindings through Path are the edge
// proxy's to keep.
func (s *server) pingTargets(ctx context.Context, yield func(nat.Target) bool) error {
	node := s.reg.Node()
	run := strings.LastIndexByte(node, '#') // "name#run" when -node is set
	own := func(b *registrar.Binding) bool {
		if b.Node == node {
			return true
		}
		return run > 0 && strings.HasPrefix(b.Node, node[:run+1]) && s.tp.ListenerAt(b.Flow.Transport, b.Flow.Local) != nil
	}
	return s.reg.Range(ctx, func(aor string, bs []registrar.Binding) bool {
		for i := range bs {
			b := &bs[i]
			if len(b.Path) > 0 || !own(b) {
				continue
			}
			c := registrar.Contact{Binding: *b, Local: b.Node == node}
			next, ok := c.Target()
			if !ok {
				continue
			}
			na, err := b.NameAddr()
			if err != nil || !s.nat.NATed(na.URI, b.Flow) {
				continue
			}
			if !yield(nat.Target{AoR: aor, Key: b.Key, URI: na.URI, Next: next}) {
				return false
			}
		}
		return true
	})
}

// unreachable removes the binding of a UA that stopped answering
// keepalives, unless it has registered again from another address since.
func (s *server) unreachable(t nat.Target) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	bs, err := s.reg.Bindings(ctx, t.AoR)
	if err != nil {
		s.log.Warn("nat: reading the binding of an unreachable UA", "aor", t.AoR, "err", err)
		return
	}
	for _, b := range bs {
		if b.Key != t.Key || b.Flow.Transport != t.Next.Transport || b.Flow.Remote != t.Next.Addr {
			continue
		}
		if _, err := s.reg.Remove(ctx, t.AoR, t.Key); err != nil {
			s.log.Warn("nat: removing the binding of an unreachable UA", "aor", t.AoR, "err", err)
			return
		}
		s.log.Info("nat: removed the binding of a UA that does not answer keepalives", "aor", t.AoR, "contact", b.Contact, "flow", b.Flow.String())
	}
}

// authSignals feeds digest outcomes to g: refused credentials score against
// the source, a success clears its score. A stale nonce with a correct
// response is a legitimate client whose nonce aged: it does not count.
func authSignals(g *guard.Guard, fail func(context.Context, *sip.Request, error), ok func(context.Context, *sip.Request, auth.Identity)) (
	func(context.Context, *sip.Request, error), func(context.Context, *sip.Request, auth.Identity)) {
	onFail := func(ctx context.Context, req *sip.Request, reason error) {
		if fail != nil {
			fail(ctx, req, reason)
		}
		f, found := transport.FlowFromContext(ctx)
		if !found {
			return
		}
		switch {
		case errors.Is(reason, auth.ErrInvalidCredentials), errors.Is(reason, auth.ErrFromMismatch):
			g.Signal(f.Transport, f.Remote, guard.SignalInvalidCredentials)
		case errors.Is(reason, auth.ErrReplay), errors.Is(reason, auth.ErrMalformed):
			g.Signal(f.Transport, f.Remote, guard.SignalBadNonce)
		}
	}
	onOK := func(ctx context.Context, req *sip.Request, id auth.Identity) {
		if ok != nil {
			ok(ctx, req, id)
		}
		if f, found := transport.FlowFromContext(ctx); found {
			g.Success(f.Remote)
		}
	}
	return onFail, onOK
}

// responses hands the responses no transaction matched (a late 2xx) to the
// proxy, which relays them statelessly.
type responses struct {
	sip.Handler
	p *proxy.Proxy
}

func (r responses) ServeResponse(res *sip.Response, f transport.Flow) { r.p.ServeResponse(res, f) }

// route is the request policy.
func (s *server) route(ctx context.Context, w sip.ResponseWriter, req *sip.Request) {
	switch {
	case req.Method == sip.REGISTER:
		s.register.ServeSIP(ctx, w, req)
		return
	case req.Method == sip.ACK || req.Method == sip.CANCEL:
		// Neither can be challenged (RFC 3261 §22.1); the proxy matches
		// them to the INVITE they belong to.
	case hasToTag(req):
		// In-dialog: it follows the route set this proxy record-routed
		// when the dialog's INVITE was authenticated.
	case req.Method == sip.OPTIONS && req.Recipient.User == "":
		// Keepalive or capability probe of the server itself.
	case s.authCalls:
		if _, err := s.proxyAuth.Authenticate(ctx, req); err != nil {
			_ = sip.RespondError(w, req, err)
			return
		}
		// The credentials were for this realm: they go no further.
		req.RemoveHeader("Proxy-Authorization")
	}
	s.proxy.ServeSIP(ctx, w, req)
}

// locate returns the targets for a request to a local user: every contact
// registered for the AoR, so that they ring in parallel.
func (s *server) locate(ctx context.Context, req *sip.Request) ([]proxy.Target, error) {
	contacts, err := s.reg.Lookup(ctx, req.Recipient)
	if err != nil {
		if errors.Is(err, registrar.ErrNotAoR) {
			return nil, sip.NewStatusError(sip.StatusNotFound, "")
		}
		s.log.Warn("registrar: lookup failed", "uri", req.Recipient.String(), "err", err)
		return nil, sip.NewStatusError(sip.StatusServiceUnavailable, "")
	}
	if len(contacts) == 0 {
		if _, err := s.users.HA1(ctx, req.Recipient.User, s.realm, auth.MD5); errors.Is(err, auth.ErrUnknownUser) {
			return nil, sip.NewStatusError(sip.StatusNotFound, "")
		}
		return nil, nil // 480 Temporarily Unavailable
	}
	targets := make([]proxy.Target, 0, len(contacts))
	for i := range contacts {
		c := &contacts[i]
		t := proxy.Target{URI: c.NameAddr.URI, Route: c.Route}
		if q := c.Q(); q >= 0 {
			t.Q = float64(q) / 1000
		}
		// Outbound flows always go back on their flow (RFC 5626 §5.3);
		// other bindings when the UA is behind a NAT, so that the request
		// reaches the address its REGISTER came from rather than its
		// private contact. Without NAT traversal every binding is reached
		// on its flow, as before.
		if next, ok := c.Target(); ok && (s.nat == nil || c.RegID != 0 || s.nat.UseFlow(c.NameAddr.URI, c.Flow)) {
			t.Next = next
		}
		targets = append(targets, t)
	}
	return targets, nil
}

// Addr returns the address the server listens on (UDP and TCP).
func (s *server) Addr() netip.AddrPort { return s.listeners[0].Addr() }

// Shutdown stops taking requests, lets running ones finish until ctx ends,
// then closes everything.
func (s *server) Shutdown(ctx context.Context) error {
	err := s.srv.Shutdown(ctx)
	s.close()
	return err
}

func (s *server) close() {
	if s.stopPing != nil {
		s.stopPing()
	}
	if s.stopHook != nil {
		s.stopHook()
	}
	if s.layer != nil {
		_ = s.layer.Close()
	}
	if s.reg != nil {
		_ = s.reg.Close()
	}
	_ = s.tp.Close()
}

func hasToTag(req *sip.Request) bool {
	to := req.To()
	if to == nil {
		return false
	}
	_, ok := to.Params.Get("tag")
	return ok
}
