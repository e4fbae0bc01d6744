package proxy

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"

	"github.com/siphon-go/siphon/sip"
	"github.com/siphon-go/siphon/transport"
)

// isOwn reports whether u names one of this proxy's listeners (by bound or
// advertised address, so a Record-Route is recognised on any listener of a
// multi-homed proxy).
func (p *Proxy) isOwn(u *sip.Uri) bool {
	if u.Scheme != "sip" && u.Scheme != "sips" && u.Scheme != "" {
		return false
	}
	return p.tp.IsOwnAddress(u.Host, u.Port)
}

// isLocal reports whether u is for a domain this proxy is responsible for.
func (p *Proxy) isLocal(u *sip.Uri) bool {
	if p.isOwn(u) {
		return true
	}
	for _, d := range p.cfg.Domains {
		if strings.EqualFold(d, u.Host) {
			return true
		}
	}
	return false
}

// preprocessRoutes applies RFC 3261 §16.4: a Request-URI this proxy put in a
// Record-Route (a strict router upstream) is replaced by the last Route, and
// the Route entries naming this proxy are removed (loose routing; two of
// them after a double Record-Route).
func (p *Proxy) preprocessRoutes(req *sip.Request) error {
	if p.isOwn(&req.Recipient) && req.Recipient.UriParams.Has("lr") {
		routes, err := sip.Routes(req)
		if err != nil {
			return err
		}
		if len(routes) > 0 {
			last := routes[len(routes)-1]
			req.Recipient = last.URI
			if err := sip.SetNameAddrs(req, "Route", routes[:len(routes)-1]); err != nil {
				return err
			}
		}
	}
	for i := 0; i < 4; i++ {
		routes, err := sip.Routes(req)
		if err != nil {
			return err
		}
		if len(routes) == 0 || !p.isOwn(&routes[0].URI) {
			return nil
		}
		if _, _, err := sip.PopNameAddr(req, "Route"); err != nil {
			return err
		}
	}
	return nil
}

// nextHopURI returns the URI the request goes to next (RFC 3261 §16.6 step
// 6-7, §8.1.2): the first Route if it is a loose router, else (strict
// routing) the first Route after the Request-URI has been moved to the end of
// the route set, else the Request-URI.
func nextHopURI(req *sip.Request) (sip.Uri, error) {
	routes, err := sip.Routes(req)
	if err != nil {
		return sip.Uri{}, err
	}
	if len(routes) == 0 {
		return req.Recipient, nil
	}
	first := routes[0]
	if first.URI.UriParams.Has("lr") {
		return first.URI, nil
	}
	// Strict router: it gets the request with its URI as Request-URI.
	ruri := req.Recipient
	req.Recipient = first.URI
	rest := append(routes[1:len(routes):len(routes)], sip.NameAddr{URI: ruri})
	if err := sip.SetNameAddrs(req, "Route", rest); err != nil {
		return sip.Uri{}, err
	}
	return first.URI, nil
}

// resolve turns a next-hop URI into transport targets, leaving out this
// proxy's own listeners (never relay to ourselves).
func (p *Proxy) resolve(ctx context.Context, u sip.Uri) ([]transport.Target, error) {
	var (
		targets []transport.Target
		err     error
	)
	if p.cfg.Resolver != nil {
		targets, err = p.cfg.Resolver.Resolve(ctx, u)
	} else {
		targets, err = systemResolve(ctx, u)
	}
	if err != nil {
		return nil, err
	}
	out := targets[:0:0]
	for _, t := range targets {
		if p.tp.IsOwnAddress(t.Addr.Addr().String(), int(t.Addr.Port())) {
			continue
		}
		out = append(out, t)
	}
	if len(out) == 0 && len(targets) > 0 {
		return nil, ErrLoop
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w for %s", ErrNoTarget, u.String())
	}
	return out, nil
}

// URITransport returns the transport a URI asks for: its transport
// parameter, TLS for sips, else UDP (RFC 3263 §4.1 without NAPTR).
func URITransport(u *sip.Uri) string {
	tp := transport.UDP
	if v, ok := u.UriParams.Get("transport"); ok {
		if n := transport.Normalize(v); n != "" {
			tp = n
		}
	}
	if u.Scheme == "sips" {
		switch tp {
		case transport.UDP, transport.TCP:
			tp = transport.TLS
		case transport.WS:
			tp = transport.WSS
		}
	}
	return tp
}

