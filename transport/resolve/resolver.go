package resolve

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/miekg/dns"

	"github.com/siphon-go/siphon/sip"
	"github.com/siphon-go/siphon/transport"
)

// Errors. Lookup failures wrap one of these (or the context's error), so
// callers can tell a name that does not exist from a DNS outage.
var (
	// ErrNotFound: the name does not exist or has no record of the kind
	// needed (NXDOMAIN or NODATA all the way down to A/AAAA).
	ErrNotFound = errors.New("resolve: not found")
	// ErrNoService: the domain publishes SRV records for the transports
	// asked about, and they say the service is not available (RFC 2782
	// target ".").
	ErrNoService = errors.New("resolve: service not available")
	// ErrServerFailure: every DNS server failed, answered SERVFAIL, REFUSED
	// or something unusable, or could not be reached.
	ErrServerFailure = errors.New("resolve: server failure")
	// ErrTransport: the URI asks for a transport the Resolver is not
	// configured for (Config.Transports).
	ErrTransport = errors.New("resolve: transport not supported")
	// ErrScheme: the URI is neither sip: nor sips:.
	ErrScheme = errors.New("resolve: not a sip or sips URI")
	// ErrNumber: ENUM was given something that is not an E.164 number.
	ErrNumber = errors.New("resolve: not an E.164 number")
)

// Config configures a Resolver. The zero value queries the name servers of
// /etc/resolv.conf with the defaults given per field.
type Config struct {
	// Servers are the DNS servers to ask, in order, as "host:port" or a bare
	// IP (port 53). Empty means the nameservers of ResolvConf.
	Servers []string
	// ResolvConf is the file read when Servers is empty; default
	// /etc/resolv.conf. Its timeout and attempts options apply unless
	// Timeout and Attempts are set.
	ResolvConf string
	// Timeout bounds one query to one server, including a TCP retry after
	// a truncated UDP answer; default 2 s.
	Timeout time.Duration
	// Attempts is how many times the list of servers is tried for one
	// query; default 2.
	Attempts int
	// Transports are the transports the caller can send on (its listeners),
	// most preferred first: NAPTR records for others are skipped, and
	// without NAPTR the SRV queries are made in this order. Default UDP,
	// TCP, TLS. WS, WSS (RFC 7118 SIP+D2W, SIPS+D2W) and SCTP (SIP+D2S)
	// are used only when listed.
	Transports []string
	// Network picks the address families: "ip" (A then AAAA; default),
	// "ip4" or "ip6".
	Network string
	// CacheSize bounds the cache in entries (one per name and record type,
	// positive or negative), evicting the least recently used; default
	// 4096. Negative disables caching.
	CacheSize int
	// MinTTL and MaxTTL clamp the time an answer is cached; defaults 1 s
	// and 1 h.
	MinTTL, MaxTTL time.Duration
	// MaxNegativeTTL caps how long a name found not to exist (or to lack a
	// record type) is remembered; the TTL itself comes from the SOA in the
	// answer (RFC 2308 §5), MinTTL without one. Default 5 min.
	MaxNegativeTTL time.Duration
	// MaxTargets bounds the number of targets Resolve returns; default 16.
	MaxTargets int
	// UDPSize is the EDNS0 buffer size advertised, so that larger answers
	// come over UDP; default 1232 (the DNS flag day 2020 value). Below 512
	// disables EDNS0.
	UDPSize int
	// Now is the clock for cache expiry; nil means time.Now.
	Now func() time.Time
}

// Resolver resolves SIP URIs into the ordered transport targets to try (RFC
// 3263 §4), and E.164 numbers into SIP URIs (ENUM, RFC 6116). It caches
// answers and coalesces identical concurrent queries. A Resolver is safe for
// concurrent use; it implements proxy.Resolver.
type Resolver struct {
	servers    []string
	timeout    time.Duration
	attempts   int
	transports []string
	network    string
	minTTL     time.Duration
	maxTTL     time.Duration
	maxNegTTL  time.Duration
	maxTargets int
	udpSize    uint16
	now        func() time.Time
	udp, tcp   *dns.Client

	cache   *cache
	flights group
}

