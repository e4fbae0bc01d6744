// Package sh is the 3GPP Sh application (TS 29.328, TS 29.329) on package
// diameter: User-Data-Request/Answer for an AS reading repository or IMS
// data from the HSS, and Push-Notification-Request/Answer for the HSS
// pushing changes to the AS.
//
//	hss, _ := sh.NewClient(pool, sh.Config{OriginHost: "as.ims.example.com", DestinationRealm: "ims.example.com"})
//	uda, err := hss.UDR(ctx, &sh.UDR{
//		User:           sh.UserIdentity{PublicIdentity: "sip:alice@ims.example.com"},
//		DataReferences: []sh.DataReference{sh.RepositoryData},
//		ServiceIndications: []string{"mmtel-settings"},
//	})
//
// An AS serves PNR on a Mux:
//
//	(&sh.Server{PNR: onPush}).Register(mux)
package sh
