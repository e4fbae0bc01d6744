// Package sip is siphon's SIP vocabulary: the message model, header helpers,
// response builders, the sanity checker and the Handler interfaces that every
// other package speaks. It does no I/O.
//
// Messages are sipgo's (github.com/emiago/sipgo/sip), re-exported as aliases
// so code written for sipgo mixes freely with siphon. siphon adds what sipgo
// lacks for servers: a Parser that keeps Route, Record-Route, Contact, Path and
// other name-addr headers verbatim (header parameters included), typed helpers
// for the IMS and extension headers (Path, Service-Route, Security-*, P-*,
// RSeq/RAck, Session-Expires), NewResponse per RFC 3261 §8.2.6, CloneRequest
// and Retarget that do not freeze the destination, and a Kamailio-style
// sanity checker that maps each defect to its status code.
//
// A server is a Handler:
//
//	mux := sip.NewMux()
//	mux.HandleFunc(sip.OPTIONS, func(ctx context.Context, w sip.ResponseWriter, req *sip.Request) {
//		sip.Respond(w, req, sip.StatusOK, "", sip.NewHeader("Allow", mux.Allow()))
//	})
//	h := sip.Chain(mux, sip.NewSanity(sip.SanityConfig{}).Middleware)
//
// and transaction.Server runs it over the transports of package transport.
package sip
