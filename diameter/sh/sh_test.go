package sh_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/siphon-go/siphon/diameter"
	"github.com/siphon-go/siphon/diameter/internal/looptest"
	"github.com/siphon-go/siphon/diameter/sh"
)

func TestShLoopback(t *testing.T) {
	repo := []byte(`<Sh-Data><RepositoryData><ServiceIndication>mmtel</ServiceIndication><SequenceNumber>1</SequenceNumber></RepositoryData></Sh-Data>`)
	hssMux := diameter.NewMux()
	(&sh.Server{UDR: func(ctx context.Context, q *sh.UDR) (*sh.UDA, error) {
		if q.User.PublicIdentity != "sip:alice@example.com" {
			return &sh.UDA{Result: sh.Experimental(sh.ErrorUserUnknown)}, nil
		}
		assert.Equal(t, []sh.DataReference{sh.RepositoryData}, q.DataReferences)
		assert.Equal(t, []string{"mmtel"}, q.ServiceIndications)
		return &sh.UDA{Result: sh.Success(), UserData: repo}, nil
	}}).Register(hssMux)
	pushed := make(chan *sh.PNR, 1)
	asMux := diameter.NewMux()
	(&sh.Server{PNR: func(ctx context.Context, q *sh.PNR) (*sh.PNA, error) {
		pushed <- q
		return &sh.PNA{Result: sh.Success()}, nil
	}}).Register(asMux)

	peer, conn := looptest.Pair(t, looptest.Node("hss.example.com", hssMux, sh.App()), looptest.Node("as.example.com", asMux, sh.App()))
	toHSS, err := sh.NewClient(peer, sh.Config{OriginHost: "as.example.com", DestinationRealm: "example.com"})
	require.NoError(t, err)
	ctx := context.Background()

	uda, err := toHSS.UDR(ctx, &sh.UDR{User: sh.UserIdentity{PublicIdentity: "sip:alice@example.com"},
		DataReferences: []sh.DataReference{sh.RepositoryData}, ServiceIndications: []string{"mmtel"}})
	require.NoError(t, err)
	assert.True(t, uda.Result.Success())
	assert.Equal(t, repo, uda.UserData)

	uda, err = toHSS.UDR(ctx, &sh.UDR{User: sh.UserIdentity{MSISDN: []byte{0x51, 0x55}}, DataReferences: []sh.DataReference{sh.MSISDN}})
	require.NoError(t, err)
	assert.Equal(t, sh.Experimental(sh.ErrorUserUnknown), uda.Result)

	toAS, err := sh.NewClient(conn, sh.Config{OriginHost: "hss.example.com", DestinationRealm: "example.com", DestinationHost: "as.example.com"})
	require.NoError(t, err)
	pna, err := toAS.PNR(ctx, &sh.PNR{User: sh.UserIdentity{PublicIdentity: "sip:alice@example.com"}, UserData: repo})
	require.NoError(t, err)
	assert.True(t, pna.Result.Success())
	got := <-pushed
	assert.Equal(t, "as.example.com", got.DestinationHost)
	assert.Equal(t, repo, got.UserData)
}
