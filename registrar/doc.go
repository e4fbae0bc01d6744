// Package registrar is a SIP registrar (RFC 3261 §10.3) and location service:
// it answers REGISTER, stores bindings in a Backend and tells a proxy where an
// address-of-record can be reached.
//
// It sits in the top layer beside proxy and b2bua and imports neither: a proxy
// consumes it through Lookup (or a small interface of its own with the same
// method). Authentication is middleware in front of it (package auth); the
// registrar only checks, when Config.AuthUser is set, that the authenticated
// user owns the AoR.
//
// What it implements: Contact "*" (only alone and with Expires 0), per-Call-ID
// CSeq ordering, the expires parameter over the Expires header, default,
// minimum (423 with Min-Expires) and maximum lifetimes, q values, a bound on
// contacts per AoR (503 with Retry-After, or replacing the oldest), Contact
// parameters stored verbatim (RFC 3840 feature tags), Path (RFC 3327),
// Service-Route (RFC 3608), GRUU (RFC 5627, public and temporary), SIP
// outbound (RFC 5626: +sip.instance and reg-id, the inbound flow kept with the
// binding and returned by Lookup, bindings deregistered when their connection
// closes), change events to subscribers, lookup by contact URI, admin listing
// and removal, eviction of the stream-flow bindings a previous run left
// (EvictStale), and a proxy-side cache of what an upstream registrar granted
// (Cache). Refusals are always SIP responses, never a 500.
//
// Backends: memory (default, in-process), redis (shared by instances, expiry by
// TTL) and postgres (schema created by the backend). All pass the shared
// suite in package backendtest, which also checks a custom Backend.
//
// A registrar for one domain, behind digest authentication:
//
//	reg, err := registrar.New(memory.New(memory.Config{}), registrar.Config{
//		Domains:  []string{"example.com"},
//		AuthUser: auth.UsernameFromContext,
//		Liveness: true,
//	})
//	if err != nil { ... }
//	defer reg.Close()
//	tp.OnConnClose(reg.FlowClosed) // tp is the transport.Layer
//	mux.Handle(sip.REGISTER, sip.Chain(reg, authenticator.Middleware))
//
// and, in the proxy, the targets of a request for a local user:
//
//	contacts, err := reg.Lookup(ctx, req.Recipient)
//	for _, c := range contacts {
//		out := sip.Retarget(req, c.NameAddr.URI)
//		sip.SetNameAddrs(out, "Route", c.Route) // Path, if any (RFC 3327)
//		if t, ok := c.Target(); ok { /* send on the UA's own flow */ }
//	}
package registrar