// New returns a Resolver for cfg. It fails if no server is configured and
// ResolvConf cannot be read, or a field is out of range.
func New(cfg Config) (*Resolver, error) {
	r := &Resolver{
		timeout:    cfg.Timeout,
		attempts:   cfg.Attempts,
		network:    cfg.Network,
		minTTL:     cfg.MinTTL,
		maxTTL:     cfg.MaxTTL,
		maxNegTTL:  cfg.MaxNegativeTTL,
		maxTargets: cfg.MaxTargets,
		now:        cfg.Now,
	}
	for _, s := range cfg.Servers {
		addr, err := serverAddr(s)
		if err != nil {
			return nil, err
		}
		r.servers = append(r.servers, addr)
	}
	if len(r.servers) == 0 {
		path := cfg.ResolvConf
		if path == "" {
			path = "/etc/resolv.conf"
		}
		cc, err := dns.ClientConfigFromFile(path)
		if err != nil {
			return nil, fmt.Errorf("resolve: no servers configured: %w", err)
		}
		for _, s := range cc.Servers {
			r.servers = append(r.servers, net.JoinHostPort(s, cc.Port))
		}
		if len(r.servers) == 0 {
			return nil, fmt.Errorf("resolve: no nameserver in %s", path)
		}
		if r.timeout <= 0 && cc.Timeout > 0 {
			r.timeout = time.Duration(cc.Timeout) * time.Second
		}
		if r.attempts <= 0 && cc.Attempts > 0 {
			r.attempts = cc.Attempts
		}
	}
	if r.timeout <= 0 {
		r.timeout = 2 * time.Second
	}
	if r.attempts <= 0 {
		r.attempts = 2
	}
	tps := cfg.Transports
	if len(tps) == 0 {
		tps = []string{transport.UDP, transport.TCP, transport.TLS}
	}
	for _, tp := range tps {
		n := transport.Normalize(tp)
		if n == "" {
			return nil, fmt.Errorf("resolve: unknown transport %q", tp)
		}
		if !slices.Contains(r.transports, n) {
			r.transports = append(r.transports, n)
		}
	}
	switch r.network {
	case "":
		r.network = "ip"
	case "ip", "ip4", "ip6":
	default:
		return nil, fmt.Errorf("resolve: network %q is not ip, ip4 or ip6", cfg.Network)
	}
	if r.minTTL <= 0 {
		r.minTTL = time.Second
	}
	if r.maxTTL <= 0 {
		r.maxTTL = time.Hour
	}
	if r.maxTTL < r.minTTL {
		return nil, errors.New("resolve: MaxTTL below MinTTL")
	}
	if r.maxNegTTL <= 0 {
		r.maxNegTTL = 5 * time.Minute
	}
	if r.maxTargets <= 0 {
		r.maxTargets = 16
	}
	switch {
	case cfg.UDPSize == 0:
		r.udpSize = 1232
	case cfg.UDPSize >= dns.MinMsgSize && cfg.UDPSize <= dns.MaxMsgSize:
		r.udpSize = uint16(cfg.UDPSize)
	case cfg.UDPSize > dns.MaxMsgSize:
		return nil, fmt.Errorf("resolve: UDPSize %d too large", cfg.UDPSize)
	}
	if r.now == nil {
		r.now = time.Now
	}
	size := cfg.CacheSize
	if size == 0 {
		size = 4096
	}
	if size > 0 {
		r.cache = newCache(size)
	}
	r.udp = &dns.Client{Net: "udp", Timeout: r.timeout, UDPSize: r.udpSize}
	r.tcp = &dns.Client{Net: "tcp", Timeout: r.timeout}
	return r, nil
}

func serverAddr(s string) (string, error) {
	if ip, err := netip.ParseAddr(strings.Trim(s, "[]")); err == nil {
		return netip.AddrPortFrom(ip, 53).String(), nil
	}
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		return "", fmt.Errorf("resolve: server %q is not an IP address with optional port", s)
	}
	return ap.String(), nil
}

// supports reports whether tp is one of the configured transports.
func (r *Resolver) supports(tp string) bool { return slices.Contains(r.transports, tp) }

// defaultTransport is the transport for a URI that names none and has no
// NAPTR or SRV records: UDP for sip, TLS for sips (RFC 3263 §4.1), or
// another configured one when UDP is not. It fails with ErrTransport when
// none of them is configured.
func (r *Resolver) defaultTransport(secure bool) (string, error) {
	if secure {
		if r.supports(transport.TLS) {
			return transport.TLS, nil
		}
		return "", fmt.Errorf("%w: sips needs TLS", ErrTransport)
	}
	for _, tp := range [...]string{transport.UDP, transport.TCP, transport.TLS} {
		if r.supports(tp) {
			return tp, nil
		}
	}
	return "", fmt.Errorf("%w: none of UDP, TCP, TLS configured", ErrTransport)
}

