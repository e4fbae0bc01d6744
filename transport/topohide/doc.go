// Package topohide hides the topology of a SIP network behind one element,
// as Kamailio's topoh (stateless) and topos (stateful) modules do.
//
// A Hider is a transport.Rewriter on the element that faces the outside
// (an SBC, a P-CSCF, an edge proxy). Inside is a list of networks; every
// message the element sends to an address outside them leaves with the
// inside hidden, and every message it receives from outside has what was
// hidden put back before anything else sees it:
//
//   - the Via fields below the element's own (the inside hops a request
//     came through) travel in a th parameter of the element's Via and come
//     back in the response, as RFC 3261 §18.2.2 makes every UAS copy Vias;
//   - a Record-Route, Path, Service-Route or Contact entry whose host is
//     inside becomes
//     <sip:HOST;th=TOKEN> pointing at the element, so the outside's
//     in-dialog requests (ACK, BYE, re-INVITE) and requests routed by
//     Path or Service-Route reach the element, which restores the Route
//     set and the Request-URI (RFC 3261 §12.2.1.1) and routes them on into
//     the inside;
//   - optionally the Call-ID of calls from the inside is replaced;
//   - listed header fields (P-Charging-Vector, Server, ...) are removed.
//
// What a token holds is chosen by the Codec: a Cipher seals it with a key
// that every instance shares (stateless: any instance behind one DNS name
// can restore what another hid, nothing is stored), a Store keeps it in
// bounded memory and sends a short reference (stateful: smaller messages,
// no ciphertext on the wire, one instance). The sender's own message is
// never changed, only the copy that is encoded.
//
// From, To and P-Asserted-Identity are identities, not topology, and are
// left alone; the element's own Via and Record-Route must carry a public
// address (transport.ListenOptions.Advertise). SDP is the media relay's
// business.
//
// Usage:
//
//	key := make([]byte, 32) // the same secret on every instance
//	codec, _ := topohide.NewCipher(key)
//	hider, _ := topohide.New(topohide.Config{
//		Codec:  codec,
//		Inside: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")},
//		Host:   "sbc.example.com",
//		Strip:  []string{"P-Charging-Vector"},
//	})
//	tp, _ := transport.New(transport.Config{Rewriter: hider})
package topohide
