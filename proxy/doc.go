// Package proxy is an RFC 3261 §16 stateful proxy, with a stateless
// forwarding mode, for the CSCFs, load balancers and registrar/proxies built
// on siphon.
//
// A Proxy is a sip.Handler run by a transaction.Server over the
// transaction.Layer it was made with. It validates each request (§16.3:
// 483, 482, 420, 416), preprocesses its route information (§16.4, loose and
// strict routing), finds targets (Config.Locate for its own domains, the
// Request-URI otherwise), forks them in parallel or in sequence (§16.6, with
// Record-Route, Timer C and RFC 3263 failover), relays the best response
// (§16.7) and propagates CANCEL on each branch's own Via (§16.10). Handlers
// that choose targets themselves (a registrar's lookup, a dispatcher) call
// Relay with per-request Options: OnReply (including reject-from-reply),
// OnFailure (failover) and OnCancel.
//
//	layer := transaction.New(tp, transaction.Config{})
//	p := proxy.New(layer, proxy.Config{RecordRoute: true})
//	srv := transaction.NewServer(layer, sip.HandlerFunc(func(ctx context.Context, w sip.ResponseWriter, req *sip.Request) {
//		_ = p.Relay(ctx, w, req, &proxy.Options{Sequential: true}, targets...)
//	}), transaction.ServerConfig{})
//
// By default a relayed request holds its handler's goroutine until the final
// response has gone upstream. With Config.Detach and
// transaction.ServerConfig.Inline the proxy is event-driven instead: the
// handler runs on the goroutine that read the request and returns once it is
// forwarded, so no goroutine is started or parked per call; next hops must
// then not need DNS, which would hold the reading goroutine.
package proxy