// Resolve returns the transport targets for u in the order to try them: on
// a transport error, a timeout or a 503 the client moves on to the next
// (RFC 3263 §4.3). It follows RFC 3263 §4: the transport parameter or NAPTR
// records pick the transport, SRV records the hosts and ports, A/AAAA
// records the addresses; a numeric host is used as it is, and a host with
// a port skips NAPTR and SRV. Without NAPTR, SRV is queried for every
// configured transport; without SRV, the host's addresses are used with the
// default port, over UDP (sip) or TLS (sips). A maddr parameter replaces the
// host. The result is never empty when err is nil; err wraps ErrNotFound,
// ErrNoService, ErrServerFailure, ErrTransport, ErrScheme or ctx's error.
func (r *Resolver) Resolve(ctx context.Context, u sip.Uri) ([]transport.Target, error) {
	var secure bool
	switch strings.ToLower(u.Scheme) {
	case "", "sip":
	case "sips":
		secure = true
	default:
		return nil, fmt.Errorf("%w: %s", ErrScheme, u.Scheme)
	}
	host := u.Host
	if maddr, ok := u.UriParams.Get("maddr"); ok && maddr != "" {
		host = maddr // RFC 3263 §4: maddr is the TARGET
	}
	host = strings.Trim(host, "[]")
	if host == "" {
		return nil, fmt.Errorf("%w: URI without a host", ErrNotFound)
	}
	tp, explicit, err := r.uriTransport(&u, secure)
	if err != nil {
		return nil, err
	}
	if !explicit {
		if tp, err = r.defaultTransport(secure); err != nil {
			return nil, err
		}
	}
	if ip, ok := parseIP(host); ok {
		port := uint16(u.Port)
		if port == 0 {
			port = transport.DefaultPort(tp)
		}
		return []transport.Target{{Transport: tp, Addr: netip.AddrPortFrom(ip.Unmap(), port), NoSizeSwitch: explicit && tp == transport.UDP}}, nil
	}
	name := strings.ToLower(dns.Fqdn(host))
	if _, ok := dns.IsDomainName(name); !ok {
		return nil, fmt.Errorf("%w: %q is not a domain name", ErrNotFound, host)
	}
	b := builder{r: r, serverName: strings.TrimSuffix(name, "."), noSwitch: explicit && tp == transport.UDP}
	switch {
	case u.Port != 0:
		// RFC 3263 §4.2: a port means A/AAAA only.
		b.addHost(ctx, name, tp, uint16(u.Port))
	case explicit:
		// §4.2: no NAPTR when the transport is given; SRV for it.
		b.addSRVOrHost(ctx, []srvQuery{{name: srvName(tp, name), transport: tp}}, name, tp)
	default:
		// §4.1: NAPTR, else SRV per transport, else tp (the default).
		b.addNAPTR(ctx, name, secure, tp)
	}
	return b.result(ctx, &u)
}

// parseIP parses host if it looks like an IP address, without the cost of
// a parse error for the usual domain name.
func parseIP(host string) (netip.Addr, bool) {
	last := host[len(host)-1]
	if strings.IndexByte(host, ':') < 0 && (last < '0' || last > '9') {
		return netip.Addr{}, false // an IPv4 address ends in a digit
	}
	ip, err := netip.ParseAddr(host)
	return ip, err == nil
}

// uriTransport returns the transport the URI's transport parameter asks
// for, adjusted for sips (TCP means TLS, WS means WSS), and whether there
// was one.
func (r *Resolver) uriTransport(u *sip.Uri, secure bool) (string, bool, error) {
	v, ok := u.UriParams.Get("transport")
	if !ok || v == "" {
		return "", false, nil
	}
	tp := transport.Normalize(v)
	if tp == "" {
		return "", false, fmt.Errorf("%w: %q", ErrTransport, v)
	}
	if secure {
		switch tp {
		case transport.UDP, transport.TCP:
			tp = transport.TLS
		case transport.WS:
			tp = transport.WSS
		}
	}
	if !r.supports(tp) {
		return "", false, fmt.Errorf("%w: %s", ErrTransport, tp)
	}
	return tp, true, nil
}

