// Package guard defends a SIP server against floods, scanners and brute
// force, in the manner of Kamailio's pike, permissions and the
// scanner-User-Agent recipes.
//
// It sits in the transport layer (it imports only sip and transport). One
// *Guard is plugged in three places:
//
//   - as transport.Config.Guard: every datagram and accepted connection is
//     checked before parsing against trusted CIDRs, allow/deny ACLs, the
//     blocklist, current bans and the per-source rate limit (pike-style: a
//     source above RateLimit per RateWindow is banned for BanTime, and every
//     packet is then dropped silently). An allowed packet costs well under
//     200 ns and no allocation;
//   - as transport.Config.Rewriter: requests whose User-Agent names a scanner
//     are dropped after parsing, and Server/User-Agent of outgoing messages
//     are stripped or replaced (SetHeaders);
//   - as sip.Middleware (Middleware): sanity checks, 483 for Max-Forwards 0,
//     local answers to keepalive OPTIONS, 403 for pre-loaded Route sets from
//     untrusted sources, and challenge tracking.
//
// Evidence against a source is fed in as weighted Signals (Signal, or Report
// for transport violations, or the digest callbacks of the auth package
// through Success and Signal). A source whose score reaches Threshold
// within ScoreWindow is banned. Signals that a forged UDP source address could
// trigger count only on connection-oriented transports; a successful
// authentication clears the score; relay timeouts never count. Trusted
// sources are exempt from everything.
//
// Every table (bans, rate windows, scores) is sharded, bounded by MaxEntries
// and pruned by expiry. Stats returns the counters.
//
// Usage:
//
//	g, err := guard.New(guard.Config{
//		RateLimit: 50,
//		BanTime:   10 * time.Minute,
//		Trusted:   []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")},
//	})
//	tp, err := transport.New(transport.Config{Guard: g, Rewriter: g})
//	handler := sip.Chain(app, g.Middleware(guard.RequestConfig{
//		Sanity: sip.NewSanity(sip.SanityConfig{}), MaxForwards: true, Keepalive: true,
//	}))
//	authCfg := auth.Config{
//		OnFailure: func(ctx context.Context, req *sip.Request, reason error) {
//			f, _ := transport.FlowFromContext(ctx)
//			g.Signal(f.Transport, f.Remote, guard.SignalInvalidCredentials)
//		},
//		OnSuccess: func(ctx context.Context, _ *sip.Request, _ auth.Identity) {
//			f, _ := transport.FlowFromContext(ctx)
//			g.Success(f.Remote)
//		},
//	}
package guard
