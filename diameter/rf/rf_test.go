package rf_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/siphon-go/siphon/diameter"
	"github.com/siphon-go/siphon/diameter/charging"
	"github.com/siphon-go/siphon/diameter/internal/looptest"
	"github.com/siphon-go/siphon/diameter/rf"
)

func TestRfLoopback(t *testing.T) {
	got := make(chan *rf.ACR, 4)
	mux := diameter.NewMux()
	(&rf.Server{ACR: func(ctx context.Context, q *rf.ACR) (*rf.ACA, error) {
		got <- q
		return &rf.ACA{Result: diameter.Result{Code: diameter.Success}, InterimInterval: 300}, nil
	}}).Register(mux)
	peer, _ := looptest.Pair(t, looptest.Node("cdf.example.com", mux, rf.App()), looptest.Node("scscf.example.com", nil, rf.App()))
	cdf, err := rf.NewClient(peer, rf.Config{OriginHost: "scscf.example.com", DestinationRealm: "example.com"})
	require.NoError(t, err)
	ctx := context.Background()
	req := time.Unix(1700000000, 0)
	info := &charging.IMSInformation{
		SIPMethod: "INVITE", RoleOfNode: ptr(charging.RoleOriginating), NodeFunctionality: charging.NodeSCSCF,
		UserSessionID: "a84b4c76e66710@pc33.example.com", CallingPartyAddress: []string{"sip:alice@example.com"},
		CalledPartyAddress: "sip:bob@example.com", RequestTime: req, ResponseTime: req.Add(2 * time.Second),
		OriginatingIOI: "example.com", TerminatingIOI: "example.net", ChargingID: "icid-1",
		ApplicationServers: []string{"sip:mmtel.example.com"}, VisitedNetworkID: "visited.example.org",
	}
	s := cdf.NewSession()
	for i, send := range []func(context.Context, *rf.ACR) (*rf.ACA, error){s.Start, s.Interim, s.Stop} {
		aca, err := send(ctx, &rf.ACR{UserName: "alice@example.com", IMS: info, InterimInterval: 300})
		require.NoError(t, err)
		assert.True(t, aca.Result.Success())
		assert.Equal(t, uint32(i), aca.RecordNumber)
		assert.Equal(t, []uint32{rf.StartRecord, rf.InterimRecord, rf.StopRecord}[i], aca.RecordType)
		q := <-got
		assert.Equal(t, s.ID(), q.SessionID)
		assert.Equal(t, info, q.IMS, "IMS-Information survives the round trip through application 3")
	}
	aca, err := cdf.Event(ctx, &rf.ACR{IMS: &charging.IMSInformation{SIPMethod: "MESSAGE", NodeFunctionality: charging.NodeSCSCF}})
	require.NoError(t, err)
	assert.Equal(t, rf.EventRecord, aca.RecordType)
	q := <-got
	assert.NotEqual(t, s.ID(), q.SessionID)
	assert.Equal(t, "MESSAGE", q.IMS.SIPMethod)
}

func ptr[T any](v T) *T { return &v }
