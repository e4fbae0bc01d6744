package ro_test

import (
	"context"

	"github.com/siphon-go/siphon/diameter"
	"github.com/siphon-go/siphon/diameter/charging"
	"github.com/siphon-go/siphon/diameter/ro"
)

// Session charging of a call: reserve, report and extend, then close.
func ExampleSession() {
	var pool *diameter.Pool // from diameter.NewPool
	ocs, _ := ro.NewClient(pool, ro.Config{OriginHost: "scscf.ims.example.com", DestinationRealm: "ocs.example.com"})
	ctx := context.Background()
	info := &charging.IMSInformation{SIPMethod: "INVITE", NodeFunctionality: charging.NodeSCSCF,
		CallingPartyAddress: []string{"sip:alice@ims.example.com"}, CalledPartyAddress: "tel:+15550100"}
	s := ocs.NewSession()
	cca, err := s.Initial(ctx, &ro.CCR{Subscription: "sip:alice@ims.example.com", MSCC: []ro.MSCC{{RequestedTime: 60}}, IMS: info})
	if err != nil || !cca.Result.Success() {
		return // no credit: reject the call
	}
	_, _ = s.Update(ctx, &ro.CCR{MSCC: []ro.MSCC{{UsedTime: 60, RequestedTime: 60}}})
	_, _ = s.Terminate(ctx, &ro.CCR{MSCC: []ro.MSCC{{UsedTime: 17}}})
}
