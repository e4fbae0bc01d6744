// Package rx is the 3GPP Rx application (TS 29.214) on package diameter,
// between an AF such as a P-CSCF and the PCRF: AA-Request/Answer with media
// components (one per SDP m= line, one sub-component per IP flow with its
// IPFilterRules and the RTCP flow marked by Flow-Usage),
// Session-Termination, and the PCRF-initiated Re-Auth and Abort-Session that
// the AF serves on the same connection.
//
//	pcrf, _ := rx.NewClient(pool, rx.Config{OriginHost: "pcscf.ims.example.com", DestinationRealm: "epc.example.com"})
//	aaa, err := pcrf.AAR(ctx, &rx.AAR{FramedIP: ue, Media: []rx.MediaComponent{{
//		Number: 1, MediaType: rx.U32(rx.MediaAudio),
//		SubComponents: []rx.SubComponent{{FlowNumber: 1, Descriptions: []string{
//			"permit out 17 from 198.51.100.7 50000 to 192.0.2.10 49170",
//			"permit in 17 from 192.0.2.10 49170 to 198.51.100.7 50000"}}},
//	}}})
//	...
//	pcrf.STR(ctx, &rx.STR{SessionID: aaa.SessionID})
package rx
