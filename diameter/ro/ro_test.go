package ro_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/siphon-go/siphon/diameter"
	"github.com/siphon-go/siphon/diameter/charging"
	"github.com/siphon-go/siphon/diameter/internal/looptest"
	"github.com/siphon-go/siphon/diameter/ro"
)

func TestRoLoopback(t *testing.T) {
	got := make(chan *ro.CCR, 4)
	mux := diameter.NewMux()
	(&ro.Server{CCR: func(ctx context.Context, q *ro.CCR) (*ro.CCA, error) {
		got <- q
		a := &ro.CCA{Result: diameter.Result{Code: diameter.Success}}
		if q.RequestType != ro.TerminationRequest {
			a.MSCC = []ro.MSCC{{GrantedTime: 60, ValidityTime: time.Minute, Result: diameter.Success}}
		}
		return a, nil
	}}).Register(mux)
	peer, _ := looptest.Pair(t, looptest.Node("ocs.example.com", mux, ro.App()), looptest.Node("scscf.example.com", nil, ro.App()))
	ocs, err := ro.NewClient(peer, ro.Config{OriginHost: "scscf.example.com", DestinationRealm: "example.com"})
	require.NoError(t, err)
	ctx := context.Background()
	info := &charging.IMSInformation{SIPMethod: "INVITE", NodeFunctionality: charging.NodeSCSCF, CalledPartyAddress: "tel:+15550100"}

	s := ocs.NewSession()
	cca, err := s.Initial(ctx, &ro.CCR{Subscription: "sip:alice@example.com", MSCC: []ro.MSCC{{RequestedTime: 60, RatingGroup: 100}}, IMS: info})
	require.NoError(t, err)
	assert.True(t, cca.Result.Success())
	assert.Equal(t, ro.InitialRequest, cca.RequestType)
	require.Len(t, cca.MSCC, 1)
	assert.Equal(t, uint32(60), cca.MSCC[0].GrantedTime)
	assert.Equal(t, time.Minute, cca.MSCC[0].ValidityTime)
	q := <-got
	assert.Equal(t, "sip:alice@example.com", q.Subscription)
	assert.Equal(t, uint32(100), q.MSCC[0].RatingGroup)
	assert.Equal(t, "tel:+15550100", q.IMS.CalledPartyAddress)

	cca, err = s.Update(ctx, &ro.CCR{MSCC: []ro.MSCC{{UsedTime: 60, RequestedTime: 60}}})
	require.NoError(t, err)
	assert.Equal(t, uint32(1), cca.RequestNumber)
	assert.Equal(t, uint32(60), (<-got).MSCC[0].UsedTime)

	cca, err = s.Terminate(ctx, &ro.CCR{MSCC: []ro.MSCC{{UsedTime: 23}}})
	require.NoError(t, err)
	assert.Equal(t, ro.TerminationRequest, cca.RequestType)
	assert.Equal(t, uint32(2), cca.RequestNumber)
	assert.Equal(t, s.ID(), (<-got).SessionID)

	cca, err = ocs.Event(ctx, &ro.CCR{IMS: &charging.IMSInformation{SIPMethod: "MESSAGE", NodeFunctionality: charging.NodeAS}})
	require.NoError(t, err)
	assert.Equal(t, ro.EventRequest, cca.RequestType)
	assert.Equal(t, "MESSAGE", (<-got).IMS.SIPMethod)
}
