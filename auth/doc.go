// Package auth implements SIP digest authentication (RFC 3261 §22, RFC 7616,
// RFC 8760): the server side that challenges requests and checks their
// credentials, as a UAS or registrar (401) or a proxy (407), and the client
// side that answers challenges for outbound requests.
//
// It is a side package: it builds on package sip only, and computes MD5 and
// SHA-256 digests with the standard library (qop=auth and auth-int, the -sess
// variants, stale=true).
//
// # Server side
//
// An Authenticator looks users up in a Backend, which returns HA1 values
// (H(user:realm:password)) and never needs passwords on the wire or in
// memory: Static holds a user list, HTTP asks a JSON REST service (with a
// per-user cache) and BackendFunc adapts anything else. Nonces are stateless
// (an issue time and an HMAC-SHA256 with Config.Secret), so every instance
// sharing the secret accepts them; nonce-counts are remembered to refuse
// replays. Unknown users and wrong passwords are answered alike, at the same
// cost.
//
// The middleware form challenges every request but ACK and CANCEL and passes
// the authenticated Identity to the next handler in its context:
//
//	users, _ := auth.ReadStatic(strings.NewReader("alice:secret\nbob:hunter2\n"))
//	a, err := auth.New(users, auth.Config{Realm: "example.com", Secret: sharedKey})
//	if err != nil { ... }
//	mux.Handle(sip.REGISTER, sip.Chain(registrarHandler, a.Middleware))
//
//	// later, in a handler:
//	id, ok := auth.IdentityFromContext(ctx)
//
// Authenticate is the same check as a function; its errors are
// *sip.StatusError values (401/407 with the challenge, 400, 403, 503) that
// sip.RespondError sends.
//
// # Client side
//
// A Client answers a 401 or 407 by adding Authorization or
// Proxy-Authorization to the retried request, and signs later requests with
// the remembered challenge:
//
//	c := &auth.Client{Username: "alice", Password: "secret"}
//	res, _ := layer.Do(ctx, req, target)
//	if res.StatusCode == 401 || res.StatusCode == 407 {
//		retry := buildRequestAgain() // new CSeq, no Via
//		_ = c.Authorize(retry, res)
//		res, _ = layer.Do(ctx, retry, target)
//	}
package auth