// srvName returns the SRV owner name for transport tp at domain (RFC 3263
// §4.2: _sips for TLS, _sip otherwise).
func srvName(tp, domain string) string {
	switch tp {
	case transport.UDP:
		return "_sip._udp." + domain
	case transport.TCP:
		return "_sip._tcp." + domain
	case transport.TLS:
		return "_sips._tcp." + domain
	case transport.SCTP:
		return "_sip._sctp." + domain
	case transport.WS:
		return "_sip._ws." + domain
	case transport.WSS:
		return "_sips._ws." + domain
	}
	return ""
}

// srvQuery is one SRV lookup and the transport its targets use.
type srvQuery struct {
	name      string
	transport string
}

// builder collects the targets of one Resolve.
type builder struct {
	r          *Resolver
	serverName string
	noSwitch   bool
	out        []transport.Target
	err        error // the first lookup failure, reported if nothing is found
	noService  bool  // an SRV "." was seen
}

func (b *builder) fail(err error) {
	if b.err == nil || errors.Is(b.err, ErrNotFound) && !errors.Is(err, ErrNotFound) {
		b.err = err
	}
}

// result returns the targets, or the reason there are none.
func (b *builder) result(ctx context.Context, u *sip.Uri) ([]transport.Target, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("resolve: %s: %w", u.String(), err)
	}
	if len(b.out) > 0 {
		return b.out, nil
	}
	switch {
	case b.err != nil && !errors.Is(b.err, ErrNotFound):
		return nil, fmt.Errorf("resolve: %s: %w", u.String(), b.err)
	case b.noService:
		return nil, fmt.Errorf("%w for %s", ErrNoService, u.String())
	case b.err != nil:
		return nil, fmt.Errorf("resolve: %s: %w", u.String(), b.err)
	}
	return nil, fmt.Errorf("%w: %s", ErrNotFound, u.String())
}

// add appends one target unless it is a duplicate or the list is full.
func (b *builder) add(tp string, ip netip.Addr, port uint16) {
	if len(b.out) >= b.r.maxTargets {
		return
	}
	t := transport.Target{Transport: tp, Addr: netip.AddrPortFrom(ip.Unmap(), port), ServerName: b.serverName, NoSizeSwitch: b.noSwitch && tp == transport.UDP}
	for i := range b.out {
		if b.out[i].Transport == t.Transport && b.out[i].Addr == t.Addr {
			return
		}
	}
	if b.out == nil {
		b.out = make([]transport.Target, 0, 4)
	}
	b.out = append(b.out, t)
}

// addrQueries returns the A/AAAA queries for name, per Config.Network.
func (r *Resolver) addrQueries(qs []query, name string) []query {
	if r.network != "ip6" {
		qs = append(qs, query{name, dns.TypeA})
	}
	if r.network != "ip4" {
		qs = append(qs, query{name, dns.TypeAAAA})
	}
	return qs
}

// addAddrs appends the addresses of the A/AAAA results res (as made by
// addrQueries), each family shuffled for load distribution (RFC 3263 §4.2:
// the addresses of one name are equivalent). It reports whether any address
// was found.
func (b *builder) addAddrs(res []result, tp string, port uint16) bool {
	found := false
	for _, x := range res {
		if x.err != nil {
			b.fail(x.err)
			continue
		}
		if len(x.rs.addrs) == 0 {
			continue
		}
		found = true
		// Shuffled before adding, so that MaxTargets cuts a random subset.
		var buf [8]netip.Addr
		ips := append(buf[:0], x.rs.addrs...)
		rand.Shuffle(len(ips), func(i, j int) { ips[i], ips[j] = ips[j], ips[i] })
		for _, ip := range ips {
			b.add(tp, ip, port)
		}
	}
	return found
}

// addHost appends name's addresses at port.
func (b *builder) addHost(ctx context.Context, name, tp string, port uint16) {
	var buf [2]query
	qs := b.r.addrQueries(buf[:0], name)
	res := b.r.lookupMany(ctx, qs)
	if !b.addAddrs(res, tp, port) {
		b.fail(fmt.Errorf("%w: no address for %s", ErrNotFound, strings.TrimSuffix(name, ".")))
	}
}