// systemResolve handles IP literals and A/AAAA records; no NAPTR or SRV.
func systemResolve(ctx context.Context, u sip.Uri) ([]transport.Target, error) {
	tp := URITransport(&u)
	port := uint16(u.Port)
	if port == 0 {
		port = transport.DefaultPort(tp)
	}
	host := strings.Trim(u.Host, "[]")
	if maddr, ok := u.UriParams.Get("maddr"); ok && maddr != "" {
		host = maddr
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		return []transport.Target{{Transport: tp, Addr: netip.AddrPortFrom(ip.Unmap(), port)}}, nil
	}
	ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return nil, fmt.Errorf("proxy: resolve %s: %w", host, err)
	}
	out := make([]transport.Target, 0, len(ips))
	for _, ip := range ips {
		out = append(out, transport.Target{Transport: tp, Addr: netip.AddrPortFrom(ip.Unmap(), port), ServerName: host})
	}
	return out, nil
}

// recordRoute builds the Record-Route value for a listener: its advertised
// host and port, its transport, and lr.
func recordRoute(ln *transport.Listener) sip.NameAddr {
	host, port := ln.Advertised()
	u := sip.Uri{Scheme: "sip", Host: host, Port: port}
	if strings.IndexByte(host, ':') >= 0 {
		u.Host = "[" + host + "]"
	}
	switch ln.Transport() {
	case transport.TLS:
		u.Scheme = "sips"
	case transport.UDP:
	default:
		u.UriParams = sip.HeaderParams{{K: "transport", V: strings.ToLower(ln.Transport())}}
	}
	u.UriParams = append(u.UriParams, sip.HeaderKV{K: "lr"})
	return sip.NameAddr{URI: u}
}

// branchPrefix marks the Via branches of this proxy's forwards; the hex
// after it is the loop-detection hash (RFC 3261 §16.6 step 8).
const branchPrefix = sip.BranchMagicCookie + "-sp"

// loopHash hashes the fields RFC 3261 §16.6 step 8 lists for loop detection:
// a request that comes back with the same values has looped; one whose
// Request-URI or route set changed is spiralling.
func loopHash(req *sip.Request) string {
	const offset, prime = 14695981039346656037, 1099511628211
	h := uint64(offset)
	add := func(c byte) {
		h ^= uint64(c)
		h *= prime
	}
	mix := func(s string) {
		for i := 0; i < len(s); i++ {
			add(s[i])
		}
		add(0xff)
	}
	var buf [256]byte
	for _, c := range sip.AppendURI(buf[:0], &req.Recipient) {
		add(c)
	}
	add(0xff)
	for _, hd := range req.Headers() {
		switch v := hd.(type) {
		case *sip.FromHeader:
			t, _ := v.Params.Get("tag")
			add('f')
			mix(t)
		case *sip.ToHeader:
			t, _ := v.Params.Get("tag")
			add('t')
			mix(t)
		case *sip.CallIDHeader:
			mix(string(*v))
		case *sip.CSeqHeader:
			for i := 0; i < 4; i++ {
				add(byte(v.SeqNo >> (8 * i)))
			}
		default:
			switch hd.Name() {
			case "Proxy-Require", "Proxy-Authorization", "Route":
				mix(hd.Value())
			}
		}
	}
	const digits = "0123456789abcdef"
	var out [16]byte
	for i := 15; i >= 0; i-- {
		out[i] = digits[h&0xf]
		h >>= 4
	}
	return string(out[:])
}

// looped reports whether one of req's Via entries is this proxy's and
// carries req's loop hash: the request has been here before, unchanged.
func (p *Proxy) looped(req *sip.Request) bool {
	var hash string
	for _, h := range req.Headers() {
		v, ok := h.(*sip.ViaHeader)
		if !ok {
			continue
		}
		branch, _ := v.Params.Get("branch")
		if !strings.HasPrefix(branch, branchPrefix) || !p.tp.IsOwnAddress(v.Host, v.Port) {
			continue
		}
		if hash == "" {
			hash = loopHash(req)
		}
		if strings.HasPrefix(branch[len(branchPrefix):], hash) {
			return true
		}
	}
	return false
}
