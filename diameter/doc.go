// Package diameter is siphon's Diameter layer (RFC 6733) on
// github.com/fiorix/go-diameter/v4: connections with the capabilities
// exchange and the RFC 3539 watchdog, outbound peers that reconnect, peer
// pools with failover, a server with admission control, request routing to
// Go handlers, relaying with loop detection, a panic-free decoder, and the
// dictionaries IMS needs (Cx/Dx and Sh written for siphon; Rx, Ro and the
// Rf charging AVPs from go-diameter). Typed helpers per application live in
// the sub-packages cx, sh, rx, ro and rf.
//
// It is a side package: it imports nothing from siphon's SIP layers, which
// consume it (an S-CSCF's auth backend over Cx, a P-CSCF's media
// authorization over Rx).
//
// Messages are go-diameter's *diam.Message (aliased here as Message), built
// with NewRequest, NewAVP and NewGroup and read with Body(m).String(...) and
// friends.
//
// A client keeps peers open and sends through a pool:
//
//	cfg := diameter.Config{
//		OriginHost: "scscf.ims.example.com", OriginRealm: "ims.example.com",
//		Apps: []diameter.App{{ID: diameter.AppCx, Vendor: diameter.Vendor3GPP}},
//	}
//	hss1, _ := diameter.NewPeer("192.0.2.10:3868", diameter.PeerConfig{Config: cfg})
//	hss2, _ := diameter.NewPeer("192.0.2.11:3868", diameter.PeerConfig{Config: cfg})
//	pool, _ := diameter.NewPool([]diameter.Member{{Peer: hss1}, {Peer: hss2}},
//		diameter.PoolConfig{Policy: diameter.RoundRobin})
//	ans, err := pool.Do(ctx, req)
//
// A server routes requests to handlers:
//
//	mux := diameter.NewMux()
//	mux.HandleFunc(diameter.AppCx, cx.CmdUserAuthorization, serveUAR)
//	srv, _ := diameter.NewServer(diameter.ServerConfig{Config: cfg, AllowedHosts: hosts})
//	go srv.Serve(listener)
//
// Every connection bounds its pending requests, concurrent handlers,
// message size and write time; every request has a timeout; a peer that
// falls silent is declared suspect after 2*Tw and its pending requests fail
// over. SCTP is not offered (the test kernels lack it), nor is the RFC 6733
// §5.6.4 election between simultaneous connections.
package diameter