// addNAPTR runs RFC 3263 §4.1: the NAPTR records of name pick the
// transports and SRV names; without usable ones, SRV for every configured
// transport.
func (b *builder) addNAPTR(ctx context.Context, name string, secure bool, fallback string) {
	r := b.r
	rs, err := r.lookup(ctx, name, dns.TypeNAPTR)
	if err != nil {
		if ctx.Err() != nil {
			return
		}
		// A failing NAPTR query must not hide working SRV records.
		b.fail(err)
	}
	var qs []srvQuery
	var hosts []srvQuery // flag "a": straight to A/AAAA
	if err == nil {
		for _, n := range rs.naptrs { // sorted when cached
			tp := naptrTransport(n.service, secure)
			if tp == "" || !r.supports(tp) || n.regexp != "" || n.replacement == "." {
				continue
			}
			switch n.flags {
			case "s":
				qs = append(qs, srvQuery{name: n.replacement, transport: tp})
			case "a":
				hosts = append(hosts, srvQuery{name: n.replacement, transport: tp})
			}
			if len(qs)+len(hosts) >= maxNAPTR {
				break
			}
		}
	}
	if len(qs) == 0 && len(hosts) == 0 {
		// §4.1: no NAPTR, so SRV for each transport we support.
		for _, tp := range r.transports {
			if secure && !transport.IsSecure(tp) || tp == transport.WS || tp == transport.WSS {
				continue // RFC 7118 defines no SRV-only discovery for WebSocket
			}
			qs = append(qs, srvQuery{name: srvName(tp, name), transport: tp})
		}
		b.addSRVOrHost(ctx, qs, name, fallback)
		return
	}
	b.addSRV(ctx, qs, name, true)
	for _, h := range hosts {
		b.addHost(ctx, h.name, h.transport, transport.DefaultPort(h.transport))
	}
}

// addSRVOrHost looks up the SRV queries and, if none of them found a
// record, the A/AAAA of domain at tp's default port (RFC 3263 §4.2).
func (b *builder) addSRVOrHost(ctx context.Context, qs []srvQuery, domain, tp string) {
	if b.addSRV(ctx, qs, domain, false) || ctx.Err() != nil {
		return
	}
	b.addHost(ctx, domain, tp, transport.DefaultPort(tp))
}

// addSRV looks up the SRV queries (together), orders each answer by RFC 2782
// and appends the targets' addresses in that order. With perNAPTR, a query
// without records falls back to domain's addresses at the transport's
// default port in its place (RFC 3263 §4.2, the NAPTR having chosen the
// transport). It reports whether any SRV record (even ".") was found.
func (b *builder) addSRV(ctx context.Context, qs []srvQuery, domain string, perNAPTR bool) bool {
	r := b.r
	lq := make([]query, len(qs))
	for i, q := range qs {
		lq[i] = query{q.name, dns.TypeSRV}
	}
	res := r.lookupMany(ctx, lq)
	// The order of every SRV set is drawn first; then all target
	// addresses are looked up at once.
	type hop struct {
		transport string
		host      string // "" means the domain's own addresses
		port      uint16
	}
	var hops []hop
	found := false
	for i, x := range res {
		if x.err != nil {
			b.fail(x.err)
			continue
		}
		if len(x.rs.srvs) == 0 {
			if perNAPTR {
				hops = append(hops, hop{qs[i].transport, domain, transport.DefaultPort(qs[i].transport)})
			}
			continue
		}
		found = true
		if len(x.rs.srvs) == 1 && x.rs.srvs[0].target == "." {
			b.noService = true // RFC 2782: decidedly not available
			continue
		}
		for _, s := range orderSRV(x.rs.srvs) {
			if s.target == "." || len(hops) >= maxSRVHosts {
				continue
			}
			hops = append(hops, hop{qs[i].transport, s.target, s.port})
		}
	}
	if len(hops) == 0 {
		return found
	}
	aq := make([]query, 0, 2*len(hops))
	for _, h := range hops {
		aq = r.addrQueries(aq, h.host)
	}
	ares := r.lookupMany(ctx, aq)
	per := len(aq) / len(hops)
	for i, h := range hops {
		if !b.addAddrs(ares[i*per:(i+1)*per], h.transport, h.port) {
			b.fail(fmt.Errorf("%w: no address for %s", ErrNotFound, strings.TrimSuffix(h.host, ".")))
		}
	}
	return found
}

// Bounds on the work one Resolve does.
const (
	maxNAPTR    = 8  // usable NAPTR records followed
	maxSRVHosts = 16 // SRV targets whose addresses are looked up
)
