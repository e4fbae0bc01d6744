// Package transport moves SIP messages over UDP, TCP, TLS, WebSocket (WS,
// WSS) and SCTP: listeners, RFC 3261 §18 framing and parsing, outbound
// connection pooling, and the hooks a carrier-grade server needs.
//
// Every inbound message comes with its Flow (transport, local and remote
// address, connection ID), so that a request can later be sent back on that
// exact connection (RFC 5626 outbound, WebSocket clients, NAT). Guards see
// each connection and datagram before anything is parsed; Taps see each
// framed message in and out. Outbound stream messages go through a bounded,
// non-blocking per-connection queue: one peer that stops reading never delays
// another, and messages to one peer leave in the order they were produced.
//
// A Layer is driven by the transaction layer, which implements Receiver:
//
//	tp, err := transport.New(transport.Config{})
//	if err != nil { ... }
//	tp.Listen(ctx, "udp", "127.0.0.1:5060", transport.ListenOptions{})
//	tp.Listen(ctx, "tcp", "127.0.0.1:5060", transport.ListenOptions{})
//	tp.Start(receiver)
//	defer tp.Close()
//
// Custom transports plug in as net.PacketConn or net.Listener values through
// AddPacketConn and AddListener, and outbound dialling through Config.Dialer;
// siptest's in-memory network uses these seams.
package transport
