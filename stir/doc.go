// Package stir implements STIR/SHAKEN caller-ID attestation for SIP: signing
// and verifying PASSporTs (RFC 8225) with the SHAKEN extension (RFC 8588,
// ATIS-1000074) and diverted-call PASSporTs (RFC 8946), carried in the RFC 8224
// Identity header field.
//
// It is a side package: it builds on package sip only, does I/O only to fetch
// certificates, and uses the standard library's crypto (crypto/ecdsa,
// crypto/x509, encoding/asn1) for ES256 and certificate handling.
//
// # Originating side: the authentication service
//
// A Signer holds the private key of the provider's STI certificate and the
// HTTPS URL where the certificate chain is published. SignRequest signs a
// request in place, as a proxy does just before relaying it; Middleware does
// the same in front of a Handler:
//
//	signer, err := stir.NewSigner(key, "https://cert.example.net/sp.pem", stir.SignerConfig{
//		Attest: func(ctx context.Context, req *sip.Request) (stir.Attestation, error) {
//			if authenticatedSubscriber(ctx, req) {
//				return stir.AttestationFull, nil
//			}
//			return stir.AttestationGateway, nil
//		},
//	})
//	...
//	out := sip.CloneRequest(req)
//	if err := signer.SignRequest(ctx, out); err != nil { /* relay unsigned */ }
//
// A retargeting element adds a "div" PASSporT with SignDiverted.
//
// # Terminating side: the verification service
//
// A Verifier trusts a set of STI-CA roots (EC P-256). VerifyRequest checks the
// Identity header fields of a request: claims, iat freshness, orig against
// P-Asserted-Identity/From, dest against To/Request-URI, the x5u certificate
// chain (fetched over HTTPS and cached within bounds of size and time that
// honour Cache-Control) and the ES256 signature, and maps the outcome to a
// verstat value. Middleware applies it to incoming INVITEs:
//
//	anchors, _ := stir.ParsePEMCertificates(stiCAList)
//	verifier, err := stir.NewVerifier(anchors, stir.VerifierConfig{Permissive: true})
//	...
//	h := sip.Chain(terminatingHandler, verifier.Middleware)
//
// The handler then sees P-Asserted-Identity and From carrying
// ;verstat=TN-Validation-Passed (or -Failed, or No-TN-Validation) and finds the
// full Result with ResultFromContext. With RejectFailures or RequireIdentity
// set, the middleware answers 403 Stale Date, 428, 436, 437 or 438 instead,
// per RFC 8224; a *VerifyError also works with sip.RespondError.
package stir
