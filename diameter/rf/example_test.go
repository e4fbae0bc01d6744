package rf_test

import (
	"context"
	"time"

	"github.com/siphon-go/siphon/diameter"
	"github.com/siphon-go/siphon/diameter/charging"
	"github.com/siphon-go/siphon/diameter/rf"
)

// Offline charging records for a call, then for a MESSAGE.
func ExampleSession() {
	var pool *diameter.Pool // from diameter.NewPool
	cdf, _ := rf.NewClient(pool, rf.Config{OriginHost: "scscf.ims.example.com", DestinationRealm: "cdf.example.com"})
	ctx := context.Background()
	info := &charging.IMSInformation{SIPMethod: "INVITE", NodeFunctionality: charging.NodeSCSCF,
		UserSessionID: "a84b4c76e66710@pc33.example.com", RequestTime: time.Now(), ChargingID: "icid-1"}
	s := cdf.NewSession()
	_, _ = s.Start(ctx, &rf.ACR{IMS: info, InterimInterval: 300})
	_, _ = s.Stop(ctx, &rf.ACR{IMS: info})
	_, _ = cdf.Event(ctx, &rf.ACR{IMS: &charging.IMSInformation{SIPMethod: "MESSAGE", NodeFunctionality: charging.NodeSCSCF}})
}
