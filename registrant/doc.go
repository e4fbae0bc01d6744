// Package registrant keeps an address-of-record registered with an upstream
// registrar, as a trunk or a PBX user account needs (RFC 3261 §10.2): it
// sends REGISTER, answers digest challenges with package auth's Client
// (reusing the nonce with increasing nonce-counts on refreshes), raises the
// lifetime after a 423, refreshes before the binding lapses, retries failures
// with exponential backoff and jitter (honouring Retry-After), reports every
// change of state, and unregisters on Stop.
//
// With Config.Resolver (such as *resolve.Resolver from transport/resolve)
// the registrar's URI is resolved by RFC 3263 before every attempt, and a
// REGISTER moves on to the next target after a transport error, a timeout
// or a 503.
//
// It sits beside package dialog, above transaction: it uses sip, transport,
// transaction and auth only, so a proxy, a B2BUA or a registrar can all use it.
//
//	r, err := registrant.New(stack.Transactions, transport.Target{Transport: "UDP", Addr: trunkAddr},
//		registrant.Config{
//			Registrar: registrarURI, // sip:trunk.example.net
//			AoR:       aorURI,       // sip:+15551234@trunk.example.net
//			Password:  "secret",
//			OnState:   func(s registrant.Status) { log.Println(s.State, s.Code, s.Err) },
//		})
//	if err != nil { ... }
//	r.Start()
//	defer r.Stop(ctx) // unregisters
package registrant
