// Package dispatcher picks the SIP servers a proxy relays to: destination
// groups with round-robin, weighted and hash (per call) selection, priority
// tiers for failover, OPTIONS health probing with failure and recovery
// thresholds, manual up/down marking and changes at run time. It is the
// gateway dispatcher / load balancer of a SIP proxy.
//
// Select returns an ordered target list for proxy.Relay; relayed with
// proxy.Options{Sequential: true}, a request that gets 408, 5xx or a
// transport error from one destination moves on to the next:
//
//	d := dispatcher.New(dispatcher.Config{
//		Interval: 5 * time.Second,
//		Prober:   &dispatcher.OptionsProber{Layer: layer},
//	})
//	a, _ := dispatcher.ParseDestination("10.0.0.1:5060")
//	b, _ := dispatcher.ParseDestination("10.0.0.2:5060;transport=tcp")
//	_ = d.SetGroup("pbx", dispatcher.RoundRobin, a, b)
//	go d.Run(ctx)
//	...
//	targets := d.Select("pbx", req)
//	if len(targets) == 0 {
//		_ = sip.Respond(w, req, sip.StatusServiceUnavailable, "")
//		return
//	}
//	_ = p.Relay(ctx, w, req, &proxy.Options{Sequential: true}, targets...)
//
// Destinations with an IP address become the explicit next hop
// (proxy.Target.Next); host names become a pre-loaded loose Route that the
// proxy resolves. The Request-URI is never changed.
package dispatcher
