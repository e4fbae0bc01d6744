// Package resolve locates SIP servers in DNS (RFC 3263) and maps telephone
// numbers to SIP URIs (ENUM, RFC 6116).
//
// A Resolver turns a next-hop URI into the transport targets to try, in
// order: NAPTR records choose the transport (SIP+D2U, SIP+D2T, SIPS+D2T and,
// when configured, SIP+D2S and the WebSocket services of RFC 7118), SRV
// records the servers (by priority, then a weighted random draw, RFC 2782)
// and A/AAAA records their addresses, shuffled. A transport parameter skips
// NAPTR; a port skips SRV too; a numeric host skips DNS. The caller tries
// the targets one after another on a transport error, a timeout or a 503
// (RFC 3263 §4.3), as proxy does for each branch.
//
// Queries go to the configured servers (or those of /etc/resolv.conf) over
// UDP, retried over TCP when truncated, and honour the caller's context.
// Answers are cached, negative ones too (RFC 2308), in a bounded cache with
// TTLs clamped to a floor and a ceiling; identical concurrent queries are
// sent once. A Resolver has no global state: every one has its own cache.
//
// The package sits in the transport layer: it uses sip and transport only,
// so proxy, registrant and b2bua can all use it.
//
//	r, err := resolve.New(resolve.Config{
//		Servers:    []string{"192.0.2.53"},              // empty: /etc/resolv.conf
//		Transports: []string{"UDP", "TCP", "TLS"},      // what the listeners carry
//	})
//	if err != nil { ... }
//	p := proxy.New(layer, proxy.Config{Resolver: r})
//
//	targets, err := r.Resolve(ctx, uri)                 // sip:example.com
//	uris, err := r.ENUM(ctx, "+441632960000", "")        // e164.arpa
package resolve
