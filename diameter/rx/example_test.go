package rx_test

import (
	"context"
	"net/netip"

	"github.com/siphon-go/siphon/diameter"
	"github.com/siphon-go/siphon/diameter/rx"
)

// A P-CSCF authorizes the audio of a call once the SDP answer is known and
// releases it at BYE.
func ExampleClient_AAR() {
	var pool *diameter.Pool // from diameter.NewPool
	pcrf, _ := rx.NewClient(pool, rx.Config{OriginHost: "pcscf.ims.example.com", DestinationRealm: "epc.example.com"})
	ctx := context.Background()
	aaa, err := pcrf.AAR(ctx, &rx.AAR{
		FramedIP: netip.MustParseAddr("192.0.2.10"),
		Media: []rx.MediaComponent{{
			Number: 1, MediaType: rx.U32(rx.MediaAudio), MaxUL: 64000, MaxDL: 64000,
			SubComponents: []rx.SubComponent{
				{FlowNumber: 1, Descriptions: []string{
					"permit out 17 from 198.51.100.7 50000 to 192.0.2.10 49170",
					"permit in 17 from 192.0.2.10 49170 to 198.51.100.7 50000"}},
				{FlowNumber: 2, Usage: rx.U32(rx.UsageRTCP), Descriptions: []string{
					"permit out 17 from 198.51.100.7 50001 to 192.0.2.10 49171",
					"permit in 17 from 192.0.2.10 49171 to 198.51.100.7 50001"}},
			},
		}},
	})
	if err != nil || !aaa.Result.Success() {
		return // reject the call leg
	}
	_, _ = pcrf.STR(ctx, &rx.STR{SessionID: aaa.SessionID})
}
