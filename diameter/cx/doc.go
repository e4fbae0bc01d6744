// Package cx is the 3GPP Cx/Dx application (TS 29.228, TS 29.229) on
// package diameter: typed requests and answers for UAR/UAA, MAR/MAA (with
// SIP-Auth-Data-Item AKA vectors), SAR/SAA (user profile XML), LIR/LIA,
// RTR/RTA and PPR/PPA, a Client that sends them over any diameter.Doer, and a
// Server that serves them from typed functions.
//
// An S-CSCF authenticating a user:
//
//	hss, _ := cx.NewClient(pool, cx.Config{OriginHost: "scscf.ims.example.com", DestinationRealm: "ims.example.com"})
//	maa, err := hss.MAR(ctx, &cx.MAR{UserName: impi, PublicIdentity: impu,
//		ServerName: "sip:scscf.ims.example.com", Scheme: cx.SchemeAKAv1MD5})
//	if err == nil && maa.Result.Success() { vector := maa.Items[0] ... }
//
// An HSS serving Cx, and the S-CSCF serving the HSS's RTR on the same
// connection:
//
//	mux := diameter.NewMux()
//	(&cx.Server{UAR: uar, MAR: mar, SAR: sar, LIR: lir}).Register(mux)
package cx
