package rx_test

import (
	"context"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/siphon-go/siphon/diameter"
	"github.com/siphon-go/siphon/diameter/internal/looptest"
	"github.com/siphon-go/siphon/diameter/rx"
)

func TestRxLoopback(t *testing.T) {
	media := []rx.MediaComponent{{
		Number: 1, MediaType: rx.U32(rx.MediaAudio), MaxUL: 64000, MaxDL: 64000, Status: rx.U32(rx.FlowEnabled),
		CodecData: []string{"uplink\noffer\nm=audio 49170 RTP/AVP 96"},
		SubComponents: []rx.SubComponent{
			{FlowNumber: 1, Descriptions: []string{
				"permit out 17 from 198.51.100.7 50000 to 192.0.2.10 49170",
				"permit in 17 from 192.0.2.10 49170 to 198.51.100.7 50000"}},
			{FlowNumber: 2, Usage: rx.U32(rx.UsageRTCP), Descriptions: []string{
				"permit out 17 from 198.51.100.7 50001 to 192.0.2.10 49171",
				"permit in 17 from 192.0.2.10 49171 to 198.51.100.7 50001"}},
		},
	}}
	sessions := make(chan string, 1)
	pcrfMux := diameter.NewMux()
	(&rx.Server{
		AAR: func(ctx context.Context, q *rx.AAR) (*rx.AAA, error) {
			assert.Equal(t, media, q.Media)
			assert.Equal(t, netip.MustParseAddr("192.0.2.10"), q.FramedIP)
			assert.Equal(t, []rx.SubscriptionID{{Type: rx.SubscriptionSIPURI, Data: "sip:alice@example.com"}}, q.Subscriptions)
			sessions <- q.SessionID
			return &rx.AAA{Result: diameter.Result{Code: diameter.Success}}, nil
		},
		STR: func(ctx context.Context, q *rx.STR) (*rx.STA, error) {
			assert.Equal(t, rx.TerminationLogout, q.TerminationCause)
			return &rx.STA{Result: diameter.Result{Code: diameter.Success}}, nil
		},
	}).Register(pcrfMux)
	events := make(chan string, 2)
	afMux := diameter.NewMux()
	(&rx.Server{
		RAR: func(ctx context.Context, q *rx.RAR) (*rx.RAA, error) {
			events <- "RAR"
			return &rx.RAA{Result: diameter.Result{Code: diameter.Success}}, nil
		},
		ASR: func(ctx context.Context, q *rx.ASR) (*rx.ASA, error) {
			events <- "ASR"
			return &rx.ASA{Result: diameter.Result{Code: diameter.Success}}, nil
		},
	}).Register(afMux)

	peer, conn := looptest.Pair(t, looptest.Node("pcrf.example.com", pcrfMux, rx.App()), looptest.Node("pcscf.example.com", afMux, rx.App()))
	af, err := rx.NewClient(peer, rx.Config{OriginHost: "pcscf.example.com", DestinationRealm: "example.com"})
	require.NoError(t, err)
	ctx := context.Background()
	aaa, err := af.AAR(ctx, &rx.AAR{FramedIP: netip.MustParseAddr("192.0.2.10"), Media: media, RequestType: rx.U32(rx.InitialRequest),
		Subscriptions: []rx.SubscriptionID{{Type: rx.SubscriptionSIPURI, Data: "sip:alice@example.com"}}})
	require.NoError(t, err)
	assert.True(t, aaa.Result.Success())
	sid := <-sessions
	assert.Equal(t, sid, aaa.SessionID)

	pcrf, err := rx.NewClient(conn, rx.Config{OriginHost: "pcrf.example.com", DestinationRealm: "example.com", DestinationHost: "pcscf.example.com"})
	require.NoError(t, err)
	raa, err := pcrf.RAR(ctx, &rx.RAR{SessionID: sid, SpecificActions: []uint32{2}})
	require.NoError(t, err)
	assert.True(t, raa.Result.Success())
	asa, err := pcrf.ASR(ctx, &rx.ASR{SessionID: sid})
	require.NoError(t, err)
	assert.True(t, asa.Result.Success())
	assert.Equal(t, "RAR", <-events)
	assert.Equal(t, "ASR", <-events)

	sta, err := af.STR(ctx, &rx.STR{SessionID: sid})
	require.NoError(t, err)
	assert.True(t, sta.Result.Success())
}
