// Package nat helps a proxy and registrar serve user agents behind NATs, in
// the manner of Kamailio's nathelper: it detects them, fixes the addresses
// they advertise, routes to where their requests really came from and keeps
// their NAT bindings open.
//
// It sits in the proxy layer and imports neither proxy nor registrar: the
// Pinger takes its targets from a Source function, and the program that
// composes a registrar and a proxy (examples/registrar) wires them.
//
// What a NATed UA gets wrong, and what fixes it:
//
//   - Responses. A UA behind a NAT writes its private address and port in
//     Via; the transport records the source (received, RFC 3261 §18.2.1)
//     and, with rport (RFC 3581 §4), answers to the source port. A UA that
//     does not ask for rport is answered there anyway with
//     transport.Config.ForceRport.
//   - Detection. Detect compares what a request claims (top Via sent-by,
//     Contact) with its flow's source and returns Flags (nat_uac_test);
//     DetectContact does the same for a stored contact.
//   - Contact of dialogs. A private Contact in an INVITE (SUBSCRIBE,
//     NOTIFY, REFER, UPDATE) makes the peer send its in-dialog requests
//     nowhere. FixContact rewrites the host, port and transport of the
//     first Contact to the source, every other byte kept
//     (fix_nated_contact); Fixer.Middleware does it by policy for requests
//     that came straight from their UA, and Fixer.Inbound, as a
//     transport.Rewriter, for the 1xx/2xx a UA behind a NAT answers with.
//   - Contact of REGISTER. Rewriting it would break the UA's own binding
//     (it looks for its Contact in the 200 OK, RFC 3261 §10.2.4). The
//     registrar instead stores the flow the REGISTER came on
//     (registrar.Binding.Flow, fix_nated_register's received), and
//     Fixer.UseFlow tells the location service to send to that flow
//     (registrar.Contact.Target) rather than to the contact URI. RFC 5626
//     outbound bindings always use their flow (§5.3).
//   - Keepalive. A NAT drops an idle UDP binding after as little as 30 s
//     (RFC 4787 REQ-5 asks for 2 min). The Pinger sends OPTIONS to each
//     target over its flow every Interval and reports one that stops
//     answering (any response, 404 included, proves the path) with OnDead.
//     Stream flows also have the transport's CRLF keepalive (RFC 5626
//     §4.4.1, transport.Config.KeepAliveInterval); bindings on a stream
//     connection go when it closes (registrar Config.Liveness), and those a
//     previous run left are evicted by registrar.Registrar.EvictStale.
//
// A registrar and proxy on the public side:
//
//	fixer, err := nat.New(nat.Config{}) // Contact and Register: WhenNATed
//	tp, err := transport.New(transport.Config{ForceRport: true, Rewriter: fixer})
//	...
//	handler := sip.Chain(router, fixer.Middleware)
//	locate := func(ctx context.Context, req *sip.Request) ([]proxy.Target, error) {
//		contacts, err := reg.Lookup(ctx, req.Recipient)
//		...
//		for _, c := range contacts {
//			t := proxy.Target{URI: c.NameAddr.URI, Route: c.Route}
//			if next, ok := c.Target(); ok && (c.RegID != 0 || fixer.UseFlow(c.NameAddr.URI, c.Flow)) {
//				t.Next = next // through the UA's NAT
//			}
//			targets = append(targets, t)
//		}
//	}
//	pinger, err := nat.NewPinger(layer, source, nat.PingerConfig{
//		Interval: 30 * time.Second,
//		Failures: 3,
//		OnDead:   func(t nat.Target) { reg.Remove(ctx, t.AoR, t.Key) },
//	})
//	go pinger.Run(ctx)
//
// where source walks the registrar's bindings (Registrar.Range) and yields
// those UseFlow sends to their flow. Fixer and Pinger keep counters for
// metrics (Stats).
package nat
