// Package transaction runs RFC 3261 §17 client and server transactions, with
// RFC 6026's Accepted state and proxy Timer C, over a transport.Layer, and a
// Server that runs a sip.Handler per server transaction.
//
// Every timer (A to M, C) is armed on the Layer's own Clock: timers are per
// layer, never global, and siptest.Clock makes timer tests instantaneous.
// Messages reach the transaction user in arrival order: responses of one
// client transaction through callbacks that are serialised and never run
// under a lock, new requests through TU.ServeRequest on the reading
// goroutine. CANCEL is answered by the layer, but what the cancelled INVITE
// gets is the TU's decision, so a proxy can still relay a 2xx that raced the
// CANCEL. A Server can also answer chosen non-INVITE requests as a stateless
// UAS (ServerConfig.Stateless, RFC 3261 §8.2.7), keeping no transaction:
// what a registrar does for REGISTER.
//
// A server:
//
//	tp, _ := transport.New(transport.Config{})
//	tp.Listen(ctx, "udp", "127.0.0.1:5060", transport.ListenOptions{})
//	layer := transaction.New(tp, transaction.Config{})
//	srv := transaction.NewServer(layer, handler, transaction.ServerConfig{})
//	go srv.Serve()
//	defer srv.Shutdown(ctx)
//
// A client transaction, from the same layer:
//
//	res, err := layer.Do(ctx, req, transport.Target{Transport: "UDP", Addr: addr})
package transaction
